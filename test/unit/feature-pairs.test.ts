import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readDeployBackend, readRollbackBackend } from '../../src/inputs/backend.js';
import { InputReader } from '../../src/inputs/reader.js';
import { fingerprint } from '../../src/ssh/host-key.js';
import { CONNECTION_INPUTS } from '../support/settings.js';

/**
 * Every pair of release features is accepted together: a feature that works alone works beside every other one.
 * The inputs of each feature are what a user would write to turn it on.
 */
const GUARD = 'errors: sum(rate(http_requests_total{code=~"5.."}[1m])) > 0.01 for 30s';

const work = mkdtempSync(join(tmpdir(), 'feature-pairs-'));
let jump: Record<string, string> = {};
beforeAll(() => {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'ci', '-f', join(work, 'jump')]);
  const pub = readFileSync(join(work, 'jump.pub'), 'utf8').trim();
  jump = {
    'jump-host': 'bastion.example.org',
    'jump-username': 'tunnel',
    'jump-private-key': readFileSync(join(work, 'jump'), 'utf8'),
    'jump-host-key': fingerprint(Buffer.from(pub.split(' ')[1], 'base64')),
  };
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

const DEPLOY: Record<string, () => Record<string, string>> = {
  'image-source registry': () => ({
    'image-source': 'registry',
    registry: '127.0.0.1:5000',
    image: '127.0.0.1:5000/shop',
    'image-tag': 'abc123',
  }),
  'image-source runner': () => ({ 'image-source': 'runner' }),
  services: () => ({ services: 'api\nworker' }),
  'blue-green': () => ({ strategy: 'blue-green', 'proxy-upstream-file': 'backend/nginx/upstream.conf' }),
  watch: () => ({ watch: '5m', 'watch-interval': '15s', guards: GUARD }),
  'volume backup': () => ({ 'backup-volumes': 'uploads' }),
  'database backup': () => ({ 'backup-databases': 'postgres:db/app' }),
  'env file': () => ({ 'env-file': 'backend/.env', 'env-file-content': 'API_KEY=0123456789abcdef\n' }),
  'auto-rollback-restore': () => ({ 'backup-databases': 'postgres:db/app', 'auto-rollback-restore': 'true' }),
  'jump host': () => jump,
};

const ROLLBACK: Record<string, () => Record<string, string>> = {
  'restore-backup': () => ({ 'restore-backup': 'auto' }),
  services: () => ({ services: 'api, worker' }),
  'blue-green': () => ({ strategy: 'blue-green', 'proxy-upstream-file': 'backend/nginx/upstream.conf' }),
  registry: () => ({ 'image-source': 'registry', registry: '127.0.0.1:5000', image: '127.0.0.1:5000/shop' }),
  'env file': () => ({ 'env-file': 'backend/.env', 'env-file-content': 'API_KEY=0123456789abcdef\n' }),
};

/** Two values of one input (image-source registry or runner) are one choice, not a pair. */
function pairs(features: Record<string, () => Record<string, string>>): [string, string][] {
  const names = Object.keys(features);
  const sameInput = (a: string, b: string): boolean => a.split(' ')[0] === b.split(' ')[0];
  return names.flatMap((a, i) =>
    names.slice(i + 1).flatMap((b): [string, string][] => (sameInput(a, b) ? [] : [[a, b]])),
  );
}

const reader = (action: string, raw: Record<string, string>): InputReader =>
  new InputReader(action, (name) => ({ ...CONNECTION_INPUTS, ...raw })[name]);

describe('every pair of deploy-backend features is accepted', () => {
  it.each(pairs(DEPLOY))('%s with %s', (a, b) => {
    const inputs = { ...DEPLOY[a](), ...DEPLOY[b]() };
    const read = readDeployBackend(reader('deploy-backend', inputs));
    expect(read.conn.host).toBe(CONNECTION_INPUTS.host);
  });
});

describe('every pair of rollback-backend features is accepted', () => {
  it.each(pairs(ROLLBACK))('%s with %s', (a, b) => {
    const inputs = { ...ROLLBACK[a](), ...ROLLBACK[b]() };
    const read = readRollbackBackend(reader('rollback-backend', inputs));
    expect(read.conn.host).toBe(CONNECTION_INPUTS.host);
  });
});
