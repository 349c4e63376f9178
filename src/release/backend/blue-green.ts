import type { DeploymentInputs } from '../../github/deployments.js';
import type { DeployBackendInputs, RollbackBackendInputs } from '../../inputs/backend.js';
import type { Nas } from '../../nas/nas.js';
import { BackendExit, imageInventory, ROLLBACK_HOOKS, WATCH_ROLLBACK_DETAIL } from '../../programs/backend.js';
import { NO_WATCH, reportWatch, watchFailure } from './watch-report.js';
import {
  BLUE_GREEN_RELEASE_STEPS,
  BlueGreenExit,
  blueGreenDeployState,
  blueGreenImagesState,
  blueGreenReleasePhase,
  blueGreenRollbackPhase,
  colorApps,
  colorTag,
  composeProject,
  LIVE_KEPT,
  otherColor,
  SWITCH_STEPS,
  proxyToCheck,
  switchBackFailedDetail,
  type BlueGreenReleaseValues,
  type BlueGreenState,
  type SwitchValues,
} from '../../programs/blue-green.js';
import { CheckoutExit } from '../../programs/checkout.js';
import { commitOf, previousRelease, withDeploy } from '../../remote/history.js';
import {
  backupPlan,
  backupToRestore,
  dataAfterUndo,
  fallbackData,
  pruneBackups,
  restoreEnded,
  rollbackRestore,
} from './backup.js';
import { rollbackTarget } from './rollback-target.js';
import { startRollbackDeployment } from './rollback-deployment.js';
import { rollbackHookFailure } from './rollback-hooks.js';
import { Steps, type ProgramOutcome } from '../../remote/program.js';
import { datedTags } from '../../rules/images.js';
import { datedTag } from '../../rules/tags.js';
import type { Progress } from '../../report/progress.js';
import { beforeRecreateDetail, failureOf, reportInProgress, reportInterrupted } from '../failures.js';
import type { FlowContext, FlowResult } from '../flow.js';
import { cleanupImages } from './cleanup.js';
import { imageSourceKind, type Reobtain } from '../../image-sources/table.js';
import { ImageExit } from '../../programs/image-sources.js';
import { stateDirOf } from '../../remote/state-dir.js';
import { imagesFromRunner, runnerFailed, runnerSteps } from './image-from-runner.js';
import { reobtainFailure, reobtainTarget } from './reobtain.js';
import {
  colorServicesRollback,
  colorSpecs,
  failedServicesText,
  liveTags,
  refuseColorVolumes,
  volumesPlan,
  type ColorRollback,
} from './blue-green-services.js';
import { servicesOfLastRelease } from './rollback-services.js';
import { deployedServices } from './deploy-services.js';
import { distinctImages, serviceRecord } from '../../rules/services.js';
import { refuseComposeFile } from './preflight.js';
import { envFileOf } from '../../programs/env-file.js';

/**
 * The runner's side of blue-green releases: deploy-backend and
 * rollback-backend branch here when `strategy` is `blue-green`. Everything
 * that changes the NAS, from the idle colour's start to the old one's stop,
 * is one detached phase (src/programs/blue-green.ts).
 */

export const BLUE_GREEN_DEPLOY_STEPS = new Steps({ lock: 'Taking the release lock', ...BLUE_GREEN_RELEASE_STEPS });
export const BLUE_GREEN_ROLLBACK_STEPS = new Steps({
  lock: 'Taking the release lock',
  image: 'Verifying the image exists',
  ...SWITCH_STEPS,
});

/** The exits of a release that end it before any colour changed. */
const BEFORE_START: ReadonlySet<number> = new Set([
  CheckoutExit.FetchFailed,
  CheckoutExit.DirtyCheckout,
  CheckoutExit.CheckoutFailed,
  BackendExit.NoCheckout,
  BackendExit.BuildFailed,
  BackendExit.ImageMissingAfterBuild,
  BackendExit.PreDeployFailed,
  BackendExit.EnvFileFailed,
  BlueGreenExit.BlueGreenStateChanged,
  BackendExit.BackupFailed,
  ImageExit.RegistryLoginFailed,
  ImageExit.PullFailed,
  ImageExit.ImageNotTransferred,
  ImageExit.PlatformMismatch,
]);
/** The image exits among them: the image could not be obtained (the history says how). */
const IMAGE_EXITS: ReadonlySet<number> = new Set([
  ImageExit.RegistryLoginFailed,
  ImageExit.PullFailed,
  ImageExit.ImageNotTransferred,
  ImageExit.PlatformMismatch,
]);

