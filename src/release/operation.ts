import type { ClientChannel } from 'ssh2';
import type { ConnectionInputs } from '../inputs/connection.js';
import { Executor, LineSplitter, RemoteError, type Job, type Marker, type ProgramResult } from '../ssh/exec.js';
import { programText, type Program } from '../remote/program.js';
import { Session } from '../ssh/session.js';
import { Renderer, toolFunctions, type Tools } from '../remote/command.js';
import { detached } from '../remote/detached.js';
import {
  appendRecord,
  beginOperation,
  endOperation,
  parseHistoryValues,
  readHistory,
  type HistoryRecord,
  type Outcome,
} from '../remote/history.js';
import { LOCK_HEARTBEAT_EVERY, lockHolder } from '../remote/lock.js';
import { missingTool, parseTools, probeTools, probingToolFunctions, type NasFacts } from '../remote/nas.js';
import { Shell, lines, sh } from '../remote/shell.js';
import type { Progress } from '../report/progress.js';
import { currentRun, type RunInfo } from '../report/run-info.js';

/** Until the probe has spoken, docker and git are the probing shell functions. */
const PROBING_TOOLS: Tools = { docker: ['nr_docker'], compose: ['nr_compose'], git: ['nr_git'], sudo: false };

export interface ProgramOptions {
  /** Seconds before the runner gives up on it. */
  timeout?: number;
  allowFailure?: boolean;
  /** Sees each marker first; true when it handled it. */
  onMarker?: (m: Marker) => boolean;
}

export interface OperationOptions {
  action: string;
  stack: 'backend' | 'monitoring';
  conn: ConnectionInputs;
  progress: Progress;
  /** Takes the release lock (everything that changes containers or the checkout). */
  locking: boolean;
}

/** Where the lock, the history and the detached phase's log live: inside `.git/`, outside the work tree. */
export function stateDirOf(repoPath: string): string {
  return `${repoPath}/.git/nas-release`;
}

/**
 * One release operation on the NAS: the SSH session, what the NAS has, the
 * release lock, and the history. Flows build programs and run them here.
 */
export class Operation {
  readonly run: RunInfo = currentRun();
  readonly stateDir: string;
  /** What the NAS has: known once readState has run. */
  facts?: NasFacts;
  /** Renders commands; until the probe has spoken, docker and git go through the probing functions. */
  render: Renderer;
  history: HistoryRecord[] = [];
  /** An operation a vanished run left unfinished. */
  interrupted?: HistoryRecord;
  private lockChannel?: ClientChannel;
  /** When the lock was taken: the history's start of this operation (the wait before it is not part of it). */
  private lockedAt?: string;
  private heartbeat?: NodeJS.Timeout;
  private record?: HistoryRecord;
  private finished = false;
  /** The phase that ended the operation wrote its success line itself. */
  private recordedSuccess = false;

  private constructor(
    readonly options: OperationOptions,
    readonly session: Session,
    readonly exec: Executor,
  ) {
    this.stateDir = stateDirOf(options.conn.repoPath);
    this.render = new Renderer(PROBING_TOOLS, options.conn.dryRun);
  }

  get progress(): Progress {
    return this.options.progress;
  }
  get conn(): ConnectionInputs {
    return this.options.conn;
  }
  get dryRun(): boolean {
    return this.options.conn.dryRun;
  }

  /** Connects; the release lock is taken by readState, with the first questions on the same channel. */
  static async open(options: OperationOptions): Promise<Operation> {
    const { conn, progress } = options;
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
    return new Operation(options, session, exec);
  }

