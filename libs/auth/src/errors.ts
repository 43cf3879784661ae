/** A refusal with its HTTP status and a stable code; the API turns it into `{ statusCode, code, message }`. */
export class AuthError extends Error {
  constructor(
    readonly status: 400 | 401 | 403 | 409 | 423 | 429,
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'AuthError';
  }
}

export const isAuthError = (e: unknown): e is AuthError => e instanceof AuthError;
