/** Element-wise comparison of our numbers with R's, with a readable failure (label, index, both values). */
export const TOL = 1e-6;

export function expectSame(label: string, ours: readonly (number | null)[], r: readonly (number | null)[] | undefined, tol = TOL): number {
  if (r === undefined) throw new Error(`${label}: R printed nothing`);
  if (ours.length !== r.length) throw new Error(`${label}: ${ours.length} values here, ${r.length} in R\nours: ${ours.join(' ')}\nR:    ${r.join(' ')}`);
  let worst = 0;
  for (let i = 0; i < r.length; i++) {
    const a = ours[i];
    const b = r[i];
    if (a === null || b === null || !Number.isFinite(a) || !Number.isFinite(b)) {
      if (a !== b) throw new Error(`${label}[${i}]: ours ${a}, R ${b}`);
      continue;
    }
    const d = Math.abs(a - b) / Math.max(1, Math.abs(b));
    if (d > tol) throw new Error(`${label}[${i}]: ours ${a}, R ${b} (relative difference ${d.toExponential(2)} > ${tol})`);
    worst = Math.max(worst, d);
  }
  return worst;
}

/** Exact equality of counts. */
export function expectCounts(label: string, ours: readonly number[], r: readonly (number | null)[] | undefined): void {
  if (r === undefined) throw new Error(`${label}: R printed nothing`);
  expect({ label, values: ours }).toEqual({ label, values: r });
}
