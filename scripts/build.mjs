#!/usr/bin/env node
/**
 * Builds the committed artefacts:
 *   1. actions/<name>/action.yml and the README's action tables, from src/inputs/spec.ts;
 *   2. src/nas-shell/libraries.generated.ts, from src/nas-shell/*.sh (see scripts/nas-shell.mjs);
 *   3. one self-contained CommonJS bundle per entry with @vercel/ncc:
 *      src/actions/<name>.ts -> dist/<name>/index.js, src/cli.ts -> dist/cli/index.js.
 *
 *   node scripts/build.mjs           build (rewrites dist/ and the generated metadata)
 *   node scripts/build.mjs --check   build into a temporary directory and compare with
 *                                    dist/ and the metadata on disk; exit 1 listing every
 *                                    differing file. Writes nothing in the repository.
 *
 * The output is deterministic (no cache, no minification, no source maps, no
 * licence file, no absolute paths), so two builds of the same tree are
 * byte-identical and --check can hold dist/ to the sources in CI.
 */
import { spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SELF = fileURLToPath(import.meta.url);
const SHEBANG = '#!/usr/bin/env node\n';
const CLI = 'cli';

function die(message) {
  console.error(`build: ${message}`);
  process.exit(1);
}

/** Bundles one entry into outDir (child-process mode: one webpack per process, so builds run in parallel). */
async function bundleOne(entry, outDir) {
  process.chdir(ROOT); // module ids are relative to the working directory: keep them stable
  const { default: ncc } = await import('@vercel/ncc');
  const { code, assets } = await ncc(join(ROOT, entry), {
    cache: false,
    minify: false,
    sourceMap: false,
    license: '',
    v8cache: false,
    quiet: true,
    target: 'es2022',
    // Type errors are for npm run lint (tsc): a test file being edited must not break the bundles.
    transpileOnly: true,
    filterAssetBase: ROOT,
  });
  mkdirSync(outDir, { recursive: true });
  for (const [name, asset] of Object.entries(assets)) {
    if (name.endsWith('.node'))
      die(
        `${entry} pulls in the native module ${name}; dist/ must hold JavaScript only (keep ignore-scripts=true in .npmrc)`,
      );
    const file = join(outDir, name);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, asset.source);
    chmodSync(file, asset.permissions & 0o111 ? 0o755 : 0o644);
  }
  const isCli = entry === `src/${CLI}.ts`;
  let text = code.replace(/^#![^\n]*\n/, '');
  if (isCli) text = SHEBANG + text;
  const main = join(outDir, 'index.js');
  writeFileSync(main, text);
  chmodSync(main, isCli ? 0o755 : 0o644);
}

/** The entries: every src/actions/*.ts (one per action of the spec) and src/cli.ts. */
function entries(actionNames) {
  const files = readdirSync(join(ROOT, 'src/actions'))
    .filter((f) => f.endsWith('.ts'))
    .map((f) => f.slice(0, -3))
    .sort();
  const missing = actionNames.filter((n) => !files.includes(n));
  const extra = files.filter((n) => !actionNames.includes(n));
  if (missing.length) die(`no entry file for ${missing.map((n) => `src/actions/${n}.ts`).join(', ')}`);
  if (extra.length)
    die(
      `src/actions/ holds ${extra.map((n) => `${n}.ts`).join(', ')}, which ACTIONS in src/inputs/spec.ts does not declare`,
    );
  if (!existsSync(join(ROOT, `src/${CLI}.ts`))) die(`src/${CLI}.ts is missing`);
  return [...files.map((n) => ({ name: n, entry: `src/actions/${n}.ts` })), { name: CLI, entry: `src/${CLI}.ts` }];
}

function runChild(entry, outDir) {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [SELF, '--one', entry, outDir], {
      cwd: ROOT,
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    child.on('error', fail);
    child.on('exit', (code, signal) =>
      code === 0 ? done() : fail(new Error(`bundling ${entry} failed (${signal ?? `exit ${code}`})`)),
    );
  });
}

async function bundleAll(list, outRoot) {
  const queue = [...list];
  const workers = Array.from({ length: Math.max(1, Math.min(availableParallelism(), 4, queue.length)) }, async () => {
    for (let item = queue.shift(); item; item = queue.shift()) {
      const started = Date.now();
      await runChild(item.entry, join(outRoot, item.name));
      console.log(`  ${item.entry} -> dist/${item.name}/index.js (${((Date.now() - started) / 1000).toFixed(1)} s)`);
    }
  });
  await Promise.all(workers);
}

/** Every file under dir, relative, with forward slashes, sorted. */
function listFiles(dir) {
  if (!existsSync(dir)) return [];
  const out = [];
  const walk = (d) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.push(relative(dir, p).split(sep).join('/'));
    }
  };
  walk(dir);
  return out.sort();
}

