import 'reflect-metadata';
import { parseArgs } from 'node:util';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { addAiReadStudyInput, createRuntime, cutReportFile, importSdtm, loadSimulatedStudy, runCutReportJob, runDataCutJob } from '@app/pipeline';
import { headlineLines, type StatisticsJson } from '@app/report';
import { AuditRepository, EndpointsRepository, type JobStatus, type ObjectStatus } from '@app/db';
import { AuthService } from '@app/auth';
import { modelsCommand } from '@app/inference';
import { runDemo } from './demo';
import { inferCt, inferSlide } from './infer';
import { loadConfig } from '@app/core';
import { runMain } from './run-main';

const USAGE = `usage: cli <command> [options]
  demo [--serve]                run the main job end to end (npm run demo); --serve keeps the API serving the reading app
  health                        check database, queue and store
  migrate                       apply database migrations
  worker                        run the job processors in this process (in-process or Bull)
  poll [--prefix P] [--once]    list a prefix and enqueue new objects (buckets without notifications)
  upload FILE... [--prefix P]   put local files into the store and fire their ingest events
  objects [--status S]          list objects (e.g. --status quarantined)
  jobs [--status S]             list jobs (e.g. --status failed)
  retry JOB_ID                  re-run a failed job
  redispatch                    dispatch objects waiting for a processor, and queued ones without a process job
  import-sdtm --study S FILE... import a sponsor's SDTM TU, TR (and RS, DM) (CSV, Dataset-JSON, XPT; .gz ok)
  simulate --study S [--subjects N] [--seed K] [--readers]   load a simulated trial as the study's assessments (--readers: 2 radiologists + AI per subject, adjudicated)
  cut --study S --cutoff YYYY-MM-DD (--blinded | --unblinded) [--predictions] [--out DIR]   run a data cut (--predictions adds ADPRED, exploratory)
  report --cut ID [--out DIR]   the cut's report (HTML, statistics.json, plots), made once and stored with the cut; --out copies it to DIR
  ai-read [--study S]           store the AI-only read (newest tracking run per subject) as study S.AI-READ, to cut like any read
  cuts [--study S]              list data cuts
  infer-ct FOLDER --out DIR [--model ID[@VER]]   one subject's CT studies -> proposals.json + SEG + SR per timepoint
  infer-slide SLIDE --out DIR [--model ID[@VER]] slide -> metrics.json + heatmap.png
  models                        list the model folders (MODELS_DIR or models/): usable models and refused folders with reasons
  user-add --username U --roles R[,R] [--grants unblinding] [--display-name N] --password-stdin
                                create a user (roles: reader, adjudicator, biostatistician, pipeline, admin); password read from stdin
  users                         list users (roles, grants, lock state)
  audit-verify                  re-hash the audit chain (and the heads anchored in cut manifests); exit 1 naming the first bad entry`;

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

const out = (v: unknown) => process.stdout.write(`${typeof v === 'string' ? v : JSON.stringify(v, null, 2)}\n`);

