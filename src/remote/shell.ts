import { quote, quoteArgv } from '../ssh/quote.js';

/** An argument list: a command as data, quoted only when rendered. */
export type Argv = readonly string[];

/** Shell text that is safe to paste: written by us, or made by quoting. */
export class Shell {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

type Part = Shell | Argv | string | number;

function render(part: Part): string {
  if (part instanceof Shell) return part.text;
  if (typeof part === 'number') {
    if (!Number.isFinite(part)) throw new Error(`not a finite number: ${part}`);
    return String(part);
  }
  if (typeof part === 'string') return quote(part);
  return quoteArgv(part);
}

/**
 * Tagged template for remote shell code. The literal text is ours; every
 * interpolated value is quoted (an argument list word by word), unless it is
 * already Shell. So `sh\`cd ${path} && ${argv}\`` can never run an input.
 */
export function sh(strings: TemplateStringsArray, ...values: Part[]): Shell {
  let out = strings[0];
  values.forEach((value, i) => {
    out += render(value) + strings[i + 1];
  });
  return new Shell(out);
}

/** Joins shell fragments line by line. */
export function lines(...parts: (Shell | false | undefined | null)[]): Shell {
  return new Shell(
    parts
      .filter((p): p is Shell => p instanceof Shell)
      .map((p) => p.text)
      .join('\n'),
  );
}

/** Renders a value or an argument list as one quoted shell word or command. */
export function word(part: Part): Shell {
  return new Shell(render(part));
}
