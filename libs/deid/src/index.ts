export { deidentify, DEID_METHOD_CODES, DEID_IMPLEMENTATION_UID, type DeidContext, type DeidResult, type DeidReport } from './deidentify';
export { burnedInAnnotationCheck, type BurnedInResult, type HeaderLike } from './burned-in';
export { pseudonymUid, deriveDateShiftDays, shiftDA, shiftDT } from './pseudonyms';
export { PROFILE_TABLE, KEEP_UID_TAGS, NEVER_RETAIN_TEMPORAL, SAFE_DESCRIPTOR_WORDS, isCurveOrOverlayGroup, type TableEntry, type ProfileAction, type AppliedAction } from './table';
export { readPart10, writePart10, type Element, type ParsedFile } from './io';
