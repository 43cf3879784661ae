import { listModels, type RefusedFolder, type RegisteredModel, type RegistryOptions } from './registry';

/**
 * The `cli models` listing: one line per usable model (id, version, task, sha256 prefix, weights licence,
 * training-data licence), then the refused folders with their code and reason.
 */
export function formatModelList(list: { modelsDir: string; models: RegisteredModel[]; refused: RefusedFolder[] }): string {
  const rows = [['id', 'version', 'task', 'sha256', 'weights', 'training data']];
  for (const m of list.models) rows.push([m.id, m.version, m.card.task, m.sha256.slice(0, 12), m.card.licence.weights, m.card.licence.training_data]);
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  const lines = [`models in ${list.modelsDir}: ${list.models.length} usable, ${list.refused.length} refused`];
  for (const r of rows) lines.push(r.map((v, c) => v.padEnd(widths[c])).join('  ').trimEnd());
  if (list.refused.length) {
    lines.push('', 'refused:');
    for (const r of list.refused) lines.push(`  ${r.folder}  [${r.code}]  ${r.reason}`);
  }
  return lines.join('\n');
}

/** `npm run cli -- models`: lists the models folder (MODELS_DIR or <repo>/models). */
export function modelsCommand(opts: RegistryOptions = {}): string {
  return formatModelList(listModels(opts));
}
