import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  BROKEN_BUILD,
  BROKEN_HEALTH,
  HEALTH_URL,
  REPO,
  asNas,
  connection,
  containerImage,
  containerState,
  docker,
  historyLines,
  httpGet,
  originHead,
  pushCommit,
  resetNas,
  runAction,
  tagOf,
} from './harness.js';

const deploy = (extra: Record<string, string> = {}) =>
  runAction('deploy-backend', connection({ 'health-url': HEALTH_URL, ...extra }));
const rollback = (extra: Record<string, string> = {}) =>
  runAction('rollback-backend', connection({ 'health-url': HEALTH_URL, ...extra }));

describe('deploy-backend against the stand-in NAS', () => {
  beforeEach(() => resetNas());

  it('first deploy: builds the dated tag, runs it healthy, no previous tag', async () => {
    const sha = originHead();
    const run = await deploy();
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const tag = tagOf(sha);
    expect(run.outputs).toMatchObject({
      DEPLOYED_BACKEND_TAG: tag,
      PREVIOUS_BACKEND_TAG: '',
      BACKEND_IMAGE: `scanium-backend:${tag}`,
      ROLLED_BACK: 'false',
    });
    expect(run.env.DEPLOYED_BACKEND_TAG).toBe(tag);
    expect(containerImage('scanium-backend')).toBe(`scanium-backend:${tag}`);
    expect(containerState('scanium-backend')).toBe('running healthy');
    expect((await httpGet(HEALTH_URL)).status).toBe(200);
    expect(run.stdout).toContain(`[2/8] Updating repository from origin/main...`);
    expect(run.stdout).toContain(`✓ Image tag: ${tag}`);
    expect(run.stdout).toContain(`DEPLOYED_BACKEND_TAG=${tag}`);
    expect(run.summary).toContain(tag);
    const history = historyLines();
    expect(history.at(-1)).toMatchObject({
      action: 'deploy-backend',
      tag,
      commit: sha,
      outcome: 'success',
      actor: 'e2e-tester',
    });
    // the history lives outside the work tree: the checkout stays clean
    expect(asNas(['git', '-C', REPO, 'status', '--porcelain'])).toBe('');
  });

  it('second deploy: PREVIOUS is the first; a commit whose health fails is rolled back by itself', async () => {
    const first = tagOf(originHead());
    expect((await deploy()).code).toBe(0);
    const second = tagOf(pushCommit({ 'backend/www/version': 'two\n' }, 'Second release'));
    const run2 = await deploy();
    expect(run2.code, run2.stdout).toBe(0);
    expect(run2.outputs).toMatchObject({ DEPLOYED_BACKEND_TAG: second, PREVIOUS_BACKEND_TAG: first });
    expect((await httpGet('http://127.0.0.1:18080/version')).body).toBe('two\n');

    const broken = tagOf(pushCommit(BROKEN_HEALTH, 'Break the health endpoint'));
    const run3 = await deploy({ 'health-timeout': '60' });
    expect(run3.code).not.toBe(0);
    expect(run3.outputs).toMatchObject({
      ROLLED_BACK: 'true',
      DEPLOYED_BACKEND_TAG: second,
      PREVIOUS_BACKEND_TAG: second,
    });
    expect(run3.stdout).toMatch(
      new RegExp(`::error::.*${broken.replace(/\./g, '\\.')}.*${second.replace(/\./g, '\\.')}`),
    );
    expect(run3.stdout).toContain('Last 100 log lines of scanium-backend');
    expect(containerImage('scanium-backend')).toBe(`scanium-backend:${second}`);
    expect(containerState('scanium-backend')).toBe('running healthy');
    expect(historyLines().at(-1)).toMatchObject({ tag: broken, outcome: 'rolled-back' });
  });

  it('a build that fails leaves the running container untouched', async () => {
    const first = tagOf(originHead());
    expect((await deploy()).code).toBe(0);
    const id = docker('inspect', '--format', '{{.Id}}', 'scanium-backend');
    pushCommit(BROKEN_BUILD, 'A Dockerfile that cannot build');
    const run = await deploy();
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('Build failed');
    expect(docker('inspect', '--format', '{{.Id}}', 'scanium-backend')).toBe(id);
    expect(containerImage('scanium-backend')).toBe(`scanium-backend:${first}`);
    expect(containerState('scanium-backend')).toBe('running healthy');
  });

  it('a compose file that ignores the tag variable, or lacks the service, is refused before anything changes', async () => {
    const seed = originHead();
    const compose = asNas(['git', '-C', REPO, 'show', 'HEAD:backend/docker-compose.yml']);
    expect(compose).toContain('image: scanium-backend:${BACKEND_TAG:-latest}');
    const sha = pushCommit(
      { 'backend/docker-compose.yml': compose.replace('${BACKEND_TAG:-latest}', 'latest') },
      'Pin the image to latest',
    );
    const run = await deploy();
    expect(run.code).toBe(1);
    expect(run.stdout).toContain(
      `::error::deploy-backend failed before anything changed: The compose file does not fit the release: in backend/docker-compose.yml at ${sha.slice(0, 7)}, service api's image (scanium-backend:latest) does not read BACKEND_TAG`,
    );
    expect(run.stdout).toContain('write the line `image: scanium-backend:${BACKEND_TAG}` in service api');
    // nothing changed: the checkout is at the seed, nothing was built, nothing runs
    expect(asNas(['git', '-C', REPO, 'rev-parse', 'HEAD']).trim()).toBe(seed);
    expect(docker('image', 'ls', '--quiet', 'scanium-backend')).toBe('');
    expect(containerImage('scanium-backend')).toBe('');
    expect(historyLines().at(-1)).toMatchObject({
      outcome: 'failure',
      detail: 'compose file refused by the preflight',
    });

    const missing = await deploy({ service: 'worker' });
    expect(missing.code).toBe(1);
    expect(missing.stdout).toContain(
      `backend/docker-compose.yml at ${sha.slice(0, 7)} has no service worker (its services: api)`,
    );
    expect(asNas(['git', '-C', REPO, 'rev-parse', 'HEAD']).trim()).toBe(seed);
  });

  it('data safety 11: a failed release whose application prints a value of its env file shows *** in its log lines', async () => {
    const dsn = 'postgres://shop:Sup3r-s3cret-pw@db:5432/shop';
    pushCommit(
      {
        ...BROKEN_HEALTH,
        // the application reads the env file and prints the DSN in its connection error, as apps do
        'backend/docker-compose.yml': `services:
  api:
    build: .
    image: scanium-backend:\${BACKEND_TAG:-latest}
    container_name: scanium-backend
    network_mode: host
    env_file: .env
    stop_grace_period: 1s
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:18080/health"]
      interval: 1s
      timeout: 2s
      retries: 3
`,
        'backend/Dockerfile': `FROM nas-base:latest
COPY www /www
CMD ["sh", "-c", "echo \\"connection to $DATABASE_URL failed\\"; exec httpd -f -p 127.0.0.1:18080 -h /www"]
`,
      },
      'An application that prints its DSN and never gets healthy',
    );
    const run = await runAction(
      'deploy-backend',
      connection({ 'health-url': HEALTH_URL, 'env-file-content': `DATABASE_URL=${dsn}\nLOG_LEVEL=info\nDEBUG=1\n` }),
      // runAction fails the test when the DSN reaches the log anywhere
      { secrets: [dsn] },
    );
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/Last 100 log lines of scanium-backend/);
    expect(run.stdout).toContain('connection to *** failed');
  });

  it('ref pins an older commit of the branch; a ref not on the branch is refused', async () => {
    const old = pushCommit({ 'backend/www/version': 'old\n' }, 'Older');
    pushCommit({ 'backend/www/version': 'newer\n' }, 'Newer');
    const run = await deploy({ ref: old });
    expect(run.code, run.stdout).toBe(0);
    expect(run.outputs.DEPLOYED_BACKEND_TAG).toBe(tagOf(old));
    expect((await httpGet('http://127.0.0.1:18080/version')).body).toBe('old\n');
    const bad = await deploy({ ref: 'f'.repeat(40) });
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain('is not a commit fetched from origin');
  });

  it('a dirty checkout: fail lists the paths and changes nothing; stash and reset warn and deploy', async () => {
    asNas(['sh', '-c', `echo local >> ${REPO}/backend/www/version; echo new > ${REPO}/backend/scratch.txt`]);
    const failed = await deploy();
    expect(failed.code).toBe(1);
    expect(failed.stdout).toContain('backend/scratch.txt');
    expect(failed.stdout).toContain('backend/www/version');
    expect(containerState('scanium-backend')).toBe('missing');
    expect(asNas(['git', '-C', REPO, 'status', '--porcelain'])).not.toBe('');

    const stashed = await deploy({ 'on-dirty': 'stash' });
    expect(stashed.code, stashed.stdout).toBe(0);
    expect(stashed.stdout).toMatch(/::warning::Local changes in the checkout were stashed/);
    expect(asNas(['git', '-C', REPO, 'stash', 'list'])).toContain(
      'nas-release: local changes before https://github.example/example/app/actions/runs/',
    );
    expect(asNas(['git', '-C', REPO, 'status', '--porcelain'])).toBe('');

    asNas(['sh', '-c', `echo again >> ${REPO}/backend/www/version`]);
    const reset = await deploy({ 'on-dirty': 'reset' });
    expect(reset.code, reset.stdout).toBe(0);
    expect(reset.stdout).toMatch(/::warning::Local changes in the checkout were discarded/);
    expect(asNas(['git', '-C', REPO, 'status', '--porcelain'])).toBe('');
  });
});

