import { ActionsPlatform } from '../report/platform.js';
import { runnerInputs } from '../inputs/reader.js';
import { runAction } from '../release/run.js';
// Its own flow only, not FLOWS: the bundle then carries what this action uses and nothing more.
import { verifyMonitoring } from '../release/monitoring/verify.js';

void runAction('verify-monitoring', verifyMonitoring, runnerInputs, new ActionsPlatform());
