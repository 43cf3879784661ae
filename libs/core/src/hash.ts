import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

export const sha256Hex = (data: Uint8Array | string): string => createHash('sha256').update(data).digest('hex');

export async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}
