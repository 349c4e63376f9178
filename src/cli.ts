#!/usr/bin/env node
/**
 * nas-release: the actions from a terminal.
 *
 *   nas-release <action> [--<input> <value> | --<input>=<value>]...
 *   nas-release <action> --help
 *   nas-release status|history|logs [service] [--<flag> <value>]...
 *   nas-release --help
 *
 * Flags are the action's input names. Secrets and host keys can come from a
 * file (--private-key-file PATH ...) so they stay out of `ps` and the shell
 * history. Boolean inputs take a bare flag (--dry-run). The outputs are printed
 * as KEY=VALUE lines at the end. Exit status: 0 done, 1 failed, 2 usage error.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parse } from 'yaml';
import { ACTIONS, COMMANDS, type ActionSpec, type CommandSpec } from './inputs/spec.js';
import { runCommand } from './day-two/run.js';
import { runAction } from './release/run.js';
import { FLOWS } from './release/flows.js';
import { TerminalPlatform } from './report/platform.js';

const PROG = 'nas-release';
/** Inputs that can also be read from a file with --<input>-file PATH. */
const FILE_INPUTS = [
  'private-key',
  'passphrase',
  'password',
  'grafana-credentials',
  'host-key',
  'jump-private-key',
  'jump-password',
  'jump-host-key',
];

class UsageError extends Error {}

interface HelpInput {
  name: string;
  description: string;
  default?: string;
  required: boolean;
}
interface Help {
  description: string;
  inputs: HelpInput[];
  outputs: { name: string; description: string }[];
  source: string;
}

function here(): string {
  // The bundle is CommonJS (dist/cli/index.js); from the sources, tsx runs this file as CommonJS too.
  return typeof __dirname === 'string' ? __dirname : dirname(process.argv[1] ?? '.');
}

function isBoolean(spec: ActionSpec | CommandSpec, input: string): boolean {
  const def = spec.inputs[input]?.default;
  return def === 'true' || def === 'false';
}

/** The inputs and outputs as the action's action.yml declares them; the spec when the file is not there. */
function actionHelp(action: string): Help {
  const spec = ACTIONS[action];
  const candidates = [
    join(here(), '..', '..', 'actions', action, 'action.yml'),
    join(here(), '..', 'actions', action, 'action.yml'),
  ];
  for (const file of candidates) {
    if (!existsSync(file)) continue;
    try {
      const doc = parse(readFileSync(file, 'utf8')) as {
        description?: string;
        inputs?: Record<string, { description?: string; default?: unknown; required?: boolean }>;
        outputs?: Record<string, { description?: string }>;
      };
      return {
        description: String(doc.description ?? spec.description),
        inputs: Object.entries(doc.inputs ?? {}).map(([name, i]) => ({
          name,
          description: String(i.description ?? ''),
          default: i.default === undefined || i.default === null ? undefined : String(i.default),
          required: i.required === true,
        })),
        outputs: Object.entries(doc.outputs ?? {}).map(([name, o]) => ({
          name,
          description: String(o.description ?? ''),
        })),
        source: file,
      };
    } catch {
      // An unreadable action.yml: fall through to the spec compiled in.
    }
  }
  return {
    description: spec.description,
    inputs: Object.entries(spec.inputs).map(([name, i]) => ({
      name,
      description: i.description,
      default: i.default,
      required: i.required === true,
    })),
    outputs: Object.entries(spec.outputs).map(([name, description]) => ({ name, description })),
    source: 'built-in spec',
  };
}

function indent(text: string, by: string): string {
  return text
    .split('\n')
    .map((line) => by + line)
    .join('\n');
}

function mainHelp(): string {
  const width = Math.max(...[...Object.keys(ACTIONS), ...Object.keys(COMMANDS)].map((n) => n.length));
  const lines = [
    `Usage: ${PROG} <action> [--<input> <value>]...`,
    `       ${PROG} <action> --help`,
    '',
    'Releases a Docker Compose application onto a NAS over SSH, as the GitHub actions do.',
    '',
    'Actions:',
    ...Object.entries(ACTIONS).map(([name, spec]) => `  ${name.padEnd(width)}  ${spec.description}`),
    '',
    'Day-two commands (read-only: they take no release lock and record nothing; the same connection flags):',
    ...Object.entries(COMMANDS).map(([name, spec]) => `  ${name.padEnd(width)}  ${spec.description}`),
    '',
    `Run '${PROG} <action> --help' for the inputs of an action, '${PROG} <command> --help' for the flags of a command.`,
    'Exit status: 0 done, 1 the action failed, 2 usage error.',
  ];
  return lines.join('\n');
}

