import { readCleanupBackend, type CleanupBackendInputs } from '../../inputs/backend.js';
import type { Nas } from '../../nas/nas.js';
import { imagesState, removeImages, runningTag, type ImagesState } from '../../programs/backend.js';
import { BACKUP_LIBRARY, decodeListing, listingValue } from '../../programs/backups.js';
import { previousRelease, type HistoryRecord } from '../../remote/history.js';
import { Steps, type StateQuestions } from '../../remote/program.js';
import { colorsState, liveTag, tagsInUse } from '../../programs/blue-green.js';
import { lines } from '../../remote/shell.js';
import { pruneReleases } from '../../programs/releases.js';
import type { BackupEntry } from '../../rules/backups.js';
import { pruneBackups } from './backup.js';
import type { Progress } from '../../report/progress.js';
import { reportInProgress } from '../failures.js';
import { defineFlow } from '../flow.js';
import { datedTags, freedBytes, planCleanup, type ImageTag } from '../../rules/images.js';
import { servicesImages, serviceTag } from '../../programs/services.js';
import { imageHistory, previousServiceRelease } from '../../rules/services.js';
import type { FlowResult } from '../flow.js';

export const CLEANUP_STEPS = new Steps({
  lock: 'Taking the release lock',
  list: 'Listing images',
  remove: 'Removing old images',
});

export interface CleanupResult {
  keep: string[];
  /** What was removed (or, in a dry run, would be). */
  removed: string[];
  /** Planned, but docker refused (a container still uses it). */
  failed: string[];
  freedBytes: number;
}

/** Removes what the keep-rules let go, in one remote call whatever their number. */
export async function cleanupImages(
  nas: Nas,
  progress: Progress,
  o: {
    image: string;
    keep: number;
    running?: string;
    rollbackTarget?: string;
    /** More tags that must stay (the running and rollback tags of other services of the image). */
    protect?: readonly string[];
    inventory: ImageTag[];
    history: readonly HistoryRecord[];
    pruneDangling: boolean;
    /** Tags containers use (the colours of blue-green): never removed. */
    inUse?: readonly string[];
    /** The work tree: with project-source: runner, the release folders of the removed tags go with them. */
    repo?: string;
  },
): Promise<CleanupResult> {
  const plan = planCleanup(
    o.inventory,
    o.keep,
    [o.running, o.rollbackTarget, ...(o.protect ?? []), ...(o.inUse ?? [])],
    o.history,
  );
  progress.detail(
    `Keeping ${plan.keep.length} dated tag(s) of ${o.image} (keep ${o.keep}; always the running tag${o.running ? ` ${o.running}` : ''}${o.rollbackTarget ? `, the rollback target ${o.rollbackTarget}` : ''}${o.protect?.length ? `, the services' running and rollback tags ${[...new Set(o.protect)].join(' ')}` : ''}, latest and undated tags)`,
  );
  if (plan.remove.length === 0 && !o.pruneDangling) {
    progress.ok('Nothing to remove');
    return { keep: plan.keep, removed: [], failed: [], freedBytes: 0 };
  }
  const outcome = await nas.runProgram(removeImages(nas.render, o.image, plan.remove, o.pruneDangling));
  if (outcome.code !== 0) progress.warn(`Removing images ended with exit code ${outcome.code}`);
  const { removed, kept } = outcome.values;
  // Freed bytes count only images whose every tag really went.
  const freed = freedBytes(o.inventory, new Set(removed));
  const keep = datedTags(o.inventory, o.history).filter((t) => plan.keep.includes(t) || kept.includes(t));
  for (const tag of removed) progress.detail(`${nas.dryRun ? 'would remove' : 'removed'} ${o.image}:${tag}`);
  for (const tag of kept) progress.warn(`Could not remove ${o.image}:${tag} (still used by a container?); it is kept`);
  progress.ok(
    `${nas.dryRun ? 'Would remove' : 'Removed'} ${removed.length} image tag(s), about ${(freed / 1e6).toFixed(1)} MB`,
  );
  const prune = o.repo
    ? pruneReleases(nas.render, o.repo, removed, [
        ...keep,
        ...[o.running, o.rollbackTarget, ...(o.protect ?? []), ...(o.inUse ?? [])].filter((t): t is string => !!t),
        ...o.history.filter((r) => r.stack === 'monitoring' && r.tag).map((r) => r.tag),
      ])
    : undefined;
  if (prune) {
    const pruned = await nas.runProgram(prune);
    if (pruned.values.length)
      progress.detail(`Removed the release folders ${pruned.values.join(', ')} with their images`);
  }
  return { keep, removed, failed: kept, freedBytes: freed };
}

