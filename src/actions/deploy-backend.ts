import { ActionsPlatform } from '../report/platform.js';
import { runnerInputs } from '../inputs/reader.js';
import { runAction } from '../release/run.js';
// Its own flow only, not FLOWS: the bundle then carries what this action uses and nothing more.
import { deployBackend } from '../release/backend/deploy.js';

void runAction('deploy-backend', deployBackend, runnerInputs, new ActionsPlatform());
