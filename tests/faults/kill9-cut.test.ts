/** kill -9 mid-job for the data cut (cut.create, queued like POST /v1/cuts queues it) and for its report (cut.report, queued by the cut job), see kill9.ts. */
import { killScenario } from './kill9';

jest.setTimeout(270000);
killScenario('cut');
