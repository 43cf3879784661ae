import { BadRequestException, Body, Controller, ForbiddenException, Get, HttpCode, Inject, InternalServerErrorException, NotFoundException, Param, ParseUUIDPipe, Post, Query, Res, StreamableFile } from '@nestjs/common';
import { ApiBody, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { isInputError } from '@app/core';
import { AuditRepository, type DataCutRow, EndpointsRepository } from '@app/db';
import { CUT_FORMATS, type CutFormat, type CutManifest } from '@app/datasets';
import { CUT_JOB, CutJobFailedError, cutJobState, type CutJobState, type CutRequest, loadSimulatedStudy, requestDataCut, type Runtime, verifyCut } from '@app/pipeline';
import { RUNTIME } from './runtime.provider';
import { auditActor, type AuthUser, canSeeUnblinded } from '@app/auth';
import { CurrentUser, Roles } from './auth/roles';
import { unblindingRefused, visibleCut } from './cut-access';

const view = (c: DataCutRow) => {
  const m = c.manifest as unknown as CutManifest;
  return {
    cutId: c.cut_id,
    studyId: c.study_id,
    cutoffDate: c.cutoff_date,
    blinded: c.blinded,
    createdAt: c.created_at,
    createdBy: c.created_by,
    manifestSha256: c.manifest_sha256,
    codeVersion: m.codeVersion,
    inputs: c.inputs,
    issues: c.issues,
    files: m.files.map((f) => ({ ...f, url: `/v1/cuts/${c.cut_id}/files/${f.path}` })).concat([{ path: 'manifest.json', dataset: '', format: 'json' as CutFormat, size: 0, sha256: c.manifest_sha256, url: `/v1/cuts/${c.cut_id}/files/manifest.json` }]),
  };
};

/**
 * Endpoint data cuts for biostatisticians: run a cut at a cut-off date (blinded or not, always
 * explicit), list cuts, download their files, verify them against the manifest.
 */
@ApiTags('endpoints')
@Controller('v1')
@Roles('biostatistician', 'admin')
export class CutsController {
  private readonly repo: EndpointsRepository;
  constructor(@Inject(RUNTIME) private readonly rt: Runtime) {
    this.repo = new EndpointsRepository(rt.db);
  }

  private visibleCut(cutId: string, user: AuthUser): Promise<DataCutRow> {
    return visibleCut(this.repo, cutId, user);
  }


  @Post('cuts')
  @HttpCode(201)
  @ApiOperation({
    summary:
      "Run a data cut (idempotent: the same inputs give the same immutable cut). Unblinded: biostatisticians with the 'unblinding' grant only. The requester is the token's user. The cut is made by a queued job (cut.create): 201 + the cut when it is done within CUT_WAIT_MS, else 202 { jobId, status } with Location /v1/cut-jobs/:jobId to poll. The same request again joins the same job.",
  })
  @ApiBody({ schema: { type: 'object', required: ['studyId', 'cutoffDate', 'blinded'], properties: { studyId: { type: 'string' }, cutoffDate: { type: 'string', format: 'date' }, blinded: { type: 'boolean' }, predictions: { type: 'boolean', description: 'add ADPRED (exploratory AI response predictions, never an endpoint)' }, formats: { type: 'array', items: { enum: [...CUT_FORMATS] } } } } })
  async create(@Body() body: { studyId?: string; cutoffDate?: string; blinded?: boolean; formats?: CutFormat[]; predictions?: boolean }, @CurrentUser() user: AuthUser, @Res({ passthrough: true }) res: Response) {
    if (!body?.studyId) throw new BadRequestException('studyId is required');
    // permission first: nothing is queued for a request the user may not make
    if (body.blinded === false && !canSeeUnblinded(user)) throw unblindingRefused('unblinded cuts are');
    const req: CutRequest = { studyId: body.studyId, cutoffDate: String(body.cutoffDate ?? ''), blinded: body.blinded as boolean, formats: body.formats, createdBy: auditActor(user), actorRoles: user.roles, predictions: body.predictions === true };
    let s: CutJobState;
    try {
      s = await requestDataCut(this.rt, req, this.rt.config.CUT_WAIT_MS);
    } catch (e) {
      if (isInputError(e)) throw new BadRequestException(e.message);
      if (e instanceof CutJobFailedError) throw new InternalServerErrorException({ statusCode: 500, error: 'Internal Server Error', code: 'cut.job-failed', jobId: e.jobId, message: e.message });
      throw e;
    }
    if (s.state === 'pending') {
      const location = `/v1/cut-jobs/${s.jobId}`;
      res.status(202).setHeader('location', location);
      return { jobId: s.jobId, status: s.status, progress: s.progress, location };
    }
    return { jobId: s.jobId, status: 'completed', created: s.result.created, ...view(s.result.cut) };
  }

  @Get('cut-jobs/:jobId')
  @ApiOperation({ summary: "A cut job (POST /v1/cuts answered 202): queued / running, completed with the cut, refused (the request's input error) or failed (its error). Unblinded cut jobs: with the 'unblinding' grant only." })
  async cutJob(@Param('jobId', ParseUUIDPipe) jobId: string, @CurrentUser() user: AuthUser) {
    const row = await this.rt.jobs.byId(jobId);
    if (!row || row.name !== CUT_JOB) throw new NotFoundException('no such cut job');
    if ((row.payload as CutRequest).blinded === false && !canSeeUnblinded(user)) throw unblindingRefused('unblinded cut jobs are');
    try {
      const s = (await cutJobState(this.rt, jobId, row))!;
      if (s.state === 'pending') return { jobId, status: s.status, progress: s.progress };
      return { jobId, status: 'completed', created: s.result.created, ...view(s.result.cut) };
    } catch (e) {
      if (isInputError(e)) return { jobId, status: 'refused', error: { code: e.code, message: e.message } };
      if (e instanceof CutJobFailedError) return { jobId, status: 'failed', error: { message: e.error } };
      throw e;
    }
  }

  @Get('cuts')
  @ApiQuery({ name: 'studyId', required: false })
  async list(@CurrentUser() user: AuthUser, @Query('studyId') studyId?: string) {
    const unblinded = canSeeUnblinded(user);
    return { items: (await this.repo.cuts(studyId)).filter((c) => c.blinded || unblinded).map(view) };
  }

  @Get('cuts/:cutId')
  async one(@Param('cutId') cutId: string, @CurrentUser() user: AuthUser) {
    return view(await this.visibleCut(cutId, user));
  }

  @Get('cuts/:cutId/verify')
  @ApiOperation({ summary: 'Re-hash every stored file against the manifest' })
  async verify(@Param('cutId') cutId: string, @CurrentUser() user: AuthUser) {
    return verifyCut(this.rt, await this.visibleCut(cutId, user));
  }

  @Get('cuts/:cutId/files/:path')
  async file(@Param('cutId') cutId: string, @Param('path') path: string, @Res({ passthrough: true }) res: Response, @CurrentUser() user: AuthUser) {
    const c = await this.visibleCut(cutId, user);
    const m = c.manifest as unknown as CutManifest;
    if (path !== 'manifest.json' && !m.files.some((f) => f.path === path)) throw new NotFoundException('no such file in this cut');
    const type = path.endsWith('.csv') ? 'text/csv' : path.endsWith('.xpt') ? 'application/octet-stream' : path.endsWith('.ndjson') ? 'application/x-ndjson' : path.endsWith('.dsjc') ? 'application/octet-stream' : 'application/json';
    res.setHeader('content-type', type);
    res.setHeader('content-disposition', `attachment; filename="${path}"`);
    return new StreamableFile(await this.rt.store.get(`${c.prefix}/${path}`));
  }

  @Post('trials/:studyId/simulate')
  @Roles('admin')
  @ApiOperation({ summary: "Load a simulated trial as the study assessments (demo and testing only; admin; refused when NODE_ENV=production: it replaces a trial's inputs)" })
  async simulate(@Param('studyId') studyId: string, @Body() body: { subjects?: number; visits?: number; seed?: number }, @CurrentUser() user: AuthUser) {
    if (this.rt.config.NODE_ENV === 'production') throw new ForbiddenException({ statusCode: 403, error: 'Forbidden', code: 'access.production', message: "simulated trials are refused in production: they would replace a trial's real inputs" });
    const subjects = Number(body?.subjects ?? 50);
    if (!Number.isInteger(subjects) || subjects < 1 || subjects > 20000) throw new BadRequestException('subjects must be 1..20000');
    const r = await loadSimulatedStudy(this.rt, studyId, { subjects, visits: Number(body?.visits ?? 8), seed: Number(body?.seed ?? 1), qlq: true, stepWeeks: 4 }, auditActor(user));
    await new AuditRepository(this.rt.db).append({ actor: auditActor(user), actorRoles: user.roles, action: 'study-input.simulated', entityType: 'study_input', entityId: r.input.id, after: { studyId, subjects, sha256: r.input.input_sha256 } });
    return { studyId, inputId: r.input.id, subjects: r.study.subjects.length, sha256: r.input.input_sha256 };
  }
}
