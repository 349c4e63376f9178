/**
 * Prints a build log of `<MB>` megabytes (base64 lines, 32 KB packets, each a
 * new buffer as ssh2 hands them over) through the executor's line splitter,
 * the program output and the Actions platform, to standard output, as a
 * deploy does; then reports its peak RSS in KiB on standard error.
 *
 * Bundled first (test/unit/log-memory.test.ts): node scripts/build.mjs --one test/support/print-log.ts <dir>
 */
import { ActionsPlatform } from '../../src/report/platform.js';
import { LineSplitter, ProgramOutput } from '../../src/ssh/exec.js';

const total = Number(process.argv[2]) * 1e6;
const platform = new ActionsPlatform();
const marker = '@@nr-test@@';
const output = new ProgramOutput(marker, { title: 'Building image' }, {}, (l) => platform.remote(l));
const splitter = new LineSplitter(
  (l) => output.line(l),
  (l) => output.isMarker(l),
  (t) => output.text(t),
  `${marker} `,
);
const line = Buffer.from(`${'QUFB'.repeat(19)}\n`);
const packet = Buffer.alloc(32 * 1024);
for (let i = 0; i < packet.length; i++) packet[i] = line[i % line.length];

let sent = 0;
function pump(): void {
  while (sent < total) {
    const chunk = Buffer.allocUnsafe(packet.length);
    packet.copy(chunk);
    splitter.push(chunk);
    sent += chunk.length;
    // as the executor does: a log that cannot take more pauses the channel until it drains
    if (!output.flush()) return void platform.drained(pump);
  }
  splitter.end();
  output.flush();
}
process.on('exit', () => process.stderr.write(`maxrss ${process.resourceUsage().maxRSS}\n`));
pump();
