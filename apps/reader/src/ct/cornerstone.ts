/**
 * Cornerstone3D set-up (once) and series loading through our DICOMweb service: the series metadata (WADO-RS, DICOM
 * JSON) goes into the wadors metadata manager, and every slice is a standard `wadors:` image id whose frames the
 * DICOM image loader retrieves as multipart/related with the reader's bearer token.
 */
import { init as csInit, metaData, RenderingEngine } from '@cornerstonejs/core';
import { init as loaderInit, wadors } from '@cornerstonejs/dicom-image-loader';
import * as tools from '@cornerstonejs/tools';
import { authHeaders } from '../api';

export const DICOMWEB = '/v1/dicomweb';
let ready: Promise<RenderingEngine> | undefined;

export function cornerstone(): Promise<RenderingEngine> {
  ready ??= (async () => {
    await csInit();
    loaderInit({ maxWebWorkers: 1, beforeSend: () => authHeaders() });
    tools.init();
    for (const T of [tools.StackScrollTool, tools.WindowLevelTool, tools.PanTool, tools.ZoomTool, tools.BidirectionalTool]) tools.addTool(T);
    return new RenderingEngine('bicr');
  })();
  return ready;
}

type DicomJson = Record<string, { vr: string; Value?: unknown[] }>;
const val = (ds: DicomJson, tag: string) => ds[tag]?.Value;

export interface LoadedSeries {
  studyUid: string;
  seriesUid: string;
  /** wadors: image ids, ordered superior (head) to inferior (feet). */
  imageIds: string[];
  /** Patient z (mm) of each slice, same order. */
  z: number[];
  sopInstanceUids: string[];
}

/**
 * Fetch a series' metadata, register it, and return its image ids in anatomical order. `view` makes the image ids
 * distinct (a URL fragment, never sent to the server) when the same images are shown in two viewports with different
 * annotations (Cornerstone keys annotations by image id): the adjudication shows each read's measurements on its own copy.
 */
export async function loadSeries(studyUid: string, seriesUid: string, view?: string): Promise<LoadedSeries> {
  const res = await fetch(`${DICOMWEB}/studies/${studyUid}/series/${seriesUid}/metadata`, { headers: { Accept: 'application/dicom+json', ...authHeaders() } });
  if (!res.ok) throw new Error(`series metadata: ${res.status} ${(await res.text()).slice(0, 200)}`);
  const instances = (await res.json()) as DicomJson[];
  const rows = instances
    .filter((ds) => val(ds, '7FE00010') !== undefined || ds['7FE00010'])
    .map((ds) => {
      const sop = String(val(ds, '00080018')?.[0]);
      const ipp = (val(ds, '00200032') as number[] | undefined) ?? [0, 0, 0];
      const iop = (val(ds, '00200037') as number[] | undefined) ?? [1, 0, 0, 0, 1, 0];
      const n = [iop[1]! * iop[5]! - iop[2]! * iop[4]!, iop[2]! * iop[3]! - iop[0]! * iop[5]!, iop[0]! * iop[4]! - iop[1]! * iop[3]!];
      const d = ipp[0]! * n[0]! + ipp[1]! * n[1]! + ipp[2]! * n[2]!;
      const imageId = `wadors:${location.origin}${DICOMWEB}/studies/${studyUid}/series/${seriesUid}/instances/${sop}/frames/1${view ? `#${encodeURIComponent(view)}` : ''}`;
      wadors.metaDataManager.add(imageId, ds as never);
      return { sop, imageId, d, z: ipp[2]! };
    })
    .sort((a, b) => b.d - a.d);
  return { studyUid, seriesUid, imageIds: rows.map((r) => r.imageId), z: rows.map((r) => r.z), sopInstanceUids: rows.map((r) => r.sop) };
}

/** Series of a study as QIDO lists them (CT first, most instances first). */
export async function seriesOfStudy(studyUid: string): Promise<{ seriesUid: string; modality: string; instances: number; description: string }[]> {
  const res = await fetch(`${DICOMWEB}/studies/${studyUid}/series`, { headers: { Accept: 'application/dicom+json', ...authHeaders() } });
  if (!res.ok) throw new Error(`series search: ${res.status}`);
  const list = (await res.json()) as DicomJson[];
  return list
    .map((s) => ({ seriesUid: String(val(s, '0020000E')?.[0]), modality: String(val(s, '00080060')?.[0] ?? ''), instances: Number(val(s, '00201209')?.[0] ?? 0), description: String(val(s, '0008103E')?.[0] ?? '') }))
    .sort((a, b) => Number(b.modality === 'CT') - Number(a.modality === 'CT') || b.instances - a.instances);
}

/** Studies of a subject (QIDO by PatientID = Subject Reading ID), with their timepoint ids. */
export async function studiesOfSubject(readingId: string): Promise<{ studyUid: string; date: string; timePointId: string }[]> {
  const res = await fetch(`${DICOMWEB}/studies?PatientID=${encodeURIComponent(readingId)}`, { headers: { Accept: 'application/dicom+json', ...authHeaders() } });
  if (!res.ok) throw new Error(`study search: ${res.status}`);
  const list = (await res.json()) as DicomJson[];
  return list.map((s) => ({ studyUid: String(val(s, '0020000D')?.[0]), date: String(val(s, '00080020')?.[0] ?? ''), timePointId: String(val(s, '00120050')?.[0] ?? '') })).sort((a, b) => a.date.localeCompare(b.date));
}

export { metaData };