/**
 * cleanup-backend's first questions: what runs, the image's tags, and the backups there are (not read through).
 * What runs is the live blue-green colour's image when one serves (found through compose's labels: the colours
 * never run under `container`), else the container's.
 */
export function cleanupState(
  settings: CleanupBackendInputs,
): StateQuestions<ImagesState & { backups: BackupEntry[]; inUse: string[] }> {
  const { image } = settings;
  const colors = colorsState(settings.conn.repoPath, settings);
  const images = imagesState(image, settings.container);
  const inUse = tagsInUse(image);
  return {
    // the colours' questions first: they run in the background, and the image's tags wait for them
    script: (r) =>
      lines(
        colors.script(r),
        images.script(r),
        inUse.script(r),
        BACKUP_LIBRARY,
        listingValue(settings.backups.dir, { quick: true }),
      ),
    decode: (values) => {
      const running = images.decode(values);
      const live = liveTag(image, colors.decode(values));
      return {
        ...running,
        ...(live ? { runningImage: `${image}:${live}` } : {}),
        inUse: inUse.decode(values),
        backups: decodeListing(values),
      };
    },
  };
}

/** cleanup-backend: keep the newest dated tags, never the running one or the rollback target; prune backups alike. */
export const cleanupBackend = defineFlow<CleanupBackendInputs>({
  kind: { action: 'cleanup-backend', stack: 'backend', locking: true },
  settings: readCleanupBackend,
  async run(settings, nas, { progress }) {
    const { conn, image } = settings;
    progress.banner('Backend Image Cleanup - NAS Local');
    progress.plan(CLEANUP_STEPS.count);
    progress.step(`${CLEANUP_STEPS.text('lock')} on ${conn.host}`);
    const state = await nas.readState(cleanupState(settings));
    reportInProgress(progress, state.inProgress);
    progress.step(`Listing ${image} images`);
    if (settings.services.length) return cleanupServices(settings, nas, progress, state.history, state.answers.backups);
    const running = runningTag(image, state.answers.runningImage) || undefined;
    const { inventory } = state.answers;
    progress.ok(`${inventory.length} tag(s) found; running: ${running ?? 'none'}`);
    progress.step(CLEANUP_STEPS.text('remove'));
    const result = await cleanupImages(nas, progress, {
      image,
      keep: settings.keep,
      running,
      repo: conn.repoPath,
      rollbackTarget: running ? previousRelease(state.history, 'backend', running) : undefined,
      inventory,
      history: state.history,
      pruneDangling: settings.pruneDangling,
      inUse: state.answers.inUse, // a warm colour's image
    });
    const { backups } = state.answers;
    const left = backups.length
      ? await pruneBackups(nas, progress, {
          dir: settings.backups.dir,
          keep: settings.backups.keep,
          running: running ?? '',
          history: state.history,
          entries: backups,
        })
      : backups;
    const removedBackups = backups.filter((b) => !left.includes(b)).map((b) => b.id);
    if (backups.length && !nas.dryRun)
      progress.ok(
        `${nas.dryRun ? 'Would remove' : 'Removed'} ${removedBackups.length} of ${backups.length} backup(s) in ${settings.backups.dir}`,
      );
    const outputs = {
      REMOVED_TAGS: JSON.stringify(result.removed),
      KEPT_TAGS: JSON.stringify(result.keep),
      FREED_BYTES: String(result.freedBytes),
      REMOVED_BACKUPS: JSON.stringify(nas.dryRun ? [] : removedBackups),
    };
    const removedText = `removed ${result.removed.length} tag(s)${result.removed.length ? `: ${result.removed.join(' ')}` : ''}`;
    await nas.finish('success', {
      detail: `${removedText}${removedBackups.length ? `; ${removedBackups.length} backup(s)` : ''}`.slice(0, 300),
    });
    progress.results(conn.dryRun ? 'CLEANUP DRY-RUN COMPLETE' : 'CLEANUP COMPLETE', outputs);
    await progress.platform.addSummary(
      `### Backend images cleaned up\n\nKept ${result.keep.length}, removed ${result.removed.length} (${(result.freedBytes / 1e6).toFixed(1)} MB).\n`,
    );
    return { ok: true, outputs };
  },
});

