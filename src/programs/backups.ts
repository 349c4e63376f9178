import type { Renderer } from '../remote/command.js';
import { exitCodes, type Phase, type TypedProgram } from '../remote/program.js';
import { Shell, lines, sh } from '../remote/shell.js';
import { databaseKind, isDatabaseKindName } from '../database-kinds/table.js';
import {
  itemFile,
  restoreItemProblem,
  parseBackupListing,
  plannedItems,
  type BackupEntry,
  type DatabaseItem,
  type ManifestItem,
} from '../rules/backups.js';

/**
 * Backups and restores on the NAS: the shell that archives named
 * volumes through a short-lived container and dumps databases inside their
 * own containers, writes a backup folder under a temporary name with a
 * manifest and the sha256 of every file, verifies one, and restores one.
 * The data never passes through the runner; no password is ever on a command
 * line (the dump tools read them from the container's own environment).
 */
export const BackupExit = {
  /** An item could not be backed up: the partial folder is removed, nothing else changed. */
  BackupFailed: 50,
  /** The backup to restore is missing, or a file of it does not match its sha256. */
  BackupCorrupt: 51,
  /** The safety backup before a restore failed: nothing was restored. */
  SafetyBackupFailed: 52,
  /** A database or a volume could not be restored. */
  RestoreFailed: 53,
  /** The environment file could not be written: no container was changed. */
  EnvFileFailed: 54,
} as const;
export type BackupExit = (typeof BackupExit)[keyof typeof BackupExit];
export const BACKUP_EXIT = exitCodes(BackupExit);

/** What to back up, as the inputs declare it. */
export interface BackupPlan {
  /** The backup directory on the NAS (absolute). */
  dir: string;
  /** The checkout, and the compose file relative to it: the compose project of the volumes and services. */
  repo: string;
  composeFile: string;
  /** The backend's container: its compose project names the volumes. */
  container: string;
  volumes: readonly string[];
  databases: readonly DatabaseItem[];
  /** Image of the short-lived container that reads a volume. */
  image: string;
  /**
   * The compose project and the running container of each database service,
   * when the caller found them already (in the read of the NAS state, under
   * the same lock); else the backup looks them up itself.
   */
  found?: { project: string; containers: Readonly<Record<string, string>> };
}

/** Why a backup is taken and which release's data it holds. */
export interface BackupLabel {
  tag: string;
  commit: string;
  reason: string;
}

/** What a backup reports. */
export interface BackupValues {
  id: string;
  path: string;
  bytes: number;
}
export function decodeBackup(values: ReadonlyMap<string, string>, prefix = 'backup'): BackupValues {
  return {
    id: values.get(`${prefix}_id`) ?? '',
    path: values.get(`${prefix}_path`) ?? '',
    bytes: Number(values.get(`${prefix}_bytes`) ?? '0') || 0,
  };
}

/**
 * Library functions (constant shell; values arrive as arguments):
 *   nr_bk_project FILE CONTAINER   the compose project: the container's label, else the file's folder
 *   nr_bk_volume PROJECT NAME      the docker volume of a compose volume
 *   nr_bk_service PROJECT SERVICE  the running container of a compose service
 *   nr_bk_verify FOLDER            every file the manifest lists is there with its sha256
 *   nr_bk_present FOLDER           every file the manifest lists is there (no data read)
 *   nr_bk_sized FOLDER             every file the manifest lists is there with its size (no data read)
 *   nr_bk_sum FILE                 its sha256
 */
