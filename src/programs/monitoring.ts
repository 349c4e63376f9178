import type { CheckoutInputs } from '../inputs/backend.js';
import type { VerifyInputs } from '../inputs/monitoring.js';
import type { Renderer } from '../remote/command.js';
import { compose, docker } from '../remote/docker.js';
import { git } from '../remote/git.js';
import { httpGetAll, parseHttpValue, type HttpRequest, type HttpResponse } from '../remote/http.js';
import { exitCodes, Steps, type Phase, type StateQuestions, type TypedProgram } from '../remote/program.js';
import { lines, sh, type Shell } from '../remote/shell.js';
import { CheckoutExit, decodeFetchedTarget, fetchTarget, moveCheckout, type FetchedTarget } from './checkout.js';

/** How the monitoring stack's programs end. */
export const MonitoringExit = {
  ...CheckoutExit,
  NoCheckout: 30,
  LeftoversNotRemoved: 50,
  ComposeDownFailed: 51,
  ComposeUpFailed: 52,
  StackUnhealthy: 53,
  TagOnAnotherCommit: 60,
  TagNotCreated: 61,
} as const;
export type MonitoringExit = (typeof MonitoringExit)[keyof typeof MonitoringExit];
const EXIT = exitCodes(MonitoringExit);

export interface StackPlace {
  repo: string;
  composeFile: string;
  containers: string[];
  healthTimeout: number;
}

/** Where the stack lives, from an action's settings. */
export function stackPlace(
  repo: string,
  stack: { composeFile: string; healthTimeout: number },
  checks: { containers: string[] },
): StackPlace {
  return { repo, composeFile: stack.composeFile, containers: checks.containers, healthTimeout: stack.healthTimeout };
}

/** The folder compose names the project after, as its containers' working_dir label holds it. */
export function projectDir(s: StackPlace): string {
  const dir = s.composeFile.includes('/') ? s.composeFile.slice(0, s.composeFile.lastIndexOf('/')) : '';
  return dir ? `${s.repo}/${dir}` : s.repo;
}

export interface Leftover {
  name: string;
  why: string;
}

/** Asks, for each stack name, who owns the container holding it, and lists exited containers. */
function containerOwners(r: Renderer, s: StackPlace): Shell {
  return lines(
    ...s.containers.map((c, i) => sh`nr_value ${`owner_${i}`} "$(${r.run(docker.containerOwner(c))} 2>/dev/null)"`),
    // encoded, to stay one value line
    sh`nr_value exited_b64 "$(${r.run(docker.stoppedContainers())} | base64 | tr -d '\\n')"`,
  );
}

/**
 * Containers that would break the stack: one holding a stack name that no
 * compose project owns (a manual `docker run`), and exited duplicates of a
 * stack name: the `<12 hex>_<name>` compose renames a container to while
 * recreating it, left behind when that failed. Names are matched whole. A
 * container of another compose project is never a leftover, whatever its name:
 * one that holds a stack name is a conflict, for the operator to resolve.
 */
export function findLeftovers(
  s: StackPlace,
  values: ReadonlyMap<string, string>,
): { leftovers: Leftover[]; conflicts: Leftover[] } {
  const leftovers: Leftover[] = [];
  const conflicts: Leftover[] = [];
  const dir = projectDir(s);
  s.containers.forEach((name, i) => {
    const line = (values.get(`owner_${i}`) ?? '').trim();
    if (!line) return;
    const [status, ...rest] = line.split(' ');
    const owner = rest.join(' ').trim();
    if (!owner) leftovers.push({ name, why: `${status}, started outside compose` });
    else if (owner !== dir) conflicts.push({ name, why: `${status}, owned by the compose project in ${owner}` });
  });
  const exited = Buffer.from(values.get('exited_b64') ?? '', 'base64').toString();
  for (const line of exited.split('\n')) {
    const [name = '', ...rest] = line.trim().split(' ');
    const owner = rest.join(' ').trim();
    const renamed = /^[0-9a-f]{12}_(.+)$/.exec(name);
    if (renamed && s.containers.includes(renamed[1]) && (owner === '' || owner === dir))
      leftovers.push({ name, why: 'an exited duplicate' });
  }
  return { leftovers, conflicts };
}

/** Removes the leftovers, naming each. */
function removeLeftovers(r: Renderer, leftovers: readonly Leftover[]): Shell {
  if (leftovers.length === 0) return sh`nr_say ok 'Clean slate: no leftover containers'`;
  return lines(
    ...leftovers.map(
      (l) =>
        sh`nr_say warn ${`Removing leftover container ${l.name} (${l.why}): it would cause name conflicts and stale DNS answers in the stack`}`,
    ),
    sh`${r.change(docker.remove(leftovers.map((l) => l.name)))} >/dev/null || { nr_say fail 'Could not remove the leftover containers'; ${EXIT.exit(MonitoringExit.LeftoversNotRemoved)}; }`,
  );
}

