import type { Nas } from '../../nas/nas.js';
import {
  composeProblems,
  readComposeFile,
  type ComposeContract,
  type PreflightState,
} from '../../programs/preflight.js';
import type { Progress } from '../../report/progress.js';
import type { FlowResult } from '../flow.js';

/**
 * The compose preflight's verdict, before anything changes: a compose file at
 * the released commit that misses a service, ignores its tag variable, is no
 * YAML, or (blue-green) would run both colours on one name or port ends the
 * release here, recorded, with the line to write.
 */
export async function refuseComposeFile(
  nas: Nas,
  progress: Progress,
  found: Partial<PreflightState>,
  c: Pick<ComposeContract, 'file' | 'services' | 'blueGreen'> & {
    commit: string;
    tag: string;
    image: (service: string) => string;
  },
): Promise<FlowResult | undefined> {
  const compose = await readComposeFile(found.compose ?? { read: 'unknown' });
  const at = `${c.file} at ${c.commit.slice(0, 7)}`;
  const problems =
    compose.read === 'unreadable'
      ? [`${at} is not a YAML file compose can read: ${compose.error}`]
      : composeProblems(compose, c);
  if (!problems.length) {
    const reads = (s: { tagVariable: string }): string =>
      c.blueGreen ? `${s.tagVariable} and ${c.blueGreen.portVariable}` : s.tagVariable;
    if (compose.read === 'ok')
      progress.ok(
        `${at}: ${c.services.map((s) => `service ${s.name} reads ${reads(s)}`).join(', ')}${found.platform ? `; the NAS runs ${found.platform}` : ''}`,
      );
    return undefined;
  }
  const why = `The compose file does not fit the release: ${problems.join('; ')}. Nothing was changed (the checkout, the images and the containers are as they were).`;
  progress.fail(why);
  await nas.finish('failure', { tag: c.tag, commit: c.commit, detail: 'compose file refused by the preflight' });
  return { ok: false, outputs: {}, error: `deploy-backend failed before anything changed: ${why}` };
}
