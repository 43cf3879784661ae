import { createHash, createHmac } from 'node:crypto';
import { Readable } from 'node:stream';
import { codeVersion, DEV_DEID_SECRET, InputError, isInputError, sha256Hex } from '@app/core';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ImagingRepository, type InstanceRow, PseudonymRepository, type ObjectRow, type SeriesRow } from '@app/db';
import { openSlide } from '@app/wsi';
import { deidentify, deriveDateShiftDays } from '@app/deid';
import { checkPixelModule, decodeAllFrames, decodeFrame, decodeFrameInto, type DicomHeader, groupInstances, type ParsedDicom, parseDicom, planVolume, selectSeries, sliceRefs, summarizeSeries, type Volume, volumeFromPlan } from '@app/dicom';
import { validateDicomPixels } from '@app/dicom';
import type { KindProcessor, PipelineContext } from '@app/ingest';
import type { JobContext, JobDefinition } from '@app/queue';
import type { PipelineModule } from '../modules';
import { enqueueCtInference } from './ai';
import { loadProtocolConfig } from '../protocol';
import { nrrdParts } from './nrrd';
import { deriveSlide, fetchBlinded, subjectFromKey } from './wsi';

export const SERIES_CHECK_JOB = 'dicom.series-check';
export const VOLUME_JOB = 'dicom.volume';
const WSI_SOP_CLASS = '1.2.840.10008.5.1.4.1.1.77.1.6';

const deidSecret = (ctx: PipelineContext) => ctx.config.DEID_SECRET ?? DEV_DEID_SECRET;

/**
 * The trial subject of an object: ClinicalTrialSubjectID when the site set it, otherwise a keyed
 * pseudonym of PatientID (the PatientID itself only goes to the restricted pseudonym table), otherwise
 * the `subject-<SubjectID>` folder of the upload path (as for slides).
 */
function subjectIdOf(p: ParsedDicom, secret: string, key: string): string {
  const ct = p.header.clinicalTrial?.subjectId?.trim();
  if (ct) return ct;
  const pid = p.header.patient.patientId?.trim();
  if (!pid) {
    const fromPath = subjectFromKey(key);
    if (fromPath) return fromPath;
    throw new InputError('dicom.no-subject', 'neither ClinicalTrialSubjectID (0012,0040) nor PatientID (0010,0020) is present, and the upload path has no subject-<SubjectID> folder: the object cannot be assigned to a trial subject');
  }
  return `S-${createHmac('sha256', secret).update(`patient:${pid}`).digest('hex').slice(0, 12).toUpperCase()}`;
}

/**
 * Step 1 (per object): parse, validate pixels, assign the subject, de-identify, store the
 * de-identified copy under deid/, index it, and schedule the series' quiet-period check.
 * Idempotent: re-running for the same object finds its instance by (pseudonymous) SOP Instance UID.
 */
