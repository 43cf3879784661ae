/**
 * A refusal of the review workflow with its HTTP status and a stable code. The API answers
 * `{ statusCode, code, message, ...details }`; nothing was saved when one is thrown inside a transaction.
 *
 * Codes (stable, the reader app switches on them):
 * - 400 `review.invalid`, `review.measurement-outside-image`, `review.recist` (the endpoint engine refused the read)
 * - 403 `review.not-assigned` (not your case / task), `signature.invalid-password`
 * - 404 `review.not-found`
 * - 409 `review.stale-version`, `review.read-signed`, `review.timepoint-order`, `review.request-id-reused`,
 *   `review.incomplete`, `review.state` (e.g. nothing to correct, task already decided), `review.capacity`
 */
export class ReviewError extends Error {
  constructor(
    readonly status: 400 | 403 | 404 | 409 | 423,
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'ReviewError';
  }
}

export const isReviewError = (e: unknown): e is ReviewError => e instanceof ReviewError || (typeof e === 'object' && e !== null && (e as { name?: string }).name === 'ReviewError');

export const invalid = (message: string, details: Record<string, unknown> = {}) => new ReviewError(400, 'review.invalid', message, details);
