import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Renderer, bareTools, toolFunctions } from '../../src/remote/command.js';
import { programText } from '../../src/remote/program.js';
import { lines } from '../../src/remote/shell.js';
import { readBlueGreen, type BlueGreenSettings, type BackendTarget } from '../../src/inputs/backend.js';
import { InputReader } from '../../src/inputs/reader.js';
import {
  blueGreenReleasePhase,
  blueGreenRollbackPhase,
  COLOR_STATE_OF,
  colorUrl,
  composeProject,
} from '../../src/programs/blue-green.js';

const work = mkdtempSync(join(tmpdir(), 'blue-green-test-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const TARGET: BackendTarget = {
  image: 'shop-backend',
  composeFile: 'shop/docker-compose.yml',
  service: 'api',
  container: 'shop-backend',
  tagVariable: 'BACKEND_TAG',
  healthUrl: 'http://127.0.0.1:8080/health',
  healthTimeout: 60,
};
const BG: BlueGreenSettings = {
  strategy: 'blue-green',
  proxyService: 'proxy',
  upstreamFile: 'shop/nginx/upstream.conf',
  portVariable: 'BACKEND_PORT',
  ports: { blue: 8081, green: 8082 },
  drainSeconds: 5,
  keepWarm: 300,
  switchCommand: '',
};

let n = 0;
function syntaxErrors(shell: string[], text: string): string {
  const file = join(work, `p-${++n}.sh`);
  writeFileSync(file, text);
  const r = spawnSync(shell[0], [...shell.slice(1), '-n', file], { encoding: 'utf8' });
  return r.status === 0 ? '' : `exit ${r.status}: ${r.stderr}`;
}

describe('blue-green programs', () => {
  it('the compose project is the compose file folder, as compose names it', () => {
    expect(composeProject('backend/docker-compose.yml')).toBe('backend');
    expect(composeProject('apps/My.Shop/compose.yml')).toBe('myshop');
  });

  it('a colour is checked at the health URL on its own port', () => {
    expect(colorUrl('http://127.0.0.1:8080/health', 8082)).toBe('http://127.0.0.1:8082/health');
    expect(colorUrl('', 8082)).toBe('');
  });

  // docker 20.10's `container ls` status texts, as the stand-in's engine and a Synology's print them
  const stateLines: Array<[string, string]> = [
    [
      '0a1b2c running shop-backend:2026.03.01-1111111 Up 2 minutes (healthy)',
      '0a1b2c running healthy shop-backend:2026.03.01-1111111',
    ],
    [
      '0a1b2c running shop-backend:2026.03.01-1111111 Up 3 seconds (health: starting)',
      '0a1b2c running starting shop-backend:2026.03.01-1111111',
    ],
    [
      '0a1b2c running shop-backend:2026.03.01-1111111 Up About a minute (unhealthy)',
      '0a1b2c running unhealthy shop-backend:2026.03.01-1111111',
    ],
    [
      '0a1b2c running shop-backend:2026.03.01-1111111 Up 5 hours',
      '0a1b2c running none shop-backend:2026.03.01-1111111',
    ],
    ['0a1b2c exited 3f9e2d1c0b7a Exited (137) 2 minutes ago', '0a1b2c exited none 3f9e2d1c0b7a'],
    ['', ''],
  ];
  it.each(stateLines)("a colour's state is read from docker's status text: %j", (line, expected) => {
    const script = `nr_bg_ls() { [ "$1 $2" = 'shop-blue api' ] && printf '%s' ${JSON.stringify(line)} | grep .; }
${COLOR_STATE_OF.text}
nr_bg_state_of shop-blue api; nr_bg_state_of shop-green api`;
    for (const shell of [['dash'], ['busybox', 'sh']]) {
      const r = spawnSync(shell[0], [...shell.slice(1), '-c', script], { encoding: 'utf8' });
      expect(r.stdout).toBe(expected ? `${expected}\n` : '');
    }
  });

  const variants: Array<[string, Partial<BlueGreenSettings>, boolean]> = [
    ['nginx, keep warm', {}, false],
    ['nginx, no keep-warm', { keepWarm: 0 }, false],
    ['switch-command', { switchCommand: 'echo "$COLOR $PORT" > /tmp/x' }, false],
    ['dry run', {}, true],
  ];
  it.each(variants)('the phases parse with dash and BusyBox sh (%s)', (_name, extra, dryRun) => {
    const r = new Renderer(bareTools, dryRun);
    const bg = { ...BG, ...extra };
    for (const live of ['', 'blue', 'green'] as const) {
      const release = blueGreenReleasePhase(r, {
        repo: '/volume1/shop',
        target: TARGET,
        bg,
        tag: '2026.03.02-c0ffee1',
        live,
        previous: live ? '2026.03.01-1111111' : '',
        checkout: { branch: 'main', remote: 'origin', ref: '', onDirty: 'fail' },
        commit: 'c0ffee1d2e3f405162738495a6b7c8d9e0f1a2b3',
        subject: "it's here",
        buildContext: 'shop',
        dockerfile: '',
        runLabel: 'run',
        preDeploy: 'echo pre',
        postDeploy: 'echo post',
      });
      const rollback = blueGreenRollbackPhase(r, {
        repo: '/volume1/shop',
        target: TARGET,
        bg,
        tag: '2026.03.01-1111111',
        live,
        previous: '2026.03.02-c0ffee1',
        named: false,
      });
      for (const phase of [release, rollback]) {
        const text = programText({ path: '/bin', marker: 'M', script: lines(toolFunctions(bareTools), phase.script) });
        expect(syntaxErrors(['dash'], text)).toBe('');
        expect(syntaxErrors(['busybox', 'sh'], text)).toBe('');
      }
    }
  });
});

describe('blue-green inputs', () => {
  const read = (inputs: Record<string, string>) =>
    readBlueGreen(new InputReader('deploy-backend', (name) => inputs[name]));
  it('defaults: recreate, proxy, backend/nginx/upstream.conf, 8081/8082, drain 5, keep warm 300', () => {
    expect(read({})).toEqual({
      strategy: 'recreate',
      proxyService: 'proxy',
      upstreamFile: 'backend/nginx/upstream.conf',
      portVariable: 'BACKEND_PORT',
      ports: { blue: 8081, green: 8082 },
      drainSeconds: 5,
      keepWarm: 300,
      switchCommand: '',
    });
  });
  it.each([
    [{ strategy: 'canary' }, 'strategy'],
    [{ 'blue-port': '0' }, 'blue-port'],
    [{ 'green-port': '8081' }, 'green-port'],
    [{ 'drain-seconds': '-1' }, 'drain-seconds'],
    [{ 'keep-warm': 'soon' }, 'keep-warm'],
    [{ 'port-variable': 'BACKEND PORT' }, 'port-variable'],
    [{ 'proxy-service': '$(reboot)' }, 'proxy-service'],
    [{ 'proxy-upstream-file': '/etc/nginx/upstream.conf' }, 'proxy-upstream-file'],
  ])('%o fails naming %s', (inputs, name) => {
    expect(() => read(inputs)).toThrow(name);
  });
});
