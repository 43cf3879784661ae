import { BadRequestException, Controller, Get, Inject, NotFoundException, Param, ParseIntPipe, ParseUUIDPipe, Query, Res, StreamableFile } from '@nestjs/common';
import { ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { ImagingRepository, PseudonymRepository, type SeriesRow } from '@app/db';
import { renderSlicePng } from '@app/dicom';
import { decodeNrrd, type Runtime } from '@app/pipeline';
import { RUNTIME } from './runtime.provider';
import { type AuthUser, CurrentUser, Roles } from './auth/roles';
import { SubjectAccess } from './subject-access';
import { ViewAudit } from './view-audit';

const seriesView = (s: SeriesRow) => ({
  id: s.id,
  seriesUid: s.series_uid,
  modality: s.modality,
  seriesNumber: s.series_number,
  instances: s.instance_count,
  status: s.status,
  selected: s.selected,
  selectionReasons: s.selection_reasons,
  flags: s.flags,
  error: s.error,
  summary: s.summary,
});

/** A tiny LRU of decoded volumes for slice rendering. */
class VolumeCache {
  private m = new Map<string, ReturnType<typeof decodeNrrd>>();
  constructor(private readonly max = 4) {}
  async get(key: string, load: () => Promise<Buffer>) {
    const hit = this.m.get(key);
    if (hit) {
      this.m.delete(key);
      this.m.set(key, hit);
      return hit;
    }
    const v = decodeNrrd(await load());
    this.m.set(key, v);
    if (this.m.size > this.max) this.m.delete(this.m.keys().next().value!);
    return v;
  }
}

/**
 * The blinded imaging index: subjects by Subject Reading ID only, their studies (shifted dates,
 * time point ids), series with the selection reason, and rendered slices. Nothing here reveals a
 * patient identity, site or arm (subjects carry no subject id, site, arm or real date; series no
 * original object or file name; the pseudonym map is the admin controller below).
 *
 * Access: admin and pipeline every subject; reader and adjudicator only subjects assigned to them
 * (SubjectAccess over ReviewRepository.isAssigned): lists are filtered, a named subject / study / series
 * outside their assignments answers 403 `review.not-assigned`. Their opening of a subject's studies or a
 * series is audited (`subject.view`).
 */
@ApiTags('imaging')
@Controller('v1')
@Roles('admin', 'pipeline', 'reader', 'adjudicator')
export class ImagingController {
  private readonly imaging: ImagingRepository;
  private readonly volumes = new VolumeCache();
  private readonly access: SubjectAccess;
  private readonly views: ViewAudit;
  constructor(@Inject(RUNTIME) private readonly rt: Runtime) {
    this.imaging = new ImagingRepository(rt.db);
    this.access = new SubjectAccess(rt.db);
    this.views = new ViewAudit(rt.db);
  }

  /** The series row and its subject's reading id, after the caller's access check (404, then 403). */
  private async seriesFor(user: AuthUser, id: string) {
    const s = await this.imaging.seriesById(id);
    if (!s) throw new NotFoundException('no such series');
    const readingId = (await this.imaging.subjectOfSeries(id)).reading_id;
    await this.access.assert(user, readingId);
    return { s, readingId };
  }

  @Get('subjects')
  @ApiOperation({ summary: 'Subjects by Subject Reading ID (the only identity a reader sees); readers and adjudicators: their assigned subjects only' })
  async subjects(@CurrentUser() user: AuthUser) {
    const scope = await this.access.scope(user);
    return { items: (await this.imaging.listSubjects(undefined, scope ? [...scope] : undefined)).map((s) => ({ readingId: s.reading_id, protocolId: s.protocol_id, studies: Number(s.studies) })) };
  }

  @Get('subjects/:readingId/studies')
  @ApiOperation({ summary: "A subject's studies (shifted dates, time point ids); readers and adjudicators: assigned subjects (audited subject.view)" })
  async studies(@Param('readingId') readingId: string, @CurrentUser() user: AuthUser) {
    if (!(await this.imaging.subjectByReadingId(readingId))) throw new NotFoundException('no such subject');
    await this.access.assert(user, readingId);
    const studies = await this.imaging.studiesOfSubject(readingId);
    await this.views.record(user, 'subject.view', 'subject', readingId, { route: 'studies', studies: studies.length });
    return { items: studies.map((s) => ({ id: s.id, studyUid: s.study_uid, studyDate: s.study_date, timePointId: s.time_point_id })) };
  }

  @Get('studies/:id/series')
  @ApiOperation({ summary: "A study's series, with whether each was selected by the protocol rules and why not (readers: assigned subjects)" })
  async series(@Param('id', ParseUUIDPipe) id: string, @CurrentUser() user: AuthUser) {
    const readingId = await this.imaging.readingIdOfStudy(id);
    if (!readingId) throw new NotFoundException('no such study');
    await this.access.assert(user, readingId);
    return { items: (await this.imaging.seriesOfStudy(id)).map(seriesView) };
  }

  @Get('series')
  @ApiOperation({ summary: 'Every series with its subject (readers and adjudicators: series of their assigned subjects only)' })
  @ApiQuery({ name: 'selected', required: false, enum: ['true', 'false'] })
  async allSeries(@CurrentUser() user: AuthUser, @Query('selected') selected?: string) {
    const scope = await this.access.scope(user);
    const rows = await this.imaging.allSeries(scope ? [...scope] : undefined);
    return {
      items: rows
        .filter((s) => selected === undefined || String(s.selected === true) === selected)
        .map((s) => ({ ...seriesView(s), readingId: s.reading_id, timePointId: s.time_point_id, studyDate: s.study_date })),
    };
  }

  @Get('series/:id')
  @ApiOperation({ summary: 'One series with its volume geometry (readers: assigned subjects, audited subject.view)' })
  async seriesOne(@Param('id', ParseUUIDPipe) id: string, @CurrentUser() user: AuthUser) {
    const { s, readingId } = await this.seriesFor(user, id);
    const v = await this.imaging.latestVolume(id);
    await this.views.record(user, 'subject.view', 'series', id, { route: 'series', readingId, seriesUid: s.series_uid });
    return { ...seriesView(s), volume: v ? { id: v.id, dims: v.dims, spacing: v.spacing, affine: v.affine, flags: v.flags, sha256: v.data_sha256, provenance: v.provenance } : null };
  }

  @Get('series/:id/slices/:index.png')
  @ApiOperation({ summary: 'One axial slice of the series volume as an 8-bit PNG with a window/level (default soft tissue 40/400)' })
  @ApiQuery({ name: 'center', required: false })
  @ApiQuery({ name: 'width', required: false })
  async slice(@Param('id', ParseUUIDPipe) id: string, @Param('index', ParseIntPipe) index: number, @Res({ passthrough: true }) res: Response, @CurrentUser() user: AuthUser, @Query('center') center = '40', @Query('width') width = '400') {
    await this.seriesFor(user, id);
    const c = Number(center);
    const w = Number(width);
    if (!Number.isFinite(c) || !Number.isFinite(w) || w <= 0) throw new BadRequestException('center and width must be numbers, width > 0');
    const v = await this.imaging.latestVolume(id);
    if (!v) throw new NotFoundException('this series has no volume (yet)');
    const vol = await this.volumes.get(v.data_key, () => this.rt.store.getBuffer(v.data_key));
    if (index < 0 || index >= vol.dims[2]) throw new BadRequestException(`slice index must be 0..${vol.dims[2] - 1}`);
    const png = await renderSlicePng(vol, index, { center: c, width: w });
    res.setHeader('content-type', 'image/png');
    res.setHeader('cache-control', 'private, max-age=3600');
    return new StreamableFile(png);
  }
}

/** Admin-only views of the pseudonym map (the admin role; ADMIN_TOKEN is gone). */
@ApiTags('admin')
@Controller('v1/admin')
@Roles('admin')
export class AdminController {
  private readonly pseudonyms: PseudonymRepository;
  constructor(@Inject(RUNTIME) private readonly rt: Runtime) {
    this.pseudonyms = new PseudonymRepository(rt.db);
  }

  @Get('pseudonyms')
  @ApiOperation({ summary: 'Subject Reading ID <-> trial subject <-> original PatientID, and date shifts. Admin role only.' })
  async list() {
    // the guard admitted an admin only; the repository checks the role once more
    return { items: await this.pseudonyms.read('admin') };
  }
}
