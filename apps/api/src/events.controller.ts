import { BadRequestException, Body, Controller, Headers, HttpCode, Inject, Post, Req, ServiceUnavailableException, UnauthorizedException } from '@nestjs/common';
import { ApiBody, ApiHeader, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { RawBodyRequest } from '@nestjs/common';
import type { Request } from 'express';
import { DEV_WEBHOOK_SECRET, isInputError } from '@app/core';
import { EventFormatError, IngestBusyError, parseS3Event, verifyWebhook } from '@app/ingest';
import type { Runtime } from '@app/pipeline';
import { RUNTIME } from './runtime.provider';
import { Public } from './auth/roles';

/** Public to the access guard: the webhook authenticates itself (HMAC signature or the shared WEBHOOK_SECRET), as S3/MinIO cannot send a JWT. */
@ApiTags('ingest')
@Controller('v1/events')
@Public()
export class EventsController {
  constructor(@Inject(RUNTIME) private readonly rt: Runtime) {}

  @Post('s3')
  @HttpCode(202)
  @ApiOperation({
    summary: 'S3 event notification webhook (S3/MinIO Records[], SNS Notification, EventBridge Object Created)',
    description: 'Authenticated by X-Signature: sha256=<HMAC-SHA256 of the raw body>, or Authorization: Bearer <secret>, or X-Webhook-Token. Enqueues one ingest job per created object; repeated events are no-ops.',
  })
  @ApiHeader({ name: 'X-Signature', required: false })
  @ApiBody({ schema: { type: 'object', example: { Records: [{ eventName: 'ObjectCreated:Put', s3: { bucket: { name: 'trial-uploads' }, object: { key: 'incoming/ct/1.dcm', eTag: 'abc', size: 1024 } } }] } } })
  async s3(@Req() req: RawBodyRequest<Request>, @Headers() headers: Record<string, string>, @Body() body: unknown) {
    const secret = this.rt.config.WEBHOOK_SECRET ?? DEV_WEBHOOK_SECRET;
    const how = verifyWebhook(headers, req.rawBody, secret);
    if (!how) throw new UnauthorizedException('unauthenticated event: sign the body (X-Signature: sha256=HMAC) or send the shared secret');
    let events;
    try {
      events = parseS3Event(body);
    } catch (e) {
      if (e instanceof EventFormatError) throw new BadRequestException(e.message);
      throw e;
    }
    try {
      const r = await this.rt.ingest.enqueueEvents(events);
      return { received: events.length, accepted: r.accepted, duplicates: r.duplicates, jobIds: r.jobs.map((j) => j.jobId) };
    } catch (e) {
      if (isInputError(e)) throw new BadRequestException(e.message);
      if (e instanceof IngestBusyError) {
        // backpressure in a burst: S3/SNS/MinIO retry a 5xx delivery with backoff
        req.res?.setHeader('retry-after', String(e.retryAfterS));
        throw new ServiceUnavailableException(e.message);
      }
      throw e;
    }
  }
}
