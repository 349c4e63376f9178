import { spawn } from 'node:child_process';
import { isAbsolute, join } from 'node:path';
import { PassThrough, Transform, pipeline, type Readable, type TransformCallback } from 'node:stream';
import { getExecOutput } from '@actions/exec';
import { LayerFilter } from './tar-filter.js';
import { ParallelGzip } from './parallel-gzip.js';

/**
 * The runner's own docker (image-source: runner): builds an image
 * on the runner and streams it, as `docker save` compressed, into whatever
 * takes it (the NAS's `docker load`, over the SSH connection). The runner's
 * docker is the one its environment names (DOCKER_HOST), as for any step.
 */

/** Runner-side output, for the log: a chunk of lines at a time (the platform turns workflow commands off). */
export type PrintLines = (text: string) => void;

async function output(args: string[], cwd?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const r = await getExecOutput('docker', args, { ignoreReturnCode: true, silent: true, ...(cwd ? { cwd } : {}) });
  return { code: r.exitCode, stdout: r.stdout, stderr: r.stderr };
}

/** How this runner builds: buildx (and, with a builder that can export a cache and the Actions cache service, its gha cache), or the legacy builder. */
export async function builderOf(): Promise<{ buildx: boolean; cache: boolean }> {
  const version = await output(['buildx', 'version']).catch(() => ({ code: 1, stdout: '', stderr: '' }));
  if (version.code !== 0) return { buildx: false, cache: false };
  const inspect = await output(['buildx', 'inspect']);
  // The default `docker` driver cannot export a cache; docker-container (docker/setup-buildx-action) can.
  const exports = /Driver:\s+(docker-container|remote|kubernetes)/.test(inspect.stdout);
  const service =
    !!process.env.ACTIONS_RUNTIME_TOKEN && !!(process.env.ACTIONS_CACHE_URL || process.env.ACTIONS_RESULTS_URL);
  return { buildx: true, cache: exports && service };
}

/** The argument list of the build: buildx with --load (and its cache flags) when present, else `docker build`. */
export function buildArgs(
  o: { ref: string; context: string; dockerfile?: string; cacheScope: string; platform?: string },
  builder: { buildx: boolean; cache: boolean },
): string[] {
  const file = [...(o.platform ? ['--platform', o.platform] : []), ...(o.dockerfile ? ['--file', o.dockerfile] : [])];
  if (!builder.buildx) return ['build', '--tag', o.ref, ...file, o.context];
  const cache = builder.cache
    ? ['--cache-from', `type=gha,scope=${o.cacheScope}`, '--cache-to', `type=gha,mode=max,scope=${o.cacheScope}`]
    : [];
  return ['buildx', 'build', '--load', ...cache, '--tag', o.ref, ...file, o.context];
}

/** The workspace the runner checked the repository out in: build paths are relative to it. */
export function workspace(): string {
  return process.env.GITHUB_WORKSPACE || process.cwd();
}

export function inWorkspace(path: string): string {
  return isAbsolute(path) ? path : join(workspace(), path);
}

/** The commit checked out in the workspace, or '' when it is not a git checkout. */
export async function workspaceCommit(): Promise<string> {
  const r = await getExecOutput('git', ['-C', workspace(), 'rev-parse', 'HEAD'], {
    ignoreReturnCode: true,
    silent: true,
  }).catch(() => ({ exitCode: 1, stdout: '' }));
  return r.exitCode === 0 ? r.stdout.trim() : '';
}

/** The platform of the runner's engine (`linux/amd64`); '' when it does not answer. */
export async function runnerPlatform(): Promise<string> {
  const r = await output(['version', '--format', '{{.Server.Os}}/{{.Server.Arch}}']).catch(() => ({
    code: 1,
    stdout: '',
    stderr: '',
  }));
  return r.code === 0 ? r.stdout.trim() : '';
}

/** Builds `ref` with the runner's docker; its output goes to `print`. Resolves with the exit code. */
export async function buildOnRunner(
  o: { ref: string; context: string; dockerfile?: string; cacheScope: string; platform?: string },
  print: PrintLines,
  known?: { buildx: boolean; cache: boolean },
): Promise<{ code: number; args: string[] }> {
  const builder = known ?? (await builderOf());
  const args = buildArgs(o, builder);
  const r = await getExecOutput('docker', args, {
    ignoreReturnCode: true,
    silent: true,
    cwd: workspace(),
    listeners: { stdline: (line) => print(line), errline: (line) => print(line) },
  });
  return { code: r.exitCode, args };
}

/** The diff IDs of an image on the runner (`sha256:` stripped), base layer first; empty when it is not there. */
export async function imageLayers(ref: string): Promise<string[]> {
  const r = await output(['image', 'inspect', '--format', '{{range .RootFS.Layers}}{{.}} {{end}}', ref]);
  if (r.code !== 0) return [];
  return r.stdout
    .trim()
    .split(/\s+/)
    .filter(Boolean)
    .map((d) => d.replace(/^sha256:/, ''));
}

export interface SaveStats {
  /** Bytes of the archive docker save wrote, before layers were left out. */
  archive: number;
  /** Compressed bytes sent. */
  sent: number;
  /** Layer blobs left out (the NAS has them), and their bytes. */
  skippedLayers: number;
  skippedBytes: number;
  seconds: number;
}

/** Counts the bytes that pass. */
class Counter extends Transform {
  bytes = 0;
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    done(null, chunk);
  }
}

/**
 * `docker save ref`, without the layer blobs named in `skip` (diff IDs the
 * NAS has, see LayerFilter), gzip-compressed: a stream to pipe into the NAS.
 * It ends only once docker save has exited 0, and fails otherwise, so a
 * consumer never takes a cut archive for a whole one. `onProgress` is called
 * every `everyMs` while it runs, and `stats` once it has ended.
 */
export function saveImage(
  ref: string,
  o: { skip: ReadonlySet<string>; level?: number; everyMs?: number; onProgress?: (s: SaveStats) => void },
): { stream: Readable; stats: () => SaveStats } {
  const started = Date.now();
  const child = spawn('docker', ['save', ref], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    if (stderr.length < 4000) stderr += d.toString();
  });
  const exited = new Promise<number>((resolve) => {
    child.on('error', () => resolve(127));
    child.on('close', (code) => resolve(code ?? 1));
  });
  const raw = new Counter();
  const filter = new LayerFilter(o.skip);
  const gzip = new ParallelGzip({ level: o.level ?? 6 });
  const sent = new Counter();
  // The end waits for docker save's exit code: a failed save fails the stream instead of ending it.
  const out = new PassThrough({
    flush(done) {
      void exited.then((code) =>
        done(code === 0 ? null : new Error(`docker save ${ref} failed on the runner (exit ${code}): ${stderr.trim()}`)),
      );
    },
  });
  const stats = (): SaveStats => ({
    archive: raw.bytes,
    sent: sent.bytes,
    skippedLayers: filter.dropped,
    skippedBytes: filter.droppedBytes,
    seconds: (Date.now() - started) / 1000,
  });
  const timer = o.onProgress ? setInterval(() => o.onProgress!(stats()), o.everyMs ?? 2000) : undefined;
  pipeline(child.stdout, raw, filter, gzip, sent, out, (err) => {
    if (timer) clearInterval(timer);
    if (err) {
      child.kill('SIGKILL');
      out.destroy(err);
    }
  });
  return { stream: out, stats };
}
