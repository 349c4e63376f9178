import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  HEALTH_URL,
  ORIGIN,
  asNas,
  connection,
  containerImage,
  pushCommit,
  resetNas,
  runAction,
  sh,
  tagOf,
} from './harness.js';

/** A repo-path on a small file system of its own, as a NAS volume that fills up. */
const SMALL = '/volume1/small';
const REPO = `${SMALL}/repo`;

describe('defect 12.15: a full disk on the NAS', () => {
  beforeAll(async () => {
    resetNas();
    sh(`umount ${SMALL} 2>/dev/null; rm -rf ${SMALL}; mkdir -p ${SMALL}
mount -t tmpfs -o size=8m,mode=0755 nas-release-small ${SMALL} && chown nas:nas ${SMALL}`);
    asNas(['git', 'clone', '-q', ORIGIN, REPO]);
    // The first release fits: there is something to roll back to.
    const first = await runAction('deploy-backend', connection({ 'repo-path': REPO, 'health-url': HEALTH_URL }));
    expect(first.code, first.stdout).toBe(0);
  });
  afterAll(() => {
    sh(`umount ${SMALL} 2>/dev/null; rm -rf ${SMALL}; true`);
    resetNas();
  });

  it('a release whose log the full disk cut short says what is known, never "before any container changed" by mistake', async () => {
    const sha = pushCommit({ 'backend/www/version': 'full disk\n' }, 'A release on a volume that fills up');
    // Leave about 400 KB: enough for the fetch, the lock and the phase's files, not for the build's log.
    asNas([
      'sh',
      '-c',
      `avail=$(df -Pk ${SMALL} | awk 'NR==2 {print $4}'); head -c $(( (avail - 400) * 1024 )) /dev/zero > ${SMALL}/ballast`,
    ]);
    // The pre-deploy command fills the rest: what the phase prints after it (its markers, maybe its status) is lost.
    const run = await runAction(
      'deploy-backend',
      connection({
        'repo-path': REPO,
        'health-url': HEALTH_URL,
        // Printed, as a chatty build would: the phase's log fills the volume to its last byte.
        'pre-deploy': 'yes filler | head -c 100000000; true',
      }),
    );
    const runs = containerImage('scanium-backend');
    // The disk did fill up: the markers after the pre-deploy command never reached the runner.
    expect(run.stdout).not.toMatch(/DEPLOYMENT COMPLETE/);
    expect(run.stdout).toMatch(/its report from the NAS is incomplete \(is the NAS's disk full\?\)/);
    expect(run.code, run.stdout).toBe(1);
    if (runs === `scanium-backend:${tagOf(sha)}`) expect(run.stdout).not.toMatch(/before any container changed/);
    // What runs now is named, and the outputs say the same.
    expect(run.stdout).toContain(`the backend now runs ${runs}`);
    expect(run.outputs.BACKEND_IMAGE).toBe(runs);
  });
});
