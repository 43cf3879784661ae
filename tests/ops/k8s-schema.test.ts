/**
 * The Kubernetes manifests validated against the Kubernetes, KEDA and prometheus-operator schemas (issue
 * "Operations" §6) by infra/k8s/validate.mjs (kubernetes-models validators, generated from the upstream OpenAPI specs
 * and CRDs; ESM-only, so run by Node itself in a child process). Broken copies of the shipped manifests are refused,
 * so the check is live.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import { repoRoot } from '@app/core';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
interface Line {
  file: string;
  apiVersion: string | null;
  kind: string | null;
  name: string | null;
  errors: string[];
}
const root = repoRoot();
const script = join(root, 'infra/k8s/validate.mjs');
const parse = (out: string): Line[] => out.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Line);

test('every shipped manifest is valid against its schema; every kind the deployment needs is there', () => {
  const lines = parse(execFileSync(process.execPath, [script], { cwd: root, encoding: 'utf8' }));
  expect(lines.filter((l) => l.errors.length)).toEqual([]);
  expect(new Set(lines.map((l) => `${l.apiVersion} ${l.kind}`))).toEqual(
    new Set(['v1 ConfigMap', 'v1 Secret', 'v1 Service', 'apps/v1 Deployment', 'batch/v1 Job', 'policy/v1 PodDisruptionBudget', 'keda.sh/v1alpha1 ScaledObject', 'keda.sh/v1alpha1 TriggerAuthentication', 'monitoring.coreos.com/v1 PodMonitor']),
  );
  expect(lines.map((l) => `${l.kind}/${l.name}`)).toEqual(expect.arrayContaining(['Deployment/endpoint-api', 'Deployment/endpoint-worker', 'Job/endpoint-migrate', 'ScaledObject/endpoint-worker']));
});

test('broken copies of the manifests are refused, each with a schema error (the validator is live)', () => {
  const docs = (f: string) => parseAllDocuments(readFileSync(join(root, 'infra/k8s', f), 'utf8')).map((d) => d.toJS() as Obj).filter((d) => d?.kind);
  const first = (f: string, kind: string) => structuredClone(docs(f).find((d) => d.kind === kind)!);
  const broken: [string, Obj][] = [];
  const add = (why: string, f: string, kind: string, mutate: (o: Obj) => void) => {
    const o = first(f, kind);
    mutate(o);
    broken.push([why, o]);
  };
  add('replicas not an integer', 'api.yaml', 'Deployment', (o) => (o.spec.replicas = 'two'));
  add('container without a name', 'worker.yaml', 'Deployment', (o) => delete o.spec.template.spec.containers[0].name);
  add('a limit that is a list', 'worker.yaml', 'Deployment', (o) => (o.spec.template.spec.containers[0].resources.limits = { memory: ['1Gi'] }));
  add('runAsUser a string', 'api.yaml', 'Deployment', (o) => (o.spec.template.spec.securityContext.runAsUser = 'app'));
  add('PDB selector a string', 'worker.yaml', 'PodDisruptionBudget', (o) => (o.spec.selector = 'app=endpoint'));
  add('ScaledObject triggers not a list', 'worker.yaml', 'ScaledObject', (o) => (o.spec.triggers = 'redis'));
  add('Job without a pod template', 'migrations.yaml', 'Job', (o) => delete o.spec.template);
  broken.push(['unknown apiVersion', { apiVersion: 'apps/v2', kind: 'Deployment', metadata: { name: 'x' } }]);
  const dir = mkdtempSync(join(tmpdir(), 'k8s-broken-'));
  try {
    const files = broken.map(([_why, o], i) => {
      const f = join(dir, `${i}.yaml`);
      writeFileSync(f, stringify(o));
      return f;
    });
    const r = spawnSync(process.execPath, [script, ...files], { cwd: root, encoding: 'utf8' });
    expect(r.status).toBe(1);
    const lines = parse(r.stdout);
    expect(lines).toHaveLength(broken.length);
    const refused = lines.map((l, i) => [broken[i]![0], l.errors.length > 0]);
    expect(refused).toEqual(broken.map(([why]) => [why, true]));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
