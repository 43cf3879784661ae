import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { codeVersion, sha256Hex, type AppConfig } from '@app/core';
import { analyseCtVolume, classesFromCard, loadSubjectFolder, trackCtSubject, writeTimepointSegSr, type CtTimepoint, type SubjectTrackingResult } from '@app/airead';
import { createInferencePool, inferenceRuntime, type InferencePool } from '@app/inference';
import { classifySlide, heatmapPng, slideMetrics } from '@app/pathology';
import { loadProtocolConfig, slideSpec, tilePredictor } from '@app/pipeline';
import { openSlide } from '@app/wsi';

export function cliPool(config: AppConfig): InferencePool {
  return createInferencePool({ threads: config.INFERENCE_THREADS, intraOpNumThreads: config.INFERENCE_INTRAOP_THREADS, batchSize: config.INFERENCE_BATCH, executionProvider: config.INFERENCE_EP, modelsDir: config.MODELS_DIR });
}

const stamp = () => {
  const s = new Date().toISOString();
  return { date: s.slice(0, 10).replace(/-/g, ''), time: s.slice(11, 19).replace(/:/g, '') };
};

/**
 * `infer-ct <folder> --out <dir>`: one subject's CT studies (any number of timepoints) -> per timepoint a SEG, a
 * TID 1500 SR and the proposals, plus `proposals.json` for all timepoints. No database, queue or store.
 */
export async function inferCt(folder: string, outDir: string, config: AppConfig, opts: { model?: string; pool?: InferencePool; progress?: (m: string) => void } = {}): Promise<{ tracking: SubjectTrackingResult; files: string[]; timepoints: CtTimepoint[] }> {
  const pool = opts.pool ?? cliPool(config);
  const say = opts.progress ?? (() => {});
  try {
    const model = await pool.model(opts.model ?? config.AI_CT_MODEL);
    const tpsIn = await loadSubjectFolder(folder, loadProtocolConfig(config).seriesSelection, sha256Hex);
    const subjectKey = tpsIn[0]!.sliceHeaders[0]?.patient.patientId ?? 'subject';
    const tps: CtTimepoint[] = [];
    for (const t of tpsIn) {
      say(`infer-ct: ${t.timePointId} ${t.date} volume ${t.volume.dims.join('x')}: segmenting`);
      tps.push({ timePointId: t.timePointId, date: t.date, volume: t.volume, sliceHeaders: t.sliceHeaders, analysis: await analyseCtVolume(t.volume, model) });
    }
    say(`infer-ct: aligning and tracking ${tps.length} timepoint(s)`);
    const tracking = trackCtSubject(subjectKey, tps);
    const classes = classesFromCard(model.card);
    const { date, time } = stamp();
    const runKey = `cli:${sha256Hex(Buffer.from(tpsIn.flatMap((t) => t.sourceSha256).join(',')))}:${model.provenance.sha256}`;
    const files: string[] = [];
    await mkdir(outDir, { recursive: true });
    for (const tp of tracking.timepoints) {
      const src = tps.find((t) => t.timePointId === tp.timePointId)!;
      const r = writeTimepointSegSr(tp, src.volume, src.sliceHeaders, src.analysis.components, { readingId: subjectKey, model: model.provenance, classes, runKey, contentDate: date, contentTime: time });
      const dir = join(outDir, tp.timePointId);
      await mkdir(dir, { recursive: true });
      if (r) {
        await writeFile(join(dir, 'seg.dcm'), r.seg);
        await writeFile(join(dir, 'sr.dcm'), r.sr);
        files.push(join(dir, 'seg.dcm'), join(dir, 'sr.dcm'));
      }
    }
    const doc = {
      subject: subjectKey,
      model: model.provenance,
      runtime: inferenceRuntime(model),
      codeVersion: codeVersion(),
      source: tpsIn.map((t) => ({ timePointId: t.timePointId, date: t.date, seriesInstanceUid: t.seriesInstanceUid, sourceSha256: t.sourceSha256 })),
      note: 'AI proposals: not a signed read',
      timepoints: tracking.timepoints.map((tp) => ({
        timePointId: tp.timePointId,
        date: tp.date,
        alignment: tp.alignment,
        lesions: tp.lesions.map(({ lesion, ...l }) => ({ ...l, feretMm: lesion ? Math.round(lesion.measurement.feretMm * 1000) / 1000 : null, longAxis: lesion?.measurement.longAxis ?? null, shortAxis: lesion?.measurement.shortAxis ?? null, measurability: lesion?.measurement.measurability ?? null })),
        // what the card's component rules removed, and why (as the pipeline's run summary keeps it)
        droppedComponents: tps.find((t) => t.timePointId === tp.timePointId)!.analysis.dropped ?? [],
      })),
    };
    await writeFile(join(outDir, 'proposals.json'), JSON.stringify(doc, null, 2));
    files.push(join(outDir, 'proposals.json'));
    return { tracking, files, timepoints: tps };
  } finally {
    if (!opts.pool) await pool.close();
  }
}

/** `infer-slide <slide> --out <dir>`: tile classes -> metrics.json and heatmap.png (aligned with the slide's level 0). */
export async function inferSlide(path: string, outDir: string, config: AppConfig, opts: { model?: string; pool?: InferencePool } = {}) {
  const pool = opts.pool ?? cliPool(config);
  try {
    const model = await pool.model(opts.model ?? config.AI_SLIDE_MODEL);
    const slide = await openSlide(path);
    try {
      const spec = slideSpec(model);
      const map = await classifySlide(slide, null, tilePredictor(model, spec.tileSize), spec);
      const metrics = slideMetrics(map);
      const heat = await heatmapPng(map);
      await mkdir(outDir, { recursive: true });
      await writeFile(join(outDir, 'heatmap.png'), heat.png);
      const doc = { model: model.provenance, runtime: inferenceRuntime(model), codeVersion: codeVersion(), note: 'AI proposals: not a signed read', metrics, heatmap: { file: 'heatmap.png', width: heat.width, height: heat.height, downsample: heat.downsample }, tilesClassified: map.tilesClassified };
      await writeFile(join(outDir, 'metrics.json'), JSON.stringify(doc, null, 2));
      return doc;
    } finally {
      await slide.close();
    }
  } finally {
    if (!opts.pool) await pool.close();
  }
}
