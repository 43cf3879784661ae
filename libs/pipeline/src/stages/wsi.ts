import { createReadStream } from 'node:fs';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { codeVersion, DEV_DEID_SECRET, InputError, isInputError, sha256Hex } from '@app/core';
import { ImagingRepository, type ObjectRow, SlidesRepository } from '@app/db';
import { deriveDateShiftDays } from '@app/deid';
import type { KindProcessor, PipelineContext } from '@app/ingest';
import { buildDzi, detectTissue, extractPatches, maskToPng, planPatches, renderThumbnail } from '@app/pathology';
import type { JobContext, JobDefinition } from '@app/queue';
import { blindSlide, openSlide, type SlideReader } from '@app/wsi';
import type { PipelineModule } from '../modules';
import { enqueueSlideInference } from './ai';
import { loadProtocolConfig } from '../protocol';

export const PATCHES_JOB = 'wsi.patches';
/** Patch grid the pathology models take: 224 px at 0.5 µm/px (about 20x). */
export const PATCH_SPEC = { mpp: 0.5, size: 224, batch: 32, minTissueFraction: 0.5 };

/**
 * Slides link to subjects through their upload path: a folder named `subject-<SubjectID>`
 * (e.g. `incoming/slides/subject-SUBJ-001/block-A.svs`). The filename itself is never kept.
 */
export function subjectFromKey(key: string): string | undefined {
  return key.split('/').find((p) => p.startsWith('subject-'))?.slice('subject-'.length) || undefined;
}

async function uploadDir(ctx: PipelineContext, dir: string, prefix: string): Promise<number> {
  const files: string[] = [];
  const walk = async (d: string) => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      if (e.isDirectory()) await walk(join(d, e.name));
      else files.push(join(d, e.name));
    }
  };
  await walk(dir);
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < files.length) {
        const f = files[next++]!;
        await ctx.store.put(`${prefix}/${relative(dir, f).split(sep).join('/')}`, await readFile(f));
      }
    }),
  );
  return files.length;
}

/**
 * Whole-slide step (TIFF family: SVS, pyramidal TIFF/BigTIFF, OME-TIFF): open and validate, write a
 * blinded copy (label and macro removed, identifying text cleaned), and from the blinded copy only:
 * tissue mask (Otsu), thumbnail, Deep Zoom pyramid; then schedule patch extraction.
 */
export function wsiProcessor(ctx: PipelineContext): KindProcessor {
  const slides = new SlidesRepository(ctx.db);
  const imaging = new ImagingRepository(ctx.db);
  const protocol = loadProtocolConfig(ctx.config);
  return {
    name: 'wsi',
    kinds: ['tiff', 'bigtiff'],
    async process(obj: ObjectRow, _c, job) {
      const done = await slides.byObject(obj.id);
      if (done) {
        // a re-run after a death between storing the slide and enqueueing its patches: enqueue them now (same key: a no-op
        // when they were enqueued)
        if (done.mpp_x) await enqueuePatches(ctx, done.id);
        return { detail: { slide: { id: done.id, note: 'already processed' } } };
      }
      const work = join(ctx.config.dataDir, 'tmp', `slide-${obj.id}`);
      await rm(work, { recursive: true, force: true });
      const original = join(work, 'original.tif');
      const blindedPath = join(work, 'blinded.tif');
      // Tiles are decoded in the decoder sandbox (@app/wsi): a decoder crash, out-of-memory or time-out is an InputError.
      // Every InputError names the object and the step it stopped (the quarantine reason), not the local work copy.
      let step = 'opening the slide';
      try {
        await ctx.store.download(obj.key, original);
        const probe = await openSlide(original); // validation: InputError quarantines
        await probe.close();
        step = 'blinding the slide';
        const blinding = await blindSlide(original, blindedPath);
        await rm(original, { force: true });
        await job.progress(20);
        step = 'reading the blinded slide (thumbnail, tissue mask, tiles)';
        const slide = await openSlide(blindedPath);
        try {
          const subjectId = subjectFromKey(obj.key);
          const secret = ctx.config.DEID_SECRET ?? DEV_DEID_SECRET;
          const subject = subjectId ? await imaging.ensureSubject(protocol.protocolId, subjectId, deriveDateShiftDays(secret, `${protocol.protocolId}/${subjectId}`)) : undefined;
          const folder = `slides/${subject?.reading_id ?? 'unlinked'}/${obj.id}`;
          return await deriveSlide(ctx, job, {
            objectId: obj.id,
            sourceSha256: [obj.sha256 ?? ''],
            slide,
            libvipsPath: blindedPath,
            work,
            subject,
            folder,
            blinding,
            blindedKey: `${folder}/blinded.tif`,
            storeBlinded: () => ctx.store.put(`${folder}/blinded.tif`, createReadStream(blindedPath), { contentType: 'image/tiff' }).then(() => undefined), // streamed: slides can be many GB
          });
        } finally {
          await slide.close();
        }
      } catch (e) {
        if (!isInputError(e)) throw e;
        const message = e.message.split(original).join(obj.key).split(blindedPath).join(`${obj.key} (blinded copy)`);
        throw new InputError(e.code, `${obj.key}: ${step}: ${message}`, { ...e.detail, file: obj.key, step, ...(e.detail?.step ? { decoderStep: e.detail.step } : {}) });
      } finally {
        await rm(work, { recursive: true, force: true });
      }
    },
  };
}


