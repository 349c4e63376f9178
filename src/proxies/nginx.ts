import type { BlueGreenSettings } from '../inputs/backend.js';
import { colors } from '../remote/docker.js';
import { sh } from '../remote/shell.js';
import type { ProxyKind, ProxySwitch } from './proxy-kind.js';

/** How long the switch waits for nginx's old workers to stop accepting after `nginx -s reload`. */
export const NGINX_RELOAD_WAIT_SECONDS = 10;

/**
 * The built-in proxy: nginx, a service of the compose file, routing through a
 * one-line upstream include (`proxy-upstream-file`): the file is rewritten,
 * `nginx -t` validates it, a graceful reload takes it, and the switch waits
 * until the old workers no longer accept (src/nas-shell/nginx.sh). Its drain
 * ends as soon as nothing is in flight.
 */
export function nginx(bg: BlueGreenSettings): ProxyKind {
  const upstream = (s: ProxySwitch): string => `${s.repo}/${bg.upstreamFile}`;
  return {
    toCheck: `the proxy (service ${bg.proxyService}, ${bg.upstreamFile})`,
    needsContainer: false,
    switchTo: (_r, s, c) => sh`nr_nginx_switch_to ${upstream(s)} "$nr_px" ${bg.ports[c]} ${NGINX_RELOAD_WAIT_SECONDS}`,
    switchStep: (r, s, refused) => {
      const port = bg.ports[s.idle];
      const start = r.change(
        colors.up({ file: s.composeFile, project: s.project, service: bg.proxyService, env: s.env, force: false }),
      );
      return sh`nr_nginx_start() { ${start}; }
nr_nginx_proxy ${s.project} ${bg.proxyService} ${upstream(s)} ${port}
${
  r.dryRun
    ? sh`nr_say info ${`dry-run: would point ${bg.upstreamFile} at 127.0.0.1:${port}, run nginx -t and nginx -s reload`}`
    : sh`nr_nginx_switch_to ${upstream(s)} "$nr_px" ${port} ${NGINX_RELOAD_WAIT_SECONDS}; nr_rc=$?
if [ "$nr_rc" -eq 2 ]; then
  nr_say fail ${`nginx did not take the new configuration within ${NGINX_RELOAD_WAIT_SECONDS}s of its reload: the upstream was put back, requests go where they did before (${s.live || 'nothing'})`}
  ${refused('reloadPending')}
elif [ "$nr_rc" -ne 0 ]; then
  nr_say fail ${`The proxy refused the new configuration: it was not reloaded and sends requests where it did before (${s.live || 'nothing'})`}
  ${refused('refused')}
fi`
}`;
    },
    drain: (port, seconds) => sh`nr_nginx_drain "$nr_px" ${port} ${seconds}`,
  };
}
