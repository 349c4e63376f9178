import { ActionsPlatform } from '../report/platform.js';
import { runnerInputs } from '../inputs/reader.js';
import { runAction } from '../release/run.js';
import { FLOWS } from '../release/flows.js';

void runAction('verify-monitoring', FLOWS['verify-monitoring'], runnerInputs, new ActionsPlatform());
