import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve, dirname } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = resolve(__dirname, '../../src');

/**
 * The layers of src/, lowest first: a module may import from its own folder
 * and from the folders below it, never from one above. A reader can then
 * learn the code bottom-up, and a low layer never changes because a flow did.
 */
const LAYERS: readonly (readonly string[])[] = [
  ['ssh', 'report', 'runner', 'nas-shell'], // the SSH session and executor; the log; the runner's own docker; NAS shell libraries
  ['remote'], // shell text, the command catalog, and the history's records
  ['rules', 'database-kinds'], // pure release rules: dated tags and their order, the image inventory and what cleanup keeps; a module per database kind
  ['inputs'], // typed settings from the action's inputs
  ['programs', 'image-sources', 'proxies'], // the NAS-side programs, each with its exit codes, values and steps; a module per image source and per proxy
  ['nas'], // the seam: the Nas interface and its SSH implementation
  ['github'], // deployments
  ['release', 'day-two'], // the flows, and the CLI's read-only day-two commands
  ['actions', 'cli.ts'], // entries
];

function levelOf(path: string): number {
  const top = relative(SRC, path).split('/')[0];
  const level = LAYERS.findIndex((names) => names.includes(top));
  if (level < 0) throw new Error(`src/${top} belongs to no layer: add it to LAYERS`);
  return level;
}

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sources(path) : name.endsWith('.ts') ? [path] : [];
  });
}

describe('layers', () => {
  it('every import in src/ points to the same layer or one below', () => {
    const upward: string[] = [];
    for (const file of sources(SRC)) {
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/^(?:import|export)[^'"]*from '(\.[^']+)'/gm)) {
        const target = resolve(dirname(file), m[1]);
        const from = relative(SRC, file).split('/')[0];
        const to = relative(SRC, target).split('/')[0];
        if (from !== to && levelOf(target) > levelOf(file)) upward.push(`src/${relative(SRC, file)} imports ${m[1]}`);
      }
    }
    expect(upward).toEqual([]);
  });
});
