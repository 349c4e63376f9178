import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  ANSWERS,
  HEALTH_URL,
  ORIGIN,
  REPO,
  asNas,
  connection,
  containerImage,
  containerState,
  docker,
  httpGet,
  originHead,
  pushCommit,
  resetNas,
  runAction,
  tagOf,
} from './harness.js';

const STACK = ['scanium-grafana', 'scanium-mimir', 'scanium-loki', 'scanium-tempo', 'scanium-alloy'];
const deploy = (extra: Record<string, string> = {}) =>
  runAction('deploy-monitoring', connection({ 'health-timeout': '60', ...extra }));
const rollback = (extra: Record<string, string> = {}) =>
  runAction('rollback-monitoring', connection({ 'health-timeout': '60', ...extra }));
const verify = (extra: Record<string, string> = {}) => runAction('verify-monitoring', connection(extra));
const alloyConfig = async () => (await httpGet('http://127.0.0.1:12345/config')).body;
const answer = (path: string, body: string) => writeFileSync(join(ANSWERS, path), body);

describe('deploy-monitoring and rollback-monitoring against the stand-in NAS', () => {
  beforeEach(() => resetNas());

  it('deploys with a clean slate, tags and pushes the release, and reuses the tag on a re-run', async () => {
    const sha = originHead();
    const tag = `monitoring-${tagOf(sha)}`;
    const run = await deploy();
    expect(run.code, run.stdout).toBe(0);
    expect(run.outputs).toMatchObject({
      DEPLOYED_MONITORING_TAG: tag,
      MONITORING_COMMIT: sha,
      VERIFY_STATUS: 'passed',
    });
    expect(run.stdout).toContain('Clean slate');
    expect(run.stdout).toContain('✓ PASSED');
    for (const c of STACK) expect(containerState(c)).toMatch(/^running/);
    expect(asNas(['git', '-C', ORIGIN, 'rev-parse', `${tag}^{commit}`]).trim()).toBe(sha);
    expect(asNas(['git', '-C', REPO, 'cat-file', '-t', tag]).trim()).toBe('tag'); // annotated
    expect(run.summary).toContain('| Grafana | datasources |');

    const again = await deploy();
    expect(again.code, again.stdout).toBe(0);
    expect(again.stdout).toContain(`Tag ${tag} already exists on this commit (a re-run): reusing it`);
  });

  it('removes a leftover container holding one of the stack names, with a warning', async () => {
    docker('run', '-d', '--name', 'scanium-loki', '--network', 'host', 'nas-base:latest', 'sleep', '600');
    const run = await deploy();
    expect(run.code, run.stdout).toBe(0);
    expect(run.stdout).toMatch(
      /::warning::Removing leftover container scanium-loki \(running, started outside compose\)/,
    );
    expect(
      docker(
        'inspect',
        '--format',
        '{{index .Config.Labels "com.docker.compose.project.working_dir"}}',
        'scanium-loki',
      ),
    ).toBe(`${REPO}/monitoring`);
    expect(containerState('scanium-loki')).toBe('running healthy');
  });

  it('defect 12.5: a stack name held by another compose project stops the release, and that container stays', async () => {
    const other = '/volume1/docker/other-monitoring';
    docker(
      'create',
      '--name',
      'scanium-loki',
      '--label',
      `com.docker.compose.project.working_dir=${other}`,
      'nas-base:latest',
      'true',
    );
    try {
      const run = await deploy();
      expect(run.code).toBe(1);
      expect(run.stdout).toMatch(
        new RegExp(
          `::error::Container scanium-loki \\(created, owned by the compose project in ${other}\\) holds a name of this stack`,
        ),
      );
      expect(run.stdout).not.toMatch(/Removing leftover container scanium-loki/);
      expect(
        docker(
          'inspect',
          '--format',
          '{{index .Config.Labels "com.docker.compose.project.working_dir"}}',
          'scanium-loki',
        ),
      ).toBe(other);
    } finally {
      docker('rm', '-f', 'scanium-loki');
    }
  });

  it('defect 12.5: removes only exact duplicates of stack names, never a container that merely contains one or belongs to another compose project', async () => {
    const bystanders = [
      'scanium-grafana-image-renderer',
      'photos-scanium-loki-migration',
      'scanium-tempo-compactor-old',
      // named like compose's own duplicate, but of another compose project
      '0123456789ab_scanium-mimir',
    ];
    const duplicate = 'abcdef012345_scanium-alloy'; // compose's rename of an old scanium-alloy, left by a failed recreate
    const made = [...bystanders, duplicate];
    try {
      for (const name of bystanders.slice(0, 3)) docker('create', '--name', name, 'nas-base:latest', 'true');
      docker(
        'create',
        '--name',
        bystanders[3],
        '--label',
        'com.docker.compose.project=photos',
        '--label',
        'com.docker.compose.project.working_dir=/volume1/docker/photos',
        'nas-base:latest',
        'true',
      );
      docker(
        'create',
        '--name',
        duplicate,
        '--label',
        `com.docker.compose.project.working_dir=${REPO}/monitoring`,
        'nas-base:latest',
        'true',
      );
      const run = await deploy();
      expect(run.code, run.stdout).toBe(0);
      for (const name of bystanders) {
        expect(containerState(name), name).toMatch(/^created/);
        expect(run.stdout).not.toContain(`Removing leftover container ${name}`);
      }
      expect(run.stdout).toContain(`Removing leftover container ${duplicate} (an exited duplicate)`);
      expect(containerState(duplicate)).toBe('missing');
      for (const c of STACK) expect(containerState(c)).toMatch(/^running/);
    } finally {
      spawnSync('docker', ['rm', '--force', ...made], { stdio: 'ignore' }); // some are gone already
    }
  });

  it('rolls back to a named tag (detached, first configuration served), then to the previous release; refuses an unknown tag', async () => {
    const first = `monitoring-${tagOf(originHead())}`;
    expect((await deploy()).code).toBe(0);
    expect(await alloyConfig()).toContain('revision: seed');
    const secondSha = pushCommit(
      { 'monitoring/alloy/config.alloy': '// revision: two\n' },
      'Monitoring: second configuration',
    );
    const second = `monitoring-${tagOf(secondSha)}`;
    expect((await deploy()).code).toBe(0);
    expect(await alloyConfig()).toContain('revision: two');

    const unknown = await rollback({ tag: 'monitoring-2020.01.01-0000000' });
    expect(unknown.code).toBe(1);
    expect(unknown.stdout).toContain('does not exist');
    expect(unknown.stdout).toContain(second);
    expect(await alloyConfig()).toContain('revision: two');

    const named = await rollback({ tag: first });
    expect(named.code, named.stdout).toBe(0);
    expect(named.outputs).toMatchObject({
      DEPLOYED_MONITORING_TAG: first,
      PREVIOUS_MONITORING_COMMIT: secondSha,
      VERIFY_STATUS: 'passed',
    });
    expect(named.stdout).toContain('The NAS checkout is now detached at');
    expect(asNas(['git', '-C', REPO, 'describe', '--tags', '--exact-match']).trim()).toBe(first);
    expect(() => asNas(['git', '-C', REPO, 'symbolic-ref', '-q', 'HEAD'])).toThrow();
    expect(await alloyConfig()).toContain('revision: seed');

    const previous = await rollback();
    expect(previous.code, previous.stdout).toBe(0);
    expect(previous.outputs.DEPLOYED_MONITORING_TAG).toBe(second);
    expect(await alloyConfig()).toContain('revision: two');
  });

  it('a release deployed with create-tag: false names no tag, and an empty-tag rollback goes to the last tagged one', async () => {
    const first = `monitoring-${tagOf(originHead())}`;
    expect((await deploy()).code).toBe(0);
    const untaggedSha = pushCommit(
      { 'monitoring/alloy/config.alloy': '// revision: untagged\n' },
      'Monitoring: untagged',
    );
    const untagged = await deploy({ 'create-tag': 'false' });
    expect(untagged.code, untagged.stdout).toBe(0);
    expect(untagged.outputs).toMatchObject({ DEPLOYED_MONITORING_TAG: '', MONITORING_COMMIT: untaggedSha });
    expect(untagged.stdout).toContain('No release tag (create-tag: false)');
    expect(untagged.stdout).not.toContain(tagOf(untaggedSha));
    expect(await alloyConfig()).toContain('revision: untagged');

    const back = await rollback();
    expect(back.code, back.stdout).toBe(0);
    expect(back.outputs).toMatchObject({ DEPLOYED_MONITORING_TAG: first, PREVIOUS_MONITORING_COMMIT: untaggedSha });
    expect(await alloyConfig()).toContain('revision: seed');
  });

  it('a deploy-backend after a monitoring rollback warns, switches back to the branch and succeeds', async () => {
    const first = `monitoring-${tagOf(originHead())}`;
    expect((await deploy()).code).toBe(0);
    const head = pushCommit(
      { 'monitoring/alloy/config.alloy': '// revision: two\n' },
      'Monitoring: second configuration',
    );
    expect((await deploy()).code).toBe(0);
    expect((await rollback({ tag: first })).code).toBe(0);
    const run = await runAction('deploy-backend', connection({ 'health-url': HEALTH_URL }));
    expect(run.code, run.stdout).toBe(0);
    expect(run.stdout).toMatch(
      new RegExp(`::warning::The checkout was detached at ${first}.*switching it back to branch main`),
    );
    expect(asNas(['git', '-C', REPO, 'symbolic-ref', '--short', 'HEAD']).trim()).toBe('main');
    expect(asNas(['git', '-C', REPO, 'rev-parse', 'HEAD']).trim()).toBe(head);
    expect(containerImage('scanium-backend')).toBe(`scanium-backend:${tagOf(head)}`);
  });
});