/** Why the live colour kept serving, for the history and the annotation. */
function refusal(code: number): string {
  switch (code) {
    case BlueGreenExit.BlueGreenIdleStartFailed:
      return 'the idle colour did not start';
    case BlueGreenExit.BlueGreenIdleUnhealthy:
      return 'health check failed';
    case BlueGreenExit.BlueGreenProxyRefused:
      return 'proxy configuration refused';
    case BlueGreenExit.BlueGreenSwitchFailed:
      return 'switch-command failed';
    case BlueGreenExit.BlueGreenProxyReloadPending:
      return 'the proxy did not take the new configuration in time';
    default:
      return 'the proxy did not answer after the switch';
  }
}

function describeColors(progress: Progress, image: string, state: BlueGreenState): void {
  for (const c of ['blue', 'green'] as const) {
    const s = state.colors[c];
    progress.detail(
      `${c}${state.live === c ? ' (live)' : ''}: ${s.status ? `${s.status}${s.health !== 'none' ? ` ${s.health}` : ''} ${s.image}` : 'no container'}`,
    );
  }
  if (!state.live) progress.detail(`No colour is live yet: ${image} starts as blue`);
}

/** Outputs and the failure message of a phase that ended without the switch, or with it. */
function ending(
  o: {
    what: string;
    image: string;
    live: BlueGreenState['live'];
    previous: string;
    tag: string;
    /** What the user checks when the switch back failed. */
    proxy: string;
  },
  phase: ProgramOutcome<SwitchValues>,
): {
  outputs: Record<string, string>;
  error?: string;
  outcome: 'success' | 'rolled-back' | 'failure';
  detail?: string;
  /** The colour that serves now, for the history. */
  color: BlueGreenState['live'];
} {
  const { values, code } = phase;
  if (code === 0) {
    return {
      outcome: 'success',
      outputs: {
        DEPLOYED_BACKEND_TAG: o.tag,
        PREVIOUS_BACKEND_TAG: o.previous,
        BACKEND_IMAGE: `${o.image}:${o.tag}`,
        ROLLED_BACK: 'false',
        LIVE_COLOR: values.liveColor,
      },
      color: values.liveColor,
    };
  }
  // a watch's rollback switched back to the colour that served before, and stops the new one
  const kept = LIVE_KEPT.has(code) || code === BackendExit.WatchRolledBack;
  const outputs = {
    DEPLOYED_BACKEND_TAG: kept ? o.previous : values.running,
    PREVIOUS_BACKEND_TAG: o.previous,
    BACKEND_IMAGE: kept
      ? o.previous
        ? `${o.image}:${o.previous}`
        : ''
      : values.running
        ? `${o.image}:${values.running}`
        : '',
    ROLLED_BACK: String(kept),
    LIVE_COLOR: kept ? o.live : values.liveColor,
  };
  if (kept) {
    const why = refusal(code);
    return {
      outcome: o.live ? 'rolled-back' : 'failure',
      detail: why,
      color: o.live,
      outputs,
      error: `${o.what} was not switched to (${why}); ${o.live ? `the ${o.live} colour (${o.image}:${o.previous}) serves on` : 'nothing served before it'}. ${failureOf(phase.tail, code)}`,
    };
  }
  // after the switch the phase says which colour serves (a post-deploy failure, the incident below)
  const color = values.liveColor || o.live;
  if (code === BlueGreenExit.BlueGreenSwitchBackFailed && values.liveColor) {
    const serving = values.liveColor;
    return {
      outcome: 'failure',
      detail: switchBackFailedDetail(serving),
      color: serving,
      outputs,
      error: `INCIDENT: ${o.what} switched the proxy to the ${serving} colour, which did not answer through it, and switching back to the ${o.live || 'old'} colour failed. The proxy still sends requests to the ${serving} colour (${o.image}:${values.running}): it is kept running and recorded as live, and the ${o.live || 'old'} colour${o.previous ? ` (${o.image}:${o.previous})` : ''} runs beside it. Check ${o.proxy} and what health-url answers through it, then deploy again or roll back. ${failureOf(phase.tail, code)}`,
    };
  }
  return {
    outcome: 'failure',
    detail: `ended with exit code ${code}`,
    color,
    outputs,
    error: `${o.what} failed: ${failureOf(phase.tail, code)}`,
  };
}

