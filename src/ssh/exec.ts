import { randomBytes } from 'node:crypto';
import type { ClientChannel } from 'ssh2';
import { GarbageCollector } from './garbage.js';
import type { Session } from './session.js';
import { programText, type Program } from '../remote/program.js';

export interface Marker {
  kind: string;
  text: string;
}

export interface ProgramResult {
  code: number;
  /** Values the program reported with `nr_value NAME VALUE`. */
  values: Map<string, string>;
  /** The last lines it printed, for error messages. */
  tail: string[];
  timedOut: boolean;
}

export interface RunOptions {
  /** Progress markers, as they arrive. */
  onMarker?: (marker: Marker) => void;
  /** A non-zero exit is returned instead of thrown. */
  allowFailure?: boolean;
  /** Another program follows: open its channel while this one runs. */
  next?: boolean;
}

/** Prints lines of remote output; false when the log cannot take more for now. */
export type Print = (lines: readonly string[]) => boolean | void;

export class RemoteError extends Error {
  constructor(
    readonly title: string,
    readonly code: number,
    readonly tail: string[],
    readonly timedOut = false,
  ) {
    const last = tail.length
      ? `\nLast lines it printed:\n${tail
          .slice(-20)
          .map((l) => `  ${l}`)
          .join('\n')}`
      : '';
    super(timedOut ? `${title}: timed out${last}` : `${title}: the command failed with exit code ${code}${last}`);
  }
}

const TAIL_LINES = 40;
const MAX_LINE = 16 * 1024;
/** A marker line (a value such as the release history, base64 on one line) is kept whole up to this size. */
const MAX_MARKER_LINE = 16 * 1024 * 1024;

/** Splits a byte stream into lines without keeping more than one line in memory. */
export class LineSplitter {
  private partial = '';
  constructor(
    private readonly onLine: (line: string) => void,
    /** Lines to keep whole (up to MAX_MARKER_LINE): truncating a value would corrupt it. */
    private readonly keepWhole: (line: string) => boolean = () => false,
  ) {}
  private tooLong(line: string): boolean {
    return line.length > (this.keepWhole(line) ? MAX_MARKER_LINE : MAX_LINE);
  }
  push(chunk: Buffer | string): void {
    const text = this.partial + chunk.toString();
    const parts = text.split(/\r?\n|\r/);
    this.partial = parts.pop() ?? '';
    if (this.partial.length > MAX_LINE && this.tooLong(this.partial)) {
      this.onLine(this.partial.slice(0, MAX_LINE) + ' …');
      this.partial = '';
    }
    for (const line of parts)
      this.onLine(line.length > MAX_LINE && this.tooLong(line) ? line.slice(0, MAX_LINE) + ' …' : line);
  }
  end(): void {
    if (this.partial) this.onLine(this.partial);
    this.partial = '';
  }
}

/**
 * One program's output, line by line: marker lines become values and
 * progress markers, the others go to the log (unless the program is quiet)
 * and into a bounded tail for error messages. Log lines are printed a chunk
 * at a time (flush): one write per chunk rather than per line keeps the
 * garbage of a build that prints 50 MB small.
 */
export class ProgramOutput {
  readonly values = new Map<string, string>();
  readonly tail: string[] = [];
  private readonly prefix: string;
  private pending: string[] = [];

  constructor(
    marker: string,
    private readonly program: Pick<Program, 'title' | 'quiet'>,
    private readonly options: RunOptions,
    private readonly print: Print,
  ) {
    this.prefix = marker + ' ';
  }

  isMarker(line: string): boolean {
    return line.startsWith(this.prefix);
  }

  /** Takes one line. */
  line(line: string): void {
    if (line.startsWith(this.prefix)) {
      const rest = line.slice(this.prefix.length);
      const space = rest.indexOf(' ');
      const kind = space < 0 ? rest : rest.slice(0, space);
      const body = space < 0 ? '' : rest.slice(space + 1);
      if (kind === 'value' || kind === 'value+') {
        // `value+` continues a long value, sent a line at a time (see VALUE_CHUNK in program.ts)
        const at = body.indexOf(' ');
        const name = at < 0 ? body : body.slice(0, at);
        const text = at < 0 ? '' : body.slice(at + 1);
        this.values.set(name, kind === 'value+' ? (this.values.get(name) ?? '') + text : text);
      } else {
        this.flush(); // what the program printed before the marker comes first
        this.options.onMarker?.({ kind, text: body });
      }
      return;
    }
    this.tail.push(line);
    if (this.tail.length > TAIL_LINES) this.tail.shift();
    if (!this.program.quiet) this.pending.push(line);
  }

