import type { DeploymentInputs } from '../../github/deployments.js';
import type { DeployBackendInputs } from '../../inputs/backend.js';
import type { Nas, NasState, RecordUpdate } from '../../nas/nas.js';
import type { Progress } from '../../report/progress.js';
import type { Fallback } from '../../programs/backend.js';
import type { ProgramOutcome } from '../../remote/program.js';
import { BackendExit, BEFORE_RECREATE, fallbackOf, WATCH_ROLLBACK_DETAIL } from '../../programs/backend.js';
import {
  servicesDeployState,
  servicesImages,
  servicesReleasePhase,
  serviceTag,
  type ServicesDeployState,
  type ServicesRecreateValues,
  type ServicesReleasePlan,
  type ServicesReleaseValues,
} from '../../programs/services.js';
import { commitOf, withDeploy } from '../../remote/history.js';
import { backupPlan, fallbackData, pruneBackups } from './backup.js';
import { datedTag } from '../../rules/tags.js';
import {
  distinctImages,
  imageHistory,
  previousServiceRelease,
  serviceRecord,
  type ServiceSpec,
} from '../../rules/services.js';
import { beforeRecreateDetail, failureOf, reportInProgress, reportInterrupted } from '../failures.js';
import type { FlowContext, FlowResult } from '../flow.js';
import { cleanupImages } from './cleanup.js';
import { NO_WATCH, reportWatch, watchFailure, watchReportJson } from './watch-report.js';
import type { WatchResult } from '../../programs/watch.js';
import { Steps } from '../../remote/program.js';
import { RELEASE_STEPS } from '../../programs/backend.js';
import { imageSourceKind } from '../../image-sources/table.js';
import { refuseComposeFile } from './preflight.js';
import { stateDirOf } from '../../remote/state-dir.js';
import { imagesFromRunner, runnerFailed, runnerSteps } from './image-from-runner.js';
import { envFileOf } from '../../programs/env-file.js';

const DEPLOY_STEPS = new Steps({ lock: 'Taking the release lock', ...RELEASE_STEPS });
const KNOWN_EXITS: ReadonlySet<number> = new Set(Object.values(BackendExit));

/** DEPLOYED_SERVICES: each service to the tag it runs, its image and the tag it ran before. */
export function deployedServices(
  services: readonly Pick<ServiceSpec, 'name' | 'image'>[],
  running: readonly string[],
  previous: readonly string[],
): string {
  return JSON.stringify(
    Object.fromEntries(
      services.map((s, i) => [s.name, { tag: running[i] ?? '', image: s.image, previous: previous[i] ?? '' }]),
    ),
  );
}

/** Why a several-service release failed after the recreate: which services, their last log lines, where things are. */
export function servicesFailure(
  tag: string,
  services: readonly ServiceSpec[],
  values: ServicesRecreateValues,
  code: number,
  tail: readonly string[],
): string {
  const failed = values.failed.length ? values.failed.join(', ') : 'a service';
  const logs = values.failed
    .map((name) => {
      const text = values.failedLogs.get(name);
      return text === undefined ? '' : `\nLast log lines of ${name}:\n${text || '(it logged nothing)'}`;
    })
    .join('');
  const now = services.map((s, i) => `${s.name} ${s.image}:${values.running[i] || '?'}`).join(', ');
  if (code === BackendExit.RolledBack || code === BackendExit.RolledBackDataNotPutBack)
    return `The release ${tag} failed: ${failed} did not become healthy. Every service was put back to what ran before (${now}).${logs}`;
  if (code === BackendExit.RollbackFailed)
    return `The release ${tag} failed (${failed} did not become healthy) and putting back what ran before failed too; now: ${now}. ${failureOf(tail, code)}${logs}`;
  if (code === BackendExit.FailedWithoutFallback)
    return `The release ${tag} failed: ${failed} did not become healthy and nothing was put back (auto-rollback is off, or nothing ran before); left for inspection: ${now}.${logs}`;
  if (code === BackendExit.PreDeployFailed) return 'pre-deploy failed; no container was changed';
  return `The release ${tag} failed: ${failureOf(tail, code)}${logs}`;
}

