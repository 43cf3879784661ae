/**
 * The operator surfaces of the API (issue "Operations" §5): GET /metrics, the queue dashboard at /admin/queues with
 * its login, and the settings they read. Health (live/ready) is in ../health.controller.ts.
 */
import type { Provider } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import type { Runtime } from '@app/pipeline';
import { RUNTIME } from '../runtime.provider';
import { AdminSessionController } from './admin-session.controller';
import { ApiMetrics, MetricsController } from './metrics.controller';
import { loadOpsConfig } from './ops-config';
import { QueueDashboard } from './queue-dashboard';
import { OPS_CONFIG } from './tokens';

export { OPS_CONFIG } from './tokens';
export { OpsMetrics } from './metrics';
export { loadOpsConfig, metricsAccess, type OpsConfig } from './ops-config';

export const opsControllers = [MetricsController, AdminSessionController];
export const opsProviders: Provider[] = [
  // the environment like AppConfig; NODE_ENV as the runtime's config has it (one answer to "is this production")
  { provide: OPS_CONFIG, inject: [RUNTIME], useFactory: (rt: Runtime) => ({ ...loadOpsConfig(), NODE_ENV: rt.config.NODE_ENV }) },
  ApiMetrics,
  QueueDashboard,
];
export const opsImports = [TerminusModule.forRoot({ logger: false })];