function actionHelpText(action: string): string {
  const spec = ACTIONS[action];
  const help = actionHelp(action);
  const lines = [`Usage: ${PROG} ${action} [--<input> <value>]...`, '', help.description, '', 'Inputs:'];
  for (const input of help.inputs) {
    const flag = isBoolean(spec, input.name) ? `--${input.name}[=true|false]` : `--${input.name} <value>`;
    const notes = [
      input.required ? 'required' : undefined,
      input.default !== undefined && input.default !== ''
        ? `default: ${input.default.replace(/\n/g, '\\n')}`
        : undefined,
    ].filter(Boolean);
    lines.push(`  ${flag}${notes.length ? `  (${notes.join('; ')})` : ''}`);
    if (FILE_INPUTS.includes(input.name)) lines.push(`  --${input.name}-file <path>  (read the value from a file)`);
    lines.push(indent(input.description, '      '));
  }
  lines.push('', 'Outputs (printed as KEY=VALUE at the end):');
  for (const output of help.outputs) lines.push(`  ${output.name}`, indent(output.description, '      '));
  lines.push('', `(from ${help.source})`);
  return lines.join('\n');
}

function commandHelpText(name: string): string {
  const spec = COMMANDS[name];
  const bare = spec.positional ? ` [${spec.positional}]` : '';
  const lines = [
    `Usage: ${PROG} ${name}${bare} [--<flag> <value>]...`,
    '',
    spec.description,
    'Read-only: it takes no release lock and writes nothing on the NAS (dry-run and lock-timeout change nothing).',
    '',
    'Flags:',
  ];
  for (const [flagName, input] of Object.entries(spec.inputs)) {
    const flag = isBoolean(spec, flagName) ? `--${flagName}[=true|false]` : `--${flagName} <value>`;
    const notes = [
      input.required ? 'required' : undefined,
      input.default !== undefined && input.default !== '' ? `default: ${input.default}` : undefined,
    ].filter(Boolean);
    lines.push(`  ${flag}${notes.length ? `  (${notes.join('; ')})` : ''}`);
    if (FILE_INPUTS.includes(flagName)) lines.push(`  --${flagName}-file <path>  (read the value from a file)`);
    lines.push(indent(input.description, '      '));
  }
  lines.push('', 'Exit status: 0 done, 1 failed, 2 usage error.');
  return lines.join('\n');
}

function readValueFile(flag: string, path: string, input: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError(
      `${flag}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
  // A key keeps its text as written; a password file's final newline is not part of the password.
  return input === 'private-key' ? text : text.replace(/\r?\n$/, '');
}

/** Parses the flags of one action (or day-two command) into its raw input values. */
function parseFlags(action: string, argv: string[]): Map<string, string> {
  const spec = ACTIONS[action] ?? COMMANDS[action];
  const values = new Map<string, string>();
  const valid = () =>
    Object.keys(spec.inputs)
      .flatMap((n) => (FILE_INPUTS.includes(n) ? [`--${n}`, `--${n}-file`] : [`--${n}`]))
      .join(', ');
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--') || arg === '--')
      throw new UsageError(`unexpected argument ${JSON.stringify(arg)}: inputs are given as --<input> <value>`);
    const eq = arg.indexOf('=');
    const flag = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
    let value: string | undefined = eq >= 0 ? arg.slice(eq + 1) : undefined;
    let input = flag;
    let fromFile = false;
    if (
      !(flag in spec.inputs) &&
      flag.endsWith('-file') &&
      FILE_INPUTS.includes(flag.slice(0, -5)) &&
      flag.slice(0, -5) in spec.inputs
    ) {
      input = flag.slice(0, -5);
      fromFile = true;
    }
    if (!(input in spec.inputs)) throw new UsageError(`unknown flag --${flag} for ${action}. Valid flags: ${valid()}`);
    if (value === undefined) {
      const next = argv[i + 1];
      if (!fromFile && isBoolean(spec, input)) {
        if (next !== undefined && /^(true|false)$/i.test(next)) {
          value = next;
          i++;
        } else {
          value = 'true';
        }
      } else {
        if (next === undefined || (next.startsWith('--') && next.length > 2))
          throw new UsageError(`--${flag} needs a value (or write --${flag}=<value>)`);
        value = next;
        i++;
      }
    }
    if (fromFile) value = readValueFile(`--${flag}`, value, input);
    if (values.has(input)) throw new UsageError(`--${input} is given more than once`);
    values.set(input, value);
  }
  return values;
}

async function main(argv: string[]): Promise<number> {
  const [action, ...rest] = argv;
  if (action === undefined) {
    process.stderr.write(mainHelp() + '\n');
    return 2;
  }
  if (action === '--help' || action === '-h' || action === 'help') {
    process.stdout.write(mainHelp() + '\n');
    return 0;
  }
  if (Object.hasOwn(COMMANDS, action)) return command(action, rest);
  if (!Object.hasOwn(ACTIONS, action)) {
    throw new UsageError(
      `unknown action ${JSON.stringify(action)}. Actions: ${Object.keys(ACTIONS).join(', ')}; commands: ${Object.keys(COMMANDS).join(', ')}`,
    );
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(actionHelpText(action) + '\n');
    return 0;
  }
  const values = parseFlags(action, rest);
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
    process.stdout.write(commandHelpText(name) + '\n');
    return 0;
  }
  const { positional } = COMMANDS[name];
  const bare = positional && argv[0] !== undefined && !argv[0].startsWith('-') ? argv[0] : undefined;
  const values = parseFlags(name, bare === undefined ? argv : argv.slice(1));
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
