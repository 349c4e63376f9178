import { runnerRootOf } from '../remote/state-dir.js';
import type { ClientChannel } from 'ssh2';
import { lockHolder, LOCK_HEARTBEAT_EVERY } from '../remote/lock.js';
import { missingTool } from '../remote/nas.js';
import { programText, type Program } from '../remote/program.js';
import { Shell, lines } from '../remote/shell.js';
import type { Progress } from '../report/progress.js';
import { LineSplitter, RemoteError, type Executor, type Marker, type ProgramResult } from '../ssh/exec.js';
import type { Session } from '../ssh/session.js';

export interface LockRequest {
  stateDir: string;
  repoPath: string;
  remotePath: string;
  /** Seconds to wait for another release to let go. */
  timeout: number;
  /** Who holds it: shown to a release that waits. */
  holder: { action: string; run: string; actor: string; started: string };
}

/**
 * The runner's side of the release lock (see remote/lock.ts): one channel
 * whose NAS process holds `flock` while the channel lives and heartbeats
 * arrive. The same process answers the operation's first questions once it
 * holds the lock, so the lock costs no extra round trip.
 */
export class LockClient {
  private channel?: ClientChannel;
  private heartbeat?: NodeJS.Timeout;
  /** When the lock was taken: the history's start of this operation. */
  lockedAt?: string;
  /** Why the lock was lost after it was taken (its NAS process ended): no state-changing step may follow. */
  lost?: string;
  private released = false;

  constructor(
    private readonly session: Session,
    private readonly exec: Executor,
    private readonly progress: Progress,
  ) {}

  /**
   * Takes the lock, waiting (and printing who holds it) up to the timeout,
   * then runs `state` under it on the same channel.
   */
  async takeAndRead(request: LockRequest, state: Program, onMarker: (m: Marker) => void): Promise<ProgramResult> {
    const { progress } = this;
    const output = this.exec.output(state, { onMarker, allowFailure: true });
    const then = new Shell(programText({ path: request.remotePath, marker: this.exec.marker, script: state.script }));
    const script = lockHolder({
      stateDir: request.stateDir,
      holder: JSON.stringify(request.holder),
      timeout: request.timeout,
      marker: this.exec.marker,
      path: request.remotePath,
      then,
    });
    this.exec.channels += 1;
    // Like every program, on standard input (never on a command line); the channel's input stays open for the heartbeats.
    const channel = await this.session.exec('sh -s');
    channel.write(lines(new Shell('{'), script, new Shell('}')).text + '\n');
    this.channel = channel;
    const prefix = this.exec.marker + ' ';
    return new Promise<ProgramResult>((resolve, reject) => {
      let locked = false;
      let answered = false;
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
            `Waiting for the release lock of ${request.repoPath} (up to ${request.timeout}s), held by ${info}`,
          );
        } else if (kind === 'phase') progress.detail(`Waiting: ${rest.join(' ')}`);
        else if (kind === 'missing') fail(new Error(missingTool(rest[0] ?? '?', request.remotePath)));
        else if (kind === 'norepo') fail(new Error(noCheckout(request.repoPath)));
        else if (kind === 'timeout')
          fail(
            new Error(
              `The release lock of ${request.repoPath} is held by ${info}; gave up after lock-timeout (${request.timeout}s). Nothing was changed.`,
            ),
          );
      };
      const out = new LineSplitter(
        (line) => {
          if (!locked) return onLock(line);
          if (line.startsWith(`${prefix}state `)) {
            clearTimeout(timer);
            answered = true;
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
        if (answered) {
          // The lock's process ended while the operation goes on: nothing may change the NAS after this.
          if (!this.released)
            this.lost = `the release lock's process on the NAS ended (${this.session.closed ?? `exit ${code ?? 'none'}`})`;
          return;
        }
        if (locked && !this.session.closed)
          return fail(
            new LockLostError(state.title, `its process on the NAS ended (exit ${code ?? 'by a signal'}) while it ran`),
          );
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

  /** Throws when the lock was lost: called before every state-changing step. */
  assertHeld(step: string): void {
    if (this.lost) throw new LockLostError(step, this.lost);
  }

  release(): void {
    this.released = true;
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.channel?.end();
  }
}

export class LockLostError extends Error {
  constructor(step: string, why: string) {
    super(
      `The release lock was lost at "${step}": ${why}. Another release may be running now; nothing more was changed. Run the release again.`,
    );
  }
}

export function noCheckout(repoPath: string): string {
  const root = runnerRootOf(repoPath);
  if (root)
    return `repo-path ${root} does not exist on the NAS. Create that folder first (project-source: runner ships the releases into it). Nothing was changed.`;
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
