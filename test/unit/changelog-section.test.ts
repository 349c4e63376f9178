import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

/** scripts/changelog-section.sh, which gives the release workflow its notes, run by a real sh. */
const ROOT = resolve(__dirname, '../..');
const work = mkdtempSync(join(tmpdir(), 'changelog-section-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function section(version: string, changelog?: string): { code: number; stdout: string; stderr: string } {
  let file = join(ROOT, 'CHANGELOG.md');
  if (changelog !== undefined) {
    file = join(work, `CHANGELOG-${Math.random().toString(36).slice(2)}.md`);
    writeFileSync(file, changelog);
  }
  const run = spawnSync('sh', [join(ROOT, 'scripts/changelog-section.sh'), version, file], { encoding: 'utf8' });
  return { code: run.status ?? -1, stdout: run.stdout, stderr: run.stderr };
}

const SAMPLE = [
  '# Changelog',
  '',
  '## [Unreleased]',
  '',
  '- not yet',
  '',
  '## [1.2.0] - 2026-12-01',
  '',
  '### Added',
  '',
  '- jump hosts',
  '',
  '## [1.1.0] - 2026-11-30',
  '',
  '- older',
  '',
  '## [1.0.0] - 2026-11-22',
  '',
  '',
  '[1.2.0]: https://example.test',
  '',
].join('\n');

describe('changelog-section.sh', () => {
  it("prints the version's section only, without its heading, the next one or blank lines around it", () => {
    const run = section('1.2.0', SAMPLE);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toBe('### Added\n\n- jump hosts\n');
  });

  it('reads the real CHANGELOG: 1.0.0 has notes', () => {
    const run = section('1.0.0');
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^### Added\n/);
    expect(run.stdout).not.toContain('## [');
  });

  it('fails, saying what to add, for a version without a section, or with an empty one', () => {
    for (const version of ['9.9.9', '1.0.0']) {
      const run = section(version, version === '1.0.0' ? '## [1.0.0] - 2026-11-22\n\n   \n' : SAMPLE);
      expect(run.code).toBe(1);
      expect(run.stdout).toBe('');
      expect(run.stderr).toContain(
        `has no section "## [${version}]" (or it is empty): add one before tagging v${version}`,
      );
    }
    // 1.1 must not match 1.1.0's section, nor 1.2.0 a heading that merely starts like it.
    expect(section('1.1', SAMPLE).code).toBe(2);
  });

  it('refuses anything but X.Y.Z', () => {
    for (const bad of ['v1.2.0', '1.2', '1.2.0-rc.1', '1.2.0.1', '', '1..2']) {
      const run = section(bad, SAMPLE);
      expect(run.code, bad).not.toBe(0);
      expect(run.stdout).toBe('');
    }
  });
});
