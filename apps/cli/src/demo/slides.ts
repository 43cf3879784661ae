import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { repoRoot } from '@app/core';
import { SlidesRepository } from '@app/db';
import { generateSyntheticSlide } from '@app/pathology';
import type { DemoStage } from '../demo';

/**
 * Slide stage: a synthetic H&E slide (SVS-style, 12k x 9k px, label image with fake PHI) and the real
 * CMU-1-Small-Region.svs, both linked to subjects by upload path, a DICOM whole-slide image, and a
 * corrupt SVS (quarantined).
 * The pipeline removes label/macro, detects tissue, builds the DZI pyramid and plans patches.
 */
/** Ground-truth class fractions of the synthetic slides, by upload key (for the AI stage's AI-vs-truth lines). */
export const demoSlideTruth = new Map<string, { tumour: number; stroma: number; lymphocytes: number; background: number; pen: number }>();

export const slidesStage: DemoStage = {
  name: 'slides',
  async seed(_rt, workDir) {
    const synth = await generateSyntheticSlide({ path: join(workDir, 'synthetic.svs'), width: 12000, height: 9000, seed: 11 });
    demoSlideTruth.set('incoming/slides/subject-SUBJ-001/block-A1.svs', synth.groundTruth.fractions);
    const wsi = (f: string) => readFile(join(repoRoot(), 'tests/fixtures/wsi', f));
    return [
      { key: 'incoming/slides/subject-SUBJ-001/block-A1.svs', body: await readFile(synth.path) },
      { key: 'incoming/slides/subject-SUBJ-002/CMU-1-Small-Region.svs', body: await wsi('CMU-1-Small-Region.svs') },
      { key: 'incoming/slides/subject-SUBJ-002/damaged.svs', body: await wsi('unreadable.svs') },
      // a DICOM whole-slide image (two instances of one series: VOLUME and THUMBNAIL)
      { key: 'incoming/slides/subject-SUBJ-003/boxes_0.dcm', body: await wsi('boxes_0.dcm') },
      { key: 'incoming/slides/subject-SUBJ-003/boxes_1.dcm', body: await wsi('boxes_1.dcm') },
    ];
  },
  async after(rt, outDir) {
    const slides = await new SlidesRepository(rt.db).list();
    const out = slides.map((s) => ({
      id: s.id,
      readingId: s.reading_id,
      format: s.format,
      size: `${s.width}x${s.height}`,
      mpp: s.mpp_x,
      removed: (s.blinding as { removedAssociatedImages?: string[] }).removedAssociatedImages,
      tissueFraction: (s.tissue as { fraction?: number }).fraction,
      patches: s.patches,
      dzi: s.dzi_key,
    }));
    for (const s of slides) {
      await writeFile(join(outDir, `slide-${s.reading_id ?? 'unlinked'}-${s.id.slice(0, 8)}-thumbnail.jpg`), await rt.store.getBuffer(s.thumbnail_key));
      await writeFile(join(outDir, `slide-${s.reading_id ?? 'unlinked'}-${s.id.slice(0, 8)}-tissue.png`), await rt.store.getBuffer(s.tissue_key));
    }
    await writeFile(join(outDir, 'slides.json'), JSON.stringify(out, null, 2));
    process.stdout.write('demo: slides\n');
    for (const s of out)
      process.stdout.write(
        `  ${s.readingId} ${s.format.padEnd(11)} ${s.size.padEnd(11)} removed [${(s.removed ?? []).join(', ')}]  tissue ${Math.round((s.tissueFraction ?? 0) * 100)}%  patches ${(s.patches as { count?: number } | null)?.count ?? '-'} @0.5µm/px  dzi ${s.dzi}\n`,
      );
    return { slides: out.length };
  },
};
