import { statSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { HEALTH_URL, REPO, connection, pushCommit, resetNas, runAction, tagOf } from './harness.js';

const deploy = (extra: Record<string, string> = {}, onStdout?: (chunk: string) => void) =>
  runAction('deploy-backend', connection({ 'health-url': HEALTH_URL, ...extra }), onStdout ? { onStdout } : {});

describe('defect 12.13: a dry-run beside a real release', () => {
  beforeAll(async () => {
    resetNas();
    expect((await deploy()).code).toBe(0);
  });

  it('does not write to the checkout, and does not call the running release interrupted', async () => {
    const sha = pushCommit({ 'backend/www/version': 'dry-run neighbour\n' }, 'A release a dry run runs beside');
    let dryRun: Promise<Awaited<ReturnType<typeof deploy>>> | undefined;
    let fetchedBefore = 0;
    // The real release holds the lock and sits in its pre-deploy hook while the dry run looks.
    const real = deploy({ 'pre-deploy': 'sleep 4' }, (chunk) => {
      if (!dryRun && chunk.includes('Running pre-deploy')) {
        fetchedBefore = statSync(`${REPO}/.git/FETCH_HEAD`).mtimeMs;
        dryRun = deploy({ 'dry-run': 'true' });
      }
    });
    const realRun = await real;
    expect(dryRun, 'the dry run never started').toBeDefined();
    const dry = await dryRun!;
    expect(realRun.code, realRun.stdout).toBe(0);
    expect(realRun.outputs.DEPLOYED_BACKEND_TAG).toBe(tagOf(sha));
    expect(dry.code, dry.stdout).toBe(0);
    expect(dry.stdout).not.toMatch(/was interrupted/);
    expect(dry.stdout).toMatch(/A release is running on the NAS right now: deploy-backend/);
    // It did not fetch (that can make the real release's fetch fail with "cannot lock ref"): it says it would.
    expect(dry.stdout).toMatch(/dry-run, would run: \S*git -C \S+ fetch/);
    expect(statSync(`${REPO}/.git/FETCH_HEAD`).mtimeMs).toBe(fetchedBefore);
    // The next real operation does not call the finished release interrupted either.
    const after = await deploy();
    expect(after.code, after.stdout).toBe(0);
    expect(after.stdout).not.toMatch(/was interrupted/);
  });
});
