import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { latestDate, simulateTrial, type StudyInputWithReads } from '@app/endpoints';
import { addStudyInput, cutReportFile, runCutReportJob, runDataCutJob } from '@app/pipeline';
import { headlineLines, type StatisticsJson } from '@app/report';
import type { DemoStage } from '../demo';

let study: StudyInputWithReads | undefined;
const SUBJECTS = 240;

/**
 * Report stage: a simulated 240-subject trial read by a blinded independent central review (two radiologists from a
 * pool of four and the AI per subject, adjudicated) as study `<PROTOCOL_ID>-BICR`; a blinded and an unblinded data
 * cut; each cut's report (HTML, statistics.json, SVG/PNG plots) made, stored with the cut and copied to
 * ./out/reports/<cutId>/. Prints median PFS by arm with its CI, the hazard ratio, the ORR difference and the
 * agreement summary (simulated reads, labelled as such).
 */
export const reportStage: DemoStage = {
  name: 'report',
  async seed(rt) {
    const studyId = `${rt.config.PROTOCOL_ID}-BICR`;
    study = simulateTrial({ subjects: SUBJECTS, visits: 8, seed: 2026, qlq: false, stepWeeks: 0, studyId, readers: true });
    await addStudyInput(rt, studyId, 'simulated', study, 'demo');
    return [];
  },
  async after(rt, outDir) {
    const studyId = `${rt.config.PROTOCOL_ID}-BICR`;
    const cutoff = latestDate(study!);
    const say = (s: string) => process.stdout.write(`${s}\n`);
    say('demo: report');
    const out: Record<string, unknown> = {};
    for (const blinded of [true, false]) {
      const { cut } = await runDataCutJob(rt, { studyId, cutoffDate: cutoff, blinded, createdBy: 'demo', formats: ['json', 'xpt'] });
      const { manifest } = await runCutReportJob(rt, cut, { name: 'demo' }); // the job the cut job queued
      const dir = join(outDir, 'reports', cut.cut_id);
      for (const f of [...manifest.files.map((x) => x.path), 'manifest.json']) {
        await mkdir(join(dir, f, '..'), { recursive: true });
        await writeFile(join(dir, f), (await cutReportFile(rt, cut, manifest, f))!);
      }
      const stats = JSON.parse((await cutReportFile(rt, cut, manifest, 'statistics.json'))!.toString('utf8')) as StatisticsJson;
      const lines = headlineLines(stats);
      say(`  ${blinded ? 'blinded' : 'unblinded'} cut ${cut.cut_id} (${SUBJECTS} subjects, cut-off ${cutoff}): report ${join(dir, 'report.html')}`);
      for (const l of lines) say(`    ${l}`);
      out[blinded ? 'blinded' : 'unblinded'] = { cutId: cut.cut_id, report: join(dir, 'report.html'), reportManifestSha256: manifest.reportManifestSha256, plots: manifest.plots.map((p) => p.name), headline: lines };
    }
    return out;
  },
};
