/**
 * Keep-alive agents for the S3 client that never reuse a socket idle for longer than `maxIdleMs`.
 *
 * Why: a server closes a keep-alive connection it has not used for a while (Node's own http server after 5 s, S3 and
 * its gateways after their own limits). The client learns of it only when its event loop reads the socket's end.
 * When that loop was busy (a derivation or a report computing for seconds), the next requests go out on sockets the
 * server has already closed and are reset. The SDK retries resets, but every retry costs its client 14 of 500 retry
 * tokens, refunded only on success: one burst over a full pool (50 sockets) used the quota up, and every later error
 * of that client failed after one attempt. Measured on s3rver (tests/storage/idle-sockets.test.ts): a data cut's 80
 * HEAD + PUT pairs at once, the event loop blocked for 6 s, 80 more: 15-40 of them failed with ECONNRESET after one
 * attempt, and the quota stayed low for later requests.
 *
 * The check is made when a request takes a socket, with the wall clock, so a blocked event loop cannot skip it (a
 * socket timer, which is how Node's `timeout` option and the server's Keep-Alive hint act, fires only after the
 * blocked requests have gone out).
 */
import { Agent as HttpAgent, type AgentOptions as HttpAgentOptions, type ClientRequest, type RequestOptions } from 'node:http';
import { Agent as HttpsAgent, type AgentOptions as HttpsAgentOptions } from 'node:https';
import type { Socket } from 'node:net';

/** Default idle limit: under Node's http server default (5 s) and the limits of S3 itself. */
export const DEFAULT_SOCKET_MAX_IDLE_MS = 4000;

const freedAt = Symbol('freedAt');
type Stamped = Socket & { [freedAt]?: number };

/** The free lists of Node's Agent (a plain property of every http.Agent). */
interface Pool {
  freeSockets: Record<string, Socket[] | undefined>;
}

/**
 * Destroys and drops every free socket idle for longer than maxIdleMs (all hosts: cheap, and name-agnostic). It takes
 * them out of the free lists itself: Node skips only destroyed sockets at the head of a list, and would otherwise hand
 * one out before its 'close' removes it.
 */
function dropStale(agent: Pool, maxIdleMs: number, now = Date.now()): number {
  let dropped = 0;
  for (const [name, list] of Object.entries(agent.freeSockets)) {
    if (!list) continue;
    for (let i = list.length - 1; i >= 0; i--) {
      const s = list[i] as Stamped;
      const at = s[freedAt];
      if (s.destroyed || (at !== undefined && now - at > maxIdleMs)) {
        list.splice(i, 1); // its 'close' still counts it out (Node's onClose)
        s.destroy();
        dropped++;
      }
    }
    if (list.length === 0) delete agent.freeSockets[name];
  }
  return dropped;
}

export interface IdleCheckedAgentOptions {
  /** A free socket idle for longer than this is closed instead of reused (ms). Default 4000. */
  maxIdleMs?: number;
}

/** What the idle check adds to an agent. */
export interface IdleChecked {
  readonly maxIdleMs: number;
  /** Sockets closed because they had been idle too long (for tests and metrics). */
  staleDropped: number;
}

type AgentAddRequest = { addRequest(req: ClientRequest, options: RequestOptions): void };

/** `Base` (http.Agent or https.Agent, which extends it) with keep-alive on and the idle check. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function idleChecked<B extends new (...args: any[]) => HttpAgent>(Base: B) {
  return class extends Base implements IdleChecked {
    readonly maxIdleMs: number;
    staleDropped = 0;
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    constructor(...args: any[]) {
      const opts = (args[0] ?? {}) as HttpAgentOptions & IdleCheckedAgentOptions;
      super({ keepAlive: true, ...opts });
      this.maxIdleMs = opts.maxIdleMs ?? DEFAULT_SOCKET_MAX_IDLE_MS;
    }
    override keepSocketAlive(socket: Socket): boolean {
      (socket as Stamped)[freedAt] = Date.now();
      return super.keepSocketAlive(socket) as unknown as boolean; // Node returns whether to keep it; @types/node says void
    }
    addRequest(req: ClientRequest, options: RequestOptions): void {
      this.staleDropped += dropStale(this as unknown as Pool, this.maxIdleMs);
      (Base.prototype as unknown as AgentAddRequest).addRequest.call(this, req, options);
    }
  };
}

/** http.Agent (keep-alive) that closes, instead of reusing, sockets idle for longer than maxIdleMs. */
export const IdleCheckedHttpAgent = idleChecked(HttpAgent) as new (opts?: HttpAgentOptions & IdleCheckedAgentOptions) => HttpAgent & IdleChecked;
export type IdleCheckedHttpAgent = HttpAgent & IdleChecked;

/** https.Agent (keep-alive) that closes, instead of reusing, sockets idle for longer than maxIdleMs. */
export const IdleCheckedHttpsAgent = idleChecked(HttpsAgent) as new (opts?: HttpsAgentOptions & IdleCheckedAgentOptions) => HttpsAgent & IdleChecked;
export type IdleCheckedHttpsAgent = HttpsAgent & IdleChecked;