  /**
   * Takes the release lock, waiting (and printing who holds it) up to
   * lock-timeout, then runs `state` under it on the same channel: the lock
   * and the first questions cost one round trip.
   */
  private async lockAndRead(state: Program): Promise<ProgramResult> {
    const { conn, progress } = this.options;
    const holder = JSON.stringify({
      action: this.options.action,
      run: this.run.url,
      actor: this.run.actor,
      started: this.run.started,
    });
    const output = this.exec.output(state, { onMarker: (m) => this.onMarker(m), allowFailure: true });
    const then = new Shell(programText({ path: conn.remotePath, marker: this.exec.marker, script: state.script }));
    const script = lockHolder({
      stateDir: this.stateDir,
      holder,
      timeout: conn.lockTimeout,
      marker: this.exec.marker,
      path: conn.remotePath,
      then,
    });
    this.exec.channels += 1;
    // Like every program, on standard input (never on a command line); the channel's input stays open for the heartbeats.
    const channel = await this.session.exec('sh -s');
    channel.write(lines(new Shell('{'), script, new Shell('}')).text + '\n');
    this.lockChannel = channel;
    const prefix = this.exec.marker + ' ';
    return new Promise<ProgramResult>((resolve, reject) => {
      let locked = false;
      let lastHolder = '';
      let timer: NodeJS.Timeout | undefined;
      const before: string[] = [];
      const fail = (err: Error): void => {
        clearTimeout(timer);
        reject(err);
      };
      const onLock = (line: string): void => {
        if (!line.startsWith(prefix)) return void before.push(line);
        const [kind, ...rest] = line.slice(prefix.length).split(' ');
        const info = describeHolder(rest.join(' '));
        if (kind === 'locked') {
          locked = true;
          this.lockedAt = new Date().toISOString();
          progress.ok('Release lock held');
          this.heartbeat = setInterval(() => channel.write('.\n'), LOCK_HEARTBEAT_EVERY * 1000);
          this.heartbeat.unref();
          timer = setTimeout(() => fail(new RemoteError(state.title, 124, output.tail, true)), state.timeout * 1000);
        } else if (kind === 'held' && info !== lastHolder) {
          lastHolder = info;
          progress.detail(
            `Waiting for the release lock of ${conn.repoPath} (up to ${conn.lockTimeout}s), held by ${info}`,
          );
        } else if (kind === 'phase') progress.detail(`Waiting: ${rest.join(' ')}`);
        else if (kind === 'missing') fail(new Error(missingTool(rest[0] ?? '?', conn.remotePath)));
        else if (kind === 'norepo') fail(new Error(noCheckout(conn.repoPath)));
        else if (kind === 'timeout')
          fail(
            new Error(
              `The release lock of ${conn.repoPath} is held by ${info}; gave up after lock-timeout (${conn.lockTimeout}s). Nothing was changed.`,
            ),
          );
      };
      const out = new LineSplitter(
        (line) => {
          if (!locked) return onLock(line);
          if (line.startsWith(`${prefix}state `)) {
            clearTimeout(timer);
            return void resolve(output.result(Number(line.slice(prefix.length + 'state '.length)) || 0));
          }
          output.line(line);
        },
        (line) => output.isMarker(line),
      );
      const err = new LineSplitter((line) => (locked ? output.line(line) : before.push(line)));
      channel.on('data', (d: Buffer) => out.push(d));
      channel.stderr.on('data', (d: Buffer) => err.push(d));
      channel.on('close', (code: number | null) => {
        err.end();
        fail(
          new Error(
            locked
              ? `${state.title}: ${this.session.closed ?? 'the lock process ended'} before the command finished`
              : `The release lock could not be taken (exit ${code ?? 'none'}): ${before.join(' ').trim() || 'the lock process ended'}`,
          ),
        );
      });
    });
  }

  /** Runs a program; its markers become progress lines. */
  async runProgram(
    title: string,
    script: Shell,
    opts: ProgramOptions & { quiet?: boolean } = {},
  ): Promise<ProgramResult> {
    const tools = this.facts ? toolFunctions(this.facts.tools) : probingToolFunctions(this.conn.sudo);
    return this.exec.run(
      this.job({
        title,
        script: lines(tools, script),
        timeout: opts.timeout ?? 600,
        ...(opts.quiet ? { quiet: true } : {}),
      }),
      { onMarker: (m) => opts.onMarker?.(m) || this.onMarker(m), ...(opts.allowFailure ? { allowFailure: true } : {}) },
    );
  }

