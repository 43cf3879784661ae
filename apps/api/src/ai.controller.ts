import { BadRequestException, Controller, Get, Inject, NotFoundException, Param, Query, Res, StreamableFile } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { aiOnlyRead, type LesionProposalValues } from '@app/airead';
import { AiRepository, type AiProposalRow, AuditRepository, SlidesRepository } from '@app/db';
import { auditActor, type AuthUser } from '@app/auth';
import { listModels } from '@app/inference';
import type { Runtime } from '@app/pipeline';
import { ObjectNotFoundError } from '@app/storage';
import { RUNTIME } from './runtime.provider';
import { CurrentUser, Roles } from './auth/roles';
import { SubjectAccess } from './subject-access';
import { ViewAudit } from './view-audit';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const SAFE = /^[A-Za-z0-9._-]{1,64}$/;

const proposalView = (p: AiProposalRow) => ({
  id: p.id,
  kind: p.kind,
  timePointId: p.time_point_id,
  studyDate: p.study_date,
  trackingUid: p.tracking_uid,
  trackingId: p.tracking_id,
  values: p.values,
  maskRef: p.mask_ref,
  model: p.model,
  provenance: p.provenance,
  createdAt: p.created_at,
  source: 'AI proposal (not a signed read)',
});

/**
 * AI proposals and their files. Proposals are what a model suggested, never what a reader signed: every response
 * says so. Lesion proposals come from the newest tracking run of a subject; older runs stay stored.
 */
// Readers and adjudicators: the run list, the lesion proposals, the SEG/SR files and the slide metrics + heatmap of
// subjects assigned to them (lists filtered, others 403; proposals and slide metrics audited as shown). The AI-only
// RECIST read (a derived response, the analysis' comparator) and the model list stay with admin and pipeline.
@ApiTags('ai')
@Controller('v1')
@Roles('admin', 'pipeline')
export class AiController {
  private readonly ai: AiRepository;
  private readonly access: SubjectAccess;
  private readonly views: ViewAudit;
  constructor(@Inject(RUNTIME) private readonly rt: Runtime) {
    this.ai = new AiRepository(rt.db);
    this.access = new SubjectAccess(rt.db);
    this.views = new ViewAudit(rt.db);
  }

  /** Readers and adjudicators: only a slide of a subject assigned to them. */
  private async slideAccess(user: AuthUser, slideId: string) {
    if (SubjectAccess.seesAll(user)) return;
    const r = await new SlidesRepository(this.rt.db).withReadingId(slideId);
    if (!r) throw new NotFoundException('no such slide');
    await this.access.assert(user, r.reading_id);
  }

  private async send(res: Response, key: string | null | undefined, type: string) {
    if (!key) throw new NotFoundException('no such file');
    try {
      const body = await this.rt.store.get(key);
      res.setHeader('content-type', type);
      return new StreamableFile(body);
    } catch (e) {
      if (e instanceof ObjectNotFoundError) throw new NotFoundException('no such file');
      throw e;
    }
  }

  private async track(readingId: string) {
    if (!SAFE.test(readingId)) throw new BadRequestException('reading id: letters, digits, . _ - only');
    const s = await this.ai.subjectByReadingId(readingId);
    if (!s) throw new NotFoundException('no such subject');
    const t = await this.ai.latestTrack(s.id);
    if (!t) throw new NotFoundException('no AI read for this subject yet');
    return t;
  }

  @Get('models')
  @ApiOperation({ summary: 'Registered models (id, version, task, sha256, licences) and refused model folders with the reason' })
  models() {
    const l = listModels({ modelsDir: this.rt.config.MODELS_DIR });
    return {
      models: l.models.map((m) => ({ id: m.id, version: m.version, task: m.card.task, sha256: m.sha256, licence: { weights: m.card.licence.weights, trainingData: m.card.licence.training_data }, description: m.card.description, evaluation: m.card.evaluation })),
      refused: l.refused.map((r) => ({ folder: r.folder, code: r.code, reason: r.reason })),
    };
  }

  @Get('ai/runs')
  @Roles('admin', 'pipeline', 'reader', 'adjudicator')
  @ApiOperation({ summary: 'AI runs, newest first (readers and adjudicators: runs of their assigned subjects only)' })
  async runs(@CurrentUser() user: AuthUser) {
    const scope = await this.access.scope(user);
    return { items: (await this.ai.listRuns(200, scope ? [...scope] : undefined)).map((r) => ({ id: r.id, kind: r.kind, readingId: r.reading_id, timePointId: r.time_point_id, volumeId: r.volume_id, slideId: r.slide_id, model: r.model, inputSha256: r.input_sha256, createdAt: r.created_at })) };
  }

