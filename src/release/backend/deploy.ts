import { readDeploymentInputs } from '../../github/deployments.js';
import { deployBlueGreen } from './blue-green.js';
import { readDeployBackend, type DeployBackendInputs } from '../../inputs/backend.js';
import type { DeploymentInputs } from '../../github/deployments.js';
import { commitOf, previousRelease, withDeploy } from '../../remote/history.js';
import { Steps } from '../../remote/program.js';
import {
  BackendExit,
  BEFORE_RECREATE,
  deployState,
  type DeployState,
  type Fallback,
  type ReleasePlan,
  type ReleaseValues,
  fallbackOf,
  releasePhase,
  RELEASE_STEPS,
  runningTag,
  WATCH_ROLLBACK_DATA_DETAIL,
  WATCH_ROLLBACK_DETAIL,
  whatRuns,
} from '../../programs/backend.js';
import { reportWatch, watchFailure, watchReportJson } from './watch-report.js';
import { beforeRecreateDetail, failureOf, recreateFailure, reportInProgress, reportInterrupted } from '../failures.js';
import { defineFlow, type FlowContext, type FlowResult } from '../flow.js';
import type { Nas, NasState } from '../../nas/nas.js';
import type { ProgramOutcome } from '../../remote/program.js';
import type { Progress } from '../../report/progress.js';
import { datedTag } from '../../rules/tags.js';
import { promqlSyntaxError } from '../../rules/promql.js';
import { cleanupImages } from './cleanup.js';
import { datedTags } from '../../rules/images.js';
import { envSha256 } from '../../programs/env-file.js';
import { stateDirOf } from '../../remote/state-dir.js';
import { backupPlan, fallbackData, pruneBackups } from './backup.js';
import { deployServices } from './deploy-services.js';
import { imagesFromRunner, runnerFailed, runnerSteps } from './image-from-runner.js';
import { imageSourceKind } from '../../image-sources/table.js';
import { refuseComposeFile } from './preflight.js';

export const DEPLOY_STEPS = new Steps({ lock: 'Taking the release lock', ...RELEASE_STEPS });

/** Why a release that never reached the recreate failed, for the history. */
/** Exit codes the release phase itself ends with: any other means its report was cut short. */
const KNOWN_EXITS: ReadonlySet<number> = new Set(Object.values(BackendExit));

type DeploySettings = DeployBackendInputs & { deployment: DeploymentInputs };
type Released = ProgramOutcome<ReleaseValues>;

/** What a release of one service knows before its phase runs. */
interface PlannedRelease {
  state: NasState<DeployState>;
  commit: string;
  subject: string;
  tag: string;
  /** `image:tag` being released. */
  ref: string;
  platform: string;
  /** The tag the backend runs now, empty: none of this image. */
  previous: string;
  fallback: Fallback;
  /** The env file's digest, when the release writes one. */
  env?: string;
}

/** deploy-backend: update the checkout, build `image:YYYY.MM.DD-<sha7>`, recreate, wait for health, verify; roll back by itself on failure. */
export const deployBackend = defineFlow<DeploySettings>({
  kind: { action: 'deploy-backend', stack: 'backend', locking: true },
  // The guards' PromQL is parsed here, so only this flow's bundle carries the grammar.
  settings: (reader) => ({ ...readDeployBackend(reader, promqlSyntaxError), deployment: readDeploymentInputs(reader) }),
  async run(settings, nas, context): Promise<FlowResult> {
    // Several services and blue-green take their own paths; today's single service is unchanged.
    if (settings.blueGreen.strategy === 'blue-green') return deployBlueGreen(settings, nas, context);
    if (settings.services.length) return deployServices(settings, nas, context);
    const planned = await planRelease(settings, nas, context);
    if ('done' in planned) return planned.done;
    // One detached phase from checkout to health, so a hang-up cannot leave a half-done
    // checkout or recreate, and no round trip is spent between the build and the recreate.
    const released = await nas.runPhase(releasePhase(nas.render, releasePlanOf(settings, nas, planned)));
    return interpretRelease(settings, nas, context.progress, planned, released);
  },
});

