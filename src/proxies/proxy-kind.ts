import type { Color } from '../inputs/backend.js';
import type { Renderer } from '../remote/command.js';
import type { Shell } from '../remote/shell.js';

/** How a proxy refuses a switch; the phase ends with the exit of each, the live colour serving on. */
export type ProxyRefusal = 'refused' | 'reloadPending' | 'commandFailed';

/** Where a blue-green switch happens, as its proxy module needs it. */
export interface ProxySwitch {
  repo: string;
  composeFile: string;
  /** The compose project of the shared services, the proxy's own. */
  project: string;
  /** The colour the switch points the proxy at. */
  idle: Color;
  /** The colour serving before the switch, empty before the first blue-green release. */
  live: Color | '';
  /** The idle colour's environment (a proxy started by the first release gets it). */
  env: Record<string, string>;
}

/**
 * What a blue-green release's switch asks of the proxy in front of the
 * colours. Each proxy is one module answering this interface, looked up by
 * `proxyKind` (proxy-table.ts): a new proxy is one more module, and the
 * compiler lists what it must answer. The shell of each lives in a library
 * of src/nas-shell/ where it can; the module renders its calls.
 */
export interface ProxyKind {
  /** What the user must check when the switch back failed: the proxy they route with. */
  toCheck: string;
  /** Switching to a colour needs its first service's container id (the live one's is found before the switch). */
  needsContainer: boolean;
  /**
   * The switch step: find (or start) the proxy, point it at the idle colour
   * and wait until that has taken effect; a refusal ends the phase with `refused(why)`.
   */
  switchStep(r: Renderer, s: ProxySwitch, refused: (why: ProxyRefusal) => Shell): Shell;
  /** A command pointing the proxy at colour `c` (`cid`: its container), failing when it could not: the switch back. */
  switchTo(r: Renderer, s: ProxySwitch, c: Color, cid: Shell): Shell;
  /** In the drain job: waits until the old colour (on `port`) holds no request, at most `seconds`. */
  drain(port: number, seconds: number): Shell;
}