describe('deploy-backend without a checkout', () => {
  it('a repo-path that is not a checkout fails before anything is created there', async () => {
    const run = await deploy({ 'repo-path': '/volume1/docker/nothing-here/repo' });
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('repo-path /volume1/docker/nothing-here/repo is not a git checkout on the NAS');
    expect(existsSync('/volume1/docker/nothing-here')).toBe(false);
  });
});

describe('rollback-backend against the stand-in NAS', () => {
  beforeEach(() => resetNas());

  it('named tag, unknown tag, running tag, and empty-tag rollbacks walking back two releases', async () => {
    const a = tagOf(originHead());
    expect((await deploy()).code).toBe(0);
    const b = tagOf(pushCommit({ 'backend/www/version': 'b\n' }, 'B'));
    expect((await deploy()).code).toBe(0);
    const c = tagOf(pushCommit({ 'backend/www/version': 'c\n' }, 'C'));
    expect((await deploy()).code).toBe(0);

    const unknown = await rollback({ tag: '2020.01.01-0000000' });
    expect(unknown.code).toBe(1);
    expect(unknown.stdout).toContain('does not exist on the NAS');
    expect(unknown.stdout.indexOf(c)).toBeLessThan(unknown.stdout.indexOf(a, unknown.stdout.indexOf('Available tags')));
    expect(containerImage('scanium-backend')).toBe(`scanium-backend:${c}`);
    expect(historyLines().at(-1)).toMatchObject({ action: 'rollback-backend', outcome: 'failure' });

    const same = await rollback({ tag: c });
    expect(same.code).toBe(0);
    expect(same.stdout).toContain('is already running: nothing to do');
    expect(historyLines().at(-1)).toMatchObject({ action: 'rollback-backend', tag: c, outcome: 'noop' });

    const toB = await rollback();
    expect(toB.code, toB.stdout).toBe(0);
    expect(toB.outputs).toMatchObject({
      DEPLOYED_BACKEND_TAG: b,
      PREVIOUS_BACKEND_TAG: c,
      BACKEND_IMAGE: `scanium-backend:${b}`,
    });
    // Six steps, numbered out of six.
    expect(toB.stdout.match(/^\[\d\/\d\] /gm)).toEqual(['[1/6] ', '[2/6] ', '[3/6] ', '[4/6] ', '[5/6] ', '[6/6] ']);
    expect((await httpGet('http://127.0.0.1:18080/version')).body).toBe('b\n');
    const toA = await rollback();
    expect(toA.code, toA.stdout).toBe(0);
    expect(toA.outputs.DEPLOYED_BACKEND_TAG).toBe(a);
    expect(containerImage('scanium-backend')).toBe(`scanium-backend:${a}`);

    const named = await rollback({ tag: c });
    expect(named.code).toBe(0);
    expect(containerImage('scanium-backend')).toBe(`scanium-backend:${c}`);
    expect(containerState('scanium-backend')).toBe('running healthy');
  });

  it('a hostile tag is refused before connecting and never runs', async () => {
    const run = await rollback({ tag: '$(touch /tmp/pwned)' });
    expect(run.code).toBe(1);
    expect(run.stdout).toContain("Input 'tag'");
    expect(existsSync('/tmp/pwned')).toBe(false);
  });

  it('pre-rollback and post-rollback run around the change with BACKEND_TAG and PREVIOUS_BACKEND_TAG; a failing pre-rollback changes nothing', async () => {
    const a = tagOf(originHead());
    expect((await deploy()).code).toBe(0);
    const b = tagOf(pushCommit({ 'backend/www/version': 'b\n' }, 'B'));
    expect((await deploy()).code).toBe(0);
    const dir = mkdtempSync(join(tmpdir(), 'nr-hooks-'));
    chownSync(dir, Number(asNas(['id', '-u']).trim()), Number(asNas(['id', '-g']).trim()));
    // each hook says its tags and what runs while it runs
    const says = (file: string): string =>
      `printf '%s %s %s\\n' "$BACKEND_TAG" "$PREVIOUS_BACKEND_TAG" "$(docker inspect --format '{{.Config.Image}}' scanium-backend)" > ${dir}/${file}`;
    const started = docker('inspect', '--format', '{{.Id}} {{.State.StartedAt}}', 'scanium-backend');

    const refused = await rollback({ tag: a, 'pre-rollback': `${says('refused')}; exit 7` });
    expect(refused.code).toBe(1);
    expect(refused.stdout).toContain('pre-rollback failed (exit 7)');
    expect(refused.stdout).toContain(
      `pre-rollback failed, so the rollback to scanium-backend:${a} stopped before anything changed`,
    );
    expect(readFileSync(join(dir, 'refused'), 'utf8')).toBe(`${a} ${b} scanium-backend:${b}\n`);
    expect(docker('inspect', '--format', '{{.Id}} {{.State.StartedAt}}', 'scanium-backend')).toBe(started);
    expect(refused.outputs).toMatchObject({ DEPLOYED_BACKEND_TAG: b, BACKEND_IMAGE: `scanium-backend:${b}` });
    expect(historyLines().at(-1)).toMatchObject({
      action: 'rollback-backend',
      tag: a,
      previous: b,
      outcome: 'failure',
      detail: 'pre-rollback failed',
    });

    const done = await rollback({ tag: a, 'pre-rollback': says('pre'), 'post-rollback': says('post') });
    expect(done.code, done.stdout).toBe(0);
    expect(readFileSync(join(dir, 'pre'), 'utf8')).toBe(`${a} ${b} scanium-backend:${b}\n`);
    expect(readFileSync(join(dir, 'post'), 'utf8')).toBe(`${a} ${b} scanium-backend:${a}\n`);
    expect(containerState('scanium-backend')).toBe('running healthy');
    expect(historyLines().at(-1)).toMatchObject({ action: 'rollback-backend', tag: a, outcome: 'success' });
    rmSync(dir, { recursive: true, force: true });
  });
});
