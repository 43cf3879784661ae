import { join } from 'node:path';
import { openSlide } from '@app/wsi';
const F = (f: string) => join(__dirname, '../fixtures/wsi', f);
test('smoke', async () => {
  for (const f of ['boxes.tiff', 'CMU-1-Small-Region.svs', 'small.svs', 'cmu_jp2k.tif', 'subsampled.tif', 'multi-channel-z-series.ome.tif', 'unreadable.svs']) {
    try {
      const s = await openSlide(F(f));
      console.log(f, s.format, JSON.stringify(s.levels), s.mpp, s.associatedImageNames);
      const r = await s.readRegion(0, 0, 0, 64, 64);
      console.log(f, Array.from(r.data.subarray(0, 12)));
      for (const a of s.associatedImageNames) { const im = await s.readAssociatedImage(a); console.log(a, im.width, im.height); }
      await s.close();
    } catch (e) { console.log(f, 'ERR', e); }
  }
});
