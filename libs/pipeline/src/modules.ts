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
}

import { dicomModule } from './stages/dicom';
import { wsiModule } from './stages/wsi';
import { endpointsModule } from './stages/endpoints';

export const pipelineModules: PipelineModule[] = [dicomModule, wsiModule, endpointsModule];
