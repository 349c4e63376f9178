import { ActionsPlatform } from '../report/platform.js';
import { runnerInputs } from '../inputs/reader.js';
import { runAction } from '../release/run.js';
import { FLOWS } from '../release/flows.js';

void runAction('backup-backend', FLOWS['backup-backend'], runnerInputs, new ActionsPlatform());
