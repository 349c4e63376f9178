import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readNotify } from '../../src/inputs/notify.js';
import { InputError, InputReader } from '../../src/inputs/reader.js';
import { ACTIONS } from '../../src/inputs/spec.js';
import { HistoryRecorder } from '../../src/nas/history-recorder.js';
import { clearUnreported, parseUnreported, readHistory, reportKey } from '../../src/remote/history.js';
import { linked, programText } from '../../src/remote/program.js';
import { Shell, lines, sh } from '../../src/remote/shell.js';
import { eventOfEarlier, eventOfResult } from '../../src/release/notify-run.js';
import { notifyTarget, requestOf, sendAll, titleOf, wanted, type NotifyEvent } from '../../src/report/notify.js';

const SLACK = 'https://hooks.slack.com/services/T000/B000/XXXXSECRET';
const DISCORD = 'https://discord.com/api/webhooks/123/SECRETTOKEN';

const notifyOf = (action: string, inputs: Record<string, string>) =>
  readNotify(new InputReader(action, (name) => inputs[name]));

function inputError(fn: () => unknown): InputError {
  try {
    fn();
  } catch (err) {
    if (err instanceof InputError) return err;
    throw err;
  }
  throw new Error('no InputError');
}

describe('notify: the kind of each URL', () => {
  it('is recognised by host for Slack, Discord and ntfy.sh, by prefix for a self-hosted ntfy and Gotify, else JSON', () => {
    expect(notifyTarget(SLACK)).toMatchObject({ kind: 'slack', url: SLACK, label: 'Slack (hooks.slack.com)' });
    expect(notifyTarget(DISCORD)).toMatchObject({ kind: 'discord', url: DISCORD });
    expect(notifyTarget('https://ntfy.sh/my-releases')).toMatchObject({
      kind: 'ntfy',
      url: 'https://ntfy.sh/my-releases',
    });
    expect(notifyTarget('ntfy+https://push.example.org/releases')).toMatchObject({
      kind: 'ntfy',
      url: 'https://push.example.org/releases',
    });
    expect(notifyTarget('gotify+https://gotify.example.org/message?token=AbC')).toMatchObject({
      kind: 'gotify',
      url: 'https://gotify.example.org/message?token=AbC',
      label: 'Gotify (gotify.example.org)',
    });
    expect(notifyTarget('https://example.org/hooks/release?key=k')).toMatchObject({ kind: 'json' });
    // Discord's host alone is not its webhook API.
    expect(notifyTarget('https://discord.com/other')).toMatchObject({ kind: 'json' });
    // http:// to a loopback or private address (a receiver on the NAS's own network).
    expect(notifyTarget('http://127.0.0.1:8080/hook').kind).toBe('json');
    expect(notifyTarget('ntfy+http://192.168.1.10/topic').kind).toBe('ntfy');
    expect(notifyTarget('http://[::1]:9/x').kind).toBe('json');
  });

  it('a bad line is an error naming notify and its line, never quoting the URL (it holds a token)', () => {
    const cases: Array<[string, RegExp]> = [
      ['http://hooks.example.org/T0KEN', /line 2 uses http:\/\/ to hooks\.example\.org.*https:\/\//],
      ['ftp://example.org/T0KEN', /line 2 must be an https:\/\/ URL/],
      ['not a url T0KEN', /line 2 is not a URL/],
      ['https://ntfy.sh/', /line 2 is an ntfy URL without a topic/],
      ['gotify+https://g.example.org/message', /line 2 is a Gotify URL without \?token=/],
      ['https://user:T0KEN@example.org/x', /line 2 must not hold a user or password/],
    ];
    for (const [line, message] of cases) {
      const err = inputError(() => notifyOf('deploy-backend', { notify: `${SLACK}\n${line}` }));
      expect(err.input).toBe('notify');
      expect(err.message).toMatch(message);
      expect(err.message).not.toContain('T0KEN');
    }
    expect(inputError(() => notifyOf('deploy-backend', { 'notify-on': 'sometimes' })).input).toBe('notify-on');
  });

  it('notify-on is always for a release, failure for verify, backup and cleanup; every action declares notify as a secret', () => {
    expect(notifyOf('deploy-backend', {})).toEqual({ targets: [], on: 'always' });
    expect(notifyOf('rollback-monitoring', {}).on).toBe('always');
    expect(notifyOf('verify-monitoring', {}).on).toBe('failure');
    expect(notifyOf('backup-backend', {}).on).toBe('failure');
    for (const action of Object.values(ACTIONS)) expect(action.inputs.notify.secret).toBe(true);
    expect(wanted('failure', 'success')).toBe(false);
    expect(wanted('failure', 'rolled-back')).toBe(true);
    expect(wanted('failure', 'interrupted')).toBe(true);
    expect(wanted('never', 'failure')).toBe(false);
  });
});

const RUN = 'https://github.example/example/app/actions/runs/42';

describe('notify: what a message says', () => {
  it('a successful deploy: action, release tag and commit, what ran before, the run', () => {
    const e = eventOfResult(
      'deploy-backend',
      { ok: true, outputs: { DEPLOYED_BACKEND_TAG: '2026.12.07-bbbbbbb', PREVIOUS_BACKEND_TAG: '2026.12.06-aaaaaaa' } },
      {
        id: '1',
        action: 'deploy-backend',
        stack: 'backend',
        tag: '2026.12.07-bbbbbbb',
        commit: 'b'.repeat(40),
        started: 'x',
        outcome: 'success',
      },
      RUN,
    );
    expect(e).toMatchObject({
      outcome: 'success',
      tag: '2026.12.07-bbbbbbb',
      previous: '2026.12.06-aaaaaaa',
      commit: 'b'.repeat(40),
    });
    const slack = JSON.parse(requestOf(notifyTarget(SLACK), e).body) as { text: string };
    expect(slack.text.split('\n')).toEqual([
      '✅ deploy-backend 2026.12.07-bbbbbbb succeeded',
      `Release: 2026.12.07-bbbbbbb (commit ${'b'.repeat(40)})`,
      'Before: 2026.12.06-aaaaaaa',
      `Run: ${RUN}`,
    ]);
  });

  it('an automatic rollback, a guard breach and a failed verify each say so, with the reason', () => {
    const record = {
      id: '1',
      action: 'deploy-backend',
      stack: 'backend' as const,
      tag: 'T2',
      previous: 'T1',
      started: 'x',
    };
    const rolled = eventOfResult(
      'deploy-backend',
      {
        ok: false,
        error: 'the release failed its health check and was rolled back to app:T1\nmore',
        outputs: { ROLLED_BACK: 'true' },
      },
      { ...record, outcome: 'rolled-back' },
      RUN,
    );
    expect(rolled).toMatchObject({ outcome: 'rolled-back', tag: 'T2', previous: 'T1' });
    expect(rolled.reason).toBe('the release failed its health check and was rolled back to app:T1');
    expect(titleOf(rolled)).toBe('↩️ deploy-backend T2 failed and was rolled back automatically');
    const guard = eventOfResult(
      'deploy-backend',
      { ok: false, error: 'guard errors breached', outputs: { ROLLED_BACK: 'true', WATCH_STATUS: 'rolled-back' } },
      { ...record, outcome: 'rolled-back' },
      RUN,
    );
    expect(titleOf(guard)).toContain('breached a metrics guard and was rolled back automatically');
    const verify = eventOfResult(
      'verify-monitoring',
      { ok: false, error: 'Mimir: up{job="x"} returned no series', outputs: { VERIFY_STATUS: 'failed' } },
      undefined,
      RUN,
    );
    expect(verify).toMatchObject({ outcome: 'verify-failed', reason: 'Mimir: up{job="x"} returned no series' });
    expect(wanted('failure', verify.outcome)).toBe(true);
    expect(
      wanted(
        'failure',
        eventOfResult('verify-monitoring', { ok: true, outputs: { VERIFY_STATUS: 'passed' } }, undefined, RUN).outcome,
      ),
    ).toBe(false);
  });

  it('an operation the NAS finished after its runner vanished names its own run and the one reporting it', () => {
    const e = eventOfEarlier(
      {
        id: '7',
        action: 'deploy-backend',
        stack: 'backend',
        tag: 'T3',
        previous: 'T2',
        run: 'https://x/runs/7',
        started: 'x',
        outcome: 'success',
      },
      RUN,
    );
    expect(e).toMatchObject({ outcome: 'success', run: 'https://x/runs/7', reportedBy: RUN, tag: 'T3' });
    expect(JSON.parse(requestOf(notifyTarget(DISCORD), e).body).content).toContain(
      `Reported late by ${RUN}: the runner of this operation vanished and the NAS finished it by itself.`,
    );
  });

  it('each service gets its own body', () => {
    const e: NotifyEvent = { action: 'rollback-backend', outcome: 'success', tag: 'T1', previous: 'T2', run: RUN };
    expect(JSON.parse(requestOf(notifyTarget(DISCORD), e).body)).toEqual({
      content: `✅ rollback-backend T1 succeeded\nRelease: T1\nBefore: T2\nRun: ${RUN}`,
      allowed_mentions: { parse: [] },
    });
    const ntfy = requestOf(notifyTarget('https://ntfy.sh/t'), e);
    expect(ntfy.body).toBe(`Release: T1\nBefore: T2\nRun: ${RUN}`);
    expect(ntfy.headers).toMatchObject({ title: 'rollback-backend T1 succeeded', priority: 'default' });
    const gotify = JSON.parse(requestOf(notifyTarget('gotify+https://g.example/message?token=t'), e).body);
    expect(gotify).toEqual({
      title: '✅ rollback-backend T1 succeeded',
      message: `Release: T1\nBefore: T2\nRun: ${RUN}`,
      priority: 4,
    });
    const json = JSON.parse(requestOf(notifyTarget('https://example.org/hook'), e).body);
    expect(json).toMatchObject({ action: 'rollback-backend', outcome: 'success', tag: 'T1', previous: 'T2', run: RUN });
  });
});

describe('notify: sending', () => {
  let server: Server;
  let base = '';
  const received: Array<{ path: string; body: string; type: string }> = [];
  beforeAll(async () => {
    server = createServer((req: IncomingMessage, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        const path = (req.url ?? '').split('?')[0];
        if (path === '/slow') return; // never answers
        received.push({ path: req.url ?? '', body, type: req.headers['content-type'] ?? '' });
        res.writeHead(path === '/refuse' ? 500 : 200).end('ok');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => {
    server.closeAllConnections();
    server.close();
  });

  it('sends to every URL at once; an endpoint that refuses, is closed or does not answer is a warning without its URL', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const closedPort = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const targets = [
      notifyTarget(`${base}/json?token=SECRET1`),
      notifyTarget(`ntfy+${base}/topic`),
      notifyTarget(`${base}/refuse?token=SECRET2`),
      notifyTarget(`http://127.0.0.1:${closedPort}/x?token=SECRET3`),
      notifyTarget(`${base}/slow?token=SECRET4`),
    ];
    const warnings: string[] = [];
    const started = Date.now();
    const sent = await sendAll(
      targets,
      { action: 'deploy-backend', outcome: 'success', tag: 'T1', run: RUN },
      (w) => warnings.push(w),
      1,
    );
    expect(Date.now() - started).toBeLessThan(5000);
    expect(sent).toBe(2);
    expect(received.map((r) => r.path).sort()).toEqual(['/json?token=SECRET1', '/refuse?token=SECRET2', '/topic']);
    expect(received.find((r) => r.path === '/topic')).toMatchObject({ type: 'text/plain; charset=utf-8' });
    expect(warnings).toHaveLength(3);
    expect(warnings.join('\n')).toMatch(/HTTP 500/);
    expect(warnings.join('\n')).toMatch(/ECONNREFUSED/);
    expect(warnings.join('\n')).toMatch(/no answer within 1s/);
    expect(warnings.join('\n')).not.toMatch(/SECRET/);
  });
});

describe('notify: the unreported list on the NAS', () => {
  const dir = mkdtempSync(join(tmpdir(), 'notify-unreported-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  // linked: with the history library the shell calls, as every program on the NAS gets it
  const run = (text: string) => spawnSync('sh', ['-c', linked(new Shell(text)).text], { encoding: 'utf8' });
  const unreported = (): string[] => {
    const text = programText({ path: '/usr/bin:/bin', marker: '@@m@@', script: readHistory(dir) });
    const out = spawnSync('/bin/sh', ['-s'], { input: text, encoding: 'utf8' }).stdout;
    const values = new Map<string, string>();
    for (const line of out.split('\n')) {
      const m = /^@@m@@ value (\S+) ?(.*)$/.exec(line);
      if (m) values.set(m[1], m[2]);
    }
    return parseUnreported(values);
  };
  const recorder = (id: string) => {
    const r = new HistoryRecorder(
      { action: 'deploy-backend', stack: 'backend', locking: true },
      { id, actor: 'a', url: `https://x/runs/${id}`, started: `2026-12-07T10:00:0${id}.000Z` },
      dir,
      true,
    );
    r.startedAt = `2026-12-07T10:00:0${id}.000Z`;
    return r;
  };
  const phase = (r: HistoryRecorder) => lines(r.begin({ tag: 'T' }), r.recordingSuccess(sh`:`, { tag: 'T' })).text;

  it("a phase's own end stays unreported until its runner has seen it; a vanished runner's is left for the next run", () => {
    const vanished = recorder('1');
    expect(run(phase(vanished)).status).toBe(0);
    const seenByRunner = recorder('2');
    expect(run(phase(seenByRunner)).status).toBe(0);
    const key1 = reportKey({ id: '1', action: 'deploy-backend', started: '2026-12-07T10:00:01.000Z' });
    const key2 = reportKey({ id: '2', action: 'deploy-backend', started: '2026-12-07T10:00:02.000Z' });
    expect(unreported()).toEqual([key1, key2]);
    // The runner that saw its phase end takes its own key out; the vanished one never did.
    expect(seenByRunner.finish('success', { tag: 'T' }).shell).toBeUndefined();
    expect(run(seenByRunner.seen()!.text).status).toBe(0);
    expect(unreported()).toEqual([key1]);
    expect(readFileSync(join(dir, 'history.jsonl'), 'utf8').trim().split('\n')).toHaveLength(2);
    // The next run reports it, then takes it out: reported once.
    expect(run(clearUnreported(dir, [key1]).text).status).toBe(0);
    expect(unreported()).toEqual([]);
  });
});
