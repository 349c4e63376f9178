import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { ClientChannel } from 'ssh2';
import type { Session } from './session.js';

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

/**
 * Prints remote output a chunk at a time, not a string per line: a string is
 * one or more lines joined by \n (no break at its end); a Buffer is whole
 * lines as the NAS sent them, each ending with \n. False when the log cannot
 * take more for now.
 */
export type Print = (lines: readonly (string | Buffer)[]) => boolean | void;

/**
 * One program as plain data: the text `sh -s` reads on the NAS (rendered by
 * the layer that writes programs, with this executor's marker) and how to run it.
 */
export interface Job {
  /** What it does, for the log and for errors ("Building image"). */
  title: string;
  /** The whole program, as the NAS's `sh -s` reads it on standard input. */
  text: string;
  /** Seconds before the runner gives up on it. */
  timeout: number;
  /** Remote output is kept out of the log (read-only queries). */
  quiet?: boolean;
}

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
/** The tail's lines, as UTF-8, take no more than this. */
const TAIL_BYTES = 64 * 1024;
const MAX_LINE = 16 * 1024;
/** A marker line (a value such as the release history, base64 on one line) is kept whole up to this size. */
const MAX_MARKER_LINE = 16 * 1024 * 1024;
const CR = 13;
const LF = 10;

/** The longest line of `text` (lines joined by \n) is no longer than `max`. */
function linesWithin(text: string, max: number): boolean {
  if (text.length <= max) return true;
  for (let start = 0; ;) {
    const end = text.indexOf('\n', start);
    if ((end < 0 ? text.length : end) - start > max) return false;
    if (end < 0) return true;
    start = end + 1;
  }
}

function truncated(line: string): string {
  return line.slice(0, MAX_LINE) + ' …';
}

/** Whether no line of `bytes[from..to]` (lines that each end with \n) is longer than `max` bytes. */
function byteLinesWithin(bytes: Buffer, from: number, to: number, max: number): boolean {
  if (to - from <= max) return true;
  for (let start = from; start < to;) {
    const end = bytes.indexOf(LF, start);
    if (end < 0 || end >= to) return to - start <= max;
    if (end - start > max) return false;
    start = end + 1;
  }
  return true;
}

/** The index of the first \n or \r of `bytes` at or after `from`, or -1. */
function firstBreak(bytes: Buffer, from: number): number {
  const lf = bytes.indexOf(LF, from);
  const cr = bytes.indexOf(CR, from);
  return lf < 0 ? cr : cr < 0 ? lf : Math.min(lf, cr);
}

/**
 * Splits a byte stream into lines without keeping more than one unfinished
 * line in memory. Line breaks are \n, \r\n or \r (also when split between
 * packets). Bytes are cut into lines before they are decoded: a break is one
 * byte that never occurs inside a UTF-8 character, so a character split
 * between two SSH packets stays whole.
 *
 * Lines reach `onLine` one by one; or, when `onText` is given, runs of plain
 * lines reach it as one string (joined by \n): a build that prints 500 MB then
 * costs a string per packet rather than one per line. Lines that `special`
 * picks (markers) still reach `onLine` alone, kept whole up to MAX_MARKER_LINE;
 * any other line is cut at MAX_LINE.
 *
 * When `onBytes` is given too, a packet's run of whole plain lines reaches it
 * as the packet's own bytes (each line with its \n), never decoded here: the
 * log can take them as they are, so a long build makes no string of its own
 * per packet that V8 would have to keep alive while it is being written out
 * (such survivors are what makes V8 grow its young generation as a log goes
 * on). Marker lines are found in the bytes and decoded alone; a run with a \r
 * or a line longer than MAX_LINE takes the string path (it is rewritten or cut).
 *
 * The unfinished last line of a packet is copied out of it, as bytes, into a
 * buffer this splitter reuses; it is decoded once its end arrives. So a packet
 * is decoded once, into one string per run of its whole lines, and nothing of
 * it stays alive once its lines are handed over: what a long build prints is
 * garbage at once instead of surviving into the next packet.
 */
export class LineSplitter {
  /** The unfinished line so far (its first `heldLength` bytes). */
  private held = Buffer.allocUnsafe(0);
  private heldLength = 0;
  /** The held line is longer than MAX_LINE and special, so it is kept up to MAX_MARKER_LINE. */
  private heldSpecial = false;
  /** The last packet ended with \r: a \n that starts the next one belongs to it. */
  private afterCR = false;
  constructor(
    private readonly onLine: (line: string) => void,
    /** Whether a line is special; asked of a line's start (its first MAX_LINE characters or more). */
    private readonly special: (line: string) => boolean = () => false,
    private readonly onText?: (text: string) => void,
    /** A string every special line starts with, to find them without splitting. */
    private readonly specialPrefix?: string,
    /** Takes runs of whole plain lines as bytes, each line ending with \n (see above); needs `specialPrefix`. */
    private readonly onBytes?: (bytes: Buffer) => void,
  ) {
    this.prefixBytes = specialPrefix ? Buffer.from(specialPrefix, 'utf8') : undefined;
  }
  private readonly prefixBytes?: Buffer;

