import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it, onTestFinished, vi } from 'vitest';
import { readDeployBackend, readRollbackBackend } from '../../src/inputs/backend.js';
import { IMAGE_SOURCES, registryOf, type ImageSource } from '../../src/inputs/image-source.js';
import { imageSourceKind } from '../../src/image-sources/table.js';
import { ImageExit } from '../../src/programs/image-sources.js';
import { InputReader } from '../../src/inputs/reader.js';
import { ACTIONS } from '../../src/inputs/spec.js';
import type { DeployState, ReleaseValues } from '../../src/programs/backend.js';
import { releasePhase } from '../../src/programs/backend.js';
import { Renderer, bareTools } from '../../src/remote/command.js';
import { deployBackend } from '../../src/release/backend/deploy.js';
import { layersOnNas } from '../../src/rules/layers.js';
import { buildArgs } from '../../src/runner/docker.js';
import { LayerFilter } from '../../src/runner/tar-filter.js';
import { fakeWorld } from '../support/fake-nas.js';
import { CONNECTION_INPUTS, settingsOf } from '../support/settings.js';

const read = (action: string, inputs: Record<string, string>): InputReader => {
  const raw = { ...CONNECTION_INPUTS, ...inputs };
  return new InputReader(action, (name) => raw[name]);
};
const deployInputs = (inputs: Record<string, string>) => readDeployBackend(read('deploy-backend', inputs));

describe('image-source inputs', () => {
  it('image takes a registry-qualified name as docker does', () => {
    for (const image of ['ghcr.io/owner/app/api', '127.0.0.1:5000/app', 'localhost:5000/a/b', 'scanium-backend'])
      expect(deployInputs({ image }).target.image).toBe(image);
    for (const image of ['127.0.0.1:5000/App', ':5000/app', 'ghcr.io/app:1.0', 'app/', '-app'])
      expect(() => deployInputs({ image }), image).toThrow(/Input 'image'/);
  });

  it('registryOf: the registry a name is pulled from, empty for Docker Hub', () => {
    expect(registryOf('ghcr.io/owner/app')).toBe('ghcr.io');
    expect(registryOf('127.0.0.1:5000/app')).toBe('127.0.0.1:5000');
    expect(registryOf('localhost/app')).toBe('localhost');
    expect(registryOf('library/busybox')).toBe('');
    expect(registryOf('busybox')).toBe('');
  });

  it('nas is the default and leaves everything as before', () => {
    expect(deployInputs({}).source).toEqual({ kind: 'nas' });
  });

  it('registry: the tag, and the login for the registry the image names', () => {
    const s = deployInputs({
      image: 'ghcr.io/acme/shop/api',
      'image-source': 'registry',
      'image-tag': 'c0ffee1d2e3f',
      'registry-username': 'ci-bot',
      'registry-password': 'hunter2-token',
    });
    expect(s.source).toEqual({
      kind: 'registry',
      tag: 'c0ffee1d2e3f',
      login: { server: 'ghcr.io', username: 'ci-bot', password: 'hunter2-token' },
    });
    // a public image needs no login
    expect(deployInputs({ image: 'ghcr.io/acme/api', 'image-source': 'registry', 'image-tag': 'v1' }).source).toEqual({
      kind: 'registry',
      tag: 'v1',
    });
  });

  it('bad registry inputs fail before connecting, naming the input', () => {
    const base = { image: 'ghcr.io/acme/api', 'image-source': 'registry', 'image-tag': 'v1' };
    expect(() => deployInputs({ ...base, 'image-tag': '' })).toThrow(
      /Input 'image-tag': is required with image-source: registry/,
    );
    expect(() => deployInputs({ ...base, 'image-tag': 'v1;rm -rf /' })).toThrow(
      /Input 'image-tag': must be a docker tag/,
    );
    expect(() => deployInputs({ ...base, 'registry-password': 'secret-1' })).toThrow(/Input 'registry-username'/);
    expect(() => deployInputs({ ...base, 'registry-username': 'bot' })).toThrow(/Input 'registry-password'/);
    expect(() => deployInputs({ ...base, registry: 'quay.io' })).toThrow(
      /Input 'registry': is quay.io, but image ghcr.io\/acme\/api is pulled from ghcr.io/,
    );
    expect(() => deployInputs({ ...base, registry: 'ghcr.io' })).not.toThrow();
    expect(() => deployInputs({ 'image-tag': 'v1' })).toThrow(
      /Input 'image-tag': is used only with image-source: registry/,
    );
    expect(() => deployInputs({ 'image-source': 'runner', 'registry-username': 'x' })).toThrow(
      /Input 'registry-username': is used only with image-source: registry/,
    );
    expect(() => deployInputs({ 'image-source': 'ftp' })).toThrow(/Input 'image-source': must be one of/);
  });

  it('registry-password is a secret (masked); rollback-backend takes the registry inputs but no image-tag', () => {
    expect(ACTIONS['deploy-backend'].inputs['registry-password'].secret).toBe(true);
    expect(ACTIONS['rollback-backend'].inputs['registry-password'].secret).toBe(true);
    expect(ACTIONS['rollback-backend'].inputs['image-tag']).toBeUndefined();
    const r = readRollbackBackend(
      read('rollback-backend', {
        image: '127.0.0.1:5000/app',
        'image-source': 'registry',
        'registry-username': 'u',
        'registry-password': 'p-secret',
      }),
    );
    expect(r.source).toEqual({
      kind: 'registry',
      tag: '',
      login: { server: '127.0.0.1:5000', username: 'u', password: 'p-secret' },
    });
  });
});

