import type { ConnectionInputs } from '../inputs/connection.js';
import { Renderer, type Tools } from '../remote/command.js';
import {
  clearUnreported,
  parseHistoryValues,
  parseUnreported,
  readHistory,
  reportKey,
  type HistoryRecord,
} from '../remote/history.js';
import { parseTools, probeTools, probingToolFunctions, type NasFacts } from '../remote/nas.js';
import type { Program, ProgramOutcome, TypedProgram } from '../remote/program.js';
import { lines, sh } from '../remote/shell.js';
import { stateDirOf } from '../remote/state-dir.js';
import type { Progress } from '../report/progress.js';
import { currentRun, type RunInfo } from '../report/run-info.js';
import { Executor, RemoteError, type ProgramResult } from '../ssh/exec.js';
import { Session } from '../ssh/session.js';
import { LockExit, STATE_PROGRAM_LIMIT } from '../remote/lock.js';
import { HistoryRecorder } from './history-recorder.js';
import { LockClient, noCheckout } from './lock-client.js';
import type { Nas, NasState, OperationKind, Phase, RecordUpdate, StateQuestions } from './nas.js';
import { MarkerRelay, ProgramRunner } from './program-runner.js';
import type { Outcome } from '../remote/history.js';
import type { Readable } from 'node:stream';

/** Until the probe has spoken, docker and git are the probing shell functions. */
const PROBING_TOOLS: Tools = { docker: ['nr_docker'], compose: ['nr_compose'], git: ['nr_git'], sudo: false };

interface Connected {
  session: Session;
  exec: Executor;
  lock: LockClient;
  runner: ProgramRunner;
}

/**
 * The NAS over SSH: one session for the whole operation, opened by readState.
 * It composes the pieces of an operation, each in a file of its own: the
 * lock client, the history recorder and the program runner.
 */
export class SshNas implements Nas {
  readonly run: RunInfo = currentRun();
  readonly dryRun: boolean;
  render: Renderer;
  private readonly stateDir: string;
  private readonly history: HistoryRecorder;
  private readonly relay: MarkerRelay;
  private connected?: Connected;
  private facts?: NasFacts;
  /** How this operation ended, as recorded by finish(). */
  outcome?: HistoryRecord;
  /** Earlier operations whose outcome no runner has reported: the NAS finished them, or they were interrupted. */
  unreported: HistoryRecord[] = [];
  /** Runs once, under the lock, right after the first state is read (project-source: runner ships the files). */
  afterFirstRead?: (nas: Nas) => Promise<void>;

  constructor(
    private readonly conn: ConnectionInputs,
    private readonly kind: OperationKind,
    private readonly progress: Progress,
  ) {
    this.dryRun = conn.dryRun;
    this.stateDir = stateDirOf(conn.repoPath);
    this.render = new Renderer(PROBING_TOOLS, conn.dryRun);
    this.history = new HistoryRecorder(
      kind,
      this.run,
      this.stateDir,
      kind.locking && !conn.dryRun,
      conn.notify.targets.length > 0,
    );
    this.relay = new MarkerRelay(progress);
  }

  private get locking(): boolean {
    return this.kind.locking && !this.dryRun;
  }

  private async connect(): Promise<Connected> {
    if (this.connected) return this.connected;
    const { conn, progress } = this;
    const platform = progress.platform;
    if (conn.skipHostKeyCheck) {
      progress.warn(
        'insecure-skip-host-key-check is true: the NAS host key is not checked, so anyone on the path could impersonate it. Pin it with host-key.',
      );
    }
    const session = await Session.connect({
      ...conn,
      onRetry: (attempt, reason, delay) =>
        platform.info(`   connection attempt ${attempt} failed (${reason}); retrying in ${(delay / 1000).toFixed(1)}s`),
    });
    const exec = new Executor(
      session,
      (lines) => platform.remote(lines),
      (resume) => platform.drained(resume),
    );
    // The channel of the next program opens while the lock and the state are awaited.
    exec.prepare();
    if (conn.dryRun)
      progress.warn('dry-run: state-changing commands are printed, not run; the release lock is not taken');
    this.connected = {
      session,
      exec,
      lock: new LockClient(session, exec, progress),
      runner: new ProgramRunner(exec, this.relay, this.stateDir, conn.remotePath),
    };
    return this.connected;
  }