/** A several-service release whose metrics watch ended it: the history's detail and the error. */
export function servicesWatchFailure(
  tag: string,
  services: readonly ServiceSpec[],
  running: readonly string[],
  code: number,
  watch: WatchResult,
): { detail: string; why: string } {
  const now = services.map((s, i) => `${s.name} ${s.image}:${running[i] || '?'}`).join(', ');
  const what = `The release ${tag} passed its health check but its metrics watch failed: ${watchFailure(watch)}.`;
  if (code === BackendExit.WatchRolledBack)
    return { detail: WATCH_ROLLBACK_DETAIL, why: `${what} Every service was put back to what ran before (${now}).` };
  if (code === BackendExit.RollbackFailed)
    return {
      detail: 'watch breached and rollback failed',
      why: `${what} Putting back what ran before failed too; now: ${now}.`,
    };
  return {
    detail: 'watch breached, nothing to roll back to',
    why: `${what} Nothing was put back (auto-rollback is off, or nothing ran before): left running for inspection: ${now}.`,
  };
}

type DeploySettings = DeployBackendInputs & { deployment: DeploymentInputs };
type Released = ProgramOutcome<ServicesReleaseValues>;

/** What a release of several services knows before its phase runs. */
interface PlannedServices {
  state: NasState<ServicesDeployState>;
  images: ReturnType<typeof distinctImages>;
  commit: string;
  subject: string;
  tag: string;
  platform: string;
  /** The tag each service runs now, in the order of the list. */
  previous: string[];
  /** What each service falls back to, by its image's id. */
  fallbacks: Fallback[];
  /** The history's record of the services in this release. */
  record: ServicesReleasePlan['record'];
  /** The registry tag a registry release pulls, for the history. */
  pulled?: string;
}

/**
 * deploy-backend with several services: the same steps as a
 * single-service release, in one detached phase; every service gets the
 * release's tag, and when any fails every one goes back to what ran before.
 */
export async function deployServices(settings: DeploySettings, nas: Nas, context: FlowContext): Promise<FlowResult> {
  const planned = await planServicesRelease(settings, nas, context);
  if ('done' in planned) return planned.done;
  const released = await nas.runPhase(servicesReleasePhase(nas.render, servicesReleasePlanOf(settings, nas, planned)));
  return interpretServicesRelease(settings, nas, context.progress, planned, released);
}

