/**
 * @app/report: the per-cut report (statistics.json, self-contained HTML, SVG/PNG plots, report manifest) computed
 * from a data cut's datasets with @app/analysis. Plain TypeScript, no NestJS; storage is the caller's job
 * (libs/pipeline stages/report.ts). See README.md.
 */
export * from './data';
export * from './statistics';
export * from './plots';
export * from './html';
export * from './report';
export * from './summary';
