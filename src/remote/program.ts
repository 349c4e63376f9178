import type { Renderer } from './command.js';
import type { HistoryRecord, Outcome } from './history.js';
import { librariesFor, library, withoutHereDocs } from '../nas-shell/link.js';
import { Shell, lines, sh } from './shell.js';

/**
 * One remote program: a phase of a flow sent to the NAS in one round trip.
 * Its text is built only from our own shell code and quoted values.
 */
export interface Program {
  /** What it does, for the log and for errors ("Building image"). */
  title: string;
  script: Shell;
  /** Seconds before the runner gives up on it. */
  timeout: number;
  /** Remote output is kept out of the log (read-only queries). */
  quiet?: boolean;
}

/**
 * A NAS-side program with a typed result: the module that builds it owns its
 * shell text, the names of the values it reports (`nr_value NAME VALUE`) and
 * the decoder that turns them into `T`, so no flow ever looks a value up by name.
 */
export interface TypedProgram<T> extends Program {
  decode(values: ReadonlyMap<string, string>): T;
}

/** A flow's own first questions: asked under the release lock, with the NAS probe and the history, in one round trip. */
export interface StateQuestions<T> {
  /** Read-only shell, given the renderer of the probing tools (nothing is known of the NAS yet). */
  script(render: Renderer): Shell;
  decode(values: ReadonlyMap<string, string>): T;
}

/** The fields of an operation's history record a flow sets. */
export type RecordUpdate = Partial<
  Pick<
    HistoryRecord,
    'tag' | 'commit' | 'previous' | 'detail' | 'backup' | 'env' | 'services' | 'pulled' | 'color' | 'image' | 'ran'
  >
>;

/**
 * A state-changing program run detached on the NAS: it records the operation
 * as started, and its success line when its body exits 0, on the NAS itself.
 */
export interface Phase<T> extends TypedProgram<T> {
  /** The record this operation starts with. */
  begin: RecordUpdate;
  /**
   * Set when the phase ends the release: the phase then writes the success
   * line itself, with what it adds, when its body exits 0, so a runner
   * cancelled a moment later loses nothing. Unset when a step follows on the
   * runner (a verification): the flow's finish() records the outcome.
   */
  success?: RecordUpdate;
  /** Read-only shell run after the success line (e.g. listing what is left). */
  afterSuccess?: Shell;
  /** Shell run before the success line, setting RECORD_MORE (see history.ts) to what the NAS adds to it. */
  successFields?: Shell;
  /**
   * Other ends the phase records itself, by exit code: an outcome that may
   * come long after the runner is gone (a rollback by the metrics watch) is
   * on disk when it happens. The flow's finish() with the same outcome and
   * detail then writes nothing more.
   */
  endings?: readonly PhaseEnding[];
}

/** An end of a phase that the phase records on the NAS itself. */
export interface PhaseEnding {
  code: number;
  outcome: Outcome;
  update: RecordUpdate;
}

/** What a typed program ended with: its exit code (compared with the program's named codes) and its decoded values. */
export interface ProgramOutcome<T> {
  code: number;
  values: T;
  /** The last lines it printed, for error messages. */
  tail: readonly string[];
  timedOut: boolean;
}

/** Every declared exit code by shell name: each program starts with those it uses (see linked). */
const DECLARED = new Map<string, number>();

/**
 * A program's exit codes, declared once as a TypeScript enum and handed to the
 * shell as variables: `exitCodes(ReleaseExit)` defines `NR_EXIT_BUILD_FAILED=33`
 * and so on, and `codes.exit(ReleaseExit.BuildFailed)` renders
 * `exit "$NR_EXIT_BUILD_FAILED"`. The shell never holds a number of its own.
 */