export interface DeriveSlideInput {
  objectId: string;
  sourceSha256: string[];
  /** Opened on the BLINDED copy. */
  slide: SlideReader;
  /** A file libvips can read for the fast DZI path, or null (DICOM WSI: built from the reader). */
  libvipsPath: string | null;
  work: string;
  subject?: { id: string; reading_id: string };
  folder: string;
  blinding: { outputSha256?: string; removedAssociatedImages?: string[]; method?: string } & object;
  /** The blinded copy: a file key, or a prefix ending in '/' holding de-identified DICOM instances. */
  blindedKey: string;
  storeBlinded: () => Promise<void>;
}

/** Everything derived from a blinded slide: thumbnail, tissue mask, DZI, the slides row, the patch job. */
export async function deriveSlide(ctx: PipelineContext, job: JobContext<unknown>, i: DeriveSlideInput) {
  const slides = new SlidesRepository(ctx.db);
  const { slide, folder } = i;
  if (slide.associatedImageNames.some((n) => n === 'label' || n === 'macro')) throw new Error('blinding left a label or macro image');
  const thumb = await renderThumbnail(slide, 1024, 'jpeg'); // reads tiles: a corrupt tile surfaces here as InputError
  const mask = await detectTissue(slide, { method: 'otsu' });
  await job.progress(40);
  const dzi = await buildDzi(slide, i.libvipsPath, join(i.work, 'dzi'), 'slide');
  if (dzi.libvipsError) job.log.warn({ libvipsError: dzi.libvipsError }, 'libvips could not build the Deep Zoom pyramid; built from the slide reader instead');
  await job.progress(80);
  await i.storeBlinded();
  await ctx.store.put(`${folder}/thumbnail.jpg`, thumb, { contentType: 'image/jpeg' });
  await ctx.store.put(`${folder}/tissue.png`, await maskToPng(mask), { contentType: 'image/png' });
  const tiles = await uploadDir(ctx, join(i.work, 'dzi'), `${folder}/dzi`);
  const l0 = slide.levels[0]!;
  const row = await slides.insert({
    object_id: i.objectId,
    subject_uuid: i.subject?.id ?? null,
    format: slide.format,
    width: l0.width,
    height: l0.height,
    mpp_x: slide.mpp?.x ?? null,
    mpp_y: slide.mpp?.y ?? null,
    objective_power: slide.objectivePower,
    levels: JSON.stringify(slide.levels),
    properties: JSON.stringify(slide.properties),
    blinding: JSON.stringify(i.blinding),
    blinded_key: i.blindedKey,
    blinded_sha256: i.blinding.outputSha256 ?? sha256Hex(i.sourceSha256.join('\n')),
    dzi_key: `${folder}/dzi/slide.dzi`,
    thumbnail_key: `${folder}/thumbnail.jpg`,
    tissue_key: `${folder}/tissue.png`,
    tissue: JSON.stringify({ method: mask.method, fraction: mask.tissueFraction, threshold: mask.threshold, downsample: mask.downsample, inkFraction: mask.inkFraction ?? null, width: mask.width, height: mask.height }),
    provenance: JSON.stringify({ sourceSha256: i.sourceSha256, blindedSha256: i.blinding.outputSha256 ?? null, codeVersion: codeVersion(), at: new Date().toISOString(), dzi: { method: dzi.method, tiles } }),
  });
  if (slide.mpp) await enqueuePatches(ctx, row.id);
  return { detail: { slide: { id: row.id, readingId: i.subject?.reading_id ?? null, format: slide.format, width: l0.width, height: l0.height, removed: i.blinding.removedAssociatedImages ?? [], tissueFraction: mask.tissueFraction, dziTiles: tiles } } };
}

