import { openSlide } from '@app/wsi';
import { diff, fx, openslideRegion } from './helpers';
test('measure', async () => {
  const d = await openSlide([fx('boxes_0.dcm'), fx('boxes_1.dcm')]);
  console.log(d.levels, d.mpp, d.objectivePower, d.properties, d.associatedImageNames);
  const r = await d.readRegion(0, 0, 0, 16, 16);
  console.log('dcm vs openslide small.svs', diff(r, await openslideRegion(fx('small.svs'), 0, 0, 0, 16, 16)));
  const t = await d.readAssociatedImage('thumbnail');
  const s = await openSlide(fx('small.svs'));
  console.log('thumb', diff(t, await s.readAssociatedImage('thumbnail')));
  await d.close();
});
