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

/** A build that prints about 3 MB: its log fills what is left of the small volume, markers and all. */
const CHATTY_BUILD = {
  'backend/Dockerfile': [
    'FROM nas-base:latest',
    'RUN i=0; while [ $i -lt 30000 ]; do echo "filler line $i ........................................................................"; i=$((i+1)); done',
    'COPY www /www',
    'CMD ["httpd", "-f", "-p", "127.0.0.1:18080", "-h", "/www"]',
    '',
  ].join('\n'),
};

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
    const sha = pushCommit(CHATTY_BUILD, 'A build that prints a lot');
    // Leave about 400 KB: enough for the fetch, the lock and the phase's files, not for the build's log.
    asNas([
      'sh',
      '-c',
      `avail=$(df -Pk ${SMALL} | awk 'NR==2 {print $4}'); head -c $(( (avail - 400) * 1024 )) /dev/zero > ${SMALL}/ballast`,
    ]);
    const run = await runAction('deploy-backend', connection({ 'repo-path': REPO, 'health-url': HEALTH_URL }));
    const runs = containerImage('scanium-backend');
    expect(sh(`df -Pk ${SMALL} | awk 'NR==2 {print $4}'`).trim()).toBe('0'); // the disk did fill up
    expect(run.code).toBe(1);
    if (runs === `scanium-backend:${tagOf(sha)}`) expect(run.stdout).not.toMatch(/before any container changed/);
    // What runs now is named, and the outputs say the same.
    expect(run.stdout).toContain(`the backend now runs ${runs}`);
    expect(run.outputs.BACKEND_IMAGE).toBe(runs);
  });
});
