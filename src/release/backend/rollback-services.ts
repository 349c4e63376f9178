import type { DeploymentInputs } from '../../github/deployments.js';
import type { RollbackBackendInputs } from '../../inputs/backend.js';
import type { Nas, NasState, RecordUpdate } from '../../nas/nas.js';
import type { Progress } from '../../report/progress.js';
import { BackendExit, ROLLBACK_STEPS } from '../../programs/backend.js';
import { backupToRestore, dataAfterUndo, restoreEnded, rollbackRestore } from './backup.js';
import {
  servicesApps,
  servicesImages,
  servicesRollbackPhase,
  serviceTag,
  type ServiceMove,
  type ServicePull,
} from '../../programs/services.js';
import { registryOf } from '../../inputs/image-source.js';
import { imageSourceKind } from '../../image-sources/table.js';
import { envPreviousKey, envSha256, type EnvFileStep } from '../../programs/env-file.js';
import { stateDirOf } from '../../remote/state-dir.js';
import type { HistoryRecord } from '../../remote/history.js';
import { Steps, type Phase, type ProgramOutcome } from '../../remote/program.js';
import { datedTags } from '../../rules/images.js';
import {
  previousServiceRelease,
  pulledDigestOf,
  pulledTagOf,
  recordServices,
  releasedServices,
  serviceRecord,
  type ServiceRecord,
  type ServiceSpec,
} from '../../rules/services.js';
import { failureOf } from '../failures.js';
import type { FlowContext, FlowResult } from '../flow.js';
import { deployedServices, servicesFailure } from './deploy-services.js';
import { startRollbackDeployment } from './rollback-deployment.js';
import { rollbackHookFailure } from './rollback-hooks.js';

/** sha256 of the environment file a release of `tag` last ran with, by the history; empty: none recorded. */
function envOfRelease(history: readonly HistoryRecord[], tag: string): string {
  return (
    [...history]
      .reverse()
      .find((r) => r.stack === 'backend' && r.outcome === 'success' && r.tag === tag && r.env !== undefined)?.env ?? ''
  );
}

/**
 * The environment file of a rollback of services: env-file-content when given, else the file kept for the
 * release they go to. The services a rollback recreates read it at their start; the others keep what they
 * started with. Services sent to releases with different files would read one of them at a release it
 * was not: refused before anything changes.
 */
export function servicesEnvFile(
  settings: Pick<RollbackBackendInputs, 'envFile'>,
  repo: string,
  history: readonly HistoryRecord[],
  o: { moves: readonly ServiceMove[]; running: readonly string[] },
): { step: EnvFileStep; tag: string; previous: string; sha256?: string } | undefined {
  const { path, content } = settings.envFile;
  if (!path || o.moves.length === 0) return undefined;
  const targets = [...new Set(o.moves.map((m) => m.tag))];
  const files = new Set(targets.map((t) => envOfRelease(history, t)));
  if (!content && files.size > 1)
    throw new Error(
      `Input 'env-file-content': the services go back to releases with different environment files (${o.moves.map((m) => `${m.spec.name} to ${m.tag}`).join(', ')}): no one ${path} fits them all. Roll them back to one tag (input tag), or give env-file-content with the file they should read. Nothing was changed.`,
    );
  // one target, or (put back) several that ran the same recorded file: that copy; else no release's copy is touched
  const tag = targets.length === 1 || (!content && [...files][0]) ? targets[0] : '';
  return {
    step: { plan: { repo, path, stateDir: stateDirOf(repo) }, content },
    tag,
    previous: envPreviousKey(o.running, tag),
    ...(content ? { sha256: envSha256(content) } : {}),
  };
}

/** The services of the last release, when it was a release of several services (the history says). */
export function servicesOfLastRelease(history: readonly HistoryRecord[]): Map<string, ServiceRecord> {
  const lastDeploy = [...history]
    .reverse()
    .find((r) => r.stack === 'backend' && r.action === 'deploy-backend' && r.outcome === 'success');
  return lastDeploy && recordServices(lastDeploy).size ? releasedServices(history) : new Map();
}

