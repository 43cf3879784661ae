import { isInputError } from '@app/core';
import { checkPixelModule, decodeFrame, parseDicom } from '@app/dicom';
import { element, fixture, p10 } from './helpers';

const catchSync = (f: () => unknown): unknown => {
  try {
    f();
  } catch (e) {
    return e;
  }
  throw new Error('expected a throw');
};

describe('invalid fixtures give specific InputErrors', () => {
  it('MR_truncated.dcm: pixel data shorter than Rows x Columns x bytes', () => {
    const e = catchSync(() => parseDicom(fixture('invalid/MR_truncated.dcm')));
    expect(isInputError(e)).toBe(true);
    expect(e).toMatchObject({ code: 'dicom.truncated-pixel-data' });
    const msg = (e as Error).message;
    // 64 x 64 x 2 bytes = 8192 declared; the file has 9630 bytes with pixel data starting at 1500.
    expect(msg).toContain('8192');
    expect(msg).toContain('8130');
    expect(msg).toContain('Rows 64 x Columns 64');
  });

  it('meta_missing_tsyntax.dcm: missing transfer syntax is named; inference is opt-in and flagged', () => {
    const e = catchSync(() => parseDicom(fixture('invalid/meta_missing_tsyntax.dcm')));
    expect(e).toMatchObject({ name: 'InputError', code: 'dicom.missing-transfer-syntax' });
    expect((e as Error).message).toContain('(0002,0010)');
    const p = parseDicom(fixture('invalid/meta_missing_tsyntax.dcm'), { inferMissingTransferSyntax: true });
    expect(p.transferSyntaxUid).toBe('1.2.840.10008.1.2'); // first element (0001,0001) has no VR: implicit
    expect(p.header.flags.join(' ')).toContain('transfer-syntax-inferred');
  });

  it('badVR.dcm: NumberOfFrames "1A" is not coerced; header read with a flag, decoding refused', async () => {
    const p = parseDicom(fixture('invalid/badVR.dcm'));
    expect(p.header.flags).toContainEqual(expect.stringContaining("NumberOfFrames (0028,0008) = '1A'"));
    expect(p.header.image.rows).toBe(10);
    await expect(decodeFrame(p, 0)).rejects.toMatchObject({ name: 'InputError', code: 'dicom.invalid-number-of-frames' });
  });

  it('no_meta.dcm is read (see header tests), not rejected', () => {
    expect(parseDicom(fixture('invalid/no_meta.dcm')).header.image.rows).toBe(128);
  });

  it('not DICOM: a PNG, a text file, an empty buffer', () => {
    for (const b of [Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex'), Buffer.from('hello world, this is not an image at all'), Buffer.alloc(0)]) {
      expect(catchSync(() => parseDicom(b))).toMatchObject({ name: 'InputError', code: 'dicom.not-dicom' });
    }
  });

  it('a P10 file cut in the middle of its header is truncated', () => {
    const full = fixture('small/CT_small.dcm');
    // Cut inside the value of (0008,0012) InstanceCreationDate (value bytes 392..400).
    const e = catchSync(() => parseDicom(full.subarray(0, 396)));
    expect(isInputError(e)).toBe(true);
    expect((e as { code: string }).code).toMatch(/^dicom\.truncated/);
    // Cut inside the 8-byte header of the next element.
    expect(catchSync(() => parseDicom(full.subarray(0, 404)))).toMatchObject({ code: 'dicom.truncated' });
    // Cut exactly at an element boundary before the pixel data: readable header, but no image.
    const head = parseDicom(full.subarray(0, 400));
    expect(head.header.image.hasPixelData).toBe(false);
    expect(catchSync(() => checkPixelModule(head.header))).toMatchObject({ code: 'dicom.no-pixel-data' });
    // Cut inside the pixel data (CT_small ends with 138 bytes of DataSetTrailingPadding).
    expect(catchSync(() => parseDicom(full.subarray(0, full.length - 200)))).toMatchObject({ code: 'dicom.truncated-pixel-data' });
  });

  it('an unsupported transfer syntax is named with its UID and name', async () => {
    const ts = '1.2.840.10008.1.2.4.102';
    const buf = p10('1.2.840.10008.5.1.4.1.1.2', '1.2.3', [
      element(0x00280010, 'US', 2),
      element(0x00280011, 'US', 2),
      element(0x00280100, 'US', 8),
      element(0x7fe00010, 'OB', Buffer.alloc(4)),
    ], ts);
    const p = parseDicom(buf);
    await expect(decodeFrame(p, 0)).rejects.toMatchObject({
      name: 'InputError',
      code: 'dicom.unsupported-transfer-syntax',
      message: expect.stringMatching(/1\.2\.840\.10008\.1\.2\.4\.102.*H\.264/),
    });
  });

  it('pixel data shorter than the header says (native) is dicom.truncated-pixel-data', async () => {
    const buf = p10('1.2.840.10008.5.1.4.1.1.2', '1.2.3', [
      element(0x00280002, 'US', 1),
      element(0x00280010, 'US', 4),
      element(0x00280011, 'US', 4),
      element(0x00280100, 'US', 16),
      element(0x7fe00010, 'OW', Buffer.alloc(16)), // 4 x 4 x 2 = 32 needed
    ]);
    await expect(decodeFrame(parseDicom(buf), 0)).rejects.toMatchObject({
      code: 'dicom.truncated-pixel-data',
      message: expect.stringContaining('32 bytes are required'),
    });
  });
});

describe('decompression bomb', () => {
  const bomb = (): Buffer =>
    p10('1.2.840.10008.5.1.4.1.1.2', '1.2.3.4', [
      element(0x00280002, 'US', 1),
      element(0x00280004, 'CS', 'MONOCHROME2'),
      element(0x00280008, 'IS', '1000'),
      element(0x00280010, 'US', 60000),
      element(0x00280011, 'US', 60000),
      element(0x00280100, 'US', 16),
      element(0x00280101, 'US', 16),
      element(0x00280103, 'US', 1),
      element(0x7fe00010, 'OW', Buffer.alloc(2)),
    ]);

  it('60000 x 60000 x 1000 frames is refused before any allocation', async () => {
    const p = parseDicom(bomb());
    expect(p.header.image.numberOfFrames).toBe(1000);
    const before = process.memoryUsage().arrayBuffers;
    const e = catchSync(() => checkPixelModule(p.header));
    expect(e).toMatchObject({ name: 'InputError', code: 'dicom.too-large' });
    expect((e as Error).message).toContain('60000 x 60000');
    await expect(decodeFrame(p, 0)).rejects.toMatchObject({ code: 'dicom.too-large' });
    // Nothing near the 7.2 TB the header asks for (or even 1 MB) was allocated.
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(1 << 20);
  });

  it('the limits are configurable (a small image over a tight limit; total-bytes limit)', async () => {
    const p = parseDicom(fixture('small/CT_small.dcm'));
    await expect(decodeFrame(p, 0, { limits: { maxPixelsPerFrame: 100 } })).rejects.toMatchObject({ code: 'dicom.too-large' });
    await expect(decodeFrame(p, 0, { limits: { maxTotalBytes: 1000 } })).rejects.toMatchObject({
      code: 'dicom.too-large',
      message: expect.stringContaining('32768 bytes'),
    });
    expect((await decodeFrame(p, 0)).stored.length).toBe(128 * 128);
  });
});