describe('the image sources table', () => {
  const sourceOf = (kind: (typeof IMAGE_SOURCES)[number]): ImageSource =>
    kind === 'registry'
      ? { kind, tag: 'sha-1', login: { server: '127.0.0.1:5000', username: 'ci', password: 'secret' } }
      : { kind };
  const r = new Renderer(bareTools, false);
  const plan = (source: ImageSource) => ({
    image: '127.0.0.1:5000/app',
    tag: '2026.03.02-c0ffee1',
    source,
    build: { repo: '/repo', context: 'backend', dockerfile: '' },
    authDir: '/repo/.git/nas-release/registry-auth',
    platform: 'linux/amd64',
  });
  const imageExitNames = new Set(
    Object.keys(ImageExit).map((k) => `NR_EXIT_${k.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()}`),
  );

  it.each(IMAGE_SOURCES)(
    '%s answers every part of the interface, and its NAS shell ends only with image exits',
    (kind) => {
      const source = sourceOf(kind);
      const k = imageSourceKind(source);
      const ref = '127.0.0.1:5000/app:2026.03.02-c0ffee1';
      expect(k.stepText(ref)).toContain(ref);
      expect(k.stepTextOfImages(2, 3)).toMatch(/2 image\(s\) for 3 service\(s\)/);
      for (const flag of [k.obtainsFirst, k.obtainsAtOnce, k.sentFromRunner]) expect(typeof flag).toBe('boolean');
      for (const services of [undefined, ['api', 'worker']]) {
        const text = k.obtain(r, { ...plan(source), ...(services ? { services } : {}) }).text;
        expect(text).toContain('127.0.0.1:5000/app');
        const exits = [...text.matchAll(/exit "\$(NR_EXIT_[A-Z_]+)"/g)].map((m) => m[1]);
        expect(exits.length).toBeGreaterThan(0);
        for (const name of exits) expect(imageExitNames).toContain(name);
      }
      expect(k.record()).toEqual(kind === 'registry' ? { pulled: 'sha-1' } : {});
      // a source that records a pull says what its digest was, and can pull it again for a rollback
      const digest = k.digestFields(r, ref, '127.0.0.1:5000/app');
      const again = k.reobtain({ image: '127.0.0.1:5000/app', tag: 'T', pulled: 'sha-1', authDir: '/a' });
      expect(!!digest).toBe(kind === 'registry');
      expect(!!k.digestsFields(r, ['127.0.0.1:5000/app'], 'T')).toBe(kind === 'registry');
      expect(!!again).toBe(kind === 'registry');
      if (again)
        expect(again).toMatchObject({ ref: '127.0.0.1:5000/app:sha-1', authDir: '/a', login: { username: 'ci' } });
      for (const code of Object.values(ImageExit)) {
        const said = k.failure('127.0.0.1:5000/app', 'T', code);
        if (said !== undefined) expect(said).toContain('127.0.0.1:5000/app');
      }
      expect(k.failure('127.0.0.1:5000/app', 'T', 1)).toBeUndefined();
    },
  );

  it('a kind the table does not know is refused, never built on the NAS', () => {
    expect(() => imageSourceKind({ kind: 'ftp' } as unknown as ImageSource)).toThrow('unknown image-source "ftp"');
  });
});

