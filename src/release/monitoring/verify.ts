import { readVerifyMonitoring, type VerifyInputs } from '../../inputs/monitoring.js';
import type { Nas } from '../../nas/nas.js';
import { stateDirOf } from '../../remote/state-dir.js';
import { checksProgram, verifyState, type CheckAnswers } from '../../programs/monitoring.js';
import { Steps } from '../../remote/program.js';
import type { Progress } from '../../report/progress.js';
import { reportInProgress } from '../failures.js';
import { defineFlow } from '../flow.js';
import {
  authorizationHeader,
  checkRequests,
  checksTable,
  evaluateChecks,
  overallStatus,
  type CheckResult,
  type VerifyStatus,
} from './checks.js';

export interface Verification {
  results: CheckResult[];
  status: VerifyStatus;
  /** The step must fail (a fail, or a warn with fail-on-warnings). */
  failed: boolean;
}

/** Judges what the checks saw. */
export function judgeChecks(v: VerifyInputs, answers: CheckAnswers): Verification {
  const results = evaluateChecks(v, answers.responses, answers.states);
  const status = overallStatus(results);
  return { results, status, failed: status === 'failed' || (status === 'warnings' && v.failOnWarnings) };
}

/** Prints the checks and the verdict the way operators know it. */
export function reportVerification(progress: Progress, verification: Verification): void {
  for (const r of verification.results) {
    const line = `${r.component} ${r.check}: ${r.detail}`;
    if (r.status === 'pass') progress.ok(line);
    else if (r.status === 'warn') progress.warn(line);
    else progress.fail(line);
  }
  const warns = verification.results.filter((r) => r.status === 'warn').length;
  const fails = verification.results.filter((r) => r.status === 'fail').length;
  progress.platform.info('');
  if (verification.status === 'passed') progress.platform.info('✓ PASSED');
  else if (verification.status === 'warnings')
    progress.platform.info(`⚠ PASSED WITH WARNINGS (${warns} warning${warns === 1 ? '' : 's'})`);
  else
    progress.platform.info(
      `✗ FAILED (${fails} failed check${fails === 1 ? '' : 's'}${warns ? `, ${warns} warning${warns === 1 ? '' : 's'}` : ''})`,
    );
}

export function verificationSummary(title: string, verification: Verification): string {
  return `### ${title}: ${verification.status}\n\n${checksTable(verification.results)}\n`;
}

/**
 * The verification step of a monitoring release: runs and reports the checks
 * unless `verify` is false or this is a dry run. Status `skipped` then.
 */
export async function verifyRelease(
  nas: Nas,
  progress: Progress,
  checks: VerifyInputs,
  enabled: boolean,
): Promise<{ status: VerifyStatus | 'skipped'; failed: boolean; summary: string }> {
  progress.step('Verifying the stack');
  if (!enabled || nas.dryRun) {
    progress.detail(nas.dryRun ? 'dry-run: verification skipped' : 'verify: false, skipped');
    return { status: 'skipped', failed: false, summary: '' };
  }
  const outcome = await nas.runProgram(
    checksProgram(checkRequests(checks), authorizationHeader(checks.grafanaCredentials), checks),
  );
  const verification = judgeChecks(checks, outcome.values);
  reportVerification(progress, verification);
  return {
    status: verification.status,
    failed: verification.failed,
    summary: verificationSummary('Verification', verification),
  };
}

export const VERIFY_STEPS = new Steps({ connect: 'Connecting', checks: 'Running the checks' });

/** verify-monitoring: read-only checks of the stack, from the NAS. Takes no lock. */
export const verifyMonitoring = defineFlow({
  kind: { action: 'verify-monitoring', stack: 'monitoring', locking: false },
  settings: readVerifyMonitoring,
  async run({ conn, checks }, nas, { progress }) {
    progress.banner('Monitoring Verification - NAS');
    progress.plan(VERIFY_STEPS.count);
    progress.step(`Connecting to ${conn.host}`);
    // Read-only: the checks go in the first program, with the NAS probe, in one round trip.
    const state = await nas.readState(
      verifyState(
        stateDirOf(conn.repoPath, conn.projectSource),
        checkRequests(checks),
        authorizationHeader(checks.grafanaCredentials),
        checks,
      ),
    );
    progress.ok('Connected');
    progress.step(VERIFY_STEPS.text('checks'));
    const { lockHolder } = state.answers;
    if (lockHolder !== undefined)
      progress.warn(
        `A release operation holds the lock (${lockHolder}): the stack may be restarting, so these checks may see it mid-change`,
      );
    else reportInProgress(progress, state.inProgress);
    const verification = judgeChecks(checks, state.answers);
    reportVerification(progress, verification);
    const outputs = { VERIFY_STATUS: verification.status, VERIFY_REPORT: JSON.stringify(verification.results) };
    await progress.platform.addSummary(verificationSummary('Monitoring verification', verification));
    if (verification.failed) {
      const why =
        verification.status === 'failed'
          ? 'Monitoring verification failed'
          : 'Monitoring verification passed with warnings, and fail-on-warnings is true';
      return { ok: false, outputs, error: why };
    }
    return { ok: true, outputs };
  },
});
