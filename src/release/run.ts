import { ACTIONS } from '../inputs/spec.js';
import { envValues } from '../programs/env-file.js';
import { InputError, InputReader, type RawInputs } from '../inputs/reader.js';
import type { Platform } from '../report/platform.js';
import { Progress } from '../report/progress.js';
import { DeploymentRecorder } from '../github/deployments.js';
import { SshNas } from '../nas/ssh-nas.js';
import { prepareRunnerProject } from './project-from-runner.js';
import type { Flow, FlowSettings } from './flow.js';
import { wanted, type NotifySettings } from '../report/notify.js';
import { currentRun } from '../report/run-info.js';
import { eventOfEarlier, eventOfError, eventOfResult, notify, notifyOfRefusedRun } from './notify-run.js';

/**
 * Runs one action from its inputs to its outputs: the same code for the
 * runner's entry files and for the `nas-release` command. Inputs become
 * typed settings first (a bad one fails before anything connects), then the
 * flow runs against the NAS over SSH.
 */
export async function runAction<S extends FlowSettings>(
  action: string,
  flow: Flow<S>,
  raw: RawInputs,
  platform: Platform,
): Promise<boolean> {
  const progress = new Progress(platform);
  // Mask every secret before anything can print it, also when a later input is invalid.
  for (const [name, spec] of Object.entries(ACTIONS[action]?.inputs ?? {})) {
    if (spec.secret) {
      const value = raw(name);
      if (value && value.trim()) platform.setSecret(value.trim());
      if (value && spec.envValues) for (const v of envValues(value)) platform.setSecret(v);
    }
  }
  const deployment = new DeploymentRecorder(progress);
  let notifySettings: NotifySettings | undefined;
  let nas: SshNas | undefined;
  try {
    const settings = flow.settings(new InputReader(action, raw));
    notifySettings = settings.conn.notify;
    // project-source: runner: the release's files go from the runner's checkout, once the NAS is locked
    const ship = await prepareRunnerProject(settings, progress);
    const on = new SshNas(settings.conn, flow.kind, progress);
    if (ship) on.afterFirstRead = ship;
    nas = on;
    const result = await on.operate(async (n) => {
      const ended = await flow.run(settings, n, { progress, deployment });
      // What earlier runs could not report (their runner vanished) goes out once, then is marked reported.
      const earlier = on.unreported.filter(
        (r) => notifySettings && wanted(notifySettings.on, eventOfEarlier(r, '').outcome),
      );
      if (earlier.length && !on.dryRun && notifySettings?.targets.length) {
        await notify(
          notifySettings,
          earlier.map((r) => eventOfEarlier(r, on.run.url)),
          progress,
        );
        await on
          .acknowledge(earlier)
          .catch((err: Error) => progress.warn(`The reported outcomes were not recorded: ${err.message}`));
      }
      return ended;
    });
    await notify(notifySettings, [eventOfResult(action, result, on.outcome, on.run.url)], progress, on.dryRun);
    await deployment.finish(
      result.ok,
      result.ok ? `${action} succeeded` : (result.error ?? `${action} failed`).split('\n')[0],
    );
    for (const [name, value] of Object.entries(result.outputs)) {
      platform.setOutput(name, value);
      platform.exportVariable(name, value);
    }
    if (!result.ok) {
      platform.setFailed(result.error ?? `${action} failed`);
      return false;
    }
    return true;
  } catch (err) {
    const message =
      err instanceof InputError ? `${err.message}. Nothing was changed on the NAS.` : (err as Error).message;
    await deployment.finish(false, message.split('\n')[0]);
    progress.fail(message.split('\n')[0]);
    notifySettings ??= notifyOfRefusedRun(action, raw);
    await notify(
      notifySettings,
      [eventOfError(action, message, nas?.outcome, (nas?.run ?? currentRun()).url)],
      progress,
      nas?.dryRun,
    );
    platform.setFailed(message);
    return false;
  }
}