/**
 * Stops the stack with its orphans, starts it, and waits until every
 * container runs (and is healthy where it has a healthcheck); on a timeout,
 * prints the unhealthy containers' last log lines (src/nas-shell/monitoring.sh).
 */
function restartStack(r: Renderer, s: StackPlace, steps: Steps<'restart' | 'health'>): Shell {
  return sh`cd ${s.repo} || ${EXIT.exit(MonitoringExit.NoCheckout)}
${steps.say('restart')}
nr_stack_down() { ${r.change(compose.down(s.composeFile))}; }
nr_stack_up() { ${r.change(compose.upAll(s.composeFile))}; }
nr_stack_restart ${s.composeFile}
${steps.say('health')}
${r.dryRun ? sh`nr_say info 'dry-run: health wait skipped'` : sh`nr_stack_health ${s.healthTimeout} ${s.containers}`}`;
}

const RESTART_STEPS = {
  restart: 'Restarting the stack (down --remove-orphans, up -d)',
  health: 'Waiting for the stack to be healthy',
} as const;

/** The steps of a monitoring release on the NAS, after the runner's lock step. */
export const RELEASE_STACK_STEPS = {
  preflight: 'Preflight: looking for leftover containers',
  checkout: 'Updating repository',
  tag: 'Computing release tag',
  ...RESTART_STEPS,
} as const;

export interface StackState extends FetchedTarget {
  /** Removed by the release, each with a warning. */
  leftovers: Leftover[];
  /** Stack names held by another compose project's containers: the release refuses to start. */
  conflicts: Leftover[];
}

/** deploy-monitoring's first questions: who holds the stack's names, and the commit to release. */
export function stackState(place: StackPlace, checkout: CheckoutInputs): StateQuestions<StackState> {
  return {
    script: (r) => sh`${containerOwners(r, place)}
${fetchTarget(r, { repo: place.repo, ...checkout })}`,
    decode: (values) => ({ ...decodeFetchedTarget(values), ...findLeftovers(place, values) }),
  };
}

/** deploy-monitoring's detached phase: clear leftovers, move the checkout, restart the stack and wait for it. */
export function releaseStackPhase(
  r: Renderer,
  p: {
    place: StackPlace;
    checkout: CheckoutInputs;
    commit: string;
    subject: string;
    /** Empty: the release gets no tag (create-tag: false). */
    tag: string;
    leftovers: readonly Leftover[];
    runLabel: string;
  },
): Phase<void> {
  const steps = new Steps(RELEASE_STACK_STEPS);
  return {
    title: 'Releasing the monitoring stack',
    timeout: p.place.healthTimeout + 1800,
    begin: { tag: p.tag, commit: p.commit, detail: 'deploy' },
    script: sh`${steps.say('preflight')}
${removeLeftovers(r, p.leftovers)}
${steps.say('checkout', `Updating repository from ${p.checkout.remote}/${p.checkout.branch}`)}
${moveCheckout(r, { repo: p.place.repo, ...p.checkout, runLabel: p.runLabel }, p.commit)}
nr_say info ${`${p.commit.slice(0, 7)} ${p.subject}`}
${steps.say('tag')}
nr_say ok ${p.tag ? `Release tag: ${p.tag}` : 'No release tag (create-tag: false)'}
${restartStack(r, p.place, new Steps(RESTART_STEPS))}`,
    decode: () => undefined,
  };
}

export interface CheckoutState {
  head: string;
  /** Empty when detached. */
  branch: string;
  headTags: string[];
  /** Each tag's commit. */
  tagCommits: Map<string, string>;
  /** Tracked files with local changes. */
  dirty: string[];
}

/** rollback-monitoring's first questions: where the checkout is, and the tags it knows (fetched from its remotes). */
export function checkoutState(repo: string): StateQuestions<CheckoutState> {
  return {
    script: (r) => sh`${r.change(git.fetchAll(repo))} >/dev/null 2>&1
nr_value head "$(${r.run(git.revParse(repo, 'HEAD'))})"
nr_value branch "$(${r.run(git.branchName(repo))})"
nr_value head_tags "$(${r.run(git.tagsAt(repo, 'HEAD'))} | tr '\\n' ' ')"
nr_value tags "$(${r.run(git.tagCommits(repo))} | tr '\\n' ' ')"
nr_value dirty "$(${r.run(git.trackedChanges(repo))} | head -n 20 | tr '\\n' ';')"`,
    decode: (values) => ({
      head: values.get('head') ?? '',
      branch: values.get('branch') ?? '',
      headTags: (values.get('head_tags') ?? '').split(' ').filter(Boolean),
      // `tag=<commit><tag object>`: an annotated tag's commit comes first, so the first 40 hex are the commit.
      tagCommits: new Map(
        (values.get('tags') ?? '')
          .split(' ')
          .filter(Boolean)
          .map((t) => {
            const at = t.lastIndexOf('=');
            return [t.slice(0, at), t.slice(at + 1, at + 41)] as const;
          }),
      ),
      dirty: (values.get('dirty') ?? '')
        .split(';')
        .map((l) => l.trim())
        .filter(Boolean),
    }),
  };
}

