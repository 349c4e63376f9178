import type { Renderer } from '../remote/command.js';
import type { Readable } from 'node:stream';
import type { HistoryRecord, Outcome } from '../remote/history.js';
import type { NasFacts } from '../remote/nas.js';
import type { Phase, ProgramOutcome, RecordUpdate, StateQuestions, TypedProgram } from '../remote/program.js';
import type { RunInfo } from '../report/run-info.js';

/**
 * The seam between the release flows and the NAS: everything a flow asks of
 * it. SshNas is the real one (src/nas/ssh-nas.ts); the flows' unit tests use
 * an in-memory fake.
 */
export interface Nas {
  /** Who runs this release and where its log is: recorded in the lock and the history. */
  readonly run: RunInfo;
  readonly dryRun: boolean;
  /**
   * Renders the command catalog for this NAS: the tools the probe found (and
   * sudo), state-changing commands only through the dry-run-aware `change`.
   * Known once readState has returned.
   */
  readonly render: Renderer;

  /**
   * Connects, takes the release lock when the operation changes anything
   * (waiting up to lock-timeout, saying who holds it), describes the NAS
   * (failing before any change when a tool is missing), reads the release
   * history, and answers the flow's read-only `questions`: one round trip.
   */
  readState<T>(questions: StateQuestions<T>): Promise<NasState<T>>;

  /** Runs a program in the foreground; its progress markers become log lines. Never throws for a non-zero exit. */
  runProgram<T>(program: TypedProgram<T>): Promise<ProgramOutcome<T>>;

  /**
   * Runs a program in the foreground with `input` streamed to its standard
   * input (an image built on the runner, into `docker load`): no file on
   * either side, with backpressure. Rejects when `input` fails, so a cut
   * stream is never taken for a whole one; otherwise never throws for a non-zero exit.
   */
  streamProgram<T>(program: TypedProgram<T>, input: Readable): Promise<ProgramOutcome<T>>;

  /**
   * Runs a state-changing phase on the NAS detached from the SSH session, so
   * it ends whole even when the runner vanishes. The phase records this
   * operation as started, and its success line when its body exits 0, on the
   * NAS itself. Never throws for a non-zero exit.
   */
  runPhase<T>(phase: Phase<T>): Promise<ProgramOutcome<T>>;

  /**
   * Records how the operation ended: one history line per operation (also
   * for a no-op), unless a phase already wrote its success.
   */
  finish(outcome: Outcome, update?: RecordUpdate): Promise<void>;
}

export interface NasState<T> {
  facts: NasFacts;
  /** The last records of the release history, oldest first. */
  history: readonly HistoryRecord[];
  /** An operation a vanished run left unfinished; it is filed as `interrupted` by this one. */
  interrupted?: HistoryRecord;
  /** A release running now beside this lock-free operation (a dry run, a verify). */
  inProgress?: HistoryRecord;
  answers: T;
}

/** What an operation is, for the lock and the history. */
export interface OperationKind {
  action: string;
  stack: 'backend' | 'monitoring';
  /** Takes the release lock (everything that changes containers or the checkout). */
  locking: boolean;
}

export type { Phase, RecordUpdate, StateQuestions };
