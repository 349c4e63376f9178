import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { ACTIONS } from '../../src/inputs/spec.js';
import {
  NODE_RUNTIME,
  README_END,
  README_START,
  actionYaml,
  defuseExpressions,
  readmeTables,
  renderReadme,
} from '../../scripts/metadata.js';

const ROOT = resolve(__dirname, '../..');
const ACTIONS_DIR = join(ROOT, 'actions');

interface Manifest {
  name?: unknown;
  description?: unknown;
  author?: unknown;
  branding?: { icon?: unknown; color?: unknown };
  inputs?: Record<string, { description?: unknown; required?: unknown; default?: unknown }>;
  outputs?: Record<string, { description?: unknown; value?: unknown }>;
  runs?: { using?: unknown; main?: unknown };
}

const folders = readdirSync(ACTIONS_DIR, { withFileTypes: true })
  .filter((e) => e.isDirectory())
  .map((e) => e.name)
  .sort();
const manifests = new Map<string, { text: string; doc: Manifest }>(
  folders.map((name) => {
    const text = readFileSync(join(ACTIONS_DIR, name, 'action.yml'), 'utf8');
    return [name, { text, doc: parse(text) as Manifest }];
  }),
);

/** Every string of a parsed YAML document except input defaults, with its path. */
function strings(value: unknown, path: string[] = []): [string, string][] {
  if (typeof value === 'string') return [[path.join('.'), value]];
  if (value && typeof value === 'object') {
    return Object.entries(value).flatMap(([k, v]) =>
      path[0] === 'inputs' && path.length === 2 && k === 'default' ? [] : strings(v, [...path, k]),
    );
  }
  return [];
}

describe('actions/*/action.yml', () => {
  it('has one folder per action of the spec, each with an action.yml', () => {
    expect(folders).toEqual(Object.keys(ACTIONS).sort());
    for (const name of folders) expect(existsSync(join(ACTIONS_DIR, name, 'action.yml')), name).toBe(true);
  });

  it.each(Object.keys(ACTIONS))('%s: parses and has a name, a description, an author and branding', (name) => {
    const { doc } = manifests.get(name)!;
    expect(doc.name).toBe(ACTIONS[name].name);
    expect(typeof doc.description === 'string' && doc.description.length > 10).toBe(true);
    expect(doc.author).toBe('nas-release');
    expect(doc.branding).toEqual({ icon: ACTIONS[name].icon, color: 'blue' });
  });

  it.each(Object.keys(ACTIONS))('%s: runs on node24 from its own dist bundle, which exists', (name) => {
    const { doc } = manifests.get(name)!;
    expect(doc.runs?.using).toBe(NODE_RUNTIME);
    expect(doc.runs?.main).toBe(`../../dist/${name}/index.js`);
    const main = resolve(ACTIONS_DIR, name, String(doc.runs?.main));
    expect(main).toBe(join(ROOT, 'dist', name, 'index.js'));
    expect(existsSync(main), `${main} is missing: run npm run build`).toBe(true);
    expect(Object.keys(doc.runs ?? {}).sort()).toEqual(['main', 'using']);
  });

  it('uses the same Node version in every action', () => {
    const versions = new Set([...manifests.values()].map((m) => m.doc.runs?.using));
    expect([...versions]).toEqual(['node24']);
  });

  it.each(Object.keys(ACTIONS))(
    '%s: declares exactly the inputs of the spec, with their defaults and required flags',
    (name) => {
      const spec = ACTIONS[name];
      const inputs = manifests.get(name)!.doc.inputs ?? {};
      expect(Object.keys(inputs)).toEqual(Object.keys(spec.inputs));
      for (const [input, s] of Object.entries(spec.inputs)) {
        const declared = inputs[input];
        expect(declared.required, `${name}.${input}.required`).toBe(s.required === true);
        expect('default' in declared, `${name}.${input} default present`).toBe(s.default !== undefined);
        expect(declared.default, `${name}.${input}.default`).toBe(s.default);
        // A default YAML would read as a boolean or a number would reach the action as a different string.
        if (s.default !== undefined) expect(typeof declared.default, `${name}.${input}.default type`).toBe('string');
        expect(
          typeof declared.description === 'string' && declared.description.length > 0,
          `${name}.${input}.description`,
        ).toBe(true);
        if (s.required) expect(s.default, `${name}.${input}: required with a default`).toBeUndefined();
      }
    },
  );

  it.each(Object.keys(ACTIONS))('%s: declares exactly the outputs of the spec, description only', (name) => {
    const spec = ACTIONS[name];
    const outputs = manifests.get(name)!.doc.outputs ?? {};
    expect(Object.keys(outputs)).toEqual(Object.keys(spec.outputs));
    for (const [output, declared] of Object.entries(outputs)) {
      expect(Object.keys(declared), `${name}.${output}`).toEqual(['description']);
      expect(declared.description).toBe(defuseExpressions(spec.outputs[output]));
    }
  });

  it.each(Object.keys(ACTIONS))(
    '%s: holds no ${{ }} outside input defaults (the runner would refuse to load it)',
    (name) => {
      const found = strings(manifests.get(name)!.doc).filter(([, text]) => text.includes('${{'));
      expect(found).toEqual([]);
    },
  );

  it.each(Object.keys(ACTIONS))('%s: is exactly what the generator writes (npm run build)', (name) => {
    expect(manifests.get(name)!.text).toBe(actionYaml(name, ACTIONS[name]));
  });
});

