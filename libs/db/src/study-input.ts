import { randomUUID } from 'node:crypto';

/**
 * How a study input document is laid out in the database (migration 0012): its large arrays, one item per row of
 * study_input_parts, and the rest (the header) in study_inputs.input. Pure functions; EndpointsRepository does the SQL.
 */

/** The arrays stored item by item, when the document has them: a study's subjects and its readers' reads. */
export const STUDY_INPUT_PART_PATHS = ['subjects', 'reads.reads'] as const;

/** The canonical JSON the input's sha256 is taken over (sorted keys; the caller's, so that stored hashes stay the same). */
export type CanonicalJson = (value: unknown) => string;

type Obj = Record<string, unknown>;
const isObject = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A document split for storage. */
export interface SplitStudyInput {
  /** The document without its parts (objects along a part's path are copies; the document itself is not changed). */
  header: Obj;
  /** The arrays taken out, in the order their items appear in the canonical JSON of the whole document. */
  parts: { path: string; items: readonly unknown[] }[];
  /**
   * The canonical JSON of the whole document, in pieces: `text[0]`, then part 0's items ('[' a,b,... ']'), then
   * `text[1]`, and so on. Concatenated, it is exactly canonical(document), which is never built as one string (a
   * 10,000-subject trial with reads is about 400 MB of it).
   */
  text: string[];
}

/** Splits a document into its header and parts, and the canonical JSON around the parts. */
export function splitStudyInput(doc: Obj, canonical: CanonicalJson): SplitStudyInput {
  const marker = `@@study-input-part:${randomUUID()}:`;
  const header: Obj = { ...doc };
  const marked: Obj = { ...doc };
  const taken: { path: string; items: readonly unknown[] }[] = [];
  for (const path of STUDY_INPUT_PART_PATHS) {
    const keys = path.split('.');
    let h = header;
    let m = marked;
    let found = true;
    for (const k of keys.slice(0, -1)) {
      if (!isObject(h[k])) {
        found = false;
        break;
      }
      h = h[k] = { ...(h[k] as Obj) };
      m = m[k] = { ...(m[k] as Obj) };
    }
    const last = keys[keys.length - 1]!;
    if (!found || !Array.isArray(h[last])) continue;
    taken.push({ path, items: h[last] as unknown[] });
    delete h[last];
    m[last] = marker + path;
  }
  // the canonical JSON of the document with each part replaced by a marker string: cut at the markers
  const whole = canonical(marked);
  const at = taken.map((p) => {
    const quoted = JSON.stringify(marker + p.path);
    const i = whole.indexOf(quoted);
    if (i < 0 || whole.indexOf(quoted, i + 1) >= 0) throw new Error(`splitStudyInput: the canonical JSON does not hold ${p.path}'s marker exactly once`);
    return { part: p, start: i, end: i + quoted.length };
  });
  at.sort((a, b) => a.start - b.start);
  const text: string[] = [];
  let from = 0;
  for (const a of at) {
    text.push(whole.slice(from, a.start));
    from = a.end;
  }
  text.push(whole.slice(from));
  return { header, parts: at.map((a) => a.part), text };
}

/** Puts the parts back into a stored header: the whole document (a copy along the parts' paths). */
export function joinStudyInput(header: Obj, parts: { path: string; items: unknown[] }[]): Obj {
  const doc: Obj = { ...header };
  for (const { path, items } of parts) {
    const keys = path.split('.');
    let o = doc;
    for (const k of keys.slice(0, -1)) o = o[k] = isObject(o[k]) ? { ...(o[k] as Obj) } : {};
    o[keys[keys.length - 1]!] = items;
  }
  return doc;
}

/** The value at a dotted path of a document (undefined when absent). */
export function valueAtPath(doc: unknown, path: string): unknown {
  let v = doc;
  for (const k of path.split('.')) v = isObject(v) ? v[k] : undefined;
  return v;
}
