import { Shell, lines, sh } from './shell.js';

/**
 * The release history: one JSON line per operation in `history.jsonl` beside
 * the lock, inside `.git/` (never part of the work tree, never dirty, kept
 * across deploys). An operation in progress is recorded in `current.json`
 * (written to a temporary file and renamed, so never half-written); a run
 * that finds one left behind reports it and files it as `interrupted`.
 */
export type Outcome = 'success' | 'failure' | 'rolled-back' | 'interrupted' | 'noop' | 'dry-run';

export interface HistoryRecord {
  id: string;
  action: string;
  stack: 'backend' | 'monitoring';
  /** Backend image tag, or monitoring git tag. */
  tag: string;
  commit?: string;
  previous?: string;
  actor?: string;
  run?: string;
  started: string;
  ended?: string;
  outcome?: Outcome;
  detail?: string;
  /** The backup a rollback restored. */
  backup?: string;
  /** sha256 of the environment file the release wrote (never its content). */
  env?: string;
  /** A release of several services: each service's tag, and how to find and check it again. */
  services?: Record<string, ServiceRecord>;
  /** The registry tag a release pulled (image-source: registry): a rollback pulls it again when the image is gone. */
  pulled?: string;
  /** The image (name, no tag) the tag is of: an empty-tag rollback goes back across a renamed image. */
  image?: string;
  /** What the backend ran before this operation (`image:tag`, or what docker names it) and that image's id. */
  ran?: { image: string; id: string };
  /** The digest (`sha256:…`) of what that pull got: a rollback pulls `image@digest`, never a tag that may have moved since. */
  digest?: string;
  /** The same for a release of several services: each image's digest, by image name. */
  digests?: Record<string, string>;
  /** blue-green: the colour serving through the proxy after this operation. */
  color?: 'blue' | 'green';
}

/** What the history keeps of one service of a release. */
export interface ServiceRecord {
  tag: string;
  image: string;
  /** Empty: the container compose made for the service. */
  container: string;
  tagVariable: string;
  healthUrl: string;
  /** image-source: registry: the registry tag the service's image was pulled as (a rollback pulls it again when the image is gone). */
  pulled?: string;
  /** What the service ran before this operation, and that image's id. */
  ran?: { image: string; id: string };
}

export const HISTORY_FILE = 'history.jsonl';
/**
 * The shell variable with members (`,"name":"value"`) that a record written on
 * the NAS adds to what the runner knew: what only the NAS learns during a phase.
 */
export const RECORD_MORE = 'nr_record_more';
export const CURRENT_FILE = 'current.json';
/**
 * Keys of operations a detached phase ended on the NAS whose runner has not
 * (yet) seen that end: the runner takes its own key out once it has, so what
 * stays was finished by the NAS after its runner vanished, for the next run to report.
 */
export const UNREPORTED_FILE = 'unreported';

/** The key of one operation in the unreported list. */
export function reportKey(record: Pick<HistoryRecord, 'id' | 'action' | 'started'>): string {
  return `${record.id} ${record.action} ${record.started}`;
}

// The shell of these lives in src/nas-shell/history.sh; each sets nr_dir, which the code around them may use.

/** Adds an operation to the unreported list (under a lock on the file: a lock-free run may be taking keys out). */
export function markUnreported(stateDir: string, record: HistoryRecord): Shell {
  return sh`nr_dir=${stateDir}; nr_unreported_add "$nr_dir" ${reportKey(record)}`;
}

/** Takes operations out of the unreported list once they are reported (rewritten in place, so the lock holds). */
export function clearUnreported(stateDir: string, keys: readonly string[]): Shell {
  if (!keys.length) return sh`:`;
  return sh`nr_dir=${stateDir}; nr_unreported_remove "$nr_dir" ${keys}`;
}

/** Reads the last lines of the history and any operation left in progress. */
export function readHistory(stateDir: string, lastLines = 500): Shell {
  return sh`nr_dir=${stateDir}; nr_history_read "$nr_dir" ${lastLines}`;
}

/** Records the operation now starting (replacing any left behind, which the caller has filed). */
export function beginOperation(stateDir: string, record: HistoryRecord, interrupted?: HistoryRecord): Shell {
  return lines(
    sh`nr_dir=${stateDir}`,
    interrupted && appendLine(interrupted),
    sh`nr_history_begin "$nr_dir" ${JSON.stringify(record)}`,
  );
}

/**
 * Appends the finished operation and clears the in-progress record. A record
 * without `ended` gets the NAS's clock: written at the end of a detached phase,
 * it is on disk the moment the release is done, whatever happens to the runner.
 */