  /** A program as the executor takes it: its text rendered with this run's marker and PATH. */
  private job(program: Program): Job {
    const text = programText({ path: this.conn.remotePath, marker: this.exec.marker, script: program.script });
    return { title: program.title, text, timeout: program.timeout, ...(program.quiet ? { quiet: true } : {}) };
  }

  /** Runs a state-changing phase detached on the NAS (see detached.ts), following its log. */
  async runPhase(title: string, script: Shell, opts: ProgramOptions = {}): Promise<ProgramResult> {
    if (!this.facts) throw new Error('a phase ran before the NAS was described');
    // A dry run takes no lock and changes nothing: it must not touch the phase files (log, status) a real release may be using.
    if (this.dryRun) return this.runProgram(title, script, opts);
    return this.runProgram(title, detached(this.stateDir, lines(toolFunctions(this.facts.tools), script)), opts);
  }

  private groupOpen = false;
  private onMarker(m: Marker): void {
    const { progress } = this.options;
    switch (m.kind) {
      case 'step':
        progress.step(m.text);
        return;
      case 'ok':
        return progress.ok(m.text);
      case 'warn':
        return progress.warn(m.text);
      case 'fail':
        return progress.fail(m.text);
      case 'group':
        if (this.groupOpen) progress.platform.endGroup();
        progress.platform.startGroup(m.text);
        this.groupOpen = true;
        return;
      case 'endgroup':
        if (this.groupOpen) progress.platform.endGroup();
        this.groupOpen = false;
        return;
      default:
        return progress.detail(m.text);
    }
  }

  /**
   * The first program of every action, after the lock: describes the NAS
   * (failing before any change when a tool is missing), reads the history,
   * and asks the flow's own read-only questions, all in one round trip.
   */
  async readState(questions: Shell): Promise<Map<string, string>> {
    const { conn, progress } = this.options;
    const state: Program = {
      title: 'Reading the NAS state',
      script: lines(
        probingToolFunctions(conn.sudo),
        probeTools(conn.sudo),
        sh`[ -d ${conn.repoPath}/.git ] && nr_value repo yes`,
        readHistory(this.stateDir),
        questions,
        sh`wait`,
      ),
      timeout: 120,
      quiet: true,
    };
    let result: ProgramResult;
    if (this.options.locking && !this.dryRun) result = await this.lockAndRead(state);
    else {
      if (this.options.locking) progress.ok('Connected (dry-run: no lock)');
      // A locking operation always runs another program (its phase, or at least its history line).
      result = await this.exec.run(this.job(state), {
        onMarker: (m) => this.onMarker(m),
        allowFailure: true,
        next: this.options.locking,
      });
    }
    this.facts = parseTools(result.values, {
      sudo: conn.sudo,
      compose: conn.composeCommand,
      remotePath: conn.remotePath,
    });
    if (result.values.get('repo') !== 'yes') {
      throw new Error(noCheckout(conn.repoPath));
    }
    if (result.code !== 0) throw new RemoteError('Reading the NAS state', result.code, result.tail);
    this.render = new Renderer(this.facts.tools, conn.dryRun);
    const facts = this.facts;
    await progress.group('NAS', async () => {
      progress.platform.info(
        `Host:    ${conn.username}@${conn.host}:${conn.port} (host key ${this.session.presentedKey})`,
      );
      for (const line of facts.describe) progress.platform.info(line);
    });
    const { records, inProgress } = parseHistoryValues(result.values);
    this.history = records;
    if (inProgress) this.interrupted = { ...inProgress, outcome: 'interrupted', ended: new Date().toISOString() };
    return result.values;
  }

  /** Says what an interrupted run left behind; `now` describes what runs now. */
  reportInterrupted(now: string): void {
    const r = this.interrupted;
    if (!r) return;
    this.progress.warn(
      `The previous operation did not finish: ${r.action} of ${r.tag || '?'} (${r.run ?? 'unknown run'}, by ${r.actor ?? '?'}, started ${r.started}) was interrupted. ${now}`,
    );
  }

