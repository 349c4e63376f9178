import { rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  HEALTH_URL,
  ORIGIN,
  REPO,
  asNas,
  connection,
  originHead,
  pushCommit,
  resetNas,
  runAction,
  tagOf,
} from './harness.js';

interface Request {
  method: string;
  url: string;
  auth: string;
  body: Record<string, unknown>;
}

/**
 * A local stand-in for the GitHub REST API (GITHUB_API_URL) that records what it is asked.
 * The first `failFirst` requests get 502, as a GitHub having a bad moment would answer.
 */
async function fakeApi(status = 201, failFirst = 0): Promise<{ server: Server; url: string; requests: Request[] }> {
  const requests: Request[] = [];
  let next = 100;
  let failures = failFirst;
  const server = createServer((req: IncomingMessage, res) => {
    let data = '';
    req.on('data', (c: Buffer) => (data += c.toString()));
    req.on('end', () => {
      requests.push({
        method: req.method ?? '',
        url: req.url ?? '',
        auth: String(req.headers.authorization ?? ''),
        body: JSON.parse(data || '{}') as Record<string, unknown>,
      });
      if (failures > 0) {
        failures -= 1;
        res.writeHead(502, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ message: 'Server Error' }));
        return;
      }
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify(
          status >= 400
            ? { message: 'Resource not accessible by integration' }
            : {
                id: req.url?.endsWith('/deployments') ? next++ : 1,
                state: 'in_progress',
                // a tag object's id, for the ref that points at it
                ...(req.url?.endsWith('/git/tags') ? { sha: 'a'.repeat(40) } : {}),
              },
        ),
      );
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests };
}

