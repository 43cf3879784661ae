/**
 * The Kubernetes manifests (infra/k8s) parsed and checked against the code they deploy (issue "Operations" §6):
 * every workload (api, worker, migrations Job) has requests and limits, runs as a numeric non-root user with a
 * read-only root filesystem and an emptyDir /tmp, takes every credential from the Secret, and the ConfigMap plus the
 * Secret's keys make a configuration the production config check accepts; the Deployments probe the split health
 * endpoints on ports that exist; each Deployment has a PodDisruptionBudget selecting exactly its pods; the KEDA
 * ScaledObject scales the worker Deployment on the Redis lists this Bull version really uses for QUEUE_NAME (and
 * for each heavy job type's lane). Validation against the Kubernetes/KEDA schemas: k8s-schema.test.ts.
 */
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Bull from 'bull';
import Redis from 'ioredis';
import { parseAllDocuments } from 'yaml';
import { loadConfig, repoRoot } from '@app/core';
import { HEAVY_JOBS } from '@app/pipeline';
import { loadOpsConfig } from '../../apps/api/src/ops/ops-config';
import { REDIS_URL } from '../support/services';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const dir = join(repoRoot(), 'infra/k8s');
const load = (file: string): (Obj & { file: string })[] =>
  parseAllDocuments(readFileSync(file, 'utf8')).map((d) => {
    if (d.errors.length) throw new Error(`${file}: ${d.errors[0]!.message}`);
    return { ...(d.toJS() as Obj), file };
  });
const docs = [...readdirSync(dir).filter((f) => f.endsWith('.yaml')).map((f) => join(dir, f)), join(dir, 'examples/secret.yaml')].flatMap(load).filter((d) => d.kind);
const byKind = (kind: string) => docs.filter((d) => d.kind === kind);
const one = (kind: string, name: string) => {
  const hits = docs.filter((d) => d.kind === kind && d.metadata?.name === name);
  if (hits.length !== 1) throw new Error(`${hits.length} ${kind} ${name}`);
  return hits[0]!;
};

const configMap = one('ConfigMap', 'endpoint-service-config');
const secret = one('Secret', 'endpoint-service-secrets');
const workloads = [...byKind('Deployment'), ...byKind('Job')];
const pod = (w: Obj) => w.spec.template.spec as Obj;
/** Settings that are credentials: only ever from the Secret. */
const CREDENTIALS = ['DATABASE_URL', 'REDIS_URL', 'REDIS_ADDRESS', 'REDIS_PASSWORD', 'WEBHOOK_SECRET', 'AUTH_JWT_SECRET', 'DEID_SECRET', 'METRICS_TOKEN', 'S3_ACCESS_KEY_ID', 'S3_SECRET_ACCESS_KEY'];

test('all manifests parse; the three roles are there', () => {
  expect(docs.length).toBeGreaterThanOrEqual(10);
  expect(workloads.map((w) => `${w.kind}/${w.metadata.name}`).sort()).toEqual(['Deployment/endpoint-api', 'Deployment/endpoint-worker', 'Job/endpoint-migrate']);
  expect(one('Job', 'endpoint-migrate').spec.template.spec.containers[0].command).toEqual(['node', 'dist/apps/cli/src/main.js', 'migrate']);
  expect(readFileSync(join(repoRoot(), 'apps/cli/src/main.ts'), 'utf8')).toMatch(/case 'migrate':/);
  expect(['Never', 'OnFailure']).toContain(one('Job', 'endpoint-migrate').spec.template.spec.restartPolicy);
});

test.each(workloads.map((w) => [`${w.kind}/${w.metadata.name}`, w]))('%s: requests and limits, non-root, read-only root filesystem, emptyDir /tmp', (_n, w) => {
  const p = pod(w as Obj);
  expect(p.securityContext).toMatchObject({ runAsNonRoot: true });
  expect(p.securityContext.runAsUser).toBeGreaterThan(0);
  const volumes = new Map<string, Obj>((p.volumes ?? []).map((v: Obj) => [v.name, v]));
  for (const c of p.containers as Obj[]) {
    for (const k of ['requests', 'limits']) for (const r of ['cpu', 'memory']) expect([c.name, k, r, typeof c.resources?.[k]?.[r]]).toEqual([c.name, k, r, 'string']);
    expect(c.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, runAsNonRoot: true, capabilities: { drop: ['ALL'] } });
    const tmp = (c.volumeMounts as Obj[]).find((m) => m.mountPath === '/tmp');
    expect(volumes.get(tmp!.name)?.emptyDir).toBeDefined();
  }
});

