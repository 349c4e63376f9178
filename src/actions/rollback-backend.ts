import { ActionsPlatform } from '../report/platform.js';
import { runnerInputs } from '../inputs/reader.js';
import { runAction } from '../release/run.js';
// Its own flow only, not FLOWS: the bundle then carries what this action uses and nothing more.
import { rollbackBackend } from '../release/backend/rollback.js';

void runAction('rollback-backend', rollbackBackend, runnerInputs, new ActionsPlatform());
