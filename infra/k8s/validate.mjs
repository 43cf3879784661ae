#!/usr/bin/env node
/**
 * Validates Kubernetes manifests against the Kubernetes, KEDA and prometheus-operator schemas, with the
 * kubernetes-models validators (JSON-schema validators generated from the upstream OpenAPI specs and CRDs).
 *
 *   node infra/k8s/validate.mjs [FILE.yaml ...]     (default: every infra/k8s/*.yaml and examples/secret.yaml)
 *
 * Prints one JSON line per document ({file, apiVersion, kind, name, errors}) and exits 1 when any document is
 * invalid or has no schema here (an unknown apiVersion/kind is an error, never skipped). ESM on purpose: the
 * kubernetes-models packages are ESM-only and Node loads them natively (no jest transform).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

const here = dirname(fileURLToPath(import.meta.url));
const groups = await Promise.all([
  import('kubernetes-models/v1'),
  import('kubernetes-models/apps/v1'),
  import('kubernetes-models/batch/v1'),
  import('kubernetes-models/policy/v1'),
  import('kubernetes-models/autoscaling/v2'),
  import('kubernetes-models/networking.k8s.io/v1'),
  import('@kubernetes-models/keda/keda.sh/v1alpha1'),
  import('@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1'),
]);
const models = new Map();
for (const g of groups) for (const M of Object.values(g)) if (typeof M === 'function' && typeof M.apiVersion === 'string' && typeof M.kind === 'string') models.set(`${M.apiVersion}/${M.kind}`, M);

/** Schema errors of one parsed document ([] when valid). */
function problems(obj) {
  const M = models.get(`${obj.apiVersion}/${obj.kind}`);
  if (!M) return [`no schema for apiVersion ${obj.apiVersion} kind ${obj.kind}`];
  try {
    new M(obj).validate();
    return [];
  } catch (e) {
    return String(e?.message ?? e).split('\n').filter(Boolean);
  }
}

const files = process.argv.length > 2 ? process.argv.slice(2) : [...readdirSync(here).filter((f) => f.endsWith('.yaml')).map((f) => join(here, f)), join(here, 'examples/secret.yaml')];
let bad = 0;
for (const file of files) {
  for (const d of parseAllDocuments(readFileSync(file, 'utf8'))) {
    const obj = d.toJS();
    if (!obj) continue;
    const errors = d.errors.length ? d.errors.map((e) => `YAML: ${e.message}`) : obj.kind ? problems(obj) : ['a document without kind'];
    if (errors.length) bad++;
    console.log(JSON.stringify({ file: relative(process.cwd(), file), apiVersion: obj.apiVersion ?? null, kind: obj.kind ?? null, name: obj.metadata?.name ?? null, errors }));
  }
}
process.exit(bad ? 1 : 0);
