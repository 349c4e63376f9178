// The release cycle of the README, run through the action bundles exactly as
// the runner runs them (inputs as INPUT_* variables, outputs via GITHUB_OUTPUT),
// against the stand-in NAS. Workflow commands are shown as a person reads them.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const STATE = '/var/lib/nas-standin';
const connection = {
  host: '127.0.0.1',
  port: '2222',
  username: 'nas',
  'private-key': readFileSync(join(STATE, 'client_ed25519'), 'utf8'),
  'host-key': readFileSync(join(STATE, 'host_fingerprint'), 'utf8').trim(),
};

function show(line) {
  if (/^::(add-mask|stop-commands)::|^::[0-9a-f]{24}::$/.test(line)) return;
  const m = /^::(group|endgroup|warning|error|notice)(?: [^:]*)?::(.*)$/.exec(line);
  if (!m) return void process.stdout.write(`    ${line}\n`);
  if (m[1] === 'group') process.stdout.write(`    ▸ ${m[2]}\n`);
  else if (m[1] !== 'endgroup') process.stdout.write(`    ${m[1]}: ${decodeURIComponent(m[2])}\n`);
}

async function action(name, inputs = {}) {
  console.log(
    `\n━━━ ${name} ${Object.entries(inputs)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ')}`,
  );
  const dir = mkdtempSync(join(tmpdir(), 'demo-'));
  const out = join(dir, 'out');
  writeFileSync(out, '');
  writeFileSync(join(dir, 'env'), '');
  const env = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    GITHUB_OUTPUT: out,
    GITHUB_ENV: join(dir, 'env'),
    GITHUB_ACTOR: 'demo',
    GITHUB_REPOSITORY: 'example/scanium',
    GITHUB_RUN_ID: String(Date.now()),
  };
  for (const [k, v] of Object.entries({ ...connection, ...inputs })) env[`INPUT_${k.toUpperCase()}`] = v;
  const child = spawn(process.execPath, [join(ROOT, 'dist', name, 'index.js')], {
    env,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let partial = '';
  child.stdout.on('data', (d) => {
    const lines = (partial + d).split('\n');
    partial = lines.pop();
    lines.forEach(show);
  });
  const code = await new Promise((r) => child.on('close', r));
  if (partial) show(partial);
  const outputs = {};
  const text = readFileSync(out, 'utf8').split('\n');
  for (let i = 0; i < text.length; i++) {
    const m = /^([^<]+)<<(.+)$/.exec(text[i]);
    if (!m) continue;
    const v = [];
    for (i++; i < text.length && text[i] !== m[2]; i++) v.push(text[i]);
    outputs[m[1]] = v.join('\n');
  }
  rmSync(dir, { recursive: true, force: true });
  console.log(`  → exit ${code}; outputs:`);
  for (const [k, v] of Object.entries(outputs)) console.log(`      ${k}=${v.length > 200 ? v.slice(0, 200) + '…' : v}`);
  return { code, outputs };
}

/** A developer pushes a change to the origin, as a push to main would. */
function push(file, content, message) {
  const dir = mkdtempSync(join(tmpdir(), 'demo-dev-'));
  const as = (...a) => execFileSync('runuser', ['-u', 'nas', '--', ...a], { cwd: '/tmp', encoding: 'utf8' });
  execFileSync('chown', ['nas', dir]);
  as('git', 'clone', '-q', '/volume1/git/scanium.git', dir);
  as('sh', '-c', `printf '%s' "$1" > "$2"`, 'sh', content, join(dir, file));
  as('git', '-C', dir, '-c', 'user.name=Developer', '-c', 'user.email=dev@example.test', 'commit', '-qam', message);
  as('git', '-C', dir, 'push', '-q', 'origin', 'HEAD:main');
  rmSync(dir, { recursive: true, force: true });
  console.log(`\n━━━ (developer pushes: ${message})`);
}

const health = { 'health-url': 'http://127.0.0.1:18080/health' };
const steps = [
  () => action('deploy-backend', health),
  () => (push('backend/www/version', 'second\n', 'Backend: second release'), action('deploy-backend', health)),
  () => action('rollback-backend', health),
  () => action('cleanup-backend', { keep: '1' }),
  () => action('deploy-monitoring'),
  () => action('verify-monitoring'),
  () => (
    push('monitoring/alloy/config.alloy', '// revision: demo\n', 'Monitoring: new Alloy configuration'),
    action('deploy-monitoring')
  ),
  () => action('rollback-monitoring'),
];
let failed = 0;
for (const step of steps) if ((await step()).code !== 0) failed++;
console.log(
  failed
    ? `\n✗ ${failed} step(s) failed`
    : '\n✓ Release cycle complete: deploy, second deploy, rollback, cleanup, monitoring deploy, verify, monitoring rollback',
);
process.exit(failed ? 1 : 0);
