import { LIBRARIES } from './libraries.generated.js';

/** A NAS shell library: src/nas-shell/<name>.sh (in camelCase), without its comments. */
export type LibraryName = keyof typeof LIBRARIES;

/** A library's text, as it travels. */
export function library(name: LibraryName): string {
  return LIBRARIES[name];
}

const NAMES = Object.keys(LIBRARIES) as LibraryName[];

/** A call of the function: the name as a word, not a variable (`$name`, `${name}`, `name=`) nor part of a name. */
const callOf = (fn: string): RegExp => new RegExp(`(?<![\\w$])(?<!\\$\\{)${fn}(?![\\w=])`);

/** The functions each library defines (`name() {` at the start of a line), as call patterns. */
const CALLS = new Map<LibraryName, RegExp[]>(
  NAMES.map((name) => [name, [...LIBRARIES[name].matchAll(/^([a-z_][a-z0-9_]*)\(\)/gm)].map(([, fn]) => callOf(fn))]),
);

/**
 * A text without the bodies of our own quoted here-documents (`<<'NR_…'`): each is a program of
 * its own (a detached phase, the first questions under the lock), linked on its own.
 */
export function withoutHereDocs(text: string): string {
  return text.replace(/<<'(NR_\w+)'[^\n]*\n[\s\S]*?\n\1(?=\n|$)/g, "<<'$1'");
}

/**
 * The libraries a program calls, and those they call in turn, in a fixed order: all but the
 * prelude (every program has it) and any whose text the program holds already.
 */
export function librariesFor(text: string): string[] {
  const own = withoutHereDocs(text);
  const needed = new Set<LibraryName>();
  for (let scan = own; scan;) {
    const found = NAMES.filter(
      (name) => name !== 'prelude' && !needed.has(name) && CALLS.get(name)?.some((call) => call.test(scan)),
    );
    found.forEach((name) => needed.add(name));
    scan = found.map((name) => LIBRARIES[name]).join('\n');
  }
  return NAMES.filter((name) => needed.has(name) && !own.includes(LIBRARIES[name])).map(library);
}
