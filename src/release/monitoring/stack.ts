import type { Renderer } from '../../remote/command.js';
import { compose, docker } from '../../remote/docker.js';
import { HEALTH } from '../../remote/health.js';
import { lines, sh, type Shell } from '../../remote/shell.js';

export interface StackPlace {
  repo: string;
  composeFile: string;
  containers: string[];
  healthTimeout: number;
}

/** The folder compose names the project after, as its containers' working_dir label holds it. */
export function projectDir(s: StackPlace): string {
  const dir = s.composeFile.includes('/') ? s.composeFile.slice(0, s.composeFile.lastIndexOf('/')) : '';
  return dir ? `${s.repo}/${dir}` : s.repo;
}

/** The compose project a container belongs to, as the folder it was started from. */
const PROJECT_DIR_LABEL = 'com.docker.compose.project.working_dir';

/** Asks, for each stack name, who owns the container holding it, and lists exited containers with their owners. */
export function containerOwners(r: Renderer, s: StackPlace): Shell {
  return lines(
    ...s.containers.map(
      (c, i) =>
        sh`nr_value ${`owner_${i}`} "$(${r.run({ argv: ['docker', 'container', 'inspect', '--format', `{{.State.Status}} {{index .Config.Labels "${PROJECT_DIR_LABEL}"}}`, c] })} 2>/dev/null)"`,
    ),
    // `name owner-folder` lines (a folder may hold spaces), encoded to stay one value line
    sh`nr_value exited_b64 "$(${r.run({ argv: ['docker', 'container', 'ls', '--all', '--filter', 'status=exited', '--filter', 'status=created', '--format', `{{.Names}} {{.Label "${PROJECT_DIR_LABEL}"}}`] })} | base64 | tr -d '\\n')"`,
  );
}

/**
 * Containers that would break the stack: one holding a stack name that this
 * compose project does not own (a leftover from an older folder or a manual
 * `docker run`), and exited duplicates of a stack name: the `<12 hex>_<name>`
 * compose renames a container to while recreating it, left behind when that
 * failed. Names are matched whole; a container of another compose project is
 * never a duplicate, whatever its name.
 */
export function findLeftovers(s: StackPlace, values: Map<string, string>): { name: string; why: string }[] {
  const out: { name: string; why: string }[] = [];
  const dir = projectDir(s);
  s.containers.forEach((name, i) => {
    const line = (values.get(`owner_${i}`) ?? '').trim();
    if (!line) return;
    const [status, ...rest] = line.split(' ');
    const owner = rest.join(' ').trim();
    if (owner !== dir)
      out.push({
        name,
        why: owner ? `${status}, owned by the compose project in ${owner}` : `${status}, started outside compose`,
      });
  });
  const exited = Buffer.from(values.get('exited_b64') ?? '', 'base64').toString();
  for (const line of exited.split('\n')) {
    const [name = '', ...rest] = line.trim().split(' ');
    const owner = rest.join(' ').trim();
    const renamed = /^[0-9a-f]{12}_(.+)$/.exec(name);
    if (renamed && s.containers.includes(renamed[1]) && (owner === '' || owner === dir))
      out.push({ name, why: 'an exited duplicate' });
  }
  return out;
}

/** Removes the leftovers, naming each. */
export function removeLeftovers(r: Renderer, leftovers: readonly { name: string; why: string }[]): Shell {
  if (leftovers.length === 0) return sh`nr_say ok 'Clean slate: no leftover containers'`;
  return lines(
    ...leftovers.map(
      (l) =>
        sh`nr_say warn ${`Removing leftover container ${l.name} (${l.why}): it would cause name conflicts and stale DNS answers in the stack`}`,
    ),
    sh`${r.change(docker.remove(leftovers.map((l) => l.name)))} >/dev/null || { nr_say fail 'Could not remove the leftover containers'; exit 50; }`,
  );
}

/**
 * Stops the stack with its orphans, starts it, and waits until every
 * container runs (and is healthy where it has a healthcheck); on a timeout,
 * prints the unhealthy containers' last log lines.
 */
export function restartStack(r: Renderer, s: StackPlace, steps: { restart: string; health: string }): Shell {
  return lines(
    HEALTH,
    sh`cd ${s.repo} || exit 30
nr_say step ${steps.restart}
nr_say group ${`compose down --remove-orphans, up -d (${s.composeFile})`}
${r.change(compose.down(s.composeFile))} 2>&1 || { nr_say endgroup; nr_say fail 'compose down failed'; exit 51; }
${r.change(compose.upAll(s.composeFile))} 2>&1 || { nr_say endgroup; nr_say fail 'compose up failed'; exit 52; }
nr_say endgroup
nr_say ok 'Stack started'
nr_say step ${steps.health}`,
    r.dryRun
      ? sh`nr_say info 'dry-run: health wait skipped'`
      : sh`if ! nr_wait_stack ${s.healthTimeout} ${s.containers}; then
  for nr_c in ${s.containers}; do
    case "$(nr_state "$nr_c")" in 'running healthy '*|'running none '*) ;; *)
      nr_say group "Last 50 log lines of $nr_c"; nr_docker logs --tail 50 "$nr_c" 2>&1; nr_say endgroup ;;
    esac
  done
  exit 53
fi`,
  );
}
