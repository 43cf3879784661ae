/**
 * Compares kaplanMeier / survivalQuantiles / survivalAt / numberAtRisk with R survival on one data set,
 * for every confidence transform. One R script per data set.
 */
import { CONF_TYPES, kaplanMeier, medianSurvival, numberAtRisk, sortedLevels, survivalAt, survivalQuantiles, type TimeToEvent } from '@app/analysis';
import { expectCounts, expectSame } from './compare';
import { recordColumns, rStrings, runR } from './r';

export const PROBS = [0.1, 0.25, 0.5, 0.75, 0.9];

/** Returns the largest relative difference seen (for the test's log). */
export async function compareKmWithR(recs: readonly TimeToEvent[], landmarks: number[], atRisk: number[], confLevel = 0.95): Promise<number> {
  const levels = sortedLevels(recs.map((r) => r.group ?? 'all'));
  const r = await runR(
    `
lv <- ${rStrings(levels)}
lm <- c(${landmarks.join(',')})
ar <- c(${atRisk.join(',')})
for (ct in c(${rStrings(CONF_TYPES)})) for (i in seq_along(lv)) {
  fi <- survfit(Surv(time, status) ~ 1, data = d[d$grp == lv[i], ], conf.type = ct, conf.int = ${confLevel})
  p <- paste(ct, i, "", sep = ":")
  for (v in c("time", "n.risk", "n.event", "n.censor", "surv", "std.err", "lower", "upper")) out(paste0(p, v), fi[[v]])
  q <- quantile(fi, probs = c(${PROBS.join(',')}))
  out(paste0(p, "q"), q$quantile); out(paste0(p, "qlo"), q$lower); out(paste0(p, "qhi"), q$upper)
  tab <- summary(fi)$table
  out(paste0(p, "median"), tab[c("median", "${confLevel}LCL", "${confLevel}UCL")])
  s <- tryCatch(summary(fi, times = lm), error = function(e) NULL)
  if (!is.null(s)) for (v in c("time", "n.risk", "n.event", "surv", "std.err", "lower", "upper")) out(paste0(p, "lm.", v), s[[v]])
  out(paste0(p, "atrisk"), summary(fi, times = ar, extend = TRUE)$n.risk)
}
`,
    recordColumns(recs),
  );
  let worst = 0;
  for (const confType of CONF_TYPES) {
    const curves = kaplanMeier(recs, { confType, confLevel });
    expect(curves.map((c) => c.group ?? 'all')).toEqual(levels);
    curves.forEach((c, k) => {
      const p = `${confType}:${k + 1}:`;
      const g = `${c.group} ${confType}`;
      expect(c.time).toEqual(r[`${p}time`]);
      expectCounts(`${g} n.risk`, c.nRisk, r[`${p}n.risk`]);
      expectCounts(`${g} n.event`, c.nEvent, r[`${p}n.event`]);
      expectCounts(`${g} n.censor`, c.nCensor, r[`${p}n.censor`]);
      worst = Math.max(worst, expectSame(`${g} surv`, c.surv, r[`${p}surv`]));
      worst = Math.max(worst, expectSame(`${g} std.err`, c.stdErr, r[`${p}std.err`]));
      worst = Math.max(worst, expectSame(`${g} lower`, c.lower, r[`${p}lower`]));
      worst = Math.max(worst, expectSame(`${g} upper`, c.upper, r[`${p}upper`]));
      const q = survivalQuantiles(c, PROBS);
      worst = Math.max(worst, expectSame(`${g} quantile`, q.map((x) => x.time), r[`${p}q`]));
      worst = Math.max(worst, expectSame(`${g} quantile lower`, q.map((x) => x.lower), r[`${p}qlo`]));
      worst = Math.max(worst, expectSame(`${g} quantile upper`, q.map((x) => x.upper), r[`${p}qhi`]));
      const m = medianSurvival(c);
      worst = Math.max(worst, expectSame(`${g} print.survfit median`, [m.time, m.lower, m.upper], r[`${p}median`]));
      // landmarks: R drops those after the last time (extend = FALSE); we return them null with a note
      const lm = survivalAt(c, landmarks);
      const kept = lm.filter((x) => x.surv !== null);
      for (const x of lm) if (x.surv === null) expect(x.note).toMatch(/follow-up ends/);
      if (kept.length) {
        expect(kept.map((x) => x.time)).toEqual(r[`${p}lm.time`]);
        expectCounts(`${g} landmark n.risk`, kept.map((x) => x.nRisk), r[`${p}lm.n.risk`]);
        let cum = 0;
        expectCounts(`${g} landmark cumulative events`, kept.map((x) => x.nEvent), r[`${p}lm.n.event`]!.map((e) => (cum += e!)));
        worst = Math.max(worst, expectSame(`${g} landmark surv`, kept.map((x) => x.surv), r[`${p}lm.surv`]));
        worst = Math.max(worst, expectSame(`${g} landmark std.err`, kept.map((x) => x.stdErr), r[`${p}lm.std.err`]));
        worst = Math.max(worst, expectSame(`${g} landmark lower`, kept.map((x) => x.lower), r[`${p}lm.lower`]));
        worst = Math.max(worst, expectSame(`${g} landmark upper`, kept.map((x) => x.upper), r[`${p}lm.upper`]));
      } else expect(r[`${p}lm.time`]).toBeUndefined();
      expectCounts(`${g} at risk`, numberAtRisk(c, atRisk).map((x) => x.nRisk), r[`${p}atrisk`]);
    });
  }
  return worst;
}