  push(chunk: Buffer | string): void {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    let from = 0;
    if (this.afterCR && bytes.length > 0) {
      this.afterCR = false;
      if (bytes[0] === LF) from = 1;
    }
    if (from === bytes.length) return;
    this.afterCR = bytes[bytes.length - 1] === CR;
    const last = Math.max(bytes.lastIndexOf(LF), bytes.lastIndexOf(CR));
    if (last < from) return this.hold(bytes, from, bytes.length);
    if (this.heldLength > 0) {
      // the held line ends at this packet's first break
      const first = firstBreak(bytes, from);
      this.hold(bytes, from, first);
      if (this.heldLength > 0) this.endHeld(); // (unless it went out already, cut at MAX_LINE)
      from = bytes[first] === CR && bytes[first + 1] === LF ? first + 2 : first + 1;
    }
    if (from <= last && this.onBytes && this.prefixBytes && bytes.indexOf(CR, from) < 0) {
      // whole lines from..last, each with its \n, as they came
      this.byteLines(bytes, from, last + 1);
    } else if (from <= last) {
      // whole lines from..last (without the break that ends the last one)
      const end = bytes[last] === LF && last > from && bytes[last - 1] === CR ? last - 1 : last;
      let text = bytes.toString('utf8', from, end);
      if (text.includes('\r')) text = text.replace(/\r\n?/g, '\n');
      this.lines(text);
    }
    this.hold(bytes, last + 1, bytes.length);
  }

  end(): void {
    if (this.heldLength > 0) this.endHeld();
  }

  /** Copies `bytes[from..to]` onto the held line; a plain line cut at MAX_LINE goes out at once. */
  private hold(bytes: Buffer, from: number, to: number): void {
    if (to <= from) return;
    const length = this.heldLength + (to - from);
    if (length > this.held.length) {
      const grown = Buffer.allocUnsafe(Math.max(length, 2 * this.held.length, 256));
      this.held.copy(grown, 0, 0, this.heldLength);
      this.held = grown;
    }
    bytes.copy(this.held, this.heldLength, from, to);
    this.heldLength = length;
    // A line is cut by characters: its bytes say when it may be too long (a character is at least one byte).
    if (length <= MAX_LINE || this.heldSpecial) {
      if (length <= MAX_MARKER_LINE || !this.heldSpecial) return;
      this.heldSpecial = false; // a special line longer than MAX_MARKER_LINE is cut too
    }
    const text = this.held.toString('utf8', 0, length);
    if (text.length <= MAX_LINE) return;
    if (length <= MAX_MARKER_LINE && this.special(text.slice(0, MAX_LINE))) {
      this.heldSpecial = true;
      return;
    }
    this.line(truncated(text));
    this.release();
  }

  /** Hands over the held line (its end has come) and lets it go. */
  private endHeld(): void {
    const line = this.held.toString('utf8', 0, this.heldLength);
    this.release();
    this.lines(line);
  }

  private release(): void {
    this.heldLength = 0;
    this.heldSpecial = false;
    // one very long line (a marker of megabytes) does not keep its buffer for the rest of the run
    if (this.held.length > 4 * MAX_LINE) this.held = Buffer.allocUnsafe(0);
  }

  /** Hands over `bytes[from..to]`: whole lines, each ending with \n; marker lines alone, decoded. */
  private byteLines(bytes: Buffer, from: number, to: number): void {
    const prefix = this.prefixBytes!;
    let run = from;
    for (let at = bytes.indexOf(prefix, from); at >= 0 && at < to; at = bytes.indexOf(prefix, at + 1)) {
      if (at > from && bytes[at - 1] !== LF) continue;
      this.plainBytes(bytes, run, at);
      const end = bytes.indexOf(LF, at);
      this.line(bytes.toString('utf8', at, end));
      run = end + 1;
      at = end;
    }
    this.plainBytes(bytes, run, to);
  }

  /** Plain whole lines `bytes[from..to]`: as bytes, or (when one is too long and must be cut) as text. */
  private plainBytes(bytes: Buffer, from: number, to: number): void {
    if (to <= from) return;
    if (byteLinesWithin(bytes, from, to, MAX_LINE)) return this.onBytes!(bytes.subarray(from, to));
    this.eachLine(bytes.toString('utf8', from, to - 1));
  }

