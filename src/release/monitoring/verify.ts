import { readVerifyMonitoring, type VerifyInputs } from '../../inputs/monitoring.js';
import type { InputReader } from '../../inputs/reader.js';
import { HEALTH } from '../../remote/health.js';
import { httpGetAll, parseHttpValue, type HttpResponse } from '../../remote/http.js';
import { lines, sh, type Shell } from '../../remote/shell.js';
import type { Progress } from '../../report/progress.js';
import { Operation } from '../operation.js';
import type { FlowResult } from '../run.js';
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

/** Every check as one program: the HTTP GETs from the NAS in parallel, and the containers' states. */
export function checksProgram(v: VerifyInputs): Shell {
  return lines(
    HEALTH,
    httpGetAll(checkRequests(v), authorizationHeader(v.grafanaCredentials)),
    ...v.containers.map((c, i) => sh`nr_value ${`state_${i}`} "$(nr_state ${c})"`),
  );
}

/** Judges what the checks program reported. */
export function judgeChecks(v: VerifyInputs, values: Map<string, string>): Verification {
  const responses = new Map<string, HttpResponse>(
    checkRequests(v).map((r) => [r.id, parseHttpValue(values.get(`http_${r.id}`))]),
  );
  const states = new Map(v.containers.map((c, i) => [c, values.get(`state_${i}`) ?? 'missing']));
  const results = evaluateChecks(v, responses, states);
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
  op: Operation,
  checks: VerifyInputs,
  enabled: boolean,
): Promise<{ status: VerifyStatus | 'skipped'; failed: boolean; summary: string }> {
  op.progress.step('Verifying the stack');
  if (!enabled || op.dryRun) {
    op.progress.detail(op.dryRun ? 'dry-run: verification skipped' : 'verify: false, skipped');
    return { status: 'skipped', failed: false, summary: '' };
  }
  const result = await op.runProgram('Verifying the monitoring stack', checksProgram(checks), {
    quiet: true,
    timeout: 60,
  });
  const verification = judgeChecks(checks, result.values);
  reportVerification(op.progress, verification);
  return {
    status: verification.status,
    failed: verification.failed,
    summary: verificationSummary('Verification', verification),
  };
}

/** verify-monitoring: read-only checks of the stack, from the NAS. Takes no lock. */
export async function verifyMonitoring(reader: InputReader, progress: Progress): Promise<FlowResult> {
  const { conn, checks } = readVerifyMonitoring(reader);
  progress.banner('Monitoring Verification - NAS');
  progress.plan(2);
  progress.step(`Connecting to ${conn.host}`);
  return Operation.run(
    { action: 'verify-monitoring', stack: 'monitoring', conn, progress, locking: false },
    async (op) => {
      progress.ok('Connected');
      progress.step('Running the checks');
      // Read-only: the checks go in the first program, with the NAS probe, in one round trip.
      const lockCheck = sh`nr_lock=${op.stateDir}/lock
if [ -f "$nr_lock" ]; then exec 9>>"$nr_lock"; flock -n 9 || nr_value lock_held "$(head -c 2000 ${op.stateDir}/holder 2>/dev/null | tr '\\n' ' ')"; exec 9>&-; fi`;
      const values = await op.readState(lines(lockCheck, checksProgram(checks)));
      const verification = judgeChecks(checks, values);
      const held = values.get('lock_held');
      if (held !== undefined)
        progress.warn(
          `A release operation holds the lock (${held.trim() || 'unknown holder'}): the stack may be restarting, so these checks may see it mid-change`,
        );
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
  );
}
