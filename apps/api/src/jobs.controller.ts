import { BadRequestException, Controller, Get, HttpCode, Inject, Param, ParseUUIDPipe, Post, Query } from '@nestjs/common';
import { ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import type { JobListStatus } from '@app/db';
import type { Runtime } from '@app/pipeline';
import { RUNTIME } from './runtime.provider';
import { Roles } from './auth/roles';

/** Ledger statuses, plus `stuck`: queued/running rows whose worker's lease expired (its process died), being recovered. */
const STATUSES: JobListStatus[] = ['queued', 'running', 'completed', 'failed', 'enqueue-failed', 'stuck'];

@ApiTags('operations')
@Controller('v1/jobs')
@Roles('admin', 'pipeline')
export class JobsController {
  constructor(@Inject(RUNTIME) private readonly rt: Runtime) {}

  @Get()
  @ApiOperation({ summary: 'The job ledger (failed jobs keep their error); status=stuck lists jobs whose worker died, being recovered' })
  @ApiQuery({ name: 'status', required: false, enum: STATUSES })
  @ApiQuery({ name: 'name', required: false })
  async list(@Query('status') status?: string, @Query('name') name?: string) {
    if (status && !STATUSES.includes(status as JobListStatus)) throw new BadRequestException(`status must be one of ${STATUSES.join(', ')}`);
    const rows = await this.rt.jobs.list({ status: status as JobListStatus, name });
    return { items: rows, counts: { ...(await this.rt.jobs.countByStatus()), stuck: await this.rt.jobs.countStuck() } };
  }

  @Get('depth')
  @ApiOperation({ summary: 'Queue depth per job type (waiting, delayed, active, stuck, failed) and per-worker concurrency (shared pool, heavy lanes)' })
  async depth() {
    return { depth: await this.rt.queue.depth(), concurrency: this.rt.queue.concurrency(), transport: this.rt.queue.kind };
  }

  @Post(':id/retry')
  @HttpCode(202)
  @ApiOperation({ summary: 'Re-run a failed job from its first attempt' })
  async retry(@Param('id', ParseUUIDPipe) id: string) {
    try {
      await this.rt.queue.retry(id);
    } catch (e) {
      throw new BadRequestException((e as Error).message);
    }
    return { retried: id };
  }
}
