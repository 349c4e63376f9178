import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readBackupBackend, readDeployBackend, readRollbackBackend } from '../../src/inputs/backend.js';
import { InputError, InputReader } from '../../src/inputs/reader.js';
import {
  BACKUP_LIBRARY,
  BackupExit,
  backupFunction,
  decodeListing,
  listingValue,
  restoreData,
  restoreOrExit,
} from '../../src/programs/backups.js';
import { librariesFor } from '../../src/nas-shell/link.js';
import { envSha256, writeEnvFile } from '../../src/programs/env-file.js';
import { Renderer, bareTools } from '../../src/remote/command.js';
import { exitCodeDefinitions, PRELUDE } from '../../src/remote/program.js';
import { Shell, lines, sh } from '../../src/remote/shell.js';
import {
  autoBackup,
  backupsOutput,
  parseBackupListing,
  parseDatabaseLine,
  parseVolumeLines,
  planBackupRetention,
  type BackupEntry,
  type Manifest,
} from '../../src/rules/backups.js';
import { CONNECTION_INPUTS } from '../support/settings.js';

/** A script with the NAS shell libraries it calls (src/nas-shell/*.sh) defined first, as a program sent to the NAS links them. */
const withLibraries = (text: string): string => [...librariesFor(text), text].join('\n');

const reader = (action: string, raw: Record<string, string>): InputReader =>
  new InputReader(action, (name) => ({ ...CONNECTION_INPUTS, ...raw })[name]);

function inputError(fn: () => unknown): InputError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(InputError);
    return err as InputError;
  }
  throw new Error('expected an InputError, nothing was thrown');
}

const T1 = '2026.01.01-1111111';
const T2 = '2026.01.10-2222222';
const T3 = '2026.01.20-3333333';
const entry = (id: string, reason = 'before x', verifies = true): BackupEntry => ({
  id,
  verifies,
  bytes: 10,
  manifest: { id, tag: id.slice(17), commit: '', reason, time: '', items: [] },
});

describe('backup-databases and backup-volumes', () => {
  it('reads postgres, mysql and custom lines', () => {
    expect(parseDatabaseLine('postgres:db')).toEqual({ kind: 'postgres', service: 'db', database: '' });
    expect(parseDatabaseLine(' mysql:legacy/shop ')).toEqual({ kind: 'mysql', service: 'legacy', database: 'shop' });
    expect(parseDatabaseLine('custom:search/index dump="tar -C /data -c ." restore="tar -C /data -x"')).toEqual({
      kind: 'custom',
      service: 'search',
      database: 'index',
      dump: 'tar -C /data -c .',
      restore: 'tar -C /data -x',
    });
  });

  it('refuses an unknown kind, a bad service name, a custom line without its commands, naming the input', () => {
    const bad = ['redis:cache', 'postgres:db;rm -rf /', 'postgres:', 'custom:search/index dump="x"', 'postgres:db/a b'];
    for (const line of bad) {
      const err = inputError(() => readDeployBackend(reader('deploy-backend', { 'backup-databases': line })));
      expect(err.message).toContain('backup-databases');
    }
    const err = inputError(() => readDeployBackend(reader('deploy-backend', { 'backup-volumes': 'uploads\n../etc' })));
    expect(err.message).toContain('backup-volumes');
    expect(err.message).toContain('../etc');
  });

  it('volumes: one a line, blank lines and repeats dropped', () => {
    expect(parseVolumeLines(['uploads', '', 'vectors', 'uploads'])).toEqual(['uploads', 'vectors']);
  });

  it('backs up only when something is configured; the directory defaults beside the checkout', () => {
    const off = readDeployBackend(reader('deploy-backend', {}));
    expect(off.backups.enabled).toBe(false);
    expect(off.backups.dir).toBe('/volume1/docker/shop/backups');
    const on = readBackupBackend(
      reader('backup-backend', { 'backup-volumes': 'uploads', 'backup-dir': '/volume2/b/' }),
    );
    expect(on.backups).toMatchObject({ enabled: true, volumes: ['uploads'], dir: '/volume2/b', keep: 10 });
    const disabled = readDeployBackend(reader('deploy-backend', { 'backup-volumes': 'uploads', backup: 'false' }));
    expect(disabled.backups.enabled).toBe(false);
  });

  it('restore-backup: empty, auto, or an id; anything else is refused naming the input', () => {
    expect(readRollbackBackend(reader('rollback-backend', { 'restore-backup': 'auto' })).restoreBackup).toBe('auto');
    const id = `20260120T101500Z-${T2}`;
    expect(readRollbackBackend(reader('rollback-backend', { 'restore-backup': id })).restoreBackup).toBe(id);
    const err = inputError(() => readRollbackBackend(reader('rollback-backend', { 'restore-backup': '../../etc' })));
    expect(err.message).toContain('restore-backup');
  });
});

