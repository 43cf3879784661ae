import { readFile, mkdir, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { ImagingRepository } from '@app/db';
import { renderSlicePng } from '@app/dicom';
import { generatePhantomStudy } from '@app/phantom';
import { decodeNrrd } from '@app/pipeline';
import type { DemoStage } from '../demo';

/**
 * DICOM stage: a generated 'hard' phantom CT trial (2 subjects x 3 visits, heterogeneous and low-contrast lesions,
 * organ distractors, patient motion between visits, 5 mm slices, with planted fake PHI) plus the
 * public samples; the pipeline de-identifies, indexes, waits for each series' quiet period, selects
 * series by the protocol rules and builds volumes. Writes out/series.json, out/ground-truth.csv and a
 * PNG (soft-tissue window) of the middle slice of each selected series.
 */
let groundTruthCsv: string | undefined;
/** The phantom's ground truth and files, for the AI stage's AI-vs-truth table. */
export let demoPhantom: Awaited<ReturnType<typeof generatePhantomStudy>> | undefined;

export const dicomStage: DemoStage = {
  name: 'dicom',
  async seed(_rt, workDir) {
    const dir = join(workDir, 'phantom');
    const res = await generatePhantomStudy({ outDir: dir, subjects: 2, visits: 3, realism: 'hard', sliceThickness: 5, withPhi: true, seed: 7 });
    groundTruthCsv = res.groundTruthCsv;
    demoPhantom = res;
    const seeds = [];
    for (const f of res.files) seeds.push({ key: `incoming/ct/${relative(dir, f.path).split('\\').join('/')}`, body: await readFile(f.path) });
    return seeds;
  },
  async after(rt, outDir) {
    const imaging = new ImagingRepository(rt.db);
    const series = await imaging.allSeries();
    await mkdir(join(outDir, 'png'), { recursive: true });
    const out = [];
    for (const s of series) {
      const vol = await imaging.latestVolume(s.id);
      let png: string | undefined;
      if (vol && s.selected) {
        const v = decodeNrrd(await rt.store.getBuffer(vol.data_key));
        const mid = Math.floor(v.dims[2] / 2);
        png = join('png', `${s.reading_id}_${s.time_point_id}_${s.series_number ?? 0}.png`);
        await writeFile(join(outDir, png), await renderSlicePng(v, mid, { center: 40, width: 400 }));
      }
      out.push({
        readingId: s.reading_id,
        timePoint: s.time_point_id,
        studyDate: s.study_date,
        modality: s.modality,
        instances: s.instance_count,
        status: s.status,
        selected: s.selected,
        reasons: s.selection_reasons,
        flags: s.flags,
        volume: vol ? { dims: vol.dims, spacing: vol.spacing, key: vol.data_key } : null,
        png: png ?? null,
      });
    }
    await writeFile(join(outDir, 'series.json'), JSON.stringify(out, null, 2));
    if (groundTruthCsv) await writeFile(join(outDir, 'ground-truth.csv'), groundTruthCsv);
    process.stdout.write('demo: series\n');
    for (const s of out)
      process.stdout.write(
        `  ${s.readingId} ${String(s.timePoint).padEnd(12)} ${String(s.modality).padEnd(3)} ${String(s.instances).padStart(3)} inst  ${s.status.padEnd(13)} ${s.selected ? 'SELECTED' : 'not selected'}${s.volume ? `  volume ${s.volume.dims.join('x')}` : ''}${s.reasons.length ? `  (${s.reasons.join('; ')})` : ''}\n`,
      );
    return { series: out.length, selected: out.filter((s) => s.selected).length, volumes: out.filter((s) => s.volume).length };
  },
};