test('the image runs as the same numeric non-root user', () => {
  const df = readFileSync(join(repoRoot(), 'infra/Dockerfile'), 'utf8');
  const user = /^USER (\d+)(?::(\d+))?$/m.exec(df);
  expect(user).not.toBeNull();
  for (const w of workloads) expect(pod(w).securityContext.runAsUser).toBe(Number(user![1]));
  expect(Number(user![1])).not.toBe(0);
});

test("the image's npm ci skips onnxruntime's CUDA download unless asked (ONNXRUNTIME_NODE_INSTALL build arg, default skip, set before npm ci)", () => {
  const df = readFileSync(join(repoRoot(), 'infra/Dockerfile'), 'utf8');
  const arg = df.search(/^ARG ONNXRUNTIME_NODE_INSTALL=skip$/m);
  const ci = df.search(/^RUN npm ci\b/m);
  expect({ arg: arg >= 0, ci: ci >= 0, argFirst: arg < ci }).toEqual({ arg: true, ci: true, argFirst: true });
  // the same default as a plain `npm ci` here
  expect(readFileSync(join(repoRoot(), '.npmrc'), 'utf8')).toMatch(/^onnxruntime-node-install=skip$/m);
});

test('credentials come only from the Secret (secretKeyRef), never from the ConfigMap or an inline value; production config validates', () => {
  for (const key of Object.keys(configMap.data)) expect([key, CREDENTIALS.includes(key) || /SECRET|TOKEN|PASSWORD/.test(key)]).toEqual([key, false]);
  for (const w of workloads)
    for (const c of pod(w).containers as Obj[]) {
      for (const e of (c.env ?? []) as Obj[]) {
        if (CREDENTIALS.includes(e.name) || /SECRET|TOKEN|PASSWORD/.test(e.name)) {
          expect([w.metadata.name, e.name, e.value]).toEqual([w.metadata.name, e.name, undefined]);
          expect(e.valueFrom?.secretKeyRef?.name).toBe('endpoint-service-secrets');
          // every key it reads exists in the Secret (optional ones: the IAM-role alternative)
          if (!e.valueFrom.secretKeyRef.optional) expect(Object.keys(secret.stringData)).toContain(e.valueFrom.secretKeyRef.key);
        }
      }
      for (const src of (c.envFrom ?? []) as Obj[]) expect(src.configMapRef?.name ?? src.secretRef?.name).toMatch(/^endpoint-service-(config|secrets)$/);
      // the settings production refuses to start without are all provided by the Secret
      const fromSecret = ((c.env ?? []) as Obj[]).filter((e) => e.valueFrom?.secretKeyRef).map((e) => e.name);
      expect(fromSecret).toEqual(expect.arrayContaining(['DATABASE_URL', 'REDIS_URL', 'WEBHOOK_SECRET', 'AUTH_JWT_SECRET', 'DEID_SECRET']));
      const env: Record<string, string> = { ...configMap.data };
      for (const e of (c.env ?? []) as Obj[]) env[e.name] = e.value ?? (e.valueFrom.secretKeyRef.optional ? undefined : secret.stringData[e.valueFrom.secretKeyRef.key]);
      const cfg = loadConfig(env);
      expect(cfg.NODE_ENV).toBe('production');
      expect(cfg.mode).toEqual({ store: 's3', db: 'postgres', queue: 'bull' });
      expect(loadOpsConfig(env).METRICS_PORT).toBe(Number(configMap.data.METRICS_PORT));
    }
});