describe('choosing backups', () => {
  const entries = [
    entry(`20260110T100000Z-${T1}`),
    entry(`20260120T100000Z-${T2}`),
    entry(`20260121T100000Z-${T3}`, 'safety before restore x'),
    entry(`20260122T100000Z-${T3}`),
    entry(`20260123T100000Z-${T3}`, 'manual'),
  ];

  it('auto: the newest backup of the target release that is not a safety backup', () => {
    expect(autoBackup(entries, T3)?.id).toBe(`20260123T100000Z-${T3}`);
    expect(autoBackup(entries.slice(0, 3), T3)).toBeUndefined();
    expect(autoBackup(entries, T2)?.id).toBe(`20260120T100000Z-${T2}`);
  });

  it('retention keeps the newest N and never the running release’s nor the previous one’s', () => {
    const plan = planBackupRetention(entries, 1, { running: T3, previous: T1 });
    expect(plan.keep).toEqual([`20260123T100000Z-${T3}`, `20260110T100000Z-${T1}`]);
    expect(plan.remove).toEqual([`20260122T100000Z-${T3}`, `20260121T100000Z-${T3}`, `20260120T100000Z-${T2}`]);
  });

  it('the BACKUPS output: newest first with release, size and verification', () => {
    const out = JSON.parse(backupsOutput(entries)) as Array<{ id: string; release: string; verifies: boolean }>;
    expect(out.map((e) => e.id)[0]).toBe(`20260123T100000Z-${T3}`);
    expect(out[0]).toMatchObject({ release: T3, verifies: true });
  });

  it('a listing line whose manifest names another id does not verify', () => {
    const manifest: Manifest = { id: 'other', tag: '', commit: '', reason: '', time: '', items: [] };
    const b64 = Buffer.from(JSON.stringify(manifest)).toString('base64');
    const [e] = parseBackupListing(`20260110T100000Z-none ok 5 ${b64}\n`);
    expect(e.verifies).toBe(false);
  });
});

