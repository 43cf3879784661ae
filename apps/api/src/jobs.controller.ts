import { BadRequestException, Controller, Get, HttpCode, Inject, Param, ParseUUIDPipe, Post, Query } from '@nestjs/common';
import { ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import type { JobStatus } from '@app/db';
import type { Runtime } from '@app/pipeline';
import { RUNTIME } from './runtime.provider';
import { Roles } from './auth/roles';

const STATUSES: JobStatus[] = ['queued', 'running', 'completed', 'failed', 'enqueue-failed'];

@ApiTags('operations')
@Controller('v1/jobs')
@Roles('admin', 'pipeline')
export class JobsController {
  constructor(@Inject(RUNTIME) private readonly rt: Runtime) {}

  @Get()
  @ApiOperation({ summary: 'The job ledger (failed jobs keep their error)' })
  @ApiQuery({ name: 'status', required: false, enum: STATUSES })
  @ApiQuery({ name: 'name', required: false })
  async list(@Query('status') status?: string, @Query('name') name?: string) {
    if (status && !STATUSES.includes(status as JobStatus)) throw new BadRequestException(`status must be one of ${STATUSES.join(', ')}`);
    const rows = await this.rt.jobs.list({ status: status as JobStatus, name });
    return { items: rows, counts: await this.rt.jobs.countByStatus() };
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
