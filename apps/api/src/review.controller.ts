import { type ArgumentsHost, BadRequestException, Body, Catch, Controller, type ExceptionFilter, Get, HttpCode, Inject, Param, Post, Put, Query, UseFilters } from '@nestjs/common';
import { ApiBody, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import type { AuthService, AuthUser } from '@app/auth';
import { InputError, isInputError } from '@app/core';
import { endpointSettings, type Runtime } from '@app/pipeline';
import { type Actor, isReviewError, ReviewError, ReviewService } from '@app/review';
import { RUNTIME } from './runtime.provider';
import { AUTH_SERVICE } from './auth/auth.guard';
import { CurrentUser, Roles } from './auth/roles';

const REASONS: Record<number, string> = { 400: 'Bad Request', 403: 'Forbidden', 404: 'Not Found', 409: 'Conflict', 423: 'Locked' };

/** ReviewError -> `{ statusCode, error, code, message, ...details }`; an InputError that got this far -> 400. */
@Catch(ReviewError, InputError)
export class ReviewErrorFilter implements ExceptionFilter {
  catch(e: ReviewError | InputError, host: ArgumentsHost) {
    const res = host.switchToHttp().getResponse();
    if (isReviewError(e)) return res.status(e.status).json({ statusCode: e.status, error: REASONS[e.status] ?? 'Error', code: e.code, message: e.message, ...e.details });
    if (isInputError(e)) return res.status(400).json({ statusCode: 400, error: 'Bad Request', code: e.code, message: e.message });
    throw e;
  }
}

const actorOf = (u: AuthUser): Actor => ({ id: u.id, username: u.username, displayName: u.displayName, roles: u.roles });
const LESION = {
  type: 'object',
  required: ['decision'],
  properties: {
    proposalId: { type: 'string', format: 'uuid' },
    decision: { enum: ['accept', 'edit', 'reject', 'add'] },
    reason: { type: 'string' },
    classification: { enum: ['target', 'non-target', 'new'] },
    lesionKey: { type: 'string' },
    organ: { type: 'string' },
    nodal: { type: 'boolean' },
    longAxis: { type: 'object', description: '{ p1, p2 }, each { ijk: [i, j, k] } (image coordinates) or { mm: [x, y, z] } (patient LPS)' },
    shortAxis: { type: 'object' },
    volumeId: { type: 'string', format: 'uuid' },
    value: { enum: ['TOO_SMALL', 'DISAPPEARED', 'NOT_ASSESSED'] },
    status: { enum: ['PRESENT', 'ABSENT', 'UNEQUIVOCAL_PROGRESSION', 'NOT_ASSESSED'] },
    equivocal: { type: 'boolean' },
  },
};

/**
 * Blinded independent central review (issue 12 §3, 5, 6, 8): worklists, cases, reads, signatures, adjudication and
 * assignment. Readers and adjudicators reach only their own cases and tasks (403 `review.not-assigned` otherwise);
 * the acting user always comes from the token. Routes and bodies: libs/review/README.md.
 */
@ApiTags('review')
@Controller('v1/review')
@UseFilters(ReviewErrorFilter)
export class ReviewController {
  private readonly svc: ReviewService;

  constructor(@Inject(RUNTIME) rt: Runtime, @Inject(AUTH_SERVICE) auth: AuthService) {
    // the protocol's endpoint settings (PROTOCOL_CONFIG), read once on first use; each study's review settings go over them
    let defaults: ReturnType<typeof endpointSettings> | undefined;
    this.svc = new ReviewService({ db: rt.db, verifyPassword: (id, pw) => auth.checkPassword(id, pw), endpointSettings: () => (defaults ??= endpointSettings(rt)) });
  }

  @Get('worklist')
  @Roles('reader', 'adjudicator')
  @ApiOperation({ summary: "The caller's own cases in their recorded order (readers) and adjudication tasks (adjudicators)" })
  worklist(@CurrentUser() user: AuthUser) {
    return this.svc.worklist(actorOf(user));
  }

  @Get('cases/:caseId')
  @Roles('reader')
  @ApiOperation({ summary: 'Open an own case: blinded subject view (reading id, pseudonymised dates, series UIDs, volumes, AI proposals of readable timepoints, the draft, the live RECIST table). Audits case.view and proposal.shown.' })
  openCase(@CurrentUser() user: AuthUser, @Param('caseId') caseId: string) {
    return this.svc.openCase(actorOf(user), caseId);
  }

  @Put('cases/:caseId/timepoints/:timePointId')
  @Roles('reader')
  @ApiOperation({ summary: 'Save one timepoint of the draft (baseline first; every AI proposal decided; optimistic concurrency by version; requestId makes a double submit harmless)' })
  @ApiBody({ schema: { type: 'object', required: ['version', 'lesions'], properties: { version: { type: 'integer' }, requestId: { type: 'string' }, lesions: { type: 'array', items: LESION }, newLesions: { enum: ['YES', 'NO', 'EQUIVOCAL'] }, nonTargetResponse: { type: 'string' }, overallResponse: { type: 'string' }, comment: { type: 'string' } } } })
  save(@CurrentUser() user: AuthUser, @Param('caseId') caseId: string, @Param('timePointId') timePointId: string, @Body() body: Record<string, unknown>) {
    return this.svc.saveTimepoint(actorOf(user), caseId, timePointId, (body ?? {}) as never);
  }

  @Put('cases/:caseId/slides/:slideId')
  @Roles('reader')
  @ApiOperation({ summary: "Save the reader's decision on a slide's AI pathology metrics (TIL %, tumour fraction, cellularity): accept, override (value + reason) or not-evaluable (reason); the AI value is stored next to the reader's; part of the signed read" })
  @ApiBody({
    schema: {
      type: 'object',
      required: ['version', 'metrics'],
      properties: {
        version: { type: 'integer' },
        requestId: { type: 'string' },
        proposalId: { type: 'string', format: 'uuid', description: 'the AI metrics proposal decided on (slides[].ai.proposalId of the case view); required when the slide has one' },
        metrics: {
          type: 'object',
          description: 'stromalTilPercent (percent 0..100), tumourFraction (0..1), tumourBedCellularity (0..1): each { decision, value?, reason? }',
          properties: Object.fromEntries(['stromalTilPercent', 'tumourFraction', 'tumourBedCellularity'].map((k) => [k, { type: 'object', required: ['decision'], properties: { decision: { enum: ['accept', 'override', 'not-evaluable'] }, value: { type: 'number' }, reason: { type: 'string' } } }])),
        },
        comment: { type: 'string' },
      },
    },
  })
  saveSlide(@CurrentUser() user: AuthUser, @Param('caseId') caseId: string, @Param('slideId') slideId: string, @Body() body: Record<string, unknown>) {
    return this.svc.saveSlide(actorOf(user), caseId, slideId, (body ?? {}) as never);
  }

  @Get('cases/:caseId/recist')
  @Roles('reader')
  @ApiOperation({ summary: 'Live RECIST table of the draft, per timepoint, computed by libs/endpoints (sums, nadir, changes, target / non-target / overall response, running BOR)' })
  recist(@CurrentUser() user: AuthUser, @Param('caseId') caseId: string) {
    return this.svc.recist(actorOf(user), caseId);
  }

  @Post('cases/:caseId/sign')
  @HttpCode(200)
  @Roles('reader')
  @ApiOperation({ summary: 'Sign the read (21 CFR Part 11): password re-entered, meaning sent back as shown; immutable afterwards' })
  @ApiBody({ schema: { type: 'object', required: ['version', 'password', 'meaning'], properties: { version: { type: 'integer' }, password: { type: 'string', format: 'password' }, meaning: { type: 'string' }, requestId: { type: 'string' } } } })
  sign(@CurrentUser() user: AuthUser, @Param('caseId') caseId: string, @Body() body: Record<string, unknown>) {
    return this.svc.sign(actorOf(user), caseId, body ?? {});
  }

  @Post('cases/:caseId/corrections')
  @HttpCode(201)
  @Roles('reader')
  @ApiOperation({ summary: 'Correct a signed read: a new draft revision with a mandatory reason (signed again when done)' })
  @ApiBody({ schema: { type: 'object', required: ['version', 'reason'], properties: { version: { type: 'integer' }, reason: { type: 'string' }, requestId: { type: 'string' } } } })
  correct(@CurrentUser() user: AuthUser, @Param('caseId') caseId: string, @Body() body: Record<string, unknown>) {
    return this.svc.startCorrection(actorOf(user), caseId, body ?? {});
  }

  @Get('cases/:caseId/export')
  @Roles('reader', 'admin')
  @ApiOperation({ summary: "Every revision of a case's read with its timepoints and signature manifestation (readers: own cases)" })
  exportCase(@CurrentUser() user: AuthUser, @Param('caseId') caseId: string) {
    return this.svc.exportCase(actorOf(user), caseId);
  }

  @Get('adjudications')
  @Roles('adjudicator', 'admin')
  @ApiQuery({ name: 'studyId', required: false })
  @ApiQuery({ name: 'status', required: false, enum: ['open', 'decided', 'cancelled'] })
  @ApiOperation({ summary: 'Adjudication tasks (adjudicators: assigned to them or open to them; admins: all)' })
  adjudications(@CurrentUser() user: AuthUser, @Query('studyId') studyId?: string, @Query('status') status?: string) {
    if (status !== undefined && !['open', 'decided', 'cancelled'].includes(status)) throw new BadRequestException('status: open, decided or cancelled');
    return this.svc.listAdjudications(actorOf(user), { studyId, status });
  }

  @Get('adjudications/:id')
  @Roles('adjudicator')
  @ApiOperation({ summary: 'Both reads side by side, blinded (READ 1 / READ 2, pseudonymised dates, no arm or site); claims an unassigned task' })
  openAdjudication(@CurrentUser() user: AuthUser, @Param('id') id: string) {
    return this.svc.openAdjudication(actorOf(user), id);
  }

  @Post('adjudications/:id/sign')
  @HttpCode(200)
  @Roles('adjudicator')
  @ApiOperation({ summary: 'Pick one read (never an average) with a written reason and sign (password re-entered); it becomes the BICR result' })
  @ApiBody({ schema: { type: 'object', required: ['version', 'selectedRead', 'reason', 'password', 'meaning'], properties: { version: { type: 'integer' }, selectedRead: { enum: [1, 2] }, reason: { type: 'string' }, password: { type: 'string', format: 'password' }, meaning: { type: 'string' }, requestId: { type: 'string' } } } })
  signAdjudication(@CurrentUser() user: AuthUser, @Param('id') id: string, @Body() body: Record<string, unknown>) {
    return this.svc.signAdjudication(actorOf(user), id, body ?? {});
  }

  @Post('assignments')
  @HttpCode(201)
  @Roles('admin')
  @ApiOperation({ summary: "Assign a study's subjects to 2 distinct readers each (seeded, within capacity; order per reader randomised and recorded)" })
  @ApiBody({ schema: { type: 'object', required: ['studyId', 'readers', 'capacity'], properties: { studyId: { type: 'string' }, readers: { type: 'array', items: { type: 'string' }, description: 'user ids or usernames (reader role)' }, capacity: { type: 'integer' }, seed: { type: 'integer' }, readersPerSubject: { type: 'integer', enum: [2] }, adjudicators: { type: 'array', items: { type: 'string' } }, rules: { type: 'object' }, endpointSettings: { type: 'object' }, subjects: { type: 'array', items: { type: 'string' }, description: 'only these subjects (reading ids); default every subject of the study with imaging' }, requestId: { type: 'string' } } } })
  assign(@CurrentUser() user: AuthUser, @Body() body: Record<string, unknown>) {
    return this.svc.assign(actorOf(user), body ?? {});
  }

  @Get('assignments')
  @Roles('admin')
  @ApiQuery({ name: 'studyId', required: true })
  @ApiOperation({ summary: 'Assignment runs (seed, pool, capacity, outcome) and every case of a study, active and withdrawn' })
  assignments(@Query('studyId') studyId?: string) {
    if (!studyId) throw new BadRequestException('studyId is required');
    return this.svc.listAssignments(studyId);
  }

  @Post('cases/:caseId/reassign')
  @HttpCode(201)
  @Roles('admin')
  @ApiOperation({ summary: 'Reassign an unsigned case (reason required) to a named reader or one drawn (seeded) from a pool' })
  @ApiBody({ schema: { type: 'object', required: ['reason'], properties: { reason: { type: 'string' }, toReader: { type: 'string' }, readers: { type: 'array', items: { type: 'string' } }, seed: { type: 'integer' }, capacity: { type: 'integer' }, requestId: { type: 'string' } } } })
  reassign(@CurrentUser() user: AuthUser, @Param('caseId') caseId: string, @Body() body: Record<string, unknown>) {
    return this.svc.reassignCase(actorOf(user), caseId, body ?? {});
  }

  @Post('readers/:userId/withdraw')
  @HttpCode(201)
  @Roles('admin')
  @ApiOperation({ summary: "A reader leaves a study: every unsigned case of theirs is reassigned (reason required, seeded, within capacity); signed reads stay" })
  @ApiBody({ schema: { type: 'object', required: ['studyId', 'reason', 'readers', 'capacity'], properties: { studyId: { type: 'string' }, reason: { type: 'string' }, readers: { type: 'array', items: { type: 'string' } }, capacity: { type: 'integer' }, seed: { type: 'integer' }, requestId: { type: 'string' } } } })
  withdraw(@CurrentUser() user: AuthUser, @Param('userId') userId: string, @Body() body: Record<string, unknown>) {
    return this.svc.withdrawReader(actorOf(user), userId, body ?? {});
  }

  @Put('studies/:studyId/settings')
  @Roles('admin')
  @ApiOperation({ summary: 'Review settings of a study: adjudication rules, adjudicators, endpoint settings' })
  @ApiBody({ schema: { type: 'object', properties: { rules: { type: 'object', properties: { bor: { enum: ['confirmed', 'unconfirmed', 'both', 'none'] }, pdDate: { type: 'boolean' }, pdDateToleranceDays: { type: 'integer' } } }, adjudicators: { type: 'array', items: { type: 'string' } }, endpointSettings: { type: 'object' }, requestId: { type: 'string' } } } })
  settings(@CurrentUser() user: AuthUser, @Param('studyId') studyId: string, @Body() body: Record<string, unknown>) {
    return this.svc.updateSettings(actorOf(user), studyId, body ?? {});
  }

  @Get('studies/:studyId/summary')
  @Roles('admin', 'adjudicator', 'biostatistician')
  @ApiOperation({ summary: 'Cases by state, comparisons, adjudication rate (overall and by rule), BICR results' })
  summary(@Param('studyId') studyId: string) {
    return this.svc.summary(studyId);
  }

  @Post('studies/:studyId/feed')
  @HttpCode(200)
  @Roles('admin')
  @ApiOperation({ summary: 'Rebuild the per-reader (<study>.READER-<username>) and BICR (<study>.BICR) study inputs from the signed reads' })
  feed(@CurrentUser() user: AuthUser, @Param('studyId') studyId: string) {
    return this.svc.rebuildFeed(actorOf(user), studyId);
  }
}
