import type { Nas } from '../nas/nas.js';
import type { RunnerRelease } from '../programs/checkout.js';
import { receiveRelease } from '../programs/releases.js';
import type { Progress } from '../report/progress.js';
import { checkoutFile, projectArchive, runnerCheckout, shippedPaths } from '../runner/project.js';
import { workspace } from '../runner/docker.js';
import type { FlowSettings } from './flow.js';

/** What of an action's settings names the files a release needs (each absent where the action has none). */
interface ShippingSettings extends FlowSettings {
  checkout?: { ref: string; runner?: RunnerRelease };
  target?: { composeFile: string };
  stack?: { composeFile: string };
  source?: { kind: string };
  buildContext?: string;
  dockerfile?: string;
  services?: readonly { buildContext: string; dockerfile: string }[];
}

const folderOf = (file: string): string => (file.includes('/') ? file.slice(0, file.lastIndexOf('/')) : '.');

/**
 * The paths of the runner's checkout a release needs: the compose file's folder (the backend's, or the
 * monitoring stack's), and the build contexts and Dockerfiles when the NAS builds the images.
 */
export function releasePaths(s: ShippingSettings): string[] {
  const builds = !s.source || s.source.kind === 'nas';
  return shippedPaths([
    ...(s.target ? [folderOf(s.target.composeFile)] : []),
    ...(s.stack ? [folderOf(s.stack.composeFile)] : []),
    ...(builds && s.target ? [s.buildContext ?? '', s.dockerfile ?? ''] : []),
    ...(builds ? (s.services ?? []).flatMap((x) => [x.buildContext, x.dockerfile]) : []),
  ]);
}

/**
 * project-source: runner, before anything connects: the release is the commit of the runner's checkout (which
 * must be the one `ref` names), its compose file read there for the preflight. Returns what ships the files once
 * the NAS is locked, or undefined when the action ships nothing (git, or an action that releases no commit).
 */
export async function prepareRunnerProject(
  settings: FlowSettings,
  progress: Progress,
): Promise<((nas: Nas) => Promise<void>) | undefined> {
  const s = settings as ShippingSettings;
  const root = s.conn.releaseRoot;
  if (!root || !s.checkout) return undefined;
  const at = await runnerCheckout(s.checkout.ref);
  const compose = s.target?.composeFile ?? s.stack?.composeFile;
  const content = compose ? await checkoutFile(compose, at.git) : undefined;
  s.checkout.runner = {
    commit: at.commit,
    subject: at.subject,
    ...(compose && content ? { files: { [compose]: content.toString('base64') } } : {}),
  };
  const paths = releasePaths(s);
  return async (nas) => {
    const dir = `${root}/releases/${at.commit}`;
    if (nas.dryRun) {
      progress.detail(`dry-run: would send ${paths.join(', ')} of ${at.commit.slice(0, 7)} to ${dir}`);
      return;
    }
    if (!at.git)
      progress.warn(
        `${workspace()} is not a git checkout: ${paths.join(', ')} are sent as they are, untracked files included`,
      );
    let got;
    try {
      got = await nas.streamProgram(receiveRelease(root, at.commit, paths), projectArchive(paths, at.git));
    } catch (err) {
      throw new Error(`Sending ${paths.join(', ')} to ${dir} failed: ${(err as Error).message}. Nothing was changed.`);
    }
    if (got.code !== 0 || !got.values.received)
      throw new Error(`The release files did not arrive whole in ${dir} (exit ${got.code}). Nothing was changed.`);
    progress.ok(
      `${got.values.existed ? 'Already on the NAS' : 'Sent'}: ${paths.join(', ')} of ${at.commit.slice(0, 7)} in ${dir}`,
    );
  };
}
