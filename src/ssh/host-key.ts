import { createHash } from 'node:crypto';

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
export function parseHostKeys(text: string): PinnedKey[] {
  const keys: PinnedKey[] = [];
  for (const [index, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const where = `host-key line ${index + 1}`;
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

/** What an operator needs when the key is not pinned or does not match. */
export function hostKeyAdvice(host: string, port: number, presented: string): string {
  return [
    `The NAS presented the host key ${presented}.`,
    `Check it on the NAS itself (not over the network): ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub`,
    `or from a trusted machine: ssh-keyscan -p ${port} ${host} | ssh-keygen -lf -`,
    `Then set the input host-key to that fingerprint (store it as a secret such as NAS_HOST_KEY).`,
  ].join('\n');
}
