import { parseHostKeys, type PinnedKey } from '../ssh/host-key.js';
import type { ConnectOptions } from '../ssh/session.js';
import { InputError, PATTERNS, type InputReader } from './reader.js';

import type { ComposeChoice } from '../remote/nas.js';

export type { ComposeChoice };

/** The inputs every action shares: how to reach the NAS (what the SSH session takes) and where the checkout is. */
export interface ConnectionInputs extends Omit<ConnectOptions, 'onRetry'> {
  repoPath: string;
  composeCommand: ComposeChoice;
  lockTimeout: number;
  dryRun: boolean;
  remotePath: string;
  sudo: boolean;
  /** The secret values given, to mask in the log. */
  secrets: string[];
}

export function readConnection(r: InputReader): ConnectionInputs {
  const host = r.matching('host', PATTERNS.host, 'a host name or an IP address');
  const port = r.int('port', 1, 65535);
  const username = r.matching('username', PATTERNS.username, 'a user name (letters, digits, . _ - @)');
  const privateKey = r.string('private-key', { multiline: true, trim: false }).trim();
  const passphrase = r.string('passphrase', { trim: false });
  const password = r.string('password', { trim: false });
  if (privateKey && !/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(privateKey)) {
    throw new InputError(
      'private-key',
      'is not a private key (expected a -----BEGIN ... PRIVATE KEY----- block, OpenSSH or PEM)',
    );
  }
  if (!privateKey && !password)
    throw new InputError('private-key', 'or password is required: give the SSH private key (or a password)');
  let hostKeys: PinnedKey[];
  try {
    hostKeys = parseHostKeys(r.string('host-key', { multiline: true }));
  } catch (err) {
    throw new InputError('host-key', (err as Error).message);
  }
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
    connectTimeout: r.int('connect-timeout', 1, 3600),
    repoPath,
    composeCommand: r.oneOf('compose-command', ['auto', 'docker compose', 'docker-compose'] as const),
    lockTimeout: r.int('lock-timeout', 0, 86400),
    dryRun: r.bool('dry-run'),
    remotePath,
    sudo: r.bool('sudo'),
    secrets: [privateKey, passphrase, password].filter(Boolean),
  };
}
