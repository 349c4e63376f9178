import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { readsFile, type InputSpec } from './spec.js';

/** A command line `nas-release` cannot run: exit status 2. */
export class UsageError extends Error {}

/** A boolean input takes a bare flag (`--dry-run`) as well as `--dry-run=false` or `--dry-run false`. */
export function isBoolean(input: InputSpec | undefined): boolean {
  return input?.default === 'true' || input?.default === 'false';
}

/** Every flag an action or command takes: its inputs, and `--<input>-file` for those read from a file. */
export function validFlags(inputs: Record<string, InputSpec>): string[] {
  return Object.entries(inputs).flatMap(([name, input]) =>
    input.secret ? [`--${name}-file`] : readsFile(input) ? [`--${name}`, `--${name}-file`] : [`--${name}`],
  );
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

/**
 * Parses the flags of one action (or day-two command) into its raw input
 * values: `--<input> <value>`, `--<input>=<value>`, a bare boolean flag, and
 * `--<input>-file PATH` for the inputs read from a file. A secret is taken
 * from a file only: on a command line, `ps` and the shell history show it.
 */
export function parseFlags(name: string, inputs: Record<string, InputSpec>, argv: string[]): Map<string, string> {
  const options = Object.fromEntries(
    Object.entries(inputs).flatMap(([input, spec]) => [
      [input, { type: isBoolean(spec) ? ('boolean' as const) : ('string' as const) }],
      ...(readsFile(spec) ? [[`${input}-file`, { type: 'string' as const }]] : []),
    ]),
  );
  // Not strict: the unknown flags, the values a boolean takes and the errors are ours, each naming its flag.
  const { tokens } = parseArgs({ args: argv, options, strict: false, allowPositionals: true, tokens: true });
  const values = new Map<string, string>();
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i];
    if (token.kind === 'option-terminator')
      throw new UsageError(`unexpected argument "--": inputs are given as --<input> <value>`);
    if (token.kind === 'positional')
      throw new UsageError(`unexpected argument ${JSON.stringify(token.value)}: inputs are given as --<input> <value>`);
    const flag = token.rawName;
    const fromFile = !Object.hasOwn(inputs, token.name) && token.name.endsWith('-file');
    const input = fromFile ? token.name.slice(0, -'-file'.length) : token.name;
    const spec = Object.hasOwn(inputs, input) ? inputs[input] : undefined;
    if (!flag.startsWith('--') || !spec || (fromFile && !readsFile(spec)))
      throw new UsageError(`unknown flag ${flag} for ${name}. Valid flags: ${validFlags(inputs).join(', ')}`);
    if (!fromFile && spec.secret)
      throw new UsageError(
        `${flag} is a secret: on a command line, ps and the shell history show it. Give it from a file: ${flag}-file PATH (${flag}-file /dev/stdin reads it from standard input)`,
      );
    let value = token.value;
    if (!fromFile && isBoolean(spec)) {
      const next = tokens[i + 1];
      if (value === undefined && next?.kind === 'positional' && /^(true|false)$/i.test(next.value)) {
        value = next.value;
        i++;
      }
      value ??= 'true';
    } else if (value === undefined || (!token.inlineValue && value.startsWith('--') && value.length > 2)) {
      throw new UsageError(`${flag} needs a value (or write ${flag}=<value>)`);
    }
    if (fromFile) value = readValueFile(flag, value, input);
    if (values.has(input)) throw new UsageError(`--${input} is given more than once`);
    values.set(input, value);
  }
  return values;
}
