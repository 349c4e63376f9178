import { describe, expect, it } from 'vitest';
import type { BackendTarget, CheckoutInputs } from '../../src/inputs/backend.js';
import {
  commitOfTag,
  deployState,
  imagesState,
  releasePhase,
  removeImages,
  rollbackPhase,
  runningTag,
} from '../../src/programs/backend.js';
import {
  checkoutState,
  checksProgram,
  rollbackStackPhase,
  stackState,
  verifyState,
  type StackPlace,
} from '../../src/programs/monitoring.js';
import { Renderer, bareTools } from '../../src/remote/command.js';
import { announcedSteps } from '../support/fake-nas.js';

const real = new Renderer(bareTools, false);
const dry = new Renderer(bareTools, true);
const b64 = (text: string): string => Buffer.from(text).toString('base64');
const values = (entries: Record<string, string>): Map<string, string> => new Map(Object.entries(entries));

const target: BackendTarget = {
  image: 'scanium-backend',
  composeFile: 'backend/docker-compose.yml',
  service: 'api',
  container: 'scanium-backend',
  tagVariable: 'BACKEND_TAG',
  healthUrl: '',
  healthTimeout: 120,
};
const checkout: CheckoutInputs = { branch: 'main', remote: 'origin', ref: '', onDirty: 'fail' };
const COMMIT = 'c0ffee1d2e3f405162738495a6b7c8d9e0f1a2b3';
const IMAGE_LIST = [
  '2026.03.02-c0ffee1 312MB 5cfddd1be29a',
  '2026.02.10-5555555 1.2GB 77aa00bb11cc',
  '<none> 300MB 0000aaaa1111',
  'latest 312MB 5cfddd1be29a',
].join('\n');

function release(r: Renderer): ReturnType<typeof releasePhase> {
  return releasePhase(r, {
    repo: '/repo',
    target,
    checkout,
    commit: COMMIT,
    subject: 'Fix',
    tag: '2026.03.02-c0ffee1',
    buildContext: 'backend',
    dockerfile: '',
    fallback: '2026.02.10-5555555',
    previous: '2026.02.10-5555555',
    runLabel: 'run 1',
  });
}

