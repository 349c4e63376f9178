import type { ImageSource } from '../../inputs/image-source.js';
import { imageSourceKind, type Reobtain } from '../../image-sources/table.js';
import { BackendExit } from '../../programs/backend.js';
import { DIGEST } from '../../programs/image-sources.js';
import type { HistoryRecord } from '../../remote/history.js';
import type { Progress } from '../../report/progress.js';

/**
 * A rollback's target image the NAS no longer has: how its source gets it
 * back, in the phase, before anything changes (said in the log), from what the
 * history recorded of the release of `tag` (the tag it was pulled as, and the
 * digest: its tag may name other content by now). Undefined: the source cannot.
 */
export function reobtainTarget(
  progress: Progress,
  source: ImageSource,
  o: { image: string; tag: string; history: readonly HistoryRecord[]; authDir: string },
): Reobtain | undefined {
  const records = [...o.history].reverse().filter((r) => r.stack === 'backend' && r.tag === o.tag);
  const pulled = records.find((r) => r.pulled)?.pulled;
  const digest = records.find((r) => r.digest && DIGEST.test(r.digest))?.digest;
  const again = imageSourceKind(source).reobtain({
    image: o.image,
    tag: o.tag,
    authDir: o.authDir,
    ...(pulled ? { pulled } : {}),
    ...(digest ? { digest } : {}),
  });
  if (again)
    progress.warn(
      `Image ${o.image}:${o.tag} is not on the NAS: it is pulled from ${again.from} before anything changes`,
    );
  return again;
}

/** Why a rollback stopped whose target image could not be got back (nothing changed); undefined for other exits. */
export function reobtainFailure(pull: Reobtain, code: number): string | undefined {
  if (code === BackendExit.RegistryLoginFailed)
    return `logging in to ${pull.login?.server || 'Docker Hub'} failed (check registry-username and registry-password)`;
  if (code === BackendExit.PullFailed) return `pulling ${pull.ref} failed (is it still in the registry?)`;
  return undefined;
}