function specOf(name: string, r: ServiceRecord): ServiceSpec {
  return {
    name,
    image: r.image,
    container: r.container,
    tagVariable: r.tagVariable,
    healthUrl: r.healthUrl,
    buildContext: '.',
    dockerfile: '',
  };
}

type RollbackSettings = RollbackBackendInputs & { deployment: DeploymentInputs };
type RollbackPhaseValues = ReturnType<typeof servicesRollbackPhase> extends Phase<infer V> ? V : never;
type Rolled = ProgramOutcome<RollbackPhaseValues>;

/** Where a rollback of services sends each one, found before anything changes. */
interface ServicesRollbackPlan {
  /** The services named (or all of the release's). */
  names: string[];
  /** Every service of the last release. */
  all: ServiceSpec[];
  /** The tag each service runs now, by name. */
  current: Map<string, string>;
  /** The services that move, each to its target. */
  moves: ServiceMove[];
  /** Target images gone from the NAS, pulled before anything changes. */
  pulls: ServicePull[];
}

/** What the rollback brings along: the releases it goes to, the env file and the backup to restore. */
interface ServicesRollbackExtras {
  targets: string[];
  envFile?: ReturnType<typeof servicesEnvFile>;
  restore?: Awaited<ReturnType<typeof backupToRestore>>;
}

/**
 * rollback-backend with several services: the named services (or
 * all of the release's) each to `tag`, or each to its own previous release
 * by the history; the other services are not touched. Unknown names fail
 * before anything changes, listing the services there are.
 */
export async function rollbackServices(
  settings: RollbackSettings,
  nas: Nas,
  state: NasState<{ platform?: string }>,
  context: FlowContext,
): Promise<FlowResult> {
  const { progress } = context;
  const plan = await planServicesRollback(settings, nas, state, progress);
  progress.step('Checking current deployment');
  for (const s of plan.all)
    progress.detail(
      `${s.name}: runs ${s.image}:${plan.current.get(s.name) || '(nothing)'}${plan.moves.some((m) => m.spec.name === s.name) ? '' : ' (left alone)'}`,
    );
  if (plan.moves.length === 0) {
    progress.ok(
      `${plan.names.join(', ')} already run their target tags: nothing to do (set force: true to recreate anyway)`,
    );
    await nas.finish('noop', { detail: 'already running' });
    const outputs = servicesOutputs(plan, new Map());
    progress.results('ROLLBACK NOT NEEDED', outputs);
    return { ok: true, outputs };
  }
  const extras = await prepareServicesRollback(settings, nas, state, context, plan);
  const released = await nas.runPhase(
    servicesRollbackPhase(nas.render, servicesRollbackPlanOf(settings, state, plan, extras)),
  );
  return interpretServicesRollback(settings, nas, progress, { state, plan, extras }, released);
}

/** The services of the last release, the named ones checked against them; unknown names are refused. */
function servicesToRollBack(
  settings: RollbackSettings,
  history: readonly HistoryRecord[],
): { names: string[]; all: ServiceSpec[] } {
  const known = servicesOfLastRelease(history);
  const names = settings.services.length ? settings.services : [...known.keys()];
  const unknown = names.filter((n) => !known.has(n));
  if (unknown.length || known.size === 0)
    throw new Error(
      `Input 'services': ${unknown.length ? `no service ${unknown.join(', ')} in` : 'there is no'} the last release of several services in the history of ${settings.conn.repoPath}; its services are: ${[...known.keys()].join(', ') || '(none: the last release was of a single service, roll it back without services)'}. Nothing was changed.`,
    );
  return { names, all: [...known].map(([name, r]) => specOf(name, r)) };
}

