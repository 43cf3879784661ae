/** A bounded LRU cache of decoded tiles, accounted in bytes, with in-flight de-duplication. */
export class TileCache {
  private readonly map = new Map<string, Uint8Array>();
  private readonly inflight = new Map<string, Promise<Uint8Array>>();
  private bytes = 0;
  /** Number of times `load` actually ran (a miss). */
  misses = 0;
  hits = 0;

  constructor(readonly maxBytes: number) {}

  get size(): number {
    return this.bytes;
  }

  get entries(): number {
    return this.map.size;
  }

  async get(key: string, load: () => Promise<Uint8Array>): Promise<Uint8Array> {
    const hit = this.map.get(key);
    if (hit) {
      this.map.delete(key);
      this.map.set(key, hit); // refresh recency
      this.hits++;
      return hit;
    }
    const pending = this.inflight.get(key);
    if (pending) return pending;
    this.misses++;
    const p = load().then(
      (v) => {
        this.inflight.delete(key);
        this.put(key, v);
        return v;
      },
      (e) => {
        this.inflight.delete(key);
        throw e;
      },
    );
    this.inflight.set(key, p);
    return p;
  }

  private put(key: string, v: Uint8Array): void {
    if (v.byteLength > this.maxBytes) return; // larger than the whole cache: do not keep
    this.map.set(key, v);
    this.bytes += v.byteLength;
    while (this.bytes > this.maxBytes) {
      const oldest = this.map.keys().next().value as string;
      const ov = this.map.get(oldest)!;
      this.map.delete(oldest);
      this.bytes -= ov.byteLength;
    }
  }

  clear(): void {
    this.map.clear();
    this.bytes = 0;
  }
}
