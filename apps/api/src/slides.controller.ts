import { BadRequestException, Controller, Get, Inject, NotFoundException, Param, Res, StreamableFile } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { type SlideRow, SlidesRepository } from '@app/db';
import type { Runtime } from '@app/pipeline';
import { ObjectNotFoundError } from '@app/storage';
import { RUNTIME } from './runtime.provider';
import { type AuthUser, CurrentUser, Roles } from './auth/roles';
import { SubjectAccess } from './subject-access';
import { ViewAudit } from './view-audit';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Slide metadata for readers: geometry, MPP, tissue, patches. No filename, no label, no macro, no identifying text. */
const view = (s: SlideRow & { reading_id?: string | null }) => ({
  id: s.id,
  readingId: s.reading_id ?? null,
  format: s.format,
  width: s.width,
  height: s.height,
  mpp: s.mpp_x ? { x: s.mpp_x, y: s.mpp_y } : null,
  objectivePower: s.objective_power,
  levels: s.levels,
  tissue: s.tissue,
  patches: s.patches,
  dzi: `/v1/slides/${s.id}.dzi`,
  thumbnail: `/v1/slides/${s.id}/thumbnail.jpg`,
  tissueMask: `/v1/slides/${s.id}/tissue.png`,
  blinding: { removedAssociatedImages: (s.blinding as { removedAssociatedImages?: string[] }).removedAssociatedImages ?? [] },
});

/**
 * Deep Zoom tiles, thumbnails and tissue masks of blinded slides, served from the object store.
 * Label and macro images have no route: they are removed from the blinded copy and never stored.
 */
// Readers and adjudicators: only slides of subjects assigned to them (ReviewRepository.isAssigned).
@ApiTags('slides')
@Controller('v1/slides')
@Roles('admin', 'pipeline', 'reader', 'adjudicator')
export class SlidesController {
  private readonly slides: SlidesRepository;
  private readonly access: SubjectAccess;
  private readonly views: ViewAudit;
  constructor(@Inject(RUNTIME) private readonly rt: Runtime) {
    this.slides = new SlidesRepository(rt.db);
    this.access = new SubjectAccess(rt.db);
    this.views = new ViewAudit(rt.db);
  }

  private async slide(id: string, user: AuthUser) {
    if (!UUID.test(id)) throw new BadRequestException('slide id must be a UUID');
    const s = SubjectAccess.seesAll(user) ? await this.slides.byId(id) : await this.slides.withReadingId(id);
    if (!s) throw new NotFoundException('no such slide');
    if (!SubjectAccess.seesAll(user)) await this.access.assert(user, (s as { reading_id?: string | null }).reading_id);
    return s;
  }

  private async send(res: Response, key: string, type: string) {
    try {
      const body = await this.rt.store.get(key);
      res.setHeader('content-type', type);
      res.setHeader('cache-control', 'private, max-age=86400');
      return new StreamableFile(body);
    } catch (e) {
      if (e instanceof ObjectNotFoundError) throw new NotFoundException('no such tile');
      throw e;
    }
  }

  @Get()
  @ApiOperation({ summary: 'Slides (readers and adjudicators: slides of their assigned subjects only)' })
  async list(@CurrentUser() user: AuthUser) {
    const scope = await this.access.scope(user);
    return { items: (await this.slides.list(scope ? [...scope] : undefined)).map(view) };
  }

  @Get(':idOrDzi')
  @ApiOperation({ summary: 'Slide metadata (GET /v1/slides/:id) or its Deep Zoom descriptor (GET /v1/slides/:id.dzi)' })
  async one(@Param('idOrDzi') p: string, @Res({ passthrough: true }) res: Response, @CurrentUser() user: AuthUser) {
    if (p.endsWith('.dzi')) {
      const s = await this.slide(p.slice(0, -4), user);
      await this.views.record(user, 'slide.view', 'slide', s.id, { route: 'dzi', readingId: (s as { reading_id?: string | null }).reading_id ?? null });
      return this.send(res, s.dzi_key, 'application/xml');
    }
    const s = await this.slide(p, user);
    const v = view((await this.slides.withReadingId(s.id))!);
    await this.views.record(user, 'slide.view', 'slide', s.id, { route: 'metadata', readingId: v.readingId });
    return v;
  }

  @Get(':id/thumbnail.jpg')
  async thumbnail(@Param('id') id: string, @Res({ passthrough: true }) res: Response, @CurrentUser() user: AuthUser) {
    return this.send(res, (await this.slide(id, user)).thumbnail_key, 'image/jpeg');
  }

  @Get(':id/tissue.png')
  async tissue(@Param('id') id: string, @Res({ passthrough: true }) res: Response, @CurrentUser() user: AuthUser) {
    return this.send(res, (await this.slide(id, user)).tissue_key, 'image/png');
  }

  @Get(':files/:level/:tile')
  @ApiOperation({ summary: 'A Deep Zoom tile: /v1/slides/:id_files/:level/:col_:row.jpeg' })
  async tile(@Param('files') files: string, @Param('level') level: string, @Param('tile') tile: string, @Res({ passthrough: true }) res: Response, @CurrentUser() user: AuthUser) {
    if (!files.endsWith('_files') || !/^\d{1,2}$/.test(level) || !/^\d{1,6}_\d{1,6}\.(jpeg|png)$/.test(tile)) throw new BadRequestException('expected /v1/slides/<id>_files/<level>/<col>_<row>.jpeg');
    const s = await this.slide(files.slice(0, -'_files'.length), user);
    const base = s.dzi_key.slice(0, -'.dzi'.length);
    return this.send(res, `${base}_files/${level}/${tile}`, tile.endsWith('.png') ? 'image/png' : 'image/jpeg');
  }
}