describe('verify-monitoring against the stand-in NAS', () => {
  beforeEach(async () => {
    resetNas();
    expect((await deploy({ 'create-tag': 'false', verify: 'false' })).code).toBe(0);
  });

  it('passes with everything up, warns when Loki has no labels, and fails on warnings when asked', async () => {
    const ok = await verify();
    expect(ok.code, ok.stdout).toBe(0);
    expect(ok.outputs.VERIFY_STATUS).toBe('passed');
    const report = JSON.parse(ok.outputs.VERIFY_REPORT) as Array<{ component: string; status: string }>;
    expect(report.filter((r) => r.status !== 'pass')).toEqual([]);
    expect(report.map((r) => r.component)).toEqual(
      expect.arrayContaining(['Grafana', 'Mimir', 'Tempo', 'Loki', 'containers']),
    );

    answer('loki/loki/api/v1/labels', '{"status":"success","data":[]}');
    const warned = await verify();
    expect(warned.code).toBe(0);
    expect(warned.outputs.VERIFY_STATUS).toBe('warnings');
    expect(warned.stdout).toContain('⚠ PASSED WITH WARNINGS (1 warning)');
    const strict = await verify({ 'fail-on-warnings': 'true' });
    expect(strict.code).toBe(1);
    expect(strict.outputs.VERIFY_STATUS).toBe('warnings');
  });

  it('fails naming a missing datasource, and when Mimir is stopped', async () => {
    answer('grafana/api/datasources', '[{"uid":"MIMIR"},{"uid":"LOKI"}]');
    const missing = await verify();
    expect(missing.code).toBe(1);
    expect(missing.outputs.VERIFY_STATUS).toBe('failed');
    expect(missing.stdout).toContain('missing datasource UID(s): TEMPO');
    expect(missing.stdout).toContain('✗ FAILED');

    answer('grafana/api/datasources', '[{"uid":"MIMIR"},{"uid":"LOKI"},{"uid":"TEMPO"}]');
    docker('stop', 'scanium-mimir');
    const stopped = await verify();
    expect(stopped.code).toBe(1);
    const failedChecks = (
      JSON.parse(stopped.outputs.VERIFY_REPORT) as Array<{ component: string; check: string; status: string }>
    ).filter((r) => r.status === 'fail');
    expect(failedChecks.map((r) => `${r.component} ${r.check}`)).toEqual(
      expect.arrayContaining(['Mimir ready', 'containers scanium-mimir']),
    );
  });

  it('uses grafana-credentials for the datasources, and never prints them', async () => {
    answer('grafana.conf', '/api/datasources:admin:s3cret-Pa55word\n');
    docker('kill', '--signal', 'HUP', 'scanium-grafana');
    const without = await verify();
    expect(without.code).toBe(1);
    expect(without.stdout).toMatch(/Grafana datasources: HTTP 401.*grafana-credentials are needed/);
    const withCreds = await verify({ 'grafana-credentials': 'admin:s3cret-Pa55word' });
    expect(withCreds.code, withCreds.stdout).toBe(0);
    expect(withCreds.outputs.VERIFY_STATUS).toBe('passed');
  });
});

