import { BadRequestException, Controller, Get, Inject, NotFoundException, Param, ParseUUIDPipe, Query } from '@nestjs/common';
import { ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import type { ObjectKind, ObjectRow, ObjectStatus } from '@app/db';
import type { Runtime } from '@app/pipeline';
import { RUNTIME } from './runtime.provider';
import { Roles } from './auth/roles';

const STATUSES: ObjectStatus[] = ['received', 'ingesting', 'no-processor', 'queued', 'processing', 'processed', 'quarantined', 'failed'];
const KINDS: ObjectKind[] = ['dicom', 'tiff', 'bigtiff', 'epro-csv', 'epro-json', 'unknown'];

/** The API view of an object. The key is shown: this API is for operators, behind access control. */
const view = (o: ObjectRow) => ({
  id: o.id,
  bucket: o.bucket,
  key: o.key,
  size: Number(o.size),
  sha256: o.sha256,
  kind: o.kind,
  status: o.status,
  reason: o.reason,
  reasonCode: o.reason_code,
  detail: o.detail,
  createdAt: o.created_at,
  updatedAt: o.updated_at,
  processedAt: o.processed_at,
});

@ApiTags('ingest')
@Controller('v1/objects')
@Roles('admin', 'pipeline')
export class ObjectsController {
  constructor(@Inject(RUNTIME) private readonly rt: Runtime) {}

  @Get()
  @ApiOperation({ summary: 'Objects seen by ingest, filtered by status (e.g. quarantined, no-processor, failed) and kind' })
  @ApiQuery({ name: 'status', required: false, enum: STATUSES })
  @ApiQuery({ name: 'kind', required: false, enum: KINDS })
  @ApiQuery({ name: 'limit', required: false })
  @ApiQuery({ name: 'offset', required: false })
  async list(@Query('status') status?: string, @Query('kind') kind?: string, @Query('limit') limit?: string, @Query('offset') offset?: string) {
    if (status && !STATUSES.includes(status as ObjectStatus)) throw new BadRequestException(`status must be one of ${STATUSES.join(', ')}`);
    if (kind && !KINDS.includes(kind as ObjectKind)) throw new BadRequestException(`kind must be one of ${KINDS.join(', ')}`);
    const rows = await this.rt.objects.list({ status: status as ObjectStatus, kind: kind as ObjectKind, limit: limit ? Number(limit) : undefined, offset: offset ? Number(offset) : undefined });
    return { items: rows.map(view) };
  }

  @Get(':id')
  async get(@Param('id', ParseUUIDPipe) id: string) {
    const o = await this.rt.objects.byId(id);
    if (!o) throw new NotFoundException('no such object');
    return view(o);
  }
}
