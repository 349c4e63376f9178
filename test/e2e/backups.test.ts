import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  asNas,
  connection,
  containerImage,
  containerState,
  docker,
  historyLines,
  httpGet,
  pushCommit,
  REPO,
  resetNas,
  runAction,
  sh,
  tagOf,
  type ActionRun,
} from './harness.js';
import { cutDuring, killDuring, type Broken } from './support/faults.js';
import { TcpProxy } from './support/proxy.js';

/**
 * Issue 13: data and configuration bound to releases, on the stand-in NAS
 * with a real PostgreSQL server (nas-postgres:latest, test/nas/postgres.sh)
 * and a named volume. A second sample application, `store/`, is pushed by the
 * tests themselves so the shared sample backend stays as the other tests know it.
 */
const BACKUPS = '/volume1/docker/scanium/backups';
const API = 'nrb-api';
const DB = 'nrb-db';
const APP_URL = 'http://127.0.0.1:55435';
const DB_PASSWORD = 'db-pass-Ahd8uuT4';

const COMPOSE = `# The backup tests' application: an API on 127.0.0.1:55435, PostgreSQL on 55432, an uploads volume.
version: "3.8"
services:
  db:
    image: nas-postgres:latest
    container_name: ${DB}
    network_mode: host
    environment:
      POSTGRES_USER: shop
      POSTGRES_PASSWORD: ${DB_PASSWORD}
      POSTGRES_DB: shop
      PGPORT: "55432"
    volumes:
      - pgdata:/var/lib/postgresql/data
    stop_grace_period: 5s
  api:
    build: .
    image: store-api:\${STORE_TAG:-latest}
    container_name: ${API}
    network_mode: host
    environment:
      GREETING: "\${GREETING:-unset}"
      PGPASSWORD: "\${DB_PASSWORD:-}"
    volumes:
      - uploads:/uploads
    stop_grace_period: 1s
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:55435/health"]
      interval: 1s
      timeout: 2s
      retries: 2
volumes:
  pgdata:
  uploads:
`;

const DOCKERFILE = `FROM nas-postgres:latest
USER root
COPY start.sh migrate.sql check.sql release /app/
CMD ["sh", "/app/start.sh"]
`;

/** Migrates, writes its file to the uploads volume, and is healthy only when the schema is the one it reads. */
const START = `set -u
export PGHOST=127.0.0.1 PGPORT=55432 PGUSER=shop PGDATABASE=shop
mkdir -p /www
i=0; until pg_isready -q; do i=$((i + 1)); [ "$i" -gt 60 ] && exit 1; sleep 1; done
psql -X -q -v ON_ERROR_STOP=1 -f /app/migrate.sql || echo 'migration failed'
if psql -X -q -tA -v ON_ERROR_STOP=1 -f /app/check.sql >/dev/null 2>&1; then echo ok > /www/health; fi
echo "written by $(cat /app/release)" > "/uploads/$(cat /app/release).txt"
printf '%s\\n' "$GREETING" > /www/greeting
exec httpd -f -p 127.0.0.1:55435 -h /www
`;

function release(name: string, migrate: string, check: string): Record<string, string> {
  return {
    'store/docker-compose.yml': COMPOSE,
    'store/Dockerfile': DOCKERFILE,
    'store/start.sh': START,
    'store/migrate.sql': migrate,
    'store/check.sql': check,
    'store/release': `${name}\n`,
  };
}
const GOOD = release(
  'r1',
  'CREATE TABLE IF NOT EXISTS items (id serial PRIMARY KEY, name text NOT NULL);\n',
  'SELECT count(*) FROM items;\n',
);
/** Its migration renames the table the releases read, and its own check fails: it never becomes healthy. */
const BREAKING = release(
  'r2',
  'ALTER TABLE items RENAME TO items_v2;\nALTER TABLE items_v2 ADD COLUMN price int;\n',
  'SELECT count(*) FROM items WHERE price IS NULL;\n',
);

const ENV_BEFORE = `GREETING=hello-before\nDB_PASSWORD=${DB_PASSWORD}\n`;
const ENV_AFTER = `GREETING=hello-after\nDB_PASSWORD=${DB_PASSWORD}\n`;

const TARGET = {
  image: 'store-api',
  'compose-file': 'store/docker-compose.yml',
  service: 'api',
  container: API,
  'tag-variable': 'STORE_TAG',
  'build-context': 'store',
  'health-url': `${APP_URL}/health`,
  'health-timeout': '40',
  'env-file': 'store/.env',
  'backup-volumes': 'uploads',
  'backup-databases': 'postgres:db',
  'backup-image': 'nas-base:latest',
};

function inputs(extra: Record<string, string> = {}): Record<string, string> {
  return connection({ ...TARGET, ...extra });
}

async function run(action: string, extra: Record<string, string>, port?: number): Promise<ActionRun> {
  const secrets = [extra['env-file-content'] ?? ''].filter(Boolean);
  return runAction(action, inputs({ ...extra, ...(port ? { port: String(port) } : {}) }), { secrets });
}

function psql(sql: string): string {
  return docker('exec', DB, 'psql', '-X', '-q', '-tA', '-U', 'shop', '-d', 'shop', '-c', sql);
}
/** A client that could not connect, or whose session was ended: no answer from the database. */
const CONNECTION_LOST =
  /^error: psql: error: connection to server .* failed|terminating connection due to administrator command|server closed the connection/;