/**
 * The watch step's report in a blue-green release's ending: WATCH_STATUS and WATCH_REPORT, and when the watch
 * ended the release, its history detail (the phase wrote a switch back's line itself, word for word) and error.
 */
async function watchEnding(
  end: ReturnType<typeof ending>,
  progress: Progress,
  released: ProgramOutcome<BlueGreenReleaseValues>,
  o: { ref: string; image: string; live: BlueGreenState['live']; previous: string },
): Promise<void> {
  const watch = await reportWatch(progress, released.code, released.values.watch);
  Object.assign(end.outputs, watch.outputs);
  if (!watch.ended || end.outcome === 'success') return;
  const what = `The release ${o.ref} passed its health check but its metrics watch failed: ${watchFailure(released.values.watch ?? NO_WATCH)}.`;
  const code = released.code;
  if (code === BackendExit.WatchRolledBack) {
    end.detail = WATCH_ROLLBACK_DETAIL;
    end.error = `${what} The proxy was switched back to the ${o.live} colour (${o.image}:${o.previous}), which serves again; the new colour stops once its requests are answered.`;
  } else if (code === BackendExit.FailedWithoutFallback) {
    end.detail = 'watch breached, nothing to roll back to';
    end.error = `${what} ${o.live ? 'auto-rollback is off' : 'No colour served before it'}: it is left serving, for inspection.`;
  } else if (code === BlueGreenExit.BlueGreenSwitchBackFailed) {
    end.error = `INCIDENT: ${what} Switching the proxy back to the ${o.live} colour failed: the proxy still sends requests to the ${end.color} colour (${o.ref}), kept running and recorded as live, and the ${o.live} colour runs beside it. ${failureOf(released.tail, code)}`;
  }
}

