import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LIBRARIES } from '../../src/nas-shell/libraries.generated.js';

/**
 * The proxies' shell (src/nas-shell/nginx.sh, switch-command.sh), run locally with real
 * shells, dash and BusyBox's sh: `docker exec` runs the container's script
 * right here, its /proc a folder of the test's (this host's own may hold the
 * stand-in's nginx workers), with an `nginx` of the test's own on the PATH
 * that logs its calls, refuses `-t` when told to and, on `-s reload`, retitles
 * the workers of that /proc as old ones do (unless told they are stuck).
 */
const work = mkdtempSync(join(tmpdir(), 'nginx-shell-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const bin = join(work, 'bin');
mkdirSync(bin);
writeFileSync(
  join(bin, 'nginx'),
  `#!/bin/sh
echo "nginx $*" >> "$NGINX_LOG"
if [ "$1" = -t ] && [ -n "$NGINX_REFUSE" ]; then echo 'nginx: [emerg] unknown directive "proxy_passs"'; exit 1; fi
if [ "$1" = -s ] && [ -z "$NGINX_STUCK" ]; then
  for f in "$FAKE_PROC"/*/cmdline; do
    [ "$(cat "$f")" = 'nginx: worker process' ] && echo 'nginx: worker process is shutting down' > "$f"
  done
fi
exit 0
`,
);
chmodSync(join(bin, 'nginx'), 0o755);
const BUSYBOX = ['/bin/busybox', '/usr/bin/busybox'].find((p) => existsSync(p));
const bbBin = join(work, 'bb');
if (BUSYBOX) {
  mkdirSync(bbBin);
  for (const applet of ['sh', 'cat', 'rm', 'mv', 'cp', 'mkdir', 'dirname', 'sleep', 'sed', 'ls', 'pwd'])
    symlinkSync(BUSYBOX, join(bbBin, applet));
}
const SHELLS: Array<[string, string, string]> = [
  ['dash', 'dash', `${bin}:${process.env.PATH}`],
  ...(BUSYBOX ? [['busybox', join(bbBin, 'sh'), `${bin}:${bbBin}`] as [string, string, string]] : []),
];

let n = 0;
/**
 * Runs `main` after the library, with nr_say printing its line and `docker exec C sh -c SCRIPT ...` running the
 * script here on a /proc of `workers` (their pids) titled as nginx titles its accepting workers.
 */
function run(shell: string, path: string, main: string, env: Record<string, string> = {}, workers: number[] = []) {
  const dir = join(work, `case-${++n}`);
  const proc = join(dir, 'proc');
  mkdirSync(proc, { recursive: true });
  for (const pid of workers) {
    mkdirSync(join(proc, String(pid)));
    writeFileSync(join(proc, String(pid), 'cmdline'), 'nginx: worker process\n');
  }
  const log = join(dir, 'nginx.log');
  const script = `nr_say() { echo "say $*"; }
nr_docker() {
  [ "$1 $3 $4" = 'exec sh -c' ] || exit 99; echo "exec $2" >> ${log}
  nr_script=$(printf '%s' "$5" | sed "s#/proc/#$FAKE_PROC/#g"); shift 5; sh -c "$nr_script" "$@"
}
${LIBRARIES.nginx}
${LIBRARIES.switchCommand}
up=${dir}/conf/upstream.conf
${main}`;
  const r = spawnSync(shell, ['-c', script], {
    encoding: 'utf8',
    env: { PATH: path, NGINX_LOG: log, FAKE_PROC: proc, ...env },
    timeout: 20_000,
  });
  const read = (f: string): string => (existsSync(f) ? readFileSync(f, 'utf8') : '');
  return { out: r.stdout, err: r.stderr, upstream: read(join(dir, 'conf/upstream.conf')), log: read(log), dir };
}

describe.each(SHELLS)('the nginx switch with %s', (_, shell, path) => {
  it('writes the upstream, validates, reloads in the proxy container, waits for the old workers and keeps no previous line', () => {
    const r = run(
      shell,
      path,
      `mkdir -p "$(dirname "$up")"; echo 'server 127.0.0.1:8081;' > "$up"
nr_nginx_switch_to "$up" px1 8082 1; echo "rc=$?"; ls "$(dirname "$up")"`,
      {},
      [41, 42],
    );
    expect(r.out).toBe('rc=0\nupstream.conf\n');
    expect(r.upstream).toBe('server 127.0.0.1:8082;\n');
    expect(r.log).toBe('exec px1\nnginx -t\nnginx -s reload\n');
  });

  it('a configuration nginx -t refuses is never reloaded, and the line of before comes back', () => {
    const r = run(
      shell,
      path,
      `mkdir -p "$(dirname "$up")"; echo 'server 127.0.0.1:8081;' > "$up"
nr_nginx_switch_to "$up" px1 8082 1; echo "rc=$?"`,
      { NGINX_REFUSE: '1' },
    );
    expect(r.out).toBe('say fail nginx: nginx: [emerg] unknown directive "proxy_passs"\nrc=1\n');
    expect(r.upstream).toBe('server 127.0.0.1:8081;\n');
    expect(r.log).toBe('exec px1\nnginx -t\n');
  });

  it('a reload that did not take effect in time: the old line back, reloaded again, return 2', () => {
    const r = run(shell, path, `nr_nginx_switch_to "$up" px1 8082 1; echo "rc=$?"`, { NGINX_STUCK: '1' }, [41]);
    expect(r.out).toBe(
      'say fail nginx: the old worker 41 still accepts 1s after the reload: the master did not take the new configuration\nrc=2\n',
    );
    // no line before the first switch: none after
    expect(r.upstream).toBe('');
    expect(r.log).toBe('exec px1\nnginx -t\nnginx -s reload\nexec px1\nnginx -t\nnginx -s reload\n');
  });

  it('old workers finishing requests count as in flight; none, and no connection to the port: the drain ends', () => {
    const r = run(
      shell,
      path,
      `nr_nginx_old_workers px1; echo "old=$?"
echo 'nginx: worker process is shutting down' > "$FAKE_PROC/41/cmdline"
nr_nginx_old_workers px1; echo "old=$?"
nr_nginx_in_flight px1 1; echo "in_flight=$?"`,
      {},
      [41],
    );
    // port 1 has no connection on any host
    expect(r.out).toBe(`old=4\nold=0\nin_flight=0\n`);
  });

  it('without a proxy container nothing is reloaded and the upstream is put back', () => {
    const r = run(
      shell,
      path,
      `mkdir -p "$(dirname "$up")"; echo 'server 127.0.0.1:8081;' > "$up"
nr_nginx_switch_to "$up" '' 8082 1; echo "rc=$?"`,
    );
    expect(r.out).toBe('say fail The proxy has no container\nrc=1\n');
    expect(r.upstream).toBe('server 127.0.0.1:8081;\n');
    expect(r.log).toBe('');
  });

  it('no proxy running: it starts with the upstream of the new colour', () => {
    const r = run(
      shell,
      path,
      `nr_started=
nr_bg_running() { [ -n "$nr_started" ] && echo "px-$1-$2"; }
nr_nginx_start() { nr_started=1; cat "$up"; }
nr_nginx_proxy shop proxy "$up" 8082; echo "px=$nr_px"`,
    );
    expect(r.out).toBe('say info Starting the proxy (proxy)\nserver 127.0.0.1:8082;\npx=px-shop-proxy\n');
  });
});

describe.each(SHELLS)('the switch-command with %s', (_, shell, path) => {
  it('runs in the repository with COLOR, CONTAINER and PORT; its output goes to the log, its failure is returned', () => {
    const r = run(
      shell,
      path,
      `mkdir -p "$FAKE_PROC/repo"
nr_switch_command_user() { echo "$(pwd) $COLOR $CONTAINER $PORT"; [ "$COLOR" = blue ]; }
nr_switch_command "$FAKE_PROC" "$FAKE_PROC/repo" blue c1 8081; echo "rc=$?"; nr_switch_command_said info "$FAKE_PROC"
nr_switch_command "$FAKE_PROC" "$FAKE_PROC/repo" green c2 8082; echo "rc=$?"; nr_switch_command_said fail "$FAKE_PROC"`,
    );
    const repo = join(r.dir, 'proc/repo');
    expect(r.out).toBe(
      `rc=0\nsay info switch-command: ${repo} blue c1 8081\nrc=1\nsay fail switch-command: ${repo} green c2 8082\n`,
    );
  });
});
