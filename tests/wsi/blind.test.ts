import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { InputError } from '@app/core';
import { blindSlide, openSlide } from '@app/wsi';
import { subtractRanges } from '../../libs/wsi/src/blind';
import { TiffFile, TAG } from '../../libs/wsi/src/tiff-file';
import { diff, fx, openslideProps, openslideRegion, tempDir, tool } from './helpers';
import { pattern, writeTiff } from './tiff-writer';

let t: ReturnType<typeof tempDir>;
beforeAll(() => (t = tempDir()));
afterAll(() => t.cleanup());

const REMOVED_APERIO_KEYS = ['Date', 'Time', 'User', 'ScanScope ID', 'Filename', 'ImageID'];

describe('blindSlide (TIFF family)', () => {
  test('CMU-1-Small-Region.svs: label + macro gone, identifying description fields gone, level 0 pixels unchanged, OpenSlide still opens it', async () => {
    const src = fx('CMU-1-Small-Region.svs');
    const out = join(t.dir, 'SUBJ-0001.svs');
    const before = openslideProps(src);
    const planted = REMOVED_APERIO_KEYS.map((k) => before[`aperio.${k}`]);
    expect(planted.every((v) => typeof v === 'string' && v.length >= 4)).toBe(true);
    // raw bytes of the label and macro images, to prove they are zeroed (first strip of each)
    const tf = await TiffFile.open(src);
    const assocChunks: Buffer[] = [];
    for (const i of [2, 3]) {
      const e = tf.ifds[i];
      const off = e.entries.get(TAG.StripOffsets)!.values[0];
      assocChunks.push(await tf.readBytes(off + 16, 64));
    }
    await tf.close();

    const report = await blindSlide(src, out);
    expect(report.format).toBe('aperio-svs');
    expect(report.removedAssociatedImages.sort()).toEqual(['label', 'macro']);
    expect(report.removedIfdCount).toBe(2);
    expect(report.removedDescriptionFields).toEqual(expect.arrayContaining(REMOVED_APERIO_KEYS.map((k) => `aperio.${k}`)));
    expect(report.zeroedBytes).toBeGreaterThan(100_000);
    const reportJson = JSON.stringify(report);
    for (const v of planted) expect(reportJson).not.toContain(v); // names, never values

    const bytes = readFileSync(out);
    for (const v of planted) expect(bytes.indexOf(Buffer.from(v, 'latin1'))).toBe(-1);
    for (const c of assocChunks) expect(bytes.indexOf(c)).toBe(-1);
    expect(bytes.indexOf(Buffer.from('CMU-1', 'latin1'))).toBe(-1); // the original file name

    const a = await openSlide(src);
    const b = await openSlide(out);
    try {
      expect(b.associatedImageNames).toEqual(['thumbnail']);
      expect(b.levels).toEqual(a.levels);
      expect(b.mpp).toEqual(a.mpp);
      expect(b.objectivePower).toBe(a.objectivePower);
      const L = a.levels[0];
      const ra = await a.readRegion(0, 0, 0, L.width, L.height);
      const rb = await b.readRegion(0, 0, 0, L.width, L.height);
      expect(Buffer.compare(Buffer.from(ra.data), Buffer.from(rb.data))).toBe(0);
    } finally {
      await a.close();
      await b.close();
    }
    // OpenSlide still opens the copy: same geometry and MPP, no identifying aperio.* fields, same pixels
    const after = openslideProps(out);
    expect(after['openslide.mpp-x']).toBe(before['openslide.mpp-x']);
    expect(after['openslide.objective-power']).toBe(before['openslide.objective-power']);
    expect(after['openslide.level[0].width']).toBe(before['openslide.level[0].width']);
    for (const k of REMOVED_APERIO_KEYS) expect(after[`aperio.${k}`]).toBeUndefined();
    expect(after['aperio.MPP']).toBe(before['aperio.MPP']);
    expect(after['aperio.AppMag']).toBe(before['aperio.AppMag']);
    expect(diff(await openslideRegion(out, 1000, 1200, 0, 200, 150), await openslideRegion(src, 1000, 1200, 0, 200, 150))).toMatchObject({ max: 0 });
  });

  test('synthetic Aperio-style slide with a label carrying fake PHI (text in tags, description and label pixels)', async () => {
    const PHI = {
      name: 'DOE^JANE^Q',
      barcode: 'PT-0042-XK7',
      filename: 'JaneDoe_2024_slide7',
      user: 'jdoe.scanner.op',
      serial: 'SN-99887766',
      date: '03/14/24',
      time: '10:11:12',
      slide: 'SLIDE-77-AB',
      artist: 'Dr Fakeperson',
      host: 'SCANHOST-4471',
      doc: 'jane_doe_case.svs',
      dt: '2024:03:14 10:11:12',
      labelText: 'JANE DOE 1970-01-01 MRN 5551234',
      exifDate: '2024:03:14 09:08:07',
      owner: 'St Fakename Hospital',
      exifSerial: 'BODY-SN-31337',
    };
    const desc0 = `Aperio Image Library v12.0.0\r\n256x192 [0,0 256x192] (64x64) RAW|AppMag = 40|MPP = 0.25|Filename = ${PHI.filename}|Date = ${PHI.date}|Time = ${PHI.time}|User = ${PHI.user}|ScanScope ID = ${PHI.serial}|Barcode = ${PHI.barcode}|Slide = ${PHI.slide}|ScannerSerial = ${PHI.serial}|Patient = ${PHI.name}`;
    // the label "image" is uncompressed and its pixels spell the fake PHI, so any leak is findable as bytes
    const lw = 64, lh = 32;
    const label = new Uint8Array(lw * lh * 3).fill(200);
    label.set(Buffer.from(PHI.labelText.repeat(6).slice(0, lw * 3), 'latin1'), 0);
    const src = join(t.dir, 'synthetic.svs');
    writeFileSync(
      src,
      writeTiff([
        {
          width: 256, height: 192, rgb: pattern(256, 192, 3), tile: 64, compression: 8,
          tags: [
            { tag: 270, type: 2, value: desc0 }, { tag: 315, type: 2, value: PHI.artist }, { tag: 316, type: 2, value: PHI.host },
            { tag: 269, type: 2, value: PHI.doc }, { tag: 306, type: 2, value: PHI.dt }, { tag: 305, type: 2, value: 'SlideWriter 1.0' },
          ],
          // EXIF: DateTimeOriginal, CameraOwnerName, BodySerialNumber
          exif: [{ tag: 36867, type: 2, value: PHI.exifDate }, { tag: 42032, type: 2, value: PHI.owner }, { tag: 42033, type: 2, value: PHI.exifSerial }],
        },
        { width: 64, height: 48, rgb: pattern(64, 48, 9), compression: 8, tags: [{ tag: 270, type: 2, value: `Aperio Image Library v12.0.0\r\n256x192 -> 64x48 - |User = ${PHI.user}` }] },
        { width: 128, height: 96, rgb: pattern(128, 96, 4), tile: 64, compression: 8, tags: [{ tag: 270, type: 2, value: 'Aperio Image Library v12.0.0\r\n256x192 -> 128x96 - ' }] },
        { width: lw, height: lh, rgb: label, tags: [{ tag: 254, type: 4, value: [1] }, { tag: 270, type: 2, value: `Aperio Image Library v12.0.0\r\nlabel ${lw}x${lh}|Barcode = ${PHI.barcode}` }] },
        { width: 96, height: 32, rgb: pattern(96, 32, 5), compression: 8, tags: [{ tag: 254, type: 4, value: [9] }, { tag: 270, type: 2, value: `Aperio Image Library v12.0.0\r\nmacro 96x32|Patient = ${PHI.name}` }] },
      ]),
    );
    const srcBytes = readFileSync(src);
    for (const [k, v] of Object.entries(PHI)) expect([k, srcBytes.indexOf(Buffer.from(v, 'latin1')) >= 0]).toEqual([k, true]); // planted
    const s0 = await openSlide(src);
    expect(s0.format).toBe('aperio-svs');
    expect([...s0.associatedImageNames].sort()).toEqual(['label', 'macro', 'thumbnail']);
    expect(s0.properties['tiff.Artist']).toBe(PHI.artist);
    const origL0 = await s0.readRegion(0, 0, 0, 256, 192);
    const origL1 = await s0.readRegion(1, 0, 0, 128, 96);
    await s0.close();

    const out = join(t.dir, 'SUBJ-0002.svs');
    const report = await blindSlide(src, out);
    expect(report.removedAssociatedImages.sort()).toEqual(['label', 'macro']);
    expect(report.removedDescriptionFields).toEqual(
      expect.arrayContaining(['aperio.Filename', 'aperio.Date', 'aperio.Time', 'aperio.User', 'aperio.ScanScope ID', 'aperio.Barcode', 'aperio.Slide', 'aperio.ScannerSerial', 'aperio.Patient']),
    );
    expect(report.blankedTags).toEqual(['Artist', 'DateTime', 'DocumentName', 'EXIF.36867', 'EXIF.42032', 'EXIF.42033', 'HostComputer']);
    const bytes = readFileSync(out);
    for (const [k, v] of Object.entries(PHI)) expect([k, bytes.indexOf(Buffer.from(v, 'latin1'))]).toEqual([k, -1]);
    expect(bytes.indexOf(Buffer.from(PHI.labelText.slice(0, 12), 'latin1'))).toBe(-1);
    for (const v of Object.values(PHI)) expect(JSON.stringify(report)).not.toContain(v);

    const s = await openSlide(out);
    try {
      expect(s.associatedImageNames).toEqual(['thumbnail']);
      await expect(s.readAssociatedImage('label')).rejects.toThrow(RangeError);
      expect(s.mpp).toEqual({ x: 0.25, y: 0.25 });
      expect(s.objectivePower).toBe(40);
      expect(s.properties['tiff.Software']).toBe('SlideWriter 1.0'); // kept
      expect(s.properties['tiff.Artist']).toBe('');
      expect(s.levels.map((l) => l.width)).toEqual([256, 128]);
      expect(diff(await s.readRegion(0, 0, 0, 256, 192), origL0)).toMatchObject({ max: 0 });
      expect(diff(await s.readRegion(1, 0, 0, 128, 96), origL1)).toMatchObject({ max: 0 });
    } finally {
      await s.close();
    }
    // the copy is still a valid TIFF for libtiff-based tools
    const props = openslideProps(out);
    expect(props['openslide.vendor']).toBe('aperio');
    expect(props['aperio.MPP']).toBe('0.25');
    expect(props['aperio.Barcode']).toBeUndefined();
  });

  test('generic TIFF without associated images: nothing removed, pixels identical', async () => {
    const out = join(t.dir, 'SUBJ-0003.tiff');
    const r = await blindSlide(fx('boxes.tiff'), out);
    expect(r.removedAssociatedImages).toEqual([]);
    expect(r.removedIfdCount).toBe(0);
    const a = await openSlide(fx('boxes.tiff'));
    const b = await openSlide(out);
    for (let l = 0; l < a.levels.length; l++) {
      const L = a.levels[l];
      expect(diff(await a.readRegion(l, 0, 0, L.width, L.height), await b.readRegion(l, 0, 0, L.width, L.height))).toMatchObject({ max: 0 });
    }
    await a.close();
    await b.close();
  });

  test('BigTIFF Aperio-style copy written by libvips: description cleaned in place (64-bit counts), OpenSlide reopens it', async () => {
    const crop0 = join(t.dir, 'c.v');
    const src = join(t.dir, 'big-aperio.tif');
    tool('vips', ['crop', fx('CMU-1-Small-Region.svs'), crop0, '0', '0', '600', '500']);
    tool('vips', ['tiffsave', crop0, src, '--tile', '--pyramid', '--bigtiff', '--compression', 'jpeg', '--Q', '80']);
    const before = openslideProps(src);
    expect(before['aperio.User']).toBeDefined(); // libvips carried the description over
    const out = join(t.dir, 'SUBJ-0004.tif');
    const r = await blindSlide(src, out);
    expect(r.removedDescriptionFields).toEqual(expect.arrayContaining(REMOVED_APERIO_KEYS.map((k) => `aperio.${k}`)));
    const bytes = readFileSync(out);
    for (const k of REMOVED_APERIO_KEYS) expect(bytes.indexOf(Buffer.from(before[`aperio.${k}`], 'latin1'))).toBe(-1);
    const after = openslideProps(out);
    expect(after['openslide.mpp-x']).toBe(before['openslide.mpp-x']);
    expect(after['aperio.User']).toBeUndefined();
    expect(diff(await openslideRegion(out, 100, 100, 0, 300, 200), await openslideRegion(src, 100, 100, 0, 300, 200))).toMatchObject({ max: 0 });
  });

  test('range subtraction protects bytes still used by kept images', () => {
    expect(subtractRanges(0, 100, [])).toEqual([[0, 100]]);
    expect(subtractRanges(10, 100, [[0, 20], [50, 60], [90, 200]])).toEqual([[20, 50], [60, 90]]);
    expect(subtractRanges(10, 20, [[0, 30]])).toEqual([]);
  });

  test('DICOM WSI is refused: it is blinded by DICOM de-identification (@app/deid)', async () => {
    await expect(blindSlide(fx('boxes_0.dcm'), join(t.dir, 'x.dcm'))).rejects.toThrow(InputError);
    await expect(blindSlide(fx('boxes_0.dcm'), join(t.dir, 'x.dcm'))).rejects.toMatchObject({ code: 'wsi.blinding-unsupported' });
  });
});
