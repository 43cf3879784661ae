/**
 * Slide fixtures for the review tests: a blinded slide of a subject (objects + slides rows, its DZI descriptor, one
 * tile, thumbnail and tissue mask in the object store) and an AI slide run with the metrics the `inference.slide` job
 * writes (libs/pipeline/src/stages/ai.ts: run summary = proposal values = slideMetrics + classes + heatmap), plus the
 * heatmap PNG. Inserted through the repositories; no pipeline involved.
 */
import { randomBytes } from 'node:crypto';
import sharp from 'sharp';
import { AiRepository, ObjectsRepository, SlidesRepository } from '@app/db';
import type { Runtime } from '@app/pipeline';
import { MODEL } from './fixtures';

export const SLIDE_MODEL = { id: 'wsi-tissue-cls', version: '0.1.0', sha256: 'a'.repeat(64) };

export interface SlideMetricsFixture {
  tumourFraction: number;
  stromalTilPercent: number;
  tumourBedCellularity: number;
}

const png = (w: number, h: number, rgba: [number, number, number, number]) => sharp({ create: { width: w, height: h, channels: 4, background: { r: rgba[0], g: rgba[1], b: rgba[2], alpha: rgba[3] / 255 } } }).png().toBuffer();

/** A 512 x 384 slide of `subjectUuid` (null: unlinked) with its store files; `metrics` adds an AI slide run. */
export async function seedSlide(rt: Runtime, o: { subjectUuid: string | null; metrics?: SlideMetricsFixture; withAi?: boolean }) {
  const tag = randomBytes(6).toString('hex');
  const { row: obj } = await new ObjectsRepository(rt.db).upsertReceived({ bucket: 'test', key: `incoming/slides/${tag}.svs`, version_id: null, etag: tag, idempotency_key: `test/${tag}`, size: 1, sha256: null, kind: 'tiff', reason: null, reason_code: null, processed_at: null });
  const base = `slides/${tag}`;
  const dzi = `<?xml version="1.0" encoding="UTF-8"?><Image xmlns="http://schemas.microsoft.com/deepzoom/2008" Format="jpeg" Overlap="0" TileSize="256"><Size Width="512" Height="384"/></Image>`;
  await rt.store.put(`${base}/blinded.dzi`, Buffer.from(dzi));
  const tile = await sharp({ create: { width: 256, height: 256, channels: 3, background: { r: 230, g: 200, b: 220 } } }).jpeg().toBuffer();
  await rt.store.put(`${base}/blinded_files/9/0_0.jpeg`, tile);
  await rt.store.put(`${base}/thumb.jpg`, tile);
  await rt.store.put(`${base}/tissue.png`, await png(64, 48, [255, 255, 255, 255]));
  const slide = await new SlidesRepository(rt.db).insert({
    object_id: obj.id,
    subject_uuid: o.subjectUuid,
    format: 'aperio-svs',
    width: 512,
    height: 384,
    mpp_x: 0.5,
    mpp_y: 0.5,
    objective_power: 20,
    levels: JSON.stringify([{ width: 512, height: 384, downsample: 1 }]),
    properties: JSON.stringify({}),
    blinding: JSON.stringify({ removedAssociatedImages: ['label', 'macro'] }),
    blinded_key: `${base}/blinded.tiff`,
    blinded_sha256: randomBytes(32).toString('hex'),
    dzi_key: `${base}/blinded.dzi`,
    thumbnail_key: `${base}/thumb.jpg`,
    tissue_key: `${base}/tissue.png`,
    tissue: JSON.stringify({ fraction: 0.6 }),
    patches: null,
    provenance: JSON.stringify({ fixture: true }),
  });
  let runId: string | null = null;
  let proposalId: string | null = null;
  if (o.metrics && o.withAi !== false) {
    const heatKey = `${base}/ai/heatmap.png`;
    await rt.store.put(heatKey, await png(32, 24, [255, 0, 0, 128]));
    const values = {
      ...o.metrics,
      classFractions: { background: 0.4, tumour: 0.3, stroma: 0.2, lymphocytes: 0.1 },
      classAreaMm2: { tumour: 0.01, stroma: 0.006, lymphocytes: 0.003 },
      tissueAreaMm2: 0.019,
      areaMethod: 'argmax',
      classes: ['background', 'tumour', 'stroma', 'lymphocytes'],
      heatmap: { key: heatKey, width: 32, height: 24, downsample: 16, slideWidth: 512, slideHeight: 384 },
    };
    const { run } = await new AiRepository(rt.db).recordRun(
      { runKey: `slide:${tag}`, kind: 'slide', subjectUuid: o.subjectUuid, slideId: slide.id, inputSha256: slide.blinded_sha256, model: SLIDE_MODEL, outputs: { heatmap: { key: heatKey } }, summary: values, provenance: { fixture: true } },
      [{ kind: 'slide', subjectUuid: o.subjectUuid, slideId: slide.id, values, maskRef: { heatmapKey: heatKey }, provenance: { fixture: true } }],
    );
    runId = run.id;
    proposalId = (await rt.db.selectFrom('ai_proposals').select('id').where('run_id', '=', run.id).executeTakeFirstOrThrow()).id;
  }
  return { slide, runId, proposalId, objectKey: obj.key };
}

export { MODEL };