export const BACKUP_LIBRARY = new Shell(`nr_bk_project() {
  nr_p=$(nr_docker inspect --format '{{index .Config.Labels "com.docker.compose.project"}}' "$2" 2>/dev/null || true)
  if [ -z "$nr_p" ]; then
    nr_p=$(cd "$(dirname "$1")" 2>/dev/null && pwd); nr_p=$(basename "$nr_p" | tr 'A-Z' 'a-z' | tr -cd 'a-z0-9_-')
  fi
  printf '%s' "$nr_p"
}
nr_bk_volume() {
  nr_v=$(nr_docker volume ls -q --filter "label=com.docker.compose.project=$1" --filter "label=com.docker.compose.volume=$2" 2>/dev/null | head -n 1)
  if [ -z "$nr_v" ] && nr_docker volume inspect "$1_$2" >/dev/null 2>&1; then nr_v="$1_$2"; fi
  [ -n "$nr_v" ] && printf '%s' "$nr_v"
}
nr_bk_service() {
  # one docker call: the name comes with the listing (legacy links add "other/alias" names beside it)
  nr_s=$(nr_docker ps --filter "label=com.docker.compose.project=$1" --filter "label=com.docker.compose.service=$2" --format '{{.Names}}' 2>/dev/null |
    awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i !~ /\\//) { print $i; exit } }')
  [ -n "$nr_s" ] && printf '%s\\n' "$nr_s"
}
nr_bk_sum() { sha256sum "$1" | cut -d ' ' -f 1; }
nr_bk_verify() {
  [ -f "$1/manifest.json" ] && [ -f "$1/SHA256SUMS" ] || return 1
  # every item of the manifest has its line, and every line holds
  [ "$(grep -o '"sha256"' "$1/manifest.json" | wc -l)" -eq "$(grep -c . "$1/SHA256SUMS")" ] || return 1
  ( cd "$1" && sha256sum -c SHA256SUMS >/dev/null 2>&1 )
}
nr_bk_present() {
  [ -f "$1/manifest.json" ] && [ -f "$1/SHA256SUMS" ] || return 1
  [ "$(grep -o '"sha256"' "$1/manifest.json" | wc -l)" -eq "$(grep -c . "$1/SHA256SUMS")" ] || return 1
  while read -r nr_sum nr_file; do [ -f "$1/$nr_file" ] || return 1; done < "$1/SHA256SUMS"
}
nr_bk_sized() {
  nr_bk_present "$1" || return 1
  grep -o '"file":"[^"/]*","bytes":[0-9]*' "$1/manifest.json" | sed 's/^"file":"//; s/","bytes":/ /' | {
    nr_n=0
    while read -r nr_file nr_bytes; do [ "$(wc -c < "$1/$nr_file")" -eq "$nr_bytes" ] || exit 1; nr_n=$((nr_n + 1)); done
    [ "$nr_n" -eq "$(grep -c . "$1/SHA256SUMS")" ]
  }
}`);

/**
 * Defines `nr_backup`: takes a backup of the plan's items into
 * `<dir>/<UTC time>-<tag>`, written as `.partial-<id>` and renamed when whole;
 * on failure it removes the partial folder, says which item failed and why,
 * and returns 1. Reports `<prefix>_id`, `<prefix>_path`, `<prefix>_bytes`.
 */