describe('GitHub deployments', () => {
  let api: Awaited<ReturnType<typeof fakeApi>>;
  beforeEach(() => resetNas());
  afterEach(() => api?.server.close());

  it('records a deploy and a rollback as deployments of their commits, with their statuses', async () => {
    api = await fakeApi();
    const env = { GITHUB_API_URL: api.url, GITHUB_REPOSITORY: 'example/app', GITHUB_RUN_ID: '4242' };
    const inputs = {
      'health-url': HEALTH_URL,
      environment: 'production',
      'environment-url': 'https://app.example.test',
      'github-token': 'ghs_exampletoken0123456789',
    };
    const first = originHead();
    expect((await runAction('deploy-backend', connection(inputs), { env })).code).toBe(0);
    const second = pushCommit({ 'backend/www/version': '2\n' }, 'two');
    const deployed = await runAction('deploy-backend', connection(inputs), { env });
    expect(deployed.code, deployed.stdout).toBe(0);

    const created = api.requests.filter((r) => r.url === '/repos/example/app/deployments');
    expect(created.map((r) => r.body.ref)).toEqual([first, second]);
    expect(created[1].body).toMatchObject({ environment: 'production', required_contexts: [], auto_merge: false });
    expect(created[1].auth).toBe('token ghs_exampletoken0123456789');
    const statuses = api.requests
      .filter((r) => /^\/repos\/example\/app\/deployments\/101\/statuses$/.test(r.url))
      .map((r) => r.body);
    expect(statuses.map((s) => s.state)).toEqual(['in_progress', 'success']);
    expect(statuses[1]).toMatchObject({
      log_url: 'https://github.example/example/app/actions/runs/4242',
      environment_url: 'https://app.example.test',
    });

    const rolled = await runAction('rollback-backend', connection(inputs), { env });
    expect(rolled.code, rolled.stdout).toBe(0);
    const rollback = api.requests.filter((r) => r.url === '/repos/example/app/deployments').at(-1)!;
    expect(rollback.body.ref).toBe(first);
    expect(String(rollback.body.description)).toBe(`Rollback of the backend from ${tagOf(second)} to ${tagOf(first)}`);
    expect(api.requests.at(-1)!.body.state).toBe('success');

    // A tag the release history does not know (history lost, or an image built by hand): its short SHA names the commit.
    rmSync(`${REPO}/.git/nas-release/history.jsonl`);
    const named = await runAction('rollback-backend', connection({ ...inputs, tag: tagOf(second) }), { env });
    expect(named.code, named.stdout).toBe(0);
    expect(api.requests.filter((r) => r.url === '/repos/example/app/deployments').at(-1)!.body.ref).toBe(second);
  });

  it('a failed release is recorded as failure', async () => {
    api = await fakeApi();
    const env = { GITHUB_API_URL: api.url, GITHUB_REPOSITORY: 'example/app' };
    pushCommit({ 'backend/Dockerfile': 'FROM nas-base:latest\nRUN exit 3\n' }, 'broken build');
    const run = await runAction(
      'deploy-backend',
      connection({ environment: 'staging', 'github-token': 'ghs_exampletoken0123456789' }),
      { env },
    );
    expect(run.code).toBe(1);
    expect(api.requests.filter((r) => r.url.endsWith('/statuses')).map((r) => r.body.state)).toEqual([
      'in_progress',
      'failure',
    ]);
  });

  it('a token without deployments: write gives a warning, never a failed release', async () => {
    api = await fakeApi(403);
    const run = await runAction(
      'deploy-backend',
      connection({ 'health-url': HEALTH_URL, environment: 'production', 'github-token': 'ghs_exampletoken0123456789' }),
      { env: { GITHUB_API_URL: api.url, GITHUB_REPOSITORY: 'example/app' } },
    );
    expect(run.code, run.stdout).toBe(0);
    expect(run.stdout).toMatch(
      /::warning::Recording the GitHub deployment failed: HTTP 403 \(does the workflow grant `permissions: deployments: write`\?\)/,
    );
    expect(api.requests).toHaveLength(1);
  });

  it('goes to the GitHub Enterprise Server API under GITHUB_API_URL, and tries a server error again', async () => {
    api = await fakeApi(201, 1);
    const run = await runAction(
      'deploy-backend',
      connection({ 'health-url': HEALTH_URL, environment: 'production', 'github-token': 'ghs_exampletoken0123456789' }),
      { env: { GITHUB_API_URL: `${api.url}/api/v3`, GITHUB_REPOSITORY: 'example/app' } },
    );
    expect(run.code, run.stdout).toBe(0);
    expect(run.stdout).not.toContain('Recording the GitHub deployment failed');
    expect(api.requests.map((r) => r.url)).toEqual([
      '/api/v3/repos/example/app/deployments',
      '/api/v3/repos/example/app/deployments',
      '/api/v3/repos/example/app/deployments/100/statuses',
      '/api/v3/repos/example/app/deployments/100/statuses',
    ]);
    expect(api.requests.slice(2).map((r) => r.body.state)).toEqual(['in_progress', 'success']);
  });

  it('an API that does not answer gives a warning saying why, never a failed release', async () => {
    api = await fakeApi();
    const closed = api.url;
    await new Promise((r) => api.server.close(r));
    const run = await runAction(
      'deploy-backend',
      connection({ 'health-url': HEALTH_URL, environment: 'production', 'github-token': 'ghs_exampletoken0123456789' }),
      { env: { GITHUB_API_URL: closed, GITHUB_REPOSITORY: 'example/app' } },
    );
    expect(run.code, run.stdout).toBe(0);
    expect(run.stdout).toMatch(
      /::warning::Recording the GitHub deployment failed: (?!HTTP)\S.*The release itself is not affected\./,
    );
  });

  it('records nothing when environment is empty', async () => {
    api = await fakeApi();
    const run = await runAction(
      'deploy-backend',
      connection({ 'health-url': HEALTH_URL, 'github-token': 'ghs_exampletoken0123456789' }),
      { env: { GITHUB_API_URL: api.url, GITHUB_REPOSITORY: 'example/app' } },
    );
    expect(run.code).toBe(0);
    expect(api.requests).toEqual([]);
  });
  it('deploy-monitoring with a github-token creates its tag through the API, never pushed from the NAS', async () => {
    api = await fakeApi();
    const env = { GITHUB_API_URL: api.url, GITHUB_REPOSITORY: 'example/app' };
    const sha = originHead();
    const tag = `monitoring-${tagOf(sha)}`;
    const run = await runAction(
      'deploy-monitoring',
      connection({ 'health-timeout': '60', 'github-token': 'ghs_tagtoken' }),
      { env, secrets: ['ghs_tagtoken'] },
    );
    expect(run.code, run.stdout).toBe(0);
    const tagObject = api.requests.find((r) => r.url === '/repos/example/app/git/tags');
    expect(tagObject?.body).toMatchObject({ tag, object: sha, type: 'commit' });
    expect(tagObject?.auth).toBe('token ghs_tagtoken');
    const ref = api.requests.find((r) => r.url === '/repos/example/app/git/refs');
    expect(ref?.body).toEqual({ ref: `refs/tags/${tag}`, sha: 'a'.repeat(40) });
    expect(run.stdout).toContain(`Created ${tag} on GitHub (through the API)`);
    // the NAS tagged its checkout (rollback-monitoring reads its tags), and pushed nothing
    expect(asNas(['git', '-C', REPO, 'tag', '--list', tag]).trim()).toBe(tag);
    expect(asNas(['git', '-C', ORIGIN, 'tag', '--list', tag]).trim()).toBe('');
  });

  it('deploy-monitoring with a token that may not create tags pushes the tag from the NAS, as before', async () => {
    api = await fakeApi(403);
    const tag = `monitoring-${tagOf(originHead())}`;
    const run = await runAction(
      'deploy-monitoring',
      connection({ 'health-timeout': '60', 'github-token': 'ghs_readonly' }),
      { env: { GITHUB_API_URL: api.url, GITHUB_REPOSITORY: 'example/app' }, secrets: ['ghs_readonly'] },
    );
    expect(run.code, run.stdout).toBe(0);
    expect(run.stdout).toMatch(/Could not create .* through the API \(HTTP 403.*pushing it from the NAS/);
    expect(asNas(['git', '-C', ORIGIN, 'tag', '--list', tag]).trim()).toBe(tag);
  });
});
