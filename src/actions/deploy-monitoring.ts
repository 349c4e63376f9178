import { ActionsPlatform } from '../report/platform.js';
import { runnerInputs } from '../inputs/reader.js';
import { runAction } from '../release/run.js';
import { FLOWS } from '../release/flows.js';

void runAction('deploy-monitoring', FLOWS['deploy-monitoring'], runnerInputs, new ActionsPlatform());
