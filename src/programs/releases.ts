import type { Renderer } from '../remote/command.js';
import type { TypedProgram } from '../remote/program.js';
import { sh, Shell } from '../remote/shell.js';
import { runnerRootOf, stateDirOf } from '../remote/state-dir.js';

/**
 * project-source: runner on the NAS: `<root>/releases/<commit>/` holds the files of each release, shipped whole
 * before anything changes; the work tree (see runnerTree) takes the files of one of them in the release's phase.
 */
export function releasesDir(root: string): string {
  return `${root}/releases`;
}

/** What receiveRelease reports. */
export interface Received {
  received: boolean;
  /** The folder was there already (this commit was shipped before): kept as it was. */
  existed: boolean;
}

/**
 * Unpacks the gzip-compressed tar on standard input into a temporary folder beside the releases, renamed to
 * `releases/<commit>` only once whole: a cut stream or a killed runner never leaves a release folder, and the
 * work tree is not touched. Temporary folders a killed upload left over an hour ago go first.
 */
export function receiveRelease(root: string, commit: string, paths: readonly string[]): TypedProgram<Received> {
  const dir = `${releasesDir(root)}/${commit}`;
  return {
    title: 'Receiving the release files',
    timeout: 3600,
    script: sh`mkdir -p ${releasesDir(root)} || { nr_say fail ${`Cannot create ${releasesDir(root)}`}; exit 1; }
find ${releasesDir(root)} -maxdepth 1 -name '.incoming-*' -mmin +60 -exec rm -rf {} + 2>/dev/null
nr_tmp=${`${releasesDir(root)}/.incoming-${commit}`}-$$
rm -rf "$nr_tmp" "$nr_tmp.cut" && mkdir "$nr_tmp" || { nr_say fail ${`Cannot create a folder in ${releasesDir(root)}`}; exit 1; }
nr_bad=
( gunzip -c || : > "$nr_tmp.cut" ) | tar -xf - -C "$nr_tmp" || nr_bad=1
[ -e "$nr_tmp.cut" ] && nr_bad=1
if [ -n "$nr_bad" ]; then rm -rf "$nr_tmp" "$nr_tmp.cut"; nr_say fail 'The files from the runner arrived cut or corrupt: nothing was kept'; exit 1; fi
printf '%s\n' ${paths} > "$nr_tmp.paths" || { rm -rf "$nr_tmp" "$nr_tmp.paths"; exit 1; }
if [ -d ${dir} ] && [ -f ${`${dir}.paths`} ] && [ -z "$(grep -vxF -f ${`${dir}.paths`} "$nr_tmp.paths")" ]; then
  rm -rf "$nr_tmp" "$nr_tmp.paths"; nr_value existed yes
else
  # the same commit shipped for another stack's paths: its folder takes both (the files of one commit agree)
  if [ -d ${dir} ]; then cp -pR ${dir}/. "$nr_tmp"/ && sort -u ${`${dir}.paths`} "$nr_tmp.paths" > "$nr_tmp.both" 2>/dev/null && mv -f "$nr_tmp.both" "$nr_tmp.paths" || nr_bad=1; fi
  # the paths first: a folder is only ever there with them; a folder replaced moves aside first (under the lock)
  [ -z "$nr_bad" ] && mv -f "$nr_tmp.paths" ${`${dir}.paths`} && { [ ! -d ${dir} ] || mv ${dir} "$nr_tmp.old"; } && mv "$nr_tmp" ${dir} || { rm -rf "$nr_tmp" "$nr_tmp.paths" "$nr_tmp.both"; [ -d "$nr_tmp.old" ] && mv "$nr_tmp.old" ${dir}; nr_say fail ${`Cannot put the received files in ${dir}`}; exit 1; }
  rm -rf "$nr_tmp.old"
fi
nr_value received yes`,
    decode: (values) => ({ received: values.get('received') === 'yes', existed: values.get('existed') === 'yes' }),
  };
}

