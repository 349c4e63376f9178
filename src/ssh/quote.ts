/**
 * The one place where a value becomes part of a remote shell command.
 * POSIX single quotes keep every byte literal; a quote inside is closed,
 * escaped and reopened. NUL cannot travel in a shell word, so it is refused.
 */
export function quote(value: string): string {
  if (value.includes('\0')) throw new Error('a value holds a NUL byte, which a remote command cannot carry');
  if (value !== '' && /^[A-Za-z0-9_@%+=:,./-]+$/.test(value)) return value;
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

const RESERVED = new Set([
  'case',
  'coproc',
  'do',
  'done',
  'elif',
  'else',
  'esac',
  'fi',
  'for',
  'function',
  'if',
  'in',
  'select',
  'then',
  'time',
  'until',
  'while',
  '!',
  '{',
  '}',
]);

/**
 * Quotes each word of an argument list and joins them into one command. A
 * first word that the shell would read as an assignment or a reserved word
 * is quoted too, so it always runs as the command.
 */
export function quoteArgv(argv: readonly string[]): string {
  return argv
    .map((word, i) => {
      const q = quote(word);
      return i === 0 && q === word && (word.includes('=') || RESERVED.has(word)) ? `'${word}'` : q;
    })
    .join(' ');
}