describe('README action tables', () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');

  it('holds the markers once each, in order', () => {
    expect(readme.split(README_START)).toHaveLength(2);
    expect(readme.split(README_END)).toHaveLength(2);
    expect(readme.indexOf(README_START)).toBeLessThan(readme.indexOf(README_END));
  });

  it('holds between the markers exactly what the generator produces', () => {
    const between = readme.slice(readme.indexOf(README_START) + README_START.length, readme.indexOf(README_END));
    expect(between).toBe(readmeTables());
  });

  it('has one section per action with a row for every input and output', () => {
    const tables = readmeTables();
    for (const [name, spec] of Object.entries(ACTIONS)) {
      const start = tables.indexOf(`### ${name}\n`);
      expect(start, name).toBeGreaterThanOrEqual(0);
      const next = tables.indexOf('\n### ', start + 1);
      const section = tables.slice(start, next < 0 ? undefined : next);
      expect(section).toContain('| input | default | required | description |');
      expect(section).toContain('| output | description |');
      for (const input of Object.keys(spec.inputs)) expect(section, `${name} ${input}`).toContain(`| \`${input}\` |`);
      for (const output of Object.keys(spec.outputs))
        expect(section, `${name} ${output}`).toContain(`| \`${output}\` |`);
      const rows = section.split('\n').filter((l) => /^\| `/.test(l));
      expect(rows).toHaveLength(Object.keys(spec.inputs).length + Object.keys(spec.outputs).length);
      // Every row has its four (inputs) or two (outputs) cells: no unescaped | in a cell.
      for (const row of rows) expect([2, 4]).toContain(row.split(/(?<!\\)\|/).length - 2);
    }
  });
});

describe('the metadata generator', () => {
  it('rewrites only the region between the markers', () => {
    const before = `# Title\n\nIntro.\n\n${README_START}\nold tables\n${README_END}\n\n## After\n`;
    const after = renderReadme(before);
    expect(after.startsWith(`# Title\n\nIntro.\n\n${README_START}`)).toBe(true);
    expect(after.endsWith(`${README_END}\n\n## After\n`)).toBe(true);
    expect(after).not.toContain('old tables');
    expect(renderReadme(after)).toBe(after);
  });

  it('refuses a README without its markers, or with two of them', () => {
    expect(() => renderReadme('# Title\n')).toThrow(/action-tables/);
    expect(() => renderReadme(`${README_START}\n${README_END}\n${README_START}\n${README_END}\n`)).toThrow(
      /exactly one/,
    );
    expect(() => renderReadme(`${README_END}\n${README_START}\n`)).toThrow();
  });

  it('keeps the inside of a quoted expression only', () => {
    expect(defuseExpressions('pass `${{ github.sha }}` here')).toBe('pass `github.sha` here');
    expect(defuseExpressions('no expression')).toBe('no expression');
  });

  it('quotes string defaults YAML would read as another type', () => {
    const text = actionYaml('x', {
      name: 'X',
      description: 'd',
      icon: 'box',
      inputs: {
        a: { description: 'a', default: 'true' },
        b: { description: 'b', default: '22' },
        c: { description: 'c', default: '' },
      },
      outputs: {},
    });
    const doc = parse(text) as Manifest;
    expect(doc.inputs).toEqual({
      a: { description: 'a', required: false, default: 'true' },
      b: { description: 'b', required: false, default: '22' },
      c: { description: 'c', required: false, default: '' },
    });
  });

  it('escapes what Markdown would swallow in a table', () => {
    const tables = readmeTables({
      x: {
        name: 'X',
        description: 'tag <sha7>',
        icon: 'box',
        inputs: { a: { description: 'one | two', default: 'l1\nl2' } },
        outputs: { O: 'out' },
      },
    });
    expect(tables).toContain('tag &lt;sha7&gt;');
    expect(tables).toContain('| `a` | `l1`<br>`l2` | no | one \\| two |');
  });
});
