import { parseHostKeys, type PinnedKey } from '../ssh/host-key.js';
import type { ConnectOptions, JumpOptions } from '../ssh/session.js';
import { InputError, PATTERNS, type InputReader } from './reader.js';

import type { ComposeChoice } from '../remote/nas.js';
import { runnerTree } from '../remote/state-dir.js';
import type { NotifySettings } from '../report/notify.js';
import { readNotify } from './notify.js';

export type { ComposeChoice };

/** The inputs every action shares: how to reach the NAS (what the SSH session takes) and where the checkout is. */
export interface ConnectionInputs extends Omit<ConnectOptions, 'onRetry'> {
  /** The work tree every pipeline uses: the git checkout, or (project-source: runner) the link to a release folder. */
  repoPath: string;
  /** project-source: runner: repo-path as given, the folder holding the release folders. */
  releaseRoot?: string;
  composeCommand: ComposeChoice;
  lockTimeout: number;
  dryRun: boolean;
  remotePath: string;
  sudo: boolean;
  /** The secret values given, to mask in the log. */
  secrets: string[];
  /** Where every action sends its outcome. */
  notify: NotifySettings;
}

export function readConnection(r: InputReader, o: { notify?: boolean } = {}): ConnectionInputs {
  const host = r.matching('host', PATTERNS.host, 'a host name or an IP address');
  const port = r.int('port', 1, 65535);
  const username = r.matching('username', PATTERNS.username, 'a user name (letters, digits, . _ - @)');
  const privateKey = r.string('private-key', { multiline: true, trim: false }).trim();
  const passphrase = r.string('passphrase', { trim: false });
  const password = r.string('password', { trim: false });
  if (privateKey && !isPrivateKey(privateKey)) {
    throw new InputError(
      'private-key',
      'is not a private key (expected a -----BEGIN ... PRIVATE KEY----- block, OpenSSH or PEM)',
    );
  }
  if (!privateKey && !password)
    throw new InputError('private-key', 'or password is required: give the SSH private key (or a password)');
  const hostKeys = readHostKeys(r, 'host-key');
  const jump = readJump(r);
  const skipHostKeyCheck = r.bool('insecure-skip-host-key-check');
  const repoPath = r.matching('repo-path', PATTERNS.absolutePath, 'an absolute path').replace(/(.)\/+$/, '$1');
  const remotePath = r.matching('remote-path', PATTERNS.remotePath, 'absolute directories separated by colons');
  return {
    host,
    port,
    username,
    ...(privateKey ? { privateKey } : {}),
    ...(passphrase ? { passphrase } : {}),
    ...(password && !privateKey ? { password } : {}),
    hostKeys,
    skipHostKeyCheck,
    ...(jump ? { jump } : {}),
    connectTimeout: r.int('connect-timeout', 1, 3600),
    ...projectSource(r, repoPath),
    composeCommand: r.oneOf('compose-command', ['auto', 'docker compose', 'docker-compose'] as const),
    lockTimeout: r.int('lock-timeout', 0, 86400),
    dryRun: r.bool('dry-run'),
    remotePath,
    sudo: r.bool('sudo'),
    // the CLI's read-only day-two commands change nothing, so they have nothing to notify about
    notify: o.notify === false ? { targets: [], on: 'never' } : readNotify(r),
    secrets: [privateKey, passphrase, password, jump?.privateKey, jump?.password].filter((s): s is string => !!s),
  };
}

/** project-source: runner: the pipelines work in the link to the current release folder under repo-path. */
function projectSource(r: InputReader, repoPath: string): { repoPath: string; releaseRoot?: string } {
  if (r.oneOf('project-source', ['git', 'runner'] as const) === 'git') return { repoPath };
  if (repoPath === '/') throw new InputError('repo-path', 'must be a folder below / with project-source: runner');
  return { repoPath: runnerTree(repoPath), releaseRoot: repoPath };
}

function readHostKeys(r: InputReader, input: string): PinnedKey[] {
  try {
    return parseHostKeys(r.string(input, { multiline: true }), input);
  } catch (err) {
    throw new InputError(input, (err as Error).message);
  }
}

function isPrivateKey(text: string): boolean {
  return /-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text);
}

/**
 * The jump host, when jump-host is set. Its other inputs without it are a
 * mistake (a workflow that believes it goes through a bastion), so they are refused.
 * A missing jump-host-key is refused when connecting, where the presented fingerprint can be shown.
 */
function readJump(r: InputReader): JumpOptions | undefined {
  const host = r.matching('jump-host', PATTERNS.host, 'a host name or an IP address');
  const port = r.string('jump-port');
  const username = r.string('jump-username');
  const privateKey = r.string('jump-private-key', { multiline: true, trim: false }).trim();
  const password = r.string('jump-password', { trim: false });
  const hostKeyText = r.string('jump-host-key', { multiline: true });
  if (!host) {
    const given = Object.entries({
      'jump-username': username,
      'jump-private-key': privateKey,
      'jump-password': password,
      'jump-host-key': hostKeyText,
    }).find(([, value]) => value !== '');
    if (given) throw new InputError(given[0], 'is set but jump-host is not: set jump-host to go through a jump host');
    if (port !== '22')
      throw new InputError('jump-port', 'is set but jump-host is not: set jump-host to go through a jump host');
    return undefined;
  }
  if (!username)
    throw new InputError('jump-username', 'is required with jump-host: the user to log in as on the jump host');
  if (!PATTERNS.username.test(username))
    throw new InputError(
      'jump-username',
      `must be a user name (letters, digits, . _ - @), not ${JSON.stringify(username.slice(0, 200))}`,
    );
  if (privateKey && !isPrivateKey(privateKey))
    throw new InputError(
      'jump-private-key',
      'is not a private key (expected a -----BEGIN ... PRIVATE KEY----- block, OpenSSH or PEM)',
    );
  if (!privateKey && !password)
    throw new InputError(
      'jump-private-key',
      "or jump-password is required with jump-host: give the jump host user's SSH private key (or a password)",
    );
  return {
    host,
    port: r.int('jump-port', 1, 65535),
    username,
    ...(privateKey ? { privateKey } : { password }),
    hostKeys: readHostKeys(r, 'jump-host-key'),
  };
}
