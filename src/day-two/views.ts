import type { HistoryRecord } from '../remote/history.js';
import type { ContainerStatus, StatusAnswers } from '../programs/day-two.js';
import { composeProject } from '../programs/blue-green.js';

/**
 * What the day-two commands print: pure functions of what the NAS answered,
 * as JSON (the same fields a table shows) and as text for a terminal.
 */

export interface ServiceStatus {
  service: string;
  container: string;
  /** blue or green for a colour of a blue-green backend, null otherwise. */
  color: string | null;
  /** Serves through the proxy (the live colour). */
  live: boolean;
  image: string;
  tag: string;
  state: string;
  /** healthy, unhealthy, starting; without a healthcheck: the container's state. */
  health: string;
  /** When it started (running) or stopped (otherwise). */
  since: string;
}

export interface LockHolder {
  action?: string;
  run?: string;
  actor?: string;
  started?: string;
}

export interface StatusReport {
  host: string;
  repoPath: string;
  composeFile: string;
  services: ServiceStatus[];
  liveColor: string | null;
  lock: { state: 'held' | 'free' | 'unknown'; holder: LockHolder | null };
  /** A detached release phase is running (null: the NAS does not say). */
  phaseRunning: boolean | null;
  /** The operation recorded as in progress (a release now, or one a vanished run left). */
  inProgress: HistoryRecord | null;
  lastOperation: HistoryRecord | null;
}

/** The tag of `image:tag` (a registry's port is not a tag). */
export function tagOfImage(image: string): string {
  const at = image.lastIndexOf(':');
  return at > image.lastIndexOf('/') ? image.slice(at + 1) : '';
}

function parseHolder(text: string): LockHolder | null {
  if (!text) return null;
  try {
    const h = JSON.parse(text) as LockHolder;
    return typeof h === 'object' && h !== null ? h : null;
  } catch {
    return { action: text };
  }
}

function serviceOf(c: ContainerStatus, project: string, liveColor: string): ServiceStatus {
  const color = c.project.startsWith(`${project}-`) ? c.project.slice(project.length + 1) : null;
  const running = c.state === 'running';
  return {
    service: c.service,
    container: c.name,
    color,
    live: color !== null && color === liveColor,
    image: c.image,
    tag: tagOfImage(c.image),
    state: c.state,
    health: c.health || c.state,
    since: (running ? c.startedAt : c.finishedAt).replace(/\.\d+Z$/, 'Z'),
  };
}

export function statusReport(o: {
  host: string;
  repoPath: string;
  composeFile: string;
  answers: StatusAnswers;
  history: readonly HistoryRecord[];
  inProgress?: HistoryRecord;
}): StatusReport {
  const { answers } = o;
  const project = composeProject(o.composeFile);
  return {
    host: o.host,
    repoPath: o.repoPath,
    composeFile: o.composeFile,
    services: answers.containers
      .map((c) => serviceOf(c, project, answers.liveColor))
      .sort((a, b) => a.service.localeCompare(b.service) || (a.color ?? '').localeCompare(b.color ?? '')),
    liveColor: answers.liveColor || null,
    lock: {
      state: answers.lock,
      // the holder file outlives a holder killed outright: it names a holder only while the lock is held (or may be)
      holder: answers.lock === 'free' ? null : parseHolder(answers.holder),
    },
    phaseRunning: answers.phase === 'unknown' ? null : answers.phase === 'held',
    inProgress: o.inProgress ?? null,
    lastOperation: o.history.length ? o.history[o.history.length - 1] : null,
  };
}

/** Text from the NAS shown in a terminal: no control character (an escape sequence) gets through. */
export function clean(text: string | undefined): string {
  return (text ?? '').replace(/[\0-\x1f\x7f-\x9f]/g, '?');
}

/** Columns padded to their widest cell. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const cells = [header, ...rows.map((r) => r.map((c) => clean(c) || '-'))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ')).join('\n');
}

function describeHolder(h: LockHolder): string {
  return `${clean(h.action) || 'an operation'} by ${clean(h.actor) || '?'} since ${clean(h.started) || '?'} (${clean(h.run) || 'unknown run'})`;
}

function describeRecord(r: HistoryRecord): string {
  const move = r.previous ? `${clean(r.previous)} -> ${clean(r.tag) || '?'}` : clean(r.tag) || '?';
  const detail = r.detail ? ` (${clean(r.detail)})` : '';
  return `${clean(r.action)} ${move}: ${clean(r.outcome) || 'in progress'}${detail}, ${clean(r.ended ?? r.started)} by ${clean(r.actor) || '?'} (${clean(r.run) || 'unknown run'})`;
}

export function statusText(s: StatusReport): string {
  const out = [`${clean(s.host)}:${clean(s.repoPath)} (${clean(s.composeFile)})`, ''];
  out.push(
    s.services.length
      ? table(
          ['SERVICE', 'COLOUR', 'CONTAINER', 'TAG', 'HEALTH', 'SINCE'],
          s.services.map((v) => [
            v.service,
            v.color ? `${v.color}${v.live ? ' (live)' : ''}` : '',
            v.container,
            v.tag || v.image,
            v.health,
            v.since,
          ]),
        )
      : 'No container of the compose file exists on the NAS.',
    '',
  );
  if (s.liveColor) out.push(`Live colour:    ${clean(s.liveColor)}`);
  const lock =
    s.lock.state === 'free'
      ? 'free'
      : s.lock.state === 'held'
        ? `held by ${s.lock.holder ? describeHolder(s.lock.holder) : 'an operation that has not said who it is'}`
        : `unknown (the NAS does not show its locks)${s.lock.holder ? `; last taken by ${describeHolder(s.lock.holder)}` : ''}`;
  out.push(`Release lock:   ${lock}`);
  if (s.phaseRunning) out.push('Release phase:  running on the NAS');
  if (s.inProgress) out.push(`In progress:    ${describeRecord(s.inProgress)}`);
  out.push(`Last operation: ${s.lastOperation ? describeRecord(s.lastOperation) : 'none recorded'}`);
  return out.join('\n');
}

/** The history as `history` shows it: newest first, the operation in progress (if any) on top. */
export function historyView(
  records: readonly HistoryRecord[],
  inProgress: HistoryRecord | undefined,
  limit: number,
): (HistoryRecord & { inProgress?: true })[] {
  const newest = [...records].reverse();
  const all = inProgress ? [{ ...inProgress, inProgress: true as const }, ...newest] : newest;
  return all.slice(0, limit);
}

export function historyText(rows: readonly (HistoryRecord & { inProgress?: true })[]): string {
  if (!rows.length) return 'No operation is recorded in the release history yet.';
  return table(
    ['STARTED', 'ACTION', 'TAG', 'PREVIOUS', 'OUTCOME', 'ACTOR', 'DETAIL'],
    rows.map((r) => [
      r.started,
      r.action,
      r.tag,
      r.previous ?? '',
      r.inProgress ? 'in progress' : (r.outcome ?? ''),
      r.actor ?? '',
      r.detail ?? '',
    ]),
  );
}

/** JSON for standard output: `#` escaped, so no line of it can be read as a runner's `##[` command. */
export function jsonText(value: unknown): string {
  return JSON.stringify(value, null, 2).replace(/#/g, '\\u0023');
}