/** Finds each named service's target and its image (or how to pull it again), before anything changes. */
async function planServicesRollback(
  settings: RollbackSettings,
  nas: Nas,
  state: NasState<{ platform?: string }>,
  progress: Progress,
): Promise<ServicesRollbackPlan> {
  const { conn, target } = settings;
  const { names, all } = servicesToRollBack(settings, state.history);
  progress.step('Verifying the images exist');
  const asked = await nas.runProgram(servicesImages(nas.render, conn.repoPath, target.composeFile, all));
  const current = new Map(all.map((s, i) => [s.name, serviceTag(s.image, asked.values.runningImages[i] ?? '')]));
  const moves: ServiceMove[] = [];
  // image-source: registry: a target image gone from the NAS is pulled, once per image and tag, before anything changes
  const pulls: ServicePull[] = [];
  for (const name of names) {
    const spec = all.find((s) => s.name === name) as ServiceSpec;
    const now = current.get(name) ?? '';
    const tag = settings.tag || previousServiceRelease(state.history, name, now);
    const inventory = asked.values.inventory.get(spec.image) ?? [];
    const available = datedTags(inventory, state.history);
    if (!tag)
      throw new Error(
        `No previous release of service ${name} in the history of ${conn.repoPath} to roll back to (running: ${now || 'nothing'}). Name a tag; available: ${available.slice(0, 10).join(', ') || 'none'}. Nothing was changed.`,
      );
    if (!inventory.some((t) => t.tag === tag)) pullAgain(settings, state, progress, { spec, tag, available, pulls });
    progress.detail(
      `${name}: ${spec.image}:${now || '(nothing)'} -> ${spec.image}:${tag}${settings.tag ? '' : ' (its previous release)'}`,
    );
    // a restore recreates the services on the restored data, as force does
    if (now !== tag || settings.force || settings.restoreBackup) moves.push({ spec, tag, fallback: now });
  }
  return { names, all, current, moves, pulls };
}

/** A target image gone from the NAS: pulled again (once per image and tag) when its source can, else refused. */
function pullAgain(
  settings: RollbackSettings,
  state: NasState<{ platform?: string }>,
  progress: Progress,
  { spec, tag, available, pulls }: { spec: ServiceSpec; tag: string; available: string[]; pulls: ServicePull[] },
): void {
  const { conn, target } = settings;
  const name = spec.name;
  const pulledAs = pulledTagOf(state.history, spec.image, tag);
  const digest = pulledDigestOf(state.history, spec.image, tag);
  const again = imageSourceKind(settings.source).reobtain({
    image: spec.image,
    tag,
    authDir: `${stateDirOf(conn.repoPath)}/registry-auth`,
    ...(pulledAs ? { pulled: pulledAs } : {}),
    ...(digest ? { digest } : {}),
  });
  if (!again)
    throw new Error(
      `Image ${spec.image}:${tag} (service ${name}) does not exist on the NAS. Available tags, newest first:\n  ${available.slice(0, 15).join('\n  ') || '(none)'}\nNothing was changed.`,
    );
  // the credentials go only to the registry the inputs name, whatever a service's image in the history says
  if (again.login && registryOf(spec.image) !== again.login.server)
    throw new Error(
      `Image ${spec.image}:${tag} (service ${name}) is not on the NAS and would be pulled from ${registryOf(spec.image) || 'Docker Hub'}, but registry-username logs in to ${again.login.server || 'Docker Hub'} (the registry of image ${target.image}): set image to an image of ${registryOf(spec.image) || 'Docker Hub'}. Nothing was changed.`,
    );
  const same = pulls.find((p) => p.target === `${spec.image}:${tag}`);
  if (same) {
    same.services.push(name);
    return;
  }
  pulls.push({
    ref: again.ref,
    target: `${spec.image}:${tag}`,
    services: [name],
    authDir: again.authDir,
    ...(again.login ? { login: again.login } : {}),
    ...(state.answers.platform ? { platform: state.answers.platform } : {}),
  });
  progress.warn(
    `Image ${spec.image}:${tag} (service ${name}) is not on the NAS: it is pulled from ${again.from} before anything changes`,
  );
}

