import { isBackendRollbackTag } from '../rules/tags.js';
import { readConnection, type ConnectionInputs } from './connection.js';
import { InputError, PATTERNS, type InputReader } from './reader.js';
import type { OnDirty } from '../remote/git.js';
import type { RunnerRelease } from '../remote/state-dir.js';
import { readImageSource, type ImageSource } from './image-source.js';
import {
  formatDuration,
  GuardSyntaxError,
  parseDuration,
  parseGuards,
  type Guard,
  type PromqlCheck,
  type WatchPlan,
} from '../rules/guards.js';
import {
  BackupSpecError,
  isBackupId,
  parseDatabaseLine,
  parseVolumeLines,
  type DatabaseItem,
} from '../rules/backups.js';
import {
  distinctImages,
  parseServiceNames,
  parseServices,
  ServicesSyntaxError,
  type ServiceSpec,
} from '../rules/services.js';

/** What a backup holds and where backups go. */
export interface BackupSettings {
  /** Take one before a release (true when anything is configured and `backup` is not false). */
  enabled: boolean;
  volumes: string[];
  databases: DatabaseItem[];
  dir: string;
  keep: number;
  image: string;
}

/** The backend's environment file, released with it; content empty: left alone. */
export interface EnvFileSettings {
  path: string;
  content: string;
}

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
  /** project-source: runner: the runner's checkout, set before the flow runs. */
  runner?: RunnerRelease;
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
  /** The metrics watch after the health check; undefined: no watch. */
  watch?: WatchPlan;
  backups: BackupSettings;
  autoRollbackRestore: boolean;
  envFile: EnvFileSettings;
  /** Several services released together; empty: the single service of `target`. */
  services: ServiceSpec[];
  /** Where the image comes from. */
  source: ImageSource;
  /** Blue-green releases: the colours, the proxy and its switch. */
  blueGreen: BlueGreenSettings;
}

export interface RollbackBackendInputs {
  conn: ConnectionInputs;
  target: BackendTarget;
  tag: string;
  force: boolean;
  /** '' (images only), 'auto', or a backup id. */
  restoreBackup: string;
  backupDir: string;
  backupImage: string;
  envFile: EnvFileSettings;
  /** Services of a several-service release to roll back; empty: all of them (or the single service). */
  services: string[];
  /** `registry`: a target tag missing on the NAS is pulled. */
  source: ImageSource;
  /** Blue-green releases: the colours, the proxy and its switch. */
  blueGreen: BlueGreenSettings;
  /** The user's commands around the change, as pre-deploy and post-deploy are around a deploy. */
  preRollback: string;
  postRollback: string;
}

export interface BackupBackendInputs {
  conn: ConnectionInputs;
  composeFile: string;
  container: string;
  image: string;
  backups: BackupSettings;
}

export interface CleanupBackendInputs {
  conn: ConnectionInputs;
  image: string;
  container: string;
  keep: number;
  pruneDangling: boolean;
  /** Backups are pruned too (the directory may hold none). */
  backups: { dir: string; keep: number };
  /** Several services: their images are cleaned up each, none of their running or rollback tags go. */
  services: ServiceSpec[];
  composeFile: string;
  /** The compose service: blue-green runs it under the colours' projects, never as `container`. */
  service: string;
}

/** The `services` lines, checked before anything connects; errors name the input and the line. */
function readServices(r: InputReader, defaults: Omit<ServiceSpec, 'name'> & { service: string }): ServiceSpec[] {
  try {
    return parseServices(r.string('services', { multiline: true }), defaults, PATTERNS);
  } catch (e) {
    if (e instanceof ServicesSyntaxError) throw new InputError('services', e.message);
    throw e;
  }
}

// --- blue-green ---
/** How a release replaces the running backend. */
export type Strategy = 'recreate' | 'blue-green';
export type Color = 'blue' | 'green';

/** The blue-green settings: the proxy, the two colours' ports and what happens to the old colour. */
export interface BlueGreenSettings {
  strategy: Strategy;
  proxyService: string;
  /** Relative to repo-path. */
  upstreamFile: string;
  portVariable: string;
  ports: Readonly<Record<Color, number>>;
  drainSeconds: number;
  keepWarm: number;
  /** The user's own command that switches another proxy; empty: the upstream file and nginx. */
  switchCommand: string;
}

