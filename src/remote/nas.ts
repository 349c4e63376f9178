import { Shell, sh } from './shell.js';
import type { Tools } from './command.js';

/** Which compose to use: the compose-command input. */
export type ComposeChoice = 'auto' | 'docker compose' | 'docker-compose';

/** What the NAS has: found in one read-only program at the start of every action. */
export interface NasFacts {
  tools: Tools;
  /** Lines for the collapsed "NAS" group. */
  describe: string[];
}

/**
 * A program snippet that reports where git, docker, compose and the helpers
 * are, and their versions. The version queries run in the background; the
 * program that holds this snippet ends with `wait`. A standalone
 * docker-compose is found but not asked its version: a Python one takes most
 * of a second to start, longer than the rest of the probe together.
 */
export function probeTools(sudo: boolean): Shell {
  const s = new Shell(sudo ? 'sudo -n ' : '');
  return sh`
for nr_t in git docker docker-compose flock setsid timeout curl wget; do nr_value "path_$nr_t" "$(command -v "$nr_t" 2>/dev/null || true)"; done
nr_value uname "$(uname -sm 2>/dev/null)"
nr_value git_version "$(git --version 2>/dev/null)"
if command -v docker >/dev/null 2>&1; then
  ( nr_value docker_version "$(${s}"$(command -v docker)" version --format '{{.Server.Version}}' 2>&1 | tr '\\n' ' ')" ) &
  ( nr_value compose_v2 "$(${s}"$(command -v docker)" compose version --short 2>/dev/null)" ) &
fi
${sudo ? sh`command -v docker-compose >/dev/null 2>&1 && nr_value sudo_compose "$(sudo -n -l "$(command -v docker-compose)" >/dev/null 2>&1 && echo allowed)"` : sh`:`}`;
}

/**
 * Tool functions for the first program, before the probe has spoken: docker
 * and git as found on the NAS's PATH (docker through sudo when asked).
 */
export function probingToolFunctions(sudo: boolean): Shell {
  return new Shell(`nr_docker() { ${sudo ? 'sudo -n ' : ''}"$(command -v docker || echo docker)" "$@"; }
nr_git() { git "$@"; }`);
}

const WHERE = {
  git: 'install Git (on Synology: Package Center → Git Server, or the SynoCommunity "Git" package; on QNAP: the Entware "git" package)',
  docker: 'install Docker (on Synology: Package Center → Container Manager; on QNAP: App Center → Container Station)',
  compose: 'install Docker Compose (Container Manager on Synology ships docker-compose; or add the compose plugin)',
  flock: 'install util-linux flock (on QNAP: Entware "flock"); it keeps two releases from interleaving',
  setsid: 'install setsid (util-linux or BusyBox); it keeps a recreate running when the SSH session drops',
  timeout: 'install timeout (coreutils or BusyBox)',
};

/** The one-line explanation of a missing tool. */
export function missingTool(tool: string, remotePath: string): string {
  const where = WHERE[tool as keyof typeof WHERE] ?? `install ${tool}`;
  return `The NAS has no '${tool}' on the PATH (${remotePath}:$PATH): ${where}. Nothing was changed.`;
}

/** Turns the probe's values into the tools to use, or a one-line explanation of what is missing. */
export function parseTools(
  values: Map<string, string>,
  opts: { sudo: boolean; compose: ComposeChoice; remotePath: string; git?: boolean },
): NasFacts {
  const path = (t: string): string => values.get(`path_${t}`) ?? '';
  // project-source: runner ships the files: the NAS needs no git then
  for (const tool of [
    ...(opts.git === false ? [] : ['git' as const]),
    'docker',
    'flock',
    'setsid',
    'timeout',
  ] as const) {
    if (!path(tool)) throw new Error(missingTool(tool, opts.remotePath));
  }
  const dockerVersion = (values.get('docker_version') ?? '').trim();
  // sudo is asked with the very command the sudoers rule must allow (docker by its full path).
  if (opts.sudo && /^sudo:/m.test(dockerVersion)) {
    throw new Error(
      `sudo: true, but sudo on the NAS refused to run docker without a password (${dockerVersion}). Allow the NAS user to run docker without one, with a sudoers line such as "<user> ALL=(root) NOPASSWD:SETENV: ${path('docker')}${path('docker-compose') ? ', ' + path('docker-compose') : ''}" (SETENV lets the image tag through), or put the user in the docker group and set sudo: false. Nothing was changed.`,
    );
  }
  if (!/^\d+\.\d+/.test(dockerVersion)) {
    const hint = /permission denied/i.test(dockerVersion)
      ? 'the SSH user may not use the Docker engine: add it to the docker group (root-equivalent), or set sudo: true with a sudoers rule'
      : 'is the Docker engine running?';
    throw new Error(
      `docker on the NAS cannot reach the engine: ${dockerVersion || 'no answer'} (${hint}). Nothing was changed.`,
    );
  }
  const v2 = (values.get('compose_v2') ?? '').trim();
  const standalone = path('docker-compose');
  let compose: string[];
  let composeVersion: string;
  if (opts.compose === 'docker compose' || (opts.compose === 'auto' && v2)) {
    if (!v2)
      throw new Error(
        `compose-command is 'docker compose', but the NAS's docker has no compose plugin: ${WHERE.compose}, or set compose-command: docker-compose. Nothing was changed.`,
      );
    compose = [path('docker'), 'compose'];
    composeVersion = `docker compose ${v2}`;
  } else {
    if (!standalone)
      throw new Error(
        `The NAS has neither 'docker compose' nor 'docker-compose': ${WHERE.compose}. Nothing was changed.`,
      );
    if (opts.sudo && values.get('sudo_compose') !== 'allowed') {
      throw new Error(
        `sudo: true, but sudo on the NAS does not let this user run ${standalone} without a password. Add it to the sudoers rule ("<user> ALL=(root) NOPASSWD:SETENV: ${path('docker')}, ${standalone}"). Nothing was changed.`,
      );
    }
    compose = [standalone];
    composeVersion = 'standalone docker-compose';
  }
  return {
    tools: { docker: [path('docker')], compose, git: [path('git')], sudo: opts.sudo },
    describe: [
      `System:  ${values.get('uname') ?? '?'}`,
      `docker:  ${path('docker')} (engine ${dockerVersion})${opts.sudo ? ' through sudo -n' : ''}`,
      `compose: ${compose.join(' ')} (${composeVersion})`,
      opts.git === false
        ? 'git:     not used (project-source: runner)'
        : `git:     ${path('git')} (${(values.get('git_version') ?? '').replace(/^git version /, '')})`,
      `http:    ${path('curl') || path('wget') || 'none (health-url and verify need curl or wget)'}`,
    ],
  };
}
