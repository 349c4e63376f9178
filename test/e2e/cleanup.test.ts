import { beforeEach, describe, expect, it } from 'vitest';
import {
  HEALTH_URL,
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
});