export function dicomProcessor(ctx: PipelineContext): KindProcessor {
  const imaging = new ImagingRepository(ctx.db);
  const pseudonyms = new PseudonymRepository(ctx.db);
  const protocol = loadProtocolConfig(ctx.config);
  return {
    name: 'dicom',
    kinds: ['dicom'],
    async process(obj: ObjectRow, _ctx, job) {
      const buf = await ctx.store.getBuffer(obj.key);
      const parsed = parseDicom(buf);
      const h = parsed.header;
      const isWsi = h.instance.sopClassUid === WSI_SOP_CLASS;
      const flavour = (h.instance.imageType[2] ?? '').toUpperCase();
      if (isWsi && (flavour === 'LABEL' || flavour === 'OVERVIEW'))
        // slide label / macro photographs can show names and barcodes: never de-identified "enough", never copied
        return { detail: { dicom: { sopClassUid: h.instance.sopClassUid, excluded: `whole-slide ${flavour} image: never copied to readers or derived outputs` } } };
      if (isWsi && h.image.hasPixelData) checkPixelModule(h); // tiles are decoded by the slide reader when the series is complete
      else if (h.image.hasPixelData) {
        // every frame decoded in the decoder sandbox (a child process): proves the pixel data is complete and decodable before anything
        // is derived from it; a decoder crash, out-of-memory or time-out quarantines the object instead of killing this process
        await validateDicomPixels(buf, obj.key);
      }
      await job.progress(30);
      const secret = deidSecret(ctx);
      const protocolId = h.clinicalTrial?.protocolId?.trim() || protocol.protocolId;
      const subjectId = subjectIdOf(parsed, secret, obj.key);
      const subject = await imaging.ensureSubject(protocolId, subjectId, deriveDateShiftDays(secret, `${protocolId}/${subjectId}`));
      const timePointHint = h.clinicalTrial?.timePointId?.trim();
      const shiftedDate = shiftYmd(h.study.studyDate, subject.date_shift_days);
      const timePointId = timePointHint || (shiftedDate ? `TP-${shiftedDate}` : 'TP-UNKNOWN');
      const d = deidentify(buf, {
        protocolId,
        subjectId,
        readingId: subject.reading_id,
        timePointId,
        dateShiftDays: subject.date_shift_days,
        uidSecret: secret,
        sponsorName: protocol.sponsorName,
        protocolName: protocol.protocolName,
      });
      await pseudonyms.record(subject.id, d.pseudonyms.originalPatientId, d.uidMap);
      const deid = parseDicom(d.bytes, { stopAtPixelData: true }).header;
      const studyUid = deid.study.studyInstanceUid!;
      const seriesUid = deid.series.seriesInstanceUid!;
      const sopUid = deid.instance.sopInstanceUid!;
      const deidKey = `deid/${subject.reading_id}/${studyUid}/${seriesUid}/${sopUid}.dcm`;
      await ctx.store.put(deidKey, d.bytes, { contentType: 'application/dicom' });
      await job.progress(70);
      const study = await imaging.ensureStudy(subject.id, studyUid, deid.study.studyDate ?? null, timePointId);
      const series = await imaging.ensureSeries(study.id, seriesUid, deid.series.modality ?? null, deid.series.seriesNumber ?? null);
      const { row, created } = await imaging.addInstance({
        series_id: series.id,
        object_id: obj.id,
        sop_instance_uid: sopUid,
        sop_class_uid: deid.instance.sopClassUid ?? '',
        instance_number: deid.instance.instanceNumber ?? null,
        transfer_syntax_uid: deid.instance.transferSyntaxUid,
        frames: deid.image.numberOfFrames,
        header: { ...deid, patient: {} } as unknown as Record<string, unknown>,
        deid_key: deidKey,
        deid_sha256: sha256Hex(d.bytes),
      });
      // every new instance restarts the series' quiet period
      await ctx.queue.enqueue(SERIES_CHECK_JOB, { seriesId: series.id }, { idempotencyKey: `series-check:${series.id}:${row.id}`, delayMs: ctx.config.SERIES_QUIET_MS });
      return {
        detail: {
          dicom: {
            readingId: subject.reading_id,
            timePointId,
            seriesId: series.id,
            instanceId: row.id,
            newInstance: created,
            sopClassUid: deid.instance.sopClassUid,
            transferSyntaxUid: h.instance.transferSyntaxUid,
            deidKey,
            deid: { counts: d.report.counts, reencoded: d.report.reencoded ?? null, burnedInAnnotation: d.report.burnedInAnnotation.status, methodCodes: d.report.methodCodes },
            flags: h.flags,
          },
        },
      };
    },
  };
}

/** YYYYMMDD shifted by whole days (for the time point label before the de-identified header exists). */
function shiftYmd(ymd: string | undefined, days: number): string | undefined {
  if (!ymd || !/^\d{8}$/.test(ymd)) return undefined;
  const t = Date.UTC(+ymd.slice(0, 4), +ymd.slice(4, 6) - 1, +ymd.slice(6, 8)) + days * 86400000;
  return new Date(t).toISOString().slice(0, 10).replace(/-/g, '');
}

/** Step 2: after the quiet period, if no instance arrived since, enqueue the volume build for this exact instance set. */
function seriesCheckJob(ctx: PipelineContext): JobDefinition<{ seriesId: string }> {
  const imaging = new ImagingRepository(ctx.db);
  return {
    name: SERIES_CHECK_JOB,
    async handler(job) {
      const s = await imaging.seriesById(job.payload.seriesId);
      if (!s) throw new Error(`series ${job.payload.seriesId} not found`);
      const quietFor = Date.now() - new Date(s.last_instance_at).getTime();
      if (quietFor < ctx.config.SERIES_QUIET_MS) return { stable: false, quietForMs: quietFor }; // a later check was scheduled by the newer instance
      const inst = await imaging.instancesOfSeries(s.id);
      const setHash = instanceSetSha256(inst);
      const r = await ctx.queue.enqueue(VOLUME_JOB, { seriesId: s.id, instanceSetSha256: setHash }, { idempotencyKey: `volume:${s.id}:${setHash}` });
      return { stable: true, instances: inst.length, volumeJob: r.jobId, duplicate: r.duplicate };
    },
  };
}

/** The identity of a series' instance set: sha256 of its sorted SOP Instance UIDs (a volume's instance_set_sha256). */
function instanceSetSha256(rows: readonly { sop_instance_uid: string }[]): string {
  return sha256Hex(rows.map((i) => i.sop_instance_uid).sort().join('\n'));
}

