import { InputError } from '@app/core';
import type { Measurability } from './types';

/** Comparisons against RECIST thresholds tolerate this much floating-point rounding (mm). */
export const RECIST_TOLERANCE_MM = 1e-6;

const mm = (x: number): string => `${Math.round(x * 100) / 100} mm`;

/**
 * RECIST 1.1 measurability of one lesion.
 * - Non-nodal: measurable when the long axis >= max(10 mm, 2 x slice thickness), else non-measurable.
 * - Nodal (short axis): >= 15 mm pathological and measurable; 10 to < 15 mm pathological, non-measurable;
 *   < 10 mm normal node (not a lesion).
 * Thresholds are compared with a 1e-6 mm tolerance for floating-point rounding.
 */
export function recistMeasurability(args: { longAxisMm: number; shortAxisMm: number; nodal: boolean; sliceThicknessMm: number }): Measurability {
  const { longAxisMm, shortAxisMm, nodal, sliceThicknessMm } = args;
  if (!Number.isFinite(sliceThicknessMm) || sliceThicknessMm <= 0) {
    throw new InputError('measure.bad-option', `sliceThicknessMm must be a finite positive number, got ${sliceThicknessMm}`);
  }
  const tol = RECIST_TOLERANCE_MM;
  if (nodal) {
    if (shortAxisMm >= 15 - tol) {
      return { measurable: true, category: 'measurable', reason: `nodal: short axis ${mm(shortAxisMm)} >= 15 mm (pathological, measurable)` };
    }
    if (shortAxisMm >= 10 - tol) {
      return {
        measurable: false,
        category: 'non-measurable',
        reason: `nodal: short axis ${mm(shortAxisMm)} is 10 to < 15 mm (pathological, non-measurable)`,
      };
    }
    return { measurable: false, category: 'normal-node', reason: `nodal: short axis ${mm(shortAxisMm)} < 10 mm (normal node, not a lesion)` };
  }
  const min = Math.max(10, 2 * sliceThicknessMm);
  const rule = 2 * sliceThicknessMm > 10 ? `2 x slice thickness ${mm(sliceThicknessMm)}` : '10 mm';
  if (longAxisMm >= min - tol) {
    return { measurable: true, category: 'measurable', reason: `non-nodal: long axis ${mm(longAxisMm)} >= ${mm(min)} (${rule})` };
  }
  return { measurable: false, category: 'non-measurable', reason: `non-nodal: long axis ${mm(longAxisMm)} < ${mm(min)} (${rule})` };
}
