/**
 * @app/review: blinded independent central review (issue 12): assignment, reads, Part 11 signatures, adjudication and
 * the endpoint feed. Plain TypeScript, no NestJS; SQL in @app/db ReviewRepository. See README.md.
 */
export * from './errors';
export * from './geometry';
export * from './assignment';
export * from './read-model';
export * from './recist';
export * from './signature';
export * from './slides';
export * from './service';
