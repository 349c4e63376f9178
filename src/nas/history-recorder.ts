import {
  RECORD_MORE,
  appendRecord,
  beginOperation,
  clearUnreported,
  endOperation,
  markUnreported,
  reportKey,
  type HistoryRecord,
  type Outcome,
} from '../remote/history.js';
import { Shell, sh, lines } from '../remote/shell.js';
import type { RunInfo } from '../report/run-info.js';
import type { OperationKind, RecordUpdate } from './nas.js';
import type { PhaseEnding } from '../remote/program.js';

/**
 * This operation's line in the release history: the shell that records it
 * as started (filing an interrupted one found by readState), the success line
 * a detached phase writes itself, and the closing line for everything else.
 * One history line per operation, also when it ends without changing anything.
 */
export class HistoryRecorder {
  private record?: HistoryRecord;
  /** An operation a vanished run left unfinished, filed once. */
  private interrupted?: HistoryRecord;
  private finished = false;
  /** The phase that ended the operation wrote its success line itself. */
  private successWritten = false;
  /** Other ends the phase writes itself: finish() with one of them writes nothing more. */
  private phaseEndings: readonly PhaseEnding[] = [];
  /** When the lock was taken: the start of this operation (the wait before it is not part of it). */
  startedAt?: string;

  constructor(
    private readonly kind: OperationKind,
    private readonly run: RunInfo,
    private readonly stateDir: string,
    /** A dry run (or an operation without the lock) records nothing. */
    private readonly recording: boolean,
    /**
     * Keep the list of outcomes no runner reported, for a later run to notify: only with `notify` set, so a
     * release that notifies nobody makes no round trip for it.
     */
    private readonly tracksUnreported = true,
  ) {}

  fileInterrupted(record: HistoryRecord | undefined): void {
    this.interrupted = record;
  }

  private base(): HistoryRecord {
    return {
      id: this.run.id,
      action: this.kind.action,
      stack: this.kind.stack,
      tag: '',
      actor: this.run.actor,
      run: this.run.url,
      started: this.startedAt ?? this.run.started,
    };
  }

  /** Shell that records this operation as started. */
  begin(update: RecordUpdate): Shell {
    this.record = { ...this.base(), tag: '', ...update };
    if (!this.recording) return sh`:`;
    const interrupted = this.interrupted;
    this.interrupted = undefined;
    return beginOperation(this.stateDir, this.record, interrupted);
  }

  /**
   * Shell for a detached phase: `body` in a subshell, then, when it exits 0,
   * this operation's success line (with the NAS's clock) and `after`; exits
   * with the body's status. The success is on disk as soon as it happens, so
   * a runner cancelled a moment later loses nothing.
   */
  recordingSuccess(
    body: Shell,
    update: RecordUpdate = {},
    after?: Shell,
    endings: readonly PhaseEnding[] = [],
    fields?: Shell,
  ): Shell {
    if (this.recording) {
      this.successWritten = true;
      this.phaseEndings = endings;
    }
    // Each end the phase writes itself is also unreported until the runner has seen it (finish() takes it out).
    const ending = (record: HistoryRecord): Shell =>
      lines(
        endOperation(this.stateDir, record),
        this.tracksUnreported ? markUnreported(this.stateDir, record) : undefined,
      );
    const others = this.recording
      ? endings.map(
          (e) => sh`if [ "$nr_rc" = ${e.code} ]; then
${ending({ ...(this.record ?? this.base()), ...e.update, outcome: e.outcome, ended: undefined })}
fi`,
        )
      : [];
    const success = this.recording
      ? ending({
          ...(this.record ?? this.base()),
          ...update,
          outcome: 'success',
          ended: undefined,
        })
      : sh`:`;
    return sh`${new Shell(RECORD_MORE)}=
(
${body}
)
nr_rc=$?
if [ "$nr_rc" = 0 ]; then
${this.recording && fields ? fields : sh`:`}
${success}
${after ?? sh`:`}
fi
${lines(sh`:`, ...others)}
exit "$nr_rc"`;
  }

  /**
   * The shell that records how the operation ended, or nothing when there is
   * nothing (more) to write. The record is also returned, for the flow's view of the history.
   */
  finish(outcome: Outcome, update: RecordUpdate = {}): { shell?: Shell; record?: HistoryRecord } {
    if (this.finished) return {};
    this.finished = true;
    if (!this.recording || !this.startedAt) return {};
    const record: HistoryRecord = {
      ...(this.record ?? this.base()),
      ...update,
      outcome,
      ended: new Date().toISOString(),
    };
    const writtenByPhase = this.phaseEndings.some((e) => e.outcome === outcome && e.update.detail === update.detail);
    const write = !(outcome === 'success' && this.successWritten) && !writtenByPhase;
    if (!write) return { record };
    const interrupted = this.interrupted;
    this.interrupted = undefined;
    return {
      record,
      shell: lines(
        interrupted ? appendRecord(this.stateDir, interrupted) : undefined,
        endOperation(this.stateDir, record),
      ),
    };
  }

  /**
   * Shell that takes this operation out of the unreported list once finish()
   * has run: this runner has seen how its phase ended, so the next run need not report it.
   */
  seen(): Shell | undefined {
    if (!this.tracksUnreported || !this.finished || !this.successWritten || !this.startedAt) return undefined;
    return clearUnreported(this.stateDir, [reportKey(this.record ?? this.base())]);
  }

  get isFinished(): boolean {
    return this.finished;
  }
}