  async readState<T>(questions: StateQuestions<T>): Promise<NasState<T>> {
    const { conn, progress } = this;
    const { lock, session, runner } = await this.connect();
    const state: Program = {
      title: 'Reading the NAS state',
      script: lines(
        probingToolFunctions(conn.sudo),
        probeTools(conn.sudo),
        conn.releaseRoot
          ? sh`[ -d ${conn.releaseRoot} ] && nr_value repo yes`
          : sh`[ -d ${conn.repoPath}/.git ] && nr_value repo yes`,
        readHistory(this.stateDir),
        questions.script(this.render),
        sh`wait`,
      ),
      timeout: 120,
      quiet: true,
    };
    let result: ProgramResult;
    if (this.locking) {
      try {
        result = await lock.takeAndRead(
          {
            stateDir: this.stateDir,
            repoPath: conn.repoPath,
            remotePath: conn.remotePath,
            timeout: conn.lockTimeout,
            holder: { action: this.kind.action, run: this.run.url, actor: this.run.actor, started: this.run.started },
          },
          state,
          this.relay.relay,
        );
      } finally {
        // Once taken, the lock makes this an operation of the history, also when it fails before answering.
        this.history.startedAt = lock.lockedAt;
      }
    } else {
      if (this.kind.locking) progress.ok('Connected (dry-run: no lock)');
      // A locking operation always runs another program (its phase, or at least its history line).
      result = await runner.plain(state, { allowFailure: true, next: this.kind.locking });
    }
    if (this.locking && result.code === LockExit.StateTimedOut)
      throw new Error(
        `Reading the NAS state took longer than ${STATE_PROGRAM_LIMIT}s on the NAS and was stopped there (a git fetch that hangs, or a Docker engine that does not answer?). The release lock was let go. Nothing was changed.`,
      );
    const facts = parseTools(result.values, {
      sudo: conn.sudo,
      compose: conn.composeCommand,
      remotePath: conn.remotePath,
      git: !conn.releaseRoot,
    });
    if (result.values.get('repo') !== 'yes') throw new Error(noCheckout(conn.repoPath));
    if (result.code !== 0) throw new RemoteError('Reading the NAS state', result.code, result.tail);
    this.facts = facts;
    this.render = new Renderer(facts.tools, conn.dryRun);
    await progress.group('NAS', async () => {
      if (conn.jump)
        progress.platform.info(
          `Jump:    ${conn.jump.username}@${conn.jump.host}:${conn.jump.port} (host key ${session.jumpPresentedKey})`,
        );
      progress.platform.info(`Host:    ${conn.username}@${conn.host}:${conn.port} (host key ${session.presentedKey})`);
      for (const line of facts.describe) progress.platform.info(line);
    });
    const { records, inProgress } = parseHistoryValues(result.values);
    const answers = questions.decode(result.values);
    const after = this.afterFirstRead;
    this.afterFirstRead = undefined;
    if (after) await after(this);
    this.unreported = unreportedOf(records, parseUnreported(result.values), this.locking);
    if (!inProgress) return { facts, history: records, answers };
    // Under the lock, an operation still marked in progress was left by a vanished run. Without
    // the lock (a dry run, a verify), it may be a release running right now: never call it interrupted.
    if (!this.locking) return { facts, history: records, inProgress, answers };
    const interrupted = { ...inProgress, outcome: 'interrupted' as const, ended: new Date().toISOString() };
    this.history.fileInterrupted(interrupted);
    this.unreported.push(interrupted);
    return { facts, history: records, interrupted, answers };
  }

