import type { ComposeChoice } from '../inputs/connection.js';
import { Shell, sh } from '../remote/shell.js';

/**
 * Whether the two colours of a blue-green release share the application's
 * data. Compose names a volume after its project (`<project>_<volume>`), and
 * each colour runs under a project of its own: a volume a colour's service
 * mounts would be `<project>-blue_data` in one colour and `<project>-green_data`
 * in the other, so a release would start on empty data. A volume with a fixed
 * `name:` (or an `external` one) is the same in both. The question runs
 * `compose config` under the blue colour's project name on the compose file
 * being released (git show: the work tree is not touched) and reports, for the
 * colour's services, each named volume they mount and the name compose gives it.
 */

export interface ColorVolumesPlan {
  repo: string;
  /** Relative to repo. */
  file: string;
  /** The revision whose compose file is read: the commit being released, or HEAD for a rollback. */
  rev: string;
  /** The blue colour's compose project. */
  project: string;
  /** The variables the colours set, with a value each, so `${VAR:?}` reads. */
  env: Readonly<Record<string, string>>;
  compose: ComposeChoice;
}

/**
 * The awk that reads `compose config`'s normalised YAML (v1: short volume
 * syntax and `data: {}`; v2: long syntax and `name: <project>_data`):
 * `u <service> <volume>` for each named volume a service mounts,
 * `v <volume>` and `n <volume> <name>` for the top-level volumes.
 */
export const COLOR_VOLUMES_AWK = `function flush() { if (svc != "" && src != "" && (typ == "volume" || (typ == "" && short))) print "u " svc " " src; src = ""; typ = ""; short = 0 }
function val(t) { sub(/^[^:]*:[ ]*/, "", t); gsub(/["']/, "", t); return t }
/^[^ #]/ { flush(); top = $0; svc = ""; inv = 0; next }
top == "services:" && /^  [^ #-][^:]*:[ ]*$/ { flush(); svc = $1; sub(/:$/, "", svc); inv = 0; next }
top == "services:" && /^    [^ -]/ { flush(); inv = ($0 ~ /^    volumes:[ ]*$/); next }
top == "services:" && inv && /^ *- / { flush(); it = $0; sub(/^ *- */, "", it); gsub(/["']/, "", it)
  if (it ~ /^(type|source|target|read_only|volume|bind|consistency):/) { k = it; sub(/:.*/, "", k); if (k == "type") typ = val(it); if (k == "source") src = val(it) }
  else if (it ~ /:/ && it !~ /^[\\/.~$]/) { src = it; sub(/:.*/, "", src); short = 1 }
  next }
top == "services:" && inv && /^      *(type|source):/ { it = $0; sub(/^ */, "", it); if (it ~ /^type:/) typ = val(it); else src = val(it); next }
top == "volumes:" && /^  [^ #][^:]*:/ { vol = $1; sub(/:.*/, "", vol); print "v " vol; next }
top == "volumes:" && /^    name:/ { print "n " vol " " val($0); next }
END { flush() }`;

export function colorVolumesQuestion(c: ColorVolumesPlan): Shell {
  const dir = c.file.includes('/') ? c.file.slice(0, c.file.lastIndexOf('/')) : '.';
  for (const v of Object.keys(c.env)) if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(v)) throw new Error(`not a variable: ${v}`);
  const env = Object.entries(c.env).map(([k, v]) => sh`${new Shell(k)}=${v}; export ${new Shell(k)}`);
  const args = sh`--project-name ${c.project} --project-directory "$nr_cv_dir" --file "$nr_cv_tmp" config`;
  const v2 = sh`nr_docker compose ${args}`;
  const v1 = sh`docker-compose ${args}`;
  const run =
    c.compose === 'docker compose'
      ? v2
      : c.compose === 'docker-compose'
        ? v1
        : sh`if nr_docker compose version >/dev/null 2>&1; then ${v2}; else ${v1}; fi`;
  return sh`(
nr_cv_dir=${c.repo}/${dir}
nr_cv_tmp=$(mktemp "\${TMPDIR:-/tmp}/nas-release-colors.XXXXXX") || exit 0
if nr_git -C ${c.repo} show ${`${c.rev}:${c.file}`} > "$nr_cv_tmp" 2>/dev/null && nr_cv_out=$(cd "$nr_cv_dir" && ${new Shell(env.map((e) => e.text).join('; ') || ':')}; ${run} 2>/dev/null); then
  nr_value color_volumes "$(printf '%s\\n' "$nr_cv_out" | awk ${COLOR_VOLUMES_AWK} | tr '\\n' ';' | head -c 4000)"
else
  nr_value color_volumes_unread yes
fi
rm -f "$nr_cv_tmp"
) &`;
}

/** What the question found: each named volume a service mounts, and each top-level volume's fixed name ('' none). */
export type ColorVolumes =
  | { read: 'ok'; uses: ReadonlyMap<string, readonly string[]>; names: ReadonlyMap<string, string> }
  | { read: 'unreadable' }
  /** Not asked, or no answer. */
  | { read: 'unknown' };

export function decodeColorVolumes(values: ReadonlyMap<string, string>): ColorVolumes {
  if (values.has('color_volumes_unread')) return { read: 'unreadable' };
  const text = values.get('color_volumes');
  if (text === undefined) return { read: 'unknown' };
  const uses = new Map<string, string[]>();
  const names = new Map<string, string>();
  for (const line of text.split(';')) {
    const [kind, a = '', b = ''] = line.trim().split(/\s+/);
    if (kind === 'u' && a && b) uses.set(b, [...new Set([...(uses.get(b) ?? []), a])]);
    if (kind === 'v' && a && !names.has(a)) names.set(a, '');
    if (kind === 'n' && a) names.set(a, b);
  }
  return { read: 'ok', uses, names };
}

/**
 * The volumes the colours' services mount that would not be one volume in both colours, a sentence each with the
 * line to add; empty when they share every one. `project` is the compose file's own project (`<project>_<volume>`
 * is the volume the application used under it), `blue` the blue colour's.
 */
export function colorVolumeProblems(
  found: ColorVolumes,
  o: { file: string; project: string; blue: string; green: string; services: readonly string[] },
): string[] {
  if (found.read !== 'ok') return [];
  const problems: string[] = [];
  for (const [volume, users] of found.uses) {
    const mine = users.filter((u) => o.services.includes(u));
    if (!mine.length || !found.names.has(volume)) continue;
    const name = found.names.get(volume) ?? '';
    // v1 prints no name for a volume of the project; v2 prints the one it derives from the project
    if (name && name !== `${o.blue}_${volume}`) continue;
    problems.push(
      `volume ${volume} (mounted by ${mine.join(', ')}) would be a different volume in each colour (${o.blue}_${volume}, ${o.green}_${volume}), so a colour would start on empty data: in ${o.file}, under the top-level volumes, give it a fixed name with the line \`name: ${o.project}_${volume}\` under \`${volume}:\` (the volume it has under compose's own project name)`,
    );
  }
  return problems;
}
