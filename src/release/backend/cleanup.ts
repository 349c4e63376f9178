import { readCleanupBackend } from '../../inputs/backend.js';
import type { InputReader } from '../../inputs/reader.js';
import { docker } from '../../remote/docker.js';
import { previousRelease } from '../../remote/history.js';
import { sh, type Shell } from '../../remote/shell.js';
import type { Progress } from '../../report/progress.js';
import { Operation } from '../operation.js';
import type { FlowResult } from '../run.js';
import { parseImageTags, planCleanup, type CleanupPlan, type ImageTag } from './images.js';

/** Reports the image's `Tag Size` lines as the value `tags_b64` (any number of them). */
export function imageTagsValue(op: Operation, image: string): Shell {
  return sh`nr_value tags_b64 "$(${op.render.run(docker.imageTags(image))} | base64 | tr -d '\\n')"`;
}

/** Removes what the keep-rules let go, in one remote call whatever their number. */
export async function cleanupImages(
  op: Operation,
  o: {
    image: string;
    keep: number;
    running?: string;
    rollbackTarget?: string;
    inventory: ImageTag[];
    pruneDangling: boolean;
  },
): Promise<CleanupPlan> {
  const { progress } = op;
  const order = op.history.filter((r) => r.stack === 'backend').map((r) => r.tag);
  const plan = planCleanup(o.inventory, o.keep, [o.running, o.rollbackTarget], order);
  progress.detail(
    `Keeping ${plan.keep.length} dated tag(s) of ${o.image} (keep ${o.keep}; always the running tag${o.running ? ` ${o.running}` : ''}${o.rollbackTarget ? `, the rollback target ${o.rollbackTarget}` : ''}, latest and undated tags)`,
  );
  if (plan.remove.length === 0 && !o.pruneDangling) {
    progress.ok('Nothing to remove');
    return plan;
  }
  const refs = plan.remove.map((t) => `${o.image}:${t}`);
  const removed = await op.runProgram(
    'Removing old images',
    sh`${refs.length ? sh`${op.render.change(docker.removeImages(refs))} || nr_say warn 'Some images could not be removed (still used by a container?)'` : sh`:`}
${o.pruneDangling ? sh`${op.render.change(docker.pruneDangling())} >/dev/null && nr_say ok 'Dangling images pruned'` : sh`:`}`,
    { timeout: 1800, allowFailure: true },
  );
  if (removed.code !== 0) progress.warn(`Removing images ended with exit code ${removed.code}`);
  for (const tag of plan.remove) progress.detail(`${op.dryRun ? 'would remove' : 'removed'} ${o.image}:${tag}`);
  progress.ok(
    `${op.dryRun ? 'Would remove' : 'Removed'} ${plan.remove.length} image tag(s), about ${(plan.freedBytes / 1e6).toFixed(1)} MB`,
  );
  return plan;
}

/** cleanup-backend: keep the newest dated tags, never the running one or the rollback target. */
export async function cleanupBackend(reader: InputReader, progress: Progress): Promise<FlowResult> {
  const inputs = readCleanupBackend(reader);
  progress.banner('Backend Image Cleanup - NAS Local');
  progress.plan(3);
  progress.step(`Taking the release lock on ${inputs.conn.host}`);
  return Operation.run(
    { action: 'cleanup-backend', stack: 'backend', conn: inputs.conn, progress, locking: true },
    async (op) => {
      progress.step(`Listing ${inputs.image} images`);
      const state = await op.readState(
        sh`nr_value running_image "$(${op.render.run(docker.containerImage(inputs.container))} 2>/dev/null)"
${imageTagsValue(op, inputs.image)}`,
      );
      const runningImage = state.get('running_image') ?? '';
      const running = runningImage.startsWith(`${inputs.image}:`)
        ? runningImage.slice(inputs.image.length + 1)
        : undefined;
      const inventory = parseImageTags(Buffer.from(state.get('tags_b64') ?? '', 'base64').toString());
      progress.ok(`${inventory.length} tag(s) found; running: ${running ?? 'none'}`);
      progress.step('Removing old images');
      const rollbackTarget = running ? previousRelease(op.history, 'backend', running) : undefined;
      const plan = await cleanupImages(op, {
        image: inputs.image,
        keep: inputs.keep,
        running,
        rollbackTarget,
        inventory,
        pruneDangling: inputs.pruneDangling,
      });
      const outputs = {
        REMOVED_TAGS: JSON.stringify(plan.remove),
        KEPT_TAGS: JSON.stringify(plan.keep),
        FREED_BYTES: String(plan.freedBytes),
      };
      await op.finish('success', {
        detail: `removed ${plan.remove.length} tag(s): ${plan.remove.join(' ')}`.slice(0, 300),
      });
      progress.results(inputs.conn.dryRun ? 'CLEANUP DRY-RUN COMPLETE' : 'CLEANUP COMPLETE', outputs);
      await progress.platform.addSummary(
        `### Backend images cleaned up\n\nKept ${plan.keep.length}, removed ${plan.remove.length} (${(plan.freedBytes / 1e6).toFixed(1)} MB).\n`,
      );
      return { ok: true, outputs };
    },
  );
}