  private ready(step: string): { runner: ProgramRunner; tools: Tools } {
    if (!this.connected || !this.facts) throw new Error(`"${step}" ran before the NAS was described`);
    if (this.locking) this.connected.lock.assertHeld(step);
    return { runner: this.connected.runner, tools: this.facts.tools };
  }

  async runProgram<T>(program: TypedProgram<T>): Promise<ProgramOutcome<T>> {
    const { runner, tools } = this.ready(program.title);
    return runner.foreground(program, tools);
  }

  async streamProgram<T>(program: TypedProgram<T>, input: Readable): Promise<ProgramOutcome<T>> {
    const { runner, tools } = this.ready(program.title);
    return runner.streamed(program, tools, input);
  }

  async runPhase<T>(phase: Phase<T>): Promise<ProgramOutcome<T>> {
    const { runner, tools } = this.ready(phase.title);
    // The start first: the success line extends the record it begins.
    const begin = this.history.begin(phase.begin);
    // A phase that ends the release writes its success line itself; one that a verification follows leaves it to finish().
    const body = phase.success
      ? this.history.recordingSuccess(
          phase.script,
          phase.success,
          phase.afterSuccess,
          phase.endings,
          phase.successFields,
        )
      : lines(phase.script, phase.afterSuccess);
    const script = lines(begin, body);
    // A dry run takes no lock and changes nothing: it must not touch the phase files (log, status) a real release may be using.
    if (this.dryRun) return runner.foreground({ ...phase, script }, tools);
    return runner.detached(phase, tools, script);
  }

  async finish(outcome: Outcome, update: RecordUpdate = {}): Promise<void> {
    const { shell: ended, record } = this.history.finish(outcome, update);
    this.outcome ??= record;
    const shell = ended || this.history.seen() ? lines(ended, this.history.seen()) : undefined;
    if (!shell || !this.connected || this.connected.session.closed) return;
    await this.connected.runner.foreground(
      { title: 'Recording the release history', script: shell, timeout: 60, quiet: true, decode: () => undefined },
      this.facts?.tools ?? PROBING_TOOLS,
    );
  }

  /** Takes reported operations out of the unreported list on the NAS (a dry run changes nothing). */
  async acknowledge(records: readonly HistoryRecord[]): Promise<void> {
    if (this.dryRun || !records.length || !this.connected || this.connected.session.closed) return;
    await this.connected.runner.foreground(
      {
        title: 'Recording the reported outcomes',
        script: clearUnreported(this.stateDir, records.map(reportKey)),
        timeout: 60,
        quiet: true,
        decode: () => undefined,
      },
      this.facts?.tools ?? PROBING_TOOLS,
    );
  }

  /**
   * Runs `body` against this NAS and closes it. An error after the lock was
   * taken is recorded in the history as a failure (saying so when the lock was lost), then rethrown.
   */
  async operate<T>(body: (nas: Nas) => Promise<T>): Promise<T> {
    try {
      return await body(this);
    } catch (err) {
      if (!this.history.isFinished && this.connected && !this.connected.session.closed) {
        await this.finish('failure', { detail: (err as Error).message.split('\n')[0].slice(0, 300) }).catch(
          () => undefined,
        );
      }
      throw err;
    } finally {
      this.close();
    }
  }

  close(): void {
    if (!this.connected) return;
    this.connected.lock.release();
    this.connected.exec.close();
    this.connected.session.close();
  }
}

/** A lock-free run leaves an operation alone for a while: its runner may be about to take it out itself. */
const UNREPORTED_GRACE_MS = 5 * 60_000;

/** The records of the unreported keys, oldest first; each key once. */
function unreportedOf(records: readonly HistoryRecord[], keys: readonly string[], locking: boolean): HistoryRecord[] {
  const wanted = new Set(keys);
  const out: HistoryRecord[] = [];
  for (const r of records) {
    const key = reportKey(r);
    if (!wanted.has(key)) continue;
    wanted.delete(key);
    if (!locking && !(Date.now() - Date.parse(r.ended ?? '') > UNREPORTED_GRACE_MS)) continue;
    out.push(r);
  }
  return out;
}