export function backupFunction(p: BackupPlan, label: BackupLabel, prefix = 'backup'): Shell {
  const tag = label.tag || 'none';
  const items: Shell[] = [];
  for (const volume of p.volumes) {
    const file = itemFile({ kind: 'volume', volume });
    const head = JSON.stringify({ kind: 'volume', source: volume, file }).slice(0, -1);
    items.push(sh`nr_bk_item=${`volume ${volume}`}
nr_bk_v=$(nr_bk_volume "$nr_bk_proj" ${volume}) || { nr_bk_abort ${`no volume ${volume} in compose project`} "$nr_bk_proj"; return 1; }
if nr_bk_receive ${file}; then
  nr_docker run --rm --network none -v "$nr_bk_v:/nr-volume:ro" -v "$nr_bk_tmp/.fifo:/nr-archive" ${p.image} tar -C /nr-volume -czf /nr-archive . 2> "$nr_bk_tmp/.err"; echo "$?" > "$nr_bk_tmp/.rc"
  nr_bk_received; nr_bk_w=$?; nr_bk_why=
else
  nr_bk_why=$({ nr_docker run --rm --network none -v "$nr_bk_v:/nr-volume:ro" ${p.image} tar -C /nr-volume -czf - . 2> "$nr_bk_tmp/.err"; echo "$?" > "$nr_bk_tmp/.rc"; } | nr_bk_write ${file}); nr_bk_w=$?
fi
nr_bk_whole ${file} || return 1
[ "$(cat "$nr_bk_tmp/.rc")" = 0 ] || { nr_bk_abort "$(tail -n 3 "$nr_bk_tmp/.err" | tr '\\n' ' ')"; return 1; }
nr_bk_add ${file} ${head} || return 1`);
  }
  for (const db of p.databases) {
    const file = itemFile(db);
    const source = `${db.kind}:${db.service}${db.database ? `/${db.database}` : ''}`;
    const kind = databaseKind(db.kind);
    const head = JSON.stringify({
      kind: db.kind,
      source: db.service,
      ...(db.database ? { database: db.database } : {}),
      ...kind.recorded(db),
      file,
    }).slice(0, -1);
    const found = p.found?.containers[db.service];
    items.push(sh`nr_bk_item=${source}
nr_bk_c=${found ? sh`${found}` : sh`$(nr_bk_service "$nr_bk_proj" ${db.service})`} || { nr_bk_abort ${`service ${db.service} has no running container in compose project`} "$nr_bk_proj"; return 1; }
nr_db_dump ${kind.dump(db)} ${db.database} ${file} ${kind.misfit(db)} || return 1
nr_bk_add ${file} ${head} || return 1`);
  }
  const manifestHead = JSON.stringify({ tag: label.tag, commit: label.commit, reason: label.reason }).slice(1, -1);
  return sh`nr_backup() {
  nr_bk_dir=${p.dir}
  ( umask 077; mkdir -p "$nr_bk_dir" ) && chmod 700 "$nr_bk_dir" || { nr_say fail "Cannot create the backup directory $nr_bk_dir"; return 1; }
  nr_bk_time=$(date -u +%Y%m%dT%H%M%SZ); nr_bk_id="$nr_bk_time-"${tag}
  while [ -e "$nr_bk_dir/$nr_bk_id" ]; do nr_sleep 1; nr_bk_time=$(date -u +%Y%m%dT%H%M%SZ); nr_bk_id="$nr_bk_time-"${tag}; done
  nr_bk_tmp="$nr_bk_dir/.partial-$nr_bk_id"
  rm -rf "$nr_bk_tmp"; ( umask 077; mkdir "$nr_bk_tmp" ) || { nr_say fail "Cannot create $nr_bk_tmp"; return 1; }
  nr_bk_abort() { nr_say fail "Backup of $nr_bk_item failed: $*"; rm -rf "$nr_bk_tmp"; }
  nr_bk_items=''; nr_bk_total=0
  # standard input to FILE, its sha256 and its length computed on the way (beside the write, not after it). It fails,
  # printing why, when a write fails or the file holds other bytes than were hashed (a full disk, a quota, a size limit):
  # a file cut short is never summed as whole
  nr_bk_write() {
    rm -f "$nr_bk_tmp/.hash" "$nr_bk_tmp/.count" "$nr_bk_tmp/.sum" "$nr_bk_tmp/.hashed"
    if mkfifo -m 600 "$nr_bk_tmp/.hash" "$nr_bk_tmp/.count" 2>/dev/null; then
      nr_bk_sum "$nr_bk_tmp/.hash" > "$nr_bk_tmp/.sum" &
      nr_bk_hasher=$!
      wc -c < "$nr_bk_tmp/.count" > "$nr_bk_tmp/.hashed" &
      nr_bk_counter=$!
      nr_bk_e=$(tee "$nr_bk_tmp/.hash" "$nr_bk_tmp/.count" 2>&1 > "$nr_bk_tmp/$1"); nr_bk_rc=$?
      wait "$nr_bk_hasher" || nr_bk_rc=1; wait "$nr_bk_counter" || nr_bk_rc=1
      rm -f "$nr_bk_tmp/.hash" "$nr_bk_tmp/.count"
    else
      # no fifo: summed from the disk after the write, whose own status alone says the file is whole
      nr_bk_e=$(cat 2>&1 > "$nr_bk_tmp/$1"); nr_bk_rc=$?
      [ "$nr_bk_rc" != 0 ] || { nr_bk_sum "$nr_bk_tmp/$1" > "$nr_bk_tmp/.sum" && wc -c < "$nr_bk_tmp/$1" > "$nr_bk_tmp/.hashed"; } || nr_bk_rc=1
    fi
    if [ "$nr_bk_rc" != 0 ]; then
      printf '%s' "writing $1 failed"; [ -z "$nr_bk_e" ] || printf ': %s' "$(printf '%s' "$nr_bk_e" | tail -n 1)"
      return 1
    fi
    nr_bk_s=$(cat "$nr_bk_tmp/.sum" 2>/dev/null); nr_bk_n=$(cat "$nr_bk_tmp/.hashed" 2>/dev/null); nr_bk_d=$(wc -c < "$nr_bk_tmp/$1")
    case \${#nr_bk_s}:$nr_bk_s in 64:*[!0-9a-f]* | 64:) ;; 64:*) [ -n "$nr_bk_n" ] && [ $((nr_bk_n)) -eq $((nr_bk_d)) ] && return 0 ;; esac
    printf '%s' "$1 holds $((nr_bk_d)) bytes of the $((nr_bk_n)) read, or its sha256 could not be kept"
    return 1
  }
  # a fifo in the partial folder whose bytes become FILE through nr_bk_write: a volume's container writes its archive
  # into it (mounted), not through docker's output stream, which costs the engine more CPU than gzip costs tar
  nr_bk_receive() {
    rm -f "$nr_bk_tmp/.fifo" "$nr_bk_tmp/.why"
    # docker run -v cannot mount a path with a colon: such a folder takes the stream
    case $nr_bk_tmp in *:*) return 1 ;; esac
    mkfifo -m 600 "$nr_bk_tmp/.fifo" 2>/dev/null || return 1
    nr_bk_write "$1" < "$nr_bk_tmp/.fifo" > "$nr_bk_tmp/.why" &
    nr_bk_receiver=$!
  }
  # the status of the receiver's write
  nr_bk_received() {
    # a container that failed before it opened the fifo leaves the reader waiting to open it: a writer that
    # comes and goes ends that wait (and adds nothing to what a finished container wrote)
    while kill -0 "$nr_bk_receiver" 2>/dev/null; do : 3<> "$nr_bk_tmp/.fifo"; nr_sleep 0.01; done
    wait "$nr_bk_receiver"; nr_bk_rc=$?; rm -f "$nr_bk_tmp/.fifo"
    return "$nr_bk_rc"
  }
  # after a write ($nr_bk_w its status, $nr_bk_why or .why the reason): the backup ends when FILE is not whole
  nr_bk_whole() {
    [ "$nr_bk_w" = 0 ] && return 0
    [ -n "$nr_bk_why" ] || nr_bk_why=$(cat "$nr_bk_tmp/.why" 2>/dev/null)
    nr_bk_abort "\${nr_bk_why:-writing $1 failed} (is the disk full, a quota reached or a file size limit hit?)"
    return 1
  }
  nr_bk_add() {
    nr_bk_s=$(cat "$nr_bk_tmp/.sum"); nr_bk_b=$(cat "$nr_bk_tmp/.hashed"); nr_bk_b=$((nr_bk_b))
    rm -f "$nr_bk_tmp/.sum" "$nr_bk_tmp/.hashed" "$nr_bk_tmp/.why"
    chmod 600 "$nr_bk_tmp/$1"
    printf '%s  %s\\n' "$nr_bk_s" "$1" >> "$nr_bk_tmp/SHA256SUMS" || { nr_bk_abort 'cannot write SHA256SUMS'; return 1; }
    nr_bk_items="$nr_bk_items\${nr_bk_items:+,}$2,\\"bytes\\":$nr_bk_b,\\"sha256\\":\\"$nr_bk_s\\"}"
    nr_bk_total=$((nr_bk_total + nr_bk_b))
    nr_say ok "Backed up $nr_bk_item ($nr_bk_b bytes)"
  }
  ( umask 077; : > "$nr_bk_tmp/SHA256SUMS" ) || { nr_bk_item=SHA256SUMS; nr_bk_abort 'cannot write SHA256SUMS'; return 1; }
  nr_bk_proj=${p.found?.project ? sh`${p.found.project}` : sh`$(nr_bk_project ${`${p.repo}/${p.composeFile}`} ${p.container})`}
${lines(...items)}
  rm -f "$nr_bk_tmp/.err" "$nr_bk_tmp/.rc" "$nr_bk_tmp/.why"
  ( umask 077; printf '{"id":"%s",%s,"time":"%s","items":[%s]}\\n' "$nr_bk_id" ${manifestHead} "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$nr_bk_items" > "$nr_bk_tmp/manifest.json" ) || { nr_bk_item=manifest; nr_bk_abort 'cannot write manifest.json'; return 1; }
  # the folder's files on disk before the rename: only them, not every dirty page of the NAS as a bare sync
  ( cd "$nr_bk_tmp" && sync -- . * ) 2>/dev/null || sync 2>/dev/null || true
  mv "$nr_bk_tmp" "$nr_bk_dir/$nr_bk_id" || { nr_bk_item=folder; nr_bk_abort "cannot rename to $nr_bk_id"; return 1; }
  nr_value ${`${prefix}_id`} "$nr_bk_id"; nr_value ${`${prefix}_path`} "$nr_bk_dir/$nr_bk_id"; nr_value ${`${prefix}_bytes`} "$nr_bk_total"
  nr_say ok "Backup $nr_bk_id written ($nr_bk_total bytes)"
}`;
}