/** deploy-backend with strategy blue-green. */
export async function deployBlueGreen(
  settings: DeployBackendInputs & { deployment: DeploymentInputs },
  nas: Nas,
  { progress, deployment }: FlowContext,
): Promise<FlowResult> {
  const { conn, target, checkout, blueGreen: bg, source } = settings;
  const steps = BLUE_GREEN_DEPLOY_STEPS;
  progress.banner('Backend Deployment - blue-green behind the proxy');
  progress.plan(
    steps.count + runnerSteps(source, settings.services.length ? distinctImages(settings.services).length : 1),
  );
  progress.step(`${steps.text('lock')} on ${conn.host}`);
  // several services: each runs in both colours, the first behind the proxy; the others of the file are shared
  const specs = settings.services.length ? colorSpecs(settings.services, target) : undefined;
  const names = specs?.map((s) => s.name) ?? [target.service];
  const volumes = volumesPlan(conn.repoPath, target, bg, conn.composeCommand, [
    ...new Set(specs?.map((s) => s.tagVariable) ?? [target.tagVariable]),
  ]);
  const preflightServices = (specs ?? [target]).map((s) => ({
    name: 'name' in s ? s.name : target.service,
    tagVariable: s.tagVariable,
  }));
  const state = await nas.readState(
    blueGreenDeployState(target, { repo: conn.repoPath, ...checkout }, source, volumes, {
      repo: conn.repoPath,
      file: target.composeFile,
      services: preflightServices,
      blueGreen: { portVariable: bg.portVariable },
    }),
  );
  const { commit, subject, live } = state.answers;
  const previousOf = specs ? liveTags(state.answers, specs) : [];
  const previous = specs
    ? (previousOf.find(Boolean) ?? '')
    : live
      ? colorTag(target.image, state.answers.colors[live])
      : '';
  reportInterrupted(
    progress,
    state.interrupted,
    `The live colour is ${live || 'none'}${previous ? ` (${target.image}:${previous})` : ''}.`,
  );
  reportInProgress(progress, state.inProgress);
  describeColors(progress, target.image, state.answers);
  const tag = datedTag(commit, new Date());
  const ref = `${target.image}:${tag}`;
  const refused = await refuseColorVolumes(nas, progress, state.answers.volumes, {
    file: target.composeFile,
    services: names,
    what: 'deploy-backend',
    update: { tag, commit, previous },
  });
  if (refused) return refused;
  const misfit = await refuseComposeFile(nas, progress, state.answers, {
    file: target.composeFile,
    commit,
    tag,
    services: preflightServices,
    blueGreen: { portVariable: bg.portVariable },
    image: (name) => specs?.find((s) => s.name === name)?.image ?? target.image,
  });
  if (misfit) return misfit;
  // each distinct image built once: the first as the single service's, the others after it
  const built = distinctImages(settings.services);
  // no container name in the history: a colour's containers are found by compose's labels
  const record = specs
    ? Object.fromEntries(settings.services.map((s) => [s.name, serviceRecord({ ...s, container: '' }, tag)]))
    : undefined;
  await deployment.start(settings.deployment, commit, `Deploy ${ref}`);
  const platform = state.answers.platform ?? '';
  // the image is on the NAS before the phase starts the idle colour
  const fromRunner = await imagesFromRunner(nas, progress, source, {
    images: specs
      ? built
      : [{ image: target.image, buildContext: settings.buildContext, dockerfile: settings.dockerfile }],
    tag,
    commit,
    ...(state.answers.layers ? { layers: state.answers.layers } : {}),
    inventory: () => state.answers.inventory ?? [],
    ...(platform ? { platform } : {}),
  });
  if (!fromRunner.ok) return runnerFailed(nas, progress, { tag, commit }, fromRunner);
  const released = await nas.runPhase(
    blueGreenReleasePhase(nas.render, {
      repo: conn.repoPath,
      target: built.length ? { ...target, image: built[0].image } : target,
      bg,
      tag,
      live,
      previous,
      checkout,
      commit,
      subject,
      ...(specs ? { services: specs.map((s) => ({ ...s, tag })), record, moreImages: built.slice(1) } : {}),
      buildContext: built.length ? built[0].buildContext : settings.buildContext,
      dockerfile: built.length ? built[0].dockerfile : settings.dockerfile,
      runLabel: `${nas.run.url} (${nas.run.actor})`,
      ...(settings.preDeploy ? { preDeploy: settings.preDeploy } : {}),
      ...(settings.postDeploy ? { postDeploy: settings.postDeploy } : {}),
      listImages: settings.keepImages > 0,
      ...(settings.backups.enabled
        ? {
            backup: {
              // the shared services (the database) run under the compose file's own project, beside the colours
              plan: backupPlan(settings.backups, {
                repo: conn.repoPath,
                composeFile: target.composeFile,
                container: target.container,
                found: { project: composeProject(target.composeFile), containers: {} },
              }),
              label: { tag: previous, commit: commitOf(state.history, previous), reason: `before ${tag}` },
              restoreOnFallback: settings.autoRollbackRestore && settings.autoRollback,
            },
          }
        : {}),
      ...(settings.watch ? { watch: { plan: settings.watch, rollBack: settings.autoRollback } } : {}),
      source,
      authDir: `${stateDirOf(conn.repoPath)}/registry-auth`,
      ...(platform ? { platform } : {}),
      ...envFileOf(settings.envFile, conn.repoPath),
    }),
  );
  const backupOutputs: Record<string, string> = settings.backups.enabled
    ? {
        BACKUP_ID: released.values.backup?.id ?? '',
        BACKUP_PATH: released.values.backup?.path ?? '',
        BACKUP_BYTES: String(released.values.backup?.bytes ?? 0),
      }
    : {};
  if (released.code !== 0 && BEFORE_START.has(released.code)) {
    const image = IMAGE_EXITS.has(released.code);
    await nas.finish('failure', {
      tag,
      commit,
      previous,
      detail: image ? beforeRecreateDetail(released.code) : 'failed before the idle colour started',
    });
    const imageProblem = imageSourceKind(source).failure(target.image, tag, released.code, {
      image: released.values.imagePlatform ?? '',
      nas: platform,
    });
    return {
      ok: false,
      outputs: {},
      error: `deploy-backend failed before any colour changed: ${imageProblem ? `${imageProblem}. ` : ''}${failureOf(released.tail, released.code)}`,
    };
  }
  const end = ending(
    { what: `The release ${ref}`, image: target.image, live, previous, tag, proxy: proxyToCheck(bg) },
    released,
  );
  Object.assign(end.outputs, backupOutputs);
  if (settings.watch) await watchEnding(end, progress, released, { ref, image: target.image, live, previous });
  if (specs) {
    end.outputs.DEPLOYED_SERVICES = deployedServices(
      settings.services,
      settings.services.map(() => end.outputs.DEPLOYED_BACKEND_TAG ?? ''),
      previousOf,
    );
    if (end.error) end.error += failedServicesText(released.values);
  }
  if (end.outcome !== 'success') {
    // a refused release's data, put back or not (auto-rollback-restore)
    const data = fallbackData(released.values, live ? `the ${live} colour` : '');
    if (data) progress.warn(data.text);
    const error = data ? `${end.error ?? ''} ${data.text}` : end.error;
    await nas.finish(end.outcome, {
      tag,
      commit,
      previous,
      ...(end.detail ? { detail: data ? `${end.detail}, ${data.detail}` : end.detail } : {}),
      ...(end.color ? { color: end.color } : {}),
    });
    progress.fail(error ?? '');
    return { ok: false, outputs: end.outputs, error };
  }
  const idle = live ? otherColor(live) : 'blue';
  await nas.finish('success', { tag, commit, previous, color: idle });
  if (settings.backups.enabled && !nas.dryRun && released.values.backups)
    await pruneBackups(nas, progress, {
      dir: settings.backups.dir,
      keep: settings.backups.keep,
      running: tag,
      history: withDeploy(state.history, nas.run, { tag, commit, previous }),
      entries: released.values.backups,
    });
  const images = released.values.images;
  if (settings.keepImages > 0 && images) {
    const history = withDeploy(state.history, nas.run, { tag, commit, previous });
    // The warm colour runs the previous tag: it is the rollback target, which cleanup never removes.
    await cleanupImages(nas, progress, {
      image: target.image,
      repo: conn.repoPath,
      keep: settings.keepImages,
      running: tag,
      rollbackTarget: previous || previousRelease(state.history, 'backend', tag),
      inventory: images.inventory,
      history,
      pruneDangling: false,
      inUse: images.inUse,
    });
  }
  progress.results('DEPLOYMENT COMPLETE', { DEPLOYED_BACKEND_TAG: tag, LIVE_COLOR: idle });
  await progress.platform.addSummary(
    `### Backend deployed (blue-green)\n\n| | |\n|---|---|\n| Tag | \`${tag}\` |\n| Commit | \`${commit}\` |\n| Live colour | ${idle} |\n| Previous | \`${previous || '(none)'}\`${live && bg.keepWarm > 0 ? ` (kept warm ${bg.keepWarm}s on ${live})` : ''} |\n| Host | ${conn.host} |\n`,
  );
  return { ok: true, outputs: end.outputs };
}

