/**
 * Connects to the stand-in NAS with the real SSH core, runs a program that
 * prints `MB` megabytes, and reports as JSON how many lines it relayed and how
 * many it kept for the report's tail.
 */
import { readFileSync } from 'node:fs';
import { Executor } from '../../../src/ssh/exec.js';
import { parseHostKeys } from '../../../src/ssh/host-key.js';
import { Session } from '../../../src/ssh/session.js';
import { programText } from '../../../src/remote/program.js';
import { sh } from '../../../src/remote/shell.js';

/** Lines in one printed string (one or more, joined by \n) or Buffer (whole lines, each ending with \n). */
function countLines(text: string | Buffer): number {
  if (typeof text !== 'string') {
    let lines = 0;
    for (let at = text.indexOf(10); at >= 0; at = text.indexOf(10, at + 1)) lines += 1;
    return lines;
  }
  let n = 1;
  for (let at = text.indexOf('\n'); at >= 0; at = text.indexOf('\n', at + 1)) n += 1;
  return n;
}

async function main(): Promise<void> {
  const mb = Number(process.argv[2] ?? '1');
  const session = await Session.connect({
    host: '127.0.0.1',
    port: 2222,
    username: 'nas',
    privateKey: readFileSync('/var/lib/nas-standin/client_ed25519', 'utf8'),
    hostKeys: parseHostKeys(readFileSync('/var/lib/nas-standin/host_fingerprint', 'utf8')),
    skipHostKeyCheck: false,
    connectTimeout: 20,
  });
  let lines = 0;
  const exec = new Executor(session, (batch) => {
    for (const text of batch) lines += countLines(text);
  });
  const result = await exec.run({
    title: 'print',
    text: programText({
      path: '/usr/bin:/bin',
      marker: exec.marker,
      script: sh`head -c ${mb * 1024 * 1024} /dev/zero | base64`,
    }),
    timeout: 120,
  });
  session.close();
  console.log(JSON.stringify({ mb, lines, tail: result.tail.length }));
}

void main();
