import { NodeSSH, type Config } from 'node-ssh';
import type { Client, ClientChannel } from 'ssh2';
import {
  describePinned,
  fingerprint,
  hostKeyAdvice,
  hostKeyAlgorithms,
  hostKeyMatches,
  keyTypeOf,
  type PinnedKey,
} from './host-key.js';

export interface ConnectOptions {
  host: string;
  port: number;
  username: string;
  privateKey?: string;
  passphrase?: string;
  password?: string;
  hostKeys: PinnedKey[];
  skipHostKeyCheck: boolean;
  /** Seconds for the whole connection attempt, retries included. */
  connectTimeout: number;
  /** Called before each retry, for the log. */
  onRetry?: (attempt: number, reason: string, delayMs: number) => void;
}

/** A failure that no retry can mend: wrong key, wrong host key, bad credentials. */
export class PermanentConnectError extends Error {}

const TRANSIENT =
  /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|EPIPE|EAI_AGAIN|Timed out while waiting for handshake|Connection lost before handshake|socket hang up|Not connected/i;

/**
 * One SSH connection to the NAS, reused for every step of an action run.
 * Host keys are pinned; keepalives notice a dead link.
 */
export class Session {
  private constructor(
    private readonly ssh: NodeSSH,
    /** The ssh2 connection node-ssh hands over, for channel-level work (backpressure, standard input). */
    private readonly client: Client,
    readonly presentedKey: string,
  ) {}

  private closedReason: string | undefined;

  /** Connects with bounded retries for transient failures, never for authentication or host-key failures. */
  static async connect(options: ConnectOptions): Promise<Session> {
    const deadline = Date.now() + options.connectTimeout * 1000;
    let attempt = 0;
    for (;;) {
      attempt += 1;
      const remaining = deadline - Date.now();
      try {
        return await Session.attempt(options, Math.max(remaining, 1000));
      } catch (err) {
        const reason = (err as Error).message;
        if (err instanceof PermanentConnectError || !TRANSIENT.test(reason)) throw err;
        const delay = Math.min(500 * 2 ** (attempt - 1), 5000);
        if (attempt >= 5 || Date.now() + delay + 500 > deadline) {
          throw new Error(
            `Could not connect to ${options.host}:${options.port} after ${attempt} attempt(s) within ${options.connectTimeout}s: ${reason}`,
          );
        }
        options.onRetry?.(attempt, reason, delay);
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  private static async attempt(options: ConnectOptions, timeoutMs: number): Promise<Session> {
    let presented = '';
    let hostKeyProblem: string | undefined;
    const algorithms = options.skipHostKeyCheck ? undefined : hostKeyAlgorithms(options.hostKeys);
    const config: Config = {
      host: options.host,
      port: options.port,
      username: options.username,
      readyTimeout: timeoutMs,
      keepaliveInterval: 10_000,
      keepaliveCountMax: 3,
      // Offer the pinned key types only, else the NAS proves the key it prefers, which may not be the pinned one.
      ...(algorithms ? { algorithms: { serverHostKey: algorithms } } : {}),
      // The verifier is synchronous and always returns a boolean: ssh2 then
      // closes the connection before authentication when it says false.
      hostVerifier: (key: Buffer): boolean => {
        presented = fingerprint(key);
        if (options.skipHostKeyCheck) return true;
        const type = keyTypeOf(key);
        if (options.hostKeys.length === 0) {
          hostKeyProblem = `No host-key is set, so the NAS cannot be trusted and no command was run.\n${hostKeyAdvice(options.host, options.port, presented, type)}\n(Or set insecure-skip-host-key-check: true to skip this check, which lets anyone on the path impersonate the NAS.)`;
          return false;
        }
        if (!hostKeyMatches(options.hostKeys, key)) {
          const untyped = options.hostKeys.every((k) => k.kind === 'fingerprint')
            ? ` A fingerprint does not say which type of key it is, so the NAS proved its ${type} key: if the pinned fingerprint is of another of its keys, pin that key's line as ssh-keyscan prints it (type and key) instead.`
            : '';
          hostKeyProblem = `HOST KEY MISMATCH: the NAS presented its ${type} key ${presented}, which is not the pinned host-key (${options.hostKeys.map(describePinned).join(', ')}). No command was run. If the NAS was reinstalled or its keys changed on purpose, update host-key; otherwise someone may be impersonating it.${untyped}\n${hostKeyAdvice(options.host, options.port, presented, type)}`;
          return false;
        }
        return true;
      },
    };
    // Only the one method we have: ssh2 would otherwise try "none" first, a round trip for nothing.
    if (options.privateKey) {
      config.privateKey = options.privateKey;
      if (options.passphrase) config.passphrase = options.passphrase;
      config.authHandler = ['publickey'];
    } else if (options.password !== undefined) {
      config.password = options.password;
      config.authHandler = ['password'];
    }
    const ssh = new NodeSSH();
    try {
      const connecting = ssh.connect(config);
      // node-ssh creates the ssh2 client and starts connecting before its first await.
      // Programs and markers are small writes answered by small writes: Nagle's algorithm
      // would hold each one back for the peer's delayed ACK.
      ssh.connection?.setNoDelay(true);
      await connecting;
    } catch (err) {
      ssh.dispose();
      throw Session.failure(err as Error & { level?: string }, options, hostKeyProblem);
    }
    const client = ssh.connection;
    if (!client) throw new Error('Connection lost before handshake');
    const session = new Session(ssh, client, presented);
    client.on('close', () => (session.closedReason ??= 'the connection to the NAS closed'));
    client.on('error', (err) => (session.closedReason = `the connection to the NAS failed: ${err.message}`));
    return session;
  }

  /** Why an attempt failed, as a PermanentConnectError when no retry can mend it. */
  private static failure(
    err: Error & { level?: string },
    options: ConnectOptions,
    hostKeyProblem: string | undefined,
  ): Error {
    if (hostKeyProblem) return new PermanentConnectError(hostKeyProblem);
    if (err.level === 'client-authentication')
      return new PermanentConnectError(
        `SSH authentication as ${options.username} failed: the NAS accepted none of the given credentials (${options.privateKey ? 'private-key' : 'password'}).`,
      );
    if (/parse|passphrase|Unsupported key|Cannot parse/i.test(err.message))
      return new PermanentConnectError(`The private-key could not be used: ${err.message}`);
    // node-ssh reports a connection that closed before the handshake as "No response from server".
    if (/No response from server/i.test(err.message)) return new Error('Connection lost before handshake');
    return err;
  }

  /** Opens a channel running `command` (which must be built by quoting). */
  exec(command: string): Promise<ClientChannel> {
    if (this.closedReason) return Promise.reject(new Error(this.closedReason));
    return new Promise((resolve, reject) => {
      this.client.exec(command, (err, channel) => {
        if (!err) return resolve(channel);
        // A link that drops fails the pending request ("No response from server", "Unable to exec")
        // just before ssh2 reports the close: say that, rather than the request's own error.
        setTimeout(() => {
          const lost =
            this.closedReason ??
            (/No response from server/i.test(err.message) ? 'the connection to the NAS was lost' : undefined);
          reject(lost ? new Error(`${lost} (${err.message})`) : err);
        }, 50);
      });
    });
  }

  get closed(): string | undefined {
    return this.closedReason;
  }

  close(): void {
    this.ssh.dispose();
  }
}