/** Step 3: series selection and the volume (NRRD under volumes/), with its provenance. */
function volumeJob(ctx: PipelineContext): JobDefinition<{ seriesId: string; instanceSetSha256: string }> {
  const imaging = new ImagingRepository(ctx.db);
  const protocol = loadProtocolConfig(ctx.config);
  return {
    name: VOLUME_JOB,
    async handler(job) {
      const s = await imaging.seriesById(job.payload.seriesId);
      if (!s) throw new Error(`series ${job.payload.seriesId} not found`);
      const rows = await imaging.instancesOfSeries(s.id);
      // A check enqueued this job for one instance set; an instance that arrived since makes it stale. The newer
      // instance's own check builds the newer set, so this job stops: a volume is only ever stored under the hash of
      // the instances it was built from, and an older set never overwrites the series' state.
      const currentSet = instanceSetSha256(rows);
      if (currentSet !== job.payload.instanceSetSha256) return { stale: true, instances: rows.length, currentInstanceSetSha256: currentSet };
      // Headers only: a 1,000-slice series is never held whole (each object is fetched, its header kept, the bytes dropped);
      // pixel data is fetched again one slice at a time, straight into the volume (readSeriesVolume).
      const parsed: SeriesInstance[] = [];
      for (const r of rows) parsed.push({ header: parseDicom(await ctx.store.getBuffer(r.deid_key), { stopAtPixelData: true }).header, key: r.deid_key });
      await job.progress(40);
      if (parsed[0]?.header.instance.sopClassUid === WSI_SOP_CLASS) return buildDicomSlide(ctx, job, s, rows);
      const group = groupInstances(parsed)[0]?.studies[0]?.series[0];
      if (!group) throw new Error('series has no instances');
      const summary = summarizeSeries(group);
      const sel = selectSeries(protocol.seriesSelection, summary);
      const withPixels = parsed.filter((p) => p.header.image.hasPixelData);
      if (!withPixels.length) {
        if (!(await imaging.updateSeries(s.id, { status: 'no-volume', selected: false, reasons: [...sel.reasons, 'no image pixel data (e.g. SR or SEG)'], summary: { ...summary } }, rows.length)))
          return { stale: true, volume: false };
        return { volume: false };
      }
      try {
        const vol = await readSeriesVolume(ctx, withPixels);
        const [nrrdHead, nrrdBody] = nrrdParts(vol, { series: s.series_uid, codeVersion: codeVersion() });
        const key = `volumes/${s.id}/${job.payload.instanceSetSha256}.nrrd`;
        // streamed from the volume's own memory: no second whole copy of the NRRD
        await ctx.store.put(key, Readable.from([nrrdHead, nrrdBody]), { contentType: 'application/octet-stream' });
        const dataSha256 = createHash('sha256').update(nrrdHead).update(nrrdBody).digest('hex');
        const v = await imaging.addVolume({
          series_id: s.id,
          instance_set_sha256: job.payload.instanceSetSha256,
          dims: vol.dims,
          spacing: vol.spacing,
          affine: vol.affine,
          flags: vol.flags,
          data_key: key,
          data_sha256: dataSha256,
          provenance: { sourceSha256: rows.map((r) => r.deid_sha256), sliceSopInstanceUids: vol.sliceSopInstanceUids, codeVersion: codeVersion(), at: new Date().toISOString() },
        });
        // only while this set is still the series' whole set: an instance that arrived during the build leaves the
        // series to the newer set's job (this volume stays, correct for its own set, but is not read by the AI)
        if (!(await imaging.updateSeries(s.id, { status: 'volume-built', selected: sel.selected, reasons: sel.reasons, flags: vol.flags, summary: { ...summary }, error: null }, rows.length)))
          return { stale: true, volumeId: v.id, dims: vol.dims };
        if (sel.selected) await enqueueCtInference(ctx, v); // the AI read of a selected series
        return { volumeId: v.id, dims: vol.dims, selected: sel.selected, flags: vol.flags };
      } catch (e) {
        if (!isInputError(e)) throw e;
        // mixed geometry etc.: the series is recorded as unusable with the reason, never silently fixed
        if (!(await imaging.updateSeries(s.id, { status: 'volume-failed', selected: false, reasons: [...sel.reasons, `volume not built: ${e.message}`], summary: { ...summary }, error: `${e.code}: ${e.message}` }, rows.length)))
          return { stale: true, volume: false, error: e.code };
        return { volume: false, error: e.code };
      }
    },
  };
}

interface SeriesInstance {
  header: DicomHeader;
  key: string;
}

