import type { DeploymentInputs } from '../../github/deployments.js';
import type { RollbackBackendInputs } from '../../inputs/backend.js';
import type { Nas, NasState } from '../../nas/nas.js';
import { BackendExit, ROLLBACK_STEPS } from '../../programs/backend.js';
import { backupToRestore, dataAfterUndo, restoreEnded } from './backup.js';
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
import { Steps } from '../../remote/program.js';
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

/**
 * rollback-backend with several services: the named services (or
 * all of the release's) each to `tag`, or each to its own previous release
 * by the history; the other services are not touched. Unknown names fail
 * before anything changes, listing the services there are.
 */
export async function rollbackServices(
  settings: RollbackBackendInputs & { deployment: DeploymentInputs },
  nas: Nas,
  state: NasState<{ platform?: string }>,
  context: FlowContext,
): Promise<FlowResult> {
  const { progress } = context;
  const { conn, target } = settings;
  const known = servicesOfLastRelease(state.history);
  const names = settings.services.length ? settings.services : [...known.keys()];
  const unknown = names.filter((n) => !known.has(n));
  if (unknown.length || known.size === 0)
    throw new Error(
      `Input 'services': ${unknown.length ? `no service ${unknown.join(', ')} in` : 'there is no'} the last release of several services in the history of ${conn.repoPath}; its services are: ${[...known.keys()].join(', ') || '(none: the last release was of a single service, roll it back without services)'}. Nothing was changed.`,
    );
  const all = [...known].map(([name, r]) => specOf(name, r));
  progress.step('Verifying the images exist');
  const asked = await nas.runProgram(servicesImages(nas.render, conn.repoPath, target.composeFile, all));
  const current = new Map(all.map((s, i) => [s.name, serviceTag(s.image, asked.values.runningImages[i] ?? '')]));
  const moves: ServiceMove[] = [];
  // image-source: registry: a target image gone from the NAS is pulled, once per image and tag, before anything changes
  const pulls: ServicePull[] = [];
  const source = settings.source;
  for (const name of names) {
    const spec = all.find((s) => s.name === name) as ServiceSpec;
    const now = current.get(name) ?? '';
    const tag = settings.tag || previousServiceRelease(state.history, name, now);
    const available = datedTags(asked.values.inventory.get(spec.image) ?? [], state.history);
    if (!tag)
      throw new Error(
        `No previous release of service ${name} in the history of ${conn.repoPath} to roll back to (running: ${now || 'nothing'}). Name a tag; available: ${available.slice(0, 10).join(', ') || 'none'}. Nothing was changed.`,
      );
    const onNas = (asked.values.inventory.get(spec.image) ?? []).some((t) => t.tag === tag);
    const pulledAs = onNas ? undefined : pulledTagOf(state.history, spec.image, tag);
    const digest = onNas ? undefined : pulledDigestOf(state.history, spec.image, tag);
    const again = onNas
      ? undefined
      : imageSourceKind(source).reobtain({
          image: spec.image,
          tag,
          authDir: `${stateDirOf(conn.repoPath)}/registry-auth`,
          ...(pulledAs ? { pulled: pulledAs } : {}),
          ...(digest ? { digest } : {}),
        });
    if (again) {
      // the credentials go only to the registry the inputs name, whatever a service's image in the history says
      if (again.login && registryOf(spec.image) !== again.login.server)
        throw new Error(
          `Image ${spec.image}:${tag} (service ${name}) is not on the NAS and would be pulled from ${registryOf(spec.image) || 'Docker Hub'}, but registry-username logs in to ${again.login.server || 'Docker Hub'} (the registry of image ${target.image}): set image to an image of ${registryOf(spec.image) || 'Docker Hub'}. Nothing was changed.`,
        );
      const same = pulls.find((p) => p.target === `${spec.image}:${tag}`);
      if (same) same.services.push(name);
      else {
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
    } else if (!onNas)
      throw new Error(
        `Image ${spec.image}:${tag} (service ${name}) does not exist on the NAS. Available tags, newest first:\n  ${available.slice(0, 15).join('\n  ') || '(none)'}\nNothing was changed.`,
      );
    progress.detail(
      `${name}: ${spec.image}:${now || '(nothing)'} -> ${spec.image}:${tag}${settings.tag ? '' : ' (its previous release)'}`,
    );
    // a restore recreates the services on the restored data, as force does
    if (now !== tag || settings.force || settings.restoreBackup) moves.push({ spec, tag, fallback: now });
  }
  progress.step('Checking current deployment');
  for (const s of all)
    progress.detail(
      `${s.name}: runs ${s.image}:${current.get(s.name) || '(nothing)'}${moves.some((m) => m.spec.name === s.name) ? '' : ' (left alone)'}`,
    );
  const steps = new Steps({ ...ROLLBACK_STEPS, recreate: 'Redeploying the services with their target tags' });
  const outputsFor = (running: Map<string, string>): Record<string, string> => {
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
  };
  if (moves.length === 0) {
    progress.ok(
      `${names.join(', ')} already run their target tags: nothing to do (set force: true to recreate anyway)`,
    );
    await nas.finish('noop', { detail: 'already running' });
    const outputs = outputsFor(new Map());
    progress.results('ROLLBACK NOT NEEDED', outputs);
    return { ok: true, outputs };
  }
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
  const pulledOf = (m: ServiceMove): string | undefined => pulledTagOf(state.history, m.spec.image, m.tag);
  const record = Object.fromEntries(moves.map((m) => [m.spec.name, serviceRecord(m.spec, m.tag, pulledOf(m))]));
  const released = await nas.runPhase(
    servicesRollbackPhase(nas.render, {
      repo: conn.repoPath,
      composeFile: target.composeFile,
      moves,
      others: all
        .filter((s) => !moves.some((m) => m.spec.name === s.name) && current.get(s.name))
        .map((spec) => ({ spec, tag: current.get(spec.name) ?? '' })),
      healthTimeout: target.healthTimeout,
      force: settings.force,
      named: !!settings.tag,
      record,
      steps,
      // only the pulls of services that move (a service already on its tag has its image)
      pulls: pulls.filter((p) => moves.some((m) => p.target === `${m.spec.image}:${m.tag}`)),
      ...(settings.preRollback ? { preRollback: settings.preRollback } : {}),
      ...(settings.postRollback ? { postRollback: settings.postRollback } : {}),
      ...(envFile ? { envFile } : {}),
      ...(restore
        ? {
            restore: {
              plan: {
                dir: settings.backupDir,
                id: restore.id,
                repo: conn.repoPath,
                composeFile: target.composeFile,
                container: all.find((s) => s.container)?.container ?? '',
                items: restore.manifest.items,
                image: settings.backupImage,
                // every application service of the release stops for the restore, never a database it restores
                apps: servicesApps(all, {
                  databases: restore.manifest.items
                    .filter((i) => i.kind !== 'volume')
                    .map((i) => ({ service: i.source })),
                }),
              },
              safety: { tag: moves[0].fallback, commit: '', reason: `safety before restore ${restore.id}` },
            },
          }
        : {}),
    }),
  );
  const running = new Map(moves.map((m, i) => [m.spec.name, released.values.running[i] ?? '']));
  const restoreOutputs: Record<string, string> = restore
    ? {
        RESTORED_BACKUP: released.code === 0 || released.values.data === 'restored' ? restore.id : '',
        SAFETY_BACKUP_ID: released.values.safety?.id ?? '',
      }
    : {};
  const outputs = { ...outputsFor(running), ...restoreOutputs };
  const ended = restore
    ? restoreEnded(released.code, {
        id: restore.id,
        began: released.values.restoreBegan,
        undone: released.values.restoreUndone,
        safety: restoreOutputs.SAFETY_BACKUP_ID,
        running: 'what ran before',
        stopped: 'every service of the release',
      })
    : undefined;
  if (restore && ended) {
    await nas.finish('failure', { backup: restore.id, detail: ended.detail });
    const why = `${ended.why} ${failureOf(released.tail, released.code)}`;
    progress.fail(why);
    return { ok: false, outputs: { ...outputsFor(new Map()), ...restoreOutputs }, error: why };
  }
  if (
    released.code === BackendExit.RegistryLoginFailed ||
    released.code === BackendExit.PullFailed ||
    released.code === BackendExit.PlatformMismatch
  ) {
    const mismatch = released.code === BackendExit.PlatformMismatch;
    await nas.finish('failure', { detail: mismatch ? 'image of another platform' : 'image pull failed' });
    const why = `The rollback of ${moves.map((m) => `${m.spec.name} to ${m.tag}`).join(', ')} stopped before anything changed: ${
      released.code === BackendExit.RegistryLoginFailed
        ? `logging in to ${pulls[0]?.login?.server || 'Docker Hub'} failed (check registry-username and registry-password)`
        : mismatch
          ? `an image of ${pulls.map((p) => p.ref).join(' or ')} is built for ${released.values.imagePlatform || 'an unknown platform'}, but the NAS runs ${state.answers.platform ?? 'another'}`
          : `pulling ${pulls.map((p) => p.ref).join(' or ')} failed (is it still in the registry?)`
    }. ${failureOf(released.tail, released.code)}`;
    progress.fail(why);
    return { ok: false, outputs: outputsFor(new Map()), error: why };
  }
  if (released.code === BackendExit.EnvFileFailed) {
    await nas.finish('failure', { detail: 'environment file not written' });
    const why = `The rollback of ${moves.map((m) => `${m.spec.name} to ${m.tag}`).join(', ')} stopped before any container changed: ${settings.envFile.path} could not be written. ${failureOf(released.tail, released.code)}`;
    progress.fail(why);
    return { ok: false, outputs: outputsFor(new Map()), error: why };
  }
  const hookFailure = rollbackHookFailure(
    released.code,
    `the rollback of ${moves.map((m) => `${m.spec.name} to ${m.tag}`).join(', ')}`,
  );
  if (hookFailure) {
    await nas.finish('failure', { detail: hookFailure.detail });
    const why = `${hookFailure.why} ${failureOf(released.tail, released.code)}`;
    progress.fail(why);
    return { ok: false, outputs: hookFailure.changed ? outputs : outputsFor(new Map()), error: why };
  }
  if (released.code !== 0) {
    const rolledBack =
      released.code === BackendExit.RolledBack || released.code === BackendExit.RolledBackDataNotPutBack;
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
    const why = data ? `${said}${said.endsWith('.') ? '' : '.'} ${data.text}` : said;
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
      .join('\n')}\n\nOn ${conn.host}.\n`,
  );
  return { ok: true, outputs };
}