/** What `SELECT name FROM items` answers right now, or why it cannot (the database or the table missing). */
function rowsNow(): Promise<string> {
  return new Promise((resolve) =>
    execFile(
      'docker',
      ['exec', DB, 'psql', '-X', '-q', '-tA', '-U', 'shop', '-d', 'shop', '-c', 'SELECT name FROM items ORDER BY id'],
      { encoding: 'utf8' },
      (err, stdout, stderr) => resolve(err ? `error: ${stderr.trim()}` : stdout.trim()),
    ),
  );
}
function rows(): string {
  return psql('SELECT name FROM items ORDER BY id');
}
function uploads(): string[] {
  return docker('exec', API, 'ls', '/uploads').split('\n').filter(Boolean).sort();
}
function backupIds(): string[] {
  return existsSync(BACKUPS) ? readdirSync(BACKUPS).sort() : [];
}
function startedAt(name: string): string {
  return docker('inspect', '--format', '{{.State.StartedAt}}', name);
}
function removeStore(): void {
  execFileSync('bash', [join(__dirname, '../nas/postgres.sh'), '--down'], { stdio: 'pipe' });
  for (const img of docker('images', '-q', 'store-api').split('\n').filter(Boolean))
    execFileSync('docker', ['rmi', '-f', img], { stdio: 'pipe' });
  execFileSync('rm', ['-rf', BACKUPS]);
}

let r1 = '';
let r2 = '';

beforeAll(async () => {
  removeStore();
  resetNas();
  const sha = pushCommit(GOOD, 'store: an API with a database and uploads');
  r1 = tagOf(sha);
  // The database service runs before the first release (a release recreates only the API).
  asNas(['git', '-C', REPO, 'pull', '-q', '--ff-only']);
  asNas(['sh', '-c', `cd ${REPO} && docker-compose --file store/docker-compose.yml up --detach db`]);
  for (let i = 0; i < 60; i++) {
    try {
      docker('exec', DB, 'pg_isready', '-q');
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 500));
    }
  }
});

afterAll(() => {
  removeStore();
});

