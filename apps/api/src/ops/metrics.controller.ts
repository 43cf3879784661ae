import { Controller, Get, Inject, Injectable, type OnApplicationShutdown, Req, Res } from '@nestjs/common';
import { ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import type { Runtime } from '@app/pipeline';
import { Public } from '../auth/roles';
import { RUNTIME } from '../runtime.provider';
import { OpsMetrics } from './metrics';
import { metricsAccess, type OpsConfig } from './ops-config';
import { OPS_CONFIG } from './tokens';

/** The API process's metrics: deployment state always; job execution when this process runs jobs (embedded mode, API_RUNS_WORKER). */
@Injectable()
export class ApiMetrics implements OnApplicationShutdown {
  readonly metrics: OpsMetrics;
  constructor(@Inject(RUNTIME) rt: Runtime, @Inject(OPS_CONFIG) cfg: OpsConfig) {
    const runsJobs = rt.queue.kind === 'in-process' || !!rt.config.API_RUNS_WORKER;
    this.metrics = new OpsMetrics(rt, { role: 'api', stateGauges: true, jobEvents: runsJobs, stateTtlMs: cfg.METRICS_STATE_TTL_MS });
  }
  onApplicationShutdown(): void {
    this.metrics.close();
  }
}

/**
 * GET /metrics for Prometheus. Not behind user login (Prometheus cannot log in with short-lived user tokens): public
 * to the guard, and protected by its own bearer secret METRICS_TOKEN (401 without it; in production, refused with 403
 * until METRICS_TOKEN is set). Its labels carry only closed vocabularies (job types, statuses, reason codes).
 */
@ApiTags('operations')
@Controller()
@Public()
export class MetricsController {
  constructor(
    private readonly api: ApiMetrics,
    @Inject(OPS_CONFIG) private readonly cfg: OpsConfig,
  ) {}

  @Get('metrics')
  @ApiProduces('text/plain')
  @ApiOperation({ summary: 'Prometheus metrics: queue depth per job type, job durations/failures/retries, objects by status, quarantine by reason code. Authorization: Bearer METRICS_TOKEN (when set; required in production)' })
  async scrape(@Req() req: Request, @Res() res: Response) {
    const a = metricsAccess(this.cfg, req.headers.authorization);
    if (!a.ok) {
      if (a.status === 401) res.setHeader('www-authenticate', 'Bearer realm="metrics"');
      res.status(a.status).json({ statusCode: a.status, code: a.code, message: a.message });
      return;
    }
    const m = await this.api.metrics.render();
    res.setHeader('content-type', m.contentType);
    res.setHeader('cache-control', 'no-store');
    res.status(200).send(m.body);
  }
}