/** Takes the lock, reads the state, checks the compose file and brings a runner-built image: all before any change. */
async function planRelease(
  settings: DeploySettings,
  nas: Nas,
  { progress, deployment }: FlowContext,
): Promise<PlannedRelease | { done: FlowResult }> {
  const { conn, target, checkout } = settings;
  progress.banner('Backend Deployment - NAS Local Tagged Build');
  // An image built on the runner is one more step, on the runner, before the NAS's phase.
  progress.plan(DEPLOY_STEPS.count + runnerSteps(settings.source, 1));
  progress.step(`${DEPLOY_STEPS.text('lock')} on ${conn.host}`);
  // Read the state and fetch the target commit in one round trip; the work tree is not touched yet.
  const state = await nas.readState(
    deployState(target, { repo: conn.repoPath, ...checkout }, settings.source, {
      repo: conn.repoPath,
      file: target.composeFile,
      services: [{ name: target.service, tagVariable: target.tagVariable }],
    }),
  );
  const { runningImage, commit, subject } = state.answers;
  reportInterrupted(progress, state.interrupted, `The backend now runs ${runningImage || 'nothing'}.`);
  reportInProgress(progress, state.inProgress);
  const tag = datedTag(commit, new Date());
  const ref = `${target.image}:${tag}`;
  const platform = state.answers.platform ?? '';
  const refused = await refuseComposeFile(nas, progress, state.answers, {
    file: target.composeFile,
    commit,
    tag,
    services: [{ name: target.service, tagVariable: target.tagVariable }],
    image: () => target.image,
  });
  if (refused) return { done: refused };
  await deployment.start(settings.deployment, commit, `Deploy ${ref}`);
  const fromRunner = await imagesFromRunner(nas, progress, settings.source, {
    images: [{ image: target.image, buildContext: settings.buildContext, dockerfile: settings.dockerfile }],
    tag,
    commit,
    ...(state.answers.layers ? { layers: state.answers.layers } : {}),
    inventory: () => state.answers.inventory ?? [],
    ...(platform ? { platform } : {}),
  });
  if (!fromRunner.ok) return { done: await runnerFailed(nas, progress, { tag, commit }, fromRunner) };
  const previous = runningTag(target.image, runningImage);
  // What runs now comes back when the release fails, by its image's id: also under a renamed image or a moved tag.
  const { runningId } = state.answers;
  const fallback = fallbackOf(target.image, { image: runningImage, ...(runningId ? { id: runningId } : {}) }, tag);
  const env = settings.envFile.content ? envSha256(settings.envFile.content) : undefined;
  return { state, commit, subject, tag, ref, platform, previous, fallback, ...(env ? { env } : {}) };
}

/** The release phase's plan: checkout, image, backup, env file, hooks, recreate, health and watch. */
function releasePlanOf(settings: DeploySettings, nas: Nas, p: PlannedRelease): ReleasePlan {
  const { conn, target, checkout, backups, envFile } = settings;
  const { commit, tag, previous, fallback, platform } = p;
  return {
    repo: conn.repoPath,
    target,
    checkout,
    commit,
    subject: p.subject,
    tag,
    buildContext: settings.buildContext,
    dockerfile: settings.dockerfile,
    fallback: settings.autoRollback ? fallback.tag : '',
    ...(fallback.ran ? { fallbackRan: fallback.ran } : {}),
    previous,
    preDeploy: settings.preDeploy,
    postDeploy: settings.postDeploy,
    runLabel: `${nas.run.url} (${nas.run.actor})`,
    source: settings.source,
    authDir: `${stateDirOf(conn.repoPath)}/registry-auth`,
    ...(platform ? { platform } : {}),
    ...(settings.watch ? { watch: settings.watch } : {}),
    ...(backups.enabled
      ? {
          backup: {
            plan: backupPlan(backups, { repo: conn.repoPath, ...target }),
            label: { tag: previous, commit: commitOf(p.state.history, previous), reason: `before ${tag}` },
            restoreOnFallback: settings.autoRollbackRestore && settings.autoRollback,
          },
        }
      : {}),
    ...(envFile.content
      ? {
          envFile: {
            plan: { repo: conn.repoPath, path: envFile.path, stateDir: stateDirOf(conn.repoPath) },
            content: envFile.content,
            sha256: p.env,
          },
        }
      : {}),
  };
}

