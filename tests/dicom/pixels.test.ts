import { relative } from 'node:path';
import { applyModalityLut, decodeAllFrames, decodeFrame, parseDicom, type DecodedFrame } from '@app/dicom';
import { FIX, fixture, pydicomReference } from './helpers';

const decodeFile = async (rel: string): Promise<DecodedFrame[]> => decodeAllFrames(parseDicom(fixture(rel)));

const expectSame = (a: ArrayLike<number>, b: ArrayLike<number>, what: string): void => {
  expect([what, a.length]).toEqual([what, b.length]);
  let diffs = 0;
  let first = -1;
  for (let k = 0; k < a.length; k++) {
    if (a[k] !== b[k]) {
      diffs++;
      if (first < 0) first = k;
    }
  }
  expect([what, diffs, first >= 0 ? `${a[first]} vs ${b[first]} at ${first}` : '']).toEqual([what, 0, '']);
};

describe('lossless decodes are pixel-exact against their uncompressed twins', () => {
  it('CT1_UNC: JPEG-LS (fragmented, with BOT) == explicit LE == implicit LE == explicit big endian, in HU', async () => {
    const ref = (await decodeFile('ct/CT1_UNC.explicit_little_endian.dcm'))[0];
    expect(ref.values).toBeInstanceOf(Int16Array);
    for (const f of [
      'encapsulated/CT1_UNC.fragmented_bot_jpeg_ls.80.dcm',
      'ct/CT1_UNC.implicit_little_endian.dcm',
      'ct/CT1_UNC.explicit_big_endian.dcm',
    ]) {
      const d = (await decodeFile(f))[0];
      expectSame(d.stored, ref.stored, f);
      expectSame(d.values!, ref.values!, f);
    }
  });

  it('CT0012 enhanced 2-frame: RLE and JPEG lossless (.70, no BOT) == explicit LE, per-frame HU', async () => {
    const ref = await decodeFile('encapsulated/CT0012.explicit_little_endian.dcm');
    expect(ref).toHaveLength(2);
    for (const f of ['encapsulated/CT0012.not_fragmented_bot_rle.dcm', 'encapsulated/CT0012.fragmented_no_bot_jpeg_lossless.70.dcm']) {
      const d = await decodeFile(f);
      expect(d).toHaveLength(2);
      for (let i = 0; i < 2; i++) {
        expectSame(d[i].stored, ref[i].stored, `${f} frame ${i}`);
        expectSame(d[i].values!, ref[i].values!, `${f} frame ${i} HU`);
      }
    }
    // Modality LUT from the Pixel Value Transformation Sequence: HU = stored - 1024.
    for (let k = 0; k < 1000; k += 97) expect(ref[1].values![k]).toBe(ref[1].stored[k] - 1024);
  });

  it('MR_small in every lossless syntax == its explicit LE original', async () => {
    const ref = (await decodeFile('small/MR_small.dcm'))[0];
    for (const f of [
      'small/MR_small_implicit.dcm',
      'small/MR_small_bigendian.dcm',
      'small/MR_small_RLE.dcm',
      'small/MR_small_jpeg_ls_lossless.dcm',
      'small/MR_small_jp2klossless.dcm',
    ]) {
      expectSame((await decodeFile(f))[0].stored, ref.stored, f);
    }
  });

  it('RGB RLE == RGB JPEG baseline within lossy tolerance (same picture)', async () => {
    const rle = (await decodeFile('small/SC_rgb_rle.dcm'))[0];
    const jpg = (await decodeFile('small/SC_rgb_jpeg_dcmtk.dcm'))[0];
    expect(jpg.photometricInterpretation).toBe('RGB');
    expect(rle.samplesPerPixel).toBe(3);
    let maxErr = 0;
    for (let k = 0; k < rle.stored.length; k++) maxErr = Math.max(maxErr, Math.abs(rle.stored[k] - jpg.stored[k]));
    expect(maxErr).toBeLessThanOrEqual(8);
  });
});

