import { readPart10, writePart10 } from '@app/deid';

/**
 * Identifiers that the blinded object keeps for the sponsor but the reading service never shows: the sponsor's
 * ClinicalTrialSubjectID (0012,0040). Readers know a subject by its Subject Reading ID only (PatientID,
 * PatientName and ClinicalTrialSubjectReadingID of the blinded object).
 */
export const READER_OMITTED_TAGS: ReadonlySet<string> = new Set(['00120040']);

/**
 * The Part 10 object without the omitted top-level elements; every other byte, pixel data included, is
 * kept as stored (libs/deid's lossless reader/writer). Returns the input itself when nothing is omitted.
 */
export function readerView(part10: Buffer, omit: ReadonlySet<string> = READER_OMITTED_TAGS): Buffer {
  const tags = new Set([...omit].map((t) => parseInt(t, 16)));
  const f = readPart10(part10);
  if (!f.dataset.some((e) => tags.has(e.tag))) return part10;
  return writePart10(f.meta, f.dataset.filter((e) => !tags.has(e.tag)), f.datasetSyntax);
}
