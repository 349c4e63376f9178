/**
 * Generates every action's action.yml and the README's per-action tables from
 * ACTIONS in src/inputs/spec.ts, so metadata, documentation and code agree.
 *
 *   node --import tsx scripts/metadata.ts          write the files
 *   node --import tsx scripts/metadata.ts --check  compare only; exit 1 on a difference
 *
 * scripts/build.mjs calls generateMetadata() before bundling.
 */
import { existsSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { ACTIONS, type ActionSpec } from '../src/inputs/spec.js';

/** The Node version of every action; one place to change it. */
export const NODE_RUNTIME = 'node24';
export const AUTHOR = 'nas-release';
export const BRANDING_COLOR = 'blue';
/** The owner used in the README's `uses:` lines. */
export const USES_OWNER = 'your-org';
export const README_START = '<!-- action-tables:start -->';
export const README_END = '<!-- action-tables:end -->';

const HEADER = '# Generated from src/inputs/spec.ts by `npm run build`. Do not edit: change the spec and rebuild.\n';

export interface GeneratedFile {
  /** Relative to the repository root, with forward slashes. */
  path: string;
  content: string;
}

/**
 * The runner parses `${{ }}` in every string of an action.yml and fails to
 * load the action when one names a context it does not allow there (none are
 * allowed outside `default`). Descriptions quoting an expression keep its
 * inside only: "pass `${{ github.sha }}`" becomes "pass `github.sha`".
 */
export function defuseExpressions(text: string): string {
  return text.replace(/\$\{\{\s*(.*?)\s*\}\}/g, '$1');
}

/** The action.yml document of one action, as a plain object in key order. */
export function actionManifest(name: string, spec: ActionSpec): Record<string, unknown> {
  const inputs: Record<string, Record<string, unknown>> = {};
  for (const [input, s] of Object.entries(spec.inputs)) {
    const entry: Record<string, unknown> = {
      description: defuseExpressions(s.description),
      required: s.required === true,
    };
    if (s.default !== undefined) entry.default = s.default;
    inputs[input] = entry;
  }
  const outputs: Record<string, { description: string }> = {};
  for (const [output, description] of Object.entries(spec.outputs))
    outputs[output] = { description: defuseExpressions(description) };
  return {
    name: defuseExpressions(spec.name),
    description: defuseExpressions(spec.description),
    author: AUTHOR,
    branding: { icon: spec.icon, color: BRANDING_COLOR },
    inputs,
    outputs,
    runs: { using: NODE_RUNTIME, main: `../../dist/${name}/index.js` },
  };
}

export function actionYaml(name: string, spec: ActionSpec): string {
  // lineWidth 0: never fold long descriptions, so a one-word change is a one-line diff.
  return HEADER + stringify(actionManifest(name, spec), { lineWidth: 0, minContentWidth: 0 });
}

/** Markdown prose: `<sha7>` outside a code span would be read as an HTML tag and vanish. */
function prose(text: string): string {
  return text
    .split('`')
    .map((part, i) => (i % 2 === 0 ? part.replace(/</g, '&lt;').replace(/>/g, '&gt;') : part))
    .join('`');
}

function cell(text: string): string {
  return prose(text).replace(/\|/g, '\\|').replace(/\r?\n/g, '<br>');
}

function codeCell(value: string): string {
  if (value === '') return '`""`';
  return value
    .split('\n')
    .map((line) => '`' + line.replace(/\|/g, '\\|') + '`')
    .join('<br>');
}

/** The Markdown section of one action. */
export function actionSection(name: string, spec: ActionSpec): string {
  const lines = [
    `### ${name}`,
    '',
    `**${prose(spec.name)}.** ${prose(spec.description)}`,
    '',
    '```yaml',
    `- uses: ${USES_OWNER}/nas-release/actions/${name}@v1`,
    '```',
    '',
  ];
  lines.push('| input | default | required | description |', '| --- | --- | --- | --- |');
  for (const [input, s] of Object.entries(spec.inputs)) {
    const def = s.default === undefined ? '' : codeCell(s.default);
    const description = s.secret ? `${s.description} Masked in the log.` : s.description;
    lines.push(`| \`${input}\` | ${def} | ${s.required ? 'yes' : 'no'} | ${cell(description)} |`);
  }
  lines.push('', '| output | description |', '| --- | --- |');
  for (const [output, description] of Object.entries(spec.outputs))
    lines.push(`| \`${output}\` | ${cell(description)} |`);
  return lines.join('\n');
}

/** Everything between the README markers (markers excluded). */
export function readmeTables(actions: Record<string, ActionSpec> = ACTIONS): string {
  const sections = Object.entries(actions).map(([name, spec]) => actionSection(name, spec));
  return `\n<!-- Generated from src/inputs/spec.ts by \`npm run build\`; edits here are overwritten. -->\n\n${sections.join('\n\n')}\n\n`;
}

export const MINIMAL_README = `# nas-release\n\n${README_START}\n${README_END}\n`;

/** The README with its table region regenerated; the rest is returned untouched. */
export function renderReadme(current: string | undefined, actions: Record<string, ActionSpec> = ACTIONS): string {
  const text = current ?? MINIMAL_README;
  const start = text.indexOf(README_START);
  const end = text.indexOf(README_END);
  if (
    start < 0 ||
    end < 0 ||
    end < start ||
    text.indexOf(README_START, start + 1) >= 0 ||
    text.indexOf(README_END, end + 1) >= 0
  ) {
    throw new Error(
      `README.md must hold exactly one ${README_START} followed by one ${README_END}; the action tables are generated between them`,
    );
  }
  return text.slice(0, start + README_START.length) + readmeTables(actions) + text.slice(end);
}

/** Every generated file, with the content it must have. */
export function generateMetadata(root: string): GeneratedFile[] {
  const files: GeneratedFile[] = [];
  for (const [name, spec] of Object.entries(ACTIONS)) {
    files.push({ path: `actions/${name}/action.yml`, content: actionYaml(name, spec) });
  }
  const readme = join(root, 'README.md');
  files.push({
    path: 'README.md',
    content: renderReadme(existsSync(readme) ? readFileSync(readme, 'utf8') : undefined),
  });
  return files;
}

/** The generated files whose content on disk differs (or that are missing). */
export function staleMetadata(root: string): string[] {
  return generateMetadata(root)
    .filter((f) => {
      const path = join(root, f.path);
      return !existsSync(path) || readFileSync(path, 'utf8') !== f.content;
    })
    .map((f) => f.path);
}

/** Writes the files that changed; returns their paths. */
export function writeMetadata(root: string): string[] {
  const written: string[] = [];
  for (const f of generateMetadata(root)) {
    const path = join(root, f.path);
    if (existsSync(path) && readFileSync(path, 'utf8') === f.content) continue;
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, f.content);
    written.push(f.path);
  }
  return written;
}

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  if (process.argv.includes('--check')) {
    const stale = staleMetadata(ROOT);
    if (stale.length) {
      console.error(`Generated metadata is out of date (run npm run build):\n${stale.map((p) => `  ${p}`).join('\n')}`);
      process.exit(1);
    }
    console.log('metadata up to date');
  } else {
    const written = writeMetadata(ROOT);
    console.log(written.length ? `wrote ${written.join(', ')}` : 'metadata up to date');
  }
}
