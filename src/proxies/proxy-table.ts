import type { BlueGreenSettings } from '../inputs/backend.js';
import { nginx } from './nginx.js';
import type { ProxyKind } from './proxy-kind.js';
import { switchCommand } from './switch-command.js';

export type { ProxyKind, ProxyRefusal, ProxySwitch } from './proxy-kind.js';

/** The proxies a blue-green release switches: nginx built in, or the user's switch-command. */
export type ProxyName = 'nginx' | 'switch-command';

/** Which proxy the settings name: a switch-command replaces the built-in nginx. */
export function proxyName(bg: BlueGreenSettings): ProxyName {
  return bg.switchCommand ? 'switch-command' : 'nginx';
}

/** The module of each proxy: the one place that tells the proxies apart. */
export function proxyKind(bg: BlueGreenSettings): ProxyKind {
  const name = proxyName(bg);
  switch (name) {
    case 'nginx':
      return nginx(bg);
    case 'switch-command':
      return switchCommand(bg);
    default:
      return unknownProxy(name);
  }
}

/** A proxy the switch above does not name fails to compile here. */
function unknownProxy(name: never): never {
  throw new Error(`unknown proxy ${JSON.stringify(name)}`);
}
