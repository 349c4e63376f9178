import { execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpGetAll, parseHttpValue } from '../../src/remote/http.js';
import { programText } from '../../src/remote/program.js';
import type { Shell } from '../../src/remote/shell.js';
import { LineSplitter, ProgramOutput } from '../../src/ssh/exec.js';

const MARKER = '@@m@@';
const work = mkdtempSync(join(tmpdir(), 'http-test-'));
const AUTHORIZATION = `Basic ${Buffer.from('admin:s3cret-grafana-pass').toString('base64')}`;

/** What the server saw: the Authorization header, and every command line on the machine while it answered. */
const seen: { authorization?: string; commandLines: string }[] = [];
let server: Server;
let base = '';
beforeAll(async () => {
  server = createServer((req, res) => {
    void promisify(execFile)('ps', ['-eo', 'args'], { maxBuffer: 64 * 1024 * 1024 }).then(({ stdout }) => {
      seen.push({ authorization: req.headers.authorization, commandLines: stdout });
      res.end('{"ok":true}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => {
  server.close();
  rmSync(work, { recursive: true, force: true });
});

/** A NAS userland: the tools the program uses, with the HTTP client given. */
function userland(name: string, client: Record<string, string>): string {
  const dir = join(work, name);
  mkdirSync(dir, { recursive: true });
  for (const tool of ['mktemp', 'rm', 'grep', 'timeout', 'sed', 'tail', 'head', 'base64', 'tr', 'cat', 'ps'])
    symlinkSync(`/usr/bin/${tool}`, join(dir, tool));
  for (const [tool, target] of Object.entries(client)) symlinkSync(target, join(dir, tool));
  return dir;
}

function run(script: Shell, path: string): Promise<Map<string, string>> {
  const child = spawn('/bin/sh', ['-s'], { env: { PATH: path } });
  const output = new ProgramOutput(MARKER, { title: 'checks', quiet: true }, { allowFailure: true }, () => true);
  const splitter = new LineSplitter(
    (line) => output.line(line),
    (line) => output.isMarker(line),
  );
  child.stdout.on('data', (d: Buffer) => splitter.push(d));
  child.stderr.resume();
  child.stdin.end(programText({ path, marker: MARKER, script }));
  return new Promise((resolve) =>
    child.on('close', (code) => {
      splitter.end();
      resolve(output.result(code ?? 1).values);
    }),
  );
}

describe('HTTP checks from the NAS, run locally', () => {
  for (const [client, tools] of [
    ['GNU wget', { wget: '/usr/bin/wget' }],
    ['curl', { curl: '/usr/bin/curl' }],
  ] as const) {
    it(`${client === 'curl' ? 'as before, ' : 'defect 12.7: '}with ${client}, the credentials reach the server and no command line`, async () => {
      seen.length = 0;
      const path = userland(client.replace(' ', '-'), tools);
      const values = await run(
        httpGetAll(
          [
            { id: 'grafana', url: `${base}/api/health`, auth: true },
            { id: 'open', url: `${base}/open` },
          ],
          AUTHORIZATION,
        ),
        path,
      );
      expect(parseHttpValue(values.get('http_grafana'))).toMatchObject({ status: 200, body: '{"ok":true}' });
      expect(parseHttpValue(values.get('http_open')).status).toBe(200);
      expect(seen.map((s) => s.authorization).sort()).toEqual([AUTHORIZATION, undefined]);
      for (const s of seen) {
        expect(s.commandLines).toContain(client === 'curl' ? 'curl' : 'wget');
        expect(s.commandLines).not.toContain(AUTHORIZATION.split(' ')[1]);
      }
    });
  }

  it('defect 12.7: with BusyBox wget only, an authenticated check says it needs curl or GNU wget and sends nothing', async () => {
    seen.length = 0;
    const path = userland('busybox-wget', { wget: '/bin/busybox' });
    const values = await run(
      httpGetAll([{ id: 'grafana', url: `${base}/api/health`, auth: true }], AUTHORIZATION),
      path,
    );
    expect(parseHttpValue(values.get('http_grafana'))).toMatchObject({
      status: 0,
      error: expect.stringContaining('needs curl or GNU wget on the NAS') as unknown,
    });
    expect(seen).toEqual([]);
  });
});
