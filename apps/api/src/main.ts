import 'reflect-metadata';
import { createRuntime } from '@app/pipeline';
import { runMain } from '../../cli/src/run-main';
import { createApiApp } from './app';

void runMain('api', async () => {
  const rt = await createRuntime();
  const app = await createApiApp(rt, { ownsRuntime: true });
  await app.listen(rt.config.PORT);
  rt.log.info({ port: rt.config.PORT, mode: rt.config.mode }, 'api listening');
});