/**
 * A backup taken by itself (backup-backend), then the listing of the
 * directory in the same round trip; the backup just written is not hashed a
 * second time (its sums were computed while it was written, from the bytes
 * that reached the disk), but its files and their sizes are checked.
 */
export function takeBackup(
  r: Renderer,
  p: BackupPlan,
  label: BackupLabel,
): Phase<BackupValues & { entries: BackupEntry[] }> {
  return {
    title: 'Taking a backup',
    timeout: 6 * 3600,
    // detached like every change: a runner that vanishes cannot leave a partial folder behind
    begin: { tag: label.tag, detail: 'backup' },
    success: { tag: label.tag, detail: 'backup' },
    script: lines(
      BACKUP_LIBRARY,
      backupFunction(p, label),
      r.dryRun
        ? sh`nr_say info 'dry-run: no backup taken'`
        : sh`nr_backup || ${BACKUP_EXIT.exit(BackupExit.BackupFailed)}`,
      // the listing in the same phase (read-only), where the id of the backup just written is known
      listingValue(p.dir, { justWritten: new Shell('"$nr_bk_id"') }),
    ),
    decode: (values) => ({ ...decodeBackup(values), entries: decodeListing(values) }),
  };
}

/** Lists the backups of a directory, each verified: `<id> <ok|bad> <bytes> <manifest base64>` lines, base64 in one value. */
export function listBackups(dir: string, o: { quick?: boolean } = {}): TypedProgram<BackupEntry[]> {
  return {
    title: 'Listing backups',
    timeout: 3600,
    quiet: true,
    script: lines(BACKUP_LIBRARY, listingValue(dir, o)),
    decode: decodeListing,
  };
}

