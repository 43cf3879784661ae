/**
 * Admission control for upload events. The webhook answers each event only after its ingest job is claimed in the
 * ledger and handed to the queue; without a bound, a burst (S3 fires thousands of notifications at once) parks every
 * request on the database pool, memory grows with the burst and requests fail on the pool's connect timeout
 * (HTTP 500). With it: at most `maxInFlight` enqueues run at once, at most `maxWaiting` wait their turn, and anything
 * beyond is refused at once with IngestBusyError (HTTP 503 + Retry-After), which S3/SNS/MinIO retry with backoff.
 */
export class IngestBusyError extends Error {
  constructor(
    readonly waiting: number,
    readonly retryAfterS = 1,
  ) {
    super(`ingest is busy (${waiting} event requests already waiting): retry after ${retryAfterS} s`);
    this.name = 'IngestBusyError';
  }
}

export class Admission {
  private inFlight = 0;
  private readonly waiters: (() => void)[] = [];
  /** Requests refused since start (for metrics and the bench). */
  refused = 0;
  constructor(
    readonly maxInFlight: number,
    readonly maxWaiting: number,
  ) {
    if (!(maxInFlight >= 1) || !(maxWaiting >= 0)) throw new Error('Admission: maxInFlight >= 1 and maxWaiting >= 0');
  }

  stats(): { inFlight: number; waiting: number; refused: number } {
    return { inFlight: this.inFlight, waiting: this.waiters.length, refused: this.refused };
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.inFlight < this.maxInFlight) this.inFlight++;
    else {
      if (this.waiters.length >= this.maxWaiting) {
        this.refused++;
        throw new IngestBusyError(this.waiters.length);
      }
      await new Promise<void>((resolve) => this.waiters.push(resolve)); // the slot is handed over by release()
    }
    try {
      return await fn();
    } finally {
      const next = this.waiters.shift();
      if (next) next();
      else this.inFlight--;
    }
  }
}