/** The outputs: the first service moved (or named) and every service, each on its tag after the rollback or now. */
function servicesOutputs(
  { moves, all, names, current }: ServicesRollbackPlan,
  running: Map<string, string>,
): Record<string, string> {
  const first = moves[0]?.spec ?? all.find((s) => s.name === names[0]) ?? all[0];
  const tagOf = (n: string): string => running.get(n) ?? current.get(n) ?? '';
  return {
    DEPLOYED_BACKEND_TAG: tagOf(first.name),
    PREVIOUS_BACKEND_TAG: current.get(first.name) ?? '',
    BACKEND_IMAGE: tagOf(first.name) ? `${first.image}:${tagOf(first.name)}` : '',
    DEPLOYED_SERVICES: deployedServices(
      all,
      all.map((s) => tagOf(s.name)),
      all.map((s) => current.get(s.name) ?? ''),
    ),
  };
}

/** The env file and the backup to restore, found and checked, and the deployment started: still before any change. */
async function prepareServicesRollback(
  settings: RollbackSettings,
  nas: Nas,
  state: NasState<{ platform?: string }>,
  context: FlowContext,
  { moves, all, current }: ServicesRollbackPlan,
): Promise<ServicesRollbackExtras> {
  const { conn } = settings;
  const { progress } = context;
  // One deployment for one release: services sent each to its own previous release may land on several.
  const targets = [...new Set(moves.map((m) => m.tag))];
  const envFile = servicesEnvFile(settings, conn.repoPath, state.history, {
    moves,
    running: all.map((s) => current.get(s.name) ?? ''),
  });
  if (settings.restoreBackup === 'auto' && targets.length > 1)
    throw new Error(
      `Input 'restore-backup': auto restores the backup taken while one release ran, but the services go back to ${targets.length} releases (${targets.join(', ')}): name the backup to restore by its id, or a tag. Nothing was changed.`,
    );
  const restore = settings.restoreBackup
    ? await backupToRestore(nas, progress, {
        dir: settings.backupDir,
        restoreBackup: settings.restoreBackup,
        tag: targets[0],
      })
    : undefined;
  if (targets.length === 1)
    await startRollbackDeployment(nas, context, {
      inputs: settings.deployment,
      repo: conn.repoPath,
      history: state.history,
      tag: targets[0],
      description: `Rollback of ${moves.map((m) => m.spec.name).join(', ')} to ${targets[0]}`,
    });
  else if (settings.deployment.environment)
    progress.warn(
      `The services go back to ${targets.length} different releases (${targets.join(', ')}): no GitHub deployment is recorded`,
    );
  return { targets, ...(envFile ? { envFile } : {}), ...(restore ? { restore } : {}) };
}

/** The rollback phase's plan: pulls, restore, env file, hooks, recreate of the moved services and their health. */
function servicesRollbackPlanOf(
  settings: RollbackSettings,
  state: NasState<{ platform?: string }>,
  { moves, all, current, pulls }: ServicesRollbackPlan,
  { envFile, restore }: ServicesRollbackExtras,
): Parameters<typeof servicesRollbackPhase>[1] {
  const { conn, target } = settings;
  const pulledOf = (m: ServiceMove): string | undefined => pulledTagOf(state.history, m.spec.image, m.tag);
  return {
    repo: conn.repoPath,
    composeFile: target.composeFile,
    moves,
    others: all
      .filter((s) => !moves.some((m) => m.spec.name === s.name) && current.get(s.name))
      .map((spec) => ({ spec, tag: current.get(spec.name) ?? '' })),
    healthTimeout: target.healthTimeout,
    force: settings.force,
    named: !!settings.tag,
    record: Object.fromEntries(moves.map((m) => [m.spec.name, serviceRecord(m.spec, m.tag, pulledOf(m))])),
    steps: new Steps({ ...ROLLBACK_STEPS, recreate: 'Redeploying the services with their target tags' }),
    // only the pulls of services that move (a service already on its tag has its image)
    pulls: pulls.filter((p) => moves.some((m) => p.target === `${m.spec.image}:${m.tag}`)),
    ...(settings.preRollback ? { preRollback: settings.preRollback } : {}),
    ...(settings.postRollback ? { postRollback: settings.postRollback } : {}),
    ...(envFile ? { envFile } : {}),
    ...(restore
      ? {
          restore: rollbackRestore(settings, {
            restore,
            repo: conn.repoPath,
            composeFile: target.composeFile,
            container: all.find((s) => s.container)?.container ?? '',
            ran: moves[0].fallback,
            // every application service of the release stops for the restore, never a database it restores
            apps: servicesApps(all, {
              databases: restore.manifest.items.filter((i) => i.kind !== 'volume').map((i) => ({ service: i.source })),
            }),
          }),
        }
      : {}),
  };
}

