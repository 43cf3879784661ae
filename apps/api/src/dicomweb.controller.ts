import { BadRequestException, Controller, ForbiddenException, Get, Inject, NotAcceptableException, NotFoundException, Param, Query, Req, Res, StreamableFile } from '@nestjs/common';
import { ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { isInputError } from '@app/core';
import { parseDicom } from '@app/dicom';
import { DicomwebRepository, type DicomwebInstanceRow } from '@app/db';
import {
  acceptsDicomJson,
  acceptsMultipart,
  applyQuery,
  type DicomJson,
  encodeMultipart,
  EXPLICIT_VR_LITTLE_ENDIAN,
  instanceAttributes,
  parseAccept,
  parseQidoQuery,
  PIXEL_DATA,
  pixelOverride,
  type PixelOverride,
  READER_OMITTED_TAGS,
  readerView,
  seriesAttributes,
  studyAttributes,
  toDicomJson,
  uncompressedFrames,
  uncompressedPixelData,
} from '@app/dicomweb';
import type { Runtime } from '@app/pipeline';
import { ObjectNotFoundError } from '@app/storage';
import { RUNTIME } from './runtime.provider';
import { type AuthUser, CurrentUser, Roles } from './auth/roles';
import { SubjectAccess } from './subject-access';
import { ViewAudit } from './view-audit';

export const DICOMWEB_ROOT = '/v1/dicomweb';
const UID = /^[0-9]+(\.[0-9]+)*$/;
const uid = (v: string, what: string) => {
  if (!UID.test(v) || v.length > 64) throw new BadRequestException(`${what} must be a DICOM UID (digits and dots, at most 64 characters)`);
  return v;
};

/** A bounded LRU of values by key, sized by a cost function (bytes). */
class Lru<T> {
  private m = new Map<string, { v: T; cost: number }>();
  private total = 0;
  constructor(private readonly maxCost: number, private readonly cost: (v: T) => number) {}
  get(k: string): T | undefined {
    const e = this.m.get(k);
    if (!e) return undefined;
    this.m.delete(k);
    this.m.set(k, e);
    return e.v;
  }
  set(k: string, v: T) {
    const cost = this.cost(v);
    if (cost > this.maxCost) return;
    const old = this.m.get(k);
    if (old) this.total -= old.cost;
    this.m.delete(k);
    this.m.set(k, { v, cost });
    this.total += cost;
    while (this.total > this.maxCost) {
      const [key, e] = this.m.entries().next().value!;
      this.m.delete(key);
      this.total -= e.cost;
    }
  }
}

const JSON_TYPE = 'application/dicom+json';
/** Native little endian transfer syntaxes (implicit, explicit): metadata can come from the header alone. */
const NATIVE_LE = new Set(['1.2.840.10008.1.2', EXPLICIT_VR_LITTLE_ENDIAN]);
/** Bytes read for header-only metadata (a CT header is a few kB; a longer one falls back to the whole object). */
const HEADER_PREFIX = 64 * 1024;

/**
 * DICOMweb (PS3.18) over the blinded data, so Cornerstone3D's `wadors:` loader, OHIF or any DICOMweb client
 * can read it: QIDO-RS studies / series / instances, WADO-RS metadata, frames (uncompressed, Explicit VR Little
 * Endian), Pixel Data bulk data, and whole instances (multipart/related; type="application/dicom").
 *
 * Only de-identified instances exist in the index (`instances.deid_key`); original uploads have no route here.
 * The sponsor's ClinicalTrialSubjectID (0012,0040) is left out of metadata and instances: the Subject Reading
 * ID is the only identity this service shows.
 *
 * Access: admin and pipeline see every subject; reader and adjudicator only subjects assigned to them
 * (`mayRead`). A study outside the caller's assignments is not listed by QIDO and answers 403
 * when addressed directly.
 */
@ApiTags('dicomweb')
@Controller('v1/dicomweb')
@Roles('admin', 'pipeline', 'reader', 'adjudicator')
export class DicomwebController {
  private readonly repo: DicomwebRepository;
  private readonly access: SubjectAccess;
  private readonly views: ViewAudit;
  private readonly objects = new Lru<Buffer>(128 * 1024 * 1024, (b) => b.length);
  private readonly metadata = new Lru<DicomJson>(32 * 1024 * 1024, (j) => JSON.stringify(j).length);

  constructor(@Inject(RUNTIME) private readonly rt: Runtime) {
    this.repo = new DicomwebRepository(rt.db);
    this.access = new SubjectAccess(rt.db);
    this.views = new ViewAudit(rt.db);
  }

  /**
   * Whether the caller may read this subject. Admin and pipeline: every subject. Reader and adjudicator: only
   * their own assignments, through the review workflow's ReviewRepository.isAssigned(userId, readingId).
   */
  protected mayRead(user: AuthUser | undefined, readingId: string): Promise<boolean> {
    return this.access.may(user, readingId);
  }

  private async studyAccess(user: AuthUser | undefined, studyUid: string): Promise<string> {
    uid(studyUid, 'StudyInstanceUID');
    const readingId = await this.repo.readingIdOfStudy(studyUid);
    if (!readingId) throw new NotFoundException('no such study');
    if (!(await this.mayRead(user, readingId))) throw new ForbiddenException({ statusCode: 403, code: 'dicomweb.not-assigned', message: 'this study belongs to a subject that is not assigned to you' });
    return readingId;
  }

  /** URLs in answers are server-relative (clients resolve them against the URL they called). */
  private base(_req: Request): string {
    return DICOMWEB_ROOT;
  }

  private async object(key: string): Promise<Buffer> {
    const hit = this.objects.get(key);
    if (hit) return hit;
    try {
      const b = await this.rt.store.getBuffer(key);
      this.objects.set(key, b);
      return b;
    } catch (e) {
      if (e instanceof ObjectNotFoundError) throw new NotFoundException('the stored instance is missing');
      throw e;
    }
  }

  private instanceUrl(base: string, i: Pick<DicomwebInstanceRow, 'study_uid' | 'series_uid' | 'sop_instance_uid'>) {
    return `${base}/studies/${i.study_uid}/series/${i.series_uid}/instances/${i.sop_instance_uid}`;
  }

  private async instanceMetadata(base: string, i: DicomwebInstanceRow): Promise<DicomJson> {
    const cacheKey = `${i.deid_sha256}:${base}`;
    const hit = this.metadata.get(cacheKey);
    if (hit) return hit;
    const url = this.instanceUrl(base, i);
    const opts = { bulkDataUri: (tag: string) => `${url}/bulkdata/${tag}`, omit: READER_OMITTED_TAGS };
    let json = await this.headerOnlyJson(i, opts);
    if (!json) {
      const bytes = await this.object(i.deid_key);
      json = toDicomJson(bytes, opts);
      applyOverride(json, await pixelOverride(bytes).catch(() => ({})));
    }
    // what the frames route serves: native pixel data, Explicit VR Little Endian
    if (json[PIXEL_DATA]) json['00083002'] = { vr: 'UI', Value: [EXPLICIT_VR_LITTLE_ENDIAN] };
    this.metadata.set(cacheKey, json);
    return json;
  }

  /**
   * Metadata of a native (uncompressed little endian, not planar RGB) instance from the start of the object only: the
   * attributes end where Pixel Data begins, and such pixel data needs no override (what pixelOverride returns {} for).
   * Reads HEADER_PREFIX bytes instead of the whole object (a 512 x 512 CT slice is 0.5 MB, its header ~2 kB).
   * Undefined when that does not apply (compressed, a longer header, no pixel data): the caller reads the whole object.
   */
  private async headerOnlyJson(i: DicomwebInstanceRow, opts: Parameters<typeof toDicomJson>[1]): Promise<DicomJson | undefined> {
    if (!NATIVE_LE.has(i.transfer_syntax_uid)) return undefined;
    const img = (i.header as { image?: { samplesPerPixel?: number; planarConfiguration?: number; hasPixelData?: boolean } }).image;
    if (!img?.hasPixelData || (img.samplesPerPixel === 3 && img.planarConfiguration === 1)) return undefined;
    let prefix: Buffer;
    try {
      prefix = this.objects.get(i.deid_key) ?? (await this.rt.store.getBuffer(i.deid_key, { start: 0, end: HEADER_PREFIX - 1 }));
    } catch (e) {
      if (e instanceof ObjectNotFoundError) throw new NotFoundException('the stored instance is missing');
      throw e;
    }
    try {
      const p = parseDicom(prefix, { stopAtPixelData: true });
      const el = p.dataSet.elements.x7fe00010;
      if (!el || !NATIVE_LE.has(p.transferSyntaxUid) || el.dataOffset > prefix.length) return undefined;
      const json = toDicomJson(Buffer.from(prefix.subarray(0, el.dataOffset)), opts);
      return json[PIXEL_DATA] ? json : undefined;
    } catch {
      return undefined;
    }
  }

  private sendJson(req: Request, res: Response, body: unknown, warnings: string[] = []) {
    if (!acceptsDicomJson(parseAccept(req.headers.accept))) throw new NotAcceptableException(`this resource is available as ${JSON_TYPE} only`);
    res.setHeader('content-type', JSON_TYPE);
    if (warnings.length) res.setHeader('warning', warnings.map((w) => `299 dicomweb: "${w.replace(/"/g, "'")}"`).join(', '));
    return body;
  }

  private qido(q: Record<string, unknown>) {
    try {
      return parseQidoQuery(q);
    } catch (e) {
      throw new BadRequestException((e as Error).message);
    }
  }

  private ignoredWarning(ignored: string[]) {
    return ignored.length ? [`The following query parameters are not supported and were ignored: ${ignored.join(', ')}`] : [];
  }

  @Get('studies')
  @ApiOperation({ summary: 'QIDO-RS: studies of the subjects the caller may read (application/dicom+json)' })
  @ApiProduces(JSON_TYPE)
  async searchStudies(@CurrentUser() user: AuthUser, @Query() query: Record<string, unknown>, @Req() req: Request, @Res({ passthrough: true }) res: Response) {
    const q = this.qido(query);
    const base = this.base(req);
    // only the caller's subjects, filtered in SQL (one query for the assignments, not one per subject)
    const scope = await this.access.scope(user);
    const rows = await this.repo.studies(scope ? { readingIds: [...scope] } : {});
    const json = rows
      .map((r) =>
        studyAttributes({
          studyUid: r.study_uid,
          studyDate: r.study_date,
          timePointId: r.time_point_id,
          readingId: r.reading_id,
          seriesCount: Number(r.series_count),
          instanceCount: Number(r.instance_count),
          modalities: (r.modalities ?? []).filter((m): m is string => !!m).sort(),
          header: r.header as never,
          retrieveUrl: `${base}/studies/${r.study_uid}`,
        }),
      );
    return this.sendJson(req, res, applyQuery(json, q), this.ignoredWarning(q.ignored));
  }

  @Get('studies/:study/series')
  @ApiOperation({ summary: "QIDO-RS: a study's series" })
  @ApiProduces(JSON_TYPE)
  async searchSeries(@CurrentUser() user: AuthUser, @Param('study') study: string, @Query() query: Record<string, unknown>, @Req() req: Request, @Res({ passthrough: true }) res: Response) {
    await this.studyAccess(user, study);
    const q = this.qido(query);
    const base = this.base(req);
    const json = (await this.repo.series(study)).map((s) =>
      seriesAttributes({ studyUid: s.study_uid, seriesUid: s.series_uid, modality: s.modality, seriesNumber: s.series_number, instanceCount: Number(s.instance_count), header: s.header as never, retrieveUrl: `${base}/studies/${s.study_uid}/series/${s.series_uid}` }),
    );
    return this.sendJson(req, res, applyQuery(json, q), this.ignoredWarning(q.ignored));
  }

  @Get('studies/:study/series/:series/instances')
  @ApiOperation({ summary: "QIDO-RS: a series' instances" })
  @ApiProduces(JSON_TYPE)
  async searchInstances(@CurrentUser() user: AuthUser, @Param('study') study: string, @Param('series') series: string, @Query() query: Record<string, unknown>, @Req() req: Request, @Res({ passthrough: true }) res: Response) {
    await this.studyAccess(user, study);
    uid(series, 'SeriesInstanceUID');
    const q = this.qido(query);
    const base = this.base(req);
    const rows = await this.repo.instances({ studyUid: study, seriesUid: series });
    if (!rows.length && !(await this.repo.series(study, series)).length) throw new NotFoundException('no such series in this study');
    const json = rows.map((i) =>
      instanceAttributes({ studyUid: i.study_uid, seriesUid: i.series_uid, sopInstanceUid: i.sop_instance_uid, sopClassUid: i.sop_class_uid, instanceNumber: i.instance_number, frames: i.frames, transferSyntaxUid: i.transfer_syntax_uid, header: i.header as never, retrieveUrl: this.instanceUrl(base, i) }),
    );
    return this.sendJson(req, res, applyQuery(json, q), this.ignoredWarning(q.ignored));
  }

  private async selected(user: AuthUser, study: string, series?: string, sop?: string): Promise<DicomwebInstanceRow[]> {
    const readingId = await this.studyAccess(user, study);
    if (series) uid(series, 'SeriesInstanceUID');
    if (sop) uid(sop, 'SOPInstanceUID');
    const rows = await this.repo.instances({ studyUid: study, seriesUid: series, sopInstanceUid: sop });
    if (!rows.length) throw new NotFoundException(sop ? 'no such instance in this series' : series ? 'no such series in this study' : 'the study has no instances');
    // a reader / adjudicator retrieving a study's images (metadata, frames, instances): audited once per study per minute
    await this.views.record(user, 'images.view', 'study', study, { readingId });
    return rows;
  }

  @Get('studies/:study/metadata')
  @ApiOperation({ summary: 'WADO-RS: metadata of every instance of a study (DICOM JSON, Pixel Data as BulkDataURI)' })
  @ApiProduces(JSON_TYPE)
  async studyMetadata(@CurrentUser() user: AuthUser, @Param('study') study: string, @Req() req: Request, @Res({ passthrough: true }) res: Response) {
    const rows = await this.selected(user, study);
    const base = this.base(req);
    const out: DicomJson[] = [];
    for (const i of rows) out.push(await this.instanceMetadata(base, i));
    return this.sendJson(req, res, out);
  }

  @Get('studies/:study/series/:series/metadata')
  @ApiOperation({ summary: 'WADO-RS: metadata of every instance of a series' })
  @ApiProduces(JSON_TYPE)
  async seriesMetadata(@CurrentUser() user: AuthUser, @Param('study') study: string, @Param('series') series: string, @Req() req: Request, @Res({ passthrough: true }) res: Response) {
    const rows = await this.selected(user, study, series);
    const base = this.base(req);
    const out: DicomJson[] = [];
    for (const i of rows) out.push(await this.instanceMetadata(base, i));
    return this.sendJson(req, res, out);
  }

  @Get('studies/:study/series/:series/instances/:sop/metadata')
  @ApiOperation({ summary: 'WADO-RS: metadata of one instance' })
  @ApiProduces(JSON_TYPE)
  async instanceMetadataRoute(@CurrentUser() user: AuthUser, @Param('study') study: string, @Param('series') series: string, @Param('sop') sop: string, @Req() req: Request, @Res({ passthrough: true }) res: Response) {
    const [i] = await this.selected(user, study, series, sop);
    return this.sendJson(req, res, [await this.instanceMetadata(this.base(req), i!)]);
  }

  @Get('studies/:study/series/:series/instances/:sop/frames/:frames')
  @ApiOperation({ summary: 'WADO-RS: frames (1-based, comma-separated) as multipart/related; type="application/octet-stream", uncompressed, transfer-syntax=1.2.840.10008.1.2.1' })
  @ApiProduces('multipart/related')
  async frames(@CurrentUser() user: AuthUser, @Param('study') study: string, @Param('series') series: string, @Param('sop') sop: string, @Param('frames') frames: string, @Req() req: Request, @Res({ passthrough: true }) res: Response) {
    if (!/^\d{1,6}(,\d{1,6})*$/.test(frames)) throw new BadRequestException('frames: a comma-separated list of 1-based frame numbers');
    const numbers = frames.split(',').map(Number);
    if (numbers.length > 10_000) throw new BadRequestException('at most 10000 frames per request');
    if (!acceptsMultipart(parseAccept(req.headers.accept), 'application/octet-stream', EXPLICIT_VR_LITTLE_ENDIAN))
      throw new NotAcceptableException(`frames are served as multipart/related; type="application/octet-stream"; transfer-syntax=${EXPLICIT_VR_LITTLE_ENDIAN} only`);
    const [i] = await this.selected(user, study, series, sop);
    const bytes = await this.object(i!.deid_key);
    let r;
    try {
      r = await uncompressedFrames(bytes, numbers);
    } catch (e) {
      if (isInputError(e) && e.code === 'dicomweb.frame-out-of-range') throw new NotFoundException(e.message);
      if (isInputError(e)) throw new BadRequestException({ statusCode: 400, code: e.code, message: e.message });
      throw e;
    }
    const url = `${this.instanceUrl(this.base(req), i!)}/frames`;
    const partType = `application/octet-stream; transfer-syntax=${r.transferSyntaxUid}`;
    const mp = encodeMultipart('application/octet-stream', r.frames.map((body, k) => ({ contentType: partType, body, location: `${url}/${numbers[k]}` })), { transferSyntax: r.transferSyntaxUid });
    return this.sendMultipart(res, mp);
  }

  @Get('studies/:study/series/:series/instances/:sop/bulkdata/:tag')
  @ApiOperation({ summary: 'WADO-RS bulk data: Pixel Data (7FE00010, all frames uncompressed) or a large binary element named by a BulkDataURI' })
  @ApiProduces('multipart/related')
  async bulkdata(@CurrentUser() user: AuthUser, @Param('study') study: string, @Param('series') series: string, @Param('sop') sop: string, @Param('tag') tag: string, @Req() req: Request, @Res({ passthrough: true }) res: Response) {
    const t = tag.toUpperCase();
    if (!/^[0-9A-F]{8}$/.test(t)) throw new BadRequestException('tag: 8 hex digits, e.g. 7FE00010');
    if (READER_OMITTED_TAGS.has(t)) throw new NotFoundException('no such bulk data');
    if (!acceptsMultipart(parseAccept(req.headers.accept), 'application/octet-stream', EXPLICIT_VR_LITTLE_ENDIAN)) throw new NotAcceptableException('bulk data is served as multipart/related; type="application/octet-stream" only');
    const [i] = await this.selected(user, study, series, sop);
    const bytes = await this.object(i!.deid_key);
    let body: Buffer;
    if (t === PIXEL_DATA) {
      if (!(i!.header as { image?: { hasPixelData?: boolean } }).image?.hasPixelData) throw new NotFoundException('the instance has no Pixel Data');
      body = (await uncompressedPixelData(bytes)).bytes;
    } else {
      const json = toDicomJson(bytes, { bulkDataUri: () => 'x', maxInlineBytes: Number.MAX_SAFE_INTEGER, omit: READER_OMITTED_TAGS });
      const e = json[t];
      if (!e?.InlineBinary) throw new NotFoundException('no such bulk data');
      body = Buffer.from(e.InlineBinary, 'base64');
    }
    const url = `${this.instanceUrl(this.base(req), i!)}/bulkdata/${t}`;
    return this.sendMultipart(res, encodeMultipart('application/octet-stream', [{ contentType: `application/octet-stream; transfer-syntax=${EXPLICIT_VR_LITTLE_ENDIAN}`, body, location: url }]));
  }

  @Get('studies/:study')
  @ApiOperation({ summary: 'WADO-RS: every instance of a study as multipart/related; type="application/dicom" (blinded Part 10, stored transfer syntax)' })
  @ApiProduces('multipart/related')
  async retrieveStudy(@CurrentUser() user: AuthUser, @Param('study') study: string, @Req() req: Request, @Res({ passthrough: true }) res: Response) {
    return this.sendInstances(req, res, await this.selected(user, study));
  }

  @Get('studies/:study/series/:series')
  @ApiOperation({ summary: 'WADO-RS: every instance of a series (multipart/related; type="application/dicom")' })
  @ApiProduces('multipart/related')
  async retrieveSeries(@CurrentUser() user: AuthUser, @Param('study') study: string, @Param('series') series: string, @Req() req: Request, @Res({ passthrough: true }) res: Response) {
    return this.sendInstances(req, res, await this.selected(user, study, series));
  }

  @Get('studies/:study/series/:series/instances/:sop')
  @ApiOperation({ summary: 'WADO-RS: one instance (multipart/related; type="application/dicom")' })
  @ApiProduces('multipart/related')
  async retrieveInstance(@CurrentUser() user: AuthUser, @Param('study') study: string, @Param('series') series: string, @Param('sop') sop: string, @Req() req: Request, @Res({ passthrough: true }) res: Response) {
    return this.sendInstances(req, res, await this.selected(user, study, series, sop));
  }

  /**
   * Whole instances as stored (the blinded Part 10 bytes, less the omitted identifiers). The stored transfer
   * syntax is served: a request naming another transfer syntax answers 406 (no transcoding here).
   */
  private async sendInstances(req: Request, res: Response, rows: DicomwebInstanceRow[]) {
    const ranges = parseAccept(req.headers.accept);
    const syntaxes = [...new Set(rows.map((r) => r.transfer_syntax_uid))];
    const single = syntaxes.length === 1 ? syntaxes[0] : undefined;
    if (!syntaxes.every((ts) => acceptsMultipart(ranges, 'application/dicom', ts)))
      throw new NotAcceptableException(`instances are served as multipart/related; type="application/dicom" in their stored transfer syntax (${syntaxes.join(', ')}); transcoding is not offered`);
    const base = this.base(req);
    const parts = [];
    for (const i of rows) parts.push({ contentType: `application/dicom; transfer-syntax=${i.transfer_syntax_uid}`, body: readerView(await this.object(i.deid_key)), location: this.instanceUrl(base, i) });
    return this.sendMultipart(res, encodeMultipart('application/dicom', parts, { transferSyntax: single }));
  }

  private sendMultipart(res: Response, mp: { contentType: string; body: Buffer }) {
    res.setHeader('content-type', mp.contentType);
    res.setHeader('cache-control', 'private, max-age=3600');
    return new StreamableFile(mp.body, { type: mp.contentType, length: mp.body.length });
  }
}

function applyOverride(json: DicomJson, o: PixelOverride) {
  if (o.photometricInterpretation) json['00280004'] = { vr: 'CS', Value: [o.photometricInterpretation] };
  if (o.bitsAllocated) json['00280100'] = { vr: 'US', Value: [o.bitsAllocated] };
  if (o.planarConfiguration !== undefined) json['00280006'] = { vr: 'US', Value: [o.planarConfiguration] };
}
