import { BadRequestException, Body, Controller, Get, HttpCode, Inject, Post, Query, Req } from '@nestjs/common';
import { ApiBody, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import type { Request } from 'express';
import { type AuthService, AuthError, type AuthUser, auditActor, ROLES } from '@app/auth';
import { AuditRepository } from '@app/db';
import type { Runtime } from '@app/pipeline';
import { RUNTIME } from '../runtime.provider';
import { AUTH_SERVICE } from './auth.guard';
import { CurrentUser, Public, Roles } from './roles';

const userView = (u: AuthUser) => ({ id: u.id, username: u.username, displayName: u.displayName, roles: u.roles, grants: u.grants });

@ApiTags('auth')
@Controller('v1/auth')
export class AuthController {
  constructor(@Inject(AUTH_SERVICE) private readonly auth: AuthService) {}

  @Post('login')
  @Public()
  @HttpCode(200)
  @ApiOperation({ summary: 'Log in: a short-lived bearer token (AUTH_TOKEN_TTL_S). Failures are audited, rate-limited per address (429) and lock the account (423).' })
  @ApiBody({ schema: { type: 'object', required: ['username', 'password'], properties: { username: { type: 'string' }, password: { type: 'string', format: 'password' } } } })
  async login(@Body() body: { username?: string; password?: string }, @Req() req: Request) {
    if (typeof body?.username !== 'string' || typeof body?.password !== 'string') throw new AuthError(400, 'auth.bad-request', 'username and password are required (JSON strings)');
    const r = await this.auth.login(body.username, body.password, { ip: req.ip });
    return { token: r.token, tokenType: 'Bearer', expiresAt: r.expiresAt.toISOString(), user: userView(r.user) };
  }

  @Get('me')
  @Roles(...ROLES)
  @ApiOperation({ summary: 'The authenticated user (from the token)' })
  me(@CurrentUser() user: AuthUser) {
    return userView(user);
  }

  @Post('logout')
  @Roles(...ROLES)
  @HttpCode(200)
  @ApiOperation({ summary: "Revoke this token's session (the token stops working at once)" })
  async logout(@CurrentUser() user: AuthUser & { sessionId?: string }) {
    await this.auth.logout(user);
    return { loggedOut: true };
  }
}

@ApiTags('auth')
@Controller('v1/users')
@Roles('admin')
export class UsersController {
  constructor(@Inject(AUTH_SERVICE) private readonly auth: AuthService) {}

  @Post()
  @HttpCode(201)
  @ApiOperation({ summary: 'Create a user (admin). Roles: reader, adjudicator, biostatistician, pipeline, admin; grants: unblinding (biostatisticians only). Audited.' })
  @ApiBody({ schema: { type: 'object', required: ['username', 'password', 'roles'], properties: { username: { type: 'string' }, displayName: { type: 'string' }, password: { type: 'string', format: 'password', minLength: 12 }, roles: { type: 'array', items: { enum: [...ROLES] } }, grants: { type: 'array', items: { enum: ['unblinding'] } } } } })
  async create(@Body() body: { username?: string; displayName?: string; password?: string; roles?: string[]; grants?: string[] }, @CurrentUser() me: AuthUser) {
    const u = await this.auth.createUser({ username: String(body?.username ?? ''), displayName: body?.displayName, password: body?.password as string, roles: Array.isArray(body?.roles) ? body.roles : [], grants: Array.isArray(body?.grants) ? body.grants : [] }, { actor: auditActor(me), actorRoles: me.roles });
    return userView(u);
  }

  @Get()
  @ApiOperation({ summary: 'Users (admin): roles, grants, lock and disabled state; never password hashes' })
  async list() {
    return { items: (await this.auth.users.list()).map((u) => ({ id: u.id, username: u.username, displayName: u.display_name, roles: u.roles, grants: u.grants, disabled: u.disabled, lockedUntil: u.locked_until, lastLoginAt: u.last_login_at })) };
  }
}

@ApiTags('audit')
@Controller('v1/audit')
@Roles('admin')
export class AuditController {
  private readonly audit: AuditRepository;
  constructor(@Inject(RUNTIME) rt: Runtime) {
    this.audit = new AuditRepository(rt.db);
  }

  @Get('verify')
  @ApiOperation({ summary: 'Re-hash the whole audit chain and check it against the heads anchored in data cut manifests; names the first altered, removed, inserted or reordered entry' })
  async verify() {
    return this.audit.verify({ anchors: await this.audit.cutAnchors() });
  }

  @Get()
  @ApiOperation({ summary: 'Audit entries, newest first (admin)' })
  @ApiQuery({ name: 'entityType', required: false })
  @ApiQuery({ name: 'entityId', required: false })
  @ApiQuery({ name: 'action', required: false })
  @ApiQuery({ name: 'actor', required: false })
  @ApiQuery({ name: 'limit', required: false })
  @ApiQuery({ name: 'beforeSeq', required: false })
  async list(@Query('entityType') entityType?: string, @Query('entityId') entityId?: string, @Query('action') action?: string, @Query('actor') actor?: string, @Query('limit') limit?: string, @Query('beforeSeq') beforeSeq?: string) {
    if (beforeSeq !== undefined && !/^\d{1,18}$/.test(beforeSeq)) throw new BadRequestException('beforeSeq must be a whole number');
    return { items: await this.audit.list({ entityType, entityId, action, actor, limit: limit ? Number(limit) || 100 : 100, beforeSeq }) };
  }
}
