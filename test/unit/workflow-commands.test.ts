import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  appendSummary,
  commandLine,
  escapeData,
  escapeProperty,
  exportVariable,
  fileCommandBlock,
  setOutput,
} from '../../src/report/workflow-commands.js';

/** Reads file commands back the way the runner does: `name<<delimiter`, lines, `delimiter`. */
function parseFileCommands(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const m = /^([^<]+)<<(.+)$/.exec(lines[i]);
    if (!m) continue;
    const end = lines.indexOf(m[2], i + 1);
    out[m[1]] = lines.slice(i + 1, end).join('\n');
    i = end;
  }
  return out;
}

describe('workflow commands', () => {
  it('escape data and properties as the runner unescapes them', () => {
    expect(escapeData('50% done\r\nnext')).toBe('50%25 done%0D%0Anext');
    expect(escapeData('a::b,c')).toBe('a::b,c');
    expect(escapeProperty('x:y,z%\n')).toBe('x%3Ay%2Cz%25%0A');
  });

  it('build one line per command, so a message cannot start a second command', () => {
    expect(commandLine('warning', 'line one\n::add-mask::oops')).toBe('::warning::line one%0A::add-mask::oops');
    expect(commandLine('group', 'docker build x:1')).toBe('::group::docker build x:1');
    expect(commandLine('endgroup', '')).toBe('::endgroup::');
    expect(commandLine('set-output', 'v', { name: 'A:B' })).toBe('::set-output name=A%3AB::v');
  });

  it('a file command block cannot be ended early by its value', () => {
    const value = 'first\nghadelimiter_fake\nEVIL<<x\nsecond';
    const block = fileCommandBlock('OUT', value);
    expect(parseFileCommands(block)).toEqual({ OUT: value });
    expect(fileCommandBlock('OUT', 'v')).not.toBe(fileCommandBlock('OUT', 'v'));
  });
});

describe('file commands', () => {
  let dir: string;
  const saved = { ...process.env };
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'nr-wc-'));
    for (const name of ['GITHUB_OUTPUT', 'GITHUB_ENV', 'GITHUB_STEP_SUMMARY']) {
      process.env[name] = join(dir, name);
      writeFileSync(process.env[name], '');
    }
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
    process.env = { ...saved };
  });

  it('setOutput and exportVariable append blocks the runner reads back', () => {
    setOutput('DEPLOYED_BACKEND_TAG', '2026.01.10-abcdef0');
    setOutput('REMOVED_TAGS', '["a",\n"b"]');
    exportVariable('NR_EXAMPLE', 'one\ntwo');
    expect(parseFileCommands(readFileSync(join(dir, 'GITHUB_OUTPUT'), 'utf8'))).toEqual({
      DEPLOYED_BACKEND_TAG: '2026.01.10-abcdef0',
      REMOVED_TAGS: '["a",\n"b"]',
    });
    expect(parseFileCommands(readFileSync(join(dir, 'GITHUB_ENV'), 'utf8'))).toEqual({ NR_EXAMPLE: 'one\ntwo' });
    expect(process.env.NR_EXAMPLE).toBe('one\ntwo');
  });

  it('appendSummary adds to the job summary, one block after another', () => {
    appendSummary('### One\n');
    appendSummary('### Two');
    expect(readFileSync(join(dir, 'GITHUB_STEP_SUMMARY'), 'utf8')).toBe('### One\n\n### Two\n');
  });
});
