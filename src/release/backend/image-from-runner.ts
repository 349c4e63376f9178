import type { Nas } from '../../nas/nas.js';
import type { ImageSource } from '../../inputs/image-source.js';
import { imageSourceKind } from '../../image-sources/table.js';
import type { FlowResult } from '../flow.js';
import { loadImage, type NasLayers } from '../../programs/image-sources.js';
import type { Progress } from '../../report/progress.js';
import type { ImageTag } from '../../rules/images.js';
import { layersOnNas } from '../../rules/layers.js';
import { samePlatform } from '../../programs/preflight.js';
import {
  builderOf,
  buildOnRunner,
  imageLayers,
  runnerPlatform,
  inWorkspace,
  saveImage,
  workspace,
  workspaceCommit,
  type SaveStats,
} from '../../runner/docker.js';

/** The step the runner adds to a release whose image it builds. */
export const RUNNER_STEP = 'Building the image on the runner and sending it to the NAS';

export interface RunnerImagePlan {
  image: string;
  /** The dated tag (YYYY.MM.DD-<sha7>): the image is built under this name on the runner and arrives so on the NAS. */
  tag: string;
  /** The commit the NAS releases: the workspace must hold it. */
  commit: string;
  /** Relative to the runner's workspace. */
  context: string;
  dockerfile: string;
  /** What the NAS has (asked in the state round trip). */
  layers: NasLayers;
  inventory: readonly ImageTag[];
  /** The step's text (a release of several images names each); default RUNNER_STEP. */
  step?: string;
  /** The NAS's platform (`linux/arm64`): the image is built for it. */
  platform?: string;
}

export type RunnerImageResult = { ok: true; sent?: SaveStats } | { ok: false; error: string; detail: string };

const mb = (bytes: number): string => `${(bytes / 1e6).toFixed(1)} MB`;
const speed = (s: SaveStats): string => `${(s.sent / 1e6 / Math.max(s.seconds, 0.001)).toFixed(1)} MB/s`;

/**
 * Puts one image on the NAS from the runner: builds it with the runner's
 * docker, then streams `docker save` (without the layers the NAS has,
 * gzip-compressed) into `docker load` on the NAS over the SSH connection the
 * release already holds. Nothing on the NAS changes but its image store: the
 * release phase recreates afterwards. A stream that leaves layers out and
 * fails to load is sent once more whole (the NAS may have lost a layer since it was asked).
 */
export async function imageFromRunner(nas: Nas, progress: Progress, p: RunnerImagePlan): Promise<RunnerImageResult> {
  const ref = `${p.image}:${p.tag}`;
  progress.step(p.step ?? RUNNER_STEP);
  if (p.inventory.some((t) => t.tag === p.tag)) {
    progress.ok(
      `Image ${ref} is already on the NAS (this commit was deployed today, or this is a re-run): not sent again`,
    );
    return { ok: true };
  }
  if (nas.dryRun) {
    progress.detail(`dry-run: would build ${ref} on the runner and send it to the NAS`);
    return { ok: true };
  }
  const checkedOut = await workspaceCommit();
  if (checkedOut && checkedOut !== p.commit)
    return fail(
      `The runner's checkout (${workspace()}) is at ${checkedOut.slice(0, 7)}, but this release is ${p.commit.slice(0, 7)}: check out the commit being released (actions/checkout, and ref: \${{ github.sha }}); nothing was built or sent, the running container was not touched`,
      'runner checkout is another commit',
    );
  if (!checkedOut)
    progress.warn(`${workspace()} is not a git checkout: cannot check that it holds ${p.commit.slice(0, 7)}`);

  const builder = await builderOf();
  const own = p.platform ? await runnerPlatform() : '';
  // another architecture is built through buildx, its RUN steps under QEMU's emulation
  const foreign = !!p.platform && !!own && !samePlatform(own, p.platform);
  if (foreign && !builder.buildx)
    return fail(
      `The NAS runs ${p.platform}, but the runner's docker is ${own} and has no buildx: building for ${p.platform} needs buildx and QEMU on the runner (add docker/setup-qemu-action and docker/setup-buildx-action before this step); nothing was built or sent, the running container was not touched`,
      'runner cannot build for the NAS platform',
    );
  const target = p.platform ? ` for ${p.platform}` : '';
  progress.platform.startGroup(`docker build ${ref} (on the runner)`);
  const built = await buildOnRunner(
    {
      ref,
      context: inWorkspace(p.context),
      ...(p.dockerfile ? { dockerfile: inWorkspace(p.dockerfile) } : {}),
      cacheScope: p.image,
      ...(p.platform ? { platform: p.platform } : {}),
    },
    (line) => progress.platform.remote([line]),
    builder,
  );
  progress.platform.endGroup();
  if (built.code !== 0)
    return fail(
      `The build of ${ref}${target} on the runner failed (docker ${built.args.join(' ')}, exit ${built.code})${foreign ? `; the runner is ${own}: a RUN step of another architecture needs QEMU (docker/setup-qemu-action)` : ''}; nothing was sent, the running container was not touched`,
      'build on the runner failed',
    );
  progress.ok(
    `Built ${ref} on the runner${p.platform ? ` for the NAS's platform ${p.platform}${foreign ? ` (the runner is ${own}: buildx under QEMU)` : ''}` : ''} (docker ${built.args[0]})`,
  );

  const skip = layersOnNas(await imageLayers(ref), p.layers.chains);
  let sent = await send(nas, progress, ref, skip);
  if (!sent.ok && skip.size > 0) {
    progress.warn(`Loading ${ref} without the layers the NAS had failed: sending it whole`);
    sent = await send(nas, progress, ref, new Set());
  }
  if (!sent.ok) return fail(`${sent.error}; the running container was not touched`, 'image transfer failed');
  const s = sent.stats;
  progress.ok(
    `Sent ${ref} to the NAS: ${mb(s.sent)} compressed (${mb(s.archive)} of docker save) in ${s.seconds.toFixed(1)}s, ${speed(s)}${
      s.skippedLayers ? `; ${s.skippedLayers} layer(s) the NAS has (${mb(s.skippedBytes)}) left out` : ''
    }`,
  );
  return { ok: true, sent: s };
}