/** Everything the interpretation of the phase's exit reads. */
interface ServicesRollbackRun {
  state: NasState<{ platform?: string }>;
  plan: ServicesRollbackPlan;
  extras: ServicesRollbackExtras;
}

/** The exits of a rollback phase that mean an image could not be got back: nothing changed. */
const PULL_EXITS: ReadonlySet<number> = new Set([
  BackendExit.RegistryLoginFailed,
  BackendExit.PullFailed,
  BackendExit.PlatformMismatch,
]);

/**
 * What the phase's exit means when it stopped before its recreate's outcome (the restore ended it, an image
 * could not be got back, the env file was not written, a hook failed): the history's record, why, the outputs.
 */
function stoppedServicesRollback(
  settings: RollbackSettings,
  { state, plan, extras }: ServicesRollbackRun,
  { code, values, tail }: Rolled,
  outputs: { now: Record<string, string>; after: Record<string, string>; restore: Record<string, string> },
): { record: RecordUpdate; why: string; outputs: Record<string, string> } | undefined {
  const { moves, pulls } = plan;
  const { restore } = extras;
  const said = failureOf(tail, code);
  const what = moves.map((m) => `${m.spec.name} to ${m.tag}`).join(', ');
  const ended = restore
    ? restoreEnded(code, {
        id: restore.id,
        began: values.restoreBegan,
        undone: values.restoreUndone,
        safety: outputs.restore.SAFETY_BACKUP_ID,
        running: 'what ran before',
        stopped: 'every service of the release',
      })
    : undefined;
  if (restore && ended)
    return {
      record: { backup: restore.id, detail: ended.detail },
      why: `${ended.why} ${said}`,
      outputs: { ...outputs.now, ...outputs.restore },
    };
  if (PULL_EXITS.has(code)) {
    const mismatch = code === BackendExit.PlatformMismatch;
    const why =
      code === BackendExit.RegistryLoginFailed
        ? `logging in to ${pulls[0]?.login?.server || 'Docker Hub'} failed (check registry-username and registry-password)`
        : mismatch
          ? `an image of ${pulls.map((p) => p.ref).join(' or ')} is built for ${values.imagePlatform || 'an unknown platform'}, but the NAS runs ${state.answers.platform ?? 'another'}`
          : `pulling ${pulls.map((p) => p.ref).join(' or ')} failed (is it still in the registry?)`;
    return {
      record: { detail: mismatch ? 'image of another platform' : 'image pull failed' },
      why: `The rollback of ${what} stopped before anything changed: ${why}. ${said}`,
      outputs: outputs.now,
    };
  }
  if (code === BackendExit.EnvFileFailed)
    return {
      record: { detail: 'environment file not written' },
      why: `The rollback of ${what} stopped before any container changed: ${settings.envFile.path} could not be written. ${said}`,
      outputs: outputs.now,
    };
  const hook = rollbackHookFailure(code, `the rollback of ${what}`);
  if (hook)
    return {
      record: { detail: hook.detail },
      why: `${hook.why} ${said}`,
      outputs: hook.changed ? outputs.after : outputs.now,
    };
  return undefined;
}