export function endOperation(stateDir: string, record: HistoryRecord): Shell {
  return lines(sh`nr_dir=${stateDir}`, appendLine(record), sh`nr_history_done "$nr_dir"`);
}

/** Appends a record (an interrupted operation filed by the next one). */
export function appendRecord(stateDir: string, record: HistoryRecord): Shell {
  return lines(sh`nr_dir=${stateDir}`, appendLine(record));
}

/** Appends `record` to the history in "$nr_dir"; without `ended`, it ends by the NAS's clock, with RECORD_MORE. */
function appendLine(record: HistoryRecord): Shell {
  const json = JSON.stringify(record);
  return record.ended
    ? sh`nr_history_append "$nr_dir" ${json}`
    : sh`nr_history_append_ended "$nr_dir" ${json.slice(0, -1)} "$${new Shell(RECORD_MORE)}"`;
}

function decode(b64: string | undefined): string {
  return b64 ? Buffer.from(b64, 'base64').toString('utf8') : '';
}

function isRecord(value: unknown): value is HistoryRecord {
  const r = value as HistoryRecord;
  return (
    typeof r === 'object' &&
    r !== null &&
    typeof r.action === 'string' &&
    typeof r.tag === 'string' &&
    (r.stack === 'backend' || r.stack === 'monitoring')
  );
}

/** Parses history lines, skipping any that are not whole records. */
export function parseHistory(text: string): HistoryRecord[] {
  const records: HistoryRecord[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      const value: unknown = JSON.parse(line);
      if (isRecord(value)) records.push(value);
    } catch {
      /* a torn or foreign line: ignored */
    }
  }
  return records;
}

export function parseHistoryValues(values: Map<string, string>): {
  records: HistoryRecord[];
  inProgress?: HistoryRecord;
} {
  const records = parseHistory(decode(values.get('history_b64')));
  const current = parseHistory(decode(values.get('current_b64')))[0];
  return current ? { records, inProgress: current } : { records };
}

/** Keys of the operations the NAS finished after their runner vanished (see UNREPORTED_FILE). */
export function parseUnreported(values: Map<string, string>): string[] {
  return decode(values.get('unreported_b64'))
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
}

/**
 * The releases of one stack as a stack: a deploy or a named rollback pushes
 * its tag, an empty-tag rollback pops back to the one below. With A, B, C
 * deployed and C running, the previous release is B; after rolling back to B,
 * it is A.
 */
export function releaseStack(records: readonly HistoryRecord[], stack: 'backend' | 'monitoring'): string[] {
  const out: string[] = [];
  for (const r of records) {
    if (r.stack !== stack || r.outcome !== 'success' || !r.tag) continue;
    if (r.detail === 'previous-release') {
      const at = out.lastIndexOf(r.tag);
      if (at >= 0) {
        out.length = at + 1;
        continue;
      }
    }
    if (out[out.length - 1] !== r.tag) out.push(r.tag);
  }
  return out;
}

/**
 * The history as it reads once this run's successful deploy is filed: a cleanup after the release orders the
 * tags by it, and the history read before the release does not hold it yet.
 */
export function withDeploy(
  history: readonly HistoryRecord[],
  run: { id: string; started: string },
  release: Pick<HistoryRecord, 'tag' | 'commit' | 'previous' | 'services'>,
): HistoryRecord[] {
  return [
    ...history,
    {
      id: run.id,
      action: 'deploy-backend',
      stack: 'backend',
      ...release,
      started: run.started,
      ended: new Date().toISOString(),
      outcome: 'success',
    },
  ];
}

/** The commit a backend release tag was deployed from, as the history knows it ('' when it does not). */
export function commitOf(history: readonly HistoryRecord[], tag: string): string {
  return [...history].reverse().find((r) => r.stack === 'backend' && r.tag === tag && r.commit)?.commit ?? '';
}

/** The image a successful backend release of `tag` ran, as the history knows it (undefined before it recorded images). */
export function imageOf(history: readonly HistoryRecord[], tag: string): string | undefined {
  return [...history]
    .reverse()
    .find((r) => r.stack === 'backend' && r.outcome === 'success' && r.tag === tag && r.image)?.image;
}

/** The release an empty-tag rollback goes to, given what runs now; undefined when there is none. */
export function previousRelease(
  records: readonly HistoryRecord[],
  stack: 'backend' | 'monitoring',
  running: string,
): string | undefined {
  const releases = releaseStack(records, stack);
  let at = releases.lastIndexOf(running);
  if (at < 0) at = releases.length;
  for (let i = at - 1; i >= 0; i--) if (releases[i] !== running) return releases[i];
  return undefined;
}
