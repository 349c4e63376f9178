import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Renderer, bareTools, change, command, resolve, toolFunctions, type Tools } from '../../src/remote/command.js';
import { compose, docker } from '../../src/remote/docker.js';
import { git } from '../../src/remote/git.js';
import { parseTools, probeTools } from '../../src/remote/nas.js';
import { programText } from '../../src/remote/program.js';
import { sh, type Shell } from '../../src/remote/shell.js';

const nasTools: Tools = {
  docker: ['/usr/local/bin/docker'],
  compose: ['/usr/local/bin/docker', 'compose'],
  git: ['/usr/bin/git'],
  sudo: false,
};
const sudoTools: Tools = { ...nasTools, sudo: true };
const v1Tools: Tools = { ...nasTools, compose: ['/usr/local/bin/docker-compose'] };

const work = mkdtempSync(join(tmpdir(), 'command-test-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Runs a script as a program through /bin/sh, as the NAS would, and returns what it printed. */
function runProgram(script: Shell): string {
  return execFileSync('/bin/sh', ['-s'], {
    input: programText({ path: '/usr/bin:/bin', marker: '@@m@@', script }),
    encoding: 'utf8',
  });
}

describe('resolve', () => {
  it('leaves the tool names alone before the NAS is known', () => {
    expect(resolve(command(['docker', 'ps']), bareTools)).toEqual(['docker', 'ps']);
    expect(resolve(command(['compose', 'ps']), bareTools)).toEqual(['docker', 'compose', 'ps']);
    expect(resolve(command(['git', 'status']), bareTools)).toEqual(['git', 'status']);
  });

  it('puts the tools found on the NAS in place of their names', () => {
    expect(resolve(command(['docker', 'ps', '-a']), nasTools)).toEqual(['/usr/local/bin/docker', 'ps', '-a']);
    expect(resolve(command(['compose', 'up']), nasTools)).toEqual(['/usr/local/bin/docker', 'compose', 'up']);
    expect(resolve(command(['compose', 'up']), v1Tools)).toEqual(['/usr/local/bin/docker-compose', 'up']);
    expect(resolve(command(['git', 'fetch']), nasTools)).toEqual(['/usr/bin/git', 'fetch']);
    expect(resolve(command(['curl', '-fsS', 'http://x']), nasTools)).toEqual(['curl', '-fsS', 'http://x']);
  });

  it('runs only docker and compose through sudo -n', () => {
    expect(resolve(command(['docker', 'ps']), sudoTools)).toEqual(['sudo', '-n', '/usr/local/bin/docker', 'ps']);
    expect(resolve(command(['compose', 'up']), sudoTools)).toEqual([
      'sudo',
      '-n',
      '/usr/local/bin/docker',
      'compose',
      'up',
    ]);
    expect(resolve(command(['git', 'fetch']), sudoTools)).toEqual(['/usr/bin/git', 'fetch']);
    expect(resolve(command(['curl', 'x']), sudoTools)).toEqual(['curl', 'x']);
  });

  it("passes the environment through env, or as sudo's own VAR=value arguments (a SETENV rule, never `env` under sudo)", () => {
    expect(resolve(command(['compose', 'up'], { BACKEND_TAG: '2026.01.01-abcdef0', _X1: 'a b' }), nasTools)).toEqual([
      'env',
      'BACKEND_TAG=2026.01.01-abcdef0',
      '_X1=a b',
      '/usr/local/bin/docker',
      'compose',
      'up',
    ]);
    expect(resolve(command(['compose', 'up'], { T: 'v' }), sudoTools)).toEqual([
      'sudo',
      '-n',
      'T=v',
      '/usr/local/bin/docker',
      'compose',
      'up',
    ]);
    expect(resolve(command(['compose', 'up'], {}), nasTools)).toEqual(['/usr/local/bin/docker', 'compose', 'up']);
  });

  it('refuses what is not an environment variable name', () => {
    for (const bad of ['', '1TAG', 'A-B', 'A B', 'A=B', 'A;id', '$(id)', 'É']) {
      expect(() => resolve(command(['compose', 'up'], { [bad]: 'x' }), nasTools)).toThrow(
        /not an environment variable name/,
      );
    }
  });

  it('builds a command without env when none is given', () => {
    expect(command(['docker'])).toEqual({ argv: ['docker'], changes: false });
    expect(command(['docker'], { A: '1' })).toEqual({ argv: ['docker'], env: { A: '1' }, changes: false });
  });

  it('marks what changes the NAS, so a dry run cannot run it', () => {
    const changing = [
      docker.build({ image: 'i', tag: 't', context: '.' }),
      docker.remove(['c']),
      docker.removeImages(['i:t']),
      docker.pruneDangling(),
      compose.up({ file: 'f', service: 's', tagVariable: 'T', tag: 't' }),
      compose.down('f'),
      compose.upAll('f'),
      git.fetch('/r', 'origin'),
      git.fetchAll('/r'),
      git.stash('/r', 'm'),
      git.resetHard('/r'),
      git.clean('/r'),
      git.checkoutBranch('/r', 'main', 't'),
      git.setUpstream('/r', 'origin', 'main'),
      git.checkoutDetached('/r', 'x'),
      git.tagAnnotated('/r', 't', 'c', 'm'),
      git.pushTag('/r', 'origin', 't'),
    ];
    for (const cmd of changing) expect(cmd.changes, cmd.argv.join(' ')).toBe(true);
    const r = new Renderer(bareTools, false);
    // The type system refuses it; at run time too, in case a cast slips through.
    expect(() => r.run(docker.remove(['c']) as unknown as ReturnType<typeof command>)).toThrow(/changes the NAS/);
  });
});

describe('Renderer', () => {
  // A stand-in "docker" that shows its arguments, so the rendered text can be run for real.
  const showTools: Tools = {
    docker: ['printf', '[%s]'],
    compose: ['printf', '<%s>'],
    git: ['printf', '{%s}'],
    sudo: false,
  };

  it('renders a command that hands every argument to the tool unchanged', () => {
    const r = new Renderer(showTools, false);
    const args = ['a b', "it's", '$(touch x)', '`id`', '*', '', '-n'];
    expect(r.run(command(['docker', ...args])).text).toBe(
      `printf '[%s]' 'a b' 'it'\\''s' '$(touch x)' '\`id\`' '*' '' -n`,
    );
    expect(
      execFileSync('/bin/sh', ['-c', r.run(command(['docker', ...args])).text], { cwd: work, encoding: 'utf8' }),
    ).toBe(args.map((a) => `[${a}]`).join(''));
    expect(existsSync(join(work, 'x'))).toBe(false);
  });

  it('passes the environment to the tool', () => {
    const r = new Renderer({ ...showTools, compose: ['sh', '-c', 'printf "%s" "$BACKEND_TAG"'] }, false);
    expect(
      execFileSync('/bin/sh', ['-c', r.run(command(['compose'], { BACKEND_TAG: 'a $b' })).text], { encoding: 'utf8' }),
    ).toBe('a $b');
  });

  it('runs a state-changing command for real when not a dry run', () => {
    const file = join(work, 'changed');
    const r = new Renderer({ ...bareTools, docker: ['touch'] }, false);
    runProgram(r.change(change(['docker', file])));
    expect(existsSync(file)).toBe(true);
  });

  it('in a dry run prints a state-changing command instead of running it', () => {
    const file = join(work, 'dry run file');
    const r = new Renderer({ ...bareTools, docker: ['touch'] }, true);
    const out = runProgram(r.change(change(['docker', file])));
    expect(out).toBe(`@@m@@ info dry-run, would run: touch '${file}'\n`);
    expect(existsSync(file)).toBe(false);
  });

  it('in a dry run still runs read-only commands', () => {
    const r = new Renderer(showTools, true);
    expect(runProgram(r.run(command(['git', 'status'])))).toBe('{status}');
  });

  it('resolves with its tools', () => {
    expect(new Renderer(sudoTools, false).resolve(command(['docker', 'ps']))).toEqual([
      'sudo',
      '-n',
      '/usr/local/bin/docker',
      'ps',
    ]);
  });
});

describe('toolFunctions', () => {
  it('defines nr_docker, nr_compose and nr_git bound to the tools', () => {
    expect(toolFunctions(nasTools).text).toBe(
      [
        'nr_docker() { /usr/local/bin/docker "$@"; }',
        'nr_compose() { /usr/local/bin/docker compose "$@"; }',
        'nr_git() { /usr/bin/git "$@"; }',
      ].join('\n'),
    );
  });

  it('puts sudo -n in front of docker and compose only', () => {
    const text = toolFunctions(sudoTools).text;
    expect(text).toContain('nr_docker() { sudo -n /usr/local/bin/docker "$@"; }');
    expect(text).toContain('nr_compose() { sudo -n /usr/local/bin/docker compose "$@"; }');
    expect(text).toContain('nr_git() { /usr/bin/git "$@"; }');
  });

  it('works in a real shell, arguments intact', () => {
    const tools: Tools = {
      docker: ['printf', '[%s]'],
      compose: ['printf', '<%s>'],
      git: ['printf', '{%s}'],
      sudo: false,
    };
    const out = runProgram(sh`${toolFunctions(tools)}
nr_docker ${['a b', '$x']}; nr_compose up; nr_git ${"it's"}`);
    expect(out).toBe("[a b][$x]<up>{it's}");
  });

  it('quotes a tool path with spaces', () => {
    expect(toolFunctions({ ...nasTools, git: ['/volume1/@appstore/Git Server/bin/git'] }).text).toContain(
      `nr_git() { '/volume1/@appstore/Git Server/bin/git' "$@"; }`,
    );
  });
});

describe('docker and compose commands', () => {
  it('builds an image with the tag', () => {
    expect(
      resolve(
        docker.build({ image: 'scanium-backend', tag: '2026.01.10-abcdef0', context: '/repo/backend' }),
        nasTools,
      ),
    ).toEqual(['/usr/local/bin/docker', 'build', '--tag', 'scanium-backend:2026.01.10-abcdef0', '/repo/backend']);
    expect(docker.build({ image: 'i', tag: 't', context: 'ctx', dockerfile: 'ctx/Dockerfile.prod' }).argv).toEqual([
      'docker',
      'build',
      '--tag',
      'i:t',
      '--file',
      'ctx/Dockerfile.prod',
      'ctx',
    ]);
  });

  it('reads images and containers', () => {
    expect(docker.imageExists('img:tag').argv).toEqual([
      'docker',
      'image',
      'inspect',
      '--format',
      '{{.Id}}',
      'img:tag',
    ]);
    expect(docker.imageTags('img').argv).toEqual([
      'docker',
      'image',
      'ls',
      'img',
      '--format',
      '{{.Tag}} {{.Size}} {{.ID}} {{.CreatedAt}}',
    ]);
    expect(docker.containerImage('c').argv).toEqual([
      'docker',
      'container',
      'inspect',
      '--format',
      '{{.Config.Image}}',
      'c',
    ]);
    expect(docker.logs('c', 50).argv).toEqual(['docker', 'logs', '--tail', '50', 'c']);
  });

  it('removes containers and images by name', () => {
    expect(docker.remove(['a', 'b']).argv).toEqual(['docker', 'rm', '-f', 'a', 'b']);
    expect(docker.removeImages(['i:1', 'i:2']).argv).toEqual(['docker', 'image', 'rm', 'i:1', 'i:2']);
    expect(docker.pruneDangling().argv).toEqual(['docker', 'image', 'prune', '--force']);
  });

  it('recreates one service with the tag in its variable, without building or touching its dependencies', () => {
    const up = compose.up({
      file: '/repo/backend/docker-compose.yml',
      service: 'api',
      tagVariable: 'BACKEND_TAG',
      tag: '2026.01.10-abcdef0',
    });
    expect(resolve(up, sudoTools)).toEqual([
      'sudo',
      '-n',
      'BACKEND_TAG=2026.01.10-abcdef0',
      '/usr/local/bin/docker',
      'compose',
      '--file',
      '/repo/backend/docker-compose.yml',
      'up',
      '--detach',
      '--no-build',
      '--no-deps',
      'api',
    ]);
    expect(compose.up({ file: 'f', service: 's', tagVariable: 'T', tag: 't', force: true }).argv).toEqual([
      'compose',
      '--file',
      'f',
      'up',
      '--detach',
      '--no-build',
      '--no-deps',
      '--force-recreate',
      's',
    ]);
  });

  it('refuses a tag variable that is not a variable name', () => {
    expect(() => resolve(compose.up({ file: 'f', service: 's', tagVariable: 'X;id', tag: 't' }), nasTools)).toThrow(
      /not an environment variable name/,
    );
  });

  it('restarts and lists the whole stack', () => {
    expect(resolve(compose.down('/r/m.yml'), v1Tools)).toEqual([
      '/usr/local/bin/docker-compose',
      '--file',
      '/r/m.yml',
      'down',
      '--remove-orphans',
    ]);
    expect(compose.upAll('f').argv).toEqual(['compose', '--file', 'f', 'up', '--detach', '--remove-orphans']);
    expect(compose.project('f').argv).toEqual(['compose', '--file', 'f', 'config', '--services']);
  });
});

describe('git commands', () => {
  it('always names the checkout with -C', () => {
    for (const cmd of [
      git.fetch('/r', 'origin'),
      git.status('/r'),
      git.stash('/r', 'm'),
      git.resetHard('/r'),
      git.clean('/r'),
      git.isAncestor('/r', 'a', 'b'),
      git.checkoutBranch('/r', 'main', 't'),
      git.setUpstream('/r', 'origin', 'main'),
      git.checkoutDetached('/r', 'x'),
      git.revParse('/r', 'x'),
      git.tagAnnotated('/r', 't', 'c', 'm'),
    ]) {
      expect(cmd.argv.slice(0, 3)).toEqual(['git', '-C', '/r']);
      expect(cmd.env).toBeUndefined();
    }
    // A push never waits for a password prompt on the NAS.
    expect(git.pushTag('/r', 'origin', 't').argv.slice(0, 3)).toEqual(['git', '-C', '/r']);
    expect(git.pushTag('/r', 'origin', 't').env).toEqual({
      GIT_TERMINAL_PROMPT: '0',
      GIT_SSH_COMMAND: 'ssh -o BatchMode=yes',
    });
  });

  it('fetches tags too, and reads the status with untracked files', () => {
    expect(git.fetch('/r', 'origin').argv).toEqual([
      'git',
      '-C',
      '/r',
      'fetch',
      '--quiet',
      '--tags',
      '--force',
      'origin',
    ]);
    expect(git.status('/r').argv).toEqual([
      'git',
      '-C',
      '/r',
      '--no-optional-locks',
      'status',
      '--porcelain',
      '--untracked-files=all',
    ]);
  });

  it('keeps a stash message as one argument', () => {
    expect(git.stash('/my repo', 'nas-release: local changes before run 42').argv).toEqual([
      'git',
      '-C',
      '/my repo',
      'stash',
      'push',
      '--include-untracked',
      '--quiet',
      '-m',
      'nas-release: local changes before run 42',
    ]);
  });

  it('moves the branch, tags and pushes exactly the tag', () => {
    expect(git.checkoutBranch('/r', 'main', 'refs/remotes/origin/main').argv).toEqual([
      'git',
      '-C',
      '/r',
      'checkout',
      '--quiet',
      '-B',
      'main',
      'refs/remotes/origin/main',
    ]);
    expect(git.setUpstream('/r', 'origin', 'main').argv).toEqual([
      'git',
      '-C',
      '/r',
      'branch',
      '--quiet',
      '--set-upstream-to=origin/main',
      'main',
    ]);
    expect(git.checkoutDetached('/r', 'monitoring-2026.01.01-abcdef0').argv).toEqual([
      'git',
      '-C',
      '/r',
      'checkout',
      '--quiet',
      '--detach',
      'monitoring-2026.01.01-abcdef0',
    ]);
    expect(git.tagAnnotated('/r', 'monitoring-2026.01.01-abcdef0', 'abc', 'Monitoring release').argv).toEqual([
      'git',
      '-C',
      '/r',
      'tag',
      '-a',
      'monitoring-2026.01.01-abcdef0',
      'abc',
      '-m',
      'Monitoring release',
    ]);
    expect(git.pushTag('/r', 'origin', 'monitoring-2026.01.01-abcdef0').argv).toEqual([
      'git',
      '-C',
      '/r',
      'push',
      '--quiet',
      'origin',
      'refs/tags/monitoring-2026.01.01-abcdef0',
    ]);
    expect(git.isAncestor('/r', 'abc', 'refs/remotes/origin/main').argv).toEqual([
      'git',
      '-C',
      '/r',
      'merge-base',
      '--is-ancestor',
      'abc',
      'refs/remotes/origin/main',
    ]);
    expect(git.revParse('/r', 'abc^{commit}').argv).toEqual([
      'git',
      '-C',
      '/r',
      'rev-parse',
      '--verify',
      '--quiet',
      'abc^{commit}',
    ]);
  });
});

describe('parseTools', () => {
  const probe = (over: Record<string, string> = {}): Map<string, string> =>
    new Map(
      Object.entries({
        path_git: '/usr/bin/git',
        path_docker: '/usr/local/bin/docker',
        'path_docker-compose': '/usr/local/bin/docker-compose',
        path_flock: '/usr/bin/flock',
        path_setsid: '/usr/bin/setsid',
        path_timeout: '/usr/bin/timeout',
        path_curl: '/usr/bin/curl',
        path_wget: '',
        uname: 'Linux x86_64',
        git_version: 'git version 2.39.2',
        docker_version: '24.0.2 ',
        compose_v2: 'v2.20.1',
        ...over,
      }),
    );
  const opts = { sudo: false, compose: 'auto' as const, remotePath: '/usr/local/bin' };

  it('uses the tools the NAS has, with the compose plugin first under auto', () => {
    const facts = parseTools(probe(), opts);
    expect(facts.tools).toEqual({
      docker: ['/usr/local/bin/docker'],
      compose: ['/usr/local/bin/docker', 'compose'],
      git: ['/usr/bin/git'],
      sudo: false,
    });
    expect(facts.describe.join('\n')).toContain('docker compose v2.20.1');
    expect(facts.describe.join('\n')).toContain('/usr/bin/git (2.39.2)');
  });

  it('falls back to docker-compose under auto, and uses it when asked', () => {
    const standalone = parseTools(probe({ compose_v2: '' }), opts);
    expect(standalone.tools.compose).toEqual(['/usr/local/bin/docker-compose']);
    expect(standalone.describe.join('\n')).toContain(
      'compose: /usr/local/bin/docker-compose (standalone docker-compose)',
    );
    expect(parseTools(probe(), { ...opts, compose: 'docker-compose' }).tools.compose).toEqual([
      '/usr/local/bin/docker-compose',
    ]);
  });

  it('explains a missing compose, changing nothing', () => {
    expect(() => parseTools(probe({ compose_v2: '' }), { ...opts, compose: 'docker compose' })).toThrow(
      /compose-command is 'docker compose', but .*no compose plugin.*Nothing was changed/,
    );
    expect(() => parseTools(probe({ compose_v2: '', 'path_docker-compose': '' }), opts)).toThrow(
      /neither 'docker compose' nor 'docker-compose'.*Nothing was changed/,
    );
  });

  it('names each missing tool and where to get it', () => {
    for (const tool of ['git', 'docker', 'flock', 'setsid', 'timeout']) {
      expect(() => parseTools(probe({ [`path_${tool}`]: '' }), opts)).toThrow(
        new RegExp(`The NAS has no '${tool}' on the PATH \\(/usr/local/bin:\\$PATH\\).*Nothing was changed`),
      );
    }
  });

  it('explains a docker engine it cannot reach, with a hint for a permission problem', () => {
    expect(() =>
      parseTools(
        probe({ docker_version: 'permission denied while trying to connect to the Docker daemon socket' }),
        opts,
      ),
    ).toThrow(/docker group.*sudo: true/);
    expect(() => parseTools(probe({ docker_version: '' }), opts)).toThrow(/no answer.*is the Docker engine running/);
  });

  it('with sudo, needs sudo to work without a password, and then marks the tools', () => {
    expect(() =>
      parseTools(probe({ docker_version: 'sudo: a password is required' }), { ...opts, sudo: true }),
    ).toThrow(
      /sudo: a password is required.*NOPASSWD:SETENV: \/usr\/local\/bin\/docker, \/usr\/local\/bin\/docker-compose/,
    );
    expect(parseTools(probe(), { ...opts, sudo: true }).tools.sudo).toBe(true);
  });

  it('with sudo and a standalone docker-compose, needs sudo to allow that one too', () => {
    expect(() => parseTools(probe({ compose_v2: '' }), { ...opts, sudo: true })).toThrow(
      /does not let this user run \/usr\/local\/bin\/docker-compose without a password.*NOPASSWD:SETENV: \/usr\/local\/bin\/docker, \/usr\/local\/bin\/docker-compose.*Nothing was changed/,
    );
    expect(
      parseTools(probe({ compose_v2: '', sudo_compose: 'allowed' }), { ...opts, sudo: true }).tools.compose,
    ).toEqual(['/usr/local/bin/docker-compose']);
  });

  it('reads what the probe prints on a real machine', () => {
    const text = programText({ path: '/usr/bin:/bin', marker: '@@m@@', script: probeTools(false) });
    const out = execFileSync('/bin/sh', ['-s'], { input: text, encoding: 'utf8' });
    const values = new Map(
      out
        .split('\n')
        .filter((l) => l.startsWith('@@m@@ value '))
        .map((l) => {
          const body = l.slice('@@m@@ value '.length);
          const at = body.indexOf(' ');
          return [at < 0 ? body : body.slice(0, at), at < 0 ? '' : body.slice(at + 1)] as [string, string];
        }),
    );
    expect(values.get('path_git')).toBe(execFileSync('/bin/sh', ['-c', 'command -v git'], { encoding: 'utf8' }).trim());
    expect(values.get('path_flock')).toMatch(/\/flock$/);
    expect(values.get('git_version')).toMatch(/^git version \d/);
    expect(values.get('uname')).toMatch(/^Linux /);
  });
});