  /** Prints the lines taken so far; false when the log is backed up. */
  flush(): boolean {
    if (this.pending.length === 0) return true;
    const lines = this.pending;
    this.pending = [];
    return this.print(lines) !== false;
  }

  /** The result once the program has exited; throws on failure unless allowFailure. */
  result(code: number, timedOut = false): ProgramResult {
    this.flush();
    if ((code !== 0 || timedOut) && !this.options.allowFailure)
      throw new RemoteError(this.program.title, code, this.tail, timedOut);
    return { code, values: this.values, tail: this.tail, timedOut };
  }
}

/**
 * The one executor: sends each program to the NAS as `sh -s` (the NAS's own sh, found on its PATH) over the shared
 * session, streams its output into the log a chunk of lines at a time (memory stays
 * bounded), turns its markers into progress lines, and enforces its timeout.
 */
export class Executor {
  readonly marker = `@@nr-${randomBytes(6).toString('hex')}@@`;
  /** Channels opened so far: the round trips the benchmark counts. */
  channels = 0;
  /** A channel opened ahead (`sh -s` waiting for its program), see prepare(). */
  private spare?: Promise<ClientChannel>;

  /**
   * `print` returns false when the log cannot take more for now; the channel
   * is then paused until `drained` calls back, so a command that prints
   * without end never piles its output up in memory.
   */
  constructor(
    readonly session: Session,
    readonly remotePath: string,
    private readonly print: Print,
    private readonly drained: (resume: () => void) => void = (resume) => resume(),
  ) {}

  /**
   * Opens the channel for the next program now: `sh -s` starts on the NAS and
   * waits for its program, so the two round trips of opening a channel overlap
   * whatever the runner waits for meanwhile (the lock, the current program).
   */
  prepare(): void {
    if (this.spare || this.session.closed) return;
    this.spare = this.open();
    this.spare.catch(() => undefined); // reported by the run that takes it
  }

  /** Closes a prepared channel no program took: its `sh` reads end of input and exits. */
  close(): void {
    this.spare?.then(
      (channel) => channel.end(),
      () => undefined,
    );
    this.spare = undefined;
  }

  /** Reads the output of one program (see ProgramOutput), printing it unless it is quiet. */
  output(program: Pick<Program, 'title' | 'quiet'>, options: RunOptions = {}): ProgramOutput {
    return new ProgramOutput(this.marker, program, options, this.print);
  }

  private open(): Promise<ClientChannel> {
    this.channels += 1;
    return this.session.exec('sh -s');
  }

  async run(program: Program, options: RunOptions = {}): Promise<ProgramResult> {
    const text = programText({ path: this.remotePath, marker: this.marker, script: program.script });
    const opening = this.spare ?? this.open();
    this.spare = undefined;
    const channel = await opening;
    if (options.next) this.prepare();
    const output = this.output(program, options);
    const onLine = (line: string): void => output.line(line);
    const relieve = (): void => {
      if (output.flush()) return;
      channel.pause();
      channel.stderr.pause();
      this.drained(() => {
        channel.resume();
        channel.stderr.resume();
      });
    };
    const garbage = new GarbageCollector();
    const out = new LineSplitter(onLine, (line) => output.isMarker(line));
    const err = new LineSplitter(onLine);

    const { code, timedOut } = await new Promise<{ code: number; timedOut: boolean }>((resolve, reject) => {
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        // Ask the NAS to end it, but do not wait: sshd may hold the channel
        // open until the remote process exits by itself.
        channel.signal('KILL');
        channel.close();
        out.end();
        err.end();
        resolve({ code: 124, timedOut });
      }, program.timeout * 1000);
      channel.on('data', (d: Buffer) => {
        out.push(d);
        garbage.add(d.length);
        relieve();
      });
      channel.stderr.on('data', (d: Buffer) => {
        err.push(d);
        garbage.add(d.length);
        relieve();
      });
      channel.on('close', (exitCode: number | null | undefined) => {
        clearTimeout(timer);
        out.end();
        err.end();
        if (exitCode === null || exitCode === undefined) {
          if (timedOut) return resolve({ code: 124, timedOut });
          return reject(
            new Error(
              `${program.title}: ${this.session.closed ?? 'the connection to the NAS was lost'} before the command finished`,
            ),
          );
        }
        resolve({ code: exitCode, timedOut });
      });
      channel.end(text);
    });
    return output.result(code, timedOut);
  }
}