/** Refuses native binaries anywhere in a built tree. */
function assertNoNative(dir) {
  const native = listFiles(dir).filter((f) => f.endsWith('.node'));
  if (native.length) die(`native modules in the build: ${native.join(', ')}; dist/ must hold JavaScript only`);
}

/** Loads each bundle once, without inputs: it must fail fast through runAction, not crash on a missing module. */
function smokeTest(outRoot, list) {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(
      ([k]) => !k.startsWith('INPUT_') && !k.startsWith('GITHUB_') && !k.startsWith('RUNNER_'),
    ),
  );
  const problems = [];
  for (const { name } of list) {
    const main = join(outRoot, name, 'index.js');
    const args = name === CLI ? [main, '--help'] : [main];
    const started = Date.now();
    // Output is captured, never echoed: its ::error:: line must not become an annotation in CI.
    const r = spawnSync(process.execPath, args, { env, encoding: 'utf8', timeout: 15_000, input: '' });
    const ms = Date.now() - started;
    const out = `${r.stdout}${r.stderr}`;
    if (name === CLI) {
      if (r.status !== 0)
        problems.push(
          `dist/${name}/index.js --help exited ${r.status ?? r.signal}: ${out.trim().split('\n').slice(-3).join(' | ')}`,
        );
    } else if (r.status !== 1 || !out.includes('::error::')) {
      problems.push(
        `dist/${name}/index.js without inputs should fail through runAction (exit 1, ::error::), got ${r.status ?? r.signal}: ${out.trim().split('\n').slice(-3).join(' | ')}`,
      );
    }
    if (ms > 5000) problems.push(`dist/${name}/index.js took ${ms} ms to start`);
  }
  if (problems.length) die(`smoke test failed:\n  ${problems.join('\n  ')}`);
}

async function main() {
  const args = process.argv.slice(2);
  if (args[0] === '--one') return bundleOne(args[1], args[2]);
  const check = args.includes('--check');
  const unknown = args.filter((a) => a !== '--check');
  if (unknown.length) die(`unknown argument ${unknown.join(' ')} (usage: node scripts/build.mjs [--check])`);

  const { tsImport } = await import('tsx/esm/api');
  const meta = await tsImport(pathToFileURL(join(ROOT, 'scripts/metadata.ts')).href, import.meta.url);
  const { ACTIONS } = await tsImport(pathToFileURL(join(ROOT, 'src/inputs/spec.ts')).href, import.meta.url);
  const list = entries(Object.keys(ACTIONS).sort());

  const differences = [];
  const nasShell = await import('./nas-shell.mjs');
  if (check) {
    differences.push(...meta.staleMetadata(ROOT).map((p) => `${p}: out of date with src/inputs/spec.ts`));
    if (!nasShell.upToDate(ROOT)) differences.push(`${nasShell.GENERATED}: out of date with src/nas-shell/*.sh`);
  } else {
    const written = meta.writeMetadata(ROOT);
    console.log(written.length ? `metadata: wrote ${written.join(', ')}` : 'metadata: up to date');
    // Before the bundles: they hold the libraries as this module's strings.
    if (nasShell.upToDate(ROOT)) console.log('nas-shell: up to date');
    else {
      writeFileSync(join(ROOT, nasShell.GENERATED), nasShell.generate(ROOT));
      console.log(`nas-shell: wrote ${nasShell.GENERATED}`);
    }
  }

  const tmp = mkdtempSync(join(tmpdir(), 'nas-release-build-'));
  try {
    console.log(`bundling ${list.length} entries${check ? ' (check)' : ''}`);
    await bundleAll(list, tmp);
    assertNoNative(tmp);
    smokeTest(tmp, list);
    const dist = join(ROOT, 'dist');
    if (check) {
      const built = listFiles(tmp);
      const committed = listFiles(dist);
      for (const f of built) {
        if (!committed.includes(f)) differences.push(`dist/${f}: missing`);
        else if (!readFileSync(join(tmp, f)).equals(readFileSync(join(dist, f))))
          differences.push(`dist/${f}: differs from a fresh build`);
        else if ((statSync(join(tmp, f)).mode & 0o111) !== (statSync(join(dist, f)).mode & 0o111))
          differences.push(`dist/${f}: executable bit differs`);
      }
      for (const f of committed)
        if (!built.includes(f)) differences.push(`dist/${f}: not produced by the build (stale file)`);
      if (differences.length) {
        console.error(
          `check-dist: ${differences.length} generated file(s) differ from the sources:\n  ${differences.join('\n  ')}\nRun npm run build and commit the result.`,
        );
        process.exitCode = 1;
      } else {
        console.log('check-dist: dist/, action.yml files and README tables match the sources');
      }
    } else {
      rmSync(dist, { recursive: true, force: true });
      cpSync(tmp, dist, { recursive: true });
      chmodSync(join(dist, CLI, 'index.js'), 0o755);
      assertNoNative(dist);
      console.log('built dist/');
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((err) => die(err?.stack ?? String(err)));