describe('backups bound to releases', () => {
  it('a first release with its env file; its rows and files are written', async () => {
    const first = await run('deploy-backend', { 'env-file-content': ENV_BEFORE });
    expect(first.code, first.stdout + first.stderr).toBe(0);
    expect(first.outputs.DEPLOYED_BACKEND_TAG).toBe(r1);
    // a first release backs up what there is (an empty database, no files), for the release before: none
    expect(first.outputs.BACKUP_ID).toMatch(/^\d{8}T\d{6}Z-none$/);
    psql("INSERT INTO items (name) VALUES ('apple'), ('pear')");
    docker('exec', API, 'sh', '-c', 'echo photo > /uploads/photo-1.jpg');
    expect((await httpGet(`${APP_URL}/greeting`)).body.trim()).toBe('hello-before');
    const env = join(REPO, 'store/.env');
    expect(readFileSync(env, 'utf8')).toBe(ENV_BEFORE);
    expect(statSync(env).mode & 0o777).toBe(0o600);
    expect(historyLines().at(-1)).toMatchObject({ action: 'deploy-backend', tag: r1, outcome: 'success' });
    expect(JSON.stringify(historyLines())).not.toContain('hello-before');
    expect(historyLines().at(-1)?.env).toMatch(/^[0-9a-f]{64}$/);
  });

  it('a release whose migration breaks the schema fails its health check; rollback auto brings back rows, files and env', async () => {
    const sha = pushCommit(BREAKING, 'store: rename items (breaks the old release)');
    r2 = tagOf(sha);
    const broken = await run('deploy-backend', { 'env-file-content': ENV_AFTER, 'auto-rollback': 'false' });
    expect(broken.code).not.toBe(0);
    const before = broken.outputs.BACKUP_ID;
    expect(before).toMatch(new RegExp(`^\\d{8}T\\d{6}Z-${r1.replace(/\./g, '\\.')}$`));
    // the backup folder: private, a manifest with a sha256 per item
    const folder = join(BACKUPS, before);
    expect(statSync(folder).mode & 0o777).toBe(0o700);
    const manifest = JSON.parse(readFileSync(join(folder, 'manifest.json'), 'utf8')) as {
      tag: string;
      items: Array<{ kind: string; source: string; sha256: string; bytes: number; file: string }>;
    };
    expect(manifest.tag).toBe(r1);
    expect(manifest.items.map((i) => `${i.kind}:${i.source}`).sort()).toEqual(['postgres:db', 'volume:uploads']);
    for (const i of manifest.items) {
      expect(i.sha256).toMatch(/^[0-9a-f]{64}$/);
      expect(statSync(join(folder, i.file)).mode & 0o777).toBe(0o600);
    }
    expect(backupIds().filter((d) => d.startsWith('.partial'))).toEqual([]);
    // the schema is broken and the new file written
    expect(() => rows()).toThrow();
    expect(uploads()).toContain('r2.txt');
    expect(readFileSync(join(REPO, 'store/.env'), 'utf8')).toBe(ENV_AFTER);

    const back = await run('rollback-backend', { 'restore-backup': 'auto' });
    expect(back.code, back.stdout + back.stderr).toBe(0);
    expect(back.outputs.DEPLOYED_BACKEND_TAG).toBe(r1);
    expect(back.outputs.RESTORED_BACKUP).toBe(before);
    // the safety backup holds the data of the failed release it replaced
    expect(back.outputs.SAFETY_BACKUP_ID).toMatch(/^\d{8}T\d{6}Z-/);
    expect(back.outputs.SAFETY_BACKUP_ID.endsWith(`-${r2}`)).toBe(true);
    expect(rows()).toBe('apple\npear');
    expect(uploads()).toEqual(['photo-1.jpg', 'r1.txt']);
    expect(readFileSync(join(REPO, 'store/.env'), 'utf8')).toBe(ENV_BEFORE);
    expect((await httpGet(`${APP_URL}/greeting`)).body.trim()).toBe('hello-before');
    expect(containerImage(API)).toBe(`store-api:${r1}`);
    expect(historyLines().at(-1)).toMatchObject({
      action: 'rollback-backend',
      tag: r1,
      outcome: 'success',
      backup: before,
    });
    // the safety backup holds the broken state: a restore can be undone
    expect(backupIds()).toContain(back.outputs.SAFETY_BACKUP_ID);
  });

  it('backup-backend takes a backup by itself and lists them newest first, verified', async () => {
    const taken = await run('backup-backend', { 'backup-keep': '10' });
    expect(taken.code, taken.stdout + taken.stderr).toBe(0);
    const list = JSON.parse(taken.outputs.BACKUPS) as Array<{
      id: string;
      release: string;
      verifies: boolean;
      bytes: number;
    }>;
    expect(list[0].id).toBe(taken.outputs.BACKUP_ID);
    expect(list[0]).toMatchObject({ release: r1, verifies: true });
    expect(Number(taken.outputs.BACKUP_BYTES)).toBeGreaterThan(0);
    expect(list.map((e) => e.id)).toEqual([...list.map((e) => e.id)].sort().reverse());
  });

  it('cleanup-backend prunes backups to backup-keep, never the one a rollback would restore', async () => {
    expect((await run('backup-backend', { 'backup-keep': '10' })).code).toBe(0);
    const before = backupIds();
    expect(before.length).toBeGreaterThan(2);
    const cleaned = await run('cleanup-backend', { keep: '10', 'backup-keep': '1' });
    expect(cleaned.code, cleaned.stdout + cleaned.stderr).toBe(0);
    const removed = JSON.parse(cleaned.outputs.REMOVED_BACKUPS) as string[];
    const after = backupIds();
    expect(removed.length).toBeGreaterThan(0);
    expect(after).toEqual(before.filter((id) => !removed.includes(id)));
    // the newest is kept, and so is the running release's own newest backup (what `auto` would restore for it)
    expect(after).toContain(before.at(-1));
    const running = containerImage(API).split(':')[1];
    const ofRunning = before.filter((id) => id.endsWith(`-${running}`)).at(-1);
    expect(ofRunning).toBeDefined();
    expect(after).toContain(ofRunning);
    expect(cleaned.stdout).toContain(`Removed ${removed.length} of ${before.length} backup(s) in ${BACKUPS}`);
  });

  it('restoring a corrupt backup changes nothing', async () => {
    const taken = await run('backup-backend', {});
    expect(taken.code).toBe(0);
    const id = taken.outputs.BACKUP_ID;
    psql("INSERT INTO items (name) VALUES ('plum')");
    const file = join(BACKUPS, id, 'volume-uploads.tar.gz');
    const bytes = readFileSync(file);
    bytes[bytes.length - 5] ^= 0xff;
    writeFileSync(file, bytes);
    const apiStarted = startedAt(API);
    const count = backupIds().length;

    const refused = await run('rollback-backend', { tag: r1, 'restore-backup': id });
    expect(refused.code).not.toBe(0);
    expect(refused.stdout + refused.stderr).toContain(id);
    expect(refused.stdout + refused.stderr).toMatch(/corrupt/);
    expect(rows()).toBe('apple\npear\nplum');
    expect(startedAt(API)).toBe(apiStarted);
    expect(backupIds().length).toBe(count);
  });

  it('a cut link during a restore leaves the data restored, not half', async () => {
    const taken = await run('backup-backend', {});
    expect(taken.code).toBe(0);
    psql("INSERT INTO items (name) VALUES ('quince')");
    docker('exec', API, 'sh', '-c', 'echo late > /uploads/late.txt');
    const proxy = await TcpProxy.start({ targetPort: 2222 });
    try {
      let log = '';
      let armed = true;
      const cutRun = runAction(
        'rollback-backend',
        inputs({ tag: r1, 'restore-backup': taken.outputs.BACKUP_ID, port: String(proxy.port) }),
        {
          onStdout: (chunk) => {
            log += chunk;
            if (armed && log.includes('verifies (sha256 of every file)')) {
              armed = false;
              proxy.cut();
            }
          },
        },
      );
      const cut = await cutRun;
      expect(armed, 'the link was cut during the restore').toBe(false);
      expect(cut.code).not.toBe(0);
    } finally {
      await proxy.close();
    }
    // the detached phase goes on without the runner: wait for it to end
    for (let i = 0; i < 120 && existsSync(join(REPO, '.git/nas-release/phase.sh')); i++)
      await new Promise((r) => setTimeout(r, 500));
    expect(existsSync(join(REPO, '.git/nas-release/phase.sh'))).toBe(false);
    expect(rows()).toBe('apple\npear\nplum');
    expect(uploads()).toEqual(['photo-1.jpg', 'r1.txt']);
    expect(containerImage(API)).toBe(`store-api:${r1}`);
  });

  it('data safety 7 (faults): a runner killed or a link cut at the safety backup, the load and the undo: the phase ends whole by itself, the database is the backup or as before, never empty, and the next operation runs', async () => {
    // rows enough for each stage of the restore to take a moment
    psql('CREATE TABLE bulk AS SELECT g AS n, md5(g::text) AS t FROM generate_series(1, 200000) g');
    const taken = await run('backup-backend', {});
    expect(taken.code, taken.stdout + taken.stderr).toBe(0);
    const id = taken.outputs.BACKUP_ID;
    const backedUp = rows();
    psql('DROP TABLE bulk');
    const phaseFile = join(REPO, '.git/nas-release/phase.sh');
    const points: Array<{ how: 'kill' | 'cut'; at: RegExp; stage: string; corrupt?: boolean }> = [
      { how: 'kill', at: new RegExp(`Stopped ${API}`), stage: 'the safety backup' },
      { how: 'cut', at: /Backup \S+ written/, stage: 'the load' },
      { how: 'kill', at: /Putting the data of before the restore back/, stage: 'the undo', corrupt: true },
    ];
    for (const point of points) {
      psql(`INSERT INTO items (name) VALUES ('${point.how}-${point.stage.replace(/\W/g, '')}')`);
      const before = rows();
      const dump = join(BACKUPS, id, 'postgres-db.dump');
      const sums = join(BACKUPS, id, 'SHA256SUMS');
      const whole = { dump: readFileSync(dump), sums: readFileSync(sums, 'utf8') };
      if (point.corrupt) {
        // a dump pg_restore cannot read, with sums that still match: the load fails and the restore is undone
        writeFileSync(dump, 'not a dump\n');
        const sum = execFileSync('sha256sum', [dump], { encoding: 'utf8' }).split(' ')[0];
        writeFileSync(sums, whole.sums.replace(/^\S+(  postgres-db\.dump)$/m, `${sum}$1`));
      }
      const extra = { tag: r1, 'restore-backup': id };
      let broken: Broken;
      if (point.how === 'kill') {
        broken = await killDuring('rollback-backend', extra, point.at, inputs);
      } else {
        const proxy = await TcpProxy.start({ targetPort: 2222 });
        try {
          broken = await cutDuring(proxy, 'rollback-backend', extra, { at: point.at }, inputs);
        } finally {
          await proxy.close();
        }
      }
      expect(broken.struck, `the fault struck during ${point.stage}:\n${broken.stdout}`).toBe(true);
      expect(broken.code).not.toBe(0);
      // the detached phase goes on without the runner; the next operation waits for it, then runs
      for (let i = 0; i < 240 && existsSync(phaseFile); i++) await new Promise((r) => setTimeout(r, 500));
      expect(existsSync(phaseFile), `the phase ended after a fault during ${point.stage}`).toBe(false);
      const next = await run('backup-backend', {});
      expect(next.code, next.stdout + next.stderr).toBe(0);
      if (point.corrupt) {
        writeFileSync(dump, whole.dump);
        writeFileSync(sums, whole.sums);
        // undone: the data of before the restore, whole
        expect(rows()).toBe(before);
        expect(() => psql('SELECT count(*) FROM bulk')).toThrow();
      } else {
        // restored: the backup's data, whole
        expect(rows()).toBe(backedUp);
        expect(psql('SELECT count(*) FROM bulk')).toBe('200000');
        psql('DROP TABLE bulk');
      }
      expect(containerImage(API)).toBe(`store-api:${r1}`);
    }
  });

  it('a restore that fails part way puts the data of before back and the backend runs on', async () => {
    const taken = await run('backup-backend', {});
    expect(taken.code).toBe(0);
    const id = taken.outputs.BACKUP_ID;
    // a dump pg_restore cannot read, with sums that still match: the volume restores, then the database fails
    const dump = join(BACKUPS, id, 'postgres-db.dump');
    writeFileSync(dump, 'not a dump\n');
    const sum = execFileSync('sha256sum', [dump], { encoding: 'utf8' }).split(' ')[0];
    const sums = join(BACKUPS, id, 'SHA256SUMS');
    writeFileSync(sums, readFileSync(sums, 'utf8').replace(/^\S+(  postgres-db\.dump)$/m, `${sum}$1`));
    psql("INSERT INTO items (name) VALUES ('rowan')");
    docker('exec', API, 'sh', '-c', 'echo after > /uploads/after-backup.txt');
    const before = rows();
    const files = uploads();
    const image = containerImage(API);

    const failed = await run('rollback-backend', { tag: r1, 'restore-backup': id });

    expect(failed.code).not.toBe(0);
    expect(failed.stdout + failed.stderr).toMatch(/Restoring postgres:db failed/);
    expect(failed.stdout + failed.stderr).toMatch(/put back from safety backup \S+ and \S+ runs again/);
    expect(rows()).toBe(before);
    expect(uploads()).toEqual(files);
    expect(containerImage(API)).toBe(image);
    expect(docker('inspect', '--format', '{{.State.Running}}', API)).toBe('true');
    expect((await httpGet(`${APP_URL}/health`)).status).toBe(200);
  });

  it('auto-rollback-restore: a failed release is rolled back with the data and env file of before', async () => {
    const before = rows();
    const files = uploads();
    const failed = await run('deploy-backend', {
      'env-file-content': ENV_AFTER,
      'auto-rollback': 'true',
      'auto-rollback-restore': 'true',
    });
    expect(failed.code).not.toBe(0);
    expect(failed.outputs.ROLLED_BACK, failed.stdout).toBe('true');
    expect(failed.outputs.DEPLOYED_BACKEND_TAG).toBe(r1);
    expect(rows()).toBe(before);
    expect(uploads()).toEqual(files);
    expect(readFileSync(join(REPO, 'store/.env'), 'utf8')).toBe(ENV_BEFORE);
    expect((await httpGet(`${APP_URL}/greeting`)).body.trim()).toBe('hello-before');
    expect(failed.stdout).toMatch(/the failed release's data is in backup \d{8}T\d{6}Z-/);
  });

  it('data safety 2: a rollback with restore whose target fails its health check puts the data of before back', async () => {
    const taken = await run('backup-backend', {});
    expect(taken.code).toBe(0);
    const id = taken.outputs.BACKUP_ID;
    psql("INSERT INTO items (name) VALUES ('sloe')");
    docker('exec', API, 'sh', '-c', 'echo late > /uploads/after-backup-2.txt');
    const before = rows();
    const files = uploads();

    // r2 never becomes healthy, and its migration renames the table of the data just restored
    const failed = await run('rollback-backend', { tag: r2, 'restore-backup': id });

    const log = failed.stdout + failed.stderr;
    expect(failed.code, log).not.toBe(0);
    const safety = failed.outputs.SAFETY_BACKUP_ID;
    expect(safety).toMatch(/^\d{8}T\d{6}Z-/);
    expect(containerImage(API)).toBe(`store-api:${r1}`);
    expect(rows()).toBe(before);
    expect(uploads()).toEqual(files);
    expect(readFileSync(join(REPO, 'store/.env'), 'utf8')).toBe(ENV_BEFORE);
    expect(failed.outputs.RESTORED_BACKUP).toBe('');
    expect(log).toContain(
      `The restore of ${id} was undone: the data of before it is back from safety backup ${safety}`,
    );
    expect(historyLines().at(-1)).toMatchObject({
      action: 'rollback-backend',
      tag: r2,
      outcome: 'rolled-back',
      backup: id,
      detail: 'health check failed, restore undone',
    });
  });

  it('data safety 3: an environment file that cannot be written refuses a restore before anything changes', async () => {
    const taken = await run('backup-backend', {});
    expect(taken.code).toBe(0);
    psql("INSERT INTO items (name) VALUES ('medlar')");
    const before = rows();
    const apiStarted = startedAt(API);
    // a directory (not empty) where the file would be written: every way of writing it fails
    const blockers = [join(REPO, 'store/.env.nr-tmp'), join(REPO, '.git/nas-release/env/.staged')];
    for (const b of blockers) mkdirSync(join(b, 'x'), { recursive: true });
    try {
      const refused = await run('rollback-backend', {
        tag: r1,
        'restore-backup': taken.outputs.BACKUP_ID,
        'env-file-content': ENV_AFTER,
      });
      const log = refused.stdout + refused.stderr;
      expect(refused.code, log).not.toBe(0);
      expect(log).toMatch(/refused before anything changed/);
      expect(startedAt(API)).toBe(apiStarted);
      expect(docker('inspect', '--format', '{{.State.Running}}', API)).toBe('true');
      expect(rows()).toBe(before);
      expect(readFileSync(join(REPO, 'store/.env'), 'utf8')).toBe(ENV_BEFORE);
      expect(historyLines().at(-1)).toMatchObject({ outcome: 'failure', detail: 'restore refused' });
    } finally {
      for (const b of blockers) rmSync(b, { recursive: true, force: true });
    }
  });

  it('data safety 1: a restore that fails in the automatic rollback still brings the previous release back, and says the data was not restored', async () => {
    // a custom item whose restore refuses the dump taken before the release (a full disk or a broken dump fails
    // the same way): the restore fails part way, after PostgreSQL was restored
    const schema =
      'custom:db/schema dump="psql -X -tA -U shop -d shop -c \'SELECT count(*) FROM pg_tables WHERE tablename = $$items_v2$$\'" restore="read n && test $n = 1"';
    psql('DROP TABLE IF EXISTS items_v2');
    const before = rows();
    const failed = await run('deploy-backend', {
      'env-file-content': ENV_AFTER,
      'auto-rollback': 'true',
      'auto-rollback-restore': 'true',
      'backup-databases': `postgres:db\n${schema}`,
    });
    const log = failed.stdout + failed.stderr;
    expect(failed.code, log).not.toBe(0);
    expect(failed.outputs.ROLLED_BACK, log).toBe('true');
    expect(failed.outputs.DEPLOYED_BACKEND_TAG).toBe(r1);
    expect(containerImage(API)).toBe(`store-api:${r1}`);
    expect((await httpGet(`${APP_URL}/health`)).status).toBe(200);
    expect(readFileSync(join(REPO, 'store/.env'), 'utf8')).toBe(ENV_BEFORE);
    // the data is the failed release's, put back whole from the safety backup, and the run says so
    expect(psql('SELECT name FROM items_v2 ORDER BY id')).toBe(before);
    expect(log).toMatch(
      new RegExp(
        `The data of before the release was NOT restored: restoring backup ${failed.outputs.BACKUP_ID} failed part way and the failed release's data was put back from safety backup \\d{8}T\\d{6}Z-`,
      ),
    );
    expect(log).not.toMatch(/The data of before the release was restored/);
    expect(historyLines().at(-1)).toMatchObject({
      action: 'deploy-backend',
      tag: r2,
      outcome: 'rolled-back',
      detail: 'health check failed, data not restored (restore failed, undone)',
    });
  });

  it('data safety 1: a failed release that holds a table lock cannot hang the automatic rollback: it stops before the safety backup', async () => {
    // its migration takes an exclusive lock on items and its session waits in the transaction: a hung migration
    const hanging = release(
      'r3',
      'BEGIN;\nLOCK TABLE items IN ACCESS EXCLUSIVE MODE;\n\\! sleep 3600\n',
      'SELECT count(*) FROM items;\n',
    );
    const r3 = tagOf(pushCommit(hanging, 'store: a migration that hangs holding a lock'));
    psql("INSERT INTO items (name) VALUES ('yew')");
    const before = rows();
    const failed = await runAction(
      'deploy-backend',
      inputs({ 'env-file-content': ENV_BEFORE, 'auto-rollback': 'true', 'auto-rollback-restore': 'true' }),
      { secrets: [ENV_BEFORE], timeoutMs: 150_000 },
    );
    const log = failed.stdout + failed.stderr;
    expect(failed.code, log).not.toBe(0);
    expect(failed.outputs.ROLLED_BACK, log).toBe('true');
    expect(failed.outputs.DEPLOYED_BACKEND_TAG).toBe(r1);
    expect(log).toMatch(new RegExp(`Stopped ${API}[\\s\\S]*Backed up postgres:db`));
    expect(log).toContain(`The data of before the release was restored from backup ${failed.outputs.BACKUP_ID}`);
    expect(rows()).toBe(before);
    expect(historyLines().at(-1)).toMatchObject({ action: 'deploy-backend', tag: r3, outcome: 'rolled-back' });
  });

  it('data safety 7: a dump that does not load never leaves the database without its rows, even for a moment', async () => {
    const taken = await run('backup-backend', {});
    expect(taken.code).toBe(0);
    const id = taken.outputs.BACKUP_ID;
    // a dump pg_restore cannot read, with sums that still match
    const dump = join(BACKUPS, id, 'postgres-db.dump');
    writeFileSync(dump, 'not a dump\n');
    const sum = execFileSync('sha256sum', [dump], { encoding: 'utf8' }).split(' ')[0];
    const sums = join(BACKUPS, id, 'SHA256SUMS');
    writeFileSync(sums, readFileSync(sums, 'utf8').replace(/^\S+(  postgres-db\.dump)$/m, `${sum}$1`));
    const before = rows();
    // the rows are read again and again while the restore runs: each answer must be the rows of before
    const answers = new Set<string>();
    let restoring = true;
    const watch = (async () => {
      while (restoring) answers.add(await rowsNow());
    })();
    const failed = await run('rollback-backend', { tag: r1, 'restore-backup': id });
    restoring = false;
    await watch;
    expect(failed.code).not.toBe(0);
    expect(failed.stdout + failed.stderr).toMatch(/Restoring postgres:db failed/);
    // a connection refused for an instant (the undo's swap renames the database, ends its sessions) is not a database
    // without its rows: every answer the database gave is the rows of before
    const given = [...answers].filter((a) => !CONNECTION_LOST.test(a));
    expect(given).toEqual([before]);
    expect(rows()).toBe(before);
  });

  it("data safety 8: a backup of the server's default database (postgres) restores", async () => {
    const pg = (sql: string): string =>
      docker('exec', DB, 'psql', '-X', '-q', '-tA', '-U', 'shop', '-d', 'postgres', '-c', sql);
    pg("CREATE TABLE IF NOT EXISTS notes (body text); TRUNCATE notes; INSERT INTO notes VALUES ('kept')");
    const shop = rows();
    const only = { 'backup-databases': 'postgres:db/postgres', 'backup-volumes': '' };
    const taken = await run('backup-backend', only);
    expect(taken.code, taken.stdout + taken.stderr).toBe(0);
    pg("INSERT INTO notes VALUES ('after the backup')");

    const restored = await run('rollback-backend', { ...only, tag: r1, 'restore-backup': taken.outputs.BACKUP_ID });

    expect(restored.code, restored.stdout + restored.stderr).toBe(0);
    expect(restored.stdout).toContain('Database postgres:db/postgres restored');
    expect(pg('SELECT body FROM notes')).toBe('kept');
    // the application's own database was not touched
    expect(rows()).toBe(shop);
  });

  it('data safety 4: a backup the disk cannot hold fails, naming why, and leaves no backup behind', async () => {
    const small = '/volume1/nrb-small';
    const dir = `${small}/backups`;
    sh(`umount ${small} 2>/dev/null; rm -rf ${small}; mkdir -p ${small}
mount -t tmpfs -o size=4m,mode=0755 nrb-small ${small} && chown nas:nas ${small}`);
    try {
      // an upload that does not compress, larger than the room left
      docker('exec', API, 'sh', '-c', 'head -c 2000000 /dev/urandom > /uploads/big.bin');
      asNas(['sh', '-c', `head -c 3000000 /dev/zero > ${small}/ballast`]);
      const full = await run('backup-backend', { 'backup-dir': dir });
      expect(full.code).not.toBe(0);
      expect(full.stdout).toMatch(
        /Backup of volume uploads failed: writing volume-uploads\.tar\.gz failed.*is the disk full/,
      );
      expect(full.outputs.BACKUP_ID ?? '').toBe('');
      expect(readdirSync(dir)).toEqual([]);
      // with room again the same backup is whole
      asNas(['rm', `${small}/ballast`]);
      const whole = await run('backup-backend', { 'backup-dir': dir });
      expect(whole.code, whole.stdout + whole.stderr).toBe(0);
      expect(readdirSync(dir)).toEqual([whole.outputs.BACKUP_ID]);
      expect(JSON.parse(whole.outputs.BACKUPS)).toMatchObject([{ id: whole.outputs.BACKUP_ID, verifies: true }]);
    } finally {
      docker('exec', API, 'rm', '-f', '/uploads/big.bin');
      sh(`umount ${small} 2>/dev/null; rm -rf ${small}; true`);
    }
  });

  it('bad input fails before anything changes, naming it', async () => {
    const count = backupIds().length;
    const apiStarted = startedAt(API);
    const cases: Array<[string, Record<string, string>, RegExp]> = [
      ['backup-backend', { 'backup-volumes': 'nosuch' }, /nosuch/],
      ['backup-backend', { 'backup-databases': 'postgres:nosvc' }, /nosvc/],
      ['backup-backend', { 'backup-databases': 'mysql:db' }, /mysqldump.*MySQL/],
      ['deploy-backend', { 'backup-volumes': 'uploads\nnosuch' }, /nosuch/],
      [
        'rollback-backend',
        { tag: r1, 'restore-backup': '20200101T000000Z-2020.01.01-0000000' },
        /20200101T000000Z-2020\.01\.01-0000000.*does not exist/,
      ],
      ['backup-backend', { 'backup-databases': 'redis:cache' }, /backup-databases/],
    ];
    for (const [action, extra, message] of cases) {
      const failed = await run(action, extra);
      expect(failed.code, `${action} ${JSON.stringify(extra)}`).not.toBe(0);
      expect(failed.stdout + failed.stderr).toMatch(message);
    }
    expect(backupIds().length).toBe(count);
    expect(backupIds().filter((d) => d.startsWith('.partial'))).toEqual([]);
    expect(startedAt(API)).toBe(apiStarted);
    expect(containerImage(API)).toBe(`store-api:${r1}`);
  });
  it('data safety 7: the phase killed on the NAS in the middle of the load leaves the database as it was, and the next operation runs', async () => {
    // rows enough for the load to take a moment
    psql('CREATE TABLE bulk AS SELECT g AS n, md5(g::text) AS t FROM generate_series(1, 400000) g');
    const taken = await run('backup-backend', {});
    expect(taken.code, taken.stdout + taken.stderr).toBe(0);
    psql('DROP TABLE bulk');
    const before = rows();
    // asked on the server's default database: the one restored may be gone for a while
    const loading = (): string =>
      docker(
        'exec',
        DB,
        'psql',
        '-X',
        '-q',
        '-tA',
        '-U',
        'shop',
        '-d',
        'postgres',
        '-c',
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pg_restore'",
      );
    const restoring = run('rollback-backend', { tag: r1, 'restore-backup': taken.outputs.BACKUP_ID });
    let ended = false;
    void restoring.then(() => (ended = true));
    // the restore is loading: the NAS loses the phase there (a reboot, the OOM killer)
    while (!ended && loading() === '0') await new Promise((r) => setTimeout(r, 20));
    expect(ended, 'the load was seen').toBe(false);
    const phase = readdirSync('/proc')
      .filter((p) => /^\d+$/.test(p))
      .find((p) => {
        try {
          return readFileSync(`/proc/${p}/cmdline`, 'utf8').startsWith(`sh\0${REPO}/.git/nas-release/phase.sh\0`);
        } catch {
          return false;
        }
      });
    expect(phase, 'the phase runs').toBeDefined();
    process.kill(-Number(phase), 'SIGKILL');
    const killed = await restoring;
    expect(killed.code).not.toBe(0);
    // as before the restore: never empty, never half loaded
    expect(rows()).toBe(before);
    expect(() => psql('SELECT count(*) FROM bulk')).toThrow();
    // the next operation is not blocked
    const next = await run('backup-backend', {});
    expect(next.code, next.stdout + next.stderr).toBe(0);
  });

  it('several services: one backup before the release; a failed release restores the data before the services come back, every application service stopped, the database kept running', async () => {
    // a worker from the API's image on the same uploads (named for the stand-in's clean-up; the action finds it by its
    // compose labels); the password in the file (no env file here)
    const compose = COMPOSE.replace('PGPASSWORD: "${DB_PASSWORD:-}"', `PGPASSWORD: "${DB_PASSWORD}"`).replace(
      '\nvolumes:\n  pgdata:',
      '\n  worker:\n    image: store-api:${WORKER_TAG:-latest}\n    container_name: nrb-worker\n    network_mode: host\n    command: ["sleep", "100000"]\n    volumes:\n      - uploads:/uploads\n    stop_grace_period: 1s\nvolumes:\n  pgdata:',
    );
    const services = 'api tag-variable=STORE_TAG\nworker tag-variable=WORKER_TAG';
    const worker = (): string =>
      docker(
        'ps',
        '-q',
        '--filter',
        'label=com.docker.compose.project=store',
        '--filter',
        'label=com.docker.compose.service=worker',
      );
    const good = tagOf(pushCommit({ ...GOOD, 'store/docker-compose.yml': compose }, 'store: a worker beside the API'));
    const first = await run('deploy-backend', { services });
    expect(first.code, first.stdout + first.stderr).toBe(0);
    expect(first.outputs.BACKUP_ID).toMatch(/^\d{8}T\d{6}Z-/);
    psql("INSERT INTO items (name) VALUES ('quince')");
    // the release that breaks writes r2.txt: the data of before holds none, whatever the cases before left
    docker('exec', API, 'rm', '-f', '/uploads/r2.txt');
    const before = rows();
    const files = uploads();
    const dbStarted = startedAt(DB);

    const bad = tagOf(
      pushCommit({ ...BREAKING, 'store/docker-compose.yml': compose }, 'store: rename items, with the worker'),
    );
    const failed = await run('deploy-backend', { services, 'auto-rollback': 'true', 'auto-rollback-restore': 'true' });

    const log = failed.stdout + failed.stderr;
    expect(failed.code, log).not.toBe(0);
    expect(failed.outputs.ROLLED_BACK, log).toBe('true');
    // one backup, of the release that ran, taken before anything changed
    expect(failed.outputs.BACKUP_ID).toMatch(new RegExp(`^\\d{8}T\\d{6}Z-${good.replace(/\./g, '\\.')}$`));
    expect(log.match(/Backup \d{8}T\d{6}Z-\S+ written/g)?.length).toBe(2); // the backup and the safety backup
    // both services are back on the release of before, on its data: rows, table and files
    expect(containerImage(API)).toBe(`store-api:${good}`);
    expect(containerImage(worker().split('\n')[0])).toBe(`store-api:${good}`);
    expect(rows()).toBe(before);
    expect(uploads()).toEqual(files);
    expect(uploads()).not.toContain('r2.txt');
    // the application services were stopped for the restore; the database was not
    expect(log).toContain(`Stopped ${API}`);
    expect(log).toContain('Stopped nrb-worker');
    expect(startedAt(DB)).toBe(dbStarted);
    expect(log).toMatch(/The data of before the release was restored from backup \d{8}T\d{6}Z-/);
    expect(historyLines().at(-1)).toMatchObject({
      action: 'deploy-backend',
      tag: bad,
      outcome: 'rolled-back',
      detail: expect.stringMatching(/^health check failed: api\b.*, data of before restored$/),
    });
  });

  it('several services: rollback-backend with restore-backup puts the data back first, then the services at their targets, the database kept running', async () => {
    // after the case above: api and worker run the good release of several services
    const good = containerImage(API).split(':')[1];
    const taken = await run('backup-backend', {});
    expect(taken.code, taken.stdout + taken.stderr).toBe(0);
    const before = rows();
    psql("INSERT INTO items (name) VALUES ('written-after-the-backup')");
    const dbStarted = startedAt(DB);

    const back = await run('rollback-backend', {
      services: 'api,worker',
      tag: good,
      'restore-backup': taken.outputs.BACKUP_ID,
    });

    const log = back.stdout + back.stderr;
    expect(back.code, log).toBe(0);
    expect(back.outputs).toMatchObject({ RESTORED_BACKUP: taken.outputs.BACKUP_ID });
    expect(back.outputs.SAFETY_BACKUP_ID).toMatch(/^\d{8}T\d{6}Z-/);
    expect(rows()).toBe(before);
    // both services stopped for the restore, then recreated on the restored data; the database was not stopped
    expect(log).toContain(`Stopped ${API}`);
    expect(log).toContain('Stopped nrb-worker');
    expect(log.indexOf('Stopped nrb-worker')).toBeLessThan(log.indexOf('Database postgres:db restored'));
    expect(containerState(API)).toBe('running healthy');
    expect(docker('inspect', '--format', '{{.State.Running}}', 'nrb-worker')).toBe('true');
    expect(startedAt(DB)).toBe(dbStarted);
    expect(historyLines().at(-1)).toMatchObject({
      action: 'rollback-backend',
      outcome: 'success',
      backup: taken.outputs.BACKUP_ID,
    });
  });
});
