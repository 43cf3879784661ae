import { isInputError } from '@app/core';
import { isPcr, pdl1Cps, pdl1Tps, residualCancerBurden, stromalTil } from '@app/endpoints';

describe('pCR = ypT0/is ypN0', () => {
  test.each([
    ['ypT0', 'ypN0', true],
    ['ypTis', 'ypN0', true],
    ['ypT1mi', 'ypN0', false],
    ['ypT0', 'ypN0(i+)', false],
    ['ypT0', 'ypN1a', false],
    ['ypT2', 'ypN0', false],
  ])('%s %s -> %s', (t, n, exp) => expect(isPcr(t, n)).toBe(exp));
  test('non-ypTNM strings are InputErrors', () => {
    expect(() => isPcr('T0', 'ypN0')).toThrow(/ypT must be/);
    expect(() => isPcr('ypT0', 'N0')).toThrow(/ypN must be/);
  });
});

describe('Residual Cancer Burden (Symmans 2007)', () => {
  test('worked example, computed by hand', () => {
    // d1 = 20 mm, d2 = 10 mm, %CA = 50, %CIS = 20, LN = 2, d_met = 5 mm
    // f_inv = (1 - 0.20) * 0.50 = 0.4 ; d_prim = sqrt(200) = 14.14214 ; f_inv * d_prim = 5.65685
    // 5.65685^0.17 = exp(0.17 * 1.73287) = exp(0.29459) = 1.34259 ; x 1.4 = 1.87962
    // 4 * (1 - 0.75^2) * 5 = 4 * 0.4375 * 5 = 8.75 ; 8.75^0.17 = exp(0.17 * 2.16905) = exp(0.36874) = 1.44590
    // RCB = 1.87962 + 1.44590 = 3.32552 -> > 3.28 -> RCB-III
    const r = residualCancerBurden({ d1Mm: 20, d2Mm: 10, percentCancer: 50, percentInSitu: 20, positiveNodes: 2, largestNodeMetMm: 5 });
    expect(r.fInv).toBeCloseTo(0.4, 10);
    expect(r.index).toBeCloseTo(3.3255, 3);
    expect(r.rcbClass).toBe('RCB-III');
  });
  test('node-negative example: 1.4 * (1 * 10)^0.17 = 1.4 * 1.47911 = 2.07075 -> RCB-II', () => {
    // 10^0.17 = exp(0.17 * 2.302585) = exp(0.391439) = 1.479108
    const r = residualCancerBurden({ d1Mm: 10, d2Mm: 10, percentCancer: 100, percentInSitu: 0, positiveNodes: 0, largestNodeMetMm: 0 });
    expect(r.index).toBeCloseTo(2.07075, 4);
    expect(r.rcbClass).toBe('RCB-II');
  });
  test('class boundaries: all in situ = index 0 = RCB-0; a tiny residuum is RCB-I', () => {
    expect(residualCancerBurden({ d1Mm: 10, d2Mm: 10, percentCancer: 30, percentInSitu: 100, positiveNodes: 0, largestNodeMetMm: 0 }).rcbClass).toBe('RCB-0');
    // 1.4 * (0.01 * 1)^0.17 = 1.4 * exp(0.17 * -4.60517) = 1.4 * 0.45709 = 0.63992 -> RCB-I
    const r = residualCancerBurden({ d1Mm: 1, d2Mm: 1, percentCancer: 1, percentInSitu: 0, positiveNodes: 0, largestNodeMetMm: 0 });
    expect(r.index).toBeCloseTo(0.63992, 4);
    expect(r.rcbClass).toBe('RCB-I');
  });
  test('bad inputs', () => {
    const ok = { d1Mm: 20, d2Mm: 10, percentCancer: 50, percentInSitu: 20, positiveNodes: 2, largestNodeMetMm: 5 };
    for (const bad of [{ percentCancer: 120 }, { d1Mm: -1 }, { positiveNodes: 1.5 }, { positiveNodes: 0 }, { d2Mm: Number.NaN }]) {
      try {
        residualCancerBurden({ ...ok, ...bad });
        throw new Error('expected InputError');
      } catch (e) {
        expect(isInputError(e)).toBe(true);
        expect((e as { code: string }).code).toBe('pathology.bad-rcb-input');
      }
    }
  });
});

describe('TILs and PD-L1', () => {
  test('stromal TIL = mean of field percentages', () => {
    expect(stromalTil([10, 20, 30])).toBe(20);
    expect(() => stromalTil([])).toThrow();
    expect(() => stromalTil([101])).toThrow();
  });
  test('TPS = PD-L1+ tumour cells / viable tumour cells x 100', () => {
    expect(pdl1Tps(200, 50)).toBe(25);
  });
  test('CPS = (PD-L1+ tumour + immune cells) / viable tumour cells x 100, capped at 100', () => {
    expect(pdl1Cps(200, 50, 30)).toBe(40);
    expect(pdl1Cps(100, 80, 90)).toBe(100);
  });
  test('fewer than 100 viable tumour cells or impossible counts are InputErrors', () => {
    expect(() => pdl1Tps(50, 10)).toThrow(/100 viable/);
    expect(() => pdl1Tps(200, 300)).toThrow();
  });
});
