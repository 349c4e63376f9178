import { ActionsPlatform } from '../report/platform.js';
import { runnerInputs } from '../inputs/reader.js';
import { runAction } from '../release/run.js';
// Its own flow only, not FLOWS: the bundle then carries what this action uses and nothing more.
import { backupBackend } from '../release/backend/backup.js';

void runAction('backup-backend', backupBackend, runnerInputs, new ActionsPlatform());