describe('verify-monitoring of a plain Prometheus (checks: prometheus)', () => {
  // The stand-in's real Prometheus (test/nas/prometheus.sh) at prometheus-url's default, 127.0.0.1:9090; it
  // scrapes the sample backend, so up{job="scanium-backend"} has a series whether that backend runs or not.
  it('checks only Prometheus, and a required metric that is absent fails it', async () => {
    const present = 'up{job="scanium-backend"}';
    const ok = await verify({ checks: 'prometheus', 'required-metrics': present });
    expect(ok.code, ok.stdout).toBe(0);
    expect(ok.outputs.VERIFY_STATUS).toBe('passed');
    const report = JSON.parse(ok.outputs.VERIFY_REPORT) as Array<{ component: string; check: string; status: string }>;
    expect(report.map((r) => `${r.component} ${r.check} ${r.status}`)).toEqual([
      'Prometheus ready pass',
      `Prometheus metric ${present} pass`,
    ]);
    expect(ok.summary).not.toMatch(/Grafana|Mimir|Loki|Tempo|containers/);

    const absent = await verify({ checks: 'prometheus', 'required-metrics': `${present}\nnr_never_exported_total` });
    expect(absent.code).toBe(1);
    expect(absent.outputs.VERIFY_STATUS).toBe('failed');
    expect(absent.stdout).toContain(
      '✗ Prometheus metric nr_never_exported_total: no series for nr_never_exported_total',
    );
    expect(absent.stdout).toContain('✗ FAILED (1 failed check)');
  });
});