  private baseRecord(): HistoryRecord {
    return {
      id: this.run.id,
      action: this.options.action,
      stack: this.options.stack,
      tag: '',
      actor: this.run.actor,
      run: this.run.url,
      started: this.lockedAt ?? this.run.started,
    };
  }

  /** Shell that records this operation as started (and files an interrupted one). */
  begin(record: Omit<HistoryRecord, 'id' | 'action' | 'stack' | 'actor' | 'run' | 'started'>): Shell {
    this.record = { ...this.baseRecord(), ...record };
    if (this.dryRun) return sh`:`;
    const interrupted = this.interrupted;
    this.interrupted = undefined; // filed once
    return beginOperation(this.stateDir, this.record, interrupted);
  }

  /**
   * Shell for a detached phase: `body` in a subshell, then, when it exits 0,
   * this operation's success line (with the NAS's clock) and `after`; exits
   * with the body's status. The success is on disk as soon as it happens, so
   * a runner cancelled a moment later loses nothing; finish('success') then
   * writes nothing more.
   */
  recordingSuccess(body: Shell, update: Partial<HistoryRecord> = {}, after?: Shell): Shell {
    const record = this.options.locking && !this.dryRun;
    if (record) this.recordedSuccess = true;
    return sh`(
${body}
)
nr_rc=$?
if [ "$nr_rc" = 0 ]; then
${record ? endOperation(this.stateDir, { ...(this.record ?? this.baseRecord()), ...update, outcome: 'success', ended: undefined }) : sh`:`}
${after ?? sh`:`}
fi
exit "$nr_rc"`;
  }

  /**
   * Records the end of this operation (one history line per operation, also
   * when it ends without changing anything), asking `questions` (read-only)
   * in the same round trip.
   */
  async finish(outcome: Outcome, update: Partial<HistoryRecord> = {}, questions?: Shell): Promise<Map<string, string>> {
    const first = !this.finished;
    this.finished = true;
    const record: HistoryRecord | undefined =
      first && this.options.locking && !this.dryRun && this.lockedAt
        ? { ...(this.record ?? this.baseRecord()), ...update, outcome, ended: new Date().toISOString() }
        : undefined;
    if (record) this.history.push(record);
    const write = outcome === 'success' && this.recordedSuccess ? undefined : record;
    const interrupted = write ? this.interrupted : undefined;
    this.interrupted = undefined;
    if (!write && !questions) return new Map();
    const result = await this.runProgram(
      'Recording the release history',
      lines(
        interrupted ? appendRecord(this.stateDir, interrupted) : undefined,
        write ? endOperation(this.stateDir, write) : undefined,
        questions,
      ),
      { quiet: true, timeout: 60 },
    );
    return result.values;
  }

  /**
   * Opens an operation, runs `body`, and closes it. An error after the lock
   * was taken is recorded in the history as a failure, then rethrown.
   */
  static async run<T>(options: OperationOptions, body: (op: Operation) => Promise<T>): Promise<T> {
    const op = await Operation.open(options);
    try {
      return await body(op);
    } catch (err) {
      if (!op.finished && !op.session.closed) {
        await op
          .finish('failure', { detail: (err as Error).message.split('\n')[0].slice(0, 300) })
          .catch(() => undefined);
      }
      throw err;
    } finally {
      op.close();
    }
  }

  close(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.lockChannel?.end();
    this.exec.close();
    this.session.close();
  }
}

function noCheckout(repoPath: string): string {
  return `repo-path ${repoPath} is not a git checkout on the NAS (no .git folder there). Clone the application there first. Nothing was changed.`;
}

function describeHolder(json: string): string {
  try {
    const h = JSON.parse(json) as { action?: string; run?: string; actor?: string; started?: string };
    return `${h.action ?? 'an operation'} by ${h.actor ?? '?'} since ${h.started ?? '?'} (${h.run ?? 'unknown run'})`;
  } catch {
    return json.trim() || 'another operation';
  }
}