/**
 * The listing value. `quick`: a backup "verifies" when every file it lists is
 * there (no data read: for choosing one, whose sha256 the restore checks
 * first); else each file's sha256 is checked, except the backup just written,
 * whose files must be there with the sizes its manifest gives.
 */
export function listingValue(dir: string, o: { quick?: boolean; justWritten?: Shell } = {}): Shell {
  const check = new Shell(o.quick ? 'nr_bk_present' : 'nr_bk_verify');
  return sh`nr_value backups_b64 "$(
  for nr_d in ${dir}/[0-9]*T*Z-*; do
    [ -d "$nr_d" ] || continue
    nr_ok=bad
    nr_chk=${check}; [ "\${nr_d##*/}" != ${o.justWritten ?? new Shell("''")} ] || nr_chk=nr_bk_sized
    if "$nr_chk" "$nr_d"; then nr_ok=ok; fi
    nr_b=$(ls -ln "$nr_d" 2>/dev/null | awk '{ s += $5 } END { print s + 0 }')
    printf '%s %s %s %s\\n' "\${nr_d##*/}" "$nr_ok" "$((nr_b))" "$(base64 < "$nr_d/manifest.json" 2>/dev/null | tr -d '\\n')"
  done | base64 | tr -d '\\n')"`;
}
export function decodeListing(values: ReadonlyMap<string, string>): BackupEntry[] {
  return parseBackupListing(Buffer.from(values.get('backups_b64') ?? '', 'base64').toString('utf8'));
}

