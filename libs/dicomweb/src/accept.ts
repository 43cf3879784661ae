/** One media range of an HTTP Accept header, with its parameters (lower-case names, unquoted values). */
export interface MediaRange {
  type: string;
  params: Record<string, string>;
  q: number;
}

/** Split an Accept header into media ranges; commas inside quoted strings do not split. Missing header = `*\/*`. */
export function parseAccept(header: string | string[] | undefined): MediaRange[] {
  const raw = Array.isArray(header) ? header.join(',') : header;
  if (!raw || !raw.trim()) return [{ type: '*/*', params: {}, q: 1 }];
  const ranges: string[] = [];
  let cur = '';
  let quoted = false;
  for (const ch of raw) {
    if (ch === '"') quoted = !quoted;
    if (ch === ',' && !quoted) {
      ranges.push(cur);
      cur = '';
    } else cur += ch;
  }
  ranges.push(cur);
  const out: MediaRange[] = [];
  for (const r of ranges) {
    const [type, ...ps] = splitParams(r);
    if (!type) continue;
    const params: Record<string, string> = {};
    for (const p of ps) {
      const eq = p.indexOf('=');
      if (eq < 0) continue;
      params[p.slice(0, eq).trim().toLowerCase()] = p.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1');
    }
    const q = params.q !== undefined ? Number(params.q) : 1;
    delete params.q;
    out.push({ type: type.trim().toLowerCase(), params, q: Number.isFinite(q) ? q : 0 });
  }
  return out.filter((m) => m.q > 0).sort((a, b) => b.q - a.q);
}

function splitParams(s: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (const ch of s) {
    if (ch === '"') quoted = !quoted;
    if (ch === ';' && !quoted) {
      out.push(cur.trim());
      cur = '';
    } else cur += ch;
  }
  out.push(cur.trim());
  return out;
}

/**
 * Whether the client accepts `multipart/related; type="<partType>"` with the given transfer syntax
 * (`*` or the exact UID in a range's transfer-syntax parameter; absent means "the default", which we take as acceptable).
 */
export function acceptsMultipart(ranges: MediaRange[], partType: string, transferSyntax: string): boolean {
  const [major] = partType.split('/');
  return ranges.some((r) => {
    if (r.type === '*/*' || r.type === 'multipart/*') return true;
    if (r.type !== 'multipart/related') return false;
    const t = (r.params.type ?? partType).toLowerCase();
    if (t !== partType && t !== `${major}/*` && t !== '*/*') return false;
    const ts = r.params['transfer-syntax'];
    return ts === undefined || ts === '*' || ts === transferSyntax;
  });
}

/** Whether the client accepts DICOM JSON (application/dicom+json, application/json, or a wildcard). */
export function acceptsDicomJson(ranges: MediaRange[]): boolean {
  return ranges.some((r) => ['*/*', 'application/*', 'application/dicom+json', 'application/json'].includes(r.type));
}
