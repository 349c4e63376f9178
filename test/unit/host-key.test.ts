import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DEFAULT_HOST_KEY_ALGORITHMS,
  fingerprint,
  hostKeyAdvice,
  hostKeyAlgorithms,
  hostKeyMatches,
  keyTypeOf,
  parseHostKeys,
} from '../../src/ssh/host-key.js';

/** A real key pair made by ssh-keygen, and the fingerprint ssh-keygen prints for it. */
interface RealKey {
  type: string;
  base64: string;
  blob: Buffer;
  line: string;
  sha256: string;
}

const work = mkdtempSync(join(tmpdir(), 'host-key-test-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function makeKey(type: 'ed25519' | 'ecdsa' | 'rsa', name: string): RealKey {
  const file = join(work, name);
  execFileSync('ssh-keygen', [
    '-q',
    '-t',
    type,
    ...(type === 'rsa' ? ['-b', '2048'] : []),
    '-N',
    '',
    '-C',
    `test@${name}`,
    '-f',
    file,
  ]);
  const line = readFileSync(`${file}.pub`, 'utf8').trim();
  const [keyType, base64] = line.split(' ');
  const printed = execFileSync('ssh-keygen', ['-lf', `${file}.pub`], { encoding: 'utf8' });
  const sha256 = /(SHA256:[A-Za-z0-9+/]{43})/.exec(printed)?.[1];
  if (!sha256) throw new Error(`ssh-keygen printed no fingerprint: ${printed}`);
  return { type: keyType, base64, blob: Buffer.from(base64, 'base64'), line, sha256 };
}

let ed: RealKey;
let ecdsa: RealKey;
let rsa: RealKey;
let other: RealKey;
beforeAll(() => {
  ed = makeKey('ed25519', 'ed');
  ecdsa = makeKey('ecdsa', 'ecdsa');
  rsa = makeKey('rsa', 'rsa');
  other = makeKey('ed25519', 'other');
});

describe('fingerprint', () => {
  it('is what ssh-keygen -lf prints for the same key', () => {
    for (const key of [ed, ecdsa, rsa, other]) expect(fingerprint(key.blob)).toBe(key.sha256);
  });
});

describe('parseHostKeys', () => {
  it('accepts a SHA256: fingerprint, with or without base64 padding', () => {
    expect(parseHostKeys(ed.sha256)).toEqual([{ kind: 'fingerprint', sha256: ed.sha256 }]);
    expect(parseHostKeys(`  ${ed.sha256}=  `)).toEqual([{ kind: 'fingerprint', sha256: ed.sha256 }]);
  });

  it('accepts a public key line as in a .pub file (type, key, comment)', () => {
    expect(parseHostKeys(ed.line)).toEqual([{ kind: 'key', type: 'ssh-ed25519', sha256: ed.sha256 }]);
    expect(parseHostKeys(`${ed.type} ${ed.base64}`)).toEqual([{ kind: 'key', type: 'ssh-ed25519', sha256: ed.sha256 }]);
  });

  it('accepts a line as ssh-keyscan prints it (with the host field)', () => {
    expect(parseHostKeys(`nas.local ${ed.type} ${ed.base64}`)).toEqual([
      { kind: 'key', type: 'ssh-ed25519', sha256: ed.sha256 },
    ]);
    expect(parseHostKeys(`[192.168.1.10]:2222 ${ecdsa.type} ${ecdsa.base64}`)).toEqual([
      { kind: 'key', type: ecdsa.type, sha256: ecdsa.sha256 },
    ]);
    expect(parseHostKeys(`nas,10.0.0.2 ${rsa.type}\t${rsa.base64}`)).toEqual([
      { kind: 'key', type: 'ssh-rsa', sha256: rsa.sha256 },
    ]);
  });

  it('reads several lines, skipping comments and blank lines (LF or CRLF)', () => {
    const text = [
      `# nas.local:22 SSH-2.0-OpenSSH_9.2`,
      '',
      ed.sha256,
      '   ',
      `nas.local ${rsa.type} ${rsa.base64}`,
      '# end',
      `${ecdsa.line}`,
    ].join('\r\n');
    expect(parseHostKeys(text)).toEqual([
      { kind: 'fingerprint', sha256: ed.sha256 },
      { kind: 'key', type: 'ssh-rsa', sha256: rsa.sha256 },
      { kind: 'key', type: ecdsa.type, sha256: ecdsa.sha256 },
    ]);
  });

  it('reads nothing from an empty input', () => {
    expect(parseHostKeys('')).toEqual([]);
    expect(parseHostKeys('\n# only a comment\n\n')).toEqual([]);
  });

  it('rejects garbage, naming the line', () => {
    expect(() => parseHostKeys('garbage')).toThrow(
      /host-key line 1 is neither a SHA256: fingerprint nor a public key line/,
    );
    expect(() => parseHostKeys(`${ed.sha256}\n\n# comment\nyes`)).toThrow(/host-key line 4\b/);
    expect(() => parseHostKeys('SHA256:tooShort')).toThrow(/host-key line 1\b/);
    expect(() => parseHostKeys(`MD5:${'ab:'.repeat(15)}ab`)).toThrow(/host-key line 1\b/);
    expect(() => parseHostKeys('ssh-ed25519')).toThrow(/host-key line 1\b/);
    expect(() => parseHostKeys(`@cert-authority nas ${ed.type} ${ed.base64}`)).toThrow(/host-key line 1\b/);
    expect(() => parseHostKeys(`ssh-foo ${ed.base64}`)).toThrow(/host-key line 1\b/);
  });

  it('rejects a key that is not valid base64, naming the line', () => {
    const broken = ed.base64.slice(0, 20) + '!!!' + ed.base64.slice(23);
    expect(() => parseHostKeys(`${ed.sha256}\nnas ${ed.type} ${broken}`)).toThrow(
      /host-key line 2: the key is not valid base64/,
    );
    expect(() => parseHostKeys(`${ed.type} AAAA`)).toThrow(/host-key line 1: the key is not valid base64/);
    expect(() => parseHostKeys(`${ed.type} ${ed.base64.replace(/^AAAA/, 'AA=AA')}`)).toThrow(
      /host-key line 1: the key is not valid base64/,
    );
  });

  it('rejects a key whose declared type differs from the type inside it, naming the line', () => {
    expect(() => parseHostKeys(`nas ssh-rsa ${ed.base64}`)).toThrow(
      /host-key line 1: the key says it is ssh-rsa but holds ssh-ed25519/,
    );
    expect(() => parseHostKeys(`${ed.line}\n${'ssh-ed25519'} ${rsa.base64}`)).toThrow(
      /host-key line 2: .*ssh-ed25519 but holds ssh-rsa/,
    );
  });
});

describe('hostKeyMatches', () => {
  it('matches the presented key against a pinned fingerprint', () => {
    const pinned = parseHostKeys(ed.sha256);
    expect(hostKeyMatches(pinned, ed.blob)).toBe(true);
    expect(hostKeyMatches(pinned, other.blob)).toBe(false);
  });

  it('matches the presented key against a pinned key line', () => {
    const pinned = parseHostKeys(`nas ${ed.type} ${ed.base64}`);
    expect(hostKeyMatches(pinned, ed.blob)).toBe(true);
    expect(hostKeyMatches(pinned, other.blob)).toBe(false);
  });

  it('matches any of several pinned keys, and nothing when none is pinned', () => {
    const pinned = parseHostKeys(`${rsa.sha256}\n${ecdsa.line}`);
    expect(hostKeyMatches(pinned, rsa.blob)).toBe(true);
    expect(hostKeyMatches(pinned, ecdsa.blob)).toBe(true);
    expect(hostKeyMatches(pinned, ed.blob)).toBe(false);
    expect(hostKeyMatches([], ed.blob)).toBe(false);
  });
});

describe('hostKeyAdvice', () => {
  it('tells the operator how to check the key and what to set', () => {
    const advice = hostKeyAdvice('nas.local', 2222, ed.sha256);
    expect(advice).toContain(ed.sha256);
    expect(advice).toContain('ssh-keyscan -p 2222 nas.local');
    expect(advice).toContain('host-key');
  });

  it('names the host key file of the presented type', () => {
    expect(hostKeyAdvice('nas', 22, rsa.sha256, 'ssh-rsa')).toContain('ssh-keygen -lf /etc/ssh/ssh_host_rsa_key.pub');
    expect(hostKeyAdvice('nas', 22, ecdsa.sha256, ecdsa.type)).toContain('/etc/ssh/ssh_host_ecdsa_key.pub');
  });
});

describe('keyTypeOf', () => {
  it('reads the type a key blob declares', () => {
    expect(keyTypeOf(ed.blob)).toBe('ssh-ed25519');
    expect(keyTypeOf(rsa.blob)).toBe('ssh-rsa');
    expect(keyTypeOf(ecdsa.blob)).toBe(ecdsa.type);
  });
});

describe('hostKeyAlgorithms', () => {
  it('offers only the types of pinned key lines, so the NAS proves the pinned key (defect 12.6)', () => {
    expect(hostKeyAlgorithms(parseHostKeys(`nas ${rsa.type} ${rsa.base64}`))).toEqual([
      'rsa-sha2-512',
      'rsa-sha2-256',
      'ssh-rsa',
    ]);
    expect(hostKeyAlgorithms(parseHostKeys(`${ecdsa.line}\n${ed.line}`))).toEqual([ecdsa.type, 'ssh-ed25519']);
  });

  it('keeps the default order when the pin is fingerprints only (they give no type)', () => {
    expect(hostKeyAlgorithms(parseHostKeys(rsa.sha256))).toBeUndefined();
    expect(hostKeyAlgorithms([])).toBeUndefined();
  });

  it("puts the key lines' types first, then the default order, when fingerprints are pinned too", () => {
    const offered = hostKeyAlgorithms(parseHostKeys(`${ed.sha256}\n${rsa.line}`));
    expect(offered?.slice(0, 3)).toEqual(['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa']);
    expect(new Set(offered)).toEqual(new Set(DEFAULT_HOST_KEY_ALGORITHMS));
  });
});
