/** kill -9 mid-job for the CT path: ingest, DICOM process, volume, CT inference, tracking (see kill9.ts). */
import { killScenario } from './kill9';

jest.setTimeout(270000);
killScenario('ct');
