import { Client, type ClientChannel, type ConnectConfig } from 'ssh2';
import { fingerprint, hostKeyAdvice, hostKeyMatches, type PinnedKey } from './host-key.js';

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

  private static attempt(options: ConnectOptions, timeoutMs: number): Promise<Session> {
    return new Promise((resolve, reject) => {
      const client = new Client();
      let presented = '';
      let hostKeyProblem: string | undefined;
      const config: ConnectConfig = {
        host: options.host,
        port: options.port,
        username: options.username,
        readyTimeout: timeoutMs,
        keepaliveInterval: 10_000,
        keepaliveCountMax: 3,
        // The verifier is synchronous and always returns a boolean: ssh2 then
        // closes the connection before authentication when it says false.
        hostVerifier: (key: Buffer): boolean => {
          presented = fingerprint(key);
          if (options.skipHostKeyCheck) return true;
          if (options.hostKeys.length === 0) {
            hostKeyProblem = `No host-key is set, so the NAS cannot be trusted and no command was run.\n${hostKeyAdvice(options.host, options.port, presented)}\n(Or set insecure-skip-host-key-check: true to skip this check, which lets anyone on the path impersonate the NAS.)`;
            return false;
          }
          if (!hostKeyMatches(options.hostKeys, key)) {
            hostKeyProblem = `HOST KEY MISMATCH: the NAS presented ${presented}, which is not the pinned host-key (${options.hostKeys.map((k) => k.sha256).join(', ')}). No command was run. If the NAS was reinstalled or its keys changed on purpose, update host-key; otherwise someone may be impersonating it.\n${hostKeyAdvice(options.host, options.port, presented)}`;
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
      let settled = false;
      client.on('ready', () => {
        settled = true;
        const session = new Session(client, presented);
        client.on('close', () => (session.closedReason ??= 'the connection to the NAS closed'));
        client.on('error', (err) => (session.closedReason = `the connection to the NAS failed: ${err.message}`));
        resolve(session);
      });
      client.on('error', (err: Error & { level?: string }) => {
        if (settled) return;
        settled = true;
        client.end();
        if (hostKeyProblem) reject(new PermanentConnectError(hostKeyProblem));
        else if (err.level === 'client-authentication')
          reject(
            new PermanentConnectError(
              `SSH authentication as ${options.username} failed: the NAS accepted none of the given credentials (${options.privateKey ? 'private-key' : 'password'}).`,
            ),
          );
        else if (/parse|passphrase|Unsupported key|Cannot parse/i.test(err.message))
          reject(new PermanentConnectError(`The private-key could not be used: ${err.message}`));
        else reject(err);
      });
      client.on('close', () => {
        if (settled) return;
        settled = true;
        reject(
          hostKeyProblem ? new PermanentConnectError(hostKeyProblem) : new Error('Connection lost before handshake'),
        );
      });
      try {
        client.connect(config);
        // Programs and markers are small writes answered by small writes: Nagle's algorithm
        // would hold each one back for the peer's delayed ACK.
        client.setNoDelay(true);
      } catch (err) {
        settled = true;
        reject(new PermanentConnectError(`The private-key could not be used: ${(err as Error).message}`));
      }
    });
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
    this.client.end();
  }
}