/** rollback-backend with strategy blue-green: a switch alone when the target is still warm. */
export async function rollbackBlueGreen(
  settings: RollbackBackendInputs & { deployment: DeploymentInputs },
  nas: Nas,
  context: FlowContext,
): Promise<FlowResult> {
  const { progress } = context;
  const { conn, target, blueGreen: bg } = settings;
  const steps = BLUE_GREEN_ROLLBACK_STEPS;
  progress.banner('Backend Rollback - blue-green behind the proxy');
  progress.plan(steps.count);
  progress.step(`${steps.text('lock')} on ${conn.host}`);
  const volumes = volumesPlan(conn.repoPath, target, bg, conn.composeCommand, [target.tagVariable]);
  const state = await nas.readState(
    blueGreenImagesState(conn.repoPath, target, imageInventory(target.image), { ...volumes, rev: 'HEAD' }),
  );
  const { live, inventory } = state.answers;
  const current = live ? colorTag(target.image, state.answers.colors[live]) : '';
  reportInterrupted(progress, state.interrupted, `The live colour is ${live || 'none'}.`);
  reportInProgress(progress, state.inProgress);
  describeColors(progress, target.image, state.answers);
  // a release of several services is rolled back per service: the idle colour starts with every one of them
  const known = servicesOfLastRelease(state.history);
  const refused = await refuseColorVolumes(nas, progress, state.answers.volumes, {
    file: target.composeFile,
    services: known.size ? [...known.keys()] : [target.service],
    what: 'rollback-backend',
    update: { previous: current },
  });
  if (refused) return refused;
  if (settings.services.length || known.size) {
    const chosen = await colorServicesRollback(settings, nas, context, state, known);
    if ('done' in chosen) return chosen.done;
    // the backup is the one taken while the first moved service's target ran (name it by id when they differ)
    const restore = settings.restoreBackup
      ? await backupToRestore(nas, progress, {
          dir: settings.backupDir,
          restoreBackup: settings.restoreBackup,
          tag: chosen.plan.tag,
        })
      : undefined;
    return switchToRollback(settings, nas, context, { ...chosen.plan, ...(restore ? { restore } : {}) });
  }
  const available = datedTags(inventory, state.history);
  const tag = rollbackTarget(progress, settings, { history: state.history, current, available });
  const ref = `${target.image}:${tag}`;
  progress.step(`Verifying image ${ref} exists`);
  // a target the NAS no longer has is got back in the phase (pulled again), before anything changes
  let pull: Reobtain | undefined;
  if (!inventory.some((t) => t.tag === tag)) {
    pull = reobtainTarget(progress, settings.source, {
      image: target.image,
      tag,
      history: state.history,
      authDir: `${stateDirOf(conn.repoPath)}/registry-auth`,
    });
    if (!pull)
      throw new Error(
        `Image ${ref} does not exist on the NAS. Available tags, newest first:\n  ${available.slice(0, 15).join('\n  ') || '(none)'}\nNothing was changed.`,
      );
  } else progress.ok('Image exists');
  const restore = settings.restoreBackup
    ? await backupToRestore(nas, progress, { dir: settings.backupDir, restoreBackup: settings.restoreBackup, tag })
    : undefined;
  if (current === tag && !restore) {
    progress.ok(`${ref} is already live (${live}): nothing to do`);
    await nas.finish('noop', { tag, previous: current, detail: 'already running', ...(live ? { color: live } : {}) });
    const outputs = {
      DEPLOYED_BACKEND_TAG: tag,
      PREVIOUS_BACKEND_TAG: current,
      BACKEND_IMAGE: ref,
      LIVE_COLOR: live,
    };
    progress.results('ROLLBACK NOT NEEDED', outputs);
    return { ok: true, outputs };
  }
  const idle = live ? otherColor(live) : 'blue';
  if (colorTag(target.image, state.answers.colors[idle]) === tag)
    progress.detail(`${ref} is still warm on the ${idle} colour: the rollback is a switch`);
  return switchToRollback(settings, nas, context, {
    history: state.history,
    tag,
    current,
    ref,
    live,
    idle,
    ...(pull ? { pull } : {}),
    ...(restore ? { restore } : {}),
  });
}