describe('backend programs decode their values', () => {
  it('releasePhase: the recreate result, whether the image was built, the inventory after', () => {
    const decoded = release(real).decode(
      values({
        previous: '2026.02.10-5555555',
        running: '2026.02.10-5555555',
        rolled_back: 'true',
        built: 'yes',
        tags_b64: b64(IMAGE_LIST),
      }),
    );
    expect(decoded).toEqual({
      previous: '2026.02.10-5555555',
      running: '2026.02.10-5555555',
      rolledBack: true,
      built: true,
      inventory: [
        { tag: '2026.03.02-c0ffee1', bytes: 312_000_000, id: '5cfddd1be29a' },
        { tag: '2026.02.10-5555555', bytes: 1_200_000_000, id: '77aa00bb11cc' },
        { tag: 'latest', bytes: 312_000_000, id: '5cfddd1be29a' },
      ],
      watch: { status: '', guards: [] },
    });
  });

  it('releasePhase: a phase that ended before the build reports nothing built, nothing running', () => {
    expect(release(real).decode(values({}))).toEqual({
      previous: '',
      running: '',
      rolledBack: false,
      built: false,
      inventory: [],
      watch: { status: '', guards: [] },
    });
  });

  it('releasePhase announces the seven steps a release counts on the NAS, in order', () => {
    expect(announcedSteps(release(real).script.text)).toEqual([
      'Updating repository from origin/main',
      'Computing image tag',
      'Building backend image (scanium-backend:2026.03.02-c0ffee1)',
      'Verifying image tag',
      'Deploying backend container',
      'Waiting for backend to be healthy',
      'Verifying deployment',
    ]);
  });

  it('rollbackPhase: what runs now and whether it was rolled back', () => {
    const phase = rollbackPhase(real, {
      repo: '/repo',
      target,
      tag: '2026.01.10-2222222',
      current: '2026.01.20-3333333',
      force: false,
      named: true,
    });
    expect(
      phase.decode(values({ previous: '2026.01.20-3333333', running: '2026.01.10-2222222', rolled_back: 'false' })),
    ).toEqual({ previous: '2026.01.20-3333333', running: '2026.01.10-2222222', rolledBack: false });
    expect(announcedSteps(phase.script.text)).toHaveLength(3);
  });

  it('imagesState: the running image and the image tags, untagged ones left out', () => {
    expect(
      imagesState('scanium-backend', 'scanium-backend').decode(
        values({ running_image: 'scanium-backend:2026.03.02-c0ffee1', tags_b64: b64(IMAGE_LIST) }),
      ),
    ).toEqual({
      runningImage: 'scanium-backend:2026.03.02-c0ffee1',
      inventory: [
        { tag: '2026.03.02-c0ffee1', bytes: 312_000_000, id: '5cfddd1be29a' },
        { tag: '2026.02.10-5555555', bytes: 1_200_000_000, id: '77aa00bb11cc' },
        { tag: 'latest', bytes: 312_000_000, id: '5cfddd1be29a' },
      ],
    });
    expect(imagesState('scanium-backend', 'scanium-backend').decode(values({}))).toEqual({
      runningImage: '',
      inventory: [],
    });
  });

  it('deployState: the running image and the commit to release', () => {
    expect(
      deployState(target, { repo: '/repo', ...checkout }).decode(
        values({ running_image: 'scanium-backend:2026.02.10-5555555', commit: COMMIT, subject: 'Fix the cart' }),
      ),
    ).toEqual({ runningImage: 'scanium-backend:2026.02.10-5555555', commit: COMMIT, subject: 'Fix the cart' });
  });

  it('runningTag: only a tag of this image', () => {
    expect(runningTag('scanium-backend', 'scanium-backend:2026.02.10-5555555')).toBe('2026.02.10-5555555');
    expect(runningTag('scanium-backend', 'scanium-backend-worker:2026.02.10-5555555')).toBe('');
    expect(runningTag('scanium-backend', '')).toBe('');
  });

  it('commitOfTag: the commit git resolved, empty when it did not', () => {
    const program = commitOfTag(real, '/repo', '5555555');
    expect(program.decode(values({ commit: COMMIT }))).toBe(COMMIT);
    expect(program.decode(values({}))).toBe('');
  });

  it('removeImages: a tag still listed after the removal was kept by docker, not removed', () => {
    const program = removeImages(real, 'scanium-backend', ['2026.01.01-1111111', '2026.02.10-5555555'], false);
    const left = b64('2026.03.02-c0ffee1 312MB 5cfddd1be29a\n2026.02.10-5555555 1.2GB 77aa00bb11cc');
    expect(program.decode(values({ tags_b64: left }))).toEqual({
      removed: ['2026.01.01-1111111'],
      kept: ['2026.02.10-5555555'],
    });
    expect(program.script.text).toContain(
      'docker image rm scanium-backend:2026.01.01-1111111 scanium-backend:2026.02.10-5555555',
    );
  });

  it('removeImages: a dry run removes nothing and reports every planned tag as what it would remove', () => {
    const program = removeImages(dry, 'scanium-backend', ['2026.01.01-1111111', '2026.02.10-5555555'], true);
    // The listing after a dry run still holds every tag: it must not make them look refused.
    expect(program.decode(values({ tags_b64: b64(IMAGE_LIST + '\n2026.01.01-1111111 10MB aa') }))).toEqual({
      removed: ['2026.01.01-1111111', '2026.02.10-5555555'],
      kept: [],
    });
    expect(program.script.text).not.toMatch(/^docker image (rm|prune)/m);
    expect(program.script.text).toContain("dry-run, would run: docker image prune --force'");
  });
});

