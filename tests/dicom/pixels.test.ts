import { relative } from 'node:path';
import { applyModalityLut, decodeAllFrames, decodeFrame, decodeFrameInto, parseDicom, type DecodedFrame } from '@app/dicom';
import { FIX, element, fixture, p10, pydicomReference } from './helpers';

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

  const image = (pm: { rows: number; cols: number; ba: number; bs: number; pr: number; spp?: number; planar?: number; photometric?: string }, px: Buffer): Buffer =>
    p10('1.2.840.10008.5.1.4.1.1.7', '1.2.3.9', [
      element(0x00280002, 'US', pm.spp ?? 1),
      element(0x00280004, 'CS', pm.photometric ?? 'MONOCHROME2'),
      ...(pm.planar !== undefined ? [element(0x00280006, 'US', pm.planar)] : []),
      element(0x00280010, 'US', pm.rows),
      element(0x00280011, 'US', pm.cols),
      element(0x00280100, 'US', pm.ba),
      element(0x00280101, 'US', pm.bs),
      element(0x00280102, 'US', pm.bs - 1),
      element(0x00280103, 'US', pm.pr),
      element(0x7fe00010, pm.ba === 8 ? 'OB' : 'OW', px),
    ]);
  const u16 = (xs: number[]): Buffer => {
    const b = Buffer.alloc(xs.length * 2);
    xs.forEach((x, k) => b.writeUInt16LE(x, 2 * k));
    return b;
  };

  it('BitsStored 12 signed: sign-extends from bit 11 and ignores bits above BitsStored', async () => {
    // 12-bit two's complement: 0xFFF = -1, 0x800 = -2048, 0x7FF = 2047, 0x001 = 1; high nibble is garbage.
    const buf = image({ rows: 2, cols: 2, ba: 16, bs: 12, pr: 1 }, u16([0xffff, 0xa800, 0x57ff, 0xf001]));
    const d = await decodeFrame(parseDicom(buf), 0);
    expect(d.stored).toBeInstanceOf(Int16Array);
    expect(Array.from(d.stored)).toEqual([-1, -2048, 2047, 1]);
  });

  it('BitsStored 12 unsigned: masks bits above BitsStored', async () => {
    const buf = image({ rows: 1, cols: 3, ba: 16, bs: 12, pr: 0 }, Buffer.concat([u16([0xf123, 0x0fff, 0x1000]), Buffer.alloc(0)]));
    const d = await decodeFrame(parseDicom(buf), 0);
    expect(Array.from(d.stored)).toEqual([0x123, 0xfff, 0]);
  });

  it('planar RGB (PlanarConfiguration 1) comes back pixel-interleaved; odd length padded', async () => {
    // 3 pixels: R plane, G plane, B plane (9 bytes, padded to 10 by the writer).
    const planar = Buffer.from([10, 20, 30, 40, 50, 60, 70, 80, 90]);
    const d = await decodeFrame(parseDicom(image({ rows: 1, cols: 3, ba: 8, bs: 8, pr: 0, spp: 3, planar: 1, photometric: 'RGB' }, planar)), 0);
    expect(Array.from(d.stored)).toEqual([10, 40, 70, 20, 50, 80, 30, 60, 90]);
    expect(d.values).toBeUndefined();
    const inter = await decodeFrame(parseDicom(image({ rows: 1, cols: 3, ba: 8, bs: 8, pr: 0, spp: 3, planar: 0, photometric: 'RGB' }, planar)), 0);
    expect(Array.from(inter.stored)).toEqual([10, 20, 30, 40, 50, 60, 70, 80, 90]);
  });

  it('decodeFrameInto writes the same HU as decodeFrame (fused and general paths, int16 and float32 targets)', async () => {
    const cases: Array<[string, Buffer]> = [
      ['CT1 16-bit signed', fixture('ct/CT1_UNC.explicit_little_endian.dcm')],
      ['CT1 big endian', fixture('ct/CT1_UNC.explicit_big_endian.dcm')],
      ['CT1 JPEG-LS', fixture('encapsulated/CT1_UNC.fragmented_bot_jpeg_ls.80.dcm')],
      ['CT0012 16-bit unsigned, intercept -1024', fixture('encapsulated/CT0012.explicit_little_endian.dcm')],
      ['12-bit signed, garbage high bits', image({ rows: 2, cols: 2, ba: 16, bs: 12, pr: 1 }, u16([0xffff, 0xa800, 0x57ff, 0xf001]))],
      ['12-bit unsigned, garbage high bits', image({ rows: 1, cols: 3, ba: 16, bs: 12, pr: 0 }, u16([0xf123, 0x0fff, 0x1000]))],
      ['8-bit deflate', fixture('encapsulated/image_dfl.dcm')],
    ];
    for (const [what, buf] of cases) {
      const p = parseDicom(buf);
      const ref = (await decodeFrame(p, 0)).values!;
      const n = ref.length;
      const i16 = new Int16Array(n + 4).subarray(2, 2 + n);
      const got = await decodeFrameInto(p, 0, i16);
      expect([what, got === i16]).toEqual([what, ref instanceof Int16Array]);
      expect([what, Array.from(got)]).toEqual([what, Array.from(ref)]);
      const f32 = new Float32Array(n);
      expect(await decodeFrameInto(p, 0, f32)).toBe(f32);
      expect([what, Array.from(f32)]).toEqual([what, Array.from(ref)]);
    }
    // Fractional slope: an int16 target cannot hold the values.
    const cr = parseDicom(fixture('studies/77654033/CR1/6154'));
    const ref = (await decodeFrame(cr, 0)).values!;
    const got = await decodeFrameInto(cr, 0, new Int16Array(ref.length));
    expect(got).toBeInstanceOf(Float32Array);
    expect(Array.from(got)).toEqual(Array.from(ref));
    await expect(decodeFrameInto(parseDicom(fixture('small/SC_rgb_rle.dcm')), 0, new Int16Array(100 * 100))).rejects.toMatchObject({
      code: 'dicom.not-monochrome',
    });
  });
});
