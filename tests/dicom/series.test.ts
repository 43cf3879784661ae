import { ConfigError } from '@app/core';
import {
  groupInstances,
  orientationOf,
  parseDicom,
  parseSelectionRules,
  selectSeries,
  summarizeSeries,
  type SeriesSummary,
} from '@app/dicom';
import { axialSeries, ctSlice } from './helpers';

const protocol = {
  modality: ['CT'],
  imageTypeIncludes: ['ORIGINAL', 'PRIMARY'],
  imageTypeExcludes: ['LOCALIZER'],
  orientation: 'axial' as const,
  maxSliceThicknessMm: 5,
  minSlices: 3,
};

const summary = (over: Partial<SeriesSummary> = {}): SeriesSummary => ({
  seriesInstanceUid: '1.2.3',
  modality: 'CT',
  imageType: ['ORIGINAL', 'PRIMARY', 'AXIAL'],
  orientation: 'axial',
  sliceThicknessMm: 2.5,
  numSlices: 120,
  transferSyntaxUids: ['1.2.840.10008.1.2.1'],
  ...over,
});

describe('series selection rules', () => {
  it('selects a conforming series with no reasons', () => {
    expect(selectSeries(protocol, summary())).toEqual({ selected: true, reasons: [] });
  });

  it('names every failed rule with the actual value', () => {
    const r = selectSeries(
      protocol,
      summary({ modality: 'MR', imageType: ['DERIVED', 'SECONDARY', 'LOCALIZER'], orientation: 'coronal', sliceThicknessMm: 7.5, numSlices: 2 }),
    );
    expect(r.selected).toBe(false);
    expect(r.reasons).toEqual([
      'modality MR not in [CT]',
      'image type [DERIVED, SECONDARY, LOCALIZER] lacks ORIGINAL, PRIMARY',
      'image type [DERIVED, SECONDARY, LOCALIZER] includes excluded LOCALIZER',
      'orientation coronal is not axial',
      'slice thickness 7.5 mm > 5 mm',
      '2 slices < 3 required',
    ]);
  });

  it('an unknown value fails a rule that needs it, saying so', () => {
    const r = selectSeries({ maxSliceThicknessMm: 5 }, summary({ sliceThicknessMm: undefined }));
    expect(r).toEqual({ selected: false, reasons: ['slice thickness unknown (no SliceThickness) but at most 5 mm is required'] });
  });

  it('validates the protocol configuration with zod (unknown keys, wrong types, bad regex)', () => {
    expect(() => parseSelectionRules({ maxSliceThicknessMm: -1 })).toThrow(ConfigError);
    expect(() => parseSelectionRules({ modality: 'CT' })).toThrow(/modality/);
    expect(() => parseSelectionRules({ maxSliceThickness: 5 })).toThrow(/maxSliceThickness/);
    expect(() => parseSelectionRules({ seriesDescriptionMatches: '(' })).toThrow(/invalid regular expression/);
    expect(() => parseSelectionRules({ minSliceThicknessMm: 5, maxSliceThicknessMm: 2 })).toThrow(/greater/);
    expect(parseSelectionRules(protocol)).toEqual(protocol);
  });

  it('description patterns and body part', () => {
    const r = selectSeries(
      { seriesDescriptionMatches: 'chest|thorax', seriesDescriptionExcludes: 'scout', bodyPartExamined: ['CHEST'] },
      summary({ seriesDescription: 'Scout 2 planes', bodyPartExamined: 'HEAD' }),
    );
    expect(r.reasons).toEqual([
      "body part HEAD not in [CHEST]",
      "series description 'Scout 2 planes' does not match /chest|thorax/i",
      "series description 'Scout 2 planes' matches excluded /scout/i",
    ]);
  });

  it('summarises a real synthetic series and applies the rules end to end', () => {
    const thick = axialSeries(4).map((s) => ctSlice({ ...s, sliceThickness: 7.5 }));
    const groups = groupInstances(thick.map((b) => parseDicom(b)));
    const sum = summarizeSeries(groups[0].studies[0].series[0]);
    expect(sum).toMatchObject({ modality: 'CT', orientation: 'axial', sliceThicknessMm: 7.5, numSlices: 4, imageType: ['ORIGINAL', 'PRIMARY', 'AXIAL'] });
    expect(selectSeries(protocol, sum)).toEqual({ selected: false, reasons: ['slice thickness 7.5 mm > 5 mm'] });
  });
});

describe('orientationOf', () => {
  it('classifies standard planes and oblique', () => {
    expect(orientationOf([1, 0, 0, 0, 1, 0])).toBe('axial');
    expect(orientationOf([1, 0, 0, 0, 0, -1])).toBe('coronal');
    expect(orientationOf([0, 1, 0, 0, 0, -1])).toBe('sagittal');
    const a = (45 * Math.PI) / 180;
    expect(orientationOf([1, 0, 0, 0, Math.cos(a), Math.sin(a)])).toBe('oblique');
    const small = (10 * Math.PI) / 180;
    expect(orientationOf([1, 0, 0, 0, Math.cos(small), Math.sin(small)])).toBe('axial');
    expect(orientationOf(undefined)).toBe('unknown');
  });
});
