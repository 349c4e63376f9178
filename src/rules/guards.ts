/**
 * Guards of a release watch: `<name>: <PromQL> <op> <threshold> for <duration>`,
 * one a line, and the rule that says when one is breached. The watch itself
 * runs on the NAS (remote/watch.ts) and applies the same rule in its shell;
 * this module is what the runner checks inputs with and reports from.
 */

export type GuardOp = '>' | '>=' | '<' | '<=';

export interface Guard {
  name: string;
  /** The PromQL expression, as the user wrote it (it only ever travels URL-encoded). */
  query: string;
  op: GuardOp;
  /** The threshold as written (a plain decimal number), so the report shows what the user wrote. */
  threshold: string;
  /** How long the condition must hold, in seconds. */
  forSeconds: number;
}

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600 };

/**
 * A duration like `90s`, `5m`, `1h30m`; a bare number is seconds. Returns
 * undefined when the text is not one.
 */
export function parseDuration(text: string): number | undefined {
  const t = text.trim();
  if (/^\d+$/.test(t)) return Number(t);
  if (!/^(\d+[hms])+$/.test(t)) return undefined;
  let seconds = 0;
  for (const [, n, unit] of t.matchAll(/(\d+)([hms])/g)) seconds += Number(n) * UNIT_SECONDS[unit];
  return seconds;
}

/** Seconds as the shortest duration text (`300` → `5m`, `90` → `1m30s`). */
export function formatDuration(seconds: number): string {
  if (seconds === 0) return '0s';
  let out = '';
  let left = seconds;
  for (const [unit, size] of [
    ['h', 3600],
    ['m', 60],
    ['s', 1],
  ] as const) {
    if (left >= size) {
      out += `${Math.floor(left / size)}${unit}`;
      left %= size;
    }
  }
  return out;
}

export class GuardSyntaxError extends Error {}

const NAME = /^[A-Za-z][A-Za-z0-9_.-]{0,62}$/;
// The condition is read from the end of the line, so the PromQL may hold comparisons of its own.
const GUARD = /^([^:]*):(.+?)\s(>=|<=|>|<)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s+for\s+(\S+)$/;

/** Checks a guard's PromQL: where it stops parsing, or undefined (see rules/promql.ts). */
export type PromqlCheck = (query: string) => { at: number; near: string } | undefined;

/**
 * One guard line; throws GuardSyntaxError saying what is wrong. With `promql`,
 * the query is parsed too, and refused with the position of its first error.
 */
export function parseGuard(line: string, promql?: PromqlCheck): Guard {
  const m = GUARD.exec(line.trim());
  if (!m)
    throw new GuardSyntaxError(
      `${JSON.stringify(line.trim().slice(0, 200))} is not "<name>: <PromQL> <op> <threshold> for <duration>" (op one of > >= < <=, e.g. "errors: sum(rate(http_requests_total{code=~\\"5..\\"}[1m])) / sum(rate(http_requests_total[1m])) > 0.01 for 5m")`,
    );
  const [, rawName, rawQuery, op, threshold, rawFor] = m;
  const name = rawName.trim();
  if (!NAME.test(name))
    throw new GuardSyntaxError(
      `guard name ${JSON.stringify(name.slice(0, 80))} must start with a letter and hold only letters, digits, _ . - (at most 63)`,
    );
  const query = rawQuery.trim();
  if (query.length > 4000) throw new GuardSyntaxError(`the query of guard ${name} is longer than 4000 characters`);
  const bad = promql?.(query);
  if (bad)
    throw new GuardSyntaxError(
      `guard ${name}: its PromQL does not parse at character ${bad.at + 1} of ${JSON.stringify(query)} (${
        bad.near ? `at ${JSON.stringify(bad.near)}` : 'it ends there: something is missing'
      })`,
    );
  const forSeconds = parseDuration(rawFor);
  if (forSeconds === undefined || forSeconds > 86400)
    throw new GuardSyntaxError(
      `guard ${name}: "for ${rawFor.slice(0, 40)}" is not a duration like 30s, 5m or 1h (at most 24h)`,
    );
  return { name, query, op: op as GuardOp, threshold, forSeconds };
}

/** The `guards` input: one guard a line; blank lines and lines starting with # are skipped. */
export function parseGuards(text: string, promql?: PromqlCheck): Guard[] {
  const guards: Guard[] = [];
  for (const line of text.split(/\r?\n/)) {
    if (!line.trim() || line.trim().startsWith('#')) continue;
    const guard = parseGuard(line, promql);
    if (guards.some((g) => g.name === guard.name)) throw new GuardSyntaxError(`guard name ${guard.name} is used twice`);
    guards.push(guard);
  }
  return guards;
}

/** The guard's condition as text: `sum(...) > 0.01 for 5m`. */
export function describeGuard(g: Guard): string {
  return `${g.query} ${g.op} ${g.threshold} for ${formatDuration(g.forSeconds)}`;
}

/**
 * Whether a value breaches the guard's threshold. NaN never does (Prometheus
 * compares NaN as false too); +Inf and -Inf compare as the infinities they are.
 */
export function breaches(g: Pick<Guard, 'op' | 'threshold'>, value: number): boolean {
  if (Number.isNaN(value)) return false;
  const t = Number(g.threshold);
  switch (g.op) {
    case '>':
      return value > t;
    case '>=':
      return value >= t;
    case '<':
      return value < t;
    case '<=':
      return value <= t;
  }
}

/**
 * Of several series, the one that matters: the highest for `>`/`>=`, the
 * lowest for `<`/`<=` (any series breaching is a breach, and the worst is reported).
 */
export function worstOf(g: Pick<Guard, 'op'>, values: readonly number[]): number | undefined {
  const real = values.filter((v) => !Number.isNaN(v));
  if (real.length === 0) return values.length ? NaN : undefined;
  return g.op.startsWith('>') ? Math.max(...real) : Math.min(...real);
}

/** How a release is watched after its health check. */
export interface WatchPlan {
  guards: readonly Guard[];
  /** The Prometheus API base as reached from the NAS (`…/api/v1/query` is appended). */
  metricsUrl: string;
  /** How long to watch, in seconds (above 0). */
  seconds: number;
  /** Seconds between polls. */
  interval: number;
  /** What a failed or empty query does: a warning, or a failure of the watch (the release is rolled back). */
  onQueryError: 'warn' | 'fail';
}

/** One poll of one guard: its worst value, or why there was none. */
export interface Sample {
  /** Seconds since the watch started (NAS clock). */
  at: number;
  /** The worst series' value; undefined when the query failed or returned nothing. */
  value?: number;
  /** Why there is no value: the query failed, or returned no series. */
  error?: string;
}

/**
 * The breach rule: a guard is breached at a poll when its condition held at
 * every poll since the first breaching one of the current run, and that run
 * has lasted at least `for` (so the breach is seen at most one interval after
 * the condition has held for its duration). A poll without a value (a failed
 * query) breaks the run: the condition was not seen to hold. Returns the
 * index of the poll where the breach is seen, or undefined.
 */
export function breachAt(
  g: Pick<Guard, 'op' | 'threshold' | 'forSeconds'>,
  samples: readonly Sample[],
): number | undefined {
  let since: number | undefined;
  for (let i = 0; i < samples.length; i++) {
    const s = samples[i];
    if (s.value !== undefined && breaches(g, s.value)) {
      since ??= s.at;
      if (s.at - since >= g.forSeconds) return i;
    } else since = undefined;
  }
  return undefined;
}
