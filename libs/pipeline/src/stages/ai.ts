import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { mkdir, rm } from 'node:fs/promises';
import { codeVersion, InputError, isInputError, sha256Hex } from '@app/core';
import { aiOnlyRead, analyseCtVolume, classesFromCard, componentsAsInt16, type AiSubject, type LesionProposalValues, trackCtSubject, writeTimepointSegSr, type CtLesion, type CtTimepoint, type TrackedLesion } from '@app/airead';
import { AiRepository, ImagingRepository, SlidesRepository, type AiRunRow, type NewAiProposal } from '@app/db';
import type { DicomHeader } from '@app/dicom';
import { createInferencePool, inferenceRuntime, isShared, ortType, resolveModel, type InferencePool, type ModelHandle } from '@app/inference';
import type { PipelineContext } from '@app/ingest';
import { classifySlide, heatmapPng, slideMetrics, type TileBatch, type TilePredictor } from '@app/pathology';
import type { JobContext, JobDefinition } from '@app/queue';
import { openSlide } from '@app/wsi';
import type { PipelineModule } from '../modules';
import { decodeNrrd, nrrdParts, openNrrdSlices, type NrrdSlices } from './nrrd';
import { fetchBlinded } from './wsi';
import { addStudyInput } from './endpoints';

export const CT_INFERENCE_JOB = 'inference.ct';
export const TRACK_JOB = 'lesions.track';
export const SLIDE_INFERENCE_JOB = 'inference.slide';

/** One inference pool (worker threads holding the ONNX sessions) per runtime, created on first use. */
const pools = new WeakMap<object, InferencePool>();
function poolOf(ctx: PipelineContext): InferencePool {
  let p = pools.get(ctx.db);
  if (!p) {
    p = createInferencePool({
      threads: ctx.config.INFERENCE_THREADS,
      intraOpNumThreads: ctx.config.INFERENCE_INTRAOP_THREADS,
      batchSize: ctx.config.INFERENCE_BATCH,
      executionProvider: ctx.config.INFERENCE_EP,
      modelsDir: ctx.config.MODELS_DIR,
      warn: (m) => ctx.log.warn(m),
    });
    pools.set(ctx.db, p);
  }
  return p;
}
export async function closeAiPool(ctx: Pick<PipelineContext, 'db'>): Promise<void> {
  const p = pools.get(ctx.db);
  pools.delete(ctx.db);
  await p?.close();
}

/** The model's sha256 when it resolves now (the job key then names the exact model), else the reference itself. */
function modelKey(ctx: PipelineContext, ref: string): string {
  try {
    return resolveModel(ref, { modelsDir: ctx.config.MODELS_DIR }).sha256;
  } catch {
    return `unresolved:${ref}`;
  }
}

/** Enqueues CT inference for a built, selected volume (called by the volume step). Keyed by volume sha256 + model. */
export async function enqueueCtInference(ctx: PipelineContext, volume: { id: string; data_sha256: string }): Promise<void> {
  const ref = ctx.config.AI_CT_MODEL;
  if (ref === 'off') return;
  await ctx.queue.enqueue(CT_INFERENCE_JOB, { volumeId: volume.id, model: ref }, { idempotencyKey: `inference.ct:${volume.data_sha256}:${modelKey(ctx, ref)}` });
}

/** Enqueues slide inference after patch planning. Keyed by the blinded slide's sha256 + model. */
export async function enqueueSlideInference(ctx: PipelineContext, slide: { id: string; blinded_sha256: string }): Promise<void> {
  const ref = ctx.config.AI_SLIDE_MODEL;
  if (ref === 'off') return;
  await ctx.queue.enqueue(SLIDE_INFERENCE_JOB, { slideId: slide.id, model: ref }, { idempotencyKey: `inference.slide:${slide.blinded_sha256}:${modelKey(ctx, ref)}` });
}