describe('the release phase obtains the image from its source', () => {
  const target = {
    image: '127.0.0.1:5000/app',
    composeFile: 'backend/docker-compose.yml',
    service: 'api',
    container: 'app',
    tagVariable: 'BACKEND_TAG',
    healthUrl: '',
    healthTimeout: 60,
  };
  const phase = (r: Renderer, password: string) =>
    releasePhase(r, {
      repo: '/repo',
      target,
      checkout: { branch: 'main', remote: 'origin', ref: '', onDirty: 'fail' },
      commit: 'c0ffee1d2e3f405162738495a6b7c8d9e0f1a2b3',
      subject: 'x',
      tag: '2026.03.02-c0ffee1',
      buildContext: 'backend',
      dockerfile: '',
      fallback: '',
      previous: '',
      runLabel: 'run',
      source: { kind: 'registry', tag: 'sha-c0ffee1', login: { server: '127.0.0.1:5000', username: 'ci', password } },
      authDir: '/repo/.git/nas-release/registry-auth',
    }).script.text;

  it('registry: login on stdin with a private DOCKER_CONFIG, pull, logout, tag; no build; the password never in clear', () => {
    const password = 'pa$$ word "quoted" \'single\'';
    const text = phase(new Renderer(bareTools, false), password);
    expect(text).toContain(
      'env DOCKER_CONFIG=/repo/.git/nas-release/registry-auth docker login --username ci --password-stdin 127.0.0.1:5000',
    );
    expect(text).toContain('docker pull 127.0.0.1:5000/app:sha-c0ffee1');
    expect(text).toContain('docker tag 127.0.0.1:5000/app:sha-c0ffee1 127.0.0.1:5000/app:2026.03.02-c0ffee1');
    expect(text).toContain('docker logout 127.0.0.1:5000');
    expect(text).not.toContain('docker build');
    expect(text).not.toContain(password);
    expect(text).not.toContain('pa$$');
    // the login, the pull and the logout come in that order, and the removal of the folder after the logout
    const at = (s: string): number => text.indexOf(s);
    expect(at('docker login')).toBeLessThan(at('docker pull'));
    expect(at('docker pull')).toBeLessThan(at('docker logout'));
    expect(at('docker logout')).toBeLessThan(at('docker tag'));
  });

  it('a dry run says what it would pull and holds no trace of the password', () => {
    const password = 'dry-run-secret-123';
    const text = phase(new Renderer(bareTools, true), password);
    expect(text).toContain('dry-run: would log in to 127.0.0.1:5000 as ci, pull 127.0.0.1:5000/app:sha-c0ffee1');
    expect(text).not.toContain(password);
    expect(text).not.toContain(Buffer.from(password).toString('base64'));
  });
});

