import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InputError } from '@app/core';
import { buildVolume, groupInstances, parseDicom, selectSeries, summarizeSeries, type DicomHeader, type ParsedDicom, type SeriesSelectionRules, type Volume } from '@app/dicom';

/** One CT timepoint read from a folder: the selected series' volume and the header of every slice. */
export interface FolderTimepoint {
  studyInstanceUid: string;
  /** ISO date from StudyDate (as stored: de-identified data carries shifted dates). */
  date: string;
  /** ClinicalTrialTimePointID when present, else `TP<n>` in date order. */
  timePointId: string;
  seriesInstanceUid: string;
  volume: Volume;
  /** Header of each z slice, in volume order. */
  sliceHeaders: DicomHeader[];
  /** sha256 of every source file, in file-name order. */
  sourceSha256: string[];
}

const isoDate = (da?: string): string => (da && /^\d{8}$/.test(da) ? `${da.slice(0, 4)}-${da.slice(4, 6)}-${da.slice(6, 8)}` : '');

async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walk(p)));
    else if (e.isFile()) out.push(p);
  }
  return out.sort();
}

/**
 * Reads a folder holding ONE subject's CT studies (any number of timepoints, any layout), groups the files into
 * studies and series, selects one series per study with the protocol's selection rules (the first selected series
 * in series-number order), and builds its volume. Files that are not DICOM are skipped; a folder with more than
 * one PatientID, or a study with no selectable series, is refused with the reasons.
 */
export async function loadSubjectFolder(dir: string, rules: SeriesSelectionRules, sha256: (b: Buffer) => string): Promise<FolderTimepoint[]> {
  const parsed: (ParsedDicom & { sha: string })[] = [];
  for (const f of await walk(dir)) {
    const bytes = await readFile(f);
    try {
      parsed.push({ ...parseDicom(bytes), sha: sha256(bytes) });
    } catch (e) {
      if (e instanceof InputError) continue; // not DICOM (or broken): not part of the read
      throw e;
    }
  }
  if (!parsed.length) throw new InputError('airead.no-dicom', `no DICOM files under ${dir}`);
  const patients = groupInstances(parsed);
  if (patients.length > 1) throw new InputError('airead.many-subjects', `the folder holds ${patients.length} patients (${patients.map((p) => p.patientId).join(', ')}); give one subject's studies`);
  const studies = [...patients[0]!.studies].sort((a, b) => (a.studyDate ?? '').localeCompare(b.studyDate ?? ''));
  const out: FolderTimepoint[] = [];
  for (const [n, st] of studies.entries()) {
    const reasons: string[] = [];
    let chosen: (typeof st.series)[number] | undefined;
    for (const se of [...st.series].sort((a, b) => (a.seriesNumber ?? 0) - (b.seriesNumber ?? 0))) {
      const sel = selectSeries(rules, summarizeSeries(se));
      if (sel.selected) {
        chosen = se;
        break;
      }
      reasons.push(`series ${se.seriesNumber ?? '?'}: ${sel.reasons.join('; ')}`);
    }
    if (!chosen) throw new InputError('airead.no-series', `study ${n + 1} (${isoDate(st.studyDate) || 'no date'}) has no series the protocol selects: ${reasons.join(' | ')}`);
    const vol = await buildVolume(chosen.instances.filter((p) => p.header.image.hasPixelData));
    const bySop = new Map(chosen.instances.map((p) => [p.header.instance.sopInstanceUid, p.header]));
    const first = chosen.instances[0]!.header;
    const date = isoDate(st.studyDate);
    if (!date) throw new InputError('airead.no-date', `study ${st.studyInstanceUid} has no StudyDate; timepoints cannot be ordered`);
    out.push({
      studyInstanceUid: st.studyInstanceUid,
      date,
      timePointId: first.clinicalTrial?.timePointId?.trim() || `TP${n + 1}`,
      seriesInstanceUid: chosen.seriesInstanceUid,
      volume: vol,
      sliceHeaders: vol.sliceSopInstanceUids.map((u) => bySop.get(u)!),
      sourceSha256: chosen.instances.map((p) => p.sha),
    });
  }
  return out;
}