/** Takes the lock, reads the state, checks the compose file and brings runner-built images: all before any change. */
async function planServicesRelease(
  settings: DeploySettings,
  nas: Nas,
  { progress, deployment }: FlowContext,
): Promise<PlannedServices | { done: FlowResult }> {
  const { conn, target, checkout, services, source } = settings;
  const images = distinctImages(services);
  progress.banner('Backend Deployment - NAS Local Tagged Build');
  // image-source runner: one step on the runner for each distinct image, before the NAS's phase
  progress.plan(DEPLOY_STEPS.count + runnerSteps(source, images.length));
  progress.step(`${DEPLOY_STEPS.text('lock')} on ${conn.host}`);
  const state = await nas.readState(
    servicesDeployState(
      services,
      target.composeFile,
      { repo: conn.repoPath, ...checkout },
      source,
      conn.composeCommand,
    ),
  );
  const { runningImages, commit, subject } = state.answers;
  const now = services.map((s, i) => `${s.name}: ${runningImages[i] || 'nothing'}`).join(', ');
  reportInterrupted(progress, state.interrupted, `The services run ${now}.`);
  reportInProgress(progress, state.inProgress);
  const previous = services.map((s, i) => serviceTag(s.image, runningImages[i] ?? ''));
  const tag = datedTag(commit, new Date());
  const platform = state.answers.platform ?? '';
  const byName = new Map(services.map((s) => [s.name, s.image]));
  const refused = await refuseComposeFile(nas, progress, state.answers, {
    file: target.composeFile,
    commit,
    tag,
    services: services.map((s) => ({ name: s.name, tagVariable: s.tagVariable })),
    image: (name) => byName.get(name) ?? '',
  });
  if (refused) return { done: refused };
  await deployment.start(settings.deployment, commit, `Deploy ${services.map((s) => s.name).join(', ')} at ${tag}`);
  const { pulled } = imageSourceKind(source).record();
  // What each service runs now comes back when the release fails, by its image's id (it may run another name).
  const ids = state.answers.runningIds ?? [];
  const fallbacks = services.map((s, i) =>
    fallbackOf(s.image, { image: runningImages[i] ?? '', ...(ids[i] ? { id: ids[i] } : {}) }, tag),
  );
  const record = Object.fromEntries(
    services.map((s, i) => {
      const ran = fallbacks[i].ran;
      return [s.name, { ...serviceRecord(s, tag, pulled), ...(ran ? { ran } : {}) }];
    }),
  );
  const fromRunner = await imagesFromRunner(nas, progress, source, {
    images,
    tag,
    commit,
    ...(state.answers.layers ? { layers: state.answers.layers } : {}),
    inventory: (image) => state.answers.inventory?.get(image) ?? [],
    ...(platform ? { platform } : {}),
  });
  if (!fromRunner.ok) return { done: await runnerFailed(nas, progress, { tag, commit }, fromRunner) };
  return { state, images, commit, subject, tag, platform, previous, fallbacks, record, pulled };
}

/** The release phase's plan: checkout, images, backup, env file, hooks, recreate of every service, health and watch. */
function servicesReleasePlanOf(settings: DeploySettings, nas: Nas, p: PlannedServices): ServicesReleasePlan {
  const { conn, target, checkout, services, source } = settings;
  const { tag, previous, platform } = p;
  return {
    repo: conn.repoPath,
    composeFile: target.composeFile,
    checkout,
    commit: p.commit,
    subject: p.subject,
    tag,
    services,
    previous,
    fallbacks: p.fallbacks,
    healthTimeout: target.healthTimeout,
    autoRollback: settings.autoRollback,
    ...(settings.preDeploy ? { preDeploy: settings.preDeploy } : {}),
    ...(settings.postDeploy ? { postDeploy: settings.postDeploy } : {}),
    runLabel: `${nas.run.url} (${nas.run.actor})`,
    record: p.record,
    source,
    authDir: `${stateDirOf(conn.repoPath)}/registry-auth`,
    listTags: settings.keepImages > 0,
    ...(platform ? { platform } : {}),
    ...(settings.watch ? { watch: settings.watch } : {}),
    ...envFileOf(settings.envFile, conn.repoPath),
    ...(settings.backups.enabled
      ? {
          backup: {
            plan: backupPlan(settings.backups, {
              repo: conn.repoPath,
              composeFile: target.composeFile,
              container: services.find((s) => s.container)?.container ?? '',
            }),
            label: {
              tag: previous.find(Boolean) ?? '',
              commit: commitOf(p.state.history, previous.find(Boolean) ?? ''),
              reason: `before ${tag}`,
            },
            restoreOnFallback: settings.autoRollbackRestore && settings.autoRollback,
          },
        }
      : {}),
  };
}

/** The release ended before its recreate: no container changed; an image exit names the image and its services. */
async function failedServicesBeforeRecreate(
  settings: DeploySettings,
  nas: Nas,
  { images, tag, platform }: PlannedServices,
  released: Released,
): Promise<FlowResult> {
  await nas.finish('failure', { detail: beforeRecreateDetail(released.code) });
  // an image exit names the image being obtained (and the services that run it)
  const failedImage = images[released.values.obtaining ?? -1];
  const imageProblem =
    failedImage &&
    imageSourceKind(settings.source).failure(failedImage.image, tag, released.code, {
      image: released.values.imagePlatform ?? '',
      nas: platform,
    });
  return {
    ok: false,
    outputs: {},
    error: `deploy-backend failed before any container changed: ${
      imageProblem
        ? `${imageProblem} (the image of ${failedImage.services.join(', ')}). ${failureOf(released.tail, released.code)}`
        : failureOf(released.tail, released.code)
    }`,
  };
}

