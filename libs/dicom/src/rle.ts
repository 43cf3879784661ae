import { InputError } from '@app/core';

/**
 * Decodes one DICOM RLE Lossless frame (PS3.5 Annex G: a 64-byte header of up to 15 segment offsets,
 * each segment a PackBits byte stream). Segments are ordered sample by sample, most significant byte
 * first; the output is pixel-interleaved little-endian samples of `bytesPerSample` bytes.
 */
export function decodeRleFrame(data: Uint8Array, pixels: number, samplesPerPixel: number, bytesPerSample: number): Uint8Array {
  if (data.length < 64) {
    throw new InputError('dicom.rle-malformed', `RLE frame is ${data.length} bytes, shorter than its 64-byte header`);
  }
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const nSeg = dv.getUint32(0, true);
  const expected = samplesPerPixel * bytesPerSample;
  if (nSeg !== expected) {
    throw new InputError(
      'dicom.rle-malformed',
      `RLE header declares ${nSeg} segments but SamplesPerPixel ${samplesPerPixel} x ${bytesPerSample} bytes per sample needs ${expected}`,
    );
  }
  const offsets: number[] = [];
  for (let s = 0; s < nSeg; s++) offsets.push(dv.getUint32(4 + 4 * s, true));
  const out = new Uint8Array(pixels * expected);
  const stride = expected;
  for (let seg = 0; seg < nSeg; seg++) {
    const sample = Math.floor(seg / bytesPerSample);
    const byteInSample = bytesPerSample - 1 - (seg % bytesPerSample); // MSB segment first -> LE position
    const start = offsets[seg];
    const end = seg + 1 < nSeg ? offsets[seg + 1] : data.length;
    if (start < 64 || start > data.length || end < start || end > data.length) {
      throw new InputError('dicom.rle-malformed', `RLE segment ${seg} offset ${start}..${end} lies outside the ${data.length}-byte frame`);
    }
    let pos = start;
    let px = 0;
    let o = sample * bytesPerSample + byteInSample;
    while (pos < end && px < pixels) {
      const n = data[pos++];
      if (n < 128) {
        // literal run of n+1 bytes
        const cnt = n + 1;
        if (pos + cnt > end) throw new InputError('dicom.rle-malformed', `RLE segment ${seg}: literal run overruns the segment`);
        for (let k = 0; k < cnt && px < pixels; k++, px++, o += stride) out[o] = data[pos + k];
        pos += cnt;
      } else if (n > 128) {
        const cnt = 257 - n;
        const v = data[pos++];
        for (let k = 0; k < cnt && px < pixels; k++, px++, o += stride) out[o] = v;
      } // n === 128: no-op
    }
    if (px < pixels) {
      throw new InputError('dicom.rle-malformed', `RLE segment ${seg} decodes to ${px} bytes, expected ${pixels}: frame truncated`);
    }
  }
  return out;
}