/**
 * cleanup-backend with several services: the newest `keep` dated
 * tags of each image stay, and never a tag any service of the image runs or
 * would go back to in an empty-tag rollback. Outputs name `image:tag`.
 */
async function cleanupServices(
  settings: CleanupBackendInputs,
  nas: Nas,
  progress: Progress,
  history: readonly HistoryRecord[],
  backups: BackupEntry[],
): Promise<FlowResult> {
  const { conn, services } = settings;
  progress.step(`Listing the images of ${services.map((s) => s.name).join(', ')}`);
  const asked = await nas.runProgram(servicesImages(nas.render, conn.repoPath, settings.composeFile, services));
  const running = services.map((s, i) => serviceTag(s.image, asked.values.runningImages[i] ?? ''));
  for (const [i, s] of services.entries()) progress.detail(`${s.name}: runs ${s.image}:${running[i] || '(nothing)'}`);
  progress.step(CLEANUP_STEPS.text('remove'));
  const removed: string[] = [];
  const kept: string[] = [];
  let freed = 0;
  for (const [image, inventory] of asked.values.inventory) {
    const protect = services.flatMap((s, i) =>
      s.image === image && running[i] ? [running[i], previousServiceRelease(history, s.name, running[i]) ?? ''] : [],
    );
    const result = await cleanupImages(nas, progress, {
      image,
      keep: settings.keep,
      protect: protect.filter(Boolean),
      repo: conn.repoPath,
      inventory,
      history: imageHistory(history, image),
      pruneDangling: false,
    });
    removed.push(...result.removed.map((t) => `${image}:${t}`));
    kept.push(...result.keep.map((t) => `${image}:${t}`));
    freed += result.freedBytes;
  }
  if (settings.pruneDangling) await nas.runProgram(removeImages(nas.render, services[0].image, [], true));
  const left = backups.length
    ? await pruneBackups(nas, progress, {
        dir: settings.backups.dir,
        keep: settings.backups.keep,
        running: running[0] ?? '',
        history,
        entries: backups,
      })
    : backups;
  const removedBackups = nas.dryRun ? [] : backups.filter((b) => !left.includes(b)).map((b) => b.id);
  const outputs = {
    REMOVED_TAGS: JSON.stringify(removed),
    KEPT_TAGS: JSON.stringify(kept),
    FREED_BYTES: String(freed),
    REMOVED_BACKUPS: JSON.stringify(removedBackups),
  };
  await nas.finish('success', {
    detail: `removed ${removed.length} tag(s)${removed.length ? `: ${removed.join(' ')}` : ''}`.slice(0, 300),
  });
  progress.results(conn.dryRun ? 'CLEANUP DRY-RUN COMPLETE' : 'CLEANUP COMPLETE', outputs);
  await progress.platform.addSummary(
    `### Service images cleaned up\n\nKept ${kept.length}, removed ${removed.length} (${(freed / 1e6).toFixed(1)} MB).\n`,
  );
  return { ok: true, outputs };
}
