import type { Nas } from '../../nas/nas.js';
import { composeProblems, type ComposeContract, type PreflightState } from '../../programs/preflight.js';
import type { Progress } from '../../report/progress.js';
import type { FlowResult } from '../flow.js';

/**
 * The compose preflight's verdict, before anything changes: a compose file at
 * the released commit that misses a service or ignores its tag variable ends
 * the release here, recorded, with the line to write; one compose could not
 * read is a warning (it may need what the release writes, its environment file).
 */
export async function refuseComposeFile(
  nas: Nas,
  progress: Progress,
  found: Partial<PreflightState>,
  c: Pick<ComposeContract, 'file' | 'services'> & { commit: string; tag: string; image: (service: string) => string },
): Promise<FlowResult | undefined> {
  const compose = found.compose ?? { read: 'unknown' };
  const at = `${c.file} at ${c.commit.slice(0, 7)}`;
  if (compose.read === 'unreadable') {
    progress.warn(`compose config could not read ${at}, so its services were not checked: ${compose.error}`);
    return undefined;
  }
  const problems = composeProblems(compose, c);
  if (!problems.length) {
    if (compose.read === 'ok')
      progress.ok(
        `${at}: ${c.services.map((s) => `service ${s.name} reads ${s.tagVariable}`).join(', ')}${found.platform ? `; the NAS runs ${found.platform}` : ''}`,
      );
    return undefined;
  }
  const why = `The compose file does not fit the release: ${problems.join('; ')}. Nothing was changed (the checkout, the images and the containers are as they were).`;
  progress.fail(why);
  await nas.finish('failure', { tag: c.tag, commit: c.commit, detail: 'compose file refused by the preflight' });
  return { ok: false, outputs: {}, error: `deploy-backend failed before anything changed: ${why}` };
}
