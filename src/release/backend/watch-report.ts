import { BackendExit } from '../../programs/backend.js';
import type { GuardReport, WatchResult } from '../../programs/watch.js';
import type { Progress } from '../../report/progress.js';
import type { Sample } from '../../rules/guards.js';

/**
 * WATCH_STATUS: `breached` is a breach that could not be rolled back (no previous release, or its rollback failed);
 * `inconclusive` a watch in which a guard never got one good answer (the release stays).
 */
export type WatchStatus = 'passed' | 'inconclusive' | 'rolled-back' | 'skipped' | 'breached';

/** A value as JSON can hold it: NaN and the infinities as Prometheus writes them. */
function jsonValue(v: number): number | string {
  if (Number.isFinite(v)) return v;
  if (Number.isNaN(v)) return 'NaN';
  return v > 0 ? '+Inf' : '-Inf';
}

function showValue(v: number | undefined): string {
  if (v === undefined) return '(none)';
  const j = jsonValue(v);
  return typeof j === 'string' ? j : String(Number(j.toPrecision(6)));
}

function jsonSample(s: Sample): Record<string, unknown> {
  return s.value === undefined ? { at: s.at, error: s.error ?? '' } : { at: s.at, value: jsonValue(s.value) };
}

/** WATCH_REPORT: the status and each guard's condition, worst value and samples (seconds since the watch began). */
export function watchReportJson(status: WatchStatus, watch: WatchResult): string {
  return JSON.stringify({
    status,
    guards: watch.guards.map((g) => ({
      name: g.name,
      query: g.query,
      condition: g.condition,
      worst: g.worst === undefined ? null : jsonValue(g.worst),
      breached: g.breached,
      errors: g.errors,
      samples: g.samples.map(jsonSample),
    })),
  });
}

/** The values a guard saw over time, for the error: `0s 0.05, 15s 0.051, 30s (query failed: …)`. */
export function valuesOverTime(g: GuardReport, last = 20): string {
  const shown = g.samples.slice(-last);
  const parts = shown.map((s) =>
    s.value === undefined ? `${s.at}s (no value: ${s.error ?? '?'})` : `${s.at}s ${showValue(s.value)}`,
  );
  return (g.samples.length > shown.length ? '…, ' : '') + parts.join(', ');
}

/** Why the watch ended the release: the guard, what it saw, and the query to paste into Grafana. */
export function watchFailure(watch: WatchResult): string {
  const g = watch.guard;
  if (!g) return 'the metrics watch failed';
  const what =
    watch.status === 'query-failed'
      ? `the query of guard ${g.name} failed and on-query-error is fail`
      : `guard ${g.name} breached (${g.condition})`;
  return `${what}; values over time (seconds since the watch began): ${valuesOverTime(g)}; query: ${g.query}`;
}

/** The job summary's table: each guard's worst value. */
export function watchSummary(status: WatchStatus, watch: WatchResult): string {
  const cell = (text: string): string => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
  const rows = watch.guards.map(
    (g) =>
      `| ${cell(g.name)} | \`\` ${cell(g.condition)} \`\` | ${showValue(g.worst)} | ${g.samples.length} | ${g.errors} | ${g.breached ? 'breached' : g.worst === undefined ? 'no answer' : 'ok'} |`,
  );
  return `### Metrics watch: ${status}\n\n| Guard | Condition | Worst value | Polls | Failed queries | Result |\n|---|---|---|---|---|---|\n${rows.join('\n')}\n`;
}

/** WATCH_STATUS from how a release phase ended (one service, several, blue-green). */
export function watchStatusOf(code: number, watch: WatchResult): WatchStatus {
  if (watch.status === 'passed' && code === 0) return 'passed';
  // A guard never answered: the release stays, but it cannot be said to have passed.
  if (watch.status === 'inconclusive' && code === 0) return 'inconclusive';
  if (code === BackendExit.WatchRolledBack || code === BackendExit.WatchRolledBackDataNotPutBack) return 'rolled-back';
  if (watch.status === 'breached' || watch.status === 'query-failed') return 'breached';
  return 'skipped';
}

/** A release that had no watch, or whose watch did not run. */
export const NO_WATCH: WatchResult = { status: '', guards: [] };

/**
 * The watch step's report on the runner, whatever the strategy: WATCH_STATUS and WATCH_REPORT, the summary's
 * table when the watch ran, and whether it ended the release (a breach, or a failed query under on-query-error=fail).
 */
export async function reportWatch(
  progress: Progress,
  code: number,
  watch: WatchResult = NO_WATCH,
): Promise<{ outputs: { WATCH_STATUS: WatchStatus; WATCH_REPORT: string }; ended: boolean }> {
  const status = watchStatusOf(code, watch);
  if (watch.guards.length && watch.status) await progress.platform.addSummary(watchSummary(status, watch));
  return {
    outputs: { WATCH_STATUS: status, WATCH_REPORT: watchReportJson(status, watch) },
    ended: watch.status === 'breached' || watch.status === 'query-failed',
  };
}
