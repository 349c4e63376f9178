import { ACTIONS, COMMANDS, type InputSpec } from './spec.js';

/** Where raw input values come from: the runner's INPUT_* variables, or CLI flags. */
export type RawInputs = (name: string) => string | undefined;

export class InputError extends Error {
  constructor(
    readonly input: string,
    message: string,
  ) {
    super(`Input '${input}': ${message}`);
  }
}

/** Reads the runner's inputs as @actions/core does, without its ESM import cost at start-up. */
export const runnerInputs: RawInputs = (name) => process.env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`];

const CONTROL = /[\0-\x08\x0b-\x1f\x7f]/;

/**
 * Reads and validates one action's inputs. Each value is checked before
 * anything connects, and every error names its input. Reading an input the
 * action does not declare is a programming error.
 */
export class InputReader {
  readonly read = new Set<string>();
  private readonly spec: Record<string, InputSpec>;

  constructor(
    readonly action: string,
    private readonly raw: RawInputs,
  ) {
    // an action's inputs, or the flags of a day-two command of the CLI
    const spec = ACTIONS[action] ?? COMMANDS[action];
    if (!spec) throw new Error(`unknown action ${action}`);
    this.spec = spec.inputs;
  }

  /** The value as given, trimmed, or the declared default. */
  string(name: string, opts: { multiline?: boolean; trim?: boolean } = {}): string {
    const spec = this.spec[name];
    if (!spec) throw new Error(`${this.action} reads input '${name}', which its action.yml does not declare`);
    this.read.add(name);
    let value = this.raw(name) ?? '';
    if (opts.trim !== false) value = value.trim();
    // A default that is a runner expression (`${{ github.token }}`) is the runner's to fill; elsewhere it is empty.
    if (value === '') value = spec.default?.includes('${{') ? '' : (spec.default ?? '');
    if (spec.required && value === '') throw new InputError(name, 'is required and was not given');
    if (value.includes('\0')) throw new InputError(name, 'holds a NUL byte');
    if (!opts.multiline && /[\r\n]/.test(value)) throw new InputError(name, 'must be a single line');
    if (!opts.multiline && CONTROL.test(value)) throw new InputError(name, 'holds a control character');
    return value;
  }

  bool(name: string): boolean {
    const value = this.string(name);
    if (/^(true|True|TRUE)$/.test(value)) return true;
    if (/^(false|False|FALSE)$/.test(value)) return false;
    throw new InputError(name, `must be true or false, not ${JSON.stringify(value)}`);
  }

  int(name: string, min: number, max: number): number {
    const value = this.string(name);
    if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
      throw new InputError(name, `must be a whole number from ${min} to ${max}, not ${JSON.stringify(value)}`);
    }
    return Number(value);
  }

  oneOf<T extends string>(name: string, values: readonly T[]): T {
    const value = this.string(name);
    if (!(values as readonly string[]).includes(value)) {
      throw new InputError(
        name,
        `must be one of ${values.map((v) => JSON.stringify(v)).join(', ')}, not ${JSON.stringify(value)}`,
      );
    }
    return value as T;
  }

  /** A value that must match `pattern`; `what` says what it should look like. */
  matching(name: string, pattern: RegExp, what: string): string {
    const value = this.string(name);
    if (value !== '' && !pattern.test(value))
      throw new InputError(name, `must be ${what}, not ${JSON.stringify(value.slice(0, 200))}`);
    return value;
  }

  /** A comma- or newline-separated list, each item matching `pattern`. */
  list(name: string, pattern: RegExp, what: string): string[] {
    const items = this.string(name, { multiline: true })
      .split(/[,\n]/)
      .map((s) => s.trim())
      .filter(Boolean);
    for (const item of items)
      if (!pattern.test(item)) throw new InputError(name, `item ${JSON.stringify(item.slice(0, 200))} is not ${what}`);
    return items;
  }

  /** Non-empty lines. */
  lines(name: string): string[] {
    const items = this.string(name, { multiline: true })
      .split(/\r?\n/)
      .map((s) => s.trim())
      .filter(Boolean);
    for (const item of items) if (CONTROL.test(item)) throw new InputError(name, 'holds a control character');
    return items;
  }

  /** A path inside the checkout: relative, no `..`, and no leading `-` (docker would read it as an option). */
  relativePath(name: string): string {
    const value = this.string(name);
    if (value === '') return value;
    if (value.startsWith('/') || value.split('/').includes('..'))
      throw new InputError(
        name,
        `must be a path inside repo-path (relative, without ..), not ${JSON.stringify(value)}`,
      );
    if (value.startsWith('-'))
      throw new InputError(
        name,
        `must not start with - (docker would take it as an option); for a folder of that name write ./${value.slice(0, 200)}`,
      );
    return value;
  }

  url(name: string): string {
    const value = this.string(name);
    if (value === '') return value;
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      throw new InputError(name, `must be an http:// or https:// URL, not ${JSON.stringify(value)}`);
    }
    if (!/^https?:$/.test(url.protocol) || /\s/.test(value))
      throw new InputError(name, `must be an http:// or https:// URL, not ${JSON.stringify(value)}`);
    return value.replace(/\/+$/, '');
  }

  /** Fails when an input the action declares was never read: the check that keeps metadata and code in step. */
  unread(): string[] {
    return Object.keys(this.spec).filter((name) => !this.read.has(name));
  }
}

export const PATTERNS = {
  host: /^(\[[0-9A-Fa-f:.]+\]|[0-9A-Fa-f:]*:[0-9A-Fa-f:.]+|[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?)$/,
  username: /^[A-Za-z0-9_][A-Za-z0-9._@-]{0,63}$/,
  /** An image name, optionally registry-qualified as docker takes it (ghcr.io/owner/app/api, 127.0.0.1:5000/app). */
  image:
    /^([a-z0-9]+([.-][a-z0-9]+)*(:[0-9]{1,5})?\/)?[a-z0-9]+([._-]{1,2}[a-z0-9]+)*(\/[a-z0-9]+([._-]{1,2}[a-z0-9]+)*)*$/,
  /** A registry host as `docker login` takes it: a name or address, with an optional port. */
  registry: /^[A-Za-z0-9]+([.-][A-Za-z0-9]+)*(:[0-9]{1,5})?$/,
  /** A docker tag. */
  dockerTag: /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/,
  name: /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/,
  envName: /^[A-Za-z_][A-Za-z0-9_]{0,127}$/,
  branch: /^(?!.*\.\.)(?!.*\.lock$)(?!.*\/\/)(?!\/)[A-Za-z0-9][A-Za-z0-9._/-]{0,199}(?<![./])$/,
  remote: /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/,
  sha: /^([0-9a-f]{40}|[0-9a-f]{64})$/,
  absolutePath: /^\/[^\0\n\r]*$/,
  remotePath: /^(\/[^:\0\n\r]*)(:\/[^:\0\n\r]*)*$/,
  tagPrefix: /^[A-Za-z0-9][A-Za-z0-9._-]{0,49}$/,
  /** An image with an optional registry, tag or digest (busybox:latest, registry.example:5000/tools/box:1.36). */
  imageRef:
    /^[a-z0-9]+([._:-]{1,2}[a-z0-9]+)*(\/[a-z0-9]+([._-]{1,2}[a-z0-9]+)*)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[0-9a-f]{64})?$/,
};
