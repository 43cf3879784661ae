import type { JobDefinition } from '@app/queue';
import type { KindProcessor, PipelineContext, Sniffer } from '@app/ingest';

/**
 * A pipeline module plugs one stage into the spine: processors for object kinds, extra job types,
 * and sniffers for kind detection. Stages register here; nothing else changes in the spine.
 */
export interface PipelineModule {
  name: string;
  processors?: (ctx: PipelineContext) => KindProcessor[];
  jobs?: (ctx: PipelineContext) => JobDefinition<any>[];
  sniffers?: Sniffer[];
  /** Releases what the module holds for a runtime (e.g. inference worker threads) when the runtime closes. */
  close?: (ctx: PipelineContext) => Promise<void>;
}

import { dicomModule } from './stages/dicom';
import { wsiModule } from './stages/wsi';
import { endpointsModule } from './stages/endpoints';
import { aiModule } from './stages/ai';

export const pipelineModules: PipelineModule[] = [dicomModule, wsiModule, endpointsModule, aiModule];
