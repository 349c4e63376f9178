import type { Nas } from '../../nas/nas.js';
import { receiveRelease } from '../../programs/releases.js';
import type { Progress } from '../../report/progress.js';
import { projectArchive, shippedPaths, type RunnerCheckout } from '../../runner/project.js';
import { workspace } from '../../runner/docker.js';

/** The step project-source: runner adds to a release, before the NAS's phase. */
export const SHIP_STEP = 'Sending the release files from the runner';

export interface ShipPlan {
  root: string;
  tag: string;
  checkout: RunnerCheckout;
  composeFile: string;
  /** Shipped when the NAS builds the image. */
  buildContext?: string;
  dockerfile?: string;
}

/**
 * Ships what the release needs from the runner's checkout into `<root>/releases/<tag>` over the SSH connection
 * the release holds. Nothing that runs changes: the phase switches to the folder.
 */
export async function shipRelease(
  nas: Nas,
  progress: Progress,
  p: ShipPlan,
): Promise<{ ok: true } | { ok: false; error: string; detail: string }> {
  progress.step(SHIP_STEP);
  const paths = shippedPaths(p);
  if (nas.dryRun) {
    progress.detail(`dry-run: would send ${paths.join(', ')} to ${p.root}/releases/${p.tag}`);
    return { ok: true };
  }
  if (!p.checkout.git)
    progress.warn(
      `${workspace()} is not a git checkout: ${paths.join(', ')} are sent as they are, untracked files included`,
    );
  try {
    const got = await nas.streamProgram(receiveRelease(p.root, p.tag), projectArchive(paths, p.checkout.git));
    if (got.code !== 0 || !got.values.received)
      return {
        ok: false,
        error: `The release files did not arrive whole in ${p.root}/releases/${p.tag} (exit ${got.code}); the running container was not touched`,
        detail: 'release files not received',
      };
  } catch (err) {
    return {
      ok: false,
      error: `Sending the release files (${paths.join(', ')}) failed: ${(err as Error).message}; the running container was not touched`,
      detail: 'release files not sent',
    };
  }
  progress.ok(
    `Sent ${paths.join(', ')} (${p.checkout.git ? 'tracked files of' : 'folder'} ${p.checkout.commit.slice(0, 7)}) to ${p.root}/releases/${p.tag}`,
  );
  return { ok: true };
}