export class ExitCodes<E extends Record<string, string | number>> {
  private readonly names = new Map<number, string>();
  constructor(codes: E) {
    for (const [key, value] of Object.entries(codes)) {
      if (typeof value !== 'number') continue; // a numeric enum maps values back to names too
      const name = `NR_EXIT_${key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()}`;
      const known = DECLARED.get(name);
      if (known !== undefined && known !== value) throw new Error(`${name} is declared as ${known} and ${value}`);
      DECLARED.set(name, value);
      this.names.set(value, name);
    }
  }
  /** `"$NR_EXIT_…"`: the code as the shell sees it. */
  code(value: E[keyof E]): Shell {
    const name = this.names.get(value as number);
    if (!name) throw new Error(`exit code ${String(value)} is not declared`);
    return new Shell(`"$${name}"`);
  }
  /** `exit "$NR_EXIT_…"`. */
  exit(value: E[keyof E]): Shell {
    return sh`exit ${this.code(value)}`;
  }
}

/**
 * The shell definitions of the declared exit codes: those `text` names (a program's, its libraries
 * included), or every one without a text. Empty when the text names none.
 */
export function exitCodeDefinitions(text?: string): Shell {
  const used = text === undefined ? undefined : new Set(text.match(/\bNR_EXIT_[A-Z0-9_]+/g));
  return new Shell(
    [...DECLARED]
      .filter(([name]) => !used || used.has(name))
      .map(([name, value]) => `${name}=${value}`)
      .join('; ') || (used ? '' : ':'),
  );
}

export function exitCodes<E extends Record<string, string | number>>(codes: E): ExitCodes<E> {
  return new ExitCodes(codes);
}

/**
 * The numbered steps of a flow, as a list: `[n/N]` comes from its length, so
 * the count cannot drift from the lines printed. A program announces a step
 * with `steps.say(i)` (`nr_say step TEXT` on the NAS); the runner announces
 * its own with Progress.step.
 */
export class Steps<K extends string> {
  readonly keys: readonly K[];
  constructor(private readonly texts: Readonly<Record<K, string>>) {
    this.keys = Object.keys(texts) as K[];
  }
  get count(): number {
    return this.keys.length;
  }
  text(key: K): string {
    return this.texts[key];
  }
  /** The step's marker line, for a program that runs on the NAS. */
  say(key: K, text: string = this.texts[key]): Shell {
    return sh`nr_say step ${text}`;
  }
}

/**
 * The longest value printed on one line. A write to a pipe of up to PIPE_BUF
 * (4096 bytes on Linux) bytes is atomic; a longer one can be split, and a line
 * that a background job prints at that moment lands inside it. So a longer
 * value goes as lines of this size (`value+` appends to it).
 */
export const VALUE_CHUNK = 3000;

/**
 * Shell functions every program may use (src/nas-shell/prelude.sh). `nr_say KIND TEXT` prints a progress
 * marker that the runner turns into a log line (`ok`, `warn`, `info`, `fail`, `value NAME VALUE`; each
 * of its lines is written whole, whatever else runs in the background). `$NR_M` is a per-run nonce, so
 * remote output cannot forge one. Its lines are cut at VALUE_CHUNK (a test holds the two together).
 */
export const PRELUDE = new Shell(library('prelude'));

/**
 * A script with what it uses, defined before it: the exit codes it names, the prelude (unless
 * `prelude` is false) and the libraries it calls (see nas-shell/link.ts).
 */
export function linked(script: Shell, opts: { prelude?: boolean } = {}): Shell {
  const prelude = opts.prelude ?? true;
  const libraries = librariesFor(prelude ? `${PRELUDE.text}\n${script.text}` : script.text).map((t) => new Shell(t));
  const own = [...(prelude ? [PRELUDE] : []), ...libraries];
  const codes = exitCodeDefinitions(withoutHereDocs([...own, script].map((s) => s.text).join('\n')));
  return lines(codes.text ? codes : undefined, ...own, script);
}

/** The text sent to `sh -s`: a brace group, so the whole program is parsed before any of it runs. */
export function programText(opts: { path: string; marker: string; script: Shell }): string {
  return (
    lines(
      new Shell('{'),
      sh`PATH=${opts.path}:"$PATH"; export PATH`,
      sh`NR_M=${opts.marker}`,
      new Shell('LC_ALL=C; export LC_ALL'),
      linked(opts.script),
      new Shell('}'),
    ).text + '\n'
  );
}