/** What the release phase's exit means: nothing changed, a report cut short, a watch or a failed release, or the release. */
async function interpretServicesRelease(
  settings: DeploySettings,
  nas: Nas,
  progress: Progress,
  p: PlannedServices,
  released: Released,
): Promise<FlowResult> {
  const { conn, target, services } = settings;
  const { tag, previous } = p;
  if (released.code !== 0 && BEFORE_RECREATE.has(released.code))
    return failedServicesBeforeRecreate(settings, nas, p, released);
  const { values } = released;
  const reported =
    released.code === 0 ? values.running.every(Boolean) : KNOWN_EXITS.has(released.code) && values.running.length > 0;
  let running = values.running;
  if (!reported) {
    // The report was cut short: say only what is known, asked again.
    const asked = await nas.runProgram(servicesImages(nas.render, conn.repoPath, target.composeFile, services));
    running = services.map((s, i) => serviceTag(s.image, asked.values.runningImages[i] ?? ''));
  }
  const watch = reported ? await reportWatch(progress, released.code, values.watch) : undefined;
  const outputs: Record<string, string> = {
    DEPLOYED_BACKEND_TAG: running[0] ?? '',
    PREVIOUS_BACKEND_TAG: previous[0] ?? '',
    BACKEND_IMAGE: running[0] ? `${services[0].image}:${running[0]}` : '',
    ROLLED_BACK: String(values.rolledBack && released.code !== 0),
    ...(watch
      ? watch.outputs
      : { WATCH_STATUS: 'skipped', WATCH_REPORT: watchReportJson('skipped', { status: '', guards: [] }) }),
    DEPLOYED_SERVICES: deployedServices(services, running, previous),
    ...(settings.backups.enabled
      ? {
          BACKUP_ID: values.backup?.id ?? '',
          BACKUP_PATH: values.backup?.path ?? '',
          BACKUP_BYTES: String(values.backup?.bytes ?? 0),
        }
      : {}),
  };
  const nowRecord = recordOfRunning(services, running, p);
  const finished = { tag, commit: p.commit, previous: previous.find(Boolean) ?? '', services: nowRecord };
  if (!reported) {
    await nas.finish('failure', {
      ...finished,
      detail: `release ended with exit code ${released.code}, report incomplete`,
    });
    const why = `The release ${tag} ended with exit code ${released.code} and its report from the NAS is incomplete (is the NAS's disk full?); the services now run ${services.map((s, i) => `${s.name} ${running[i] || 'nothing'}`).join(', ')}. ${failureOf(released.tail, released.code)}`;
    progress.fail(why);
    return { ok: false, outputs, error: why };
  }
  if (released.code !== 0) {
    const said = await reportFailedServices(settings, nas, progress, p, released, {
      running,
      finished,
      watchEnded: watch?.ended === true,
    });
    progress.fail(said);
    return { ok: false, outputs, error: said };
  }
  const data = fallbackData(values, 'what ran before');
  if (data) progress.warn(data.text);
  return reportServicesReleased(settings, nas, progress, p, values, outputs);
}

/** The history's record of what each service runs now (a service that runs nothing is left out). */
function recordOfRunning(
  services: readonly ServiceSpec[],
  running: readonly string[],
  { tag, pulled, fallbacks }: PlannedServices,
): ServicesReleasePlan['record'] {
  return Object.fromEntries(
    services.flatMap((s, i) =>
      running[i]
        ? [
            [
              s.name,
              {
                ...serviceRecord(s, running[i], running[i] === tag ? pulled : undefined),
                ...(fallbacks[i].ran ? { ran: fallbacks[i].ran } : {}),
              },
            ],
          ]
        : [],
    ),
  );
}

