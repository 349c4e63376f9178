#!/usr/bin/env node
/**
 * nas-release: the actions from a terminal.
 *
 *   nas-release <action> [--<input> <value> | --<input>=<value>]...
 *   nas-release <action> --help
 *   nas-release status|history|logs [service] [--<flag> <value>]...
 *   nas-release --help
 *
 * Flags are the action's input names. Secrets come from a file only
 * (--private-key-file PATH ...) so they stay out of `ps` and the shell
 * history; host keys can too. Boolean inputs take a bare flag (--dry-run). The outputs are printed
 * as KEY=VALUE lines at the end. Exit status: 0 done, 1 failed, 2 usage error.
 */
import { ACTIONS, COMMANDS } from './inputs/spec.js';
import { UsageError, parseFlags } from './inputs/cli-flags.js';
import { actionHelp, commandHelp, mainHelp } from './inputs/cli-help.js';
import { runCommand } from './day-two/run.js';
import { runAction } from './release/run.js';
import { FLOWS } from './release/flows.js';
import { TerminalPlatform } from './report/platform.js';

const PROG = 'nas-release';

async function main(argv: string[]): Promise<number> {
  const [action, ...rest] = argv;
  if (action === undefined) {
    process.stderr.write(mainHelp(ACTIONS, COMMANDS) + '\n');
    return 2;
  }
  if (action === '--help' || action === '-h' || action === 'help') {
    process.stdout.write(mainHelp(ACTIONS, COMMANDS) + '\n');
    return 0;
  }
  if (Object.hasOwn(COMMANDS, action)) return command(action, rest);
  if (!Object.hasOwn(ACTIONS, action)) {
    throw new UsageError(
      `unknown action ${JSON.stringify(action)}. Actions: ${Object.keys(ACTIONS).join(', ')}; commands: ${Object.keys(COMMANDS).join(', ')}`,
    );
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(actionHelp(action, ACTIONS[action]) + '\n');
    return 0;
  }
  const values = parseFlags(action, ACTIONS[action].inputs, rest);
  const flow = FLOWS[action];
  if (!flow) throw new Error(`${action} has no release flow`);
  const platform = new TerminalPlatform();
  const ok = await runAction(action, flow, (name) => values.get(name), platform);
  if (platform.outputs.size) {
    process.stdout.write('\n');
    for (const [name, value] of platform.outputs) process.stdout.write(`${name}=${value}\n`);
  }
  return ok ? 0 : 1;
}

/** A day-two command: a bare first argument fills its positional flag (`logs api`). */
async function command(name: string, argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(commandHelp(name, COMMANDS[name]) + '\n');
    return 0;
  }
  const { positional } = COMMANDS[name];
  const bare = positional && argv[0] !== undefined && !argv[0].startsWith('-') ? argv[0] : undefined;
  const values = parseFlags(name, COMMANDS[name].inputs, bare === undefined ? argv : argv.slice(1));
  if (bare !== undefined && positional) {
    if (values.has(positional)) throw new UsageError(`--${positional} is given more than once`);
    values.set(positional, bare);
  }
  return runCommand(name, (flag) => values.get(flag));
}

main(process.argv.slice(2)).then(
  (code) => exit(code),
  (err: unknown) => {
    if (err instanceof UsageError) {
      process.stderr.write(`${PROG}: ${err.message}\n`);
      exit(2);
    } else {
      process.stderr.write(`${PROG}: ${(err as Error)?.stack ?? String(err)}\n`);
      exit(1);
    }
  },
);

function exit(code: number): void {
  process.exitCode = code;
  // Give streams a moment to drain; a connection a flow forgot to close must not keep the command alive.
  setTimeout(() => process.exit(code), 2000).unref();
}
