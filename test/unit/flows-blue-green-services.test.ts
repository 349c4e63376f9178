import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  BlueGreenExit,
  blueGreenReleasePhase,
  blueGreenRollbackPhase,
  decodeProjectStates,
  type BlueGreenDeployState,
  type BlueGreenState,
  type ColorState,
  type SwitchValues,
} from '../../src/programs/blue-green.js';
import { COLOR_VOLUMES_AWK, colorVolumeProblems, decodeColorVolumes } from '../../src/programs/color-volumes.js';
import { Renderer, bareTools, toolFunctions } from '../../src/remote/command.js';
import { programText } from '../../src/remote/program.js';
import { lines } from '../../src/remote/shell.js';
import { deployBackend } from '../../src/release/backend/deploy.js';
import { rollbackBackend } from '../../src/release/backend/rollback.js';
import type { ServiceRecord } from '../../src/rules/services.js';
import { fakeWorld } from '../support/fake-nas.js';
import { released } from '../support/records.js';
import { settingsOf } from '../support/settings.js';

/**
 * Several services released as blue-green colours: the flows (a fake NAS), the
 * phases parsed by dash and BusyBox sh, and the volume check's awk run by awk.
 */

const IMAGE = 'scanium-backend';
const COMMIT = 'c0ffee1d2e3f405162738495a6b7c8d9e0f1a2b3';
const TAG = '2026.03.02-c0ffee1';
const T2 = '2026.01.10-2222222';
const T3 = '2026.01.20-3333333';
const RELEASE = 'Releasing the backend (blue-green)';
const ROLLBACK = 'Rolling back the backend (blue-green)';
const ASKING = 'Asking what each service runs';
const SERVICES = { strategy: 'blue-green', services: 'api\nworker', 'health-url': 'http://127.0.0.1:8080/health' };

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(new Date('2026-03-02T09:00:00.000Z'));
});
afterEach(() => vi.useRealTimers());

const up = (tag: string): ColorState => ({ status: 'running', health: 'healthy', image: `${IMAGE}:${tag}` });
const none: ColorState = { status: '', health: '', image: '' };
/** The colours as the first questions read them: the live one runs api and worker at `tags`. */
function colours(live: 'blue' | 'green' | '', tags: { api: string; worker: string } | undefined): BlueGreenState {
  const running = new Map(
    tags
      ? [
          ['api', up(tags.api)],
          ['worker', up(tags.worker)],
          ['db', up('x')],
        ]
      : [],
  );
  const blue = live === 'blue' ? running : new Map<string, ColorState>();
  const green = live === 'green' ? running : new Map<string, ColorState>();
  return {
    live,
    colors: { blue: blue.get('api') ?? none, green: green.get('api') ?? none },
    services: { blue, green },
  };
}
const switched = (v: Partial<SwitchValues>): SwitchValues & { built: boolean } => ({
  running: TAG,
  liveColor: 'green',
  rolledBack: false,
  warm: false,
  built: true,
  ...v,
});
const svc = (tag: string): ServiceRecord => ({
  tag,
  image: IMAGE,
  container: '',
  tagVariable: 'BACKEND_TAG',
  healthUrl: 'http://127.0.0.1:8080/health',
});
const release = (tag: string) => released('backend', tag, { services: { api: svc(tag), worker: svc(tag) } });