  /** Hands over `text`: one or more whole lines, joined by \n. */
  private lines(text: string): void {
    const onText = this.onText;
    if (!onText) return this.eachLine(text);
    // Runs of plain lines go on whole; a special line alone.
    const prefix = this.specialPrefix;
    let from = 0;
    for (let at = prefix ? text.indexOf(prefix) : -1; at >= 0; at = text.indexOf(prefix!, at + 1)) {
      if (at > 0 && text.charCodeAt(at - 1) !== LF) continue;
      if (at > from) this.run(text.slice(from, at - 1));
      const end = text.indexOf('\n', at);
      this.line(end < 0 ? text.slice(at) : text.slice(at, end));
      from = end < 0 ? text.length + 1 : end + 1;
      if (end < 0) break;
      at = end;
    }
    if (from === 0) this.run(text);
    else if (from <= text.length) this.run(text.slice(from));
  }

  private run(text: string): void {
    if (linesWithin(text, MAX_LINE)) return this.onText!(text);
    this.eachLine(text);
  }

  /** Hands over each line of `text` by itself. */
  private eachLine(text: string): void {
    for (let start = 0; ;) {
      const end = text.indexOf('\n', start);
      this.line(end < 0 ? text.slice(start) : text.slice(start, end));
      if (end < 0) return;
      start = end + 1;
    }
  }

  private line(line: string): void {
    if (line.length > MAX_LINE && !(line.length <= MAX_MARKER_LINE && this.special(line))) line = truncated(line);
    this.onLine(line);
  }
}

/**
 * Where the last TAIL_LINES lines of a run start: `lastNewline(from)` finds the
 * newline at or before `from` (-1: none), searching back from `end`.
 */
function lastLinesStart(lastNewline: (from: number) => number, end: number): number {
  for (let n = 0, at = end; at > 0;) {
    at = lastNewline(at - 1);
    if (at < 0) break;
    if (++n === TAIL_LINES) return at + 1;
  }
  return 0;
}

/**
 * The last lines a program printed (up to TAIL_LINES, or fewer when they are
 * long: at most TAIL_BYTES of them), for error messages. They are copied into
 * a buffer of fixed size: keeping the strings they came in would keep a whole
 * packet of output alive for the sake of its last lines.
 */
export class RecentLines {
  private bytes = Buffer.allocUnsafe(0);
  private length = 0;
  /** Older bytes were let go: the first line held may have lost its start. */
  private cut = false;

  /** Takes a run of lines, joined by \n. */
  add(text: string): void {
    // Only its last TAIL_LINES lines can be wanted.
    const start = lastLinesStart((from) => text.lastIndexOf('\n', from), text.length);
    let piece = start > 0 ? text.slice(start) : text;
    let size = Buffer.byteLength(piece) + 1;
    if (size > TAIL_BYTES) {
      // Its end is enough (a character takes at most 3 bytes of UTF-8 per UTF-16 unit).
      piece = piece.slice(piece.length - Math.floor((TAIL_BYTES - 1) / 3));
      size = Buffer.byteLength(piece) + 1;
      this.length = 0;
      this.cut = true;
    }
    this.makeRoom(size);
    this.length += this.bytes.write(piece, this.length, 'utf8');
    this.bytes[this.length++] = LF;
  }

  /** Takes whole lines as bytes, each ending with \n. */
  addBytes(bytes: Buffer): void {
    // Only its last TAIL_LINES lines can be wanted; they are copied, so the packet is not kept.
    let start = lastLinesStart((from) => bytes.lastIndexOf(LF, from), bytes.length - 1);
    if (bytes.length - start > TAIL_BYTES) {
      // Its end is enough; a character cut at the start is the line the cut drops.
      start = bytes.length - TAIL_BYTES;
      this.length = 0;
      this.cut = true;
    }
    this.makeRoom(bytes.length - start);
    this.length += bytes.copy(this.bytes, this.length, start);
  }

  /** Room for `size` bytes more: the oldest go, so that with them there are no more than TAIL_BYTES. */
  private makeRoom(size: number): void {
    if (this.bytes.length === 0) this.bytes = Buffer.allocUnsafe(2 * TAIL_BYTES);
    if (this.length + size <= this.bytes.length) return;
    const keep = Math.max(0, TAIL_BYTES - size);
    this.bytes.copyWithin(0, this.length - keep, this.length);
    this.length = keep;
    this.cut = true;
  }

  get lines(): string[] {
    if (this.length === 0) return [];
    const from = Math.max(0, this.length - TAIL_BYTES);
    const lines = this.bytes.toString('utf8', from, this.length - 1).split('\n');
    // a line whose start was let go is left out
    if (from > 0 ? this.bytes[from - 1] !== LF : this.cut) lines.shift();
    return lines.slice(-TAIL_LINES);
  }
}

/**
 * One program's output: marker lines become values and progress markers,
 * the others go to the log (unless the program is quiet) and into a bounded
 * tail for error messages. Log text is printed a chunk of lines at a time
 * (flush), one string per chunk: a build that prints 500 MB makes no
 * string per line.
 */
