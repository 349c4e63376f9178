import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { beforeEach, describe, expect, it } from 'vitest';
import { parseSize } from '../../src/rules/images.js';
import {
  HEALTH_URL,
  REPO,
  connection,
  containerImage,
  docker,
  historyLines,
  originHead,
  pushCommit,
  resetNas,
  runAction,
  tagOf,
} from './harness.js';

const tagsOf = (): string[] =>
  docker('image', 'ls', 'scanium-backend', '--format', '{{.Tag}}').split('\n').filter(Boolean);

/** Builds `scanium-backend:<tag>` by hand, as the hand-run script did: a new image (its own creation time) on top of `from`. */
function buildByHand(from: string, tag: string): void {
  execFileSync('docker', ['build', '--quiet', '--tag', `scanium-backend:${tag}`, '-'], {
    input: `FROM scanium-backend:${from}\nLABEL nr.test.built-as=${tag}\n`,
    stdio: ['pipe', 'ignore', 'pipe'],
  });
}

/** The bytes docker reports for a tag's image. */
const sizeOf = (tag: string): number =>
  parseSize(docker('image', 'ls', `scanium-backend:${tag}`, '--format', '{{.Size}}'));

describe('cleanup-backend against the stand-in NAS', () => {
  beforeEach(() => resetNas());

  it('keeps the newest 5 of 30 dated tags and never the running tag, the rollback target, latest or undated tags; dry-run removes nothing', async () => {
    const a = tagOf(originHead());
    expect((await runAction('deploy-backend', connection({ 'health-url': HEALTH_URL }))).code).toBe(0);
    const b = tagOf(pushCommit({ 'backend/www/version': 'b\n' }, 'B'));
    expect((await runAction('deploy-backend', connection({ 'health-url': HEALTH_URL }))).code).toBe(0);
    // B runs, A is where an empty-tag rollback would go. Both are dated today; 30 newer-looking ones are not.
    const old = Array.from(
      { length: 30 },
      (_, i) => `2020.01.${String((i % 28) + 1).padStart(2, '0')}-${(0xabc0000 + i).toString(16)}`,
    );
    const future = [
      '2099.12.31-f000001',
      '2099.12.30-f000002',
      '2099.12.29-f000003',
      '2099.12.28-f000004',
      '2099.12.27-f000005',
    ];
    for (const t of [...old, ...future, 'latest', 'handmade'])
      docker('tag', `scanium-backend:${a}`, `scanium-backend:${t}`);
    const before = tagsOf();

    const dry = await runAction('cleanup-backend', connection({ keep: '5', 'dry-run': 'true' }));
    expect(dry.code, dry.stdout).toBe(0);
    expect(tagsOf().sort()).toEqual(before.sort());
    expect(JSON.parse(dry.outputs.REMOVED_TAGS)).toHaveLength(30);

    const run = await runAction('cleanup-backend', connection({ keep: '5' }));
    expect(run.code, run.stdout).toBe(0);
    const kept = JSON.parse(run.outputs.KEPT_TAGS) as string[];
    const removed = JSON.parse(run.outputs.REMOVED_TAGS) as string[];
    expect(kept).toEqual([...future, b, a]);
    expect(removed.sort()).toEqual(old.sort());
    expect(run.outputs.FREED_BYTES).toBe('0'); // the 30 tags all named the image A, which stays
    expect(tagsOf().sort()).toEqual([...future, a, b, 'latest', 'handmade'].sort());
    expect(containerImage('scanium-backend')).toBe(`scanium-backend:${b}`);
    expect(historyLines().at(-1)).toMatchObject({ action: 'cleanup-backend', outcome: 'success' });

    const rolled = await runAction('rollback-backend', connection({ 'health-url': HEALTH_URL }));
    expect(rolled.code, rolled.stdout).toBe(0);
    expect(rolled.outputs.DEPLOYED_BACKEND_TAG).toBe(a);
  });

  it('defect 12.4: without history, same-day tags keep the running one and the real previous release, not the oldest', async () => {
    const head = tagOf(originHead());
    const deployed = await runAction('deploy-backend', connection({ 'health-url': HEALTH_URL }));
    expect(deployed.code, deployed.stdout).toBe(0);
    // Released by hand after it, in the order eeeeeee, 2222222, aaaaaaa: the reverse of their shas' order.
    const day = head.slice(0, 10);
    const [e, two, a] = ['eeeeeee', '2222222', 'aaaaaaa'].map((sha) => `${day}-${sha}`);
    for (const tag of [e, two, a]) {
      await sleep(1100); // docker's creation times count whole seconds
      buildByHand(head, tag);
    }

    // A re-run of the deploy makes the head the newest release; the recent tags follow, newest first.
    const again = await runAction('deploy-backend', connection({ 'health-url': HEALTH_URL }));
    expect(again.code, again.stdout).toBe(0);
    expect(again.stdout).toContain(`Recent tags: ${[head, a, two, e].join(', ')}`);

    const rolled = await runAction('rollback-backend', connection({ 'health-url': HEALTH_URL, tag: a }));
    expect(rolled.code, rolled.stdout).toBe(0);
    expect(containerImage('scanium-backend')).toBe(`scanium-backend:${a}`);
    // The history is gone (a re-cloned checkout): only the images' creation times are left to go by.
    writeFileSync(join(REPO, '.git/nas-release/history.jsonl'), '');

    const run = await runAction('cleanup-backend', connection({ keep: '2' }));
    expect(run.code, run.stdout).toBe(0);
    expect(JSON.parse(run.outputs.KEPT_TAGS)).toEqual([a, two]);
    expect(JSON.parse(run.outputs.REMOVED_TAGS)).toEqual([e, head]);
    expect(tagsOf().sort()).toEqual([a, two].sort());
    expect(containerImage('scanium-backend')).toBe(`scanium-backend:${a}`);
  });

  it('defect 12.14: a tag docker could not remove is neither reported nor counted as removed', async () => {
    const head = tagOf(originHead());
    const deployed = await runAction('deploy-backend', connection({ 'health-url': HEALTH_URL }));
    expect(deployed.code, deployed.stdout).toBe(0);
    const [held, free] = ['2020.01.01-aaaaaaa', '2020.01.02-bbbbbbb'];
    buildByHand(head, held);
    buildByHand(head, free);
    // A stopped container of another name uses the held tag's image: `docker image rm` refuses that tag.
    // It is created from the image's id, so cleanup cannot see it uses the tag (a container that names the
    // tag is kept by cleanup's in-use check, and then docker is never asked).
    const heldId = docker('image', 'inspect', '--format', '{{.Id}}', `scanium-backend:${held}`);
    docker('create', '--name', 'scanium-holder', heldId);
    const freeBytes = sizeOf(free);
    expect(freeBytes).toBeGreaterThan(0);

    const run = await runAction('cleanup-backend', connection({ keep: '1' }));
    expect(run.code, run.stdout).toBe(0);
    expect(JSON.parse(run.outputs.REMOVED_TAGS)).toEqual([free]);
    expect(run.outputs.FREED_BYTES).toBe(String(freeBytes));
    expect(run.stdout).toContain(`removed scanium-backend:${free}`);
    expect(run.stdout).not.toContain(`removed scanium-backend:${held}`);
    expect(run.stdout).toMatch(new RegExp(`::warning::Could not remove scanium-backend:${held.replace(/\./g, '\\.')}`));
    expect(run.stdout).toContain('Removed 1 image tag(s)');
    expect(tagsOf().sort()).toEqual([head, held].sort());
    expect(historyLines().at(-1)).toMatchObject({ action: 'cleanup-backend', outcome: 'success' });
    expect(historyLines().at(-1)?.detail).toBe(`removed 1 tag(s): ${free}`);
  });

  it('names the listing step after the lock is held (step 1), not before', async () => {
    const run = await runAction('cleanup-backend', connection({ keep: '5' }));
    expect(run.code, run.stdout).toBe(0);
    const lock = run.stdout.indexOf('Release lock held');
    const listing = run.stdout.indexOf('Listing scanium-backend images');
    expect(lock).toBeGreaterThan(0);
    expect(listing).toBeGreaterThan(lock);
  });
});
