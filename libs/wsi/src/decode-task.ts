/** Sandbox task (child process): decode one TIFF strip/tile or one DICOM WSI frame to RGB (see isolate.ts). */
import { asBytes, type BlockTask } from './isolate';
import { decodeTiffBlock } from './tiff-image';
import { decodeDicomFrame } from './dicom-slide';

export default async function decodeTask(t: BlockTask): Promise<Uint8Array> {
  const raw = asBytes(t.raw);
  return t.kind === 'tiff' ? decodeTiffBlock(raw, t.info, t.tw, t.th, t.what) : decodeDicomFrame(raw, t.info, t.tw, t.th, t.what);
}
