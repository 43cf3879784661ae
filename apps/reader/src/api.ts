/** The API client: the bearer token from the login, JSON in and out, errors with the API's code and message. */
export interface SessionUser {
  id: string;
  username: string;
  displayName: string;
  roles: string[];
  grants: string[];
}

const KEY = 'bicr.session';

export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string | undefined, message: string, readonly body?: unknown) {
    super(message);
  }
}

export const session = {
  get(): { token: string; user: SessionUser; expiresAt?: string } | null {
    const raw = sessionStorage.getItem(KEY);
    return raw ? JSON.parse(raw) : null;
  },
  set(s: { token: string; user: SessionUser; expiresAt?: string }) {
    sessionStorage.setItem(KEY, JSON.stringify(s));
  },
  clear() {
    sessionStorage.removeItem(KEY);
  },
  token(): string | undefined {
    return this.get()?.token;
  },
  user(): SessionUser | undefined {
    return this.get()?.user;
  },
};

let onUnauthorized: () => void = () => {};
export const setUnauthorizedHandler = (fn: () => void) => {
  onUnauthorized = fn;
};

export const authHeaders = (): Record<string, string> => {
  const t = session.token();
  return t ? { Authorization: `Bearer ${t}` } : {};
};

export async function api<T = unknown>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<T> {
  const res = await fetch(path, {
    method,
    headers: { Accept: 'application/json', ...authHeaders(), ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}), ...headers },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  let json: unknown = undefined;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = text;
  }
  if (!res.ok) {
    const b = (json ?? {}) as { code?: string; message?: string | string[] };
    const msg = Array.isArray(b.message) ? b.message.join('; ') : b.message ?? `${res.status} ${res.statusText}`;
    if (res.status === 401 && !path.endsWith('/auth/login')) onUnauthorized();
    throw new ApiError(res.status, b.code, msg, json);
  }
  return json as T;
}

export const get = <T>(path: string) => api<T>('GET', path);
export const post = <T>(path: string, body?: unknown, headers?: Record<string, string>) => api<T>('POST', path, body ?? {}, headers);
export const put = <T>(path: string, body?: unknown, headers?: Record<string, string>) => api<T>('PUT', path, body ?? {}, headers);
