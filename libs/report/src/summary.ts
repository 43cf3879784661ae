/**
 * The report's headline in plain text (CLI `report`, `npm run demo`): median PFS by arm with its CI, the hazard
 * ratio, the ORR difference and the agreement summary, each line formatted from statistics.json entries.
 */
import { formatEntry } from './html';
import type { StatEntry } from './statistics';

export interface StatisticsJson {
  cut: { cutId: string; blinded: boolean };
  arms: string[];
  reference: string | null;
  statistics: StatEntry[];
  notes: { section: string; code: string; message: string }[];
  agreement?: { origin: string | null };
}

/** Headline lines of a report (no arm anywhere for a blinded cut: its entries are pooled). */
export function headlineLines(s: StatisticsJson): string[] {
  const e = new Map(s.statistics.map((x) => [x.id, x]));
  const out: string[] = [];
  const f = (id: string) => {
    const x = e.get(id);
    return x ? formatEntry(x) : null;
  };
  const groups = s.arms.length ? s.arms : [s.cut.blinded ? 'All subjects (blinded)' : 'All subjects'];
  for (const g of groups) {
    const med = f(`PFS.median.${g}`);
    if (med !== null) out.push(`median PFS ${g}: ${med} months (95 % CI), ${e.get(`PFS.events.${g}`)?.value ?? '?'} events / ${e.get(`PFS.n.${g}`)?.value ?? '?'} subjects`);
  }
  for (const g of s.arms.filter((a) => a !== s.reference)) {
    const hr = f(`PFS.hr.${g}`);
    if (hr !== null) out.push(`PFS hazard ratio ${g} vs ${s.reference}: ${hr} (95 % CI, Cox Efron), log-rank p ${f('PFS.logrank.p') ?? 'NE'}`);
  }
  for (const g of groups) {
    const orr = f(`CRSP.rate.${g}`);
    if (orr !== null) out.push(`ORR (confirmed) ${g}: ${orr} % (95 % CI, Clopper-Pearson), n = ${e.get(`CRSP.rate.${g}`)!.subjects}`);
  }
  for (const g of s.arms.filter((a) => a !== s.reference)) {
    const d = f(`CRSP.diff.${g}`);
    if (d !== null) out.push(`ORR difference ${g} - ${s.reference}: ${d} percentage points (95 % CI, Miettinen-Nurminen)`);
  }
  const rr = 'RADIOLOGIST 1 vs RADIOLOGIST 2';
  const sim = s.agreement?.origin === 'SIMULATED' ? ' [SIMULATED reads]' : '';
  if (e.has(`agreement.lesions.${rr}.icc21`)) {
    out.push(`agreement${sim}: diameters ICC(2,1) ${f(`agreement.lesions.${rr}.icc21`)}, Bland-Altman bias ${f(`agreement.lesions.${rr}.bias`)} mm, LoA ${f(`agreement.lesions.${rr}.lloa`)?.split(' ')[0]} to ${f(`agreement.lesions.${rr}.uloa`)?.split(' ')[0]} mm, within 2 mm ${f(`agreement.lesions.${rr}.within2mm`)?.split(' ')[0]} %`);
    out.push(`agreement${sim}: time-point kappa ${f(`agreement.ovr.${rr}.kappa.unweighted`)}, quadratic ${f(`agreement.ovr.${rr}.kappa.quadratic`)}; same confirmed BOR ${f(`agreement.bor.${rr}.agree`)?.split(' ')[0]} %, same PD date ${f(`agreement.pd.${rr}.date`)?.split(' ')[0]} %`);
    const ai = ['AI vs RADIOLOGIST 1', 'AI vs RADIOLOGIST 2'].filter((p) => e.has(`agreement.lesions.${p}.icc21`)).map((p) => `${p} ICC ${f(`agreement.lesions.${p}.icc21`)?.split(' ')[0]}, kappa ${f(`agreement.ovr.${p}.kappa.unweighted`)?.split(' ')[0]}`);
    if (ai.length) out.push(`agreement${sim}: ${ai.join('; ')}`);
  }
  if (e.has('agreement.adjudication.rate')) {
    const readers = s.statistics.filter((x) => /^agreement\.adjudication\.reader\..*\.selected$/.test(x.id)).map((x) => `${x.group} ${x.value === null ? 'NE' : formatEntry({ ...x, lower: undefined, upper: undefined })} %`);
    out.push(`adjudication${sim}: ${f('agreement.adjudication.rate')} % of subjects; adjudicator chose ${readers.join(', ')}`);
  }
  if (e.has('agreement.ai.all readers.accept')) out.push(`AI effect${sim}: accepted ${f('agreement.ai.all readers.accept')?.split(' ')[0]} %, edited ${f('agreement.ai.all readers.edit')?.split(' ')[0]} %, rejected ${f('agreement.ai.all readers.reject')?.split(' ')[0]} %; median edit ${f('agreement.ai.all readers.editmm')?.split(' ')[0]} mm`);
  else if (s.notes.some((n) => n.code === 'analysis.no-reads')) out.push('agreement: none (the cut holds one read per subject)');
  return out;
}
