import { ACTIONS } from '../inputs/spec.js';
import { InputError, InputReader, type RawInputs } from '../inputs/reader.js';
import type { Platform } from '../report/platform.js';
import { Progress } from '../report/progress.js';
import { DeploymentRecorder } from '../github/deployments.js';

/** A release flow: reads its inputs, does its work, returns its outputs (or throws). */
export type Flow = (reader: InputReader, progress: Progress, context: FlowContext) => Promise<FlowResult>;

/** What a flow may use besides its inputs and the log. */
export interface FlowContext {
  /** The GitHub deployment of the release, when the `environment` input is set. */
  deployment: DeploymentRecorder;
}

export interface FlowResult {
  /** Outputs, also exported to the job's environment. */
  outputs: Record<string, string>;
  /** False when the flow set its outputs but the step must fail (a rolled-back deploy). */
  ok: boolean;
  /** The failure message when ok is false. */
  error?: string;
}

/**
 * Runs one action from its inputs to its outputs: the same code for the
 * runner's entry files and for the `nas-release` command.
 */
export async function runAction(action: string, flow: Flow, raw: RawInputs, platform: Platform): Promise<boolean> {
  const progress = new Progress(platform);
  const reader = new InputReader(action, raw);
  // Mask every secret before anything can print it, also when a later input is invalid.
  for (const [name, spec] of Object.entries(ACTIONS[action]?.inputs ?? {})) {
    if (spec.secret) {
      const value = raw(name);
      if (value && value.trim()) platform.setSecret(value.trim());
    }
  }
  const deployment = new DeploymentRecorder(progress);
  try {
    const result = await flow(reader, progress, { deployment });
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