/** The work tree's record in the state folder: `tree` (the last release folder it took), `tree-files` (the files releases gave it). */
function treeRecord(root: string, name: 'tree' | 'tree-files'): string {
  return `${stateDirOf(`${root}/${root.slice(root.lastIndexOf('/') + 1)}`)}/${name}`;
}

/**
 * Shell defining `nr_sync_tree <folder>`, which gives the work tree the files of `releases/<folder>` as `git
 * checkout` gives a checkout a commit's: each file of the release written; of the files earlier releases gave,
 * those under the paths this release ships (`releases/<folder>.paths`) that it no longer has removed; every other
 * file (an environment file, the proxy's upstream file, data, another stack's files) left alone. The work tree is
 * a real folder, not a link to the release folder: a bind mount is resolved when its container is created, so a
 * link would keep running containers (the blue-green proxy) on the old folder. And `nr_release_of <tag>`: the
 * release folder of a release tag (which ends in its commit's 7 hex), in `nr_ro`.
 */
function syncFunction(root: string, tree: string): Shell {
  const rel = releasesDir(root);
  const files = treeRecord(root, 'tree-files');
  return sh`nr_sync_tree() {
  [ -d ${rel}/"$1" ] || { nr_say fail "There is no release folder $1 in "${rel}; return 1; }
  if [ -L ${tree} ] || { [ -e ${tree} ] && [ ! -d ${tree} ]; }; then nr_say fail ${`${tree} is not a folder: move it away (project-source: runner keeps the release's files there)`}; return 1; fi
  mkdir -p ${tree} ${stateDirOf(tree)} && ( cd ${rel}/"$1" && tar -cf - . ) | ( cd ${tree} && tar -xf - ) || return 1
  ( cd ${rel}/"$1" && find . ! -type d ) > ${`${files}.add`} || return 1
  touch ${files} && awk -v paths=${rel}/"$1.paths" -v added=${`${files}.add`} '
    BEGIN { while ((getline l < paths) > 0) p[++n] = l; while ((getline l < added) > 0) a[l] = 1 }
    ($0 in a) { next }
    { mine = 0; for (i = 1; i <= n; i++) if (p[i] == "." || $0 == "./" p[i] || index($0, "./" p[i] "/") == 1) mine = 1
      print (mine ? "gone " : "kept ") $0 }' ${files} > ${`${files}.plan`} || return 1
  while IFS= read -r nr_l; do case $nr_l in "gone "*) rm -f ${tree}/"\${nr_l#gone }" ;; esac; done < ${`${files}.plan`}
  { sed -n 's/^kept //p' ${`${files}.plan`}; cat ${`${files}.add`}; } > ${`${files}.new`} && mv -f ${`${files}.new`} ${files} || return 1
  rm -f ${`${files}.add`} ${`${files}.plan`}
  printf '%s\\n' "$1" > ${`${treeRecord(root, 'tree')}.new`} && mv -f ${`${treeRecord(root, 'tree')}.new`} ${treeRecord(root, 'tree')}
}
nr_release_of() {
  nr_ro=
  for nr_d in ${rel}/"\${1##*-}"*; do [ -d "$nr_d" ] && nr_ro=\${nr_d##*/}; done
  [ -n "$nr_ro" ]
}`;
}

/**
 * Gives the work tree `tree` the files of `commit`'s release folder, or ends with `failed`. Undefined for a git
 * checkout: callers use it wherever the checkout moves.
 */
export function switchTree(r: Renderer, tree: string, commit: string, failed: Shell): Shell | undefined {
  const root = runnerRootOf(tree);
  if (!root) return undefined;
  if (r.dryRun) return sh`nr_say info ${`dry-run: would give ${tree} the files of releases/${commit}`}`;
  return sh`${syncFunction(root, tree)}
nr_sync_tree ${commit} || { nr_say fail ${`${tree} could not take the files of ${commit.slice(0, 7)}`}; ${failed}; }
nr_say ok ${`${tree} holds the files of ${commit.slice(0, 7)}`}`;
}

/**
 * Puts back the files of `tag`'s release (a release tag ends in its commit's 7 hex), with a warning when there is
 * no release folder of it (the files stay as they are): a rollback's target, or, on a failure, the release before.
 */
export function putBackTree(r: Renderer, tree: string, tag: string): Shell | undefined {
  const root = runnerRootOf(tree);
  if (!root || !tag) return undefined;
  if (r.dryRun) return sh`nr_say info ${`dry-run: would give ${tree} the files of ${tag}`}`;
  return sh`${syncFunction(root, tree)}
if nr_release_of ${tag}; then
  nr_sync_tree "$nr_ro" && nr_say ok ${`${tree} holds the files of ${tag}`} || nr_say warn ${`${tree} could not take the files of ${tag}`}
else
  nr_say warn ${`There is no release folder of ${tag}: the files stay those there are`}
fi`;
}

/**
 * Gives the work tree the files of `tag`'s release and reports its commit, or ends with `failed` when there is no
 * release folder of it (a rollback that needs them: the monitoring stack's). Undefined for a git checkout.
 */
export function takeTreeOf(r: Renderer, tree: string, tag: string, failed: Shell): Shell | undefined {
  const root = runnerRootOf(tree);
  if (!root) return undefined;
  return sh`${syncFunction(root, tree)}
nr_release_of ${tag} || { nr_say fail ${`There is no release folder of ${tag} in ${releasesDir(root)}`}; ${failed}; }
nr_value commit "$nr_ro"
${
  r.dryRun
    ? sh`nr_say info ${`dry-run: would give ${tree} the files of ${tag}`}`
    : sh`nr_sync_tree "$nr_ro" || { nr_say fail ${`${tree} could not take the files of ${tag}`}; ${failed}; }
nr_say ok ${`${tree} holds the files of ${tag}`}`
}`;
}

/**
 * Removes the release folders of the commits whose image tags went (`removed`), unless a tag in `protect` (the
 * running and rollback releases, of the backend and of the monitoring stack) or any image tag on the NAS still
 * names the commit, and never the folder the work tree took last. A folder without images (a release under way)
 * is never named, so never removed.
 */
export function pruneReleases(
  r: Renderer,
  tree: string,
  removed: readonly string[],
  protect: readonly string[],
): TypedProgram<string[]> | undefined {
  const root = runnerRootOf(tree);
  const short = (t: string): string => t.slice(t.lastIndexOf('-') + 1);
  const keep = new Set(protect.map(short));
  const gone = [...new Set(removed.map(short))].filter((s) => /^[0-9a-f]{7}$/.test(s) && !keep.has(s));
  if (!root || !gone.length) return undefined;
  return {
    title: 'Removing old release folders',
    timeout: 600,
    quiet: true,
    script: sh`nr_cur=$(cat ${treeRecord(root, 'tree')} 2>/dev/null); nr_gone=
nr_tags=$(nr_docker image ls --format '{{.Tag}}') || { nr_value gone ''; exit 0; }
for nr_s in ${gone}; do
  if printf '%s\\n' "$nr_tags" | grep -q -- "-$nr_s\\$"; then continue; fi
  for nr_d in ${releasesDir(root)}/"$nr_s"*; do
    [ -d "$nr_d" ] || continue
    if [ "\${nr_d##*/}" = "$nr_cur" ]; then nr_say info "Release folder \${nr_d##*/} holds the files in use: kept"
    else ${r.dryRun ? sh`nr_say info "dry-run: would remove release folder \${nr_d##*/}"` : sh`rm -rf "$nr_d" "$nr_d.paths" && nr_gone="$nr_gone \${nr_d##*/}"`}
    fi
  done
done
nr_value gone "$nr_gone"`,
    decode: (values) => (values.get('gone') ?? '').split(' ').filter(Boolean),
  };
}
