/** kill -9 mid-job for the slide path: slide process, patches, slide inference (see kill9.ts). */
import { killScenario } from './kill9';

jest.setTimeout(270000);
killScenario('slide');
