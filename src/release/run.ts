import { ACTIONS } from '../inputs/spec.js';
import { envValues } from '../programs/env-file.js';
import { InputError, InputReader, type RawInputs } from '../inputs/reader.js';
import type { Platform } from '../report/platform.js';
import { Progress } from '../report/progress.js';
import { DeploymentRecorder } from '../github/deployments.js';
import { SshNas } from '../nas/ssh-nas.js';
import type { Flow, FlowSettings } from './flow.js';

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
  try {
    const settings = flow.settings(new InputReader(action, raw));
    const nas = new SshNas(settings.conn, flow.kind, progress);
    const result = await nas.operate((n) => flow.run(settings, n, { progress, deployment }));
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
    platform.setFailed(message);
    return false;
  }
}