/** Fetch a slide's blinded copy to local disk: one file, or every instance under a DICOM prefix. */
export async function fetchBlinded(ctx: PipelineContext, blindedKey: string, dir: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  if (!blindedKey.endsWith('/')) {
    const p = join(dir, 'slide.tif');
    await ctx.store.download(blindedKey, p);
    return p;
  }
  let n = 0;
  for await (const o of ctx.store.list(blindedKey)) await ctx.store.download(o.key, join(dir, `${String(n++).padStart(5, '0')}.dcm`));
  return dir;
}

/**
 * Patch extraction at the model grid (0.5 µm/px, 224 px) on tissue only, streamed in batches. The
 * batches go to inference when the pathology models land; today the step records the plan and
 * proves every batch can be read (counts, level used, whether resampling was needed).
 */
function patchesJob(ctx: PipelineContext): JobDefinition<{ slideId: string }> {
  const slides = new SlidesRepository(ctx.db);
  return {
    name: PATCHES_JOB,
    async handler(job) {
      const s = await slides.byId(job.payload.slideId);
      if (!s) throw new Error(`slide ${job.payload.slideId} not found`);
      const dir = join(ctx.config.dataDir, 'tmp', `patches-${s.id}`);
      const slide = await openSlide(await fetchBlinded(ctx, s.blinded_key, dir));
      try {
        const mask = await detectTissue(slide, { method: 'otsu' });
        const plan = planPatches(slide, mask, PATCH_SPEC);
        let n = 0;
        let batches = 0;
        for await (const b of extractPatches(slide, mask, PATCH_SPEC)) {
          n += b.coords.length;
          batches++;
          if (plan.coords.length) await job.progress(Math.round((100 * n) / plan.coords.length));
        }
        if (n !== plan.coords.length) throw new Error(`extracted ${n} patches, planned ${plan.coords.length}`);
        const summary = { ...PATCH_SPEC, count: n, batches, level: plan.level, resampled: plan.resampled, level0Size: plan.level0Size };
        await slides.setPatches(s.id, summary);
        await enqueueSlideInference(ctx, s); // tile classes, metrics and heatmap
        return summary;
      } catch (e) {
        if (e instanceof InputError) throw new Error(`${e.code}: ${e.message}`);
        throw e;
      } finally {
        await slide.close();
        await rm(dir, { recursive: true, force: true });
      }
    },
  };
}

export const wsiModule: PipelineModule = {
  name: 'wsi',
  processors: (ctx) => [wsiProcessor(ctx)],
  jobs: (ctx) => [patchesJob(ctx)],
};

/** Patch planning of a stored slide, keyed by slide and patch spec (a repeat is a no-op). */
function enqueuePatches(ctx: PipelineContext, slideId: string) {
  return ctx.queue.enqueue(PATCHES_JOB, { slideId }, { idempotencyKey: `patches:${slideId}:${PATCH_SPEC.mpp}:${PATCH_SPEC.size}` });
}
