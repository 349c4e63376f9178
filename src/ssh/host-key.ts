import { createHash } from 'node:crypto';
import type { ServerHostKeyAlgorithm } from 'ssh2';

/** One line of the `host-key` input: a fingerprint, or a public key blob. */
export type PinnedKey = { kind: 'fingerprint'; sha256: string } | { kind: 'key'; type: string; sha256: string };

const KEY_TYPE =
  /^(ssh-(ed25519|rsa|dss)|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com)$/;

/** The fingerprint OpenSSH prints: `SHA256:` and unpadded base64 of the key blob's SHA-256. */
export function fingerprint(keyBlob: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '');
}

/**
 * Parses the `host-key` input: one entry a line, each a `SHA256:` fingerprint
 * or a public key as `ssh-keyscan` prints it (with or without the host field).
 * Blank lines and `#` comments are ignored.
 */
export function parseHostKeys(text: string, input = 'host-key'): PinnedKey[] {
  const keys: PinnedKey[] = [];
  for (const [index, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const where = `${input} line ${index + 1}`;
    const fp = /^SHA256:([A-Za-z0-9+/]{43})=?$/.exec(line);
    if (fp) {
      keys.push({ kind: 'fingerprint', sha256: `SHA256:${fp[1]}` });
      continue;
    }
    const fields = line.split(/\s+/);
    const at = fields.findIndex((f) => KEY_TYPE.test(f));
    if (at < 0 || at > 1 || fields.length < at + 2) {
      throw new Error(
        `${where} is neither a SHA256: fingerprint nor a public key line as ssh-keyscan prints it ("[host] type base64")`,
      );
    }
    const blob = Buffer.from(fields[at + 1], 'base64');
    if (blob.length < 16 || blob.toString('base64').replace(/=+$/, '') !== fields[at + 1].replace(/=+$/, '')) {
      throw new Error(`${where}: the key is not valid base64`);
    }
    const typeInBlob = blob.subarray(4, 4 + blob.readUInt32BE(0)).toString('latin1');
    if (typeInBlob !== fields[at])
      throw new Error(`${where}: the key says it is ${fields[at]} but holds ${typeInBlob}`);
    keys.push({ kind: 'key', type: fields[at], sha256: fingerprint(blob) });
  }
  return keys;
}

/** True when the key the server presented is one of the pinned ones. */
export function hostKeyMatches(pinned: readonly PinnedKey[], presented: Buffer): boolean {
  const fp = fingerprint(presented);
  return pinned.some((key) => key.sha256 === fp);
}

/** The type a public key blob declares first (`ssh-ed25519`, `ssh-rsa`, ...). */
export function keyTypeOf(keyBlob: Buffer): string {
  if (keyBlob.length < 4) return 'unknown';
  return keyBlob.subarray(4, 4 + keyBlob.readUInt32BE(0)).toString('latin1') || 'unknown';
}

/** The host-key algorithms the SSH client offers by default, in its order of preference. */
export const DEFAULT_HOST_KEY_ALGORITHMS: readonly ServerHostKeyAlgorithm[] = [
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'rsa-sha2-512',
  'rsa-sha2-256',
  'ssh-rsa',
];

/** The signature algorithms by which a server proves it holds a key of each type (RSA has three). */
const ALGORITHMS_OF_TYPE: Record<string, readonly ServerHostKeyAlgorithm[]> = {
  'ssh-ed25519': ['ssh-ed25519'],
  'ecdsa-sha2-nistp256': ['ecdsa-sha2-nistp256'],
  'ecdsa-sha2-nistp384': ['ecdsa-sha2-nistp384'],
  'ecdsa-sha2-nistp521': ['ecdsa-sha2-nistp521'],
  'ssh-rsa': ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'],
  'ssh-dss': ['ssh-dss'],
};

/**
 * The host-key algorithms to offer, so that the server presents a pinned key
 * rather than the one it prefers: a NAS with RSA and ed25519 keys, pinned to
 * its RSA key line, would otherwise prove ed25519 and look like an impostor.
 * Only key lines give a type. When every pin is a key line, only their types
 * are offered; when some are bare fingerprints (any type), the key lines'
 * types come first and the default order follows; with no typed pin (or a
 * type the client cannot verify), undefined: the default order.
 */
export function hostKeyAlgorithms(pinned: readonly PinnedKey[]): ServerHostKeyAlgorithm[] | undefined {
  const typed = [...new Set(pinned.flatMap((key) => (key.kind === 'key' ? (ALGORITHMS_OF_TYPE[key.type] ?? []) : [])))];
  if (typed.length === 0) return undefined;
  if (pinned.every((key) => key.kind === 'key')) return typed;
  return [...typed, ...DEFAULT_HOST_KEY_ALGORITHMS.filter((a) => !typed.includes(a))];
}

/** How a pinned entry reads in an error: its type when the pin gives one. */
export function describePinned(key: PinnedKey): string {
  return key.kind === 'key' ? `${key.type} ${key.sha256}` : key.sha256;
}

/** The file name OpenSSH gives a host key of this type (`ssh_host_rsa_key.pub`). */
function hostKeyFile(type: string): string {
  const name = /^ssh-(ed25519|rsa|dss)$/.exec(type)?.[1] ?? (type.startsWith('ecdsa-') ? 'ecdsa' : 'ed25519');
  return `/etc/ssh/ssh_host_${name}_key.pub`;
}

/** Which machine a host key belongs to, as the messages name it: the NAS, or the jump host in front of it. */
export interface HostKeyOwner {
  /** `the NAS`, `the jump host` */
  name: string;
  /** The input that pins its key. */
  input: string;
  /** The secret a workflow would keep the key in. */
  secret: string;
}
export const NAS_KEY_OWNER: HostKeyOwner = { name: 'the NAS', input: 'host-key', secret: 'NAS_HOST_KEY' };
export const JUMP_KEY_OWNER: HostKeyOwner = { name: 'the jump host', input: 'jump-host-key', secret: 'JUMP_HOST_KEY' };

/** What an operator needs when the key is not pinned or does not match. */
export function hostKeyAdvice(
  host: string,
  port: number,
  presented: string,
  type = 'ssh-ed25519',
  owner: HostKeyOwner = NAS_KEY_OWNER,
): string {
  const Name = owner.name.charAt(0).toUpperCase() + owner.name.slice(1);
  return [
    `${Name} presented the host key ${presented}.`,
    `Check it on ${owner.name} itself (not over the network): ssh-keygen -lf ${hostKeyFile(type)}`,
    `or from a trusted machine: ssh-keyscan -p ${port} ${host} | ssh-keygen -lf -`,
    `Then set the input ${owner.input} to that fingerprint (store it as a secret such as ${owner.secret}).`,
  ].join('\n');
}