describe('monitoring programs decode their values', () => {
  const place: StackPlace = {
    repo: '/volume1/docker/shop/repo',
    composeFile: 'monitoring/docker-compose.yml',
    containers: ['scanium-grafana', 'scanium-loki', 'scanium-tempo'],
    healthTimeout: 90,
  };

  it('checkoutState: head, branch, the tags at HEAD, each tag’s commit (annotated or not), the dirty files', () => {
    const tagObject = 'f'.repeat(40);
    const decoded = checkoutState('/repo').decode(
      values({
        head: COMMIT,
        branch: '',
        head_tags: 'monitoring-2026.03.02-c0ffee1 v1 ',
        tags: `monitoring-2026.03.02-c0ffee1=${COMMIT}${tagObject} v1=${'a'.repeat(40)} odd=name=${'b'.repeat(40)} `,
        dirty: ' M monitoring/alloy/config.alloy; M monitoring/docker-compose.yml;',
      }),
    );
    expect(decoded).toEqual({
      head: COMMIT,
      branch: '',
      headTags: ['monitoring-2026.03.02-c0ffee1', 'v1'],
      tagCommits: new Map([
        ['monitoring-2026.03.02-c0ffee1', COMMIT],
        ['v1', 'a'.repeat(40)],
        ['odd=name', 'b'.repeat(40)],
      ]),
      dirty: ['M monitoring/alloy/config.alloy', 'M monitoring/docker-compose.yml'],
    });
  });

  it('checkoutState: a repository without tags or changes', () => {
    expect(checkoutState('/repo').decode(values({ head: COMMIT, branch: 'main' }))).toEqual({
      head: COMMIT,
      branch: 'main',
      headTags: [],
      tagCommits: new Map(),
      dirty: [],
    });
  });

  it('defect 12.5: stackState: a container no project owns is a leftover, and so is an exited duplicate; one of another project is a conflict', () => {
    const decoded = stackState(place, checkout).decode(
      values({
        commit: COMMIT,
        subject: 'Alert on 5xx',
        owner_0: 'running /volume1/docker/shop/repo/monitoring',
        owner_1: 'running /volume1/docker/old-monitoring',
        owner_2: 'exited ',
        // compose's rename of a container it was recreating; a look-alike of another project; an unrelated one
        exited_b64: Buffer.from(
          'a1b2c3d4e5f6_scanium-loki \nscanium-loki-1 /volume1/docker/other\nunrelated \n',
        ).toString('base64'),
      }),
    );
    expect(decoded).toEqual({
      commit: COMMIT,
      subject: 'Alert on 5xx',
      leftovers: [
        { name: 'scanium-tempo', why: 'exited, started outside compose' },
        { name: 'a1b2c3d4e5f6_scanium-loki', why: 'an exited duplicate' },
      ],
      conflicts: [
        { name: 'scanium-loki', why: 'running, owned by the compose project in /volume1/docker/old-monitoring' },
      ],
    });
  });

  it('rollbackStackPhase: the commit checked out', () => {
    const phase = rollbackStackPhase(real, { place, tag: 'monitoring-2026.01.10-2222222', previous: '', named: true });
    expect(phase.decode(values({ commit: COMMIT }))).toEqual({ commit: COMMIT });
    expect(phase.decode(values({}))).toEqual({ commit: '' });
  });

  const requests = [
    { id: 'grafana_health', url: 'http://127.0.0.1:3000/api/health' },
    { id: 'loki_ready', url: 'http://127.0.0.1:3100/ready' },
  ];

  it('checksProgram: each answer by request, each container state, missing when not reported', () => {
    const decoded = checksProgram(requests, '', { containers: ['scanium-grafana', 'scanium-loki'] }).decode(
      values({
        http_grafana_health: `200 ${b64('{"database":"ok"}')} `,
        http_loki_ready: `0  ${b64('curl: (7) Failed to connect')}`,
        state_0: 'running healthy 0',
      }),
    );
    expect(decoded.responses).toEqual(
      new Map([
        ['grafana_health', { status: 200, body: '{"database":"ok"}', error: '' }],
        ['loki_ready', { status: 0, body: '', error: 'curl: (7) Failed to connect' }],
      ]),
    );
    expect(decoded.states).toEqual(
      new Map([
        ['scanium-grafana', 'running healthy 0'],
        ['scanium-loki', 'missing'],
      ]),
    );
  });

  it('verifyState: the lock holder when a release holds the lock, none otherwise', () => {
    const questions = verifyState('/repo/.git/nas-release', requests, '', { containers: [] });
    expect(questions.decode(values({ lock_held: 'deploy-monitoring octocat ' })).lockHolder).toBe(
      'deploy-monitoring octocat',
    );
    expect(questions.decode(values({ lock_held: ' ' })).lockHolder).toBe('unknown holder');
    expect('lockHolder' in questions.decode(values({}))).toBe(false);
  });
});

describe('exit codes', () => {
  it('every exit code name means one number across all programs (the whole action loads)', async () => {
    // Loading the action loads every program module; a name declared with two numbers throws.
    await expect(import('../../src/release/run.js')).resolves.toBeDefined();
    const { exitCodeDefinitions } = await import('../../src/remote/program.js');
    const names = exitCodeDefinitions()
      .text.split('; ')
      .map((d) => d.split('=')[0]);
    expect(new Set(names).size).toBe(names.length);
    expect(names).toEqual(
      expect.arrayContaining(['NR_EXIT_BUILD_FAILED', 'NR_EXIT_NO_REPO', 'NR_EXIT_STACK_UNHEALTHY']),
    );
  });
});
