/**
 * How the GitHub Actions runner reads a step's standard output, for tests
 * that check which workflow commands a run really issued:
 *
 * - each line (split at LF, CR or CRLF) is first tried as `::name props::data`
 *   once leading white space is trimmed, then as the legacy
 *   `##[name key=value;...]data`, which is found ANYWHERE in the line;
 * - only known command names count (anything else is text);
 * - `::stop-commands::TOKEN` makes every line text until a line `::TOKEN::`;
 * - `::add-mask::` hides its value in every later line of the log.
 *
 * A small model of the runner's ActionCommandManager, not a copy of it.
 */

export const RUNNER_COMMANDS = [
  'set-env',
  'set-output',
  'save-state',
  'add-path',
  'add-mask',
  'add-matcher',
  'remove-matcher',
  'warning',
  'error',
  'notice',
  'debug',
  'group',
  'endgroup',
  'echo',
  'stop-commands',
] as const;

export interface RunnerCommand {
  name: string;
  properties: Record<string, string>;
  data: string;
  form: 'v2' | 'legacy';
  /** The raw line it came from. */
  line: string;
}

export interface RunnerReading {
  /** Every line the runner acted on, in order (including stop-commands and the resuming token). */
  commands: RunnerCommand[];
  /** The lines shown as text, with the masks in force at the time applied. */
  text: string[];
  masks: string[];
  /** What `set-output` / `set-env` commands on standard output set. */
  outputs: Record<string, string>;
  env: Record<string, string>;
  /** The tokens of every processed stop-commands. */
  stopTokens: string[];
}

function unescapeV2Data(s: string): string {
  return s.replace(/%0D/gi, '\r').replace(/%0A/gi, '\n').replace(/%25/g, '%');
}
function unescapeV2Property(s: string): string {
  return unescapeV2Data(s).replace(/%3A/gi, ':').replace(/%2C/gi, ',');
}
function unescapeLegacy(s: string): string {
  return s
    .replace(/%3B/gi, ';')
    .replace(/%0D/gi, '\r')
    .replace(/%0A/gi, '\n')
    .replace(/%5D/gi, ']')
    .replace(/%25/g, '%');
}

function parseV2(line: string, known: Set<string>): Omit<RunnerCommand, 'line'> | undefined {
  const trimmed = line.replace(/^[\s\p{Z}]+/u, '');
  if (!trimmed.startsWith('::')) return undefined;
  const end = trimmed.indexOf('::', 2);
  if (end < 0) return undefined;
  const info = trimmed.slice(2, end);
  const space = info.indexOf(' ');
  const name = space < 0 ? info : info.slice(0, space);
  if (!known.has(name.toLowerCase())) return undefined;
  const properties: Record<string, string> = {};
  if (space > 0)
    for (const pair of info.slice(space + 1).split(',')) {
      const eq = pair.indexOf('=');
      if (eq > 0) properties[pair.slice(0, eq)] = unescapeV2Property(pair.slice(eq + 1));
    }
  return { name: name.toLowerCase(), properties, data: unescapeV2Data(trimmed.slice(end + 2)), form: 'v2' };
}

function parseLegacy(line: string, known: Set<string>): Omit<RunnerCommand, 'line'> | undefined {
  const start = line.indexOf('##[');
  if (start < 0) return undefined;
  const close = line.indexOf(']', start);
  if (close < 0) return undefined;
  const info = line.slice(start + 3, close);
  const space = info.indexOf(' ');
  const name = space < 0 ? info : info.slice(0, space);
  if (!known.has(name.toLowerCase())) return undefined;
  const properties: Record<string, string> = {};
  if (space > 0)
    for (const pair of info
      .slice(space + 1)
      .trim()
      .split(';')
      .filter(Boolean)) {
      const eq = pair.indexOf('=');
      if (eq > 0) properties[pair.slice(0, eq)] = unescapeLegacy(pair.slice(eq + 1));
    }
  return { name: name.toLowerCase(), properties, data: unescapeLegacy(line.slice(close + 1)), form: 'legacy' };
}

/** Reads a whole standard output the way the runner would. */
export function readAsRunner(stdout: string): RunnerReading {
  const known = new Set<string>(RUNNER_COMMANDS);
  const reading: RunnerReading = { commands: [], text: [], masks: [], outputs: {}, env: {}, stopTokens: [] };
  let stopToken: string | undefined;
  const mask = (line: string): string => {
    let out = line;
    for (const m of reading.masks) if (m) out = out.split(m).join('***');
    return out;
  };
  const lines = stdout.split(/\r\n|\r|\n/);
  if (lines.at(-1) === '') lines.pop();
  for (const line of lines) {
    const parsed = parseV2(line, known) ?? parseLegacy(line, known);
    if (!parsed) {
      reading.text.push(mask(line));
      continue;
    }
    const command: RunnerCommand = { ...parsed, line };
    if (stopToken !== undefined) {
      if (command.name === stopToken.toLowerCase()) {
        known.delete(stopToken.toLowerCase());
        stopToken = undefined;
        reading.commands.push(command);
      } else {
        reading.text.push(mask(line));
      }
      continue;
    }
    reading.commands.push(command);
    switch (command.name) {
      case 'stop-commands':
        stopToken = command.data;
        reading.stopTokens.push(command.data);
        known.add(command.data.toLowerCase());
        break;
      case 'add-mask':
        reading.masks.push(command.data.trim());
        break;
      case 'set-output':
        reading.outputs[command.properties.name ?? ''] = command.data;
        break;
      case 'set-env':
        reading.env[command.properties.name ?? ''] = command.data;
        break;
      case 'warning':
      case 'error':
      case 'notice':
      case 'group':
        reading.text.push(mask(`${command.name}: ${command.data}`));
        break;
      default:
    }
  }
  return reading;
}
