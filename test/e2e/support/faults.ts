import { runAction } from '../harness.js';
import type { TcpProxy } from './proxy.js';

/**
 * The fault suite's two faults (test/e2e/faults.test.ts), shared with the
 * blue-green fault points: a link cut when the action's log shows a line, and
 * a runner killed when it does.
 */

export interface Broken {
  code: number;
  stdout: string;
  /** The fault happened while the action was running. */
  struck: boolean;
  ms: number;
}

/** True once the log so far shows `at`. */
function matcher(at: string | RegExp): (text: string) => boolean {
  return (text) => (typeof at === 'string' ? text.includes(at) : at.test(text));
}

/** Runs an action through the proxy (delaying each chunk `delayMs`) and cuts every connection when the log shows `at` (after `afterMs`). */
export async function cutDuring(
  proxy: TcpProxy,
  action: string,
  extra: Record<string, string>,
  point: Point<string>,
  base: (extra: Record<string, string>) => Record<string, string>,
): Promise<Broken> {
  const { at, afterMs = 0, delayMs = 0 } = point;
  const seen = matcher(at);
  let log = '';
  let struck = false;
  let armed = true;
  const t0 = Date.now();
  proxy.delayMs = delayMs;
  const run = await runAction(action, base({ ...extra, port: String(proxy.port) }), {
    onStdout: (chunk) => {
      log += chunk;
      if (armed && seen(log)) {
        armed = false;
        setTimeout(() => (struck = proxy.cut() > 0), afterMs);
      }
    },
  });
  proxy.delayMs = 0;
  return { code: run.code, stdout: run.stdout, struck, ms: Date.now() - t0 };
}

/** Runs an action's bundle as the runner does and SIGKILLs it when the log shows `at`. */
export async function killDuring(
  action: string,
  extra: Record<string, string>,
  at: string | RegExp,
  base: (extra: Record<string, string>) => Record<string, string>,
): Promise<Broken> {
  const t0 = Date.now();
  const seen = matcher(at);
  let log = '';
  let struck = false;
  const run = await runAction(action, base(extra), {
    timeoutMs: 120_000,
    onStdout: (chunk, kill) => {
      log += chunk;
      if (!struck && seen(log)) struck = kill();
    },
  });
  return { code: run.code, stdout: run.stdout, struck, ms: Date.now() - t0 };
}

/** Where a fault strikes; `V` names the variants of the release the test pushes. */
export interface Point<V extends string = string> {
  at: string | RegExp;
  variant?: V;
  how?: 'cut' | 'kill';
  /** The proxy's delay for this run (ms each way) and the wait after the match before cutting. */
  delayMs?: number;
  afterMs?: number;
  /**
   * The last lines of a release arrive with its end (the phase's log is relayed a
   * poll at a time): the runner may have it all before the cut lands, and then
   * rightly reports success. Either way the NAS must be as the release left it.
   */
  mayFinish?: boolean;
}
