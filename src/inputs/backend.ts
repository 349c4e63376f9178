import { isBackendRollbackTag } from '../rules/tags.js';
import { readConnection, type ConnectionInputs } from './connection.js';
import { InputError, PATTERNS, type InputReader } from './reader.js';
import type { OnDirty } from '../remote/git.js';

/** Where the backend lives on the NAS and how to check it. */
export interface BackendTarget {
  image: string;
  composeFile: string;
  service: string;
  container: string;
  tagVariable: string;
  healthUrl: string;
  healthTimeout: number;
}

export interface CheckoutInputs {
  branch: string;
  remote: string;
  ref: string;
  onDirty: OnDirty;
}

export interface DeployBackendInputs {
  conn: ConnectionInputs;
  target: BackendTarget;
  checkout: CheckoutInputs;
  buildContext: string;
  dockerfile: string;
  autoRollback: boolean;
  preDeploy: string;
  postDeploy: string;
  keepImages: number;
}

export interface RollbackBackendInputs {
  conn: ConnectionInputs;
  target: BackendTarget;
  tag: string;
  force: boolean;
}

export interface CleanupBackendInputs {
  conn: ConnectionInputs;
  image: string;
  container: string;
  keep: number;
  pruneDangling: boolean;
}

function readTarget(r: InputReader): BackendTarget {
  return {
    image: r.matching('image', PATTERNS.image, 'a Docker image name (lowercase, e.g. scanium-backend)'),
    composeFile: r.relativePath('compose-file'),
    service: r.matching('service', PATTERNS.name, 'a compose service name'),
    container: r.matching('container', PATTERNS.name, 'a container name'),
    tagVariable: r.matching('tag-variable', PATTERNS.envName, 'an environment variable name'),
    healthUrl: r.url('health-url'),
    healthTimeout: r.int('health-timeout', 1, 3600),
  };
}

export function readCheckout(r: InputReader): CheckoutInputs {
  return {
    branch: r.matching('branch', PATTERNS.branch, 'a branch name'),
    remote: r.matching('remote', PATTERNS.remote, 'a git remote name'),
    ref: r.matching('ref', PATTERNS.sha, 'a full 40-character commit SHA (such as ${{ github.sha }})'),
    onDirty: r.oneOf('on-dirty', ['fail', 'stash', 'reset'] as const),
  };
}

export function readDeployBackend(r: InputReader): DeployBackendInputs {
  return {
    conn: readConnection(r),
    target: readTarget(r),
    buildContext: r.relativePath('build-context') || '.',
    dockerfile: r.relativePath('dockerfile'),
    checkout: readCheckout(r),
    autoRollback: r.bool('auto-rollback'),
    preDeploy: r.string('pre-deploy', { multiline: true }),
    postDeploy: r.string('post-deploy', { multiline: true }),
    keepImages: r.int('keep-images', 0, 1000),
  };
}

export function readRollbackBackend(r: InputReader): RollbackBackendInputs {
  const tag = r.string('tag');
  if (tag !== '' && !isBackendRollbackTag(tag)) {
    throw new InputError(
      'tag',
      `must be a release tag like 2026.01.09-def4567 (YYYY.MM.DD-<7 hex>) or latest, or empty for the previous release; got ${JSON.stringify(tag.slice(0, 100))}`,
    );
  }
  return { conn: readConnection(r), target: readTarget(r), tag, force: r.bool('force') };
}

export function readCleanupBackend(r: InputReader): CleanupBackendInputs {
  return {
    conn: readConnection(r),
    image: r.matching('image', PATTERNS.image, 'a Docker image name'),
    container: r.matching('container', PATTERNS.name, 'a container name'),
    keep: r.int('keep', 0, 10000),
    pruneDangling: r.bool('prune-dangling'),
  };
}
