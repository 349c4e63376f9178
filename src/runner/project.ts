import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { posix } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { createGzip } from 'node:zlib';
import { getExecOutput } from '@actions/exec';
import { workspace } from './docker.js';

/**
 * project-source: runner. The runner's checkout (GITHUB_WORKSPACE; the CLI: the current folder) is what a
 * release ships to the NAS: its commit names the release, and the folders the release needs go over SSH.
 */

async function git(args: string[]): Promise<{ code: number; out: string }> {
  const r = await getExecOutput('git', ['-C', workspace(), ...args], { ignoreReturnCode: true, silent: true }).catch(
    () => ({ exitCode: 1, stdout: '' }),
  );
  return { code: r.exitCode, out: r.stdout.trim() };
}

export interface RunnerCheckout {
  commit: string;
  subject: string;
  /** The workspace is a git checkout: only tracked files are shipped. */
  git: boolean;
}

/**
 * The commit the runner's checkout holds (its HEAD; without git, GITHUB_SHA) and its subject. Throws, before
 * anything connects, when there is none or it is not the commit the workflow asked for.
 */
export async function runnerCheckout(ref: string): Promise<RunnerCheckout> {
  const head = await git(['rev-parse', '--verify', '--quiet', 'HEAD^{commit}']);
  const sha = process.env.GITHUB_SHA ?? '';
  const commit = head.code === 0 ? head.out : sha;
  if (!/^[0-9a-f]{40}$/.test(commit))
    throw new Error(
      `project-source: runner ships the runner's checkout, but ${workspace()} is not a git checkout and GITHUB_SHA is not set: check the repository out first (actions/checkout). Nothing was changed.`,
    );
  const wanted = ref || (head.code === 0 ? '' : sha);
  if (wanted && wanted !== commit)
    throw new Error(
      `ref is ${wanted.slice(0, 7)}, but the runner's checkout (${workspace()}) is at ${commit.slice(0, 7)}: with project-source: runner, check out the commit being released (actions/checkout, ref: \${{ github.sha }}). Nothing was changed.`,
    );
  const subject = head.code === 0 ? (await git(['log', '-1', '--format=%s', 'HEAD'])).out.slice(0, 200) : '';
  return { commit, subject, git: head.code === 0 };
}

/**
 * The folders and files a release needs from the checkout, relative to it: each once, and none inside another
 * (`.` takes everything).
 */
export function shippedPaths(paths: readonly string[]): string[] {
  const all = [...new Set(paths.filter(Boolean).map((p) => posix.normalize(p).replace(/\/+$/, '') || '.'))];
  if (all.includes('.')) return ['.'];
  return all.filter((p) => !all.some((q) => q !== p && p.startsWith(`${q}/`))).sort();
}

/** A file of the runner's checkout as the release ships it (the commit's, in a git checkout); undefined if none. */
export async function checkoutFile(path: string, fromGit: boolean): Promise<Buffer | undefined> {
  if (fromGit) {
    const r = await getExecOutput('git', ['-C', workspace(), 'show', `HEAD:${path}`], {
      ignoreReturnCode: true,
      silent: true,
    }).catch(() => undefined);
    return r && r.exitCode === 0 ? Buffer.from(r.stdout, 'utf8') : undefined;
  }
  return readFile(posix.join(workspace(), path)).catch(() => undefined);
}

/**
 * A gzip-compressed tar of `paths` in the runner's checkout: `git archive HEAD` in a git checkout (tracked files
 * only, so nothing untracked, a secret say, leaves the runner), else the folders as they are. The stream ends
 * only once the archiver exited 0, and fails otherwise, so the NAS never takes a cut archive for a whole one.
 */
export function projectArchive(paths: readonly string[], fromGit: boolean): Readable {
  const [cmd, args] = fromGit
    ? ['git', ['-C', workspace(), 'archive', '--format=tar', 'HEAD', '--', ...paths]]
    : ['tar', ['-cf', '-', '-C', workspace(), '--', ...paths]];
  const child = spawn(cmd, args as string[], { stdio: ['ignore', 'pipe', 'pipe'] });
  const gzip = createGzip();
  const out = new PassThrough();
  let stderr = '';
  let exit: number | null | undefined;
  let gzipped = false;
  const settle = (): void => {
    if (exit === undefined || !gzipped) return;
    if (exit === 0) out.end();
    else
      out.destroy(
        new Error(
          `${fromGit ? 'git archive' : 'tar'} of ${paths.join(' ')} failed (exit ${exit}): ${stderr.trim().slice(0, 300)}`,
        ),
      );
  };
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.on('error', (err) => out.destroy(err));
  child.on('close', (code) => {
    exit = code;
    settle();
  });
  child.stdout.pipe(gzip);
  gzip.on('data', (chunk: Buffer) => {
    if (!out.write(chunk)) {
      gzip.pause();
      out.once('drain', () => gzip.resume());
    }
  });
  gzip.on('end', () => {
    gzipped = true;
    settle();
  });
  gzip.on('error', (err) => out.destroy(err));
  return out;
}
