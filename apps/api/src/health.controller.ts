import { Controller, Get, HttpException, Inject } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { HealthCheck, HealthCheckService, HealthIndicatorService } from '@nestjs/terminus';
import type { Runtime } from '@app/pipeline';
import { RUNTIME } from './runtime.provider';
import { Public } from './auth/roles';
import { OPS_CONFIG } from './ops/tokens';
import type { OpsConfig } from './ops/ops-config';
import { readinessChecks } from './ops/readiness';

/**
 * Health for people and for Kubernetes. Public: probes cannot log in; the answers hold check names, timings and
 * dependency error messages, never data.
 *  - GET /health/live: liveness, no dependency checked (a database outage must not restart every pod).
 *  - GET /health/ready: readiness (Terminus): database, Redis (Bull driver only), object store; 503 when any is down.
 *  - GET /health: the combined report (mode, every check) kept for people and the CLI; 503 when any is down.
 */
@ApiTags('operations')
@Controller()
@Public()
export class HealthController {
  constructor(
    @Inject(RUNTIME) private readonly rt: Runtime,
    @Inject(OPS_CONFIG) private readonly ops: OpsConfig,
    private readonly health: HealthCheckService,
    private readonly indicator: HealthIndicatorService,
  ) {}

  @Get('health')
  @ApiOperation({ summary: 'Checks the database, the queue and the object store; 503 when any is down' })
  async combined() {
    const h = await this.rt.health();
    if (!h.ok) throw new HttpException(h, 503);
    return h;
  }

  @Get('health/live')
  @HealthCheck()
  @ApiOperation({ summary: 'Liveness: the process answers (no dependency checked); the Kubernetes livenessProbe' })
  live() {
    return this.health.check([() => this.indicator.check('process').up({ uptimeS: Math.round(process.uptime()) })]);
  }

  @Get('health/ready')
  @HealthCheck()
  @ApiOperation({ summary: 'Readiness: database, Redis (when the Bull driver is used) and object store reachable; 503 when any is not. The Kubernetes readinessProbe' })
  ready() {
    return this.health.check(
      readinessChecks(this.rt).map((c) => () => this.indicator.check(c.name).attempt(async ({ signal }) => c.run(signal)).withTimeout(this.ops.READY_CHECK_TIMEOUT_MS)),
    );
  }
}
