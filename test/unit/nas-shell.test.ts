import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: a build script in plain JavaScript, without types
import { generate, GENERATED, shellcheck, shellFiles, SHELL_DIR, upToDate } from '../../scripts/nas-shell.mjs';
import { LIBRARIES } from '../../src/nas-shell/libraries.generated.js';
import { librariesFor } from '../../src/nas-shell/link.js';
import { logsProgram, statusQuestions } from '../../src/programs/day-two.js';
import { checksProgram, tagRelease, verifyState } from '../../src/programs/monitoring.js';
import { Renderer, bareTools } from '../../src/remote/command.js';
import { detached } from '../../src/remote/detached.js';
import { lockHolder } from '../../src/remote/lock.js';
import { PRELUDE, VALUE_CHUNK, exitCodeDefinitions, programText } from '../../src/remote/program.js';
import { Shell, sh } from '../../src/remote/shell.js';
import { renderedProgram, renderedState, shellProblems } from '../support/rendered.js';

const ROOT = resolve(__dirname, '../..');
const MARKER = '@@m@@';
const defined = (text: string): string[] => [...text.matchAll(/\b(NR_EXIT_[A-Z0-9_]+)=\d+/g)].map(([, n]) => n).sort();
const syntax = (cmd: string, args: string[], text: string): string => {
  const r = spawnSync(cmd, [...args, '-n'], { input: text, encoding: 'utf8' });
  return r.status === 0 ? '' : `${r.stderr}`;
};