describe('what a runner release sends', () => {
  it('layersOnNas: a layer whose chain the NAS has, never one that another position needs', () => {
    expect(layersOnNas(['a', 'b', 'c'], [['a', 'b', 'x']])).toEqual(new Set(['a', 'b']));
    // the same diff ID on another chain is another layer for docker
    expect(layersOnNas(['b', 'c'], [['a', 'b']])).toEqual(new Set());
    expect(layersOnNas(['sha256:a', 'sha256:b'], [['sha256:a']])).toEqual(new Set(['a']));
    expect(layersOnNas(['a', 'b', 'a'], [['a', 'b']])).toEqual(new Set(['b']));
    expect(layersOnNas(['a'], [])).toEqual(new Set());
  });

  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'nr-tar-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  async function filtered(
    archive: Buffer,
    skip: Set<string>,
    chunk: number,
  ): Promise<{ out: Buffer; filter: LayerFilter }> {
    const filter = new LayerFilter(skip);
    const pieces: Buffer[] = [];
    const input = Readable.from(
      Array.from({ length: Math.ceil(archive.length / chunk) }, (_, i) => archive.subarray(i * chunk, (i + 1) * chunk)),
    );
    for await (const piece of input.pipe(filter)) pieces.push(piece as Buffer);
    return { out: Buffer.concat(pieces), filter };
  }

  it('LayerFilter: leaves out the layer blobs named, keeps every other entry whole (a real tar, cut anywhere)', async () => {
    const have = 'a'.repeat(64);
    const lack = 'b'.repeat(64);
    mkdirSync(join(dir, 'blobs/sha256'), { recursive: true });
    writeFileSync(join(dir, `blobs/sha256/${have}`), Buffer.alloc(3000, 1));
    writeFileSync(join(dir, `blobs/sha256/${lack}`), Buffer.alloc(1500, 2));
    writeFileSync(join(dir, 'manifest.json'), '[{"Layers":["blobs/sha256/aaa"]}]');
    // a name longer than 100 bytes: a PAX header that the filter must keep with its entry
    const long = `deep/${'d'.repeat(120)}`;
    mkdirSync(join(dir, 'deep'));
    writeFileSync(join(dir, long), 'long name');
    const archive = execFileSync('tar', ['--format=posix', '-C', dir, '-cf', '-', 'blobs', 'manifest.json', 'deep']);
    for (const chunk of [7, 512, 100_000]) {
      const { out, filter } = await filtered(archive, new Set([have]), chunk);
      const listed = execFileSync('tar', ['-tf', '-'], { input: out }).toString().split('\n').filter(Boolean);
      expect(listed).toContain(`blobs/sha256/${lack}`);
      expect(listed).not.toContain(`blobs/sha256/${have}`);
      expect(listed).toContain('manifest.json');
      expect(listed).toContain(long);
      expect(filter.dropped).toBe(1);
      const extract = join(dir, `x${chunk}`);
      mkdirSync(extract);
      execFileSync('tar', ['-xf', '-', '-C', extract], { input: out });
      expect(execFileSync('cat', [join(extract, long)]).toString()).toBe('long name');
      expect(execFileSync('wc', ['-c', join(extract, `blobs/sha256/${lack}`)]).toString()).toMatch(/^1500 /);
    }
    // nothing to leave out: the archive passes byte for byte
    expect((await filtered(archive, new Set(), 333)).out.equals(archive)).toBe(true);
  });

  it('buildArgs: buildx with --load (and its gha cache when it can export one), else the legacy builder', () => {
    const o = { ref: 'app:2026.03.02-c0ffee1', context: '/ws/backend', cacheScope: 'app' };
    expect(buildArgs(o, { buildx: false, cache: false })).toEqual(['build', '--tag', o.ref, '/ws/backend']);
    expect(buildArgs({ ...o, dockerfile: '/ws/Dockerfile' }, { buildx: true, cache: false })).toEqual([
      'buildx',
      'build',
      '--load',
      '--tag',
      o.ref,
      '--file',
      '/ws/Dockerfile',
      '/ws/backend',
    ]);
    expect(buildArgs(o, { buildx: true, cache: true })).toContain('type=gha,mode=max,scope=app');
  });
});

