import { randomBytes } from 'node:crypto';

/** One body part of a multipart/related response (PS3.18 8.7.3.5). */
export interface Part {
  /** The part's Content-Type, e.g. `application/octet-stream; transfer-syntax=1.2.840.10008.1.2.1`. */
  contentType: string;
  body: Buffer | Uint8Array;
  /** Optional Content-Location of the part (the resource it represents). */
  location?: string;
}

/** A multipart/related body and the Content-Type header that names its boundary and root type. */
export interface Multipart {
  contentType: string;
  body: Buffer;
  boundary: string;
}

/**
 * Encode parts as multipart/related (RFC 2387) as DICOMweb WADO-RS answers: every part starts with
 * `--boundary CRLF`, its headers, a blank line and the bytes; the body ends with `CRLF --boundary-- CRLF`.
 * The boundary is random (32 hex characters), so it cannot occur in binary pixel data by more than chance (2^-128).
 */
export function encodeMultipart(type: string, parts: Part[], opts: { boundary?: string; transferSyntax?: string } = {}): Multipart {
  if (!parts.length) throw new RangeError('a multipart body needs at least one part');
  const boundary = opts.boundary ?? randomBytes(16).toString('hex');
  const chunks: Buffer[] = [];
  for (const [i, p] of parts.entries()) {
    const head = [`${i === 0 ? '' : '\r\n'}--${boundary}`, `Content-Type: ${p.contentType}`];
    if (p.location) head.push(`Content-Location: ${p.location}`);
    head.push(`Content-Length: ${p.body.byteLength}`);
    chunks.push(Buffer.from(`${head.join('\r\n')}\r\n\r\n`, 'latin1'));
    chunks.push(Buffer.isBuffer(p.body) ? p.body : Buffer.from(p.body.buffer, p.body.byteOffset, p.body.byteLength));
  }
  chunks.push(Buffer.from(`\r\n--${boundary}--\r\n`, 'latin1'));
  const ts = opts.transferSyntax ? `; transfer-syntax=${opts.transferSyntax}` : '';
  return { contentType: `multipart/related; type="${type}"; boundary=${boundary}${ts}`, body: Buffer.concat(chunks), boundary };
}
