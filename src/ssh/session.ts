import { NodeSSH, type Config } from 'node-ssh';
import type { Client, ClientChannel } from 'ssh2';
import {
  describePinned,
  fingerprint,
  hostKeyAdvice,
  hostKeyAlgorithms,
  hostKeyMatches,
  JUMP_KEY_OWNER,
  keyTypeOf,
  NAS_KEY_OWNER,
  type HostKeyOwner,
  type PinnedKey,
} from './host-key.js';

/** How to log in to one SSH server: the NAS, or the jump host in front of it. */
export interface Credentials {
  host: string;
  port: number;
  username: string;
  privateKey?: string;
  passphrase?: string;
  password?: string;
  hostKeys: PinnedKey[];
}

/** A jump host (bastion): the NAS is reached through a direct-tcpip channel it opens. Its host key is always pinned. */
export type JumpOptions = Credentials;

export interface ConnectOptions extends Credentials {
  skipHostKeyCheck: boolean;
  /** Reach the NAS through this jump host instead of directly. */
  jump?: JumpOptions;
  /** Seconds for the whole connection attempt, retries included. */
  connectTimeout: number;
  /** Called before each retry, for the log. */
  onRetry?: (attempt: number, reason: string, delayMs: number) => void;
}

/** A failure that no retry can mend: wrong key, wrong host key, bad credentials. */
export class PermanentConnectError extends Error {}

const TRANSIENT =
  /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|EPIPE|EAI_AGAIN|Timed out while waiting for handshake|Connection lost before handshake|socket hang up|Not connected|could not reach the NAS/i;

/** ssh2's reason code when the server refuses a forwarding by its rules (sshd's PermitOpen, AllowTcpForwarding). */
const OPEN_ADMINISTRATIVELY_PROHIBITED = 1;

/** One hop of the connection, with what its messages call it. */
interface Hop {
  creds: Credentials;
  owner: HostKeyOwner;
  skipHostKeyCheck: boolean;
  /** The inputs its credentials come from, for the authentication message. */
  keyInput: string;
  passwordInput: string;
}

/** A connected hop, or why it failed. */
interface HopResult {
  ssh: NodeSSH;
  presented: string;
}

/**
 * One SSH connection to the NAS, reused for every step of an action run.
 * Host keys are pinned; keepalives notice a dead link. With a jump host, the
 * NAS connection runs inside a channel of the jump host's connection, and
 * both hops' host keys are pinned.
 */
export class Session {
  private constructor(
    private readonly ssh: NodeSSH,
    /** The ssh2 connection node-ssh hands over, for channel-level work (backpressure, standard input). */
    private readonly client: Client,
    readonly presentedKey: string,
    /** The connection to the jump host that carries the NAS connection, if any. */
    private readonly jumpSsh?: NodeSSH,
    readonly jumpPresentedKey?: string,
  ) {}

  private closedReason: string | undefined;

