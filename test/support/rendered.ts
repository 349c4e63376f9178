import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HistoryRecorder } from '../../src/nas/history-recorder.js';
import type { Phase, StateQuestions } from '../../src/nas/nas.js';
import { Renderer, bareTools, toolFunctions, type Tools } from '../../src/remote/command.js';
import { detached } from '../../src/remote/detached.js';
import { readHistory } from '../../src/remote/history.js';
import { lockHolder } from '../../src/remote/lock.js';
import { probeTools, probingToolFunctions } from '../../src/remote/nas.js';
import { programText, type TypedProgram } from '../../src/remote/program.js';
import { Shell, lines, sh } from '../../src/remote/shell.js';
import type { RunInfo } from '../../src/report/run-info.js';

/**
 * The whole text the NAS gets for each call a flow makes, composed as SshNas
 * composes it (the lock holder around the first questions, the detached
 * runner around a phase, the history lines), so that a check of it checks
 * what really runs.
 */
const MARKER = '@@nr-m@@';
const STATE_DIR = '/volume1/my apps/repo/.git/nas-release';
const PATH = '/usr/local/bin';
/** Tools as a NAS with sudo and a standalone compose names them: every quoting path is taken. */
const TOOLS: Tools = {
  docker: ['/usr/local/bin/docker'],
  compose: ['/usr/local/bin/docker-compose'],
  git: ['/usr/bin/git'],
  sudo: true,
};
const RUN: RunInfo = {
  id: '4242-1',
  actor: "o'brien",
  url: 'https://github.com/o/r/actions/runs/4242',
  started: '2026-03-02T09:00:00.000Z',
};

/** The first questions as the lock holder runs them: probe, history, the flow's questions. */
export function renderedState(questions: StateQuestions<unknown>): string {
  const state = lines(
    probingToolFunctions(true),
    probeTools(true),
    sh`[ -d ${'/volume1/my apps/repo'}/.git ] && nr_value repo yes`,
    readHistory(STATE_DIR),
    questions.script(
      new Renderer({ docker: ['nr_docker'], compose: ['nr_compose'], git: ['nr_git'], sudo: false }, false),
    ),
    sh`wait`,
  );
  const holder = JSON.stringify({ action: 'deploy-backend', run: RUN.url, actor: RUN.actor, started: RUN.started });
  const then = programText({ path: PATH, marker: MARKER, script: state });
  return `{\n${lockHolder({ stateDir: STATE_DIR, holder, timeout: 600, marker: MARKER, path: PATH, then: new Shell(then) }).text}\n}\n`;
}

/** A foreground program. */
export function renderedProgram(program: TypedProgram<unknown>): string {
  return programText({ path: PATH, marker: MARKER, script: lines(toolFunctions(TOOLS), program.script) });
}

/** A phase, with its history lines, inside the detached runner. */
export function renderedPhase(phase: Phase<unknown>): string {
  const history = new HistoryRecorder(
    { action: 'deploy-backend', stack: 'backend', locking: true },
    RUN,
    STATE_DIR,
    true,
  );
  history.startedAt = RUN.started;
  const begin = history.begin(phase.begin);
  const body = phase.success
    ? history.recordingSuccess(phase.script, phase.success, phase.afterSuccess, phase.endings, phase.successFields)
    : lines(phase.script, phase.afterSuccess);
  const script = detached(STATE_DIR, lines(toolFunctions(TOOLS), begin, body));
  return programText({ path: PATH, marker: MARKER, script });
}

/** The same renderer as the fake NAS's, with this module's tools (for tests that render programs themselves). */
export const renderer = (dryRun = false): Renderer => new Renderer(dryRun ? bareTools : TOOLS, dryRun);

/**
 * What shellcheck may say of any rendered program, each for a reason of the rendered form (the
 * libraries in src/nas-shell are checked on their own, with nothing left out, by npm run lint):
 *  - SC2317: a program gets whole libraries, and calls only some of their functions; shellcheck
 *    takes the others for unreachable code.
 *  - SC2016: a value TypeScript quotes in single quotes (an input: a tag, a message, a hook, a
 *    docker --format template) may hold `$…` as text, which is the point of quoting it.
 *  - SC1003: such a value may itself be quoted shell text (a dry run's "would run: …" line),
 *    whose `'\''` shellcheck takes for a failed attempt at escaping.
 */
export const SHELLCHECK_EXCLUDED = ['SC2317', 'SC2016', 'SC1003'] as const;

/**
 * Findings in the shell of programs still written inside TypeScript, by program title: each is
 * fixed when that shell moves into src/nas-shell. None may be added.
 *  - Listing backups (programs/backups.ts): `tr 'A-Z' 'a-z'` (SC2018, SC2019: the same under
 *    LC_ALL=C), `ls -ln` summing sizes (SC2012: BusyBox has no du -b), `read -r nr_sum nr_file`
 *    reading a column it skips (SC2034).
 */
export const NOT_YET_MOVED: Readonly<Record<string, readonly string[]>> = {
  'Listing backups': ['SC2012', 'SC2018', 'SC2019', 'SC2034'],
};

const checked = new Map<string, string[]>();
const work = join(tmpdir(), `nas-release-rendered-${process.pid}`);

/**
 * What dash, BusyBox sh and shellcheck -s sh say of a program's text: empty
 * when all three accept it. A text is checked once per process.
 */
export function shellProblems(text: string, title = ''): string[] {
  const excluded = [...SHELLCHECK_EXCLUDED, ...(NOT_YET_MOVED[title] ?? [])];
  const key = createHash('sha256')
    .update(`${excluded.join(',')}\n${text}`)
    .digest('hex');
  const known = checked.get(key);
  if (known) return known;
  mkdirSync(work, { recursive: true });
  const file = join(work, `${key.slice(0, 16)}.sh`);
  writeFileSync(file, text);
  const problems: string[] = [];
  for (const [name, cmd, args] of [
    ['dash -n', 'dash', ['-n', file]],
    ['busybox sh -n', 'busybox', ['sh', '-n', file]],
    ['shellcheck -s sh', 'shellcheck', ['-s', 'sh', '-f', 'gcc', `--exclude=${excluded.join(',')}`, file]],
  ] as const) {
    const r = spawnSync(cmd, args, { encoding: 'utf8' });
    if (r.error) throw new Error(`${cmd} is not installed (${r.error.message}): apt-get install -y ${cmd}`);
    if (r.status !== 0) problems.push(`${name} (${file}):\n${`${r.stdout}${r.stderr}`.trim()}`);
  }
  checked.set(key, problems);
  return problems;
}

/** Writes a rendered program to $NR_DUMP_RENDERED (a folder), to read what the flows send. */
export function dumpRendered(title: string, text: string): void {
  const dir = process.env.NR_DUMP_RENDERED ?? '';
  mkdirSync(dir, { recursive: true });
  const key = createHash('sha256').update(text).digest('hex').slice(0, 12);
  writeFileSync(join(dir, `${title.replace(/\W+/g, '-')}-${key}.sh`), text);
}
