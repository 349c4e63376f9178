import { InputReader } from '../../src/inputs/reader.js';
import type { Flow, FlowSettings } from '../../src/release/flow.js';

/** What every action needs to reach the (fake) NAS: no key material, the host key check off. */
export const CONNECTION_INPUTS: Record<string, string> = {
  host: 'nas.local',
  username: 'deploy',
  password: 'not-a-real-password',
  'insecure-skip-host-key-check': 'true',
  'repo-path': '/volume1/docker/shop/repo',
};

/** A flow's settings, read by its own `settings` from these inputs over the action's declared defaults. */
export function settingsOf<S extends FlowSettings>(flow: Flow<S>, inputs: Record<string, string> = {}): S {
  const raw = { ...CONNECTION_INPUTS, ...inputs };
  return flow.settings(new InputReader(flow.kind.action, (name) => raw[name]));
}