/** What the release phase's exit means: nothing changed, a report cut short, a failed release, or the release. */
async function interpretRelease(
  settings: DeploySettings,
  nas: Nas,
  progress: Progress,
  p: PlannedRelease,
  released: Released,
): Promise<FlowResult> {
  const { values } = released;
  if (released.code !== 0 && BEFORE_RECREATE.has(released.code))
    return failedBeforeRecreate(settings, nas, p, released);
  const reported = released.code === 0 ? values.running !== '' : KNOWN_EXITS.has(released.code);
  if (!reported) return reportIncomplete(settings, nas, progress, p, released);
  const watch = await reportWatch(progress, released.code, values.watch);
  const outputs = {
    DEPLOYED_BACKEND_TAG: values.running,
    PREVIOUS_BACKEND_TAG: values.previous || p.previous,
    BACKEND_IMAGE: values.running ? `${settings.target.image}:${values.running}` : '',
    ROLLED_BACK: String(values.rolledBack),
    ...watch.outputs,
    ...(settings.backups.enabled
      ? {
          BACKUP_ID: values.backup?.id ?? '',
          BACKUP_PATH: values.backup?.path ?? '',
          BACKUP_BYTES: String(values.backup?.bytes ?? 0),
        }
      : {}),
  };
  const data = fallbackData(values, p.fallback.tag);
  if (data) progress.warn(data.text);
  if (released.code !== 0) {
    const said = await reportFailedRelease(settings, nas, p, released, { watchEnded: watch.ended, data });
    progress.fail(said);
    return { ok: false, outputs, error: said };
  }
  return reportReleased(settings, nas, progress, p, values, outputs);
}

/** The release ended before its recreate: no container changed. */
async function failedBeforeRecreate(
  settings: DeploySettings,
  nas: Nas,
  { tag, platform }: PlannedRelease,
  released: Released,
): Promise<FlowResult> {
  const { target } = settings;
  await nas.finish('failure', { detail: beforeRecreateDetail(released.code) });
  const imageProblem = imageSourceKind(settings.source).failure(target.image, tag, released.code, {
    image: released.values.imagePlatform ?? '',
    nas: platform,
  });
  const what =
    released.code === BackendExit.BackupFailed
      ? 'the backup before the release failed (its partial folder was removed)'
      : imageProblem
        ? `${imageProblem}. ${failureOf(released.tail, released.code)}`
        : failureOf(released.tail, released.code);
  return {
    ok: false,
    outputs: {},
    error: `deploy-backend failed before any container changed: ${what}${released.code === BackendExit.BackupFailed ? `. ${failureOf(released.tail, released.code)}` : ''}`,
  };
}

/**
 * The phase's report was cut short (a full disk on the NAS loses its log and its markers, a
 * killed phase ends without them): says only what is known, its exit code and what runs now.
 */
async function reportIncomplete(
  settings: DeploySettings,
  nas: Nas,
  progress: Progress,
  { tag, commit, previous, ref, fallback }: PlannedRelease,
  released: Released,
): Promise<FlowResult> {
  const { target } = settings;
  const now = await nas.runProgram(whatRuns(nas.render, target.container));
  const tagNow = runningTag(target.image, now.values);
  await nas.finish('failure', {
    tag,
    commit,
    previous,
    detail: `release ended with exit code ${released.code}, report incomplete`,
  });
  const why = `The release of ${ref} ended with exit code ${released.code} and its report from the NAS is incomplete (is the NAS's disk full?); the backend now runs ${now.values || 'nothing'}. ${failureOf(released.tail, released.code)}`;
  progress.fail(why);
  return {
    ok: false,
    outputs: {
      DEPLOYED_BACKEND_TAG: tagNow,
      PREVIOUS_BACKEND_TAG: previous,
      BACKEND_IMAGE: now.values,
      ROLLED_BACK: String(tagNow !== '' && tagNow === fallback.tag),
      WATCH_STATUS: 'skipped',
      WATCH_REPORT: watchReportJson('skipped', { status: '', guards: [] }),
    },
    error: why,
  };
}