/** Removes backup folders (ids checked by the caller against BACKUP_ID). */
export function removeBackups(r: Renderer, dir: string, ids: readonly string[]): TypedProgram<void> {
  return {
    title: 'Removing old backups',
    timeout: 600,
    script: r.dryRun
      ? sh`nr_say info ${`dry-run: would remove ${ids.length} backup(s)`}`
      : lines(...ids.map((id) => sh`rm -rf ${`${dir}/${id}`} && nr_say ok ${`Removed backup ${id}`}`), sh`:`),
    decode: () => undefined,
  };
}

/** What a restore reads from the backup's manifest. */
export interface RestorePlan {
  dir: string;
  /** The backup's id, or shell that expands to it (the backup a phase just took). */
  id: string | Shell;
  repo: string;
  composeFile: string;
  /** The backend container: stopped first, recreated after. */
  container: string;
  items: readonly ManifestItem[];
  image: string;
  /**
   * The application's containers that use the data, stopped first and started again by nr_rs_start_backend
   * (never a database service): each found by its name, or by its compose service (in `project`, default the
   * project of the data). Default: the backend container alone.
   */
  apps?: readonly AppContainer[];
  /** The compose project of the volumes and database services, when the caller knows it (a blue-green release's shared one). */
  project?: string;
}

/** One application container a restore stops: by name, or by compose service and project. */
export interface AppContainer {
  service: string;
  container: string;
  project?: string;
}

/**
 * Defines shell function NAME: restores ITEMS from the backup folder given as
 * its argument, returning 1 at the first item that fails (named in the log).
 */
function restoreItemsFunction(image: string, items: readonly ManifestItem[], name: string): Shell {
  // the items come from a manifest.json: held to the rules of the inputs, whatever the caller checked
  for (const item of items) {
    const problem = restoreItemProblem(item);
    if (problem) throw new Error(`The backup's manifest.json cannot be restored: ${problem}`);
  }
  const restores = items.map((i) => {
    const file = sh`"$1/"${i.file}`;
    if (i.kind === 'volume')
      return sh`nr_bk_v=$(nr_bk_volume "$nr_bk_proj" ${i.source}) || nr_bk_v="$nr_bk_proj"_${i.source}
nr_docker run --rm -i --network none -v "$nr_bk_v:/nr-volume" ${image} sh -c 'cd /nr-volume && rm -rf ./* ./.[!.]* ./..?* && tar -xzf -' < ${file} || { nr_say fail ${`Restoring volume ${i.source} failed`}; return 1; }
nr_say ok ${`Volume ${i.source} restored`}`;
    const kind = databaseKind(i.kind);
    const what = `${i.kind}:${i.source}${i.database ? `/${i.database}` : ''}`;
    return sh`nr_bk_c=$(nr_bk_service "$nr_bk_proj" ${i.source}) || { nr_say fail ${`Service ${i.source} has no running container: ${what} cannot be restored`}; return 1; }
${kind.restore(kind.fromManifest(i), file, what)}
[ "$nr_rc" = 0 ] || { nr_say fail ${`Restoring ${what} failed`}; return 1; }
nr_say ok ${`Database ${what} restored`}`;
  });
  return sh`${new Shell(name)}() {
${lines(...restores, sh`:`)}
}`;
}

/**
 * What a restore did to the data, reported as value `data` (the last one
 * said wins: an undo after the recreate overrides `restored`).
 */
