import type { BlueGreenSettings } from '../inputs/backend.js';
import { Shell, sh } from '../remote/shell.js';
import type { ProxyKind } from './proxy-kind.js';

/**
 * The user's own proxy, switched by their `switch-command`: their own command
 * by design (it comes from the workflow), run as a word of sh -c in the
 * repository; the colour, its container and its port reach it through its
 * environment only (COLOR, CONTAINER, PORT; src/nas-shell/switch-command.sh).
 * What it prints goes to the log. It may hold requests the phase cannot see:
 * its drain takes the whole time.
 */
export function switchCommand(bg: BlueGreenSettings): ProxyKind {
  return {
    toCheck: 'the proxy your switch-command drives',
    needsContainer: true,
    switchTo: (_r, s, c, cid) => sh`nr_switch_command "$nr_dir" ${s.repo} ${c} ${cid} ${bg.ports[c]}`,
    switchStep: (r, s, refused) =>
      r.dryRun
        ? sh`nr_say info ${'dry-run: would point the proxy (switch-command)'}`
        : sh`nr_switch_command_user() { ${r.user(bg.switchCommand)}; }
if ! nr_switch_command "$nr_dir" ${s.repo} ${s.idle} ${new Shell('"$nr_idle_cid"')} ${bg.ports[s.idle]}; then
  nr_switch_command_said fail "$nr_dir"
  nr_say fail 'switch-command failed: the live colour serves on'
  ${refused('commandFailed')}
fi
nr_switch_command_said info "$nr_dir"`,
    drain: (_port, seconds) => sh`nr_sleep ${seconds}`,
  };
}