test('Deployments probe the split health endpoints on ports that exist', () => {
  for (const d of byKind('Deployment')) {
    const c = pod(d).containers[0] as Obj;
    expect([d.metadata.name, c.livenessProbe?.httpGet?.path, c.readinessProbe?.httpGet?.path]).toEqual([d.metadata.name, '/health/live', '/health/ready']);
    if (c.startupProbe) expect(c.startupProbe.httpGet.path).toBe('/health/live');
    const ports = new Map<string, number>((c.ports as Obj[]).map((p) => [p.name, p.containerPort]));
    for (const probe of [c.livenessProbe, c.readinessProbe]) expect(ports.has(probe.httpGet.port)).toBe(true);
    const port = ports.get(c.readinessProbe.httpGet.port);
    if (d.metadata.name === 'endpoint-api') expect(String(port)).toBe((c.env as Obj[]).find((e) => e.name === 'PORT')!.value);
    else expect(String(port)).toBe(configMap.data.METRICS_PORT); // the worker's operator port
  }
});

test('each Deployment has a PodDisruptionBudget selecting exactly its pods', () => {
  const pdbs = byKind('PodDisruptionBudget');
  for (const d of byKind('Deployment')) {
    const labels = d.spec.template.metadata.labels as Record<string, string>;
    const mine = pdbs.filter((p) => Object.entries(p.spec.selector.matchLabels as Record<string, string>).every(([k, v]) => labels[k] === v));
    expect([d.metadata.name, mine.length]).toEqual([d.metadata.name, 1]);
    expect(mine[0]!.spec.selector.matchLabels).toEqual(d.spec.selector.matchLabels);
    // and no other Deployment's pods
    for (const other of byKind('Deployment').filter((o) => o !== d)) expect(Object.entries(mine[0]!.spec.selector.matchLabels as Record<string, string>).every(([k, v]) => other.spec.template.metadata.labels[k] === v)).toBe(false);
    expect(mine[0]!.spec.minAvailable ?? mine[0]!.spec.maxUnavailable).toBeDefined();
  }
});

test('KEDA scales the worker Deployment on the Redis lists Bull really uses for QUEUE_NAME and each heavy lane', async () => {
  const so = one('ScaledObject', 'endpoint-worker');
  const worker = one('Deployment', 'endpoint-worker');
  expect(so.apiVersion).toMatch(/^keda\.sh\//);
  expect(so.spec.scaleTargetRef).toMatchObject({ kind: 'Deployment', name: worker.metadata.name });
  expect(so.spec.minReplicaCount).toBeGreaterThanOrEqual(1); // delayed retries need a running worker to be promoted
  expect(so.spec.maxReplicaCount).toBeGreaterThan(so.spec.minReplicaCount);
  const q = configMap.data.QUEUE_NAME as string;
  const lists = (so.spec.triggers as Obj[]).map((t) => {
    expect(t.type).toBe('redis');
    expect(Number(t.metadata.listLength)).toBeGreaterThan(0);
    const auth = one('TriggerAuthentication', t.authenticationRef.name);
    for (const ref of auth.spec.secretTargetRef as Obj[]) {
      expect(ref.name).toBe('endpoint-service-secrets');
      expect(Object.keys(secret.stringData)).toContain(ref.key);
    }
    expect((auth.spec.secretTargetRef as Obj[]).map((r) => r.parameter)).toContain('address');
    return t.metadata.listName as string;
  });
  expect(lists).toContain(`bull:${q}:wait`);
  for (const job of HEAVY_JOBS) expect(lists).toContain(`bull:${q}.${job}:wait`);

  // the key layout is Bull's, checked on a real Redis: a job added to a queue named like ours sits in bull:<name>:wait
  const name = `ops-k8s-${randomBytes(3).toString('hex')}`;
  const queue = new Bull(name, REDIS_URL);
  const redis = new Redis(REDIS_URL);
  try {
    await queue.add('x', { n: 1 });
    await queue.add('x', { n: 2 });
    expect(await redis.type(`bull:${name}:wait`)).toBe('list');
    expect(await redis.llen(`bull:${name}:wait`)).toBe(2);
  } finally {
    await queue.obliterate({ force: true }).catch(() => {});
    await queue.close();
    redis.disconnect();
  }
});
