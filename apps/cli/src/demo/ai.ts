import { mkdir, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AiRepository, PseudonymRepository } from '@app/db';
import { parseDicom } from '@app/dicom';
import { evaluateResponseModel, ortPredictor, responseModelInfo, simulateTrial } from '@app/endpoints';
import { resolveModel } from '@app/inference';
import { addAiReadStudyInput, runDataCutJob } from '@app/pipeline';
import type { DemoStage } from '../demo';
import { demoPhantom } from './dicom';
import { demoSlideTruth } from './slides';

const say = (s: string) => process.stdout.write(`${s}\n`);
const f1 = (x: number | null | undefined) => (x == null ? '   -  ' : x.toFixed(1).padStart(6));

/**
 * AI stage: what the models made of the sample study. The CT phantom's lesions (proposals: AI vs the phantom's
 * analytic truth), the synthetic slide's metrics vs its truth, the response model's calibration on a held-out
 * simulated trial, and the SEG / SR / heatmaps copied to out/ai/. The AI-only read is cut as DEMO-001.AI-READ.
 */
export const aiStage: DemoStage = {
  name: 'ai',
  async after(rt, outDir) {
    const ai = new AiRepository(rt.db);
    const out: Record<string, unknown> = {};
    await mkdir(join(outDir, 'ai'), { recursive: true });
    // ---- CT: per lesion, AI vs truth
    const pseud = await new PseudonymRepository(rt.db).read('admin'); // the demo is the trial's admin: it may map subjects back to the phantom
    const rows: Record<string, unknown>[] = [];
    const subjects = [...new Set((demoPhantom?.files ?? []).map((f) => f.subjectId))];
    say('demo: AI read (CT lesion proposals vs the phantom\'s analytic truth; lengths in mm)');
    say('  subject   visit  lesion (truth)  AI tracking id      truth LD  AI LD   truth SA  AI SA   status');
    for (const subjectId of subjects) {
      const file = demoPhantom!.files.find((f) => f.subjectId === subjectId)!;
      const pid = parseDicom(readFileSync(file.path)).header.patient.patientId;
      const map = pseud.find((p) => p.original_patient_id === pid);
      if (!map) continue;
      const subject = await ai.subjectByReadingId(map.reading_id);
      const track = subject ? await ai.latestTrack(subject.id) : undefined;
      if (!track) {
        say(`  ${map.reading_id}: no AI read (see jobs with --status failed)`);
        continue;
      }
      const dates = [...new Set(track.proposals.map((p) => p.study_date!))].sort();
      const runOut = track.run.outputs as Record<string, { segKey?: string | null; srKey?: string | null }>;
      for (const [tp, o] of Object.entries(runOut)) {
        const dir = join(outDir, 'ai', map.reading_id, tp);
        await mkdir(dir, { recursive: true });
        if (o.segKey) await writeFile(join(dir, 'seg.dcm'), await rt.store.getBuffer(o.segKey));
        if (o.srKey) await writeFile(join(dir, 'sr.dcm'), await rt.store.getBuffer(o.srKey));
      }
      for (const [v, date] of dates.entries()) {
        const props = track.proposals.filter((p) => p.study_date === date && (p.values as { present?: boolean }).present);
        const used = new Set<string>();
        for (const g of demoPhantom!.groundTruth.filter((r) => r.subjectId === subjectId && r.visitIndex === v && r.present)) {
          let best: (typeof props)[number] | undefined;
          let bestD = 15;
          for (const p of props) {
            const c = (p.values as { centroidMm: number[] }).centroidMm;
            const d = Math.hypot(c[0]! - g.centerX, c[1]! - g.centerY, c[2]! - g.centerZ);
            if (d < bestD && !used.has(p.id)) [best, bestD] = [p, d];
          }
          if (best) used.add(best.id);
          const val = (best?.values ?? {}) as { longAxisMm?: number; shortAxisMm?: number; status?: string };
          rows.push({ readingId: map.reading_id, visit: g.visit, lesion: g.lesionId, trackingId: best?.tracking_id ?? null, truthLd: g.longestDiameterMm, aiLd: val.longAxisMm ?? null, truthSa: g.shortAxisMm, aiSa: val.shortAxisMm ?? null, status: best ? val.status : 'MISSED' });
          say(`  ${map.reading_id}  ${g.visit.padEnd(5)}  ${g.lesionId.padEnd(14)}  ${String(best?.tracking_id ?? '-').padEnd(18)}  ${f1(g.longestDiameterMm)}  ${f1(val.longAxisMm)}  ${f1(g.shortAxisMm)}  ${f1(val.shortAxisMm)}  ${best ? val.status : 'MISSED'}`);
        }
        for (const p of props.filter((x) => !used.has(x.id))) {
          rows.push({ readingId: map.reading_id, visit: v, lesion: null, trackingId: p.tracking_id, aiLd: (p.values as { longAxisMm: number }).longAxisMm, status: 'FALSE POSITIVE' });
          say(`  ${map.reading_id}  ${String(v).padEnd(5)}  ${'-'.padEnd(14)}  ${String(p.tracking_id).padEnd(18)}  ${f1(null)}  ${f1((p.values as { longAxisMm: number }).longAxisMm)}  ${f1(null)}  ${f1((p.values as { shortAxisMm: number }).shortAxisMm)}  FALSE POSITIVE`);
        }
      }
    }
    const matched = rows.filter((r) => r.aiLd != null && r.truthLd != null);
    const med = (xs: number[]) => (xs.length ? [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]! : null);
    out.ct = {
      lesionsInTruth: rows.filter((r) => r.truthLd != null).length,
      detected: matched.length,
      falsePositives: rows.filter((r) => r.status === 'FALSE POSITIVE').length,
      medianAbsErrorLdMm: med(matched.map((r) => Math.abs(Number(r.aiLd) - Number(r.truthLd)))),
      medianAbsErrorSaMm: med(matched.map((r) => Math.abs(Number(r.aiSa) - Number(r.truthSa)))),
    };
    await writeFile(join(outDir, 'ai', 'ct-lesions.json'), JSON.stringify(rows, null, 2));
    say(`  CT summary: ${JSON.stringify(out.ct)}; SEG/SR per timepoint in ${join(outDir, 'ai')}`);
    // the AI-only read as its own study, cut like any read
    try {
      const r = await addAiReadStudyInput(rt, rt.config.PROTOCOL_ID, 'demo');
      const cut = await runDataCutJob(rt, { studyId: r.studyId, cutoffDate: '2099-12-31', blinded: true, createdBy: 'demo', formats: ['csv'] });
      out.aiReadCut = { studyId: r.studyId, cutId: cut.cut.cut_id, subjects: r.subjects };
      say(`  AI-only read cut (rows name the model, no reader): ${cut.cut.cut_id}`);
    } catch (e) {
      say(`  AI-only read not cut: ${(e as Error).message}`);
    }
    // ---- slides
    const slideRuns = await rt.db.selectFrom('ai_runs').selectAll().where('kind', '=', 'slide').execute();
    const slides: Record<string, unknown>[] = [];
    say('demo: AI read (slides: tile classifier metrics)');
    for (const r of slideRuns) {
      const m = r.summary as { classFractions: Record<string, number>; tumourFraction: number; stromalTilPercent: number; tumourBedCellularity: number; heatmap: { key: string } };
      const slideRow = await rt.db.selectFrom('slides').innerJoin('objects', 'objects.id', 'slides.object_id').select('objects.key').where('slides.id', '=', r.slide_id!).executeTakeFirst();
      const truth = (slideRow && demoSlideTruth.get(slideRow.key)) ?? null;
      const heat = join(outDir, 'ai', `slide-${r.slide_id}-heatmap.png`);
      await writeFile(heat, await rt.store.getBuffer(m.heatmap.key));
      slides.push({ slideId: r.slide_id, metrics: { tumourFraction: m.tumourFraction, stromalTilPercent: m.stromalTilPercent, cellularity: m.tumourBedCellularity, classFractions: m.classFractions }, truth });
      const pp = (x: number | undefined) => (x == null ? '  -  ' : `${(100 * x).toFixed(1)}%`);
      say(`  slide ${r.slide_id}: tumour ${pp(m.classFractions.tumour)} (truth ${pp(truth?.tumour)}), stroma ${pp(m.classFractions.stroma)} (truth ${pp(truth?.stroma)}), lymphocytes ${pp(m.classFractions.lymphocytes)} (truth ${pp(truth?.lymphocytes)}); stromal TIL ${Number.isFinite(m.stromalTilPercent) ? `${m.stromalTilPercent.toFixed(1)} %` : "- (no stroma)"}, tumour fraction ${pp(m.tumourFraction)}; heatmap ${heat}`);
    }
    out.slides = slides;
    // ---- response model on a held-out simulated trial
    const rm = resolveModel(rt.config.AI_RESPONSE_MODEL, { modelsDir: rt.config.MODELS_DIR });
    const info = responseModelInfo(rm.card);
    const held = simulateTrial({ subjects: 400, visits: 8, seed: 424242, stepWeeks: 8, outcomeCoupling: true, studyId: 'HELD-OUT' });
    const ev = await evaluateResponseModel(held, await ortPredictor(rm.file, { sha256: rm.sha256 }), { impute: info.impute });
    const r3 = (x: number) => Math.round(x * 1000) / 1000;
    const show = (m: typeof ev.confirmedResponse) => ({ n: m.n, observed: r3(m.observedRate), meanPredicted: r3(m.meanPredicted), auc: r3(m.auc), brier: r3(m.brier), calibrationSlope: r3(m.calibrationSlope), calibrationIntercept: r3(m.calibrationIntercept) });
    out.responseModel = { model: rm.provenance, heldOutTrial: 'simulated, seed 424242, 400 subjects', confirmedResponse: show(ev.confirmedResponse), progressionFree6m: show(ev.progressionFree6m) };
    say(`demo: response model ${rm.id}@${rm.version} (exploratory) on a held-out simulated trial:`);
    say(`  P(confirmed response): ${JSON.stringify(show(ev.confirmedResponse))}`);
    say(`  P(progression-free at 6 months): ${JSON.stringify(show(ev.progressionFree6m))}`);
    await writeFile(join(outDir, 'ai', 'summary.json'), JSON.stringify(out, null, 2));
    return out;
  },
};
