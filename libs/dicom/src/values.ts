import type { DataSet } from 'dicom-parser';

/** `(GGGG,EEEE)` for a dicom-parser tag key `xggggeeee`, for messages. */
export const tagLabel = (tag: string): string => `(${tag.slice(1, 5).toUpperCase()},${tag.slice(5, 9).toUpperCase()})`;

/**
 * Reads DICOM values strictly: an IS/DS value that is not a valid number is never silently coerced
 * (dicom-parser's intString('1A') would give 1); instead a flag is recorded and undefined returned.
 */
export class ValueReader {
  constructor(
    readonly ds: DataSet,
    readonly flags: string[],
  ) {}

  has(tag: string): boolean {
    const el = this.ds.elements[tag];
    return !!el && el.length > 0;
  }

  /** Whole string value (all values joined by backslash), trimmed; undefined when absent or empty. */
  str(tag: string): string | undefined {
    if (!this.has(tag)) return undefined;
    const v = this.ds.string(tag);
    if (v === undefined) return undefined;
    const t = v.replace(/\0/g, '').trim();
    return t.length ? t : undefined;
  }

  strs(tag: string): string[] | undefined {
    const v = this.str(tag);
    return v === undefined ? undefined : v.split('\\').map((s) => s.trim());
  }

  /** Decimal String values; flags and returns undefined when any value is not a finite number. */
  ds_(tag: string, name: string): number[] | undefined {
    const parts = this.strs(tag);
    if (!parts) return undefined;
    const out: number[] = [];
    for (const p of parts) {
      const n = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/.test(p) ? Number(p) : NaN;
      if (!Number.isFinite(n)) {
        this.flags.push(`invalid-value: ${name} ${tagLabel(tag)} = '${this.str(tag)}' is not a decimal string`);
        return undefined;
      }
      out.push(n);
    }
    return out;
  }

  ds1(tag: string, name: string): number | undefined {
    return this.ds_(tag, name)?.[0];
  }

  /** Integer String values, strictly. */
  is_(tag: string, name: string): number[] | undefined {
    const parts = this.strs(tag);
    if (!parts) return undefined;
    const out: number[] = [];
    for (const p of parts) {
      if (!/^[+-]?\d+$/.test(p)) {
        this.flags.push(`invalid-value: ${name} ${tagLabel(tag)} = '${this.str(tag)}' is not an integer string`);
        return undefined;
      }
      out.push(Number(p));
    }
    return out;
  }

  is1(tag: string, name: string): number | undefined {
    return this.is_(tag, name)?.[0];
  }

  /** An unsigned short (US), read with the data set's own byte order. */
  us(tag: string): number | undefined {
    const el = this.ds.elements[tag];
    if (!el || el.length < 2) return undefined;
    return this.ds.uint16(tag);
  }

  fd(tag: string): number | undefined {
    const el = this.ds.elements[tag];
    if (!el || el.length < 8) return undefined;
    return this.ds.double(tag);
  }

  /** Items of a sequence. */
  items(tag: string): DataSet[] {
    const el = this.ds.elements[tag];
    return (el?.items ?? []).map((i) => i.dataSet).filter((d): d is DataSet => !!d);
  }
}
