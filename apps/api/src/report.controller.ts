import { ConflictException, Controller, Get, Inject, InternalServerErrorException, NotFoundException, Param, Res, StreamableFile } from '@nestjs/common';
import { ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { isInputError } from '@app/core';
import { type DataCutRow, EndpointsRepository } from '@app/db';
import { cutReportFile, ReportJobFailedError, requestCutReport, type Runtime } from '@app/pipeline';
import { auditActor, type AuthUser } from '@app/auth';
import { RUNTIME } from './runtime.provider';
import { CurrentUser, Roles } from './auth/roles';
import { visibleCut } from './cut-access';

const PLOT_FILE = /^([a-z0-9-]{1,64})\.(svg|png)$/;

/**
 * The report of a data cut (libs/report; stored with the cut by libs/pipeline stages/report.ts): the self-contained
 * HTML page, statistics.json (every number with its dataset, parameter and subject count), each plot as SVG or PNG,
 * and the report manifest. Made by the `cut.report` job (queued when the cut is made, or by the first request for a
 * cut without one) on a worker, never in the API process, and stored write-once next to the cut's files. A request
 * for a report not made yet waits up to REPORT_WAIT_MS for its job, then answers 202 { status, jobId } with
 * Retry-After: ask the same URL again. Same access as the cut: biostatisticians and admins; an unblinded cut's report
 * only for biostatisticians holding the 'unblinding' grant.
 */
@ApiTags('endpoints')
@Controller('v1')
@Roles('biostatistician', 'admin')
export class ReportController {
  private readonly repo: EndpointsRepository;
  constructor(@Inject(RUNTIME) private readonly rt: Runtime) {
    this.repo = new EndpointsRepository(rt.db);
  }

  private visibleCut(cutId: string, user: AuthUser): Promise<DataCutRow> {
    return visibleCut(this.repo, cutId, user, 'the report of an unblinded cut is');
  }


  private async send(cutId: string, path: string, type: string, user: AuthUser, res: Response, download = false): Promise<StreamableFile | { status: string; jobId: string; progress: number; retryAfterS: number }> {
    const cut = await this.visibleCut(cutId, user);
    let bytes: Buffer | null;
    try {
      const s = await requestCutReport(this.rt, cut, { name: auditActor(user), roles: user.roles }, this.rt.config.REPORT_WAIT_MS);
      if (s.state === 'pending') {
        // being made: ask again (the same URL) in a few seconds
        const retryAfterS = 5;
        res.status(202).setHeader('retry-after', String(retryAfterS));
        return { status: s.status, jobId: s.jobId, progress: s.progress, retryAfterS };
      }
      bytes = await cutReportFile(this.rt, cut, s.manifest, path);
    } catch (e) {
      if (isInputError(e)) throw new ConflictException({ statusCode: 409, error: 'Conflict', code: e.code, message: e.message });
      if (e instanceof ReportJobFailedError) throw new InternalServerErrorException({ statusCode: 500, error: 'Internal Server Error', code: 'report.job-failed', jobId: e.jobId, message: `${e.message} (asking again re-runs it)` });
      throw e;
    }
    if (!bytes) throw new NotFoundException(`this cut's report has no ${path}`);
    res.setHeader('content-type', type);
    res.setHeader('x-content-type-options', 'nosniff');
    // the HTML has no script and loads nothing: forbid both
    if (type.startsWith('text/html') || type.startsWith('image/svg')) res.setHeader('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'; img-src data:");
    if (download) res.setHeader('content-disposition', `attachment; filename="${path.replace(/^.*\//, '')}"`);
    return new StreamableFile(bytes);
  }

  @Get('cuts/:cutId/report')
  @ApiOperation({ summary: 'The cut report: one self-contained HTML page (tables, plots, notes); made by its job (cut.report) and stored with the cut; 202 + Retry-After while it is being made' })
  async html(@Param('cutId') cutId: string, @CurrentUser() user: AuthUser, @Res({ passthrough: true }) res: Response) {
    return this.send(cutId, 'report.html', 'text/html; charset=utf-8', user, res);
  }

  @Get('cuts/:cutId/statistics.json')
  @ApiOperation({ summary: 'Every number of the cut report, each with its dataset, parameter, subject count and method' })
  async statistics(@Param('cutId') cutId: string, @CurrentUser() user: AuthUser, @Res({ passthrough: true }) res: Response) {
    return this.send(cutId, 'statistics.json', 'application/json', user, res);
  }

  @Get('cuts/:cutId/report/manifest.json')
  @ApiOperation({ summary: "The report manifest: the cut manifest's sha256, the code version, and the sha256 of every report file" })
  async manifest(@Param('cutId') cutId: string, @CurrentUser() user: AuthUser, @Res({ passthrough: true }) res: Response) {
    return this.send(cutId, 'manifest.json', 'application/json', user, res);
  }

  @Get('cuts/:cutId/plots/:file')
  @ApiParam({ name: 'file', description: '<name>.svg or <name>.png, e.g. km-pfs.svg, waterfall.png (names in the report manifest)' })
  @ApiOperation({ summary: 'One plot of the cut report as SVG or PNG' })
  async plot(@Param('cutId') cutId: string, @Param('file') file: string, @CurrentUser() user: AuthUser, @Res({ passthrough: true }) res: Response) {
    const m = PLOT_FILE.exec(file);
    if (!m) throw new NotFoundException('plots are <name>.svg or <name>.png');
    return this.send(cutId, `plots/${file}`, m[2] === 'svg' ? 'image/svg+xml' : 'image/png', user, res);
  }
}
