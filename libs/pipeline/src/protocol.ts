import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { type AppConfig, ConfigError } from '@app/core';
import { parseSelectionRules, type SeriesSelectionRules } from '@app/dicom';

/**
 * Per-protocol settings, from PROTOCOL_CONFIG (a JSON file) or the defaults below. Derivation
 * choices live here so they are versioned with the trial and stored with every derived dataset.
 */
const schema = z
  .object({
    protocolId: z.string().min(1).optional(),
    sponsorName: z.string().optional(),
    protocolName: z.string().optional(),
    /** Series selection rules: only selected series go on to inference. */
    seriesSelection: z.unknown().optional(),
    /** Endpoint derivation settings (partial ProtocolSettings of @app/endpoints, validated there). */
    endpoints: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();

export interface ProtocolConfig {
  protocolId: string;
  sponsorName?: string;
  protocolName?: string;
  seriesSelection: SeriesSelectionRules;
  endpoints: Record<string, unknown>;
}

/** A typical RECIST CT protocol: original primary axial CT, slices of at most 5 mm. */
export const DEFAULT_SERIES_SELECTION: SeriesSelectionRules = {
  modality: ['CT'],
  imageTypeIncludes: ['ORIGINAL', 'PRIMARY'],
  orientation: 'axial',
  maxSliceThicknessMm: 5,
  minSlices: 10,
};

export function loadProtocolConfig(config: Pick<AppConfig, 'PROTOCOL_CONFIG' | 'PROTOCOL_ID'>): ProtocolConfig {
  let raw: unknown = {};
  if (config.PROTOCOL_CONFIG) {
    try {
      raw = JSON.parse(readFileSync(config.PROTOCOL_CONFIG, 'utf8'));
    } catch (e) {
      throw new ConfigError('PROTOCOL_CONFIG', `cannot read ${config.PROTOCOL_CONFIG}: ${(e as Error).message}`);
    }
  }
  const p = schema.safeParse(raw);
  if (!p.success) throw new ConfigError('PROTOCOL_CONFIG', p.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
  return {
    protocolId: p.data.protocolId ?? config.PROTOCOL_ID,
    sponsorName: p.data.sponsorName,
    protocolName: p.data.protocolName,
    seriesSelection: p.data.seriesSelection === undefined ? DEFAULT_SERIES_SELECTION : parseSelectionRules(p.data.seriesSelection),
    endpoints: p.data.endpoints ?? {},
  };
}
