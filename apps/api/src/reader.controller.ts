import { existsSync, statSync } from 'node:fs';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { Controller, Get, NotFoundException, Param, Req, Res, ServiceUnavailableException } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { repoRoot } from '@app/core';
import { Public } from './auth/roles';

/** Where `npm run build:reader` writes the readers' web app (apps/reader, Vite). */
export const readerDist = () => process.env.READER_DIST_DIR ?? join(repoRoot(), 'dist/reader');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.map': 'application/json',
};

/**
 * The readers' web app as static files (public: the app itself holds no data; every API call it makes carries the
 * reader's token). `/reader/` serves index.html, `/reader/assets/*` the hashed bundles (cached for a year),
 * anything else under /reader/ falls back to index.html (the app routes with the URL hash).
 */
@ApiTags('reader')
@Controller('reader')
@Public()
export class ReaderController {
  @Get()
  @ApiOperation({ summary: "The readers' web app (index.html; /reader redirects to /reader/)" })
  root(@Req() req: Request, @Res() res: Response) {
    // Express matches /reader and /reader/ here (non-strict routing): only the bare path is redirected
    if (!req.originalUrl.split('?')[0]!.endsWith('/')) return res.redirect(302, '/reader/');
    return this.file('', res);
  }

  @Get('assets/:file')
  @ApiOperation({ summary: "The readers' web app: a built asset (hashed name, cached for a year)" })
  asset(@Param('file') file: string, @Res() res: Response) {
    return this.file(`assets/${file}`, res);
  }

  @Get(':file')
  @ApiOperation({ summary: "The readers' web app: a top-level file, or index.html" })
  top(@Param('file') file: string, @Res() res: Response) {
    return this.file(file, res);
  }

  private file(rel: string, res: Response) {
    const root = resolve(readerDist());
    const index = join(root, 'index.html');
    if (!existsSync(index)) throw new ServiceUnavailableException('the reader app is not built: run `npm run build:reader`');
    const file = rel ? resolve(root, normalize(rel)) : index;
    if (file !== root && !file.startsWith(root + sep)) throw new NotFoundException();
    if (rel.split('/').some((seg) => seg.startsWith('.'))) throw new NotFoundException(); // no dotfiles (build stamps)
    const isFile = existsSync(file) && statSync(file).isFile();
    if (!isFile && (rel.startsWith('assets/') || extname(rel))) throw new NotFoundException('no such file');
    const target = isFile ? file : index;
    const type = TYPES[extname(target)] ?? 'application/octet-stream';
    res.setHeader('content-type', type);
    res.setHeader('x-content-type-options', 'nosniff');
    if (target === index) {
      res.setHeader('cache-control', 'no-cache');
      res.setHeader('x-frame-options', 'DENY');
      res.setHeader('referrer-policy', 'no-referrer');
    } else if (rel.startsWith('assets/')) res.setHeader('cache-control', 'public, max-age=31536000, immutable');
    res.sendFile(target);
  }
}
