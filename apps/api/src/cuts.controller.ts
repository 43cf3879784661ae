import { BadRequestException, Body, Controller, Get, HttpCode, Inject, NotFoundException, Param, Post, Query, Res, StreamableFile } from '@nestjs/common';
import { ApiBody, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { isInputError } from '@app/core';
import { type DataCutRow, EndpointsRepository } from '@app/db';
import { CUT_FORMATS, type CutFormat, type CutManifest } from '@app/datasets';
import { createDataCut, loadSimulatedStudy, type Runtime, verifyCut } from '@app/pipeline';
import { RUNTIME } from './runtime.provider';

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
export class CutsController {
  private readonly repo: EndpointsRepository;
  constructor(@Inject(RUNTIME) private readonly rt: Runtime) {
    this.repo = new EndpointsRepository(rt.db);
  }

  @Post('cuts')
  @HttpCode(201)
  @ApiOperation({ summary: 'Run a data cut (idempotent: the same inputs give the same immutable cut)' })
  @ApiBody({ schema: { type: 'object', required: ['studyId', 'cutoffDate', 'blinded'], properties: { studyId: { type: 'string' }, cutoffDate: { type: 'string', format: 'date' }, blinded: { type: 'boolean' }, predictions: { type: 'boolean', description: 'add ADPRED (exploratory AI response predictions, never an endpoint)' }, formats: { type: 'array', items: { enum: [...CUT_FORMATS] } } } } })
  async create(@Body() body: { studyId?: string; cutoffDate?: string; blinded?: boolean; formats?: CutFormat[]; requestedBy?: string; predictions?: boolean }) {
    if (!body?.studyId) throw new BadRequestException('studyId is required');
    try {
      const r = await createDataCut(this.rt, { studyId: body.studyId, cutoffDate: String(body.cutoffDate ?? ''), blinded: body.blinded as boolean, formats: body.formats, createdBy: body.requestedBy ?? 'api', predictions: body.predictions === true });
      return { created: r.created, ...view(r.cut) };
    } catch (e) {
      if (isInputError(e)) throw new BadRequestException(e.message);
      throw e;
    }
  }

  @Get('cuts')
  @ApiQuery({ name: 'studyId', required: false })
  async list(@Query('studyId') studyId?: string) {
    return { items: (await this.repo.cuts(studyId)).map(view) };
  }

  @Get('cuts/:cutId')
  async one(@Param('cutId') cutId: string) {
    const c = await this.repo.cutById(cutId);
    if (!c) throw new NotFoundException('no such cut');
    return view(c);
  }

  @Get('cuts/:cutId/verify')
  @ApiOperation({ summary: 'Re-hash every stored file against the manifest' })
  async verify(@Param('cutId') cutId: string) {
    const c = await this.repo.cutById(cutId);
    if (!c) throw new NotFoundException('no such cut');
    return verifyCut(this.rt, c);
  }

  @Get('cuts/:cutId/files/:path')
  async file(@Param('cutId') cutId: string, @Param('path') path: string, @Res({ passthrough: true }) res: Response) {
    const c = await this.repo.cutById(cutId);
    if (!c) throw new NotFoundException('no such cut');
    const m = c.manifest as unknown as CutManifest;
    if (path !== 'manifest.json' && !m.files.some((f) => f.path === path)) throw new NotFoundException('no such file in this cut');
    const type = path.endsWith('.csv') ? 'text/csv' : path.endsWith('.xpt') ? 'application/octet-stream' : path.endsWith('.ndjson') ? 'application/x-ndjson' : path.endsWith('.dsjc') ? 'application/octet-stream' : 'application/json';
    res.setHeader('content-type', type);
    res.setHeader('content-disposition', `attachment; filename="${path}"`);
    return new StreamableFile(await this.rt.store.get(`${c.prefix}/${path}`));
  }

  @Post('trials/:studyId/simulate')
  @ApiOperation({ summary: 'Load a simulated trial as the study assessments (demo and testing only)' })
  async simulate(@Param('studyId') studyId: string, @Body() body: { subjects?: number; visits?: number; seed?: number }) {
    const subjects = Number(body?.subjects ?? 50);
    if (!Number.isInteger(subjects) || subjects < 1 || subjects > 20000) throw new BadRequestException('subjects must be 1..20000');
    const r = await loadSimulatedStudy(this.rt, studyId, { subjects, visits: Number(body?.visits ?? 8), seed: Number(body?.seed ?? 1), qlq: true, stepWeeks: 4 }, 'api');
    return { studyId, inputId: r.input.id, subjects: r.study.subjects.length, sha256: r.input.input_sha256 };
  }
}
