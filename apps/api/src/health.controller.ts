import { Controller, Get, HttpException, Inject } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Runtime } from '@app/pipeline';
import { RUNTIME } from './runtime.provider';
import { Public } from './auth/roles';

@ApiTags('operations')
@Controller()
@Public()
export class HealthController {
  constructor(@Inject(RUNTIME) private readonly rt: Runtime) {}

  @Get('health')
  @ApiOperation({ summary: 'Checks the database, the queue and the object store; 503 when any is down' })
  async health() {
    const h = await this.rt.health();
    if (!h.ok) throw new HttpException(h, 503);
    return h;
  }
}