describe('the NAS shell libraries (src/nas-shell/*.sh)', () => {
  it('the bundles get them from a generated module that matches the .sh files', () => {
    expect(GENERATED).toBe('src/nas-shell/libraries.generated.ts');
    expect(readFileSync(join(ROOT, GENERATED), 'utf8')).toBe(generate(ROOT));
    expect(upToDate(ROOT)).toBe(true);
    expect(Object.keys(LIBRARIES)).toHaveLength(shellFiles(ROOT).length);
  });

  it('leave their comments behind but keep shellcheck directives', () => {
    const source = readFileSync(join(ROOT, SHELL_DIR, 'health.sh'), 'utf8');
    expect(source).toMatch(/^# nr_http_ok URL/m);
    expect(LIBRARIES.health).not.toMatch(/^\s*# nr_http_ok/m);
    expect(LIBRARIES.health).toMatch(/^\s*# shellcheck disable=SC2046/m);
  });

  it('are clean for shellcheck -s sh, and parse with dash and BusyBox sh', () => {
    expect(shellcheck(ROOT)).toBe('');
    for (const [name, text] of Object.entries(LIBRARIES)) {
      expect(syntax('dash', [], text), name).toBe('');
      expect(syntax('busybox', ['sh'], text), name).toBe('');
    }
  });

  it("the prelude cuts a line where VALUE_CHUNK says (the runner's longest value line)", () => {
    expect(PRELUDE.text).toContain(`%.${VALUE_CHUNK}s`);
    expect(PRELUDE.text).toContain(`-gt ${VALUE_CHUNK}`);
    expect(PRELUDE.text).toContain(`fold -b -w ${VALUE_CHUNK}`);
  });

  it('every exit code a library names is declared (the whole action loaded)', async () => {
    await import('../../src/release/run.js');
    const declared = defined(exitCodeDefinitions().text);
    const named = Object.values(LIBRARIES).flatMap((t) => [...t.matchAll(/NR_EXIT_[A-Z0-9_]+/g)].map(([n]) => n));
    expect(named.length).toBeGreaterThan(0);
    for (const name of named) expect(declared, name).toContain(name);
  });
});

describe('a program gets the libraries it calls, and only those', () => {
  it('a call links the library and what it calls in turn; a variable of the same name does not', () => {
    expect(librariesFor('nr_say ok hi')).toEqual([]);
    expect(librariesFor('nr_wait_stack 60 a b')).toEqual([LIBRARIES.health]);
    // the monitoring restart waits with the health library
    expect(librariesFor('nr_stack_health 60 a')).toEqual([LIBRARIES.health, LIBRARIES.monitoring]);
    expect(librariesFor('nr_state=1; echo "$nr_state" ${nr_state}')).toEqual([]);
    // a program that holds the library already does not get it twice
    expect(librariesFor(`${LIBRARIES.health}\nnr_wait_stack 60 a`)).toEqual([]);
  });

  it('a detached phase links its own libraries inside the phase, not in the follower around it', () => {
    const text = programText({
      path: '/bin',
      marker: MARKER,
      script: detached('/tmp/x', sh`nr_wait_stack 5 a`),
    });
    expect(text.split(LIBRARIES.health)).toHaveLength(2);
    expect(text.indexOf(LIBRARIES.health)).toBeGreaterThan(text.indexOf("<<'NR_PHASE_END_"));
    expect(text.split(LIBRARIES.detached)).toHaveLength(2);
  });
});

describe('a program defines only the exit codes it uses', () => {
  it('a program that names none defines none', () => {
    const text = programText({ path: '/bin', marker: MARKER, script: sh`nr_say ok hi` });
    expect(defined(text)).toEqual([]);
    expect(syntax('dash', [], text)).toBe('');
  });

  it("the monitoring tag program defines its own two, and the lock holder the lock's", async () => {
    await import('../../src/release/run.js');
    const tag = renderedProgram(
      tagRelease(new Renderer(bareTools, false), {
        repo: '/r',
        remote: 'origin',
        tag: 'v1',
        commit: 'a'.repeat(40),
        message: 'm',
        push: false,
      }),
    );
    expect(defined(tag)).toEqual(['NR_EXIT_TAG_NOT_CREATED', 'NR_EXIT_TAG_ON_ANOTHER_COMMIT']);
    const holder = lockHolder({
      stateDir: '/r/.git/nas-release',
      holder: 'h',
      timeout: 5,
      marker: MARKER,
      path: '/bin',
    });
    expect(defined(holder.text)).toEqual([
      'NR_EXIT_LOCK_TIMEOUT',
      'NR_EXIT_NO_REPO',
      'NR_EXIT_NO_STATE_DIR',
      'NR_EXIT_TOOL_MISSING',
    ]);
  });

  it('and still exits with the number its enum gives', () => {
    const text = programText({
      path: '/usr/bin:/bin',
      marker: MARKER,
      script: sh`nr_tag_create() { false; }
nr_git() { :; }
nr_tag_release /r v1 abc`,
    });
    const r = spawnSync('dash', ['-s'], { input: text, encoding: 'utf8' });
    expect(r.status).toBe(61);
  });
});

describe('the monitoring libraries run with dash and BusyBox sh', () => {
  /** Runs a program with a fake nr_docker and nr_git; its status and its marker lines. */
  const run = (shell: string[], script: string): { status: number | null; markers: string[]; out: string } => {
    const text = programText({ path: '/usr/bin:/bin', marker: MARKER, script: new Shell(script) });
    const r = spawnSync(shell[0], [...shell.slice(1), '-s'], { input: text, encoding: 'utf8', timeout: 30_000 });
    const markers = r.stdout
      .split('\n')
      .filter((l) => l.startsWith(`${MARKER} `))
      .map((l) => l.slice(MARKER.length + 1));
    return { status: r.status, markers, out: r.stdout };
  };
  const docker = `nr_docker() {
  case $1 in
    inspect) case $4 in api) echo 'running healthy 0' ;; *) echo 'running unhealthy 0' ;; esac ;;
    logs) echo "last line of $4" ;;
  esac
}`;
  for (const shell of [['dash'], ['busybox', 'sh']]) {
    it(`${shell.join(' ')}: an unhealthy stack prints the unhealthy containers' logs and exits StackUnhealthy`, async () => {
      const { MonitoringExit } = await import('../../src/programs/monitoring.js');
      const r = run(shell, `${docker}\nnr_stack_health 0 api "db 1"`);
      expect(r.status).toBe(MonitoringExit.StackUnhealthy);
      expect(r.markers).toContain('group Last 50 log lines of db 1');
      expect(r.markers).not.toContain('group Last 50 log lines of api');
      expect(r.out).toContain('last line of db 1');
    });

    it(`${shell.join(' ')}: a tag on another commit stops the release; the same commit reuses it`, async () => {
      const { MonitoringExit } = await import('../../src/programs/monitoring.js');
      const git = (commit: string) => `nr_git() { echo ${commit}; }\nnr_tag_create() { echo created; }`;
      const other = run(shell, `${git('b'.repeat(40))}\nnr_tag_release /r v1 ${'a'.repeat(40)}`);
      expect(other.status).toBe(MonitoringExit.TagOnAnotherCommit);
      expect(other.out).not.toContain('created');
      const same = run(shell, `${git('a'.repeat(40))}\nnr_tag_release /r v1 ${'a'.repeat(40)}`);
      expect(same.status).toBe(0);
      expect(same.markers).toEqual(['ok Tag v1 already exists on this commit (a re-run): reusing it']);
      expect(same.out).not.toContain('created');
    });
  }
});

describe('rendered programs the flow tests do not drive are clean POSIX sh', () => {
  const r = new Renderer(
    {
      docker: ['/usr/local/bin/docker'],
      compose: ['/usr/local/bin/docker-compose'],
      git: ['/usr/bin/git'],
      sudo: true,
    },
    false,
  );
  const dry = new Renderer(bareTools, true);
  const cases: Record<string, string> = {
    'status (day two)': renderedState(statusQuestions('/volume1/my apps/repo', 'backend/docker-compose.yml')),
    'verify-monitoring state': renderedState(
      verifyState('/volume1/my apps/repo/.git/nas-release', [], '', { containers: ['prometheus', "it's"] }),
    ),
    'verify checks': renderedProgram(checksProgram([], '', { containers: ['grafana'] })),
    ...Object.fromEntries(
      [true, false].flatMap((follow) =>
        ['', 'api'].map((service) => [
          `logs (follow ${follow}, service '${service}')`,
          renderedProgram(
            logsProgram(r, {
              repo: '/volume1/my apps/repo',
              composeFile: 'docker-compose.yml',
              service,
              tail: 50,
              follow,
            }),
          ),
        ]),
      ),
    ),
    ...Object.fromEntries(
      (
        [
          ['tag (push)', r],
          ['tag (dry run)', dry],
        ] as const
      ).map(([name, renderer]) => [
        name,
        renderedProgram(
          tagRelease(renderer, {
            repo: '/volume1/my apps/repo',
            remote: 'origin',
            tag: 'v1 $(x)',
            commit: 'a'.repeat(40),
            message: "it's",
            push: true,
          }),
        ),
      ]),
    ),
  };
  for (const [name, text] of Object.entries(cases))
    it(name, () => {
      expect(shellProblems(text)).toEqual([]);
    });

  it('the check does catch a program dash, BusyBox or shellcheck refuses', () => {
    const check = (script: string): string[] =>
      shellProblems(programText({ path: '/bin', marker: MARKER, script: new Shell(script) }));
    expect(check('if true; then echo')).toEqual([
      expect.stringContaining('dash -n'),
      expect.stringContaining('busybox sh -n'),
      expect.stringContaining('shellcheck'),
    ]);
    // bash's == in test: dash and BusyBox parse it, shellcheck -s sh says it is not POSIX
    const bashism = check('[ "$1" == x ] && echo yes');
    expect(bashism).toHaveLength(1);
    expect(bashism[0]).toMatch(/SC3014/);
  });
});
