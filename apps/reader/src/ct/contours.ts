/**
 * Lesion outlines from a DICOM Segmentation (BINARY, bit-packed frames, one frame per segment per slice, as
 * libs/sr writes them): dicom-parser reads the frames and their plane positions, d3-contour traces each
 * segment's mask (marching squares), and the outlines are mapped to patient coordinates (mm).
 */
import dicomParser from 'dicom-parser';
import { contours } from 'd3-contour';
import type { Vec3 } from './viewer';

/** Outlines (closed polygons in patient mm) of every segment, by segment number, and each segment's TrackingUID. */
export function segOutlines(seg: ArrayBuffer): Map<number, Vec3[][]> & { trackingUids: Map<number, string> } {
  const ds = dicomParser.parseDicom(new Uint8Array(seg));
  const trackingUids = new Map<number, string>();
  for (const it of ds.elements.x00620002?.items ?? []) {
    const n = it.dataSet?.uint16('x00620004');
    const uid = it.dataSet?.string('x00620021');
    if (n !== undefined && uid) trackingUids.set(n, uid);
  }
  const rows = ds.uint16('x00280010')!;
  const cols = ds.uint16('x00280011')!;
  const frames = Number(ds.string('x00280008') ?? '1');
  const shared = ds.elements.x52009229?.items?.[0]?.dataSet;
  const iopStr = shared?.elements.x00209116?.items?.[0]?.dataSet?.string('x00200037');
  const psStr = shared?.elements.x00289110?.items?.[0]?.dataSet?.string('x00280030');
  const iop = (iopStr ?? '1\\0\\0\\0\\1\\0').split('\\').map(Number);
  const [rowSpacing, colSpacing] = (psStr ?? '1\\1').split('\\').map(Number) as [number, number];
  const rowDir = iop.slice(0, 3) as Vec3; // direction of increasing column index (x)
  const colDir = iop.slice(3, 6) as Vec3; // direction of increasing row index (y)
  const perFrame = ds.elements.x52009230?.items ?? [];
  const pixel = ds.elements.x7fe00010!;
  const bits = new Uint8Array(seg, pixel.dataOffset, pixel.length);
  const out = Object.assign(new Map<number, Vec3[][]>(), { trackingUids });
  const n = rows * cols;
  const tracer = contours().size([cols, rows]).thresholds([0.5]);
  for (let f = 0; f < Math.min(frames, perFrame.length); f++) {
    const item = perFrame[f]!.dataSet!;
    const segment = item.elements.x0062000a?.items?.[0]?.dataSet?.uint16('x0062000b') ?? 1;
    const ipp = (item.elements.x00209113?.items?.[0]?.dataSet?.string('x00200032') ?? '0\\0\\0').split('\\').map(Number) as Vec3;
    const mask = new Float32Array(n);
    let any = false;
    for (let p = 0; p < n; p++) {
      const bit = f * n + p;
      if (bits[bit >> 3]! & (1 << (bit & 7))) {
        mask[p] = 1;
        any = true;
      }
    }
    if (!any) continue;
    const [multi] = tracer(Array.from(mask));
    const polys = out.get(segment) ?? [];
    for (const polygon of multi?.coordinates ?? [])
      for (const ring of polygon) {
        // d3 works on pixel corners (pixel i spans [i, i+1]); pixel centres are at i + 0.5
        polys.push(
          ring.map(([x, y]) => {
            const cx = (x! - 0.5) * colSpacing;
            const ry = (y! - 0.5) * rowSpacing;
            return [ipp[0] + cx * rowDir[0] + ry * colDir[0], ipp[1] + cx * rowDir[1] + ry * colDir[1], ipp[2] + cx * rowDir[2] + ry * colDir[2]] as Vec3;
          }),
        );
      }
    out.set(segment, polys);
  }
  return out;
}

/** Outlines by the lesion's TrackingUID. */
export function outlinesByTrackingUid(seg: ArrayBuffer): Map<string, Vec3[][]> {
  const o = segOutlines(seg);
  const m = new Map<string, Vec3[][]>();
  for (const [n, polys] of o) {
    const uid = o.trackingUids.get(n);
    if (uid) m.set(uid, polys);
  }
  return m;
}
