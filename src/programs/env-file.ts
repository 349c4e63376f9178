import { createHash } from 'node:crypto';
import type { Renderer } from '../remote/command.js';
import { lines, sh, type Shell } from '../remote/shell.js';
import { BACKUP_EXIT, BackupExit } from './backups.js';
import type { EnvFileSettings } from '../inputs/backend.js';
import { stateDirOf } from '../remote/state-dir.js';

/**
 * The backend's environment file as part of a release: written
 * atomically and private to the SSH user, a copy kept per release tag in the
 * state directory, so a rollback puts the target's file back with its image.
 * The content travels base64 inside the phase (a here-doc on standard input,
 * then a private file), through `printf`, a shell builtin: never on a command line.
 */
export interface EnvFilePlan {
  repo: string;
  /** Relative to repo. */
  path: string;
  stateDir: string;
}

/** The shortest value of an environment file masked on its own. */
export const ENV_VALUE_MIN = 8;

/**
 * The values of an environment file's `KEY=value` lines (an `export ` in
 * front and one pair of quotes around dropped), for masking each on its own:
 * an application prints a value (a DSN in a connection error), not the line.
 * Values shorter than ENV_VALUE_MIN characters (`1`, `true`, a port, a log
 * level) are left to the line's mask: masked alone, every such word of the
 * log would read `***`.
 */