describe('NAS-side backup shell, run with a real sh', () => {
  const work = mkdtempSync(join(tmpdir(), 'backups-test-'));
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  /** Runs shell with the prelude and a marker, and returns the values it reported. */
  function run(script: string): Map<string, string> {
    const text = lines(sh`NR_M=MARK`, PRELUDE, new Shell(script)).text;
    const out = execFileSync('sh', ['-c', withLibraries(text)], { encoding: 'utf8' });
    const values = new Map<string, string>();
    for (const line of out.split('\n')) {
      const m = /^MARK value (\S+) ?(.*)$/.exec(line);
      if (m) values.set(m[1], m[2]);
    }
    return values;
  }

  function makeBackup(id: string, files: Record<string, string>): string {
    const dir = join(work, id);
    mkdirSync(dir, { recursive: true });
    const sums: string[] = [];
    const items: string[] = [];
    for (const [name, content] of Object.entries(files)) {
      writeFileSync(join(dir, name), content);
      const sum = envSha256(content);
      sums.push(`${sum}  ${name}`);
      items.push(JSON.stringify({ kind: 'volume', source: name, file: name, bytes: content.length, sha256: sum }));
    }
    writeFileSync(join(dir, 'SHA256SUMS'), sums.join('\n') + '\n');
    writeFileSync(
      join(dir, 'manifest.json'),
      `{"id":"${id}","tag":"","commit":"","reason":"manual","time":"","items":[${items.join(',')}]}\n`,
    );
    return dir;
  }

  it('lists each backup with its verdict: whole, corrupt, a file missing', () => {
    makeBackup('20260101T000000Z-whole', { 'a.tar.gz': 'aaa', 'b.dump': 'bbb' });
    const corrupt = makeBackup('20260102T000000Z-corrupt', { 'a.tar.gz': 'aaa' });
    writeFileSync(join(corrupt, 'a.tar.gz'), 'aab');
    const missing = makeBackup('20260103T000000Z-missing', { 'a.tar.gz': 'aaa', 'b.dump': 'bbb' });
    rmSync(join(missing, 'b.dump'));
    mkdirSync(join(work, '.partial-20260104T000000Z-x'));
    const values = run(lines(BACKUP_LIBRARY, listingValue(work)).text);
    const listed = decodeListing(values);
    expect(listed.map((e) => [e.id, e.verifies])).toEqual([
      ['20260103T000000Z-missing', false],
      ['20260102T000000Z-corrupt', false],
      ['20260101T000000Z-whole', true],
    ]);
    // quick: files present, no data read (the restore checks the sha256 first)
    const quick = decodeListing(run(lines(BACKUP_LIBRARY, listingValue(work, { quick: true })).text));
    expect(quick.map((e) => [e.id, e.verifies])).toEqual([
      ['20260103T000000Z-missing', false],
      ['20260102T000000Z-corrupt', true],
      ['20260101T000000Z-whole', true],
    ]);
  });

  /** A docker that answers as the NAS's would for a compose project `store` (a function, as the runner's nr_docker is). */
  const FAKE_DOCKER = `nr_docker() {
  case "$1 $2" in
    "inspect --format") if [ "$4" = c0ffee ]; then echo /nrb-db; else return 1; fi ;;
    "volume ls") echo store_uploads ;;
    "run --rm")
      # as docker does: the archive goes to a mounted /nr-archive when there is one, else to standard output
      nr_fake_out=; for nr_a in "$@"; do case $nr_a in *:/nr-archive) nr_fake_out=\${nr_a%:/nr-archive} ;; esac; done
      [ "$NR_FAKE_RUN" = fail ] && { echo 'docker: Error response from daemon: no such image' >&2; return 125; }
      if [ -n "$nr_fake_out" ]; then nr_fake_bytes volume-bytes > "$nr_fake_out"; else nr_fake_bytes volume-bytes; fi ;;
    "ps --filter") [ "$5" = label=com.docker.compose.service=db ] && echo nrb-db ;;
    "exec -i") cat > /dev/null ;;
    "stop nrb-api") : ;;
    "exec nrb-db") if [ "$NR_FAKE_DUMP" = fail ]; then echo 'pg_dump: connection refused' >&2; return 1; fi; nr_fake_bytes dump-bytes ;;
    *) return 1 ;;
  esac
}
# NR_FAKE_BIG: that many bytes instead of the text
nr_fake_bytes() { if [ -n "$NR_FAKE_BIG" ]; then head -c "$NR_FAKE_BIG" /dev/zero; else printf '%s' "$1"; fi; }`;
  const plan = (dir: string) => ({
    dir,
    repo: join(work, 'repo'),
    composeFile: 'store/docker-compose.yml',
    container: 'nrb-api',
    volumes: ['uploads'],
    databases: [{ kind: 'postgres' as const, service: 'db', database: '' }],
    image: 'busybox:latest',
  });

  it('takes a backup: a private folder renamed when whole, a manifest with the sha256 of every item', () => {
    const dir = join(work, 'taken');
    const values = run(
      lines(
        new Shell(FAKE_DOCKER),
        BACKUP_LIBRARY,
        backupFunction(plan(dir), { tag: T2, commit: 'abc', reason: 'manual' }),
        sh`nr_backup`,
      ).text,
    );
    const id = values.get('backup_id') ?? '';
    expect(id).toMatch(new RegExp(`^\\d{8}T\\d{6}Z-${T2}$`));
    expect(values.get('backup_bytes')).toBe(String('volume-bytes'.length + 'dump-bytes'.length));
    const folder = join(dir, id);
    const stat = (f: string): string => execFileSync('stat', ['-c', '%a', f], { encoding: 'utf8' }).trim();
    expect(stat(folder)).toBe('700');
    expect(stat(join(folder, 'volume-uploads.tar.gz'))).toBe('600');
    const manifest = JSON.parse(execFileSync('cat', [join(folder, 'manifest.json')], { encoding: 'utf8' })) as Manifest;
    expect(manifest).toMatchObject({ id, tag: T2, commit: 'abc', reason: 'manual' });
    expect(manifest.items).toEqual([
      {
        kind: 'volume',
        source: 'uploads',
        file: 'volume-uploads.tar.gz',
        bytes: 12,
        sha256: envSha256('volume-bytes'),
      },
      { kind: 'postgres', source: 'db', file: 'postgres-db.dump', bytes: 10, sha256: envSha256('dump-bytes') },
    ]);
    expect(decodeListing(run(lines(BACKUP_LIBRARY, listingValue(dir)).text))[0]).toMatchObject({ id, verifies: true });
  });

  it('a failed item: the partial folder is removed, the item and the reason are named', () => {
    const dir = join(work, 'failed');
    const script = lines(
      sh`NR_FAKE_DUMP=fail`,
      new Shell(FAKE_DOCKER),
      BACKUP_LIBRARY,
      backupFunction(plan(dir), { tag: T2, commit: '', reason: 'manual' }),
      sh`nr_backup || echo RETURNED-1`,
    ).text;
    const out = execFileSync('sh', ['-c', withLibraries(lines(sh`NR_M=MARK`, PRELUDE, new Shell(script)).text)], {
      encoding: 'utf8',
    });
    expect(out).toContain('RETURNED-1');
    expect(out).toMatch(/Backup of postgres:db failed: .*connection refused/);
    expect(readdirSync(dir)).toEqual([]);
  });

  it.each([
    [
      { kind: 'postgres' as const, service: 'db', database: '' },
      'postgres:db',
      'the container of service db has no pg_dump: is it a PostgreSQL database?',
    ],
    [
      { kind: 'mysql' as const, service: 'db', database: 'shop' },
      'mysql:db/shop',
      'the container of service db has no mysqldump: is it a MySQL/MariaDB database?',
    ],
    [
      { kind: 'custom' as const, service: 'db', database: 'index', dump: 'indexer --dump', restore: 'indexer --load' },
      'custom:db/index',
      'the dump command failed (exit 127: a command it runs is not found in the container of service db)',
    ],
  ])('a dump whose container has not its tool (exit 127) fails the backup, saying so: %j', (db, what, misfit) => {
    const dir = join(work, `misfit-${db.kind}`);
    const docker = FAKE_DOCKER.replace(
      '"exec nrb-db") ',
      `"exec nrb-db") if [ "$NR_FAKE_DUMP" = missing ]; then echo 'sh: not found' >&2; return 127; fi; `,
    );
    const script = lines(
      sh`NR_FAKE_DUMP=missing`,
      new Shell(docker),
      BACKUP_LIBRARY,
      backupFunction({ ...plan(dir), databases: [db] }, { tag: T2, commit: '', reason: 'manual' }),
      sh`nr_backup || echo RETURNED-1`,
    ).text;
    const out = execFileSync('sh', ['-c', withLibraries(lines(sh`NR_M=MARK`, PRELUDE, new Shell(script)).text)], {
      encoding: 'utf8',
    });
    expect(out).toContain('RETURNED-1');
    expect(out).toContain(`Backup of ${what} failed: ${misfit}`);
    expect(readdirSync(dir)).toEqual([]);
  });

  it("a volume is archived into a fifo the container mounts, not through docker's output stream", () => {
    const dir = join(work, 'mounted');
    const log = join(work, 'calls-mounted');
    const docker = FAKE_DOCKER.replace('nr_docker() {', `nr_docker() {\n  echo "$*" >> '${log}'`);
    const values = run(
      lines(
        new Shell(docker),
        BACKUP_LIBRARY,
        backupFunction({ ...plan(dir), databases: [] }, { tag: T2, commit: '', reason: 'manual' }),
        sh`nr_backup`,
      ).text,
    );
    const runCall = readFileSync(log, 'utf8')
      .split('\n')
      .find((c) => c.startsWith('run --rm'));
    expect(runCall).toMatch(/ -v \S+\/\.partial-\S+\/\.fifo:\/nr-archive .* tar -C \/nr-volume -czf \/nr-archive \.$/);
    const id = values.get('backup_id') ?? '';
    expect(readFileSync(join(dir, id, 'volume-uploads.tar.gz'), 'utf8')).toBe('volume-bytes');
    expect(readdirSync(join(dir, id)).sort()).toEqual(['SHA256SUMS', 'manifest.json', 'volume-uploads.tar.gz']);
  });

  it('with the project and containers found in the state read, the backup phase makes no docker lookups', () => {
    const dir = join(work, 'found');
    const log = join(work, 'calls-found');
    const docker = FAKE_DOCKER.replace('nr_docker() {', `nr_docker() {\n  echo "$*" >> '${log}'`);
    const values = run(
      lines(
        new Shell(docker),
        BACKUP_LIBRARY,
        backupFunction(
          { ...plan(dir), volumes: [], found: { project: 'store', containers: { db: 'nrb-db' } } },
          { tag: T2, commit: '', reason: 'manual' },
        ),
        sh`nr_backup`,
      ).text,
    );
    expect(values.get('backup_bytes')).toBe(String('dump-bytes'.length));
    expect(
      readFileSync(log, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((c) => c.split(' ')[0]),
    ).toEqual(['exec']);
  });

  it('a backup directory with a colon in its path (which docker run -v cannot mount) streams the archive', () => {
    const dir = join(work, 'with:colon');
    const log = join(work, 'calls-colon');
    const docker = FAKE_DOCKER.replace('nr_docker() {', `nr_docker() {\n  echo "$*" >> '${log}'`);
    const values = run(
      lines(
        new Shell(docker),
        BACKUP_LIBRARY,
        backupFunction({ ...plan(dir), databases: [] }, { tag: T2, commit: '', reason: 'manual' }),
        sh`nr_backup`,
      ).text,
    );
    expect(readFileSync(log, 'utf8')).not.toContain('/nr-archive');
    const id = values.get('backup_id') ?? '';
    expect(readFileSync(join(dir, id, 'volume-uploads.tar.gz'), 'utf8')).toBe('volume-bytes');
  });

  it('a volume container that fails before it opens the fifo: the backup fails, naming why, and does not hang', () => {
    const dir = join(work, 'no-container');
    const script = lines(
      sh`NR_FAKE_RUN=fail`,
      new Shell(FAKE_DOCKER),
      BACKUP_LIBRARY,
      backupFunction({ ...plan(dir), databases: [] }, { tag: T2, commit: '', reason: 'manual' }),
      sh`nr_backup || echo RETURNED-1`,
    ).text;
    const out = execFileSync('sh', ['-c', withLibraries(lines(sh`NR_M=MARK`, PRELUDE, new Shell(script)).text)], {
      encoding: 'utf8',
      timeout: 10_000,
    });
    expect(out).toContain('RETURNED-1');
    expect(out).toMatch(/Backup of volume uploads failed: .*no such image/);
    expect(readdirSync(dir)).toEqual([]);
  });

  it.each([
    [
      'a database dump written through the stream',
      { databases: [{ kind: 'postgres' as const, service: 'db', database: '' }], volumes: [] },
      'postgres:db',
      'postgres-db.dump',
    ],
    [
      'a volume archive written into the fifo the container mounts',
      { databases: [], volumes: ['uploads'] },
      'volume uploads',
      'volume-uploads.tar.gz',
    ],
  ])(
    'data safety 4: %s, cut short by a write error, fails the backup: nothing is kept or listed as whole',
    (_, items, what, file) => {
      const dir = join(work, `cut-short-${file}`);
      // a file size limit (EFBIG) hits the data file only: the small manifest after it could still be written
      const script = lines(
        sh`trap '' XFSZ; ulimit -f 64; NR_FAKE_BIG=1048576`,
        new Shell(FAKE_DOCKER),
        BACKUP_LIBRARY,
        backupFunction({ ...plan(dir), ...items }, { tag: T2, commit: '', reason: 'manual' }),
        sh`nr_backup || echo RETURNED-1`,
        listingValue(dir, { justWritten: new Shell('"$nr_bk_id"') }),
      ).text;
      const out = execFileSync('sh', ['-c', withLibraries(lines(sh`NR_M=MARK`, PRELUDE, new Shell(script)).text)], {
        encoding: 'utf8',
        timeout: 20_000,
      });
      expect(out).toContain('RETURNED-1');
      expect(out).toMatch(
        new RegExp(`Backup of ${what} failed: writing ${file.replace(/\./g, '\\.')} failed.*File too large`),
      );
      expect(readdirSync(dir)).toEqual([]);
      const values = new Map(
        [...out.matchAll(/^MARK value (\S+) ?(.*)$/gm)].map((m): [string, string] => [m[1], m[2]]),
      );
      expect(decodeListing(values)).toEqual([]);
    },
  );

  it('data safety 4: the listing checks the backup just written (its files and sizes), never takes it as whole', () => {
    const dir = join(work, 'just-written');
    const values = run(
      lines(
        new Shell(FAKE_DOCKER),
        BACKUP_LIBRARY,
        backupFunction(plan(dir), { tag: T2, commit: '', reason: 'manual' }),
        sh`nr_backup`,
        listingValue(dir, { justWritten: new Shell('"$nr_bk_id"') }),
      ).text,
    );
    const id = values.get('backup_id') ?? '';
    expect(decodeListing(values)).toMatchObject([{ id, verifies: true }]);
    // the same listing, with the dump cut short after it was written
    writeFileSync(join(dir, id, 'postgres-db.dump'), 'dump-by');
    const listed = run(
      lines(BACKUP_LIBRARY, sh`nr_bk_id=${id}`, listingValue(dir, { justWritten: new Shell('"$nr_bk_id"') })).text,
    );
    expect(decodeListing(listed)).toMatchObject([{ id, verifies: false }]);
  });

  /**
   * Runs a restore with a docker that records every call; returns its exit code and the calls.
   * `failFirstRestore`: the first database restore fails (the one from the backup, not the undo).
   */
  function restore(
    id: string,
    o: { failFirstRestore?: boolean; then?: string } = {},
  ): { code: number; calls: string[]; out: string } {
    const log = join(work, `calls-${id}`);
    const failOnce = join(work, `fail-once-${id}`);
    if (o.failFirstRestore) writeFileSync(failOnce, '');
    const docker = FAKE_DOCKER.replace('nr_docker() {', `nr_docker() {\n  echo "$*" >> '${log}'`)
      .replace(
        '"exec -i") cat > /dev/null ;;',
        `"exec -i") cat > /dev/null; if [ -e '${failOnce}' ]; then rm '${failOnce}'; return 1; fi ;;`,
      )
      .replace('"stop nrb-api") : ;;', '"stop nrb-api"|"start nrb-api") : ;;');
    const item = (file: string, kind: 'volume' | 'postgres', source: string) => ({
      kind,
      source,
      file,
      bytes: 0,
      sha256: '',
    });
    const script = lines(
      exitCodeDefinitions(),
      sh`NR_M=MARK`,
      PRELUDE,
      new Shell(docker),
      restoreData(
        new Renderer(bareTools, false),
        {
          dir: work,
          id,
          repo: join(work, 'repo'),
          composeFile: 'store/docker-compose.yml',
          container: 'nrb-api',
          items: [item('a.tar.gz', 'volume', 'uploads'), item('b.dump', 'postgres', 'db')],
          image: 'busybox:latest',
        },
        { tag: T3, commit: '', reason: `safety before restore ${id}` },
      ),
      o.then === undefined ? restoreOrExit() : new Shell(o.then),
    ).text;
    let code = 0;
    let out = '';
    try {
      out = execFileSync('sh', ['-c', withLibraries(script)], { encoding: 'utf8' });
    } catch (e) {
      code = (e as { status: number }).status;
      out = (e as { stdout: string }).stdout;
    }
    const calls = existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean) : [];
    return { code, calls, out };
  }

  it('data safety 13: a crafted manifest item is refused before any shell is written, and nothing it holds runs', () => {
    const id = '20260108T000000Z-crafted';
    const marker = join(work, 'crafted-ran');
    makeBackup(id, { 'b.dump': 'bbb' });
    const crafted = (source: string) =>
      lines(
        exitCodeDefinitions(),
        sh`NR_M=MARK`,
        PRELUDE,
        new Shell(FAKE_DOCKER),
        restoreData(
          new Renderer(bareTools, false),
          {
            dir: work,
            id,
            repo: join(work, 'repo'),
            composeFile: 'store/docker-compose.yml',
            container: 'nrb-api',
            items: [{ kind: 'postgres', source, file: 'b.dump', bytes: 3, sha256: envSha256('bbb') }],
            image: 'busybox:latest',
          },
          { tag: T3, commit: '', reason: `safety before restore ${id}` },
        ),
      ).text;
    let error: unknown;
    try {
      execFileSync('sh', ['-c', crafted(`db$(touch ${marker})`)], { encoding: 'utf8', stdio: 'pipe' });
    } catch (e) {
      error = e;
    }
    expect(existsSync(marker)).toBe(false);
    expect(String(error)).toMatch(
      /manifest\.json cannot be restored: item "db\$\(touch .*\)": its source is not a service name/,
    );
  });

  it('a restore of a corrupt backup exits before any docker call that changes something', () => {
    const id = '20260105T000000Z-restore-corrupt';
    const dir = makeBackup(id, { 'a.tar.gz': 'aaa', 'b.dump': 'bbb' });
    writeFileSync(join(dir, 'b.dump'), 'bbX');
    const { code, calls, out } = restore(id);
    expect(code).toBe(BackupExit.BackupCorrupt);
    expect(out).toContain(`Backup ${id} is missing or corrupt`);
    expect(calls).toEqual([]);
  });

  it('a restore: verify, safety backup, stop the backend, restore the database and the volume', () => {
    const id = '20260106T000000Z-restore-whole';
    makeBackup(id, { 'a.tar.gz': 'aaa', 'b.dump': 'bbb' });
    const { code, calls, out } = restore(id);
    expect(code, out).toBe(0);
    const kinds = calls.map((c) => c.split(' ').slice(0, 2).join(' '));
    const at = (prefix: string): number => kinds.findIndex((k) => k.startsWith(prefix));
    // the backend stops before the safety backup reads (run --rm ... :ro, exec): a quiesced snapshot; the restores come after
    expect(at('stop nrb-api')).toBeLessThan(at('run --rm'));
    expect(at('run --rm')).toBeLessThan(at('exec -i'));
    expect(calls.some((c) => c.startsWith('exec -i nrb-db sh -c') && c.includes('pg_restore'))).toBe(true);
    expect(calls.some((c) => c.startsWith('run --rm -i') && c.includes('tar -xzf -'))).toBe(true);
    expect(out).toMatch(/MARK value safety_id \d{8}T\d{6}Z-2026\.01\.20-3333333/);
  });

  it('a restore that fails part way puts the data of before back from the safety backup and starts the backend again', () => {
    const id = '20260107T000000Z-restore-fails';
    makeBackup(id, { 'a.tar.gz': 'aaa', 'b.dump': 'bbb' });
    const { code, calls, out } = restore(id, { failFirstRestore: true });
    expect(code, out).toBe(BackupExit.RestoreFailed);
    const safety = /MARK value safety_id (\S+)/.exec(out)?.[1];
    expect(safety).toBeTruthy();
    // the volume from the backup, the failed database, then both items again from the safety backup
    const restores = calls.filter((c) => c.startsWith('run --rm -i') || c.startsWith('exec -i'));
    expect(restores.map((c) => c.split(' ')[0])).toEqual(['run', 'exec', 'run', 'exec']);
    expect(out).toContain('Restoring postgres:db failed');
    expect(out).toContain(`Putting the data of before the restore back from safety backup ${safety}`);
    expect(out).toContain('MARK value restore_undone yes');
    expect(calls.indexOf('start nrb-api')).toBeGreaterThan(calls.lastIndexOf(restores[3]));
  });

  it('data safety 1: in a fallback, a restore that fails returns (undone, named) and the script goes on, the backend left to the recreate', () => {
    const id = '20260108T000000Z-restore-fallback';
    makeBackup(id, { 'a.tar.gz': 'aaa', 'b.dump': 'bbb' });
    const { code, calls, out } = restore(id, {
      failFirstRestore: true,
      then: 'nr_restore; echo "RESTORE-RC=$?"; echo CONTINUED',
    });
    expect(code, out).toBe(0);
    expect(out).toContain(`RESTORE-RC=${BackupExit.RestoreFailed}`);
    expect(out).toContain('CONTINUED');
    expect(out).toContain('MARK value data undone');
    // the failed release is not started again (its start may migrate again): the fallback's compose up replaces it
    expect(calls).toContain('stop nrb-api');
    expect(calls).not.toContain('start nrb-api');
  });

  it('a restore of several services stops every application service (by name or by its compose labels), never the database, and starts them again', () => {
    const id = '20260109T000000Z-restore-apps';
    makeBackup(id, { 'a.tar.gz': 'aaa', 'b.dump': 'bbb' });
    const log = join(work, `calls-${id}`);
    const docker = FAKE_DOCKER.replace('nr_docker() {', `nr_docker() {\n  echo "$*" >> '${log}'`)
      .replace(
        '"ps --filter") [ "$5" = label=com.docker.compose.service=db ] && echo nrb-db ;;',
        '"ps --filter") case $5 in *=db) echo nrb-db ;; *=worker) echo store-worker-1 ;; *) return 0 ;; esac ;;',
      )
      .replace(
        '"stop nrb-api") : ;;',
        '"stop nrb-api"|"start nrb-api"|"stop store-worker-1"|"start store-worker-1") : ;;',
      );
    const item = (file: string, kind: 'volume' | 'postgres', source: string) => ({
      kind,
      source,
      file,
      bytes: 0,
      sha256: '',
    });
    const script = lines(
      exitCodeDefinitions(),
      sh`NR_M=MARK`,
      PRELUDE,
      new Shell(docker),
      restoreData(
        new Renderer(bareTools, false),
        {
          dir: work,
          id,
          repo: join(work, 'repo'),
          composeFile: 'store/docker-compose.yml',
          container: 'nrb-api',
          items: [item('a.tar.gz', 'volume', 'uploads'), item('b.dump', 'postgres', 'db')],
          image: 'busybox:latest',
          apps: [
            { service: 'api', container: 'nrb-api' },
            { service: 'worker', container: '' },
            { service: 'web', container: '' },
          ],
        },
        { tag: T3, commit: '', reason: `safety before restore ${id}` },
      ),
      sh`nr_restore && nr_rs_start_backend`,
    ).text;
    const out = execFileSync('sh', ['-c', withLibraries(script)], { encoding: 'utf8' });
    const calls = readFileSync(log, 'utf8').split('\n').filter(Boolean);
    const first = (c: string): number => calls.findIndex((k) => k.startsWith(c));
    // both application services stop before the safety backup and the restore; web runs no container: nothing to stop
    expect(first('stop nrb-api')).toBeGreaterThan(-1);
    expect(first('stop store-worker-1')).toBeGreaterThan(-1);
    expect(first('stop store-worker-1')).toBeLessThan(first('exec -i'));
    expect(calls.filter((c) => c.startsWith('stop'))).toEqual(['stop nrb-api', 'stop store-worker-1']);
    // the database keeps running: it is restored in place
    expect(calls.some((c) => c.startsWith('exec -i nrb-db'))).toBe(true);
    expect(calls.filter((c) => c.startsWith('start'))).toEqual(['start nrb-api', 'start store-worker-1']);
    expect(out).toContain('MARK value data restored');
  });

  it('writes the environment file atomically, private, with a copy kept for the release', () => {
    const repo = join(work, 'repo');
    mkdirSync(join(repo, '.git'), { recursive: true });
    const r = new Renderer(bareTools, false);
    const content = 'DATABASE_URL=postgres://shop:s3cret@127.0.0.1/shop\nFEATURE=on\n';
    const plan = { repo, path: 'backend/.env', stateDir: join(repo, '.git/nas-release') };
    run(writeEnvFile(r, plan, content, T2, T1).text);
    const stat = (f: string): string => execFileSync('stat', ['-c', '%a', f], { encoding: 'utf8' }).trim();
    expect(execFileSync('cat', [join(repo, 'backend/.env')], { encoding: 'utf8' })).toBe(content);
    expect(stat(join(repo, 'backend/.env'))).toBe('600');
    expect(stat(join(repo, `.git/nas-release/env/${T2}.env`))).toBe('600');
    expect(execFileSync('cat', [join(repo, '.git/info/exclude')], { encoding: 'utf8' })).toContain('/backend/.env');
    // the secret is in the program's text only as base64, never as an argument of a command
    expect(writeEnvFile(r, plan, content, T2, T1).text).not.toContain('s3cret');
  });
});
