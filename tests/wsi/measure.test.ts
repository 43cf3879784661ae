import { openSlide, blindSlide } from '@app/wsi';
import { fx } from './helpers';
test('measure', async () => {
  const r = await blindSlide(fx('CMU-1-Small-Region.svs'), '/tmp/wsiref/blind.svs');
  console.log(r);
  const s = await openSlide('/tmp/wsiref/blind.svs');
  console.log(s.associatedImageNames, s.properties['tiff.ImageDescription']);
});
