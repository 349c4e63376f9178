import type { BackendTarget } from '../../inputs/backend.js';
import type { Renderer } from '../../remote/command.js';
import { compose, docker } from '../../remote/docker.js';
import { HEALTH } from '../../remote/health.js';
import { lines, sh, type Shell } from '../../remote/shell.js';

export interface RecreatePlan {
  repo: string;
  target: BackendTarget;
  tag: string;
  /** Tag to put back when the new one fails; empty: none (leave it for inspection). */
  fallback: string;
  force: boolean;
  preDeploy?: string;
  postDeploy?: string;
  /** Says the phase's step lines; the deploy numbers them 6-8, the rollback 3-5. */
  steps: { recreate: string; health: string; verify: string };
}

/**
 * The phase that changes the running backend, run detached on the NAS so a
 * hang-up cannot cut it in half: pre-deploy, recreate with the tag, wait for
 * health, verify, post-deploy; when the new tag fails, print its logs and
 * put the fallback tag back. Reports `previous`, `running` and `rolled_back`.
 */
export function recreateBackend(r: Renderer, p: RecreatePlan): Shell {
  const { target: t } = p;
  const ref = `${t.image}:${p.tag}`;
  const up = (tag: string, force: boolean): Shell =>
    r.change(compose.up({ file: t.composeFile, service: t.service, tagVariable: t.tagVariable, tag, force }));
  const hook = (name: string, text: string | undefined, failCode: number): Shell =>
    text
      ? sh`nr_say info ${`Running ${name}...`}
( BACKEND_TAG=${p.tag}; PREVIOUS_BACKEND_TAG=$nr_prev; export BACKEND_TAG PREVIOUS_BACKEND_TAG; ${r.change({ argv: ['sh', '-c', text] })} ) || { nr_rc=$?; nr_say fail "${name} failed (exit $nr_rc)"; exit ${failCode}; }
nr_say ok ${`${name} done`}`
      : sh`:`;
  return lines(
    HEALTH,
    sh`cd ${p.repo} || exit 30
nr_img=$(${r.run(docker.containerImage(t.container))} 2>/dev/null || true)
case "$nr_img" in ${t.image + ':'}*) nr_prev=\${nr_img#*:} ;; *) nr_prev= ;; esac
nr_value previous "$nr_prev"
${hook('pre-deploy', p.preDeploy, 31)}
nr_say step ${p.steps.recreate}
if ${up(p.tag, p.force)}; then
  nr_say ok 'Container recreated'
  nr_say step ${p.steps.health}
  ${r.dryRun ? sh`nr_say info 'dry-run: health wait skipped'; nr_ok=1` : sh`nr_ok=0; nr_wait_container ${t.container} ${t.healthTimeout} ${t.healthUrl} && nr_ok=1`}
else
  nr_say fail 'docker compose up failed'; nr_ok=0
fi
if [ "$nr_ok" = 1 ]; then
  nr_say ok 'Backend is healthy'
  nr_say step ${p.steps.verify}
  nr_now_img=$(${r.run(docker.containerImage(t.container))} 2>/dev/null)
  if [ "$nr_now_img" = ${ref} ] || ${r.dryRun ? sh`true` : sh`false`}; then nr_say ok "Container is running with image: $nr_now_img"
  else nr_say fail "Container runs $nr_now_img, not "${ref}; nr_ok=0; fi
  ${t.healthUrl && !r.dryRun ? sh`if [ "$nr_ok" = 1 ]; then if nr_http_ok ${t.healthUrl}; then nr_say ok 'Health endpoint responding'; else nr_say fail ${`Health endpoint ${t.healthUrl} is not responding`}; nr_ok=0; fi; fi` : sh`:`}
fi
if [ "$nr_ok" = 1 ]; then
  ${hook('post-deploy', p.postDeploy, 32)}
  nr_value running ${p.tag}; nr_value rolled_back false
  exit 0
fi
nr_say group ${`Last 100 log lines of ${t.container} (${ref})`}
${r.run(docker.logs(t.container, 100))} 2>&1 || true
nr_say endgroup
${
  p.fallback
    ? sh`nr_say warn ${`Rolling back to ${t.image}:${p.fallback}`}
if ${up(p.fallback, true)} && nr_wait_container ${t.container} ${t.healthTimeout} ${t.healthUrl}; then
  nr_say ok ${`Rolled back: ${t.container} runs ${t.image}:${p.fallback} and is healthy`}
  nr_value running ${p.fallback}; nr_value rolled_back true; exit 40
fi
nr_say fail ${`The rollback to ${p.fallback} did not become healthy either`}
nr_value running "$(${r.run(docker.containerImage(t.container))} 2>/dev/null | sed 's/^[^:]*://')"; nr_value rolled_back true; exit 42`
    : sh`nr_say warn 'No previous tag to roll back to: the new container is left for inspection'
nr_value running ${p.tag}; nr_value rolled_back false; exit 41`
}`,
  );
}