export class ProgramOutput {
  readonly values = new Map<string, string>();
  private readonly prefix: string;
  private pending: (string | Buffer)[] = [];
  private readonly recent = new RecentLines();

  constructor(
    marker: string,
    private readonly program: { title: string; quiet?: boolean },
    private readonly options: RunOptions,
    private readonly print: Print,
  ) {
    this.prefix = marker + ' ';
  }

  isMarker(line: string): boolean {
    return line.startsWith(this.prefix);
  }

  /** The last lines it printed (up to 40), for error messages. */
  get tail(): string[] {
    return this.recent.lines;
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
    this.text(line);
  }

  /** Takes a run of ordinary lines (no marker), joined by \n. */
  text(text: string): void {
    this.recent.add(text);
    if (!this.program.quiet) this.pending.push(text);
  }

  /** Takes a run of ordinary lines (no marker) as bytes, each line ending with \n. */
  bytes(bytes: Buffer): void {
    this.recent.addBytes(bytes);
    if (!this.program.quiet) this.pending.push(bytes);
  }

  /** Prints the lines taken so far; false when the log is backed up. */
  flush(): boolean {
    if (this.pending.length === 0) return true;
    const text = this.pending;
    this.pending = [];
    return this.print(text) !== false;
  }

  /** The result once the program has exited; throws on failure unless allowFailure. */
  result(code: number, timedOut = false): ProgramResult {
    this.flush();
    const tail = this.tail;
    if ((code !== 0 || timedOut) && !this.options.allowFailure)
      throw new RemoteError(this.program.title, code, tail, timedOut);
    return { code, values: this.values, tail, timedOut };
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
  output(program: Pick<Job, 'title' | 'quiet'>, options: RunOptions = {}): ProgramOutput {
    return new ProgramOutput(this.marker, program, options, this.print);
  }

  private open(): Promise<ClientChannel> {
    this.channels += 1;
    return this.session.exec('sh -s');
  }

  async run(program: Job, options: RunOptions = {}): Promise<ProgramResult> {
    const opening = this.spare ?? this.open();
    this.spare = undefined;
    const channel = await opening;
    if (options.next) this.prepare();
    return this.follow(channel, program, options, () => channel.end(program.text));
  }

  /**
   * Runs a program whose standard input, once the program has been read, is
   * `input` (an image archive, say), streamed with backpressure: nothing is
   * held in memory or written to a file on either side. The program still
   * arrives on standard input, as its first line (base64): the command line is
   * a constant, and the shell's `read` takes exactly that line, so what follows
   * is left for the program's commands. An error of `input` (the producer
   * failed) ends the channel at once, so a cut stream is never taken for a whole one.
   */
  async runWithInput(program: Job, input: Readable, options: RunOptions = {}): Promise<ProgramResult> {
    this.channels += 1;
    const channel = await this.session.exec(
      `sh -c 'IFS= read -r nr_program && eval "$(printf %s "$nr_program" | base64 -d)"'`,
    );
    let failed: Error | undefined;
    const following = this.follow(channel, program, { ...options, allowFailure: true }, () => {
      input.once('error', (err: Error) => {
        failed = err;
        input.unpipe(channel);
        channel.signal('KILL');
        channel.close();
      });
      channel.write(Buffer.from(program.text).toString('base64') + '\n');
      input.pipe(channel);
    });
    const result = await following.catch((err: Error) => {
      throw failed ?? err;
    });
    if (failed) throw failed;
    if (result.code !== 0 && !options.allowFailure)
      throw new RemoteError(program.title, result.code, result.tail, result.timedOut);
    return result;
  }

  /** Relays a program's output from its channel until it exits; `feed` sends its standard input. */
  private async follow(
    channel: ClientChannel,
    program: Job,
    options: RunOptions,
    feed: () => void,
  ): Promise<ProgramResult> {
    const output = this.output(program, options);
    const onLine = (line: string): void => output.line(line);
    const onText = (text: string): void => output.text(text);
    const onBytes = (bytes: Buffer): void => output.bytes(bytes);
    const relieve = (): void => {
      if (output.flush()) return;
      channel.pause();
      channel.stderr.pause();
      this.drained(() => {
        channel.resume();
        channel.stderr.resume();
      });
    };
    const isMarker = (line: string): boolean => output.isMarker(line);
    const out = new LineSplitter(onLine, isMarker, onText, `${this.marker} `, onBytes);
    const err = new LineSplitter(onLine, isMarker, onText, `${this.marker} `, onBytes);

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
        relieve();
      });
      channel.stderr.on('data', (d: Buffer) => {
        err.push(d);
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
      feed();
    });
    return output.result(code, timedOut);
  }
}