describe('deploy-backend: several services as blue-green colours', () => {
  const state = (s: BlueGreenState, volumes?: string): BlueGreenDeployState => ({
    ...s,
    commit: COMMIT,
    subject: 'Fix the cart',
    ...(volumes === undefined ? {} : { volumes: decodeColorVolumes(new Map([['color_volumes', volumes]])) }),
  });

  it('starts every listed service in the idle colour, and only them; the history holds each service', async () => {
    const { nas, context } = fakeWorld();
    nas.answerState({
      answers: state(
        colours('blue', { api: T3, worker: T3 }),
        'u api data;u db pgdata;v data;n data shop_data;v pgdata',
      ),
      history: [release(T3)],
    });
    nas.answer(RELEASE, { code: 0, values: switched({}) });
    const result = await deployBackend.run(settingsOf(deployBackend, { ...SERVICES, 'keep-warm': '0' }), nas, context);
    expect(result.ok).toBe(true);
    expect(JSON.parse(result.outputs.DEPLOYED_SERVICES)).toEqual({
      api: { tag: TAG, image: IMAGE, previous: T3 },
      worker: { tag: TAG, image: IMAGE, previous: T3 },
    });
    expect(result.outputs).toMatchObject({ LIVE_COLOR: 'green', PREVIOUS_BACKEND_TAG: T3 });
    const text = nas.phases[0].script.text;
    // one compose up of exactly the listed services under the green project, without their dependencies
    expect(text).toContain(
      'compose --project-name backend-green --file backend/docker-compose.yml up --detach --no-build --no-deps --force-recreate api worker',
    );
    expect(text).not.toMatch(/--project-name backend-(blue|green) [^\n]*\bdb\b/);
    // both waited for at once; the worker by its own healthcheck, the API on the green port
    expect(text).toMatch(/nr_wait_container "\$nr_c_0" 120 http:\/\/127\.0\.0\.1:8082\/health \) &/);
    expect(text).toMatch(/nr_wait_container "\$nr_c_1" 120 '' \) &/);
    // the old colour's services each stopped after the drain
    expect(text).toContain('nr_bg_find backend-blue api 2>/dev/null); [ -n "$nr_old" ]');
    expect(text).toContain('nr_bg_find backend-blue worker 2>/dev/null); [ -n "$nr_old" ]');
    const record = { api: { ...svc(TAG), healthUrl: 'http://127.0.0.1:8080/health' }, worker: svc(TAG) };
    expect(nas.phases[0].begin).toMatchObject({ tag: TAG, services: record });
    expect(nas.finishes).toEqual([
      { outcome: 'success', update: { tag: TAG, commit: COMMIT, previous: T3, color: 'green' } },
    ]);
  });

  it('a worker that fails its health: the live colour serves on, the error names it with its last log lines', async () => {
    const { nas, context } = fakeWorld();
    nas.answerState({ answers: state(colours('blue', { api: T3, worker: T3 })), history: [release(T3)] });
    nas.answer(RELEASE, {
      code: BlueGreenExit.BlueGreenIdleUnhealthy,
      values: switched({
        running: T3,
        liveColor: 'blue',
        rolledBack: true,
        failed: ['worker'],
        failedLogs: new Map([['worker', 'connecting to the database\nno queue named jobs']]),
      }),
    });
    const result = await deployBackend.run(settingsOf(deployBackend, SERVICES), nas, context);
    expect(result.ok).toBe(false);
    expect(result.outputs).toMatchObject({ ROLLED_BACK: 'true', LIVE_COLOR: 'blue', DEPLOYED_BACKEND_TAG: T3 });
    expect(result.error).toContain('(health check failed)');
    expect(result.error).toContain(
      'Not healthy: worker.\nLast log lines of worker:\nconnecting to the database\nno queue',
    );
    expect(nas.finishes[0]).toMatchObject({ outcome: 'rolled-back', update: { color: 'blue' } });
  });

  it('a volume the colours would not share is refused before anything changes, naming it and the line to add', async () => {
    const { nas, context } = fakeWorld();
    nas.answerState({
      answers: state(colours('', undefined), 'u api uploads;u worker uploads;u db pgdata;v uploads;v pgdata'),
    });
    const result = await deployBackend.run(settingsOf(deployBackend, SERVICES), nas, context);
    expect(result.ok).toBe(false);
    expect(nas.ran).toEqual([]);
    expect(result.error).toContain(
      'volume uploads (mounted by api, worker) would be a different volume in each colour (backend-blue_uploads, backend-green_uploads)',
    );
    expect(result.error).toContain('`name: backend_uploads`');
    // the database's volume is not a colour's: it is not refused
    expect(result.error).not.toContain('pgdata');
    expect(nas.finishes[0]).toMatchObject({ outcome: 'failure' });
  });
});

