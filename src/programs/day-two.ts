import { library } from '../nas-shell/link.js';
import { command, type Renderer } from '../remote/command.js';
import type { StateQuestions, TypedProgram } from '../remote/program.js';
import { Shell, lines, sh } from '../remote/shell.js';
import { stateDirOf } from '../remote/state-dir.js';
import { COLORS, composeProject, LIVE_FILE } from './blue-green.js';

/**
 * The NAS side of the CLI's day-two commands (status, logs): read-only, and
 * without the release lock. Whether the lock is held is read from the
 * kernel's lock table, never by trying to take it.
 */

/** The compose projects of a compose file: the one compose derives, and the blue-green colours. */
export function projectsOf(composeFile: string): string[] {
  const project = composeProject(composeFile);
  return [project, ...COLORS.map((c) => `${project}-${c}`)];
}

/** One container of the compose file's projects, as docker describes it. */
export interface ContainerStatus {
  name: string;
  project: string;
  service: string;
  /** `image:tag` the container was created from. */
  image: string;
  /** running, exited, created, restarting, ... */
  state: string;
  /** healthy, unhealthy, starting, or empty without a healthcheck. */
  health: string;
  startedAt: string;
  finishedAt: string;
}

/** What `status` reads besides the history. */
export interface StatusAnswers {
  containers: ContainerStatus[];
  /** The colour the proxy serves, as the last switch wrote it; empty before any blue-green release. */
  liveColor: string;
  /** `held` or `free` (from /proc/locks), `unknown` where the NAS does not show its locks. */
  lock: 'held' | 'free' | 'unknown';
  /** A detached release phase runs (its own lock file is held). */
  phase: 'held' | 'free' | 'unknown';
  /** The holder file's text: who took the lock last (JSON), empty once let go. */
  holder: string;
}

const FIELDS = [
  '{{.Name}}',
  '{{index .Config.Labels "com.docker.compose.project"}}',
  '{{index .Config.Labels "com.docker.compose.service"}}',
  '{{.Config.Image}}',
  '{{.State.Status}}',
  '{{if .State.Health}}{{.State.Health.Status}}{{end}}',
  '{{.State.StartedAt}}',
  '{{.State.FinishedAt}}',
];

/**
 * The day-two library (src/nas-shell/day-two.sh). `nr_flock_state FILE`: `held` when some process holds a flock on
 * FILE, `free` when none does (or FILE does not exist), `unknown` when /proc/locks cannot be read. Looks at the
 * kernel's table: takes nothing.
 */
export const FLOCK_STATE = new Shell(library('dayTwo'));

function decodeB64(values: ReadonlyMap<string, string>, name: string): string {
  return Buffer.from(values.get(name) ?? '', 'base64').toString('utf8');
}

function decodeContainers(text: string): ContainerStatus[] {
  return text
    .split('\n')
    .filter((line) => line.includes('\t'))
    .map((line) => {
      const [
        name = '',
        project = '',
        service = '',
        image = '',
        state = '',
        health = '',
        startedAt = '',
        finishedAt = '',
      ] = line.split('\t');
      return { name: name.replace(/^\//, ''), project, service, image, state, health, startedAt, finishedAt };
    });
}

function flockState(value: string | undefined): 'held' | 'free' | 'unknown' {
  return value === 'held' || value === 'free' ? value : 'unknown';
}

/** status's questions: the containers of the compose file's projects, the live colour, the lock. */
export function statusQuestions(repo: string, composeFile: string): StateQuestions<StatusAnswers> {
  return {
    script: () => sh`nr_status ${stateDirOf(repo)} ${LIVE_FILE} ${FIELDS.join('\t')} ${projectsOf(composeFile)}`,
    decode: (values) => ({
      containers: decodeContainers(decodeB64(values, 'containers_b64')),
      liveColor: values.get('live_color') ?? '',
      lock: flockState(values.get('lock')),
      phase: flockState(values.get('phase')),
      holder: decodeB64(values, 'holder_b64').trim(),
    }),
  };
}

/** The exit of the logs program when no container of the compose file (or of the service) exists. */
export const NO_CONTAINERS_EXIT = 3;

/**
 * `compose logs` of every project of the compose file that has a container
 * (of `service`, when given): the colours of a blue-green backend too. With
 * `follow`, the projects' logs run side by side, each in a session of its
 * own, until the runner ends the channel's input (Ctrl-C): then each
 * session is ended, so nothing is left following on the NAS.
 */
export function logsProgram(
  r: Renderer,
  p: { repo: string; composeFile: string; service: string; tail: number; follow: boolean },
): TypedProgram<undefined> {
  const parts = projectsOf(p.composeFile).map((project) => {
    const logs = r.run(
      command([
        'compose',
        '--project-name',
        project,
        '--file',
        p.composeFile,
        'logs',
        '--tail',
        String(p.tail),
        ...(p.follow ? ['--follow'] : []),
        ...(p.service ? [p.service] : []),
      ]),
    );
    return sh`if nr_logs_has ${project} ${p.service}; then ${p.follow ? sh`nr_logs_follow` : sh`nr_logs_print`} ${logs}; fi`;
  });
  return {
    title: 'Printing the logs',
    // a follow runs until Ctrl-C: the timer must not end it
    timeout: p.follow ? 7 * 24 * 3600 : 600,
    script: lines(
      sh`cd ${p.repo} || exit 1
nr_logs_start ${p.follow ? 1 : 0}`,
      ...parts,
      sh`nr_logs_end ${NO_CONTAINERS_EXIT}`,
    ),
    decode: () => undefined,
  };
}