export function envValues(content: string): string[] {
  const out: string[] = [];
  for (const line of content.split(/\r?\n/)) {
    const m = /^\s*(?:export\s+)?[A-Za-z_][A-Za-z0-9_.-]*\s*=\s*(.*?)\s*$/.exec(line);
    if (!m) continue;
    const value = /^(["'])(.*)\1$/.exec(m[1])?.[2] ?? m[1];
    if (value.trim().length >= ENV_VALUE_MIN) out.push(value.trim());
  }
  return out;
}

/** The sha256 the history records (never the content). */
export function envSha256(content: string): string {
  return createHash('sha256').update(content).digest('hex');
}

function keptCopy(p: EnvFilePlan, tag: string): string {
  return `${p.stateDir}/env/${tag || 'none'}.env`;
}

/** Keeps the file out of `git status` (it is not part of the repository), through .git/info/exclude. */
function excluded(p: EnvFilePlan): Shell {
  return sh`grep -qxF ${`/${p.path}`} ${`${p.repo}/.git/info/exclude`} 2>/dev/null || { mkdir -p ${`${p.repo}/.git/info`} && printf '%s\\n' ${`/${p.path}`} >> ${`${p.repo}/.git/info/exclude`}; }`;
}

/**
 * Writes the release's environment file and keeps a copy for `tag`; the file
 * that was there first is kept for `previous` when that release has none, so
 * a rollback to it gets back what it ran with.
 */
export function writeEnvFile(r: Renderer, p: EnvFilePlan, content: string, tag: string, previous: string): Shell {
  if (r.dryRun) return stageEnvFile(r, p, content);
  return sh`${stageEnvFile(r, p, content)}
${installEnvFile(r, p, content, { tag, previous }, BACKUP_EXIT.exit(BackupExit.EnvFileFailed))}`;
}

/** In the private state directory: a phase cut short leaves no file in the checkout. */
function stagedFile(p: EnvFilePlan): string {
  return `${p.stateDir}/env/.staged`;
}

/**
 * The first half of writeEnvFile, before anything changes: the content in a
 * private file of the state directory (nothing reads it yet); the phase
 * ends EnvFileFailed when it cannot be written.
 */
export function stageEnvFile(r: Renderer, p: EnvFilePlan, content: string): Shell {
  const file = `${p.repo}/${p.path}`;
  if (r.dryRun) return sh`nr_say info ${`dry-run: would write ${p.path} (sha256 ${envSha256(content).slice(0, 12)}…)`}`;
  const b64 = Buffer.from(content, 'utf8').toString('base64');
  const staged = stagedFile(p);
  return sh`( umask 077; mkdir -p ${`${p.stateDir}/env`} "$(dirname ${file})" ) && chmod 700 ${`${p.stateDir}/env`} &&
( umask 077; printf '%s' ${b64} | base64 -d > ${staged} ) && chmod 600 ${staged} || { rm -f ${staged}; nr_say fail ${`Cannot write ${p.path}: nothing was changed`}; ${BACKUP_EXIT.exit(BackupExit.EnvFileFailed)}; }`;
}

/**
 * The second half: the staged file takes the environment file's place (one
 * rename), with the copies kept; `failed` runs when it cannot.
 */
export function installEnvFile(
  r: Renderer,
  p: EnvFilePlan,
  content: string,
  o: { tag: string; previous: string },
  failed: Shell,
): Shell {
  const file = `${p.repo}/${p.path}`;
  if (r.dryRun) return sh`:`;
  const staged = stagedFile(p);
  return sh`if [ -f ${file} ] && [ ! -f ${keptCopy(p, o.previous)} ]; then ( umask 077; cp ${file} ${keptCopy(p, o.previous)} ); fi
if mv -f ${staged} ${file}; then
  ( umask 077; cp ${file} ${`${keptCopy(p, o.tag)}.tmp`} && mv -f ${`${keptCopy(p, o.tag)}.tmp`} ${keptCopy(p, o.tag)} ) || nr_say warn ${`Cannot keep a copy of ${p.path} for ${o.tag}`}
  ${excluded(p)}
  nr_say ok ${`Environment file ${p.path} written (sha256 ${envSha256(content).slice(0, 12)}…), kept for ${o.tag}`}
else
  rm -f ${staged}; nr_say fail ${`Cannot write ${p.path}`}
  ${failed}
fi`;
}

/** Puts back the environment file a release ran with, when a copy of it was kept. */
export function putBackEnvFile(r: Renderer, p: EnvFilePlan, tag: string): Shell {
  const file = `${p.repo}/${p.path}`;
  const copy = keptCopy(p, tag);
  if (r.dryRun) return sh`[ -f ${copy} ] && nr_say info ${`dry-run: would put back ${p.path} of ${tag}`}; :`;
  return sh`if [ -f ${copy} ]; then
  ( umask 077; mkdir -p "$(dirname ${file})" && cp ${copy} ${`${file}.nr-tmp`} ) && chmod 600 ${`${file}.nr-tmp`} && mv -f ${`${file}.nr-tmp`} ${file} && nr_say ok ${`Environment file ${p.path} of ${tag} put back`} || nr_say warn ${`Cannot put back ${p.path} of ${tag}`}
  ${excluded(p)}
fi`;
}

/** The environment file a release or rollback carries: `content` written, or (empty) the target's kept copy put back. */
export interface EnvFileStep {
  plan: EnvFilePlan;
  content: string;
}

/**
 * The environment file as a step of any release (one service, several, blue-green), written once:
 * `before` runs before compose creates a container (compose reads the file only then), `undo` before
 * what ran comes back. `tag` is the release the services go to (its copy is kept, or put back when
 * there is no content; empty: no one release, the file is left as it is); `previous` names the file
 * there before, kept under it when it has no copy, and put back by `undo`.
 */
export function envFileStep(
  r: Renderer,
  e: EnvFileStep,
  o: { tag: string; previous: string },
): { before: Shell; undo: Shell } {
  const undo = putBackEnvFile(r, e.plan, o.previous);
  if (e.content && !r.dryRun)
    return {
      before: lines(
        stageEnvFile(r, e.plan, e.content),
        unlikeKept(e.plan, o.tag),
        installEnvFile(r, e.plan, e.content, o, BACKUP_EXIT.exit(BackupExit.EnvFileFailed)),
      ),
      undo,
    };
  if (e.content) return { before: writeEnvFile(r, e.plan, e.content, o.tag, o.previous), undo };
  if (!o.tag)
    return {
      before: sh`nr_say info ${`${e.plan.path} is left as it is (the services go to no one release)`}`,
      undo: sh`:`,
    };
  return { before: lines(keepPrevious(r, e.plan, o.previous), putBackEnvFile(r, e.plan, o.tag)), undo };
}

/**
 * Sets nr_env_changed when the staged content differs from the copy kept for `tag`: a container that
 * already runs `tag` (a warm colour) started with that copy, and must start again to read the new one.
 */
function unlikeKept(p: EnvFilePlan, tag: string): Shell {
  const kept = keptCopy(p, tag);
  return sh`nr_env_changed=; { [ -f ${kept} ] && [ "$(cat ${stagedFile(p)})" = "$(cat ${kept})" ]; } || nr_env_changed=1`;
}

/** The file there now, kept for `previous` when that release has no copy: the undo of a put-back can bring it back. */
function keepPrevious(r: Renderer, p: EnvFilePlan, previous: string): Shell {
  const file = `${p.repo}/${p.path}`;
  if (r.dryRun || !previous) return sh`:`;
  return sh`if [ -f ${file} ] && [ ! -f ${keptCopy(p, previous)} ]; then ( umask 077; mkdir -p ${`${p.stateDir}/env`} && cp ${file} ${keptCopy(p, previous)} ); fi`;
}

/**
 * The key of the file there before an operation of several services: the release they all ran, else
 * one of this operation's own (`before-<tag>`), so its undo brings back exactly that file.
 */
export function envPreviousKey(running: readonly string[], tag: string): string {
  const all = [...new Set(running)];
  return all.length === 1 && all[0] ? all[0] : `before-${tag || 'none'}`;
}

/**
 * The environment file step of an operation, from the inputs: env-file-content written (recorded by its
 * sha256); with `putBack` (a rollback), without content too: the target's kept copy comes back.
 */
export function envFileOf(
  e: EnvFileSettings,
  repo: string,
  o: { putBack?: boolean } = {},
): { envFile?: EnvFileStep & { sha256?: string } } {
  if (!e.path || (!e.content && !o.putBack)) return {};
  const plan = { repo, path: e.path, stateDir: stateDirOf(repo) };
  return { envFile: { plan, content: e.content, ...(e.content ? { sha256: envSha256(e.content) } : {}) } };
}