describe('rollback-backend: a per-service rollback under blue-green', () => {
  const inventory = [TAG, T3, T2].map((tag) => ({ tag, bytes: 1, id: `id-${tag}` }));
  const asked = { runningImages: [], inventory: new Map([[IMAGE, inventory]]) };

  it('starts the idle colour with the named service at its previous release and the others at the live one', async () => {
    const { nas, context } = fakeWorld();
    nas.answerState({
      answers: { ...colours('green', { api: TAG, worker: TAG }), inventory },
      history: [release(T2), release(T3), release(TAG)],
    });
    nas.answer(ASKING, { code: 0, values: asked });
    nas.answer(ROLLBACK, { code: 0, values: { running: T3, liveColor: 'blue', rolledBack: false, warm: false } });
    const result = await rollbackBackend.run(
      settingsOf(rollbackBackend, { ...SERVICES, services: 'worker' }),
      nas,
      context,
    );
    expect(result.ok, result.error).toBe(true);
    expect(JSON.parse(result.outputs.DEPLOYED_SERVICES)).toEqual({
      api: { tag: TAG, image: IMAGE, previous: TAG },
      worker: { tag: T3, image: IMAGE, previous: TAG },
    });
    const text = nas.phases[0].script.text;
    // one compose up per tag: the API at what the live colour runs, the worker at its target
    expect(text).toMatch(
      new RegExp(
        `COLOR=blue BACKEND_PORT=8081 BACKEND_TAG=${TAG} [^\\n]*up --detach --no-build --no-deps --force-recreate api && env COLOR=blue BACKEND_PORT=8081 BACKEND_TAG=${T3} [^\\n]*--force-recreate worker;`,
      ),
    );
    // the history moves the worker only
    expect(nas.phases[0].begin).toMatchObject({ tag: T3, previous: TAG, services: { worker: { tag: T3 } } });
    expect(Object.keys(nas.phases[0].begin.services ?? {})).toEqual(['worker']);
  });

  it('empty services: every service of the last release goes back to its previous release, one colour', async () => {
    const { nas, context } = fakeWorld();
    nas.answerState({
      answers: { ...colours('green', { api: TAG, worker: TAG }), inventory },
      history: [release(T2), release(T3), release(TAG)],
    });
    nas.answer(ASKING, { code: 0, values: asked });
    nas.answer(ROLLBACK, { code: 0, values: { running: T3, liveColor: 'blue', rolledBack: false, warm: false } });
    const result = await rollbackBackend.run(settingsOf(rollbackBackend, { strategy: 'blue-green' }), nas, context);
    expect(result.ok, result.error).toBe(true);
    expect(nas.phases[0].script.text).toContain('--no-deps --force-recreate api worker');
    expect(Object.keys(nas.phases[0].begin.services ?? {})).toEqual(['api', 'worker']);
  });

  it('an unknown service or a missing image fails before anything changes', async () => {
    for (const [inputs, message] of [
      [{ services: 'mailer' }, /no service mailer in the last release of several services/],
      [
        { services: 'worker', tag: '2026.01.01-1111111' },
        /Image scanium-backend:2026\.01\.01-1111111 \(service worker\) does not exist/,
      ],
    ] as const) {
      const { nas, context } = fakeWorld();
      nas.answerState({
        answers: { ...colours('green', { api: TAG, worker: TAG }), inventory },
        history: [release(T3), release(TAG)],
      });
      nas.answer(ASKING, { code: 0, values: asked });
      await expect(
        rollbackBackend.run(settingsOf(rollbackBackend, { strategy: 'blue-green', ...inputs }), nas, context),
      ).rejects.toThrow(message);
      expect(nas.phases).toEqual([]);
    }
  });
});

