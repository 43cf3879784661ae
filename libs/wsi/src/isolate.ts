/**
 * Tile / strip / frame decoding in the decoder sandbox (@app/core sandbox: child processes with a time
 * and memory limit). Directory parsing, validation and positioned reads stay in the calling process;
 * only the raw bytes of one block cross to a child, and the RGB block comes back. A decoder that dies,
 * runs out of memory or time there becomes an InputError naming the file and the block.
 */
import { join } from 'node:path';
import { runSandboxed } from '@app/core';
import type { TiffBlockInfo } from './tiff-image';
import type { DicomFrameInfo } from './dicom-slide';
import type { RegionTask } from './region-task';

export type BlockTask =
  | { kind: 'tiff'; raw: Uint8Array; info: TiffBlockInfo; tw: number; th: number; what: string }
  | { kind: 'dicom'; raw: Uint8Array; info: DicomFrameInfo; tw: number; th: number; what: string };

const TASK = join(__dirname, 'decode-task');
const REGION_TASK = join(__dirname, 'region-task');

/**
 * Runs `task` in the sandbox, or `inProcess()` when `task` is null (sandbox disabled by the caller:
 * `OpenSlideOptions.sandbox: false`, or WSI_SANDBOX=off).
 */
export async function decodeIsolated(task: BlockTask | null, inProcess: () => Promise<Uint8Array>, file: string, step: string): Promise<Uint8Array> {
  if (!task) return inProcess();
  return asBytes(await runSandboxed<Uint8Array>(TASK, task, { file, step })); // the sandbox's time limit (default 8 s; a block decodes in milliseconds)
}

/**
 * A region painted from its raw blocks and resized (region-task.ts), in the sandbox, under the sandbox's time limit
 * (a region of the slide map's size decodes in well under a second; one that does not is read again block by block).
 */
export async function decodeRegionIsolated(task: RegionTask, file: string, step: string): Promise<Uint8Array> {
  return asBytes(await runSandboxed<Uint8Array>(REGION_TASK, task, { file, step }));
}

/** Bytes that crossed the process boundary as a Uint8Array, or as the bare buffer under it. */
export const asBytes = (x: Uint8Array | ArrayBufferLike): Uint8Array => (x instanceof Uint8Array ? x : new Uint8Array(x));

/** Whether readers decode in the sandbox by default (WSI_SANDBOX=off turns it off, e.g. for benchmarks of trusted files). */
export const sandboxDefault = (): boolean => process.env.WSI_SANDBOX !== 'off';
