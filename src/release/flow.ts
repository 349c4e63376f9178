import type { DeploymentInputs, DeploymentRecorder } from '../github/deployments.js';
import type { ConnectionInputs } from '../inputs/connection.js';
import type { InputReader } from '../inputs/reader.js';
import type { Nas, OperationKind } from '../nas/nas.js';
import type { Progress } from '../report/progress.js';

/** What every action's settings hold: how to reach the NAS, and the GitHub deployment to record. */
export interface FlowSettings {
  conn: ConnectionInputs;
  deployment?: DeploymentInputs;
}

/**
 * One action's release flow. `settings` reads and checks every input the
 * action declares, before anything connects; `run` orchestrates the release
 * against a Nas and never sees the input reader.
 */
export interface Flow<S extends FlowSettings = FlowSettings> {
  kind: OperationKind;
  settings(reader: InputReader): S;
  run(settings: S, nas: Nas, context: FlowContext): Promise<FlowResult>;
}

/** What a flow may use besides its settings and the NAS. */
export interface FlowContext {
  progress: Progress;
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

/** Declares a flow, keeping its settings type. */
export function defineFlow<S extends FlowSettings>(flow: Flow<S>): Flow<S> {
  return flow;
}
