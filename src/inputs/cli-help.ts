import { isBoolean } from './cli-flags.js';
import { readsFile, type ActionSpec, type CommandSpec, type InputSpec } from './spec.js';

/**
 * The CLI's help, from the input spec the bundle is built with (the same
 * table the action.yml files are generated from): nothing is read at run time.
 */

const PROG = 'nas-release';

function indent(text: string, by: string): string {
  return text
    .split('\n')
    .map((line) => by + line)
    .join('\n');
}

/** One input's lines: its flag (and the file flag), what it defaults to, and its description. */
function inputHelp(name: string, input: InputSpec): string[] {
  const flag = isBoolean(input) ? `--${name}[=true|false]` : `--${name} <value>`;
  const notes = [
    input.required ? 'required' : undefined,
    input.default !== undefined && input.default !== '' ? `default: ${input.default.replace(/\n/g, '\\n')}` : undefined,
  ].filter(Boolean);
  const noted = notes.length ? `  (${notes.join('; ')})` : '';
  const lines = input.secret
    ? [`  --${name}-file <path>${noted}  (a secret: read from a file, never given on the command line)`]
    : [`  ${flag}${noted}`];
  if (readsFile(input) && !input.secret) lines.push(`  --${name}-file <path>  (read the value from a file)`);
  lines.push(indent(input.description, '      '));
  return lines;
}

export function mainHelp(actions: Record<string, ActionSpec>, commands: Record<string, CommandSpec>): string {
  const width = Math.max(...[...Object.keys(actions), ...Object.keys(commands)].map((n) => n.length));
  return [
    `Usage: ${PROG} <action> [--<input> <value>]...`,
    `       ${PROG} <action> --help`,
    '',
    'Releases a Docker Compose application onto a NAS over SSH, as the GitHub actions do.',
    '',
    'Actions:',
    ...Object.entries(actions).map(([name, spec]) => `  ${name.padEnd(width)}  ${spec.description}`),
    '',
    'Day-two commands (read-only: they take no release lock and record nothing; the same connection flags):',
    ...Object.entries(commands).map(([name, spec]) => `  ${name.padEnd(width)}  ${spec.description}`),
    '',
    `Run '${PROG} <action> --help' for the inputs of an action, '${PROG} <command> --help' for the flags of a command.`,
    'Secrets are read from files (--<input>-file PATH), never given on the command line.',
    'Exit status: 0 done, 1 the action failed, 2 usage error.',
  ].join('\n');
}

export function actionHelp(name: string, spec: ActionSpec): string {
  const lines = [`Usage: ${PROG} ${name} [--<input> <value>]...`, '', spec.description, '', 'Inputs:'];
  for (const [input, s] of Object.entries(spec.inputs)) lines.push(...inputHelp(input, s));
  lines.push('', 'Outputs (printed as KEY=VALUE at the end):');
  for (const [output, description] of Object.entries(spec.outputs))
    lines.push(`  ${output}`, indent(description, '      '));
  return lines.join('\n');
}

export function commandHelp(name: string, spec: CommandSpec): string {
  const bare = spec.positional ? ` [${spec.positional}]` : '';
  const lines = [
    `Usage: ${PROG} ${name}${bare} [--<flag> <value>]...`,
    '',
    spec.description,
    'Read-only: it takes no release lock and writes nothing on the NAS (dry-run and lock-timeout change nothing).',
    '',
    'Flags:',
  ];
  for (const [flag, input] of Object.entries(spec.inputs)) lines.push(...inputHelp(flag, input));
  lines.push('', 'Exit status: 0 done, 1 failed, 2 usage error.');
  return lines.join('\n');
}