/** Every blue-green input, checked whatever the strategy, so a typo never waits for the day it is turned on. */
export function readBlueGreen(r: InputReader): BlueGreenSettings {
  const strategy = r.oneOf('strategy', ['recreate', 'blue-green'] as const);
  const ports = { blue: r.int('blue-port', 1, 65535), green: r.int('green-port', 1, 65535) };
  if (ports.blue === ports.green) throw new InputError('green-port', `must differ from blue-port (${ports.blue})`);
  const upstreamFile = r.relativePath('proxy-upstream-file');
  if (strategy === 'blue-green' && !upstreamFile)
    throw new InputError('proxy-upstream-file', 'is required with strategy blue-green');
  return {
    strategy,
    proxyService: r.matching('proxy-service', PATTERNS.name, 'a compose service name'),
    upstreamFile,
    portVariable: r.matching('port-variable', PATTERNS.envName, 'an environment variable name'),
    ports,
    drainSeconds: r.int('drain-seconds', 0, 3600),
    keepWarm: r.int('keep-warm', 0, 7 * 24 * 3600),
    switchCommand: r.string('switch-command', { multiline: true }),
  };
}

// --- end blue-green ---

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

/** The backup directory: absolute, default beside the checkout. */
function readBackupDir(r: InputReader, repoPath: string): string {
  const dir = r.matching('backup-dir', PATTERNS.absolutePath, 'an absolute path on the NAS').replace(/\/+$/, '');
  if (dir) return dir;
  const parent = repoPath.replace(/\/+$/, '').replace(/\/[^/]*$/, '') || '/';
  return `${parent === '/' ? '' : parent}/backups`;
}

export function readBackups(r: InputReader, repoPath: string): BackupSettings {
  let volumes: string[];
  let databases: DatabaseItem[];
  try {
    volumes = parseVolumeLines(r.lines('backup-volumes'));
  } catch (e) {
    if (e instanceof BackupSpecError) throw new InputError('backup-volumes', e.message);
    throw e;
  }
  try {
    databases = r.lines('backup-databases').map(parseDatabaseLine);
  } catch (e) {
    if (e instanceof BackupSpecError) throw new InputError('backup-databases', e.message);
    throw e;
  }
  const wanted = r.bool('backup');
  return {
    enabled: wanted && (volumes.length > 0 || databases.length > 0),
    volumes,
    databases,
    dir: readBackupDir(r, repoPath),
    keep: r.int('backup-keep', 1, 10000),
    image: r.matching('backup-image', PATTERNS.imageRef, 'a Docker image reference (e.g. busybox:latest)'),
  };
}

export function readEnvFile(r: InputReader): EnvFileSettings {
  const path = r.relativePath('env-file');
  const content = r.string('env-file-content', { multiline: true, trim: false });
  if (content !== '' && !path) throw new InputError('env-file', 'is required when env-file-content is given');
  return { path, content };
}

export function readDeployBackend(r: InputReader, promql?: PromqlCheck): DeployBackendInputs {
  const conn = readConnection(r);
  const target = readTarget(r);
  const buildContext = r.relativePath('build-context') || '.';
  const dockerfile = r.relativePath('dockerfile');
  const services = readServices(r, { ...target, buildContext, dockerfile });
  const settings: Omit<DeployBackendInputs, 'services'> = {
    conn,
    target,
    // with several services, one image-source for all of them, each distinct image obtained once
    source: services.length
      ? readImageSource(
          r,
          distinctImages(services).map((i) => i.image),
          { withTag: true, imagesInput: 'services' },
        )
      : readImageSource(r, target.image, { withTag: true }),
    buildContext,
    dockerfile,
    checkout: readCheckout(r),
    autoRollback: r.bool('auto-rollback'),
    preDeploy: r.string('pre-deploy', { multiline: true }),
    postDeploy: r.string('post-deploy', { multiline: true }),
    keepImages: r.int('keep-images', 0, 1000),
    ...readWatch(r, promql),
    backups: readBackups(r, conn.repoPath),
    autoRollbackRestore: r.bool('auto-rollback-restore'),
    envFile: readEnvFile(r),
    blueGreen: readBlueGreen(r),
  };
  return { ...settings, services };
}

export function readBackupBackend(r: InputReader): BackupBackendInputs {
  const conn = readConnection(r);
  return {
    conn,
    composeFile: r.relativePath('compose-file'),
    container: r.matching('container', PATTERNS.name, 'a container name'),
    image: r.matching('image', PATTERNS.image, 'a Docker image name'),
    backups: readBackups(r, conn.repoPath),
  };
}