/**
 * The HU volume of a series with bounded memory: planned from the headers (order, spacing, size limit before
 * allocation), then each kept frame is fetched from the store, decoded and copied into the one volume array.
 * Peak: the volume plus one object (the last object is reused for its next frames: multi-frame instances); each slice
 * is decoded in place, at the volume's type decided by the first slice.
 */
async function readSeriesVolume(ctx: PipelineContext, instances: SeriesInstance[]): Promise<Volume> {
  for (const p of instances) checkPixelModule(p.header);
  const refs = sliceRefs(instances);
  const owner: SeriesInstance[] = [];
  for (const p of instances) {
    const n = Number.isFinite(p.header.image.numberOfFrames) ? p.header.image.numberOfFrames : 1;
    for (let f = 0; f < n; f++) owner.push(p);
  }
  const plan = planVolume(refs);
  const [nx, ny, nz] = plan.dims;
  const per = nx * ny;
  const mixed = (i: number, n: number) => new InputError('dicom.mixed-geometry', `Slice ${refs[i]!.sopInstanceUid} decoded to ${n} values, expected ${per}`);
  // The element type comes from the first kept slice (int16 when its HU values fit, else float32), so the volume is
  // allocated once at its final type; later slices decode straight into their place in it.
  let data: Int16Array | Float32Array | undefined;
  let cached: { key: string; parsed: ParsedDicom } | undefined;
  for (let k = 0; k < nz; k++) {
    const i = plan.order[k]!;
    const o = owner[i]!;
    if (cached?.key !== o.key) cached = { key: o.key, parsed: parseDicom(await ctx.store.getBuffer(o.key)) };
    if (!data) {
      const { values } = await decodeFrame(cached.parsed, refs[i]!.frameIndex);
      if (!values) throw new InputError('dicom.not-monochrome', `Slice ${refs[i]!.sopInstanceUid} is not monochrome; a volume needs greyscale slices`);
      if (values.length !== per) throw mixed(i, values.length);
      data = values instanceof Float32Array ? new Float32Array(per * nz) : new Int16Array(per * nz);
      data.set(values, k * per);
      continue;
    }
    const slot = data.subarray(k * per, (k + 1) * per);
    let got: Int16Array | Float32Array;
    try {
      got = await decodeFrameInto(cached.parsed, refs[i]!.frameIndex, slot);
    } catch (e) {
      if (e instanceof RangeError) throw new InputError('dicom.mixed-geometry', `Slice ${refs[i]!.sopInstanceUid}: ${e.message}`);
      throw e;
    }
    if (got !== slot) {
      // this slice's values do not fit int16 (another rescale): the volume becomes float32 (one copy, rare)
      if (got.length !== per) throw mixed(i, got.length);
      if (data instanceof Int16Array) data = Float32Array.from(data);
      data.set(got, k * per);
    }
  }
  if (!data) throw new Error('series has no slices to build a volume from');
  return volumeFromPlan(plan, refs, data);
}

/** A complete DICOM whole-slide series (de-identified instances) becomes a slide, like a TIFF slide. */
async function buildDicomSlide(ctx: PipelineContext, job: JobContext<unknown>, s: SeriesRow, rows: InstanceRow[]) {
  const imaging = new ImagingRepository(ctx.db);
  const subject = await imaging.subjectOfSeries(s.id);
  const work = join(ctx.config.dataDir, 'tmp', `wsi-${s.id}`);
  await rm(work, { recursive: true, force: true });
  try {
    const blindedKey = rows[0]!.deid_key.slice(0, rows[0]!.deid_key.lastIndexOf('/') + 1);
    const slide = await openSlide(await fetchBlinded(ctx, blindedKey, join(work, 'instances')));
    try {
      const r = await deriveSlide(ctx, job, {
        objectId: rows[0]!.object_id,
        sourceSha256: rows.map((x) => x.deid_sha256),
        slide,
        libvipsPath: null,
        work,
        subject,
        folder: `slides/${subject.reading_id}/${s.id}`,
        blinding: { method: 'DICOM PS3.15 Basic profile (de-identified instances); LABEL and OVERVIEW instances are never copied (excluded at ingest)', removedAssociatedImages: [] },
        blindedKey,
        storeBlinded: async () => {},
      });
      await imaging.updateSeries(s.id, { status: 'no-volume', selected: false, reasons: ['whole-slide image: served as a slide (/v1/slides), not a CT volume'] });
      return r.detail;
    } finally {
      await slide.close();
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

export const dicomModule: PipelineModule = {
  name: 'dicom',
  processors: (ctx) => [dicomProcessor(ctx)],
  jobs: (ctx) => [seriesCheckJob(ctx), volumeJob(ctx)],
};