describe('deploy-backend with image-source: runner (fake NAS)', () => {
  const COMMIT = 'c0ffee1d2e3f405162738495a6b7c8d9e0f1a2b3';
  const TAG = '2026.03.02-c0ffee1';
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2026-03-02T09:00:00.000Z'));
  });
  afterEach(() => {
    vi.useRealTimers();
    vi.unstubAllEnvs();
  });
  const state = (inventory: string[]): DeployState => ({
    runningImage: 'app:2026.01.01-1111111',
    commit: COMMIT,
    subject: 'Fix',
    layers: { chains: [] },
    inventory: inventory.map((tag) => ({ tag, bytes: 1 })),
  });
  const released: ReleaseValues = {
    previous: '2026.01.01-1111111',
    running: TAG,
    rolledBack: false,
    built: true,
    inventory: [],
    watch: { status: '', guards: [] },
  };

  it('an image already on the NAS is not built or sent again; nine steps, the runner one second', async () => {
    const { nas, platform, context } = fakeWorld();
    nas.answerState({ answers: state([TAG]) });
    nas.answer('Releasing the backend', { code: 0, values: released });
    const result = await deployBackend.run(
      settingsOf(deployBackend, { image: 'app', 'image-source': 'runner' }),
      nas,
      context,
    );
    expect(result.ok).toBe(true);
    expect(nas.ran).toEqual(['Releasing the backend']);
    expect(platform.lines).toContain('[2/9] Building the image on the runner and sending it to the NAS...');
    expect(platform.lines.join('\n')).toContain(`Image app:${TAG} is already on the NAS`);
    expect(nas.phases[0].script.text).toContain(`Image app:${TAG} is on the NAS (built on the runner)`);
    expect(nas.phases[0].script.text).not.toContain('docker build');
  });

  it('a workspace at another commit fails before anything is built, sent or changed', async () => {
    // A repository of its own: the test must not depend on being run from a git checkout with an identity.
    const workspace = mkdtempSync(join(tmpdir(), 'runner-workspace-'));
    const git = (...args: string[]) =>
      execFileSync('git', ['-C', workspace, '-c', 'user.name=test', '-c', 'user.email=test@example.invalid', ...args]);
    git('init', '-q');
    writeFileSync(join(workspace, 'Dockerfile'), 'FROM scratch\n');
    git('add', 'Dockerfile');
    git('commit', '-q', '-m', 'another commit');
    vi.stubEnv('GITHUB_WORKSPACE', workspace);
    onTestFinished(() => rmSync(workspace, { recursive: true, force: true }));
    const { nas, context } = fakeWorld();
    nas.answerState({ answers: state([]) });
    const result = await deployBackend.run(
      settingsOf(deployBackend, { image: 'app', 'image-source': 'runner' }),
      nas,
      context,
    );
    expect(result.ok).toBe(false);
    expect(result.ok ? '' : result.error).toMatch(
      /deploy-backend failed before any container changed: The runner's checkout .* is at [0-9a-f]{7}, but this release is c0ffee1/,
    );
    expect(nas.ran).toEqual([]);
    expect(nas.finishes).toEqual([
      { outcome: 'failure', update: { tag: TAG, commit: COMMIT, detail: 'runner checkout is another commit' } },
    ]);
  });
});

describe('ParallelGzip', () => {
  it('compresses in blocks side by side into one stream that gunzip reads whole, in order', async () => {
    const { ParallelGzip } = await import('../../src/runner/parallel-gzip.js');
    const input = Buffer.concat(
      Array.from({ length: 300 }, (_, i) => Buffer.from(`line ${i} ${'x'.repeat(i % 50)}\n`)),
    );
    const pieces: Buffer[] = [];
    const source = Readable.from(Array.from({ length: 60 }, (_, i) => input.subarray(i * 200, (i + 1) * 200)));
    for await (const piece of source.pipe(new ParallelGzip({ level: 6, blockSize: 1000, inFlight: 3 })))
      pieces.push(piece as Buffer);
    const members = Buffer.concat(pieces);
    expect(execFileSync('gunzip', ['-c'], { input: members }).equals(input.subarray(0, 12000))).toBe(true);
    expect(execFileSync('busybox', ['gunzip', '-c'], { input: members }).equals(input.subarray(0, 12000))).toBe(true);
  });
});
