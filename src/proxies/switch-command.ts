import type { BlueGreenSettings, Color } from '../inputs/backend.js';
import type { Renderer } from '../remote/command.js';
import { Shell, sh } from '../remote/shell.js';
import type { ProxyKind } from './proxy-kind.js';

/**
 * The user's own proxy, switched by their `switch-command`: their own command
 * by design (it comes from the workflow), run as a word of sh -c in the
 * repository; the colour, its container and its port reach it through its
 * environment only (COLOR, CONTAINER, PORT). What it prints goes to the log.
 * It may hold requests the phase cannot see: its drain takes the whole time.
 */
export function switchCommand(bg: BlueGreenSettings): ProxyKind {
  const run = (r: Renderer, repo: string, c: Color, cid: Shell): Shell =>
    sh`( cd ${repo} && COLOR=${c} && CONTAINER=${cid} && PORT=${bg.ports[c]} && export COLOR CONTAINER PORT && ${r.user(bg.switchCommand)} ) > "$nr_dir/switch.out" 2>&1`;
  return {
    toCheck: 'the proxy your switch-command drives',
    needsContainer: true,
    switchTo: (r, s, c, cid) => run(r, s.repo, c, cid),
    switchStep: (r, s, refused) =>
      r.dryRun
        ? sh`nr_say info ${'dry-run: would point the proxy (switch-command)'}`
        : sh`if ! ${run(r, s.repo, s.idle, new Shell('"$nr_idle_cid"'))}; then
  while IFS= read -r nr_l; do nr_say fail "switch-command: $nr_l"; done < "$nr_dir/switch.out"
  nr_say fail 'switch-command failed: the live colour serves on'
  ${refused('commandFailed')}
fi
while IFS= read -r nr_l; do nr_say info "switch-command: $nr_l"; done < "$nr_dir/switch.out"`,
    drain: (_port, seconds) => sh`nr_sleep ${seconds}`,
  };
}
