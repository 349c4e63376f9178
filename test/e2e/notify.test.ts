import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  BROKEN_HEALTH,
  HEALTH_URL,
  REPO,
  asNas,
  connection,
  containerImage,
  historyLines,
  originHead,
  pushCommit,
  resetNas,
  runAction,
  tagOf,
} from './harness.js';

/** What the receiver got: the path (token included) and the body, JSON or ntfy's plain text. */
interface Received {
  path: string;
  body: string;
  title: string;
}

/** A webhook receiver in the test process: every message the actions send lands here. */
let server: Server;
let base = '';
let received: Received[] = [];
beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      received.push({ path: req.url ?? '', body, title: String(req.headers.title ?? '') });
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const closed = createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const port = (closed.address() as AddressInfo).port;
  await new Promise<void>((r) => closed.close(() => r()));
  unreachable = `http://127.0.0.1:${port}/hook?token=DEADSECRET`;
});
afterAll(() => {
  server.closeAllConnections();
  server.close();
});

const jsonUrl = () => `${base}/hook?token=JSONSECRET`;
const ntfyUrl = () => `ntfy+${base}/releases-NTFYSECRET`;
/** A port nothing listens on (taken, then let go): the connection is refused at once. */
let unreachable = '';
const RUN_URL = (id: string) => `https://github.example/example/app/actions/runs/${id}`;

interface Message {
  text: string;
  action: string;
  outcome: string;
  tag?: string;
  commit?: string;
  previous?: string;
  reason?: string;
  run: string;
  reportedBy?: string;
}
const jsonMessages = (): Message[] =>
  received.filter((r) => r.path === '/hook?token=JSONSECRET').map((r) => JSON.parse(r.body) as Message);

let runId = Date.now();
async function act(
  action: string,
  extra: Record<string, string>,
  notify: string[] = [jsonUrl()],
  onStdout?: (chunk: string, kill: () => boolean) => void,
) {
  const id = String(++runId);
  received = [];
  const run = await runAction(action, connection({ 'health-url': HEALTH_URL, notify: notify.join('\n'), ...extra }), {
    env: { GITHUB_RUN_ID: id },
    secrets: notify,
    ...(onStdout ? { onStdout } : {}),
  });
  return { run, id };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Waits until `check` holds (the NAS finishing on its own), up to `ms`. */
async function until(check: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) expect.fail(`not within ${ms / 1000}s: ${what}`);
    await sleep(200);
  }
}

describe('notify against the stand-in NAS', () => {
  beforeEach(() => resetNas());

  it('a deploy, an automatic rollback and a rollback-backend each send their outcome; an unreachable URL is a warning', async () => {
    const a = tagOf(originHead());
    const first = await act('deploy-backend', {}, [jsonUrl(), ntfyUrl(), unreachable]);
    expect(first.run.code, first.run.stdout).toBe(0);
    // The unreachable URL: a warning naming its host, never its token; the release succeeded all the same.
    expect(first.run.stdout).toMatch(
      new RegExp(
        `::warning::The webhook \\(${unreachable.split('/')[2].replace(/\./g, '\\.')}\\) notification was not sent: ECONNREFUSED\\. The release itself is not affected\\.`,
      ),
    );
    // (runAction also checks that no URL line reaches the log outside the ::add-mask:: commands.)
    expect(
      first.run.stdout.split('\n').filter((l) => l.includes('DEADSECRET') && !l.startsWith('::add-mask::')),
    ).toEqual([]);
    expect(jsonMessages()).toEqual([
      expect.objectContaining({
        action: 'deploy-backend',
        outcome: 'success',
        tag: a,
        commit: originHead(),
        run: RUN_URL(first.id),
      }),
    ]);
    expect(jsonMessages()[0].previous).toBeUndefined();
    const ntfy = received.find((r) => r.path === '/releases-NTFYSECRET');
    expect(ntfy?.title).toBe(`deploy-backend ${a} succeeded (example/app)`);
    expect(ntfy?.body).toContain(`Release: ${a} (commit ${originHead()})`);
    expect(ntfy?.body).toContain(`Run: ${RUN_URL(first.id)}`);

    const b = tagOf(pushCommit({ 'backend/www/version': 'b\n' }, 'B'));
    const second = await act('deploy-backend', {});
    expect(second.run.code, second.run.stdout).toBe(0);
    expect(jsonMessages()).toEqual([expect.objectContaining({ outcome: 'success', tag: b, previous: a })]);

    const broken = tagOf(pushCommit(BROKEN_HEALTH, 'Break the health endpoint'));
    const failed = await act('deploy-backend', { 'health-timeout': '30' });
    expect(failed.run.code).not.toBe(0);
    expect(containerImage('scanium-backend')).toBe(`scanium-backend:${b}`);
    const [rolled] = jsonMessages();
    expect(jsonMessages()).toHaveLength(1);
    expect(rolled).toMatchObject({
      action: 'deploy-backend',
      outcome: 'rolled-back',
      tag: broken,
      previous: b,
      run: RUN_URL(failed.id),
    });
    expect(rolled.reason).toMatch(/health check/);
    expect(rolled.text.split('\n')[0]).toBe(
      `↩️ deploy-backend ${broken} failed and was rolled back automatically (example/app)`,
    );

    const back = await act('rollback-backend', {});
    expect(back.run.code, back.run.stdout).toBe(0);
    expect(containerImage('scanium-backend')).toBe(`scanium-backend:${a}`);
    expect(jsonMessages()).toEqual([
      expect.objectContaining({
        action: 'rollback-backend',
        outcome: 'success',
        tag: a,
        previous: b,
        run: RUN_URL(back.id),
      }),
    ]);
    expect(jsonMessages()[0].text).toContain(`Before: ${b}`);
  });

  it('an operation the NAS finished after its runner vanished is reported once, by the next run', async () => {
    const a = tagOf(originHead());
    let log = '';
    let killed = false;
    // The runner is killed while its detached phase runs; the NAS finishes the release by itself.
    const vanished = await act('deploy-backend', { 'pre-deploy': 'sleep 2' }, [jsonUrl()], (chunk, kill) => {
      log += chunk;
      if (!killed && log.includes('Running pre-deploy')) killed = kill();
    });
    expect(killed, vanished.run.stdout).toBe(true);
    expect(jsonMessages()).toEqual([]);
    await until(
      () => historyLines().some((r) => r.tag === a && r.outcome === 'success'),
      120_000,
      'the NAS records the release it finished',
    );

    // The next operation reports it (with the vanished run's URL), then its own outcome.
    const next = await act('rollback-backend', { tag: a });
    expect(next.run.code, next.run.stdout).toBe(0);
    expect(jsonMessages()).toEqual([
      expect.objectContaining({
        action: 'deploy-backend',
        outcome: 'success',
        tag: a,
        run: RUN_URL(vanished.id),
        reportedBy: RUN_URL(next.id),
      }),
      expect.objectContaining({ action: 'rollback-backend', outcome: 'noop', tag: a, run: RUN_URL(next.id) }),
    ]);
    expect(jsonMessages()[0].text).toContain('the runner of this operation vanished and the NAS finished it by itself');
    expect(asNas(['cat', `${REPO}/.git/nas-release/unreported`])).toBe('');

    // Once: the run after that sends its own outcome only.
    const again = await act('rollback-backend', { tag: a });
    expect(again.run.code).toBe(0);
    expect(jsonMessages()).toEqual([expect.objectContaining({ action: 'rollback-backend', run: RUN_URL(again.id) })]);
  });
});