/** What the rollback phase's exit means: stopped short, a failed recreate, or the rollback. */
async function interpretServicesRollback(
  settings: RollbackSettings,
  nas: Nas,
  progress: Progress,
  run: ServicesRollbackRun,
  released: Rolled,
): Promise<FlowResult> {
  const { moves } = run.plan;
  const { restore } = run.extras;
  const running = new Map(moves.map((m, i) => [m.spec.name, released.values.running[i] ?? '']));
  const restoreOutputs: Record<string, string> = restore
    ? {
        RESTORED_BACKUP: released.code === 0 || released.values.data === 'restored' ? restore.id : '',
        SAFETY_BACKUP_ID: released.values.safety?.id ?? '',
      }
    : {};
  const outputs = { ...servicesOutputs(run.plan, running), ...restoreOutputs };
  const stopped = stoppedServicesRollback(settings, run, released, {
    now: servicesOutputs(run.plan, new Map()),
    after: outputs,
    restore: restoreOutputs,
  });
  if (stopped) {
    await nas.finish('failure', stopped.record);
    progress.fail(stopped.why);
    return { ok: false, outputs: stopped.outputs, error: stopped.why };
  }
  if (released.code !== 0) {
    const why = await reportFailedServicesRollback(nas, run, released, { running, restoreOutputs });
    progress.fail(why);
    return { ok: false, outputs, error: why || failureOf(released.tail, released.code) };
  }
  await nas.finish('success', restore ? { backup: restore.id } : {});
  progress.results('ROLLBACK COMPLETE', {
    ...Object.fromEntries(
      moves.map((m) => [m.spec.name, `${m.spec.image}:${m.fallback || '(none)'} -> ${m.spec.image}:${m.tag}`]),
    ),
    ...(restore ? { 'Restored backup': restore.id, 'Safety backup': restoreOutputs.SAFETY_BACKUP_ID } : {}),
  });
  await progress.platform.addSummary(
    `### Services rolled back\n\n| Service | From | To |\n|---|---|---|\n${moves
      .map((m) => `| ${m.spec.name} | \`${m.fallback || '(none)'}\` | \`${m.tag}\` |`)
      .join('\n')}\n\nOn ${settings.conn.host}.\n`,
  );
  return { ok: true, outputs };
}

/** Files a rollback whose recreate failed, with what each moved service runs now, and says why. */
async function reportFailedServicesRollback(
  nas: Nas,
  { state, plan, extras }: ServicesRollbackRun,
  released: Rolled,
  { running, restoreOutputs }: { running: Map<string, string>; restoreOutputs: Record<string, string> },
): Promise<string> {
  const { moves } = plan;
  const { restore } = extras;
  const rolledBack = released.code === BackendExit.RolledBack || released.code === BackendExit.RolledBackDataNotPutBack;
  const data =
    restore && released.values.restoreBegan
      ? dataAfterUndo(restore.id, restoreOutputs.SAFETY_BACKUP_ID, released.values.data)
      : undefined;
  const failed =
    released.code === BackendExit.RollbackFailed
      ? 'health check failed and putting back failed'
      : `health check failed: ${released.values.failed.join(', ')}`;
  await nas.finish(rolledBack ? 'rolled-back' : 'failure', {
    ...(restore ? { backup: restore.id } : {}),
    services: Object.fromEntries(
      moves.flatMap((m) =>
        running.get(m.spec.name)
          ? [
              [
                m.spec.name,
                serviceRecord(
                  m.spec,
                  running.get(m.spec.name) ?? '',
                  pulledTagOf(state.history, m.spec.image, running.get(m.spec.name) ?? ''),
                ),
              ],
            ]
          : [],
      ),
    ),
    detail: data ? `${failed}, ${data.detail}` : failed,
  });
  const said = servicesFailure(
    `rollback of ${moves.map((m) => `${m.spec.name} to ${m.tag}`).join(', ')}`,
    moves.map((m) => m.spec),
    released.values,
    released.code,
    released.tail,
  ).replace(/^The release /, 'The ');
  return data ? `${said}${said.endsWith('.') ? '' : '.'} ${data.text}` : said;
}
