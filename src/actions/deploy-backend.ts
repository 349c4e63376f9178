import { ActionsPlatform } from '../report/platform.js';
import { runnerInputs } from '../inputs/reader.js';
import { runAction } from '../release/run.js';
import { FLOWS } from '../release/flows.js';

void runAction('deploy-backend', FLOWS['deploy-backend'], runnerInputs, new ActionsPlatform());