export const ROLLBACK_STACK_STEPS = RESTART_STEPS;

/** rollback-monitoring's detached phase: check out the tag (detached) and restart the stack. Reports the commit. */
export function rollbackStackPhase(
  r: Renderer,
  p: { place: StackPlace; tag: string; previous: string; named: boolean },
): Phase<{ commit: string }> {
  const repo = p.place.repo;
  return {
    title: 'Rolling back the monitoring stack',
    timeout: p.place.healthTimeout + 1800,
    begin: { tag: p.tag, previous: p.previous, detail: p.named ? 'named' : 'previous-release' },
    script: sh`${r.change(git.checkoutDetached(repo, `refs/tags/${p.tag}`))} || { nr_say fail ${`git checkout ${p.tag} failed`}; ${EXIT.exit(MonitoringExit.CheckoutFailed)}; }
nr_value commit "$(${r.run(git.revParse(repo, `refs/tags/${p.tag}^{commit}`))})"
nr_say ok ${`Checked out ${p.tag}`}
${restartStack(r, p.place, new Steps(ROLLBACK_STACK_STEPS))}`,
    decode: (values) => ({ commit: values.get('commit') ?? '' }),
  };
}

/** Creates the annotated release tag (reused on a re-run) and pushes it; a failed push is a warning. */
export function tagRelease(
  r: Renderer,
  p: { repo: string; remote: string; tag: string; commit: string; message: string; push: boolean },
): TypedProgram<void> {
  return {
    title: 'Tagging the release',
    timeout: 300,
    script: lines(
      sh`nr_tag_create() { ${r.change(git.tagAnnotated(p.repo, p.tag, p.commit, p.message))}; }
nr_tag_release ${p.repo} ${p.tag} ${p.commit}`,
      p.push &&
        sh`nr_tag_pushing() { ${r.change(git.pushTag(p.repo, p.remote, p.tag))}; }
nr_tag_push ${p.repo} ${p.remote} ${p.tag}`,
    ),
    decode: () => undefined,
  };
}

/** What the checks program saw: each HTTP answer by request id, and each container's state. */
export interface CheckAnswers {
  responses: Map<string, HttpResponse>;
  /** `running healthy 0`-like states by container name ("missing" when absent). */
  states: Map<string, string>;
}

/** The checks: every HTTP GET from the NAS in parallel, and the containers' states. */
function checksScript(requests: readonly HttpRequest[], authorization: string, containers: readonly string[]): Shell {
  return lines(
    httpGetAll(requests, authorization),
    ...containers.map((c, i) => sh`nr_value ${`state_${i}`} "$(nr_state ${c})"`),
  );
}
function decodeChecks(
  requests: readonly HttpRequest[],
  containers: readonly string[],
  values: ReadonlyMap<string, string>,
): CheckAnswers {
  return {
    responses: new Map(requests.map((r) => [r.id, parseHttpValue(values.get(`http_${r.id}`))])),
    states: new Map(containers.map((c, i) => [c, values.get(`state_${i}`) ?? 'missing'])),
  };
}

/** A monitoring release's verification step, as a program of its own. */
export function checksProgram(
  requests: readonly HttpRequest[],
  authorization: string,
  v: Pick<VerifyInputs, 'containers'>,
): TypedProgram<CheckAnswers> {
  return {
    title: 'Verifying the monitoring stack',
    timeout: 60,
    quiet: true,
    script: checksScript(requests, authorization, v.containers),
    decode: (values) => decodeChecks(requests, v.containers, values),
  };
}

export interface VerifyState extends CheckAnswers {
  /** Who holds the release lock now, when a release runs (the checks may see the stack mid-change). */
  lockHolder?: string;
}

/** verify-monitoring's one program: the checks, and whether a release holds the lock, with the probe. */
export function verifyState(
  stateDir: string,
  requests: readonly HttpRequest[],
  authorization: string,
  v: Pick<VerifyInputs, 'containers'>,
): StateQuestions<VerifyState> {
  return {
    script: () => sh`nr_verify_lock ${stateDir}
${checksScript(requests, authorization, v.containers)}`,
    decode: (values) => {
      const held = values.get('lock_held');
      return {
        ...decodeChecks(requests, v.containers, values),
        ...(held !== undefined ? { lockHolder: held.trim() || 'unknown holder' } : {}),
      };
    },
  };
}
