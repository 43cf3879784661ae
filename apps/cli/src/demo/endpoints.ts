import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { EndpointsRepository } from '@app/db';
import { type CutManifest, readDataset } from '@app/datasets';
import { latestDate, responseRates, simulateTrial, type ResponseRate, type StudyInput } from '@app/endpoints';
import { addStudyInput, runDataCutJob, importSdtm, PHARMAVERSE_SDTM_DIR, type Runtime } from '@app/pipeline';
import type { DemoSeed, DemoStage } from '../demo';

const csvCell = (v: unknown) => (v === null || v === undefined ? '' : String(v));

/** QLQ-C30 and wearable uploads in the documented CSV schema, taken out of a simulated study. */
function eproCsvs(study: StudyInput): { qlq: string; steps: string } {
  const q = ['subject_id,visit,date,' + Array.from({ length: 30 }, (_, i) => `q${i + 1}`).join(',')];
  const s = ['subject_id,date,steps,wear_minutes'];
  for (const subj of study.subjects) {
    for (const r of subj.qlqc30 ?? []) q.push([subj.usubjid, r.visit, r.date, ...r.items.map(csvCell)].join(','));
    for (const d of subj.steps ?? []) s.push([subj.usubjid, d.date, d.steps, d.wearMinutes].join(','));
  }
  return { qlq: `${q.join('\n')}\n`, steps: `${s.join('\n')}\n` };
}

let simulated: StudyInput | undefined;

async function copyCut(rt: Runtime, outDir: string, prefix: string, manifest: CutManifest) {
  const dir = join(outDir, 'cuts', manifest.cutId);
  await mkdir(dir, { recursive: true });
  for (const f of [...manifest.files.map((x) => x.path), 'manifest.json']) await writeFile(join(dir, f), await rt.store.getBuffer(`${prefix}/${f}`));
  return dir;
}

/**
 * Endpoint stage: a simulated 60-subject trial as the study's assessments, its QLQ-C30 and wearable
 * data uploaded as ePRO files through the same ingest path (plus one upload with bad rows, which is
 * rejected with its rows listed), then blinded and unblinded data cuts in every format; and the
 * pharmaverse SDTM imported as a second study, compared with the investigator's RS.
 */
export const endpointsStage: DemoStage = {
  name: 'endpoints',
  async seed(rt) {
    const studyId = rt.config.PROTOCOL_ID;
    const study = simulateTrial({ subjects: 60, visits: 8, seed: 42, qlq: true, stepWeeks: 4, studyId });
    simulated = study;
    const { qlq, steps } = eproCsvs(study);
    const assessmentsOnly: StudyInput = { ...study, subjects: study.subjects.map((s) => ({ ...s, qlqc30: [], steps: [] })) };
    await addStudyInput(rt, studyId, 'simulated', assessmentsOnly, 'demo');
    const firstSubject = study.subjects[0]!.usubjid;
    const bad = `subject_id,visit,date,${Array.from({ length: 30 }, (_, i) => `q${i + 1}`).join(',')}\n${firstSubject},WEEK 99,2025-01-01,${Array.from({ length: 30 }, (_, i) => (i === 4 ? 9 : 2)).join(',')}\nNOT-A-SUBJECT,BASELINE,2025-01-01,${Array(30).fill(1).join(',')}\n`;
    const seeds: DemoSeed[] = [
      { key: 'incoming/epro/qlq-c30-export.csv', body: Buffer.from(qlq) },
      { key: 'incoming/epro/wearable-steps.csv', body: Buffer.from(steps) },
      { key: 'incoming/epro/qlq-c30-site-07-resend.csv', body: Buffer.from(bad) },
    ];
    return seeds;
  },
  async after(rt, outDir) {
    const studyId = rt.config.PROTOCOL_ID;
    const cutoff = latestDate(simulated!);
    const out: Record<string, unknown> = {};
    for (const blinded of [true, false]) {
      const r = await runDataCutJob(rt, { studyId, cutoffDate: cutoff, blinded, createdBy: 'demo' });
      const dir = await copyCut(rt, outDir, r.cut.prefix, r.manifest);
      out[blinded ? 'blindedCut' : 'unblindedCut'] = { cutId: r.cut.cut_id, files: r.manifest.files.length + 1, dir };
      if (blinded) {
        const adrs = readDataset(await readFile(join(dir, 'adrs.json')), 'adrs.json');
        const adtte = readDataset(await readFile(join(dir, 'adtte.json')), 'adtte.json');
        const col = (ds: typeof adrs, n: string) => ds.columns.findIndex((c) => c.name === n);
        const bor: Record<string, number> = {};
        for (const row of adrs.rows) {
          if (row[col(adrs, 'PARAMCD')] === 'CBOR') bor[String(row[col(adrs, 'AVALC')])] = (bor[String(row[col(adrs, 'AVALC')])] ?? 0) + 1;
        }
        let events = 0;
        let censored = 0;
        for (const row of adtte.rows) if (row[col(adtte, 'PARAMCD')] === 'PFS') Number(row[col(adtte, 'CNSR')]) === 0 ? events++ : censored++;
        // ORR (confirmed) and DCR with exact 95 % intervals, pooled: this is the blinded cut
        const pct = (x: number) => Math.round(x * 1000) / 10;
        const rate = (r: ResponseRate) => ({ responders: r.responders, n: r.n, percent: pct(r.rate), ci95: r.ci.map(pct) });
        const [orr] = responseRates(adrs, 'CRSP');
        const [dcr] = responseRates(adrs, 'DCR');
        out.summary = { subjects: simulated!.subjects.length, confirmedBor: bor, orr: rate(orr), dcr: rate(dcr), pfs: { events, censored } };
      }
    }
    // a sponsor's SDTM as another study, re-derived and compared with the investigator's RS
    const files = [];
    for (const f of ['tu_onco_recist.csv.gz', 'tr_onco_recist.csv.gz', 'rs_onco_recist.csv.gz', 'dm.csv.gz']) files.push({ name: f.replace('_onco_recist', ''), bytes: await readFile(join(PHARMAVERSE_SDTM_DIR(), f)) });
    const imp = await importSdtm(rt, 'PHARMAVERSE-ONCO', files, 'demo');
    await writeFile(join(outDir, 'sdtm-comparison.json'), JSON.stringify(imp.comparison, null, 2));
    out.sdtm = { subjects: imp.subjects, agree: imp.comparison?.agree, disagree: imp.comparison?.disagree.length };
    const uploads = await new EndpointsRepository(rt.db).eproUploads();
    out.epro = { acceptedUploads: uploads.length, rows: uploads.reduce((a, u) => a + u.row_count, 0) };
    process.stdout.write('demo: endpoints\n');
    process.stdout.write(`  ePRO: ${uploads.length} upload(s) accepted with ${(out.epro as { rows: number }).rows} rows (the bad upload is quarantined with its rows listed)\n`);
    process.stdout.write(`  ${studyId} cut-off ${cutoff}: ${JSON.stringify(out.summary)}\n`);
    process.stdout.write(`  cuts: ${(out.blindedCut as { cutId: string }).cutId}, ${(out.unblindedCut as { cutId: string }).cutId} -> ${join(outDir, 'cuts')}\n`);
    process.stdout.write(`  SDTM import (pharmaverse): ${imp.subjects} subjects; overall response vs investigator RS: ${out.sdtm && (out.sdtm as { agree: number }).agree} agree, ${(out.sdtm as { disagree: number }).disagree} explained differences (sdtm-comparison.json)\n`);
    return out;
  },
};