describe('the colours on the NAS', () => {
  const work = mkdtempSync(join(tmpdir(), 'bg-services-'));
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it("a colour's services are read from docker's listing of its project, the newest container of each", () => {
    const states = decodeProjectStates(
      'worker 1a running shop:2 Up 3 seconds (health: starting);api 2b running shop:2 Up 2 minutes (healthy);api 3c exited shop:1 Exited (0) 1 hour ago;',
    );
    expect(Object.fromEntries(states)).toEqual({
      worker: { status: 'running', health: 'starting', image: 'shop:2' },
      api: { status: 'running', health: 'healthy', image: 'shop:2' },
    });
  });

  it('the phases of several services parse with dash and BusyBox sh', () => {
    const target = {
      image: 'shop',
      composeFile: 'shop/docker-compose.yml',
      service: 'api',
      container: '',
      tagVariable: 'TAG',
      healthUrl: 'http://127.0.0.1:8080/health',
      healthTimeout: 60,
    };
    const bg = {
      strategy: 'blue-green' as const,
      proxyService: 'proxy',
      upstreamFile: 'shop/nginx/upstream.conf',
      portVariable: 'PORT',
      ports: { blue: 8081, green: 8082 },
      drainSeconds: 5,
      keepWarm: 0,
      switchCommand: '',
    };
    const services = [
      { name: 'api', image: 'shop', tagVariable: 'TAG', tag: '2026.03.02-c0ffee1', healthUrl: target.healthUrl },
      { name: 'worker', image: 'shop', tagVariable: 'TAG', tag: '2026.03.01-1111111', healthUrl: '' },
      { name: "it's", image: 'shop-mail', tagVariable: 'MAIL_TAG', tag: '2026.03.01-1111111', healthUrl: '' },
    ];
    for (const keepWarm of [0, 300])
      for (const live of ['', 'blue'] as const) {
        const r = new Renderer(bareTools, false);
        const plan = {
          repo: '/volume1/shop',
          target,
          bg: { ...bg, keepWarm },
          tag: services[0].tag,
          live,
          previous: '',
        };
        const phases = [
          blueGreenReleasePhase(r, {
            ...plan,
            services,
            moreImages: [{ image: 'shop-mail', buildContext: 'mail', dockerfile: '', services: ["it's"] }],
            checkout: { branch: 'main', remote: 'origin', ref: '', onDirty: 'fail' },
            commit: COMMIT,
            subject: 's',
            buildContext: 'shop',
            dockerfile: '',
            runLabel: 'run',
          }),
          blueGreenRollbackPhase(r, { ...plan, services, named: true }),
        ];
        for (const phase of phases) {
          const file = join(work, `p-${keepWarm}-${live}.sh`);
          writeFileSync(
            file,
            programText({ path: '/bin', marker: 'M', script: lines(toolFunctions(bareTools), phase.script) }),
          );
          for (const shell of [['dash'], ['busybox', 'sh']]) {
            const run = spawnSync(shell[0], [...shell.slice(1), '-n', file], { encoding: 'utf8' });
            expect(run.stderr).toBe('');
            expect(run.status).toBe(0);
          }
        }
      }
  });

  // `config` as docker-compose 1.29.2 prints it (short syntax, no name for a project's volume) and as compose v2
  // prints it (long syntax, the name derived from the project)
  const V1 = `services:
  api:
    image: x:1
    volumes:
    - data:/data:rw
    - /srv/cfg:/cfg:rw
    - source: logs
      target: /logs
      type: volume
  db:
    image: pg
    volumes:
    - pgdata:/var/lib/postgresql/data:rw
  worker:
    environment:
      A: '1'
    volumes:
    - ext:/ext:ro
version: '3.8'
volumes:
  data: {}
  ext:
    external: true
    name: ext
  logs: {}
  pgdata: {}
`;
  const V2 = `name: shop-blue
services:
  api:
    image: x:1
    volumes:
      - type: volume
        source: data
        target: /data
        volume: {}
      - type: bind
        source: /srv/cfg
        target: /cfg
        bind:
          create_host_path: true
      - type: volume
        source: logs
        target: /logs
  worker:
    volumes:
      - type: volume
        source: ext
        target: /ext
        read_only: true
volumes:
  data:
    name: shop_data
  ext:
    name: ext
    external: true
  logs:
    name: shop-blue_logs
`;
  it.each([
    ['compose v1', V1, ['data', 'logs']],
    ['compose v2', V2, ['logs']],
  ])(
    'the volume check reads what %s prints, with awk and BusyBox awk: only the colour services’ unnamed volumes',
    (_name, config, refused) => {
      for (const awk of [['awk'], ['busybox', 'awk']]) {
        const run = spawnSync(awk[0], [...awk.slice(1), COLOR_VOLUMES_AWK], { input: config, encoding: 'utf8' });
        expect(run.status).toBe(0);
        const found = decodeColorVolumes(new Map([['color_volumes', run.stdout.split('\n').join(';')]]));
        const problems = colorVolumeProblems(found, {
          file: 'shop/docker-compose.yml',
          project: 'shop',
          blue: 'shop-blue',
          green: 'shop-green',
          services: ['api', 'worker'],
        });
        expect(problems.map((p) => /^volume (\S+)/.exec(p)?.[1])).toEqual(refused);
      }
    },
  );
});