describe('decodes agree with pydicom (independent reader)', () => {
  const files = [
    'small/CT_small.dcm',
    'small/JPEG2000.dcm',
    'small/MR_small.dcm',
    'small/MR_small_RLE.dcm',
    'small/MR_small_bigendian.dcm',
    'small/MR_small_implicit.dcm',
    'small/MR_small_jp2klossless.dcm',
    'small/SC_rgb_jpeg_dcmtk.dcm',
    'small/SC_rgb_rle.dcm',
    'small/SC_rgb_small_odd.dcm',
    'encapsulated/CT0012.explicit_little_endian.dcm',
    'encapsulated/CT0012.not_fragmented_bot_rle.dcm',
    'encapsulated/image_dfl.dcm',
    'studies/77654033/CR1/6154',
    'studies/98892001/CT5N/2062',
  ];
  const { refs, read } = pydicomReference(files);

  it.each(files.map((f, k) => [f, k] as const))('%s', async (f, k) => {
    const r = refs[k];
    expect(relative(FIX, r.file)).toBe(f);
    expect(r.pixelError ?? r.error ?? null).toBeNull();
    const ref = read(r);
    const frames = await decodeFile(f);
    const ours = new Float64Array(ref.length);
    let o = 0;
    for (const fr of frames) for (let k2 = 0; k2 < fr.stored.length; k2++) ours[o++] = fr.stored[k2];
    expect(o).toBe(ref.length);
    const lossy = f.includes('jpeg_dcmtk') || f.endsWith('JPEG2000.dcm');
    let maxErr = 0;
    for (let q = 0; q < ref.length; q++) maxErr = Math.max(maxErr, Math.abs(ours[q] - ref[q]));
    // Lossy: both readers decode the same codestream; colour conversion / IDCT rounding may differ slightly.
    expect([f, maxErr <= (lossy ? 4 : 0)]).toEqual([f, true]);
    // Modality LUT against pydicom's header values.
    const h = r.header as { RescaleSlope: number | null; RescaleIntercept: number | null };
    if (h.RescaleIntercept !== null && frames[0].values) {
      const slope = h.RescaleSlope ?? 1;
      for (let q = 0; q < frames[0].values.length; q += 13) {
        expect(frames[0].values[q]).toBeCloseTo(frames[0].stored[q] * slope + h.RescaleIntercept, 3);
      }
    }
  });
});

describe('other encodings', () => {
  it('JPEG baseline 8-bit multi-frame colour without BOT (frames found by EOI scan)', async () => {
    const p = parseDicom(fixture('encapsulated/IM00001.fragmented_no_bot_jpeg_baseline.50.dcm'));
    const frames = await decodeAllFrames(p);
    expect(frames).toHaveLength(8);
    for (const fr of frames) {
      expect(fr.stored.length).toBe(240 * 320 * 3);
      expect(fr.photometricInterpretation).toBe('RGB');
    }
    // Frames differ (not 8 copies of frame 0).
    expect(Buffer.compare(Buffer.from(frames[0].stored.buffer), Buffer.from(frames[7].stored.buffer))).not.toBe(0);
  });

  it('12-bit JPEG Extended (.51) is refused with an InputError naming the syntax (no maintained 12-bit codec)', async () => {
    for (const f of ['small/JPGExtended.dcm', 'encapsulated/CT0012.fragmented_no_bot_jpeg_baseline.51.dcm']) {
      await expect(decodeFrame(parseDicom(fixture(f)), 0)).rejects.toMatchObject({
        name: 'InputError',
        code: 'dicom.unsupported-jpeg-precision',
        message: expect.stringContaining('1.2.840.10008.1.2.4.51'),
      });
    }
  });

  it('applies the modality LUT: Int16Array when exact, Float32Array for fractional slopes', async () => {
    const ct = (await decodeFile('small/CT_small.dcm'))[0];
    expect(ct.values).toBeInstanceOf(Int16Array);
    const cr = (await decodeFile('studies/77654033/CR1/6154'))[0];
    expect(cr.values).toBeInstanceOf(Float32Array);
    expect(cr.rescaleSlope).not.toBe(1);
  });

  it('modality LUT fast path (stored range fits int16) and checked path give the same exact values', () => {
    const u12 = Uint16Array.from([0, 1, 1024, 4095]);
    const fast = applyModalityLut(u12, 1, -1024, undefined, [0, 4095]);
    expect(fast).toBeInstanceOf(Int16Array);
    expect(Array.from(fast)).toEqual([-1024, -1023, 0, 3071]);
    expect(Array.from(applyModalityLut(u12, 1, -1024))).toEqual([-1024, -1023, 0, 3071]);
    // Full 16-bit signed range with intercept -1024: only the actual values decide.
    expect(applyModalityLut(Int16Array.from([-1000, 3000]), 1, -1024, undefined, [-32768, 32767])).toBeInstanceOf(Int16Array);
    const over = applyModalityLut(Int16Array.from([-32000, 3000]), 1, -1024, undefined, [-32768, 32767]);
    expect(over).toBeInstanceOf(Float32Array);
    expect(Array.from(over)).toEqual([-33024, 1976]);
    // Writing into a given target.
    const target = new Int16Array(4);
    expect(applyModalityLut(u12, 2, -1000, target, [0, 4095])).toBe(target);
    expect(Array.from(target)).toEqual([-1000, -998, 1048, 7190]);
  });
});
