import { createReadStream, createWriteStream } from 'node:fs';
import { access, constants, copyFile, mkdir, open, readdir, rename, stat, unlink } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { randomUUID } from 'node:crypto';
import { LocalStoreError } from './errors';
import { assertSafeKey, type ByteRange, type ObjectInfo, ObjectNotFoundError, type ObjectStore } from './port';

/** A local folder as the object store (embedded default: DATA_DIR/objects). Writes are atomic (temp + rename). */
export class LocalObjectStore implements ObjectStore {
  readonly bucket = 'local';
  readonly location: string;
  constructor(private readonly root: string) {
    this.location = `file://${root}`;
  }

  private path(key: string): string {
    assertSafeKey(key);
    return join(this.root, ...key.split('/'));
  }

  private info(key: string, s: { size: number; mtimeMs: number; mtime: Date }): ObjectInfo {
    return { key, size: s.size, etag: `${s.size.toString(16)}-${Math.floor(s.mtimeMs).toString(16)}`, lastModified: s.mtime };
  }

  async head(key: string): Promise<ObjectInfo | null> {
    try {
      const s = await stat(this.path(key));
      return s.isFile() ? this.info(key, s) : null;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
  }

  async get(key: string, range?: ByteRange): Promise<Readable> {
    const p = this.path(key);
    if (!(await this.head(key))) throw new ObjectNotFoundError(key);
    return createReadStream(p, range ? { start: range.start, end: range.end } : undefined);
  }

  async getBuffer(key: string, range?: ByteRange): Promise<Buffer> {
    const p = this.path(key);
    if (!range) {
      const s = await this.head(key);
      if (!s) throw new ObjectNotFoundError(key);
    }
    const fh = await open(p, 'r').catch((e: NodeJS.ErrnoException) => {
      throw e.code === 'ENOENT' ? new ObjectNotFoundError(key) : e;
    });
    try {
      const size = (await fh.stat()).size;
      const start = range?.start ?? 0;
      const end = Math.min(range?.end ?? size - 1, size - 1);
      const len = Math.max(0, end - start + 1);
      const buf = Buffer.alloc(len);
      let off = 0;
      while (off < len) {
        const { bytesRead } = await fh.read(buf, off, len - off, start + off);
        if (bytesRead === 0) break;
        off += bytesRead;
      }
      return off === len ? buf : buf.subarray(0, off);
    } finally {
      await fh.close();
    }
  }

  async put(key: string, body: Buffer | Readable): Promise<ObjectInfo> {
    const p = this.path(key);
    const tmp = `${p}.${randomUUID()}.part`;
    try {
      await mkdirp(dirname(p));
      await pipeline(Buffer.isBuffer(body) ? Readable.from([body]) : body, createWriteStream(tmp));
      await rename(tmp, p);
    } catch (e) {
      // a full disk leaves a partial temp file: remove it so the space is not held (readers never see .part files)
      await unlink(tmp).catch(() => {});
      throw LocalStoreError.wrap(e, p, this.root, 'write');
    }
    return (await this.head(key))!;
  }

  async download(key: string, path: string): Promise<void> {
    if (!(await this.head(key))) throw new ObjectNotFoundError(key);
    await mkdir(dirname(path), { recursive: true });
    await copyFile(this.path(key), path);
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    const walk = async function* (this: LocalObjectStore, dir: string): AsyncIterable<ObjectInfo> {
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
        throw e;
      }
      entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      for (const ent of entries) {
        const full = join(dir, ent.name);
        if (ent.isDirectory()) yield* walk.call(this, full);
        else if (ent.isFile() && !ent.name.endsWith('.part')) {
          const key = relative(this.root, full).split(sep).join('/');
          if (key.startsWith(prefix)) yield this.info(key, await stat(full));
        }
      }
    };
    // start from the deepest folder the prefix names, to avoid walking the whole store
    const dirPart = prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/')) : '';
    yield* walk.call(this, dirPart ? join(this.root, ...dirPart.split('/')) : this.root);
  }

  /** Reachable and writable (a read-only or unwritable store fails /health with the LocalStoreError). */
  async ping(): Promise<void> {
    try {
      await mkdirp(this.root);
      await access(this.root, constants.W_OK);
    } catch (e) {
      throw LocalStoreError.wrap(e, this.root, this.root, 'write to');
    }
  }
}

/**
 * mkdir -p that reports why it failed: Node's recursive mkdir answers ENOENT when a level cannot be created on a
 * read-only or unwritable file system; the first missing level is then created alone to get the real code (EROFS,
 * EACCES...), which LocalStoreError turns into a clear message.
 */
async function mkdirp(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    let missing = dir;
    for (let parent = dirname(missing); parent !== missing; missing = parent, parent = dirname(parent)) {
      if (await stat(parent).then(() => true, () => false)) break;
    }
    await mkdir(missing); // throws the real error
    await mkdir(dir, { recursive: true });
  }
}
