import type { BackendTarget } from '../inputs/backend.js';
import type { Renderer } from '../remote/command.js';
import type { TypedProgram } from '../remote/program.js';
import { sh, type Shell } from '../remote/shell.js';

/**
 * project-source: runner. The runner ships each release's files into a folder of its own,
 * `<repo-path>/releases/<tag>/`, and `<repo-path>/current` is a link to the one that runs: compose reads
 * `<repo-path>/current/<compose-file>`, so putting a release back is switching the link.
 */
export function releasesDir(root: string): string {
  return `${root}/releases`;
}
export function currentLink(root: string): string {
  return `${root}/current`;
}

/**
 * The compose project compose derives for a git checkout at `root` (the compose file's folder name): pinned, so a
 * release's containers and volumes keep their project whichever release folder the link points to.
 */
export function composeProjectOf(root: string, composeFile: string): string {
  const parts = `${root}/${composeFile}`.split('/').filter((p) => p && p !== '.');
  const folder = parts.length > 1 ? parts[parts.length - 2] : 'default';
  return folder.toLowerCase().replace(/[^-_a-z0-9]/g, '') || 'default';
}

/** Where a phase runs from with project-source: runner: the `current` link, the compose file through it. */
export function releasedLayout(root: string, target: BackendTarget): { repo: string; target: BackendTarget } {
  return {
    repo: currentLink(root),
    target: {
      ...target,
      composeFile: `${currentLink(root)}/${target.composeFile}`,
      composeProject: composeProjectOf(root, target.composeFile),
    },
  };
}

/** What receiveRelease reports. */
export interface Received {
  received: boolean;
  /** The folder was there already (this commit was released today, or this is a re-run): kept as it was. */
  existed: boolean;
}

/**
 * Unpacks the gzip-compressed tar on standard input into a temporary folder beside the releases, renamed to
 * `releases/<tag>` only once whole: a cut stream never leaves a release folder. Nothing that runs changes.
 */
export function receiveRelease(root: string, tag: string): TypedProgram<Received> {
  const dir = `${releasesDir(root)}/${tag}`;
  return {
    title: 'Receiving the release files',
    timeout: 3600,
    script: sh`nr_tmp=${`${releasesDir(root)}/.incoming-${tag}`}-$$
mkdir -p ${releasesDir(root)} && rm -rf "$nr_tmp" "$nr_tmp.cut" && mkdir "$nr_tmp" || { nr_say fail ${`Cannot create a folder in ${releasesDir(root)}`}; exit 1; }
nr_bad=
( gunzip -c || : > "$nr_tmp.cut" ) | tar -xf - -C "$nr_tmp" || nr_bad=1
[ -e "$nr_tmp.cut" ] && nr_bad=1
if [ -n "$nr_bad" ]; then rm -rf "$nr_tmp" "$nr_tmp.cut"; nr_say fail 'The files from the runner arrived cut or corrupt: nothing was kept'; exit 1; fi
if [ -d ${dir} ]; then
  rm -rf "$nr_tmp"; nr_value existed yes
  nr_say ok ${`Release folder ${dir} is already there (same commit): kept as it is`}
else
  mv "$nr_tmp" ${dir} || { rm -rf "$nr_tmp"; nr_say fail ${`Cannot rename the received files to ${dir}`}; exit 1; }
fi
nr_value received yes`,
    decode: (values) => ({ received: values.get('received') === 'yes', existed: values.get('existed') === 'yes' }),
  };
}

/**
 * Shell defining `nr_switch_release <tag>`: points `current` at `releases/<tag>` with a new link renamed over the
 * old one (mv -T is one rename(2); without it, ln -sfn). Fails, changing nothing, when the folder is missing or
 * `current` is not a link.
 */
export function switchFunction(root: string): Shell {
  const cur = currentLink(root);
  return sh`nr_switch_release() {
  [ -d ${releasesDir(root)}/"$1" ] || { nr_say warn "There is no release folder $1 in "${releasesDir(root)}; return 1; }
  if [ -e ${cur} ] && [ ! -L ${cur} ]; then nr_say fail ${`${cur} is not a link: move it away (project-source: runner manages it)`}; return 1; fi
  nr_sw_tmp=${`${root}/.current-new`}-$$
  rm -f "$nr_sw_tmp" && ln -s "releases/$1" "$nr_sw_tmp" || return 1
  mv -T "$nr_sw_tmp" ${cur} 2>/dev/null || { rm -f "$nr_sw_tmp"; ln -sfn "releases/$1" ${cur}; } || return 1
  nr_say ok "Release folder releases/$1 is current"
}`;
}

/** Switches `current` to a release folder (a dry run says it would); `tag` is a dated tag. */
export function switchRelease(r: Renderer, tag: string): Shell {
  return r.dryRun
    ? sh`nr_say info ${`dry-run: would switch current to releases/${tag}`}`
    : sh`nr_switch_release ${tag}`;
}

/** The release folders that went with their images: never the one `current` points to. */
export function pruneReleases(r: Renderer, root: string, tags: readonly string[]): TypedProgram<string[]> {
  return {
    title: 'Removing old release folders',
    timeout: 600,
    quiet: true,
    script: sh`nr_cur=$(readlink ${currentLink(root)} 2>/dev/null); nr_cur=\${nr_cur##*/}; nr_gone=
for nr_t in ${tags}; do
  if [ "$nr_t" = "$nr_cur" ]; then nr_say warn "Release folder $nr_t is current: kept"
  elif [ -d ${releasesDir(root)}/"$nr_t" ]; then
    ${r.dryRun ? sh`nr_say info "dry-run: would remove release folder $nr_t"; nr_gone="$nr_gone $nr_t"` : sh`rm -rf ${releasesDir(root)}/"$nr_t" && nr_gone="$nr_gone $nr_t" && nr_say ok "Removed release folder $nr_t"`}
  fi
done
nr_value gone "$nr_gone"`,
    decode: (values) => (values.get('gone') ?? '').split(' ').filter(Boolean),
  };
}
