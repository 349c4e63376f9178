import { randomBytes } from 'node:crypto';
import { appendSummary, commandLine, exportVariable, setOutput } from './workflow-commands.js';

/**
 * Where the actions' words go: the GitHub Actions runner, or a terminal when
 * run as `nas-release`. The flows only ever talk to this interface.
 */
export interface Platform {
  /** One of our own log lines. */
  info(line: string): void;
  /**
   * Output of a remote command, each string one or more lines joined by \n: never read as workflow commands.
   * Returns false when the log is backed up; `drained` then says when to go on.
   */
  remote(lines: readonly string[]): boolean;
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

export class ActionsPlatform implements Platform {
  private readonly redactor = new Redactor();
  private readonly stopToken = randomBytes(12).toString('hex');
  private stopped = false;

  private ours(): void {
    if (this.stopped) {
      process.stdout.write(`::${this.stopToken}::\n`);
      this.stopped = false;
    }
  }
  private command(name: string, data: string): void {
    process.stdout.write(commandLine(name, data) + '\n');
  }
  info(line: string): void {
    this.ours();
    process.stdout.write(this.redactor.redact(line) + '\n');
  }
  remote(lines: readonly string[]): boolean {
    // Remote output could contain `::set-output` or `::add-mask::`: stop the
    // runner from reading commands while it streams.
    if (!this.stopped) {
      process.stdout.write(`::stop-commands::${this.stopToken}\n`);
      this.stopped = true;
    }
    return process.stdout.write(this.redactor.redact(lines.join('\n') + '\n'));
  }
  drained(resume: () => void): void {
    process.stdout.once('drain', resume);
  }
  warning(message: string): void {
    this.ours();
    this.command('warning', this.redactor.redact(message));
  }
  error(message: string): void {
    this.ours();
    this.command('error', this.redactor.redact(message));
  }
  startGroup(name: string): void {
    this.ours();
    this.command('group', name);
  }
  endGroup(): void {
    this.ours();
    this.command('endgroup', '');
  }
  setSecret(value: string): void {
    this.ours();
    for (const part of this.redactor.add(value)) this.command('add-mask', part);
  }
  setOutput(name: string, value: string): void {
    this.ours();
    setOutput(name, value);
  }
  exportVariable(name: string, value: string): void {
    this.ours();
    exportVariable(name, value);
  }
  addSummary(markdown: string): Promise<void> {
    appendSummary(this.redactor.redact(markdown));
    return Promise.resolve();
  }
  setFailed(message: string): void {
    process.exitCode = 1;
    this.error(message);
  }
}

/** Plain terminal output for the `nas-release` command. */
export class TerminalPlatform implements Platform {
  private readonly redactor = new Redactor();
  readonly outputs = new Map<string, string>();
  private depth = 0;
  private write(line: string, stream: NodeJS.WriteStream = process.stdout): boolean {
    return stream.write('  '.repeat(this.depth) + this.redactor.redact(line) + '\n');
  }
  info(line: string): void {
    this.write(line);
  }
  remote(lines: readonly string[]): boolean {
    let ok = true;
    for (const text of lines) for (const line of text.split('\n')) ok = this.write(`│ ${line}`);
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