/** The rollback's phase, decided: starts the idle colour at the target (all its services), switches, reports. */
async function switchToRollback(
  settings: RollbackBackendInputs & { deployment: DeploymentInputs },
  nas: Nas,
  context: FlowContext,
  o: ColorRollback,
): Promise<FlowResult> {
  const { progress } = context;
  const { conn, target, blueGreen: bg } = settings;
  const { tag, current, ref, live, idle, pull, restore } = o;
  const state = { history: o.history };
  await startRollbackDeployment(nas, context, {
    inputs: settings.deployment,
    repo: conn.repoPath,
    history: state.history,
    tag,
    description: `Rollback of the backend from ${current || 'nothing'} to ${tag}`,
  });
  const released = await nas.runPhase(
    blueGreenRollbackPhase(nas.render, {
      repo: conn.repoPath,
      target,
      bg,
      tag,
      live,
      previous: current,
      named: !!settings.tag,
      ...(pull ? { pull } : {}),
      ...(o.services ? { services: o.services, record: o.record } : {}),
      ...(settings.preRollback ? { preDeploy: settings.preRollback } : {}),
      ...(settings.postRollback ? { postDeploy: settings.postRollback } : {}),
      hookNames: ROLLBACK_HOOKS,
      // the target's kept file comes back (or env-file-content is written), also for a switch to a warm colour
      ...envFileOf(settings.envFile, conn.repoPath, { putBack: true }),
      ...(restore
        ? {
            restore: rollbackRestore(settings, {
              restore,
              repo: conn.repoPath,
              composeFile: target.composeFile,
              container: target.container,
              ran: current,
              apps: colorApps(
                target,
                o.services?.map((s) => s.name),
              ),
              project: composeProject(target.composeFile),
            }),
          }
        : {}),
    }),
  );
  const pullFailed = pull && reobtainFailure(pull, released.code);
  if (pullFailed) {
    await nas.finish('failure', {
      tag,
      previous: current,
      detail: 'image pull failed',
      ...(live ? { color: live } : {}),
    });
    const why = `The rollback to ${ref} stopped before anything changed: ${pullFailed}. ${failureOf(released.tail, released.code)}`;
    progress.fail(why);
    return { ok: false, outputs: {}, error: why };
  }
  const restoreOutputs: Record<string, string> = restore
    ? {
        RESTORED_BACKUP: released.code === 0 || released.values.data === 'restored' ? restore.id : '',
        SAFETY_BACKUP_ID: released.values.safety?.id ?? '',
      }
    : {};
  const ended = restore
    ? restoreEnded(released.code, {
        id: restore.id,
        began: released.values.restoreBegan,
        undone: released.values.restoreUndone,
        safety: restoreOutputs.SAFETY_BACKUP_ID,
        running: live ? `the ${live} colour` : 'what ran',
        stopped: live ? `the ${live} colour` : 'nothing',
      })
    : undefined;
  if (restore && ended) {
    await nas.finish('failure', {
      tag,
      previous: current,
      backup: restore.id,
      detail: ended.detail,
      ...(live ? { color: live } : {}),
    });
    const why = `${ended.why} ${failureOf(released.tail, released.code)}`;
    progress.fail(why);
    return { ok: false, outputs: restoreOutputs, error: why };
  }
  const hookFailure = rollbackHookFailure(released.code, `the rollback to ${ref}`);
  if (hookFailure) {
    await nas.finish('failure', {
      tag,
      previous: current,
      detail: hookFailure.detail,
      ...(hookFailure.changed ? { color: idle } : live ? { color: live } : {}),
    });
    const why = `${hookFailure.why} ${failureOf(released.tail, released.code)}`;
    progress.fail(why);
    const end = ending(
      { what: `The rollback to ${ref}`, image: target.image, live, previous: current, tag, proxy: proxyToCheck(bg) },
      released,
    );
    delete end.outputs.ROLLED_BACK;
    return { ok: false, outputs: hookFailure.changed ? end.outputs : {}, error: why };
  }
  if (released.code !== 0 && BEFORE_START.has(released.code)) {
    await nas.finish('failure', { tag, previous: current, detail: 'failed before the idle colour started' });
    return {
      ok: false,
      outputs: {},
      error: `rollback-backend failed before any colour changed: ${failureOf(released.tail, released.code)}`,
    };
  }
  const end = ending(
    { what: `The rollback to ${ref}`, image: target.image, live, previous: current, tag, proxy: proxyToCheck(bg) },
    released,
  );
  delete end.outputs.ROLLED_BACK;
  if (o.outputs) Object.assign(end.outputs, end.outcome === 'success' ? o.outputs : {});
  if (end.error) end.error += failedServicesText(released.values);
  Object.assign(end.outputs, restoreOutputs);
  if (end.outcome !== 'success') {
    // the live colour serves on: on the data of before, put back from the safety backup, or not
    const data =
      restore && released.values.restoreBegan
        ? dataAfterUndo(restore.id, restoreOutputs.SAFETY_BACKUP_ID, released.values.data)
        : undefined;
    const error = data ? `${end.error ?? ''} ${data.text}` : end.error;
    await nas.finish(end.outcome, {
      tag,
      previous: current,
      ...(restore ? { backup: restore.id } : {}),
      ...(end.detail ? { detail: data ? `${end.detail}, ${data.detail}` : end.detail } : {}),
      ...(end.color ? { color: end.color } : {}),
    });
    progress.fail(error ?? '');
    return { ok: false, outputs: end.outputs, error };
  }
  await nas.finish('success', { color: idle, ...(restore ? { backup: restore.id } : {}) });
  progress.results('ROLLBACK COMPLETE', {
    'Previous image': current ? `${target.image}:${current}` : '(none)',
    'Current image': ref,
    LIVE_COLOR: idle,
    ...(restore ? { 'Restored backup': restore.id, 'Safety backup': restoreOutputs.SAFETY_BACKUP_ID } : {}),
    ...(released.values.switchMs !== undefined ? { 'Switch (on the NAS)': `${released.values.switchMs} ms` } : {}),
  });
  progress.ok(`Successfully rolled back to: ${tag}${released.values.warm ? ' (a switch to the warm colour)' : ''}`);
  await progress.platform.addSummary(
    `### Backend rolled back (blue-green)\n\nFrom \`${current || '(none)'}\` to \`${tag}\` on ${conn.host}; the ${idle} colour is live.\n`,
  );
  return { ok: true, outputs: end.outputs };
}