async function send(
  nas: Nas,
  progress: Progress,
  ref: string,
  skip: ReadonlySet<string>,
): Promise<{ ok: true; stats: SaveStats } | { ok: false; error: string }> {
  const save = saveImage(ref, {
    skip,
    onProgress: (s) => progress.detail(`${mb(s.sent)} sent (${mb(s.archive)} of docker save read), ${speed(s)}`),
  });
  try {
    const loaded = await nas.streamProgram(loadImage(nas.render, ref), save.stream);
    if (loaded.code !== 0 || !loaded.values.loaded)
      return { ok: false, error: `Loading ${ref} into the NAS's docker failed (exit ${loaded.code})` };
    return { ok: true, stats: save.stats() };
  } catch (err) {
    return { ok: false, error: `Sending ${ref} to the NAS failed: ${(err as Error).message}` };
  }
}

function fail(error: string, detail: string): RunnerImageResult {
  return { ok: false, error, detail };
}

/** The steps the runner adds to a release of these images from `source` (one per image it sends). */
export function runnerSteps(source: ImageSource, images: number): number {
  return imageSourceKind(source).sentFromRunner ? images : 0;
}

/**
 * The runner's part of obtaining a release's images, before the NAS's phase:
 * with a source the runner sends, each image built and streamed in turn (the
 * step names it and its services when the release has several); nothing for
 * the other sources. The first failure ends it, before anything changed on the NAS.
 */
export async function imagesFromRunner(
  nas: Nas,
  progress: Progress,
  source: ImageSource,
  p: {
    images: readonly { image: string; buildContext: string; dockerfile: string; services?: readonly string[] }[];
    tag: string;
    commit: string;
    layers?: NasLayers;
    inventory: (image: string) => readonly ImageTag[];
    platform?: string;
  },
): Promise<RunnerImageResult> {
  if (!imageSourceKind(source).sentFromRunner) return { ok: true };
  // the chains grow with each image sent, so a later image leaves out the layers an earlier one brought
  const layers = { chains: [...(p.layers?.chains ?? [])] };
  for (const i of p.images) {
    const ref = `${i.image}:${p.tag}`;
    const fromRunner = await imageFromRunner(nas, progress, {
      image: i.image,
      tag: p.tag,
      commit: p.commit,
      context: i.buildContext,
      dockerfile: i.dockerfile,
      layers,
      inventory: p.inventory(i.image),
      ...(i.services ? { step: `${RUNNER_STEP} (${ref}, for ${i.services.join(', ')})` } : {}),
      ...(p.platform ? { platform: p.platform } : {}),
    });
    if (!fromRunner.ok) return fromRunner;
    if (fromRunner.sent && i !== p.images[p.images.length - 1]) layers.chains.push(await imageLayers(ref));
  }
  return { ok: true };
}

/** A runner image that never reached the NAS: the release ends there, recorded, before any container changed. */
export async function runnerFailed(
  nas: Nas,
  progress: Progress,
  release: { tag: string; commit: string },
  failed: { error: string; detail: string },
): Promise<FlowResult> {
  progress.fail(failed.error);
  await nas.finish('failure', { ...release, detail: failed.detail });
  return { ok: false, outputs: {}, error: `deploy-backend failed before any container changed: ${failed.error}` };
}
