import type { DeploymentInputs } from '../../github/deployments.js';
import type { DeployBackendInputs } from '../../inputs/backend.js';
import type { Nas } from '../../nas/nas.js';
import { BackendExit, BEFORE_RECREATE, fallbackOf, WATCH_ROLLBACK_DETAIL } from '../../programs/backend.js';
import {
  servicesDeployState,
  servicesImages,
  servicesReleasePhase,
  serviceTag,
  type ServicesRecreateValues,
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

/**
 * deploy-backend with several services: the same steps as a
 * single-service release, in one detached phase; every service gets the
 * release's tag, and when any fails every one goes back to what ran before.
 */
export async function deployServices(
  settings: DeployBackendInputs & { deployment: DeploymentInputs },
  nas: Nas,
  { progress, deployment }: FlowContext,
): Promise<FlowResult> {
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
  if (refused) return refused;
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
  if (!fromRunner.ok) return runnerFailed(nas, progress, { tag, commit }, fromRunner);
  const released = await nas.runPhase(
    servicesReleasePhase(nas.render, {
      repo: conn.repoPath,
      composeFile: target.composeFile,
      checkout,
      commit,
      subject,
      tag,
      services,
      previous,
      fallbacks,
      healthTimeout: target.healthTimeout,
      autoRollback: settings.autoRollback,
      ...(settings.preDeploy ? { preDeploy: settings.preDeploy } : {}),
      ...(settings.postDeploy ? { postDeploy: settings.postDeploy } : {}),
      runLabel: `${nas.run.url} (${nas.run.actor})`,
      record,
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
                commit: commitOf(state.history, previous.find(Boolean) ?? ''),
                reason: `before ${tag}`,
              },
              restoreOnFallback: settings.autoRollbackRestore && settings.autoRollback,
            },
          }
        : {}),
    }),
  );
  const backupOutputs: Record<string, string> = settings.backups.enabled
    ? {
        BACKUP_ID: released.values.backup?.id ?? '',
        BACKUP_PATH: released.values.backup?.path ?? '',
        BACKUP_BYTES: String(released.values.backup?.bytes ?? 0),
      }
    : {};
  const firstPrevious = previous.find(Boolean) ?? '';
  const skippedWatch = {
    WATCH_STATUS: 'skipped',
    WATCH_REPORT: watchReportJson('skipped', { status: '', guards: [] }),
  };
  if (released.code !== 0 && BEFORE_RECREATE.has(released.code)) {
    await nas.finish('failure', { detail: beforeRecreateDetail(released.code) });
    // an image exit names the image being obtained (and the services that run it)
    const failedImage = images[released.values.obtaining ?? -1];
    const imageProblem =
      failedImage &&
      imageSourceKind(source).failure(failedImage.image, tag, released.code, {
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
    ...(watch ? watch.outputs : skippedWatch),
    DEPLOYED_SERVICES: deployedServices(services, running, previous),
    ...backupOutputs,
  };
  const nowRecord = Object.fromEntries(
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
  if (!reported) {
    await nas.finish('failure', {
      tag,
      commit,
      previous: firstPrevious,
      services: nowRecord,
      detail: `release ended with exit code ${released.code}, report incomplete`,
    });
    const why = `The release ${tag} ended with exit code ${released.code} and its report from the NAS is incomplete (is the NAS's disk full?); the services now run ${services.map((s, i) => `${s.name} ${running[i] || 'nothing'}`).join(', ')}. ${failureOf(released.tail, released.code)}`;
    progress.fail(why);
    return { ok: false, outputs, error: why };
  }
  const data = fallbackData(values, 'what ran before');
  if (data) progress.warn(data.text);
  if (released.code !== 0 && watch?.ended) {
    // a watch's rollback: the phase wrote its history line itself, word for word
    const { detail, why } = servicesWatchFailure(tag, services, running, released.code, values.watch ?? NO_WATCH);
    await nas.finish(released.code === BackendExit.WatchRolledBack ? 'rolled-back' : 'failure', {
      tag,
      commit,
      previous: firstPrevious,
      services: nowRecord,
      detail,
    });
    const said = data ? `${why}${why.endsWith('.') ? '' : '.'} ${data.text}` : why;
    progress.fail(said);
    return { ok: false, outputs, error: said };
  }
  if (released.code !== 0) {
    const rolledBack =
      released.code === BackendExit.RolledBack || released.code === BackendExit.RolledBackDataNotPutBack;
    const failed = `health check failed: ${values.failed.join(', ')}`;
    await nas.finish(rolledBack ? 'rolled-back' : 'failure', {
      tag,
      commit,
      previous: firstPrevious,
      services: nowRecord,
      detail:
        released.code === BackendExit.PreDeployFailed
          ? 'pre-deploy failed'
          : released.code === BackendExit.PostDeployFailed
            ? 'post-deploy failed'
            : released.code === BackendExit.RollbackFailed
              ? 'release and rollback failed'
              : data
                ? `${failed}, ${data.detail}`
                : failed,
    });
    const said = servicesFailure(tag, services, { ...values, running }, released.code, released.tail);
    const why = data ? `${said}${said.endsWith('.') ? '' : '.'} ${data.text}` : said;
    progress.fail(why);
    return { ok: false, outputs, error: why };
  }
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
