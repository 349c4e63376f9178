import { randomBytes } from 'node:crypto';
import { Redactor, type Platform } from '../report/platform.js';

/**
 * Where a day-two command's words go: its answer (a table, JSON, the logs)
 * on standard output, everything else (the connection, warnings, errors) on
 * standard error, so `--json` leaves standard output to JSON alone. Inside a
 * workflow's `run:` step, workflow commands are stopped for good before the
 * first line: nothing read from the NAS can act on the runner.
 */
export class DayTwoPlatform implements Platform {
  private readonly redactor = new Redactor();

  constructor(
    /** Standard output holds JSON only: the stop line goes to standard error. */
    json: boolean,
    insideRunner = process.env.GITHUB_ACTIONS === 'true',
  ) {
    if (insideRunner)
      (json ? process.stderr : process.stdout).write(`::stop-commands::${randomBytes(16).toString('hex')}\n`);
  }

  /** The command's answer. */
  print(text: string): void {
    process.stdout.write(this.redactor.redact(text) + '\n');
  }

  info(line: string): void {
    process.stderr.write(this.redactor.redact(line) + '\n');
  }
  /** The logs, as the NAS sends them. */
  remote(lines: readonly (string | Buffer)[]): boolean {
    let ok = true;
    for (const part of lines) {
      const text = typeof part === 'string' ? `${part}\n` : part.toString('utf8');
      ok = process.stdout.write(this.redactor.redact(text)) && ok;
    }
    return ok;
  }
  drained(resume: () => void): void {
    process.stdout.once('drain', resume);
  }
  warning(message: string): void {
    this.info(`warning: ${message}`);
  }
  error(message: string): void {
    this.info(`error: ${message}`);
  }
  startGroup(name: string): void {
    this.info(`▸ ${name}`);
  }
  endGroup(): void {}
  setSecret(value: string): void {
    this.redactor.add(value);
  }
  setOutput(): void {}
  exportVariable(): void {}
  async addSummary(): Promise<void> {}
  setFailed(message: string): void {
    this.info(`✗ ${message}`);
  }
}