/** The history's detail of a release whose watch ended it, by its exit code. */
const WATCH_ENDED_DETAIL: Partial<Record<number, string>> = {
  [BackendExit.RollbackFailed]: 'watch breached and rollback failed',
  [BackendExit.WatchRolledBack]: WATCH_ROLLBACK_DETAIL,
  [BackendExit.WatchRolledBackDataNotPutBack]: WATCH_ROLLBACK_DATA_DETAIL,
};
/** The history's detail of a release that failed before its watch, by its exit code. */
const RELEASE_FAILED_DETAIL: Partial<Record<number, string>> = {
  [BackendExit.PreDeployFailed]: 'pre-deploy failed',
  [BackendExit.PostDeployFailed]: 'post-deploy failed',
  [BackendExit.RollbackFailed]: 'release and rollback failed',
};

/** Files a failed release in the history and says what it left running. */
async function reportFailedRelease(
  settings: DeploySettings,
  nas: Nas,
  { tag, commit, previous, ref, fallback }: PlannedRelease,
  { code, values, tail }: Released,
  { watchEnded, data }: { watchEnded: boolean; data: ReturnType<typeof fallbackData> },
): Promise<string> {
  const { image } = settings.target;
  const rollbackFailed = code === BackendExit.RollbackFailed;
  // the phase wrote a watch rollback's line itself, word for word
  const writtenByPhase = code === BackendExit.WatchRolledBack || code === BackendExit.WatchRolledBackDataNotPutBack;
  const detail = watchEnded
    ? (WATCH_ENDED_DETAIL[code] ?? 'watch breached, nothing to roll back to')
    : (RELEASE_FAILED_DETAIL[code] ?? (values.upFailed ? 'container not created' : 'health check failed'));
  await nas.finish(values.rolledBack && !rollbackFailed ? 'rolled-back' : 'failure', {
    tag,
    commit,
    previous,
    detail: data && !(watchEnded && writtenByPhase) ? `${detail}, ${data.detail}` : detail,
  });
  const why = watchEnded
    ? `The release ${ref} passed its health check but its metrics watch failed: ${watchFailure(values.watch)}. ${
        writtenByPhase
          ? `It was rolled back to ${image}:${values.running}.`
          : rollbackFailed
            ? `Putting ${image}:${fallback.tag} back failed too; the backend runs ${values.running ? `${image}:${values.running}` : 'an unknown image'}.`
            : 'There was no previous release to roll back to: it is left running for inspection.'
      }`
    : code === BackendExit.PreDeployFailed
      ? 'pre-deploy failed; no container was changed'
      : recreateFailure({
          what: `The release ${ref}`,
          image,
          fallback: fallback.tag,
          running: values.running,
          rolledBack: values.rolledBack,
          upFailed: values.upFailed,
          rollbackFailed,
          tail,
          code,
        });
  return data ? `${why}${why.endsWith('.') ? '' : '.'} ${data.text}` : why;
}

/** Files the release in the history, prunes backups and images, and reports it. */
async function reportReleased(
  settings: DeploySettings,
  nas: Nas,
  progress: Progress,
  { state, tag, commit, previous, env }: PlannedRelease,
  values: ReleaseValues,
  outputs: Record<string, string>,
): Promise<FlowResult> {
  const { conn, target, backups } = settings;
  await nas.finish('success', { tag, commit, previous, ...(env ? { env } : {}) });
  const history = withDeploy(state.history, nas.run, { tag, commit, previous });
  if (backups.enabled && !nas.dryRun && values.backups)
    await pruneBackups(nas, progress, {
      dir: backups.dir,
      keep: backups.keep,
      running: tag,
      history,
      entries: values.backups,
    });
  const recent = datedTags(values.inventory, history).slice(0, 5);
  if (settings.keepImages > 0)
    await cleanupImages(nas, progress, {
      image: target.image,
      repo: conn.repoPath,
      keep: settings.keepImages,
      running: tag,
      rollbackTarget: previousRelease(state.history, 'backend', tag),
      inventory: values.inventory,
      history,
      pruneDangling: false,
    });
  progress.results('DEPLOYMENT COMPLETE', { DEPLOYED_BACKEND_TAG: tag });
  progress.detail(`Recent tags: ${recent.join(', ')}`);
  await progress.platform.addSummary(
    `### Backend deployed\n\n| | |\n|---|---|\n| Tag | \`${tag}\` |\n| Commit | \`${commit}\` |\n| Previous | \`${previous || '(none)'}\` |\n| Host | ${conn.host} |\n`,
  );
  return { ok: true, outputs };
}