export const DataOutcome = {
  /** The backup's data is in place. */
  Restored: 'restored',
  /** The backup is missing or does not verify: the data was not touched. */
  BackupCorrupt: 'backup-corrupt',
  /** The safety backup failed: the data was not touched. */
  SafetyBackupFailed: 'safety-backup-failed',
  /** An item failed, or the release after the restore did: the data of before is back from the safety backup. */
  Undone: 'undone',
  /** An item failed, or the release after the restore did, and the data of before could not be put back: it is in the safety backup. */
  NotUndone: 'not-undone',
} as const;
export type DataOutcome = (typeof DataOutcome)[keyof typeof DataOutcome];
const DATA_OUTCOMES: ReadonlySet<string> = new Set(Object.values(DataOutcome));
export function decodeDataOutcome(values: ReadonlyMap<string, string>): { data?: DataOutcome } {
  const data = values.get('data') ?? '';
  return DATA_OUTCOMES.has(data) ? { data: data as DataOutcome } : {};
}

/**
 * Defines the restore's shell functions (nothing runs yet):
 *   nr_restore     verify; stop the containers that use the data (never the
 *                  database services), so the failed release's sessions end
 *                  and the safety backup is a quiesced snapshot; take it;
 *                  restore each database and volume; start the others again.
 *                  Returns 0, or the BackupExit code of how it failed; when an
 *                  item fails it puts the data of before back first. It never
 *                  starts the backend again: the caller recreates it, or
 *                  starts it (nr_rs_start_backend).
 *   nr_rs_undo     puts the data of before back from the safety backup, the
 *                  containers that use it stopped (a recreate that failed after
 *                  the restore); returns 1 when it could not.
 * Reports `data` (DataOutcome), `restore_undone` (yes, no) and the `safety_…` values.
 */
