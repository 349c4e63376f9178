import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connection, HEALTH_URL, REPO, resetNas, runAction, sh } from './harness.js';

const LOCK = `${REPO}/.git/nas-release/lock`;
const HISTORY = `${REPO}/.git/nas-release/history.jsonl`;

/** Kills the NAS processes that hold the release lock open, as a crash or an OOM kill would. */
function killLockHolder(): string {
  return sh(`for p in /proc/[0-9]*; do
  for f in "$p"/fd/*; do [ "$(readlink "$f" 2>/dev/null)" = ${JSON.stringify(LOCK)} ] && { echo "\${p#/proc/}"; kill -9 "\${p#/proc/}"; break; }; done
done; true`);
}

describe('defect 12.10: losing the release lock goes unnoticed', () => {
  // A git whose fetch answers slowly: the lock is lost while the first questions run, before any change.
  const slow = mkdtempSync(join(tmpdir(), 'nr-slow-git-'));
  beforeAll(() => {
    chmodSync(slow, 0o755);
    writeFileSync(
      join(slow, 'git'),
      '#!/bin/sh\ncase " $* " in *" fetch "*) sleep 3 ;; esac\nexec /usr/bin/git "$@"\n',
      { mode: 0o755 },
    );
    resetNas();
  });
  afterAll(() => rmSync(slow, { recursive: true, force: true }));

  it('stops before the next state-changing step, changes nothing, and the history says why', async () => {
    let killed = '';
    const run = await runAction(
      'deploy-backend',
      connection({ 'health-url': HEALTH_URL, 'remote-path': `${slow}:/usr/local/bin:/usr/bin:/bin` }),
      {
        onStdout: (chunk) => {
          if (!killed && chunk.includes('Release lock held')) killed = killLockHolder() || 'none found';
        },
      },
    );
    expect(killed).toMatch(/^\d+/);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/The release lock was lost at "Reading the NAS state"/);
    expect(run.stdout).not.toMatch(/\[2\/8\] Updating repository/);
    // Nothing was released: no backend container exists.
    expect(sh('docker ps -a --filter name=^scanium-backend$ --format "{{.Names}}"').trim()).toBe('');
    const last = JSON.parse(readFileSync(HISTORY, 'utf8').trim().split('\n').pop() ?? '{}') as {
      outcome?: string;
      detail?: string;
    };
    expect(last.outcome).toBe('failure');
    expect(last.detail).toMatch(/release lock was lost/);
  });
});

describe('data safety 6: a process a hook leaves running holds no lock', () => {
  // The hook's background process writes its pid here (world-writable: the hook runs as the NAS user).
  const dir = mkdtempSync(join(tmpdir(), 'nr-hook-'));
  const pidFile = join(dir, 'pid');
  const left = (): string => sh(`cat ${pidFile} 2>/dev/null; true`).trim();
  beforeAll(() => {
    chmodSync(dir, 0o777);
    resetNas();
  });
  afterAll(() => {
    if (/^\d+$/.test(left())) sh(`kill ${left()} 2>/dev/null; true`);
    rmSync(dir, { recursive: true, force: true });
  });

  it('a pre-deploy hook that starts `nohup sleep &` does not block the next release', async () => {
    const hook = `nohup sleep 600 >/dev/null 2>&1 & echo $! > ${pidFile}`;
    const first = await runAction('deploy-backend', connection({ 'health-url': HEALTH_URL, 'pre-deploy': hook }));
    expect(first.code, first.stdout).toBe(0);
    // the hook's process still runs: what it holds open is what the next release would wait for
    expect(left()).toMatch(/^\d+$/);
    expect(sh(`kill -0 ${left()} && echo alive; true`).trim()).toBe('alive');
    const second = await runAction('deploy-backend', connection({ 'health-url': HEALTH_URL, 'lock-timeout': '15' }));
    expect(second.stdout).not.toContain('waiting for a release phase left running');
    expect(second.code, second.stdout).toBe(0);
  });
});