/** The history's detail of a release of several services that failed before its watch, by its exit code. */
const SERVICES_FAILED_DETAIL: Partial<Record<number, string>> = {
  [BackendExit.PreDeployFailed]: 'pre-deploy failed',
  [BackendExit.PostDeployFailed]: 'post-deploy failed',
  [BackendExit.RollbackFailed]: 'release and rollback failed',
};

/** Files a failed release (its watch ended it, or its recreate failed) and says where each service is. */
async function reportFailedServices(
  settings: DeploySettings,
  nas: Nas,
  progress: Progress,
  { tag }: PlannedServices,
  { code, values, tail }: Released,
  { running, finished, watchEnded }: { running: string[]; finished: RecordUpdate; watchEnded: boolean },
): Promise<string> {
  const { services } = settings;
  const data = fallbackData(values, 'what ran before');
  if (data) progress.warn(data.text);
  const withData = (why: string): string => (data ? `${why}${why.endsWith('.') ? '' : '.'} ${data.text}` : why);
  if (watchEnded) {
    // a watch's rollback: the phase wrote its history line itself, word for word
    const { detail, why } = servicesWatchFailure(tag, services, running, code, values.watch ?? NO_WATCH);
    await nas.finish(code === BackendExit.WatchRolledBack ? 'rolled-back' : 'failure', { ...finished, detail });
    return withData(why);
  }
  const rolledBack = code === BackendExit.RolledBack || code === BackendExit.RolledBackDataNotPutBack;
  const failed = `health check failed: ${values.failed.join(', ')}`;
  await nas.finish(rolledBack ? 'rolled-back' : 'failure', {
    ...finished,
    detail: SERVICES_FAILED_DETAIL[code] ?? (data ? `${failed}, ${data.detail}` : failed),
  });
  return withData(servicesFailure(tag, services, { ...values, running }, code, tail));
}

/** Files the release in the history, prunes backups and each image's tags, and reports it. */
async function reportServicesReleased(
  settings: DeploySettings,
  nas: Nas,
  progress: Progress,
  { state, tag, commit, previous, record }: PlannedServices,
  values: ServicesReleaseValues,
  outputs: Record<string, string>,
): Promise<FlowResult> {
  const { conn, services } = settings;
  const firstPrevious = previous.find(Boolean) ?? '';
  await nas.finish('success', { tag, commit, previous: firstPrevious, services: record });
  const history = withDeploy(state.history, nas.run, { tag, commit, previous: firstPrevious, services: record });
  if (settings.backups.enabled && !nas.dryRun && values.backups)
    await pruneBackups(nas, progress, {
      dir: settings.backups.dir,
      keep: settings.backups.keep,
      running: tag,
      history,
      entries: values.backups,
    });
  if (settings.keepImages > 0)
    for (const [image, inventory] of values.inventory) {
      const users = services.filter((s) => s.image === image);
      await cleanupImages(nas, progress, {
        image,
        repo: conn.repoPath,
        keep: settings.keepImages,
        running: tag,
        protect: users.flatMap((s) => [previousServiceRelease(history, s.name, tag) ?? '']).filter(Boolean),
        inventory,
        history: imageHistory(history, image),
        pruneDangling: false,
      });
    }
  progress.results('DEPLOYMENT COMPLETE', { DEPLOYED_BACKEND_TAG: tag });
  for (const [i, s] of services.entries())
    progress.detail(`${s.name}: ${s.image}:${tag} (was ${previous[i] || 'nothing'})`);
  await progress.platform.addSummary(
    `### Services deployed\n\n| Service | Image | Tag | Previous |\n|---|---|---|---|\n${services
      .map((s, i) => `| ${s.name} | \`${s.image}\` | \`${tag}\` | \`${previous[i] || '(none)'}\` |`)
      .join('\n')}\n\nCommit \`${commit}\` on ${conn.host}.\n`,
  );
  return { ok: true, outputs };
}