const isoDate = (d: string | null | undefined): string => (d && /^\d{8}$/.test(d) ? `${d.slice(0, 4)}-${d.slice(4, 6)}-${d.slice(6, 8)}` : d ?? '');
const stamp = (): { date: string; time: string } => {
  const s = new Date().toISOString();
  return { date: s.slice(0, 10).replace(/-/g, ''), time: s.slice(11, 19).replace(/:/g, '') };
};

/** A refused input is the end of that job (no retry can help); the object and everything derived so far are kept. */
async function refusing<T>(job: JobContext<unknown>, fn: () => Promise<T>): Promise<T | { refused: { code: string; message: string } }> {
  try {
    return await fn();
  } catch (e) {
    if (!isInputError(e)) throw e;
    job.log.warn({ code: e.code, err: { message: e.message } }, 'AI step refused its input');
    return { refused: { code: e.code, message: e.message } };
  }
}

/**
 * Runs `fn` in a local work folder under DATA_DIR/tmp named by its input only (`name`): emptied first, so the retry of
 * a killed attempt clears what that attempt left, and removed afterwards whatever happens.
 */
async function withWorkFolder<T>(ctx: PipelineContext, name: string, fn: (work: string) => Promise<T>): Promise<T> {
  const work = join(ctx.config.dataDir, 'tmp', name);
  await rm(work, { recursive: true, force: true });
  await mkdir(work, { recursive: true });
  try {
    return await fn(work);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** A stored volume streamed to a local file and opened for reading slice by slice (close it). */
async function openStoredVolume(ctx: PipelineContext, key: string, path: string): Promise<NrrdSlices> {
  await ctx.store.download(key, path);
  return openNrrdSlices(path);
}

/** Per-lesion values kept with a CT run (everything tracking and SEG/SR need later, JSON-safe). */
const lesionSummary = (l: CtLesion) => ({ component: l.component, cls: l.cls, className: l.className, organ: l.organ, site: l.site, nodal: l.nodal, measurement: l.measurement });

/** Step 1 of the AI read: segment and measure one volume (`inference.ct`). */
function ctInferenceJob(ctx: PipelineContext): JobDefinition<{ volumeId: string; model: string }> {
  const ai = new AiRepository(ctx.db);
  return {
    name: CT_INFERENCE_JOB,
    handler: (job) =>
      refusing(job, async () => {
        const vrow = await ai.volumeContext(job.payload.volumeId);
        if (!vrow) throw new Error(`volume ${job.payload.volumeId} not found`);
        const model = await poolOf(ctx).model(job.payload.model); // a missing / refused model fails the job (retried, then failed); the object is untouched
        const runKey = `ct:${vrow.data_sha256}:${model.provenance.sha256}`;
        let run = await ai.runByKey(runKey);
        if (!run) {
          // the stored volume is streamed to a local file and read slice by slice as the model and the measurements ask
          // (never whole in memory: 150 MB for 300 x 512² int16, more for float volumes)
          const { analysis, geometry } = await withWorkFolder(ctx, `ai-ct-${vrow.id}`, async (work) => {
            const file = await openStoredVolume(ctx, vrow.data_key, join(work, 'volume.nrrd'));
            try {
              await job.progress(10);
              const a = await analyseCtVolume({ dims: file.dims, affine: file.affine, spacing: file.spacing, flags: vrow.flags, slice: (k) => file.slice(k) }, model);
              return { analysis: a, geometry: { dims: file.dims, affine: file.affine } };
            } finally {
              file.close();
            }
          });
          await job.progress(80);
          const compKey = `ai/${vrow.reading_id}/${vrow.id}/${model.provenance.sha256.slice(0, 16)}/components.nrrd`;
          // component numbers are stored as int16, narrowed in the labelling's own memory (more than 32767 components
          // is no lesion map: airead.too-many-components); streamed from there (no concatenated copy), hashed on the way
          const [compHead, compBody] = nrrdParts({ dims: geometry.dims, affine: geometry.affine, data: componentsAsInt16(analysis.components) }, { model: `${model.provenance.id}@${model.provenance.version}`, codeVersion: codeVersion() });
          const componentsSha256 = createHash('sha256').update(compHead).update(compBody).digest('hex');
          await ctx.store.put(compKey, Readable.from([compHead, compBody]), { contentType: 'application/octet-stream' });
          ({ run } = await ai.recordRun(
            {
              runKey,
              kind: 'ct',
              subjectUuid: vrow.subject_uuid,
              volumeId: vrow.id,
              timePointId: vrow.time_point_id,
              inputSha256: vrow.data_sha256,
              model: model.provenance,
              outputs: { componentsKey: compKey, componentsSha256 },
              summary: { lesions: analysis.lesions.map(lesionSummary), sliceThicknessMm: analysis.sliceThicknessMm, minVoxels: analysis.minVoxels, windows: analysis.windows, droppedComponents: analysis.dropped ?? [], ...(analysis.resampled ? { resampled: analysis.resampled } : {}) },
              provenance: { volumeSha256: vrow.data_sha256, sourceSha256: vrow.provenance.sourceSha256 ?? [], model: model.provenance, runtime: inferenceRuntime(model), card: { preprocessing: model.card.preprocessing, postprocessing: model.card.postprocessing }, codeVersion: codeVersion(), at: new Date().toISOString() },
            },
            [],
          ));
        }
        await enqueueTrack(ctx, vrow.subject_uuid, model.provenance.sha256);
        return { runId: run.id, lesions: (run.summary.lesions as unknown[]).length };
      }),
  };
}

/** Tracking is keyed by the exact set of CT runs it reads: a new timepoint (or a new model) gives a new track run. */
async function enqueueTrack(ctx: PipelineContext, subjectUuid: string, modelSha256: string): Promise<void> {
  const ai = new AiRepository(ctx.db);
  const vols = await ai.selectedVolumesOfSubject(subjectUuid);
  const runs: AiRunRow[] = [];
  for (const v of vols) {
    // a run belongs to the volume's data, not its row: a rebuild of a series that gives the same voxels (e.g. a series
    // re-checked with an equivalent instance set) is a new row whose inference job is the same job (same key) and is
    // never run again; looking the run up by the row would wait for it forever and tracking would never start
    const r = await ai.runByKey(`ct:${v.data_sha256}:${modelSha256}`);
    if (!r) return; // another timepoint is still being read; its own job triggers tracking when done
    runs.push(r);
  }
  const set = sha256Hex(Buffer.from(runs.map((r) => r.id).sort().join(',')));
  await ctx.queue.enqueue(TRACK_JOB, { subjectUuid, modelSha256, ctRunIds: runs.map((r) => r.id) }, { idempotencyKey: `lesions.track:${subjectUuid}:${modelSha256}:${set}` });
}

/** Step 2: align a subject's timepoints, track lesions, write proposals + SEG + SR per timepoint (`lesions.track`). */
function trackJob(ctx: PipelineContext): JobDefinition<{ subjectUuid: string; modelSha256: string; ctRunIds: string[] }> {
  const ai = new AiRepository(ctx.db);
  const imaging = new ImagingRepository(ctx.db);
  return {
    name: TRACK_JOB,
    handler: (job) =>
      refusing(job, async () => {
        const runKey = `track:${job.payload.subjectUuid}:${job.payload.modelSha256}:${sha256Hex(Buffer.from([...job.payload.ctRunIds].sort().join(',')))}`;
        const existing = await ai.runByKey(runKey);
        if (existing) return { runId: existing.id, note: 'already tracked' };
        const tps: CtTimepoint[] = [];
        const inputs: { runId: string; volumeId: string; volumeSha256: string; componentsKey: string }[] = [];
        let readingId = '';
        let modelProv: { id: string; version: string; sha256: string } | undefined;
        // each timepoint's volume is streamed to a local file and read slice by slice by the alignment (only its
        // working grid's slices); the stored int16 component labelling is kept as it is (SEG frames)
        const runTag = sha256Hex(Buffer.from(runKey)).slice(0, 16);
        const tracked = await withWorkFolder(ctx, `ai-track-${runTag}`, async (work) => {
          const files: NrrdSlices[] = [];
          try {
            for (const id of job.payload.ctRunIds) {
              const r = await ai.runById(id);
              if (!r || !r.volume_id) throw new Error(`CT run ${id} not found`);
              const vrow = (await ai.volumeContext(r.volume_id))!;
              readingId = vrow.reading_id;
              modelProv = r.model;
              const file = await openStoredVolume(ctx, vrow.data_key, join(work, `${files.length}.nrrd`));
              files.push(file);
              const uids = (vrow.provenance.sliceSopInstanceUids as string[] | undefined) ?? [];
              const volume = { dims: file.dims, affine: file.affine, spacing: file.spacing, slice: (k: number) => file.slice(k), flags: vrow.flags, sliceSopInstanceUids: uids, sliceFrameIndices: uids.map(() => 0), slicePositions: [], seriesInstanceUid: vrow.series_uid };
              const comp = decodeNrrd(await ctx.store.getBuffer(String(r.outputs.componentsKey)));
              if (!(comp.data instanceof Int16Array)) throw new Error(`CT run ${id}: the stored components are not int16`);
              const headers = new Map<string, DicomHeader>();
              for (const i of await imaging.instancesOfSeries(vrow.series_id)) headers.set(i.sop_instance_uid, i.header as unknown as DicomHeader);
              const s = r.summary as { lesions: ReturnType<typeof lesionSummary>[]; sliceThicknessMm: number; minVoxels: number; windows: number };
              const analysis: CtTimepoint['analysis'] = { components: comp.data, lesions: s.lesions, provenance: r.model, sliceThicknessMm: s.sliceThicknessMm, minVoxels: s.minVoxels, windows: s.windows };
              tps.push({ timePointId: vrow.time_point_id, date: isoDate(vrow.study_date), volume, sliceHeaders: uids.map((u) => headers.get(u)), analysis });
              inputs.push({ runId: r.id, volumeId: vrow.id, volumeSha256: vrow.data_sha256, componentsKey: String(r.outputs.componentsKey) });
            }
            if (!modelProv || !tps.length) return null;
            await job.progress(20);
            return trackCtSubject(readingId, tps);
          } finally {
            for (const f of files) f.close();
          }
        });
        if (!tracked || !modelProv) return { tracked: 0 };
        await job.progress(60);
        const card = (await poolOf(ctx).model(`${modelProv.id}@${modelProv.version}`)).card;
        const classes = classesFromCard(card);
        const { date, time } = stamp();
        const folder = `ai/${readingId}/track-${runTag}`;
        const outputs: Record<string, unknown> = {};
        const proposals: NewAiProposal[] = [];
        for (const tp of tracked.timepoints) {
          const src = tps.find((t) => t.timePointId === tp.timePointId)!;
          const inp = inputs[tps.indexOf(src)]!;
          const files = writeTimepointSegSr(tp, src.volume, src.sliceHeaders, src.analysis.components, { readingId, model: modelProv, classes, runKey, contentDate: date, contentTime: time });
          let segKey: string | null = null;
          if (files) {
            segKey = `${folder}/${tp.timePointId}/seg.dcm`;
            const srKey = `${folder}/${tp.timePointId}/sr.dcm`;
            await ctx.store.put(segKey, files.seg, { contentType: 'application/dicom' });
            await ctx.store.put(srKey, files.sr, { contentType: 'application/dicom' });
            outputs[tp.timePointId] = { segKey, srKey, segSha256: sha256Hex(files.seg), srSha256: sha256Hex(files.sr), segSopInstanceUid: files.segUid, srSopInstanceUid: files.srUid };
          } else outputs[tp.timePointId] = { segKey: null, srKey: null, note: 'no lesion present: no SEG/SR' };
          for (const l of tp.lesions) {
            proposals.push({
              kind: 'lesion',
              subjectUuid: job.payload.subjectUuid,
              timePointId: tp.timePointId,
              studyDate: tp.date,
              volumeId: inp.volumeId,
              trackingUid: l.trackingUid,
              trackingId: l.trackingId,
              values: proposalValues(l, tp.alignment),
              maskRef: l.present ? { segKey, segSopInstanceUid: files?.segUid ?? null, segmentNumber: l.segmentNumber, componentsKey: inp.componentsKey, component: l.lesion?.component ?? null } : null,
              provenance: { ctRunId: inp.runId, volumeSha256: inp.volumeSha256, model: modelProv, codeVersion: codeVersion() },
            });
          }
        }
        const { run } = await ai.recordRun(
          {
            runKey,
            kind: 'track',
            subjectUuid: job.payload.subjectUuid,
            inputSha256: sha256Hex(Buffer.from(inputs.map((i) => i.volumeSha256).join(','))),
            model: modelProv,
            outputs,
            summary: { timepoints: tracked.timepoints.map((t) => ({ timePointId: t.timePointId, date: t.date, present: t.lesions.filter((l) => l.present).length, alignment: t.alignment })), gateMm: tracked.gateMm },
            provenance: { ctRuns: inputs, model: modelProv, codeVersion: codeVersion(), at: new Date().toISOString() },
          },
          proposals,
        );
        return { runId: run.id, timepoints: tracked.timepoints.length, proposals: proposals.length };
      }),
  };
}

/** What a lesion proposal stores: the RECIST values, its tracking, and the geometry a viewer draws. */
function proposalValues(l: TrackedLesion, alignment: unknown): Record<string, unknown> {
  const m = l.lesion?.measurement;
  return {
    trackingUid: l.trackingUid,
    trackingId: l.trackingId,
    status: l.status,
    present: l.present,
    organ: l.organ,
    nodal: l.nodal,
    className: l.className,
    cls: l.cls,
    longAxisMm: l.longAxisMm,
    shortAxisMm: l.shortAxisMm,
    volumeMm3: l.volumeMm3,
    measurable: l.measurable,
    measurability: m?.measurability ?? null,
    matchConfidence: l.matchConfidence ?? null,
    distanceMm: l.distanceMm,
    feretMm: m ? Math.round(m.feretMm * 1000) / 1000 : null,
    huMean: m?.huMean ?? null,
    huSd: m?.huSd ?? null,
    centroidMm: l.centroidMm,
    centroidBaselineMm: l.centroidBaselineMm,
    longAxis: m ? { k: m.longAxis.k, p1Mm: m.longAxis.p1Mm, p2Mm: m.longAxis.p2Mm, p1Ijk: m.longAxis.p1Ijk, p2Ijk: m.longAxis.p2Ijk } : null,
    shortAxis: m ? { k: m.shortAxis.k, p1Mm: m.shortAxis.p1Mm, p2Mm: m.shortAxis.p2Mm, p1Ijk: m.shortAxis.p1Ijk, p2Ijk: m.shortAxis.p2Ijk } : null,
    relatedTrackingId: l.relatedTrackingId ?? null,
    alignmentToBaseline: alignment ?? null,
  };
}

/** Step 3 (slides): tile classes, metrics and heatmap of one blinded slide (`inference.slide`). */
function slideInferenceJob(ctx: PipelineContext): JobDefinition<{ slideId: string; model: string }> {
  const slides = new SlidesRepository(ctx.db);
  const ai = new AiRepository(ctx.db);
  return {
    name: SLIDE_INFERENCE_JOB,
    handler: (job) =>
      refusing(job, async () => {
        const s = await slides.withReadingId(job.payload.slideId);
        if (!s) throw new Error(`slide ${job.payload.slideId} not found`);
        const model = await poolOf(ctx).model(job.payload.model);
        const runKey = `slide:${s.blinded_sha256}:${model.provenance.sha256}`;
        const done = await ai.runByKey(runKey);
        if (done) return { runId: done.id, note: 'already classified' };
        return withWorkFolder(ctx, `ai-slide-${s.id}`, async (work) => {
          const slide = await openSlide(await fetchBlinded(ctx, s.blinded_key, work));
          try {
            const spec = slideSpec(model);
            const map = await classifySlide(slide, null, tilePredictor(model, spec.tileSize), spec);
            await job.progress(80);
            const metrics = slideMetrics(map);
            const heat = await heatmapPng(map);
            const base = `slides/${s.reading_id ?? 'unlinked'}/${s.id}/ai/${model.provenance.sha256.slice(0, 16)}`;
            await ctx.store.put(`${base}/heatmap.png`, heat.png, { contentType: 'image/png' });
            const classMap = Buffer.from(map.classIndex.buffer, map.classIndex.byteOffset, map.classIndex.byteLength);
            await ctx.store.put(`${base}/classmap.u8`, classMap, { contentType: 'application/octet-stream' });
            const heatmap = { key: `${base}/heatmap.png`, sha256: sha256Hex(heat.png), width: heat.width, height: heat.height, downsample: heat.downsample, slideWidth: map.slideWidth, slideHeight: map.slideHeight };
            const values = { ...metrics, classes: map.classes, tilesClassified: map.tilesClassified, targetMpp: map.targetMpp, tileSize: map.tileSize, heatmap };
            const { run } = await ai.recordRun(
              {
                runKey,
                kind: 'slide',
                subjectUuid: s.subject_uuid,
                slideId: s.id,
                inputSha256: s.blinded_sha256,
                model: model.provenance,
                outputs: { heatmap, classMap: { key: `${base}/classmap.u8`, sha256: sha256Hex(classMap), width: map.width, height: map.height, downsample: map.downsample } },
                summary: values,
                provenance: { slideSha256: s.blinded_sha256, model: model.provenance, runtime: inferenceRuntime(model), spec, codeVersion: codeVersion(), at: new Date().toISOString() },
              },
              [{ kind: 'slide', subjectUuid: s.subject_uuid, slideId: s.id, values, maskRef: { heatmapKey: heatmap.key }, provenance: { slideSha256: s.blinded_sha256, model: model.provenance, codeVersion: codeVersion() } }],
            );
            return { runId: run.id, tumourFraction: metrics.tumourFraction, stromalTilPercent: metrics.stromalTilPercent };
          } finally {
            await slide.close();
          }
        });
      }),
  };
}

/** The tile classifier's geometry from its card. */
export function slideSpec(model: Pick<ModelHandle, 'card' | 'batchSize'>) {
  const pre = model.card.preprocessing ?? {};
  const input = Object.values(model.card.network_data_format.inputs)[0]!;
  const out = Object.values(model.card.network_data_format.outputs)[0]!;
  const tileSize = Number(pre.tile_size ?? input.spatial_shape[0]);
  const targetMpp = Number(pre.target_mpp);
  if (!Number.isFinite(targetMpp) || !Number.isFinite(tileSize)) throw new InputError('inference.bad-card', `model ${model.card.id}: card preprocessing needs target_mpp and tile_size for slide inference`);
  const classes = Object.keys(out.channel_def ?? {}).sort((a, b) => Number(a) - Number(b)).map((k) => out.channel_def![k]!);
  return { targetMpp, tileSize, stride: pre.stride === undefined ? undefined : Number(pre.stride), classes, batchSize: Math.max(64, model.batchSize), inputDtype: input.dtype };
}

/**
 * Feeds tile batches to the pooled model. classifySlide's batches are shared memory already, left untouched until
 * their prediction settles: they go to the worker as they are. Any other caller's batch (which it may reuse) is copied
 * into one of a few reused shared-memory buffers (one per batch in flight) that the worker reads in place: no batch
 * allocates a fresh multi-MB buffer (a 65,536-tile slide made ~800 MB of such garbage before).
 */
export function tilePredictor(model: ModelHandle, tileSize: number): TilePredictor {
  const inName = Object.keys(model.card.network_data_format.inputs)[0]!;
  const outName = Object.keys(model.card.network_data_format.outputs)[0]!;
  const free: TileBatch[] = [];
  const run = async (input: TileBatch, n: number) => (await model.run({ [inName]: { data: input, dims: [n, 3, tileSize, tileSize] } })).outputs[outName]!.data;
  const predict = async (batch: TileBatch, n: number): Promise<Float32Array> => {
    const len = n * 3 * tileSize * tileSize;
    // classifySlide's batches are shared memory (sharedInput), untouched until the promise settles: no copy
    if (isShared(batch.buffer)) return run(batch.subarray(0, len), n);
    const type = ortType(batch);
    let shared = free.pop();
    if (!shared || shared.length < len || ortType(shared) !== type) {
      const size = Math.max(len, batch.length);
      shared = type === 'uint8' ? new Uint8Array(new SharedArrayBuffer(size)) : new Float32Array(new SharedArrayBuffer(4 * size));
    }
    try {
      const input = shared.subarray(0, len);
      (input as Uint8Array).set(batch.subarray(0, len) as Uint8Array);
      return await run(input, n);
    } finally {
      free.push(shared);
    }
  };
  return Object.assign(predict, { sharedInput: true });
}

/** The study id under which the AI-only read is stored: never the study's own id, so it never replaces the BICR input. */
export const aiReadStudyId = (studyId: string): string => `${studyId}.AI-READ`;

/**
 * Stores the AI-only read of every subject with a tracking run (newest run each) as a study input of
 * `<studyId>.AI-READ` (source 'ai-read'), so it can be cut like any read: every row names the model and no reader.
 * USUBJID is the subject's reading id; the randomisation date is the baseline scan date (the AI read knows no other).
 */
export async function addAiReadStudyInput(ctx: PipelineContext, studyId: string, createdBy: string) {
  const ai = new AiRepository(ctx.db);
  const subjects = await ctx.db.selectFrom('subjects').select(['id', 'reading_id']).orderBy('reading_id').execute();
  const input: AiSubject[] = [];
  let model: { id: string; version: string; sha256: string } | undefined;
  for (const s of subjects) {
    const t = await ai.latestTrack(s.id);
    if (!t) continue;
    model ??= t.run.model;
    if (t.run.model.sha256 !== model.sha256) throw new InputError('airead.mixed-models', `subject ${s.reading_id} was read by ${t.run.model.id}@${t.run.model.version}, others by ${model.id}@${model.version}: re-run the AI read with one model first`);
    const byTp = new Map<string, { date: string; lesions: LesionProposalValues[] }>();
    for (const p of t.proposals) {
      const e = byTp.get(p.time_point_id!) ?? { date: p.study_date!, lesions: [] };
      e.lesions.push(p.values as unknown as LesionProposalValues);
      byTp.set(p.time_point_id!, e);
    }
    input.push({ usubjid: s.reading_id, timepoints: [...byTp].map(([timePointId, e]) => ({ timePointId, date: e.date, lesions: e.lesions, readId: `ai:${t.run.id}:${timePointId}` })) });
  }
  if (!model) throw new InputError('airead.none', 'no subject has an AI read yet');
  const id = aiReadStudyId(studyId);
  const study = aiOnlyRead(input, { studyId: id, model });
  return { studyId: id, subjects: study.subjects.length, model, input: await addStudyInput(ctx, id, 'ai-read', study, createdBy) };
}

export const aiModule: PipelineModule = {
  name: 'ai',
  jobs: (ctx) => [ctInferenceJob(ctx), trackJob(ctx), slideInferenceJob(ctx)],
  close: (ctx) => closeAiPool(ctx),
};
