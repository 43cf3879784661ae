import { errors, jwtVerify, SignJWT } from 'jose';
import { AuthError } from './errors';

/** Short-lived access tokens: HS256 JWTs (jose). The claims name the user and the session; roles are read from the database on every request. */
export const TOKEN_ISSUER = 'endpoint-service';
export const TOKEN_AUDIENCE = 'endpoint-service-api';

export interface TokenClaims {
  /** users.id */
  sub: string;
  /** sessions.id */
  jti: string;
  username: string;
}

export async function signToken(secret: Uint8Array, claims: TokenClaims, ttlS: number, now = new Date()): Promise<{ token: string; expiresAt: Date }> {
  const iat = Math.floor(now.getTime() / 1000);
  const exp = iat + ttlS;
  const token = await new SignJWT({ username: claims.username })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(claims.sub)
    .setJti(claims.jti)
    .setIssuer(TOKEN_ISSUER)
    .setAudience(TOKEN_AUDIENCE)
    .setIssuedAt(iat)
    .setExpirationTime(exp)
    .sign(secret);
  return { token, expiresAt: new Date(exp * 1000) };
}

/** Verify signature, issuer, audience and expiry; refusals are AuthError 401 with a code saying which. */
export async function verifyToken(secret: Uint8Array, token: string): Promise<TokenClaims> {
  try {
    const { payload } = await jwtVerify(token, secret, { algorithms: ['HS256'], issuer: TOKEN_ISSUER, audience: TOKEN_AUDIENCE, requiredClaims: ['sub', 'jti', 'exp'] });
    return { sub: payload.sub!, jti: payload.jti!, username: String(payload.username ?? '') };
  } catch (e) {
    if (e instanceof errors.JWTExpired) throw new AuthError(401, 'auth.token-expired', 'the token has expired: log in again (POST /v1/auth/login)');
    throw new AuthError(401, 'auth.token-invalid', 'the bearer token is not valid (bad signature, issuer, audience or format)');
  }
}
