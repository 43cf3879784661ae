/**
 * Pathology endpoints: pathological complete response, Residual Cancer Burden (Symmans et al., J Clin
 * Oncol 2007;25:4414-4422), stromal TILs, PD-L1 TPS and CPS.
 */
import { InputError } from '@app/core';

function req(ok: boolean, code: string, msg: string): void {
  if (!ok) throw new InputError(code, msg);
}
const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/**
 * Pathological complete response, pCR = ypT0/is ypN0 (FDA 2020 guidance "Pathological Complete Response
 * in Neoadjuvant Treatment of High-Risk Early-Stage Breast Cancer"): no residual invasive cancer in the
 * breast (ypT0 or ypTis) and none in the nodes (ypN0). Isolated tumour cells (ypN0(i+)) are not pCR under
 * this definition. Throws InputError on strings that are not ypT / ypN categories.
 */
export function isPcr(ypT: string, ypN: string): boolean {
  const t = ypT.trim();
  const n = ypN.trim();
  req(/^ypT(X|0|is|1mi|1a|1b|1c|1|2|3|4a|4b|4c|4d|4)(\(m\))?$/i.test(t), 'pathology.bad-ypt', `ypT must be a ypT category such as ypT0, ypTis, ypT1c; got ${JSON.stringify(ypT)}`);
  req(/^ypN(X|0|0\(i\+\)|0\(mol\+\)|1mi|1a|1b|1c|1|2a|2b|2|3a|3b|3c|3)$/i.test(n), 'pathology.bad-ypn', `ypN must be a ypN category such as ypN0, ypN1a; got ${JSON.stringify(ypN)}`);
  return /^ypT(0|is)$/i.test(t) && /^ypN0$/i.test(n);
}

export interface RcbInput {
  d1Mm: number;
  d2Mm: number;
  percentCancer: number;
  percentInSitu: number;
  positiveNodes: number;
  largestNodeMetMm: number;
}

export interface RcbResult {
  /** RCB index (unrounded). */
  index: number;
  /** 'RCB-0' (pCR), 'RCB-I' (<= 1.36), 'RCB-II' (<= 3.28), 'RCB-III' (> 3.28). */
  rcbClass: 'RCB-0' | 'RCB-I' | 'RCB-II' | 'RCB-III';
  /** Intermediate values, for traceability. */
  fInv: number;
  dPrim: number;
}

/**
 * Residual Cancer Burden (Symmans 2007):
 *   f_inv = (1 - %CIS/100) * (%CA/100)
 *   d_prim = sqrt(d1 * d2)
 *   RCB = 1.4 * (f_inv * d_prim)^0.17 + [4 * (1 - 0.75^LN) * d_met]^0.17
 * Classes: RCB-0 when index = 0 (pCR: no invasive carcinoma in breast or nodes); RCB-I <= 1.36;
 * RCB-II <= 3.28; RCB-III above. Validates ranges (InputError `pathology.bad-rcb-input`).
 */
export function residualCancerBurden(x: RcbInput): RcbResult {
  const bad = (field: string, why: string, v: unknown) => new InputError('pathology.bad-rcb-input', `RCB input ${field} ${why}, got ${JSON.stringify(v)}`, { field });
  for (const [k, v] of Object.entries(x)) if (!finite(v) || v < 0) throw bad(k, 'must be a finite number >= 0', v);
  if (x.percentCancer > 100) throw bad('percentCancer', 'must be 0..100', x.percentCancer);
  if (x.percentInSitu > 100) throw bad('percentInSitu', 'must be 0..100', x.percentInSitu);
  if (!Number.isInteger(x.positiveNodes)) throw bad('positiveNodes', 'must be an integer count', x.positiveNodes);
  if (x.d1Mm > 500 || x.d2Mm > 500) throw bad('d1Mm/d2Mm', 'must be <= 500 mm', [x.d1Mm, x.d2Mm]);
  if (x.positiveNodes === 0 && x.largestNodeMetMm > 0) throw bad('largestNodeMetMm', 'must be 0 when positiveNodes is 0', x.largestNodeMetMm);
  if (x.positiveNodes > 0 && x.largestNodeMetMm === 0) throw bad('largestNodeMetMm', 'must be > 0 when positiveNodes > 0', x.largestNodeMetMm);
  const fInv = (1 - x.percentInSitu / 100) * (x.percentCancer / 100);
  const dPrim = Math.sqrt(x.d1Mm * x.d2Mm);
  const primary = 1.4 * Math.pow(fInv * dPrim, 0.17);
  const nodal = Math.pow(4 * (1 - Math.pow(0.75, x.positiveNodes)) * x.largestNodeMetMm, 0.17);
  const index = primary + nodal;
  const rcbClass = index === 0 ? 'RCB-0' : index <= 1.36 ? 'RCB-I' : index <= 3.28 ? 'RCB-II' : 'RCB-III';
  return { index, rcbClass, fInv, dPrim };
}

/**
 * Stromal TILs (International TILs Working Group 2014, Salgado et al., Ann Oncol 2015): the mean % of stromal
 * area occupied by mononuclear inflammatory cells, averaged over the scored fields. No rounding is applied:
 * the mean of the field percentages (0..100) is returned.
 */
export function stromalTil(fieldPercents: number[]): number {
  req(fieldPercents.length > 0, 'pathology.bad-til', 'stromal TIL needs at least one scored field');
  for (const p of fieldPercents) req(finite(p) && p >= 0 && p <= 100, 'pathology.bad-til', `stromal TIL field percentages must be 0..100, got ${JSON.stringify(p)}`);
  return fieldPercents.reduce((a, b) => a + b, 0) / fieldPercents.length;
}

function checkCounts(viable: number, pos: number, immune: number): void {
  req(Number.isInteger(viable) && viable >= 0, 'pathology.bad-pdl1', `viable tumour cell count must be a non-negative integer, got ${viable}`);
  req(viable >= 100, 'pathology.bad-pdl1', `PD-L1 scoring needs >= 100 viable tumour cells (22C3 interpretation manuals), got ${viable}`);
  req(Number.isInteger(pos) && pos >= 0 && pos <= viable, 'pathology.bad-pdl1', `PD-L1 positive tumour cells must be an integer in 0..viable (${viable}), got ${pos}`);
  req(Number.isInteger(immune) && immune >= 0, 'pathology.bad-pdl1', `PD-L1 positive immune cells must be a non-negative integer, got ${immune}`);
}

/** PD-L1 Tumour Proportion Score = positive tumour cells / viable tumour cells x 100 (0..100). */
export function pdl1Tps(viableTumourCells: number, positiveTumourCells: number): number {
  checkCounts(viableTumourCells, positiveTumourCells, 0);
  return (positiveTumourCells * 100) / viableTumourCells;
}

/**
 * PD-L1 Combined Positive Score = (PD-L1+ tumour cells + PD-L1+ lymphocytes and macrophages) / viable
 * tumour cells x 100, capped at 100 (PD-L1 IHC 22C3 pharmDx interpretation manual).
 */
export function pdl1Cps(viableTumourCells: number, positiveTumourCells: number, positiveImmuneCells: number): number {
  checkCounts(viableTumourCells, positiveTumourCells, positiveImmuneCells);
  return Math.min(100, ((positiveTumourCells + positiveImmuneCells) * 100) / viableTumourCells);
}