  /** Connects with bounded retries for transient failures, never for authentication or host-key failures. */
  static async connect(options: ConnectOptions): Promise<Session> {
    const deadline = Date.now() + options.connectTimeout * 1000;
    const via = options.jump ? ` through the jump host ${options.jump.host}:${options.jump.port}` : '';
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
            `Could not connect to ${options.host}:${options.port}${via} after ${attempt} attempt(s) within ${options.connectTimeout}s: ${reason}`,
          );
        }
        options.onRetry?.(attempt, reason, delay);
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  private static async attempt(options: ConnectOptions, timeoutMs: number): Promise<Session> {
    const nasHop: Hop = {
      creds: options,
      owner: NAS_KEY_OWNER,
      skipHostKeyCheck: options.skipHostKeyCheck,
      keyInput: 'private-key',
      passwordInput: 'password',
    };
    if (!options.jump) {
      const nas = await Session.connectHop(nasHop, timeoutMs);
      return Session.open(nas);
    }
    const started = Date.now();
    const jump = await Session.connectHop(
      {
        creds: options.jump,
        owner: JUMP_KEY_OWNER,
        // Only the NAS's check can be skipped: the jump host is the one that faces the internet.
        skipHostKeyCheck: false,
        keyInput: 'jump-private-key',
        passwordInput: 'jump-password',
      },
      timeoutMs,
    );
    try {
      const tunnel = await Session.tunnel(jump.ssh, options);
      const nas = await Session.connectHop(nasHop, Math.max(timeoutMs - (Date.now() - started), 1000), tunnel);
      return Session.open(nas, jump);
    } catch (err) {
      jump.ssh.dispose();
      throw err;
    }
  }

  /** Asks the jump host for a direct-tcpip channel to the NAS's SSH port. */
  private static tunnel(jump: NodeSSH, options: ConnectOptions): Promise<ClientChannel> {
    const client = jump.connection;
    if (!client) return Promise.reject(new Error('Connection lost before handshake'));
    return new Promise((resolve, reject) => {
      client.forwardOut('127.0.0.1', 0, options.host, options.port, (err, channel) => {
        if (!err) {
          // The jump host ends the channel when its link to the NAS drops. A TCP socket closes on such an end;
          // a channel stays half open, and the NAS connection would wait for answers forever: close it the same way.
          channel.once('end', () => channel.destroy());
          return resolve(channel);
        }
        const reason = (err as Error & { reason?: number }).reason;
        const message = `The jump host ${options.jump?.host}:${options.jump?.port} could not reach the NAS (${err.message.replace(/^\(SSH\) Channel open failure: /, '') || 'no reason given'}) at ${options.host}:${options.port}`;
        // A forwarding the jump host's rules forbid stays forbidden; a refused or unreachable NAS may come back.
        if (reason === OPEN_ADMINISTRATIVELY_PROHIBITED)
          return reject(
            new PermanentConnectError(
              `${message}: its sshd does not allow forwarding there (AllowTcpForwarding, PermitOpen). No command was run.`,
            ),
          );
        reject(new Error(message));
      });
    });
  }

  /** Wraps the connected hop(s) into a session that notices when the link closes. */
  private static open(nas: HopResult, jump?: HopResult): Session {
    const client = nas.ssh.connection;
    if (!client) throw new Error('Connection lost before handshake');
    const session = new Session(nas.ssh, client, nas.presented, jump?.ssh, jump?.presented);
    client.on('close', () => (session.closedReason ??= 'the connection to the NAS closed'));
    client.on('error', (err) => (session.closedReason = `the connection to the NAS failed: ${err.message}`));
    const jumpClient = jump?.ssh.connection;
    jumpClient?.on(
      'close',
      () => (session.closedReason ??= 'the connection to the NAS closed (the link to the jump host dropped)'),
    );
    jumpClient?.on(
      'error',
      (err) =>
        (session.closedReason ??= `the connection to the NAS failed: the link to the jump host failed: ${err.message}`),
    );
    return session;
  }

  /** Connects and authenticates to one hop, over `sock` when given (a channel of the jump host), else over TCP. */
  private static async connectHop(hop: Hop, timeoutMs: number, sock?: ClientChannel): Promise<HopResult> {
    const { creds, owner } = hop;
    let presented = '';
    let hostKeyProblem: string | undefined;
    const algorithms = hop.skipHostKeyCheck ? undefined : hostKeyAlgorithms(creds.hostKeys);
    const config: Config = {
      ...(sock ? { sock } : { host: creds.host, port: creds.port }),
      username: creds.username,
      readyTimeout: timeoutMs,
      keepaliveInterval: 10_000,
      keepaliveCountMax: 3,
      // Offer the pinned key types only, else the server proves the key it prefers, which may not be the pinned one.
      ...(algorithms ? { algorithms: { serverHostKey: algorithms } } : {}),
      // The verifier is synchronous and always returns a boolean: ssh2 then
      // closes the connection before authentication when it says false.
      hostVerifier: (key: Buffer): boolean => {
        presented = fingerprint(key);
        if (hop.skipHostKeyCheck) return true;
        const type = keyTypeOf(key);
        const advice = hostKeyAdvice(creds.host, creds.port, presented, type, owner);
        const nothing = owner === NAS_KEY_OWNER ? 'No command was run.' : 'Nothing was sent to the NAS.';
        if (creds.hostKeys.length === 0) {
          hostKeyProblem =
            owner === NAS_KEY_OWNER
              ? `No host-key is set, so the NAS cannot be trusted and no command was run.\n${advice}\n(Or set insecure-skip-host-key-check: true to skip this check, which lets anyone on the path impersonate the NAS.)`
              : `No ${owner.input} is set, so ${owner.name} cannot be trusted and nothing was sent to the NAS.\n${advice}`;
          return false;
        }
        if (!hostKeyMatches(creds.hostKeys, key)) {
          const untyped = creds.hostKeys.every((k) => k.kind === 'fingerprint')
            ? ` A fingerprint does not say which type of key it is, so ${owner.name} proved its ${type} key: if the pinned fingerprint is of another of its keys, pin that key's line as ssh-keyscan prints it (type and key) instead.`
            : '';
          hostKeyProblem = `HOST KEY MISMATCH: ${owner.name} presented its ${type} key ${presented}, which is not the pinned ${owner.input} (${creds.hostKeys.map(describePinned).join(', ')}). ${nothing} If ${owner.name} was reinstalled or its keys changed on purpose, update ${owner.input}; otherwise someone may be impersonating it.${untyped}\n${advice}`;
          return false;
        }
        return true;
      },
    };
    // Only the one method we have: ssh2 would otherwise try "none" first, a round trip for nothing.
    if (creds.privateKey) {
      config.privateKey = creds.privateKey;
      if (creds.passphrase) config.passphrase = creds.passphrase;
      config.authHandler = ['publickey'];
    } else if (creds.password !== undefined) {
      config.password = creds.password;
      config.authHandler = ['password'];
    }
    const ssh = new NodeSSH();
    try {
      const connecting = ssh.connect(config);
      // node-ssh creates the ssh2 client and starts connecting before its first await.
      // Programs and markers are small writes answered by small writes: Nagle's algorithm
      // would hold each one back for the peer's delayed ACK. (Over a jump host, the
      // jump host's connection carries the TCP socket; a channel has no such setting.)
      ssh.connection?.setNoDelay(true);
      await connecting;
    } catch (err) {
      ssh.dispose();
      throw Session.failure(err as Error & { level?: string }, hop, hostKeyProblem);
    }
    return { ssh, presented };
  }

  /** Why an attempt failed, as a PermanentConnectError when no retry can mend it. */
  private static failure(err: Error & { level?: string }, hop: Hop, hostKeyProblem: string | undefined): Error {
    if (hostKeyProblem) return new PermanentConnectError(hostKeyProblem);
    const { creds, owner } = hop;
    if (err.level === 'client-authentication')
      return new PermanentConnectError(
        `SSH authentication as ${creds.username} failed: ${owner.name} accepted none of the given credentials (${creds.privateKey ? hop.keyInput : hop.passwordInput}).`,
      );
    if (/parse|passphrase|Unsupported key|Cannot parse/i.test(err.message))
      return new PermanentConnectError(`The ${hop.keyInput} could not be used: ${err.message}`);
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
    this.jumpSsh?.dispose();
  }
}
