/** Sandbox task (child process): DICOM parse + pixel decoding of one object (see validate.ts). */
import type { DecodeLimits } from './decode';
import { validateDicomPixelsInProcess } from './validate';

export default function validateTask(p: { bytes: Uint8Array; limits?: Partial<DecodeLimits> }) {
  return validateDicomPixelsInProcess(p.bytes, p.limits);
}