export function restoreData(r: Renderer, p: RestorePlan, safety: BackupLabel): Shell {
  const folder = typeof p.id === 'string' ? sh`${`${p.dir}/${p.id}`}` : sh`${p.dir}/${p.id}`;
  const name = typeof p.id === 'string' ? p.id : 'taken before the release';
  const volumes = p.items.filter((i) => i.kind === 'volume').map((i) => i.source);
  const databases: DatabaseItem[] = p.items.flatMap((i) =>
    isDatabaseKindName(i.kind) ? [databaseKind(i.kind).fromManifest(i)] : [],
  );
  // The same items as the safety backup names them, to put the data of before back when a restore fails part way.
  const safetyItems = plannedItems(volumes, databases);
  const data = (o: DataOutcome): Shell => sh`nr_value data ${o}`;
  const fail = (code: BackupExit): Shell => sh`return ${BACKUP_EXIT.code(code)}`;
  return sh`${BACKUP_LIBRARY}
nr_rs_dir=${folder}
nr_rs_safety=; nr_rs_stopped=; nr_rs_backend=; nr_rs_done=
${restoreItemsFunction(p.image, p.items, 'nr_rs_items')}
${restoreItemsFunction(p.image, safetyItems, 'nr_rs_undo_items')}
${backupFunction({ dir: p.dir, repo: p.repo, composeFile: p.composeFile, container: p.container, volumes, databases, image: p.image, ...(p.project ? { found: { project: p.project, containers: {} } } : {}) }, safety, 'safety')}
${appsFunction(p)}
# the containers that use the data stop (their sessions and locks end with them); the database services keep running
nr_rs_stop() {
  nr_bk_proj=${p.project ? sh`${p.project}` : sh`$(nr_bk_project ${`${p.repo}/${p.composeFile}`} ${p.container})`}
  nr_rs_apps_now=$(nr_rs_apps | tr '\\n' ' ')
  for nr_c in $nr_rs_apps_now; do
    nr_docker stop "$nr_c" >/dev/null 2>&1 || continue
    case " $nr_rs_backend " in *" $nr_c "*) ;; *) nr_rs_backend="$nr_rs_backend $nr_c" ;; esac
    nr_say ok "Stopped $nr_c"
  done
${lines(
  sh`  :`,
  ...volumes.map(
    (
      v,
    ) => sh`  nr_bk_v=$(nr_bk_volume "$nr_bk_proj" ${v}) && for nr_c in $(nr_docker ps -q --filter "volume=$nr_bk_v"); do
    nr_n=$(nr_docker inspect --format '{{.Name}}' "$nr_c" | sed 's|^/||')
    case " $nr_rs_apps_now " in *" $nr_n "*) continue ;; esac
    nr_docker stop "$nr_n" >/dev/null && nr_rs_stopped="$nr_rs_stopped $nr_n" && nr_say ok "Stopped $nr_n (uses volume "${v}")"
  done`,
  ),
)}
}
nr_rs_start_others() {
  for nr_n in $nr_rs_stopped; do nr_docker start "$nr_n" >/dev/null && nr_say ok "Started $nr_n again"; done
  nr_rs_stopped=
}
nr_rs_start_backend() {
  for nr_c in $nr_rs_backend; do nr_docker start "$nr_c" >/dev/null && nr_say ok "Started $nr_c again"; done
  nr_rs_backend=
}
nr_rs_undo() {
  nr_say warn "Putting the data of before the restore back from safety backup \${nr_rs_safety##*/}"
  if nr_rs_undo_items "$nr_rs_safety"; then
    nr_value restore_undone yes; ${data(DataOutcome.Undone)}; nr_say ok 'The data of before the restore is back'
    nr_rs_done=
  else
    nr_value restore_undone no; ${data(DataOutcome.NotUndone)}; nr_say fail "The data of before the restore could not be put back: it is in backup \${nr_rs_safety##*/}"
    return 1
  fi
}
nr_restore() {
  if ! nr_bk_verify "$nr_rs_dir"; then
    nr_say fail ${`Backup ${name} is missing or corrupt (a file is missing or does not match its sha256): nothing was changed`}
    ${data(DataOutcome.BackupCorrupt)}; ${fail(BackupExit.BackupCorrupt)}
  fi
  nr_say ok ${`Backup ${name} verifies (sha256 of every file)`}
${
  r.dryRun
    ? sh`  nr_say info 'dry-run: no safety backup, nothing restored'`
    : sh`  nr_value restore_began yes
  nr_rs_stop
  if ! nr_backup; then
    nr_say fail 'The safety backup failed: nothing was restored'
    nr_rs_start_others; ${data(DataOutcome.SafetyBackupFailed)}; ${fail(BackupExit.SafetyBackupFailed)}
  fi
  nr_rs_safety="$nr_bk_dir/$nr_bk_id"
  if ! nr_rs_items "$nr_rs_dir"; then
    # ends whole or not at all: the data of before comes back from the safety backup
    nr_rs_undo
    nr_rs_start_others; ${fail(BackupExit.RestoreFailed)}
  fi
  nr_rs_done=yes; ${data(DataOutcome.Restored)}
  nr_rs_start_others`
}
}`;
}

/** Defines `nr_rs_apps`: the application containers of the plan that run now, a name a line (after nr_bk_proj is set). */
function appsFunction(p: RestorePlan): Shell {
  const apps = p.apps ?? [{ service: '', container: p.container }];
  return sh`nr_rs_apps() {
${lines(
  ...apps.map((a) =>
    a.container
      ? sh`  printf '%s\\n' ${a.container}`
      : sh`  nr_bk_service ${a.project ? sh`${a.project}` : sh`"$nr_bk_proj"`} ${a.service}`,
  ),
)}
  :
}`;
}

/**
 * A restore that, when it fails, ends the phase with its code: the backend
 * (the release that ran before) started again first.
 */
export function restoreOrExit(): Shell {
  return sh`nr_restore || { nr_rs_rc=$?; nr_rs_start_backend; exit "$nr_rs_rc"; }`;
}

/**
 * Undoes a restore that happened (nothing otherwise), for a recreate after it
 * that failed: stops the containers that use the data, puts the data of
 * before back; sets nr_fb_incomplete when it could not.
 */
export function undoRestore(): Shell {
  return sh`if [ "$nr_rs_done" = yes ]; then
  nr_rs_stop
  nr_rs_undo || nr_fb_incomplete=1
  nr_rs_start_others
fi`;
}
