import { readCleanupBackend } from '../../inputs/backend.js';
import type { InputReader } from '../../inputs/reader.js';
import { docker } from '../../remote/docker.js';
import { previousRelease } from '../../remote/history.js';
import { lines, sh, type Shell } from '../../remote/shell.js';
import type { Progress } from '../../report/progress.js';
import { Operation } from '../operation.js';
import type { FlowResult } from '../run.js';
import { freedBytes, parseImageTags, planCleanup, type CleanupPlan, type ImageTag } from './images.js';

/** Reports the image listing (`docker.imageTags` lines) as the value `tags_b64` (any number of them). */
export function imageTagsValue(op: Operation, image: string): Shell {
  return sh`nr_value tags_b64 "$(${op.render.run(docker.imageTags(image))} | base64 | tr -d '\\n')"`;
}

/** The value `removed_<i>` is `yes` when the i-th planned tag went. */
const REMOVED_VALUE = 'removed_';

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
  const plan = planCleanup(o.inventory, o.keep, [o.running, o.rollbackTarget], op.history);
  progress.detail(
    `Keeping ${plan.keep.length} dated tag(s) of ${o.image} (keep ${o.keep}; always the running tag${o.running ? ` ${o.running}` : ''}${o.rollbackTarget ? `, the rollback target ${o.rollbackTarget}` : ''}, latest and undated tags)`,
  );
  if (plan.remove.length === 0 && !o.pruneDangling) {
    progress.ok('Nothing to remove');
    return plan;
  }
  // One `docker image rm` per tag, each saying whether its tag went: one that fails (a container
  // still uses the image) must not be reported, nor counted, as removed.
  const removal = plan.remove.map(
    (tag, i) =>
      sh`if ${op.render.change(docker.removeImages([`${o.image}:${tag}`]))} >/dev/null; then nr_value ${`${REMOVED_VALUE}${i}`} yes
else nr_say warn ${`Could not remove ${o.image}:${tag} (still used by a container?)`}; fi`,
  );
  const removed = await op.runProgram(
    'Removing old images',
    sh`${removal.length ? lines(...removal) : sh`:`}
${o.pruneDangling ? sh`${op.render.change(docker.pruneDangling())} >/dev/null && nr_say ok 'Dangling images pruned'` : sh`:`}`,
    { timeout: 1800, allowFailure: true },
  );
  if (removed.code !== 0) progress.warn(`Removing images ended with exit code ${removed.code}`);
  const done = op.dryRun ? plan : removedOf(plan, o.inventory, removed.values);
  for (const tag of done.remove) progress.detail(`${op.dryRun ? 'would remove' : 'removed'} ${o.image}:${tag}`);
  progress.ok(
    `${op.dryRun ? 'Would remove' : 'Removed'} ${done.remove.length} image tag(s), about ${(done.freedBytes / 1e6).toFixed(1)} MB`,
  );
  if (done.failed.length)
    progress.warn(`${done.failed.length} tag(s) could not be removed and are still there: ${done.failed.join(' ')}`);
  return done;
}

/** What the removal program says went, and the bytes freed by that alone. */
export function removedOf(plan: CleanupPlan, inventory: readonly ImageTag[], values: Map<string, string>): CleanupPlan {
  const gone = plan.remove.filter((_, i) => values.get(`${REMOVED_VALUE}${i}`) === 'yes');
  return {
    keep: plan.keep,
    remove: gone,
    failed: plan.remove.filter((t) => !gone.includes(t)),
    freedBytes: freedBytes(inventory, new Set(gone)),
  };
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
      // The listing rides on the program that takes the lock: its step is named once the lock line is out.
      const state = await op.readState(
        sh`nr_value running_image "$(${op.render.run(docker.containerImage(inputs.container))} 2>/dev/null)"
${imageTagsValue(op, inputs.image)}`,
      );
      const runningImage = state.get('running_image') ?? '';
      const running = runningImage.startsWith(`${inputs.image}:`)
        ? runningImage.slice(inputs.image.length + 1)
        : undefined;
      const inventory = parseImageTags(Buffer.from(state.get('tags_b64') ?? '', 'base64').toString());
      progress.step(`Listing ${inputs.image} images`);
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