void runMain('cli', async () => {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      prefix: { type: 'string' },
      once: { type: 'boolean' },
      status: { type: 'string' },
      study: { type: 'string' },
      cutoff: { type: 'string' },
      blinded: { type: 'boolean' },
      unblinded: { type: 'boolean' },
      out: { type: 'string' },
      subjects: { type: 'string' },
      seed: { type: 'string' },
      model: { type: 'string' },
      predictions: { type: 'boolean' },
      cut: { type: 'string' },
      readers: { type: 'boolean' },
      username: { type: 'string' },
      roles: { type: 'string' },
      grants: { type: 'string' },
      'display-name': { type: 'string' },
      'password-stdin': { type: 'boolean' },
      serve: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [cmd, ...args] = positionals;
  if (!cmd || values.help) {
    out(USAGE);
    return;
  }
  if (cmd === 'demo') {
    await runDemo(undefined, { serve: values.serve === true });
    return;
  }
  if (cmd === 'infer-ct' || cmd === 'infer-slide') {
    // model runs on local files only: no database, queue or store needed
    if (!args[0] || !values.out) throw new Error(`${cmd}: give the ${cmd === 'infer-ct' ? "folder of one subject's DICOM" : 'slide file'} and --out DIR`);
    const config = loadConfig();
    if (cmd === 'infer-ct') {
      const r = await inferCt(args[0], values.out, config, { model: values.model, progress: (m) => process.stderr.write(`${m}\n`) });
      out({ timepoints: r.tracking.timepoints.map((t) => ({ timePointId: t.timePointId, date: t.date, lesions: t.lesions.map((l) => `${l.trackingId} ${l.status}${l.present ? ` LD ${l.longAxisMm} mm SA ${l.shortAxisMm} mm` : ''}`) })), files: r.files });
    } else out(await inferSlide(args[0], values.out, config, { model: values.model }));
    return;
  }
  if (cmd === 'models') {
    out(modelsCommand()); // reads the models folder only: no database, queue or store needed
    return;
  }
  const rt = await createRuntime();
  const keepOpen = cmd === 'worker' || (cmd === 'poll' && !values.once);
  try {
    switch (cmd) {
      case 'health': {
        const h = await rt.health();
        out(h);
        if (!h.ok) process.exitCode = 1;
        break;
      }
      case 'migrate':
        out('migrations applied');
        break;
      case 'worker':
        rt.queue.startWorker();
        rt.log.info({ jobs: rt.queue.names(), queue: rt.queue.kind }, 'worker started');
        break;
      case 'poll': {
        const prefix = values.prefix ?? rt.config.POLL_PREFIX;
        const tick = async () => out(await rt.ingest.pollOnce(prefix));
        await tick();
        if (!values.once) {
          rt.queue.startWorker();
          setInterval(() => void tick().catch((e) => rt.log.error({ err: e }, 'poll failed')), rt.config.POLL_INTERVAL_MS);
        } else if (rt.queue.kind === 'in-process') {
          rt.queue.startWorker();
          await rt.queue.waitIdle();
        }
        break;
      }
      case 'upload': {
        if (!args.length) throw new Error('upload: name at least one file');
        const prefix = values.prefix ?? rt.config.POLL_PREFIX;
        const events = [];
        for (const f of args) {
          const key = `${prefix}${basename(f)}`;
          const info = await rt.store.put(key, await readFile(f));
          events.push({ bucket: rt.store.bucket, key, etag: info.etag, size: info.size, eventName: 'ObjectCreated:Put' });
        }
        out(await rt.ingest.enqueueEvents(events));
        if (rt.queue.kind === 'in-process') {
          rt.queue.startWorker();
          await rt.queue.waitIdle();
          out(await rt.objects.countByStatus());
        }
        break;
      }
      case 'objects':
        out((await rt.objects.list({ status: values.status as ObjectStatus })).map((o) => ({ id: o.id, key: o.key, kind: o.kind, status: o.status, reason: o.reason })));
        break;
      case 'jobs':
        out(await rt.jobs.list({ status: values.status as JobStatus }));
        break;
      case 'retry':
        if (!args[0]) throw new Error('retry: give a job id');
        await rt.queue.retry(args[0]);
        if (rt.queue.kind === 'in-process') {
          rt.queue.startWorker();
          await rt.queue.waitIdle();
        }
        out(await rt.jobs.byId(args[0]));
        break;
      case 'redispatch':
        out({ redispatched: await rt.ingest.redispatchWaiting() });
        if (rt.queue.kind === 'in-process') {
          rt.queue.startWorker();
          await rt.queue.waitIdle();
        }
        break;
      case 'import-sdtm': {
        if (!values.study || !args.length) throw new Error('import-sdtm: give --study and the TU/TR (RS, DM) files');
        const files = [];
        for (const f of args) files.push({ name: basename(f), bytes: await readFile(f) });
        const r = await importSdtm(rt, values.study, files, 'cli');
        out({ inputId: r.input.id, subjects: r.subjects, issues: r.issues.length, agree: r.comparison?.agree, disagree: r.comparison?.disagree });
        break;
      }
      case 'simulate': {
        if (!values.study) throw new Error('simulate: give --study');
        const r = await loadSimulatedStudy(rt, values.study, { subjects: Number(values.subjects ?? 100), visits: 8, seed: Number(values.seed ?? 1), qlq: true, stepWeeks: 4, ...(values.readers ? { readers: true } : {}) }, 'cli');
        out({ inputId: r.input.id, subjects: r.study.subjects.length, sha256: r.input.input_sha256 });
        break;
      }
      case 'cut': {
        if (!values.study || !values.cutoff) throw new Error('cut: give --study and --cutoff YYYY-MM-DD');
        if (values.blinded === values.unblinded) throw new Error('cut: say --blinded or --unblinded (blinding is always explicit)');
        // the cut is made by its queued job (cut.create): run here in embedded mode, by a worker with Redis
        if (rt.queue.kind === 'in-process') rt.queue.startWorker();
        const r = await runDataCutJob(rt, { studyId: values.study, cutoffDate: values.cutoff, blinded: !!values.blinded, createdBy: 'cli', predictions: !!values.predictions }, {
          onQueued: (jobId, duplicate) => {
            if (rt.queue.kind === 'bull') process.stderr.write(`cut job ${jobId}${duplicate ? ' (already queued for this request)' : ''}: waiting for a worker to make it\n`);
          },
        });
        if (values.out) {
          await mkdir(values.out, { recursive: true });
          for (const f of [...r.manifest.files.map((x) => x.path), 'manifest.json']) await writeFile(join(values.out, f), await rt.store.getBuffer(`${r.cut.prefix}/${f}`));
        }
        // its report: the job the cut job queued (joined here, waited for)
        const rep = await runCutReportJob(rt, r.cut, { name: 'cli' });
        out({ cutId: r.cut.cut_id, created: r.created, files: r.manifest.files.map((f) => `${f.path} ${f.sha256}`), report: `cli report --cut ${r.cut.cut_id} (manifest ${rep.manifest.reportManifestSha256})`, issues: r.cut.issues });
        break;
      }
      case 'report': {
        if (!values.cut) throw new Error('report: give --cut ID (cli cuts lists them)');
        const cut = await new EndpointsRepository(rt.db).cutById(values.cut);
        if (!cut) throw new Error(`report: no cut ${values.cut} (cli cuts lists them)`);
        // made by its job (cut.report): run here in embedded mode, by a worker with Redis; a stored report at once
        if (rt.queue.kind === 'in-process') rt.queue.startWorker();
        else process.stderr.write(`report of cut ${cut.cut_id}: waiting for a worker to make it (unless it is stored)\n`);
        const { manifest, created } = await runCutReportJob(rt, cut, { name: 'cli' });
        if (values.out) {
          for (const f of [...manifest.files.map((x) => x.path), 'manifest.json']) {
            const target = join(values.out, f);
            await mkdir(join(target, '..'), { recursive: true });
            await writeFile(target, (await cutReportFile(rt, cut, manifest, f))!);
          }
        }
        const stats = JSON.parse((await cutReportFile(rt, cut, manifest, 'statistics.json'))!.toString('utf8')) as StatisticsJson;
        for (const line of headlineLines(stats)) process.stderr.write(`${line}\n`);
        out({ cutId: cut.cut_id, blinded: cut.blinded, created, reportManifestSha256: manifest.reportManifestSha256, cutManifestSha256: manifest.cutManifestSha256, files: manifest.files.length + 1, ...(values.out ? { out: join(values.out, 'report.html') } : {}), notes: stats.notes.map((n) => n.message) });
        break;
      }
      case 'ai-read': {
        const r = await addAiReadStudyInput(rt, values.study ?? rt.config.PROTOCOL_ID, 'cli');
        out({ studyId: r.studyId, subjects: r.subjects, model: r.model, inputId: r.input.id, next: `cli cut --study ${r.studyId} --cutoff YYYY-MM-DD --blinded` });
        break;
      }
      case 'cuts':
        out((await new EndpointsRepository(rt.db).cuts(values.study)).map((c) => ({ cutId: c.cut_id, studyId: c.study_id, cutoff: c.cutoff_date, blinded: c.blinded, createdAt: c.created_at })));
        break;
      case 'user-add': {
        if (!values.username || !values.roles) throw new Error('user-add: give --username and --roles (comma-separated)');
        if (!values['password-stdin']) throw new Error('user-add: give --password-stdin and pipe the password in (never on the command line)');
        const password = (await readStdin()).replace(/\r?\n$/, '');
        const auth = new AuthService(rt.db, rt.config, rt.log);
        const u = await auth.createUser(
          { username: values.username, displayName: values['display-name'], password, roles: values.roles.split(',').map((r) => r.trim()).filter(Boolean), grants: (values.grants ?? '').split(',').map((g) => g.trim()).filter(Boolean) },
          { actor: 'cli', actorRoles: [] },
        );
        out(u);
        break;
      }
      case 'users':
        out((await new AuthService(rt.db, rt.config).users.list()).map((u) => ({ username: u.username, displayName: u.display_name, roles: u.roles, grants: u.grants, disabled: u.disabled, lockedUntil: u.locked_until })));
        break;
      case 'audit-verify': {
        const audit = new AuditRepository(rt.db);
        const v = await audit.verify({ anchors: await audit.cutAnchors() });
        out(v);
        if (!v.ok) process.exitCode = 1;
        break;
      }
      default:
        throw new Error(`unknown command '${cmd}'\n${USAGE}`);
    }
  } finally {
    if (!keepOpen) await rt.close();
  }
});
