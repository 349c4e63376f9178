import { quoteArgv } from '../ssh/quote.js';
import { Shell, sh, type Argv } from './shell.js';

/**
 * A remote command as data. `argv[0]` may name a tool (`docker`, `compose`,
 * `git`) that the NAS resolves to a path (and sudo) once it is known.
 * `changes` marks a command that changes the NAS: the Renderer only renders
 * those through `change`, which a dry run prints instead of running, so dry
 * runs are safe by construction rather than by care.
 */
export interface Command {
  argv: Argv;
  env?: Readonly<Record<string, string>>;
  readonly changes: boolean;
}
/** A command that only reads. */
export type ReadCommand = Command & { readonly changes: false };
/** A command that changes containers, images or the checkout. */
export type ChangeCommand = Command & { readonly changes: true };

export const command = (argv: Argv, env?: Record<string, string>): ReadCommand =>
  env ? { argv, env, changes: false } : { argv, changes: false };

export const change = (argv: Argv, env?: Record<string, string>): ChangeCommand =>
  env ? { argv, env, changes: true } : { argv, changes: true };

/** How the tools are reached on this NAS, found by the preflight. */
export interface Tools {
  docker: Argv;
  compose: Argv;
  git: Argv;
  /** docker and compose go through `sudo -n`. */
  sudo: boolean;
}

/** Tools by name only: for the first program, before anything is known. */
export const bareTools: Tools = { docker: ['docker'], compose: ['docker', 'compose'], git: ['git'], sudo: false };

/** The final argument list the NAS runs: tool resolved, sudo and env applied. */
export function resolve(cmd: Pick<Command, 'argv' | 'env'>, tools: Tools): string[] {
  const [name, ...rest] = cmd.argv;
  const viaSudo = tools.sudo && (name === 'docker' || name === 'compose');
  const tool =
    name === 'docker' ? tools.docker : name === 'compose' ? tools.compose : name === 'git' ? tools.git : [name];
  const env = Object.entries(cmd.env ?? {}).map(([k, v]) => {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new Error(`not an environment variable name: ${k}`);
    return `${k}=${v}`;
  });
  // Through sudo, variables go as sudo's own VAR=value arguments (the sudoers
  // rule needs SETENV), so the rule never has to allow `env`, which runs anything.
  if (viaSudo) return ['sudo', '-n', ...env, ...tool, ...rest];
  return [...(env.length ? ['env', ...env] : []), ...tool, ...rest];
}

/** Closes the descriptors the NAS-side programs keep their locks on (the release lock, busy, follow). */
export const NO_LOCK_FDS = '3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&-';

/**
 * Renders commands into program text. State-changing commands go through
 * `change`, which in a dry run prints the command instead of running it.
 */
export class Renderer {
  constructor(
    readonly tools: Tools,
    readonly dryRun: boolean,
  ) {}

  /** A read-only command: it runs even in a dry run. */
  run(cmd: ReadCommand): Shell {
    if (cmd.changes) throw new Error(`${cmd.argv.join(' ')} changes the NAS: render it with change()`);
    return new Shell(quoteArgv(this.resolve(cmd)));
  }

  /**
   * The user's own command (a hook, a switch-command), run by `sh -c`. It gets
   * none of the descriptors 3 to 9, where the phase and the lock holder keep
   * their locks: a process it leaves running (`nohup … &`) holds no lock and
   * blocks no later release.
   */
  user(text: string): Shell {
    return sh`${this.change({ argv: ['sh', '-c', text], changes: true })} ${new Shell(NO_LOCK_FDS)}`;
  }

  /** A state-changing command: printed, not run, in a dry run. */
  change(cmd: ChangeCommand): Shell {
    if (!this.dryRun) return new Shell(quoteArgv(this.resolve(cmd)));
    return sh`nr_say info ${'dry-run, would run: ' + quoteArgv(this.resolve(cmd))}`;
  }

  resolve(cmd: Pick<Command, 'argv' | 'env'>): string[] {
    return resolve(cmd, this.tools);
  }
}

/**
 * Shell functions `nr_docker`, `nr_compose` and `nr_git` for the library code
 * in health.ts and friends, bound to the tools found on this NAS.
 */
export function toolFunctions(tools: Tools): Shell {
  const fn = (name: string, tool: 'docker' | 'compose' | 'git'): string =>
    `${name}() { ${quoteArgv(resolve({ argv: [tool] }, tools))} "$@"; }`;
  return new Shell([fn('nr_docker', 'docker'), fn('nr_compose', 'compose'), fn('nr_git', 'git')].join('\n'));
}