function duration(r: InputReader, name: string, max: number): number {
  const text = r.string(name);
  const seconds = text === '' ? 0 : parseDuration(text);
  if (seconds === undefined || seconds > max)
    throw new InputError(
      name,
      `must be a duration like 30s, 10m or 1h (at most ${formatDuration(max)}), not ${JSON.stringify(text.slice(0, 100))}`,
    );
  return seconds;
}

/**
 * The watch inputs, all checked even when the watch is off, so a typo never
 * waits for the day it is turned on; with `promql`, each guard's query is parsed too.
 */
function readWatch(r: InputReader, promql?: PromqlCheck): { watch?: WatchPlan } {
  let guards: Guard[];
  try {
    guards = parseGuards(r.string('guards', { multiline: true }), promql);
  } catch (err) {
    if (err instanceof GuardSyntaxError) throw new InputError('guards', err.message);
    throw err;
  }
  const metricsUrl = r.url('metrics-url');
  if (/^https?:\/\/[^/]*@/.test(metricsUrl))
    throw new InputError(
      'metrics-url',
      'must not hold credentials (user:password@): they would reach the log and the NAS command line',
    );
  const seconds = duration(r, 'watch', 24 * 3600);
  const interval = duration(r, 'watch-interval', 3600);
  const onQueryError = r.oneOf('on-query-error', ['warn', 'fail'] as const);
  if (seconds === 0) return {};
  if (interval < 1) throw new InputError('watch-interval', 'must be at least 1s');
  if (guards.length === 0)
    throw new InputError(
      'guards',
      `is empty, but watch is ${formatDuration(seconds)}: give at least one guard to watch`,
    );
  if (!metricsUrl) throw new InputError('metrics-url', 'is empty, but a watch needs the Prometheus query API');
  return { watch: { guards, metricsUrl, seconds, interval, onQueryError } };
}

export function readRollbackBackend(r: InputReader): RollbackBackendInputs {
  const tag = r.string('tag');
  if (tag !== '' && !isBackendRollbackTag(tag)) {
    throw new InputError(
      'tag',
      `must be a release tag like 2026.01.09-def4567 (YYYY.MM.DD-<7 hex>) or latest, or empty for the previous release; got ${JSON.stringify(tag.slice(0, 100))}`,
    );
  }
  const restoreBackup = r.string('restore-backup');
  if (restoreBackup !== '' && restoreBackup !== 'auto' && !isBackupId(restoreBackup))
    throw new InputError(
      'restore-backup',
      `must be empty, auto, or a backup id like 20260109T101500Z-2026.01.09-def4567; got ${JSON.stringify(restoreBackup.slice(0, 100))}`,
    );
  const conn = readConnection(r);
  const target = readTarget(r);
  const settings: RollbackBackendInputs = {
    conn,
    target,
    source: readImageSource(r, target.image, { withTag: false }),
    tag,
    force: r.bool('force'),
    restoreBackup,
    backupDir: readBackupDir(r, conn.repoPath),
    backupImage: r.matching('backup-image', PATTERNS.imageRef, 'a Docker image reference (e.g. busybox:latest)'),
    envFile: readEnvFile(r),
    services: readServiceNames(r),
    blueGreen: readBlueGreen(r),
    preRollback: r.string('pre-rollback', { multiline: true }),
    postRollback: r.string('post-rollback', { multiline: true }),
  };
  return settings;
}

function readServiceNames(r: InputReader): string[] {
  try {
    return parseServiceNames(r.string('services', { multiline: true }), PATTERNS);
  } catch (e) {
    if (e instanceof ServicesSyntaxError) throw new InputError('services', e.message);
    throw e;
  }
}

export function readCleanupBackend(r: InputReader): CleanupBackendInputs {
  const conn = readConnection(r);
  const image = r.matching('image', PATTERNS.image, 'a Docker image name');
  const container = r.matching('container', PATTERNS.name, 'a container name');
  const service = r.matching('service', PATTERNS.name, 'a compose service name');
  return {
    conn,
    image,
    container,
    service,
    keep: r.int('keep', 0, 10000),
    pruneDangling: r.bool('prune-dangling'),
    backups: { dir: readBackupDir(r, conn.repoPath), keep: r.int('backup-keep', 1, 10000) },
    composeFile: r.relativePath('compose-file'),
    // cleanup needs only each service's image and container; the other keys are never used here
    services: readServices(r, {
      service,
      image,
      container,
      tagVariable: 'TAG',
      buildContext: '.',
      dockerfile: '',
      healthUrl: '',
    }),
  };
}
