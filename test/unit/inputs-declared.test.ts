import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { InputReader } from '../../src/inputs/reader.js';
import { ACTIONS } from '../../src/inputs/spec.js';
import { FLOWS } from '../../src/release/flows.js';

/** A valid value for each input whose default is not enough. */
const SAMPLES: Record<string, string> = {
  host: '127.0.0.1',
  port: '1', // nothing listens: each flow must have read every input before it connects
  username: 'nas',
  'private-key': execFileSync(
    'sh',
    ['-c', 'd=$(mktemp -d) && ssh-keygen -q -t ed25519 -N "" -f "$d/k" && cat "$d/k" && rm -rf "$d"'],
    { encoding: 'utf8' },
  ),
  'host-key': 'SHA256:' + 'A'.repeat(43),
  'connect-timeout': '1',
  tag: '',
};

/**
 * The inputs each action's code reads are exactly those its action.yml
 * declares: the reader refuses an undeclared one, and this parses every
 * action's settings (all a flow ever reads) and checks that they read all the declared ones.
 */
describe('inputs read by each action', () => {
  for (const [action, spec] of Object.entries(ACTIONS)) {
    it(`${action} reads exactly the inputs its action.yml declares`, () => {
      const reader = new InputReader(action, (name) => SAMPLES[name]);
      FLOWS[action].settings(reader);
      expect([...reader.read].sort()).toEqual(Object.keys(spec.inputs).sort());
      expect(reader.unread()).toEqual([]);
    });
  }
  it('every action has a flow', () => {
    expect(Object.keys(FLOWS).sort()).toEqual(Object.keys(ACTIONS).sort());
  });
});
