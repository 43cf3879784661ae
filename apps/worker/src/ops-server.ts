/**
 * The worker's operator port (METRICS_PORT, default 9464): a worker is a separate process with no HTTP API, so it
 * serves its own
 *   GET /metrics        its job execution (durations, completions, failures, retries) and process metrics;
 *                       Bearer METRICS_TOKEN like the API's (required in production). Deployment-wide state
 *                       (queue depth, objects, quarantine) is the API's /metrics: N workers would repeat the queries.
 *   GET /health/live    200 while the process runs (no dependency checked)
 *   GET /health/ready   database, Redis (Bull), object store: 200 or 503, the same checks as the API's
 * Plain node:http: the worker runs Nest as an application context only.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Runtime } from '@app/pipeline';
import { OpsMetrics } from '../../api/src/ops/metrics';
import { metricsAccess, type OpsConfig } from '../../api/src/ops/ops-config';
import { readiness } from '../../api/src/ops/readiness';

export interface WorkerOpsServer {
  port: number;
  metrics: OpsMetrics;
  close(): Promise<void>;
}

export async function startWorkerOpsServer(rt: Runtime, cfg: OpsConfig, opts: { port?: number; host?: string } = {}): Promise<WorkerOpsServer> {
  const metrics = new OpsMetrics(rt, { role: 'worker', stateGauges: false, jobEvents: true });
  const json = (res: import('node:http').ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
    res.end(JSON.stringify(body));
  };
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') return json(res, 405, { statusCode: 405, message: 'GET only' });
    void (async () => {
      if (path === '/health/live') return json(res, 200, { status: 'ok', info: { process: { status: 'up', uptimeS: Math.round(process.uptime()) } } });
      if (path === '/health/ready') {
        const r = await readiness(rt, cfg.READY_CHECK_TIMEOUT_MS);
        return json(res, r.status === 'ok' ? 200 : 503, r);
      }
      if (path === '/metrics') {
        const a = metricsAccess(cfg, req.headers.authorization);
        if (!a.ok) {
          if (a.status === 401) res.setHeader('www-authenticate', 'Bearer realm="metrics"');
          return json(res, a.status, { statusCode: a.status, code: a.code, message: a.message });
        }
        const m = await metrics.render();
        res.writeHead(200, { 'content-type': m.contentType, 'cache-control': 'no-store' });
        return res.end(m.body);
      }
      return json(res, 404, { statusCode: 404, message: 'not found: /metrics, /health/live, /health/ready' });
    })().catch((e: Error) => {
      rt.log.error({ err: { name: e.name, message: e.message } }, 'worker ops server');
      if (!res.headersSent) json(res, 500, { statusCode: 500, message: 'internal error' });
      else res.end();
    });
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) => {
      metrics.close();
      reject(e);
    });
    server.listen(opts.port ?? cfg.METRICS_PORT, opts.host ?? '0.0.0.0', () => {
      server.removeAllListeners('error');
      server.on('error', (e) => rt.log.error({ err: { name: e.name, message: e.message } }, 'worker ops server'));
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    metrics,
    close: () =>
      new Promise<void>((resolve) => {
        metrics.close();
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}