  @Get('ai/subjects/:readingId/proposals')
  @Roles('admin', 'pipeline', 'reader', 'adjudicator')
  @ApiOperation({ summary: "A subject's tracked lesion proposals per timepoint (newest tracking run); ?timepoint= filters (readers: assigned subjects; audited ai.proposals.shown)" })
  async proposals(@Param('readingId') readingId: string, @CurrentUser() user: AuthUser, @Query('timepoint') timepoint?: string) {
    if (!SAFE.test(readingId)) throw new BadRequestException('reading id: letters, digits, . _ - only');
    if (!(await this.ai.subjectByReadingId(readingId))) throw new NotFoundException('no such subject');
    await this.access.assert(user, readingId);
    const t = await this.track(readingId);
    const rows = t.proposals.filter((p) => !timepoint || p.time_point_id === timepoint);
    // issue 12 §7: every AI proposal shown is audited (who saw which proposals of which run)
    await new AuditRepository(this.rt.db).append({ actor: auditActor(user), actorRoles: user.roles, action: 'ai.proposals.shown', entityType: 'subject', entityId: readingId, detail: { runId: t.run.id, timepoint: timepoint ?? null, proposalIds: rows.map((p) => p.id) } });
    return { run: { id: t.run.id, model: t.run.model, createdAt: t.run.created_at, summary: t.run.summary }, proposals: rows.map(proposalView) };
  }

  @Get('ai/subjects/:readingId/ai-read')
  @ApiOperation({ summary: 'The AI-only RECIST read derived from the proposals (source: model, no reader; never the BICR result)' })
  async aiRead(@Param('readingId') readingId: string) {
    const t = await this.track(readingId);
    const byTp = new Map<string, { date: string; lesions: LesionProposalValues[] }>();
    for (const p of t.proposals) {
      const e = byTp.get(p.time_point_id!) ?? { date: p.study_date!, lesions: [] };
      e.lesions.push(p.values as unknown as LesionProposalValues);
      byTp.set(p.time_point_id!, e);
    }
    return aiOnlyRead([{ usubjid: readingId, timepoints: [...byTp].map(([timePointId, e]) => ({ timePointId, date: e.date, lesions: e.lesions, readId: `ai:${t.run.id}:${timePointId}` })) }], { studyId: this.rt.config.PROTOCOL_ID, model: t.run.model });
  }

  @Get('ai/subjects/:readingId/timepoints/:tp/:file')
  @Roles('admin', 'pipeline', 'reader', 'adjudicator')
  @ApiOperation({ summary: 'DICOM SEG (seg.dcm) or TID 1500 SR (sr.dcm) of one timepoint from the newest tracking run (readers: assigned subjects)' })
  async dicom(@Param('readingId') readingId: string, @Param('tp') tp: string, @Param('file') file: string, @Res({ passthrough: true }) res: Response, @CurrentUser() user: AuthUser) {
    if (file !== 'seg.dcm' && file !== 'sr.dcm') throw new NotFoundException('seg.dcm or sr.dcm');
    if (!SAFE.test(readingId)) throw new BadRequestException('reading id: letters, digits, . _ - only');
    await this.access.assert(user, readingId);
    const t = await this.track(readingId);
    const out = (t.run.outputs as Record<string, { segKey?: string | null; srKey?: string | null }>)[tp];
    if (!out) throw new NotFoundException('no such timepoint in the AI read');
    return this.send(res, file === 'seg.dcm' ? out.segKey : out.srKey, 'application/dicom');
  }

  @Get('ai/slides/:id')
  @Roles('admin', 'pipeline', 'reader', 'adjudicator')
  @ApiOperation({ summary: "A slide's AI pathology metrics (tumour fraction, stromal TIL %, cellularity, class fractions) and heatmap geometry (readers: assigned subjects)" })
  async slide(@Param('id') id: string, @CurrentUser() user: AuthUser) {
    if (!UUID.test(id)) throw new BadRequestException('slide id must be a UUID');
    await this.slideAccess(user, id);
    const runs = await this.ai.runsOfSlide(id);
    if (!runs.length) throw new NotFoundException('no AI read for this slide yet');
    const r = runs[0]!;
    // issue 12 §7: an AI proposal shown (the slide's metrics) is audited
    const m = r.summary as Record<string, unknown>;
    await this.views.record(user, 'ai.slide-metrics.shown', 'slide', id, { runId: r.id, tumourFraction: m.tumourFraction ?? null, stromalTilPercent: m.stromalTilPercent ?? null, tumourBedCellularity: m.tumourBedCellularity ?? null });
    return { run: { id: r.id, model: r.model, createdAt: r.created_at }, metrics: r.summary, heatmap: `/v1/ai/slides/${id}/heatmap.png`, source: 'AI proposal (not a signed read)' };
  }

  @Get('ai/slides/:id/heatmap.png')
  @Roles('admin', 'pipeline', 'reader', 'adjudicator')
  @ApiOperation({ summary: 'Class heatmap (PNG, transparent background): map px x downsample = slide level-0 px, origin top-left (readers: assigned subjects)' })
  async heatmap(@Param('id') id: string, @Res({ passthrough: true }) res: Response, @CurrentUser() user: AuthUser) {
    if (!UUID.test(id)) throw new BadRequestException('slide id must be a UUID');
    await this.slideAccess(user, id);
    const r = (await this.ai.runsOfSlide(id))[0];
    if (!r) throw new NotFoundException('no AI read for this slide yet');
    return this.send(res, (r.outputs.heatmap as { key?: string }).key, 'image/png');
  }
}
