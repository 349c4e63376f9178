import { randomBytes } from 'node:crypto';
import * as core from '@actions/core';

/**
 * Where the actions' words go: the GitHub Actions runner, or a terminal when
 * run as `nas-release`. The flows only ever talk to this interface.
 */
export interface Platform {
  /** One of our own log lines (it may quote text from the NAS, the repository or an HTTP body). */
  info(line: string): void;
  /**
   * Output of a remote command, never read as workflow commands: each string one or more lines joined by \n,
   * each Buffer whole lines as the NAS sent them, each ending with \n.
   * Returns false when the log is backed up; `drained` then says when to go on.
   */
  remote(lines: readonly (string | Buffer)[]): boolean;
  drained(resume: () => void): void;
  warning(message: string): void;
  error(message: string): void;
  startGroup(name: string): void;
  endGroup(): void;
  setSecret(value: string): void;
  setOutput(name: string, value: string): void;
  exportVariable(name: string, value: string): void;
  addSummary(markdown: string): Promise<void>;
  setFailed(message: string): void;
}

/** Replaces every registered secret, and each of its lines, with *** (in a line or a block of lines alike). */
export class Redactor {
  private readonly secrets: string[] = [];
  add(value: string): string[] {
    const parts = [value, ...value.split(/\r?\n/)].map((s) => s.trim()).filter((s) => s.length >= 3);
    for (const part of parts) if (!this.secrets.includes(part)) this.secrets.push(part);
    this.secrets.sort((a, b) => b.length - a.length);
    return parts;
  }
  redact(text: string): string {
    let out = text;
    for (const secret of this.secrets) if (out.includes(secret)) out = out.split(secret).join('***');
    return out;
  }
}

/**
 * Whether the runner could read some line of `text` as a workflow command:
 * one that starts with `::` once leading white space is gone, or the legacy
 * `##[name ...]` form, which the runner finds anywhere in a line. The runner
 * splits on CR as well as LF, and its idea of white space is wider than
 * ASCII, so any leading run of spaces, separators and control characters
 * counts.
 */
export function readableAsCommand(text: string): boolean {
  if (text.includes('##[')) return true;
  return text.split(/\r\n|\r|\n/).some((line) => /^[\s\p{Z}\p{Cc}\p{Cf}]*::/u.test(line));
}

/**
 * The GitHub Actions runner, through @actions/core. Lines that did not come
 * from us (remote output, and any line of ours that quotes text which could
 * be read as a command) are printed with workflow commands stopped, under a
 * random token only this process knows; our own next command resumes them.
 */
export class ActionsPlatform implements Platform {
  private readonly redactor = new Redactor();
  private readonly stopToken = randomBytes(16).toString('hex');
  private stopped = false;

  /** Before a line or command of ours that the runner must read: resume commands if they are stopped. */
  private ours(): void {
    if (this.stopped) {
      process.stdout.write(`::${this.stopToken}::\n`);
      this.stopped = false;
    }
  }
  /** Before text that must not be read as a command. */
  private stop(): void {
    if (!this.stopped) {
      process.stdout.write(`::stop-commands::${this.stopToken}\n`);
      this.stopped = true;
    }
  }
  info(line: string): void {
    const text = this.redactor.redact(line);
    // A line quoting a container log, a commit subject or an HTTP body stays text.
    if (readableAsCommand(text)) this.stop();
    else this.ours();
    core.info(text);
  }
  remote(lines: readonly (string | Buffer)[]): boolean {
    this.stop();
    let ok = true;
    for (const part of lines) {
      if (typeof part === 'string') {
        ok = process.stdout.write(`${this.redactor.redact(part)}\n`) && ok;
        continue;
      }
      // The log gets the packet's own bytes unless a secret is there: no copy, no new Buffer (each
      // new one would be external memory more that only a garbage collection frees). Secrets are
      // looked for in the text, which dies as soon as it is searched: when V8 next collects its
      // young generation it finds nothing of it alive. Memory stays bounded by 'drain'.
      const text = part.toString('utf8');
      const shown = this.redactor.redact(text);
      ok = process.stdout.write(shown === text ? part : shown) && ok;
    }
    return ok;
  }
  drained(resume: () => void): void {
    process.stdout.once('drain', resume);
  }
  // The runner reads `::warning::`, `::error::` and `::group::` lines as their
  // command first, so what their data quotes (escaped by core onto one line)
  // cannot start another.
  warning(message: string): void {
    this.ours();
    core.warning(this.redactor.redact(message));
  }
  error(message: string): void {
    this.ours();
    core.error(this.redactor.redact(message));
  }
  startGroup(name: string): void {
    this.ours();
    core.startGroup(this.redactor.redact(name));
  }
  endGroup(): void {
    this.ours();
    core.endGroup();
  }
  setSecret(value: string): void {
    this.ours();
    for (const part of this.redactor.add(value)) core.setSecret(part);
  }
  setOutput(name: string, value: string): void {
    this.ours();
    core.setOutput(name, value);
  }
  exportVariable(name: string, value: string): void {
    this.ours();
    core.exportVariable(name, value);
  }
  async addSummary(markdown: string): Promise<void> {
    // Outside a runner (no summary file) there is nowhere to write it.
    if (!process.env.GITHUB_STEP_SUMMARY) return;
    await core.summary.addRaw(this.redactor.redact(markdown), true).write();
  }
  setFailed(message: string): void {
    this.ours();
    core.setFailed(this.redactor.redact(message));
  }
}

/**
 * Plain terminal output for the `nas-release` command. It issues no workflow
 * commands of its own, so when it runs inside a workflow's `run:` step (where
 * the runner reads its output) it stops them for good before its first line:
 * nothing it prints, from the NAS or elsewhere, can act on the runner.
 */
export class TerminalPlatform implements Platform {
  private readonly redactor = new Redactor();
  readonly outputs = new Map<string, string>();
  private depth = 0;
  constructor(insideRunner = process.env.GITHUB_ACTIONS === 'true') {
    if (insideRunner) process.stdout.write(`::stop-commands::${randomBytes(16).toString('hex')}\n`);
  }
  private write(line: string, stream: NodeJS.WriteStream = process.stdout): boolean {
    return stream.write('  '.repeat(this.depth) + this.redactor.redact(line) + '\n');
  }
  info(line: string): void {
    this.write(line);
  }
  remote(lines: readonly (string | Buffer)[]): boolean {
    let ok = true;
    for (const part of lines) {
      // a Buffer's lines each end with \n: the last one is not followed by another line
      const text = typeof part === 'string' ? part : part.toString('utf8', 0, part.length - 1);
      for (const line of text.split('\n')) ok = this.write(`│ ${line}`);
    }
    return ok;
  }
  drained(resume: () => void): void {
    process.stdout.once('drain', resume);
  }
  warning(message: string): void {
    this.write(`warning: ${message}`, process.stderr);
  }
  error(message: string): void {
    this.write(`error: ${message}`, process.stderr);
  }
  startGroup(name: string): void {
    this.write(`▸ ${name}`);
    this.depth = 1;
  }
  endGroup(): void {
    this.depth = 0;
  }
  setSecret(value: string): void {
    this.redactor.add(value);
  }
  setOutput(name: string, value: string): void {
    this.outputs.set(name, value);
  }
  exportVariable(): void {}
  async addSummary(): Promise<void> {}
  setFailed(message: string): void {
    this.write(`✗ ${message}`, process.stderr);
    process.exitCode = 1;
  }
}
