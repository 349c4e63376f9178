import { backupBackend } from './backend/backup.js';
import { cleanupBackend } from './backend/cleanup.js';
import { deployBackend } from './backend/deploy.js';
import { rollbackBackend } from './backend/rollback.js';
import type { Flow, FlowSettings } from './flow.js';
import { deployMonitoring } from './monitoring/deploy.js';
import { rollbackMonitoring } from './monitoring/rollback.js';
import { verifyMonitoring } from './monitoring/verify.js';

/** Every action's flow, by action name: used by the entry files and the `nas-release` command. */
export const FLOWS: Record<string, Flow<FlowSettings>> = {
  'deploy-backend': deployBackend,
  'rollback-backend': rollbackBackend,
  'cleanup-backend': cleanupBackend,
  'backup-backend': backupBackend,
  'deploy-monitoring': deployMonitoring,
  'rollback-monitoring': rollbackMonitoring,
  'verify-monitoring': verifyMonitoring,
};
