import * as dicomParser from 'dicom-parser';
import { InputError } from '@app/core';
import { CODES } from './codes';
import type { Code, SrLesionReadback } from './types';

type ParsedSet = ReturnType<typeof dicomParser.parseDicom>;
const items = (ds: ParsedSet, tag: string): ParsedSet[] => (ds.elements[tag]?.items ?? []).map((i) => i.dataSet as ParsedSet);
const str = (ds: ParsedSet, tag: string): string => (ds.string(tag) ?? '').trim();

function conceptIs(item: ParsedSet, c: Code): boolean {
  const n = items(item, 'x0040a043')[0];
  if (!n) return false;
  const value = str(n, 'x00080100') || str(n, 'x00080119');
  return value === c.code && str(n, 'x00080102') === c.scheme;
}

/** Exact numeric value of a NUM item: Floating Point Value (FD) when present, else the DS Numeric Value. */
function numValue(item: ParsedSet): number | null {
  const mv = items(item, 'x0040a300')[0];
  if (!mv) return null;
  if (mv.elements.x0040a161) return mv.double('x0040a161') ?? null;
  const s = str(mv, 'x0040a30a');
  return s === '' ? null : Number(s);
}

/**
 * Small TID 1500 reader: one entry per Measurement Group (125007, DCM) under Imaging Measurements (126010, DCM),
 * with tracking identifier/UID, long axis, short axis, volume (mm / mm³), referenced segment number and time point id.
 */
export function readSrMeasurements(buf: Uint8Array): SrLesionReadback[] {
  let ds: ParsedSet;
  try {
    ds = dicomParser.parseDicom(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength));
  } catch (e) {
    throw new InputError('sr.not-dicom', `cannot parse DICOM: ${(e as Error).message ?? String(e)}`);
  }
  const root = items(ds, 'x0040a730');
  const measurements = root.find((it) => conceptIs(it, CODES.imagingMeasurements));
  if (!measurements) return [];
  return items(measurements, 'x0040a730')
    .filter((g) => conceptIs(g, CODES.measurementGroup))
    .map((g) => {
      const kids = items(g, 'x0040a730');
      const find = (c: Code): ParsedSet | undefined => kids.find((k) => conceptIs(k, c));
      const t = find(CODES.trackingIdentifier);
      const u = find(CODES.trackingUniqueIdentifier);
      const la = find(CODES.longAxis);
      const sa = find(CODES.shortAxis);
      const vol = find(CODES.volume);
      const seg = find(CODES.referencedSegment);
      const tp = find(CODES.subjectTimePointIdentifier);
      const segRef = seg ? items(seg, 'x00081199')[0] : undefined;
      return {
        trackingId: t ? (t.text('x0040a160') ?? '').trim() : '',
        trackingUid: u ? str(u, 'x0040a124') : '',
        longAxisMm: la ? numValue(la) : null,
        shortAxisMm: sa ? numValue(sa) : null,
        volumeMm3: vol ? numValue(vol) : null,
        segmentNumber: segRef?.elements.x0062000b ? (segRef.uint16('x0062000b') ?? null) : null,
        timePointId: tp ? (tp.text('x0040a160') ?? '').trim() : null,
      };
    });
}
