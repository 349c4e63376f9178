import type { Platform } from './platform.js';

const RULE = '═'.repeat(60);

/**
 * The progress format operators know from the NAS scripts:
 * `[2/8] Computing image tag...`, then `✓ Image tag: ...`, `⚠` and `✗`,
 * and a closing block of KEY=VALUE results.
 */
export class Progress {
  private total = 0;
  private current = 0;
  readonly warnings: string[] = [];

  constructor(readonly platform: Platform) {}

  banner(title: string): void {
    this.platform.info(RULE);
    this.platform.info(title);
    this.platform.info(RULE);
  }

  plan(total: number): void {
    this.total = total;
    this.current = 0;
  }

  /** Starts the next numbered step. */
  step(text: string): string {
    this.current += 1;
    const label = `[${this.current}/${this.total}] ${text}...`;
    this.platform.info('');
    this.platform.info(label);
    return label;
  }

  ok(text: string): void {
    this.platform.info(`✓ ${text}`);
  }

  detail(text: string): void {
    this.platform.info(`   ${text}`);
  }

  warn(text: string): void {
    this.warnings.push(text);
    this.platform.info(`⚠ ${text}`);
    this.platform.warning(text);
  }

  fail(text: string): void {
    this.platform.info(`✗ ${text}`);
  }

  /** Runs `fn` inside a collapsible group of the log. */
  async group<T>(name: string, fn: () => Promise<T>): Promise<T> {
    this.platform.startGroup(name);
    try {
      return await fn();
    } finally {
      this.platform.endGroup();
    }
  }

  /** The closing block: a heading and the results as KEY=VALUE lines. */
  results(heading: string, values: Record<string, string>): void {
    this.platform.info('');
    this.banner(heading);
    for (const [key, value] of Object.entries(values)) this.platform.info(`${key}=${value}`);
  }
}
