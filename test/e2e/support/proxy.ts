import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy between an action and the NAS's sshd, for fault and latency
 * tests: it listens on a free loopback port and forwards every connection to
 * the target (127.0.0.1:2222 by default).
 *
 * - `delayMs` holds every chunk that long in each direction (a round trip
 *   gains 2 × delayMs), in order;
 * - `cut()` destroys every live connection at once, both sides, as a dropped
 *   link would; new connections keep working afterwards;
 * - it counts connections and bytes, and keeps a short record of each
 *   connection (when it opened, when its first byte arrived, the local port
 *   of its upstream socket, which is the port sshd logs).
 *
 * Bounded: at most `maxConnections` live connections (more are refused), and a
 * direction with more than `maxQueuedBytes` waiting pauses its reader.
 */
export interface ProxyOptions {
  /** Where the proxy listens: 127.0.0.1 and a free port unless given (the jump host tests listen on the runner namespace's side). */
  listenHost?: string;
  listenPort?: number;
  targetHost?: string;
  targetPort?: number;
  /** Delay of every chunk, each way, in ms. */
  delayMs?: number;
  maxConnections?: number;
  maxQueuedBytes?: number;
  /** Records kept (the oldest are dropped). */
  maxRecords?: number;
  /** Called when a connection's first byte from the client arrives (start-up measurements). */
  onFirstClientByte?: (record: ConnectionRecord) => void;
}

export interface ConnectionRecord {
  id: number;
  openedAt: number;
  /** When the first byte from the client arrived (performance.now() ms). */
  firstClientByteAt?: number;
  /** When the first byte from the target arrived. */
  firstServerByteAt?: number;
  /** The local port of the upstream socket: the port sshd logs for this connection. */
  upstreamPort?: number;
  bytesUp: number;
  bytesDown: number;
  closedAt?: number;
  cut: boolean;
}

interface Live {
  record: ConnectionRecord;
  client: Socket;
  upstream: Socket;
  pipes: DelayedPipe[];
}

/** One direction: chunks wait `delay()` ms each, in arrival order, then are written. */
class DelayedPipe {
  private readonly queue: Array<{ due: number; data: Buffer }> = [];
  private queued = 0;
  private timer?: NodeJS.Timeout;
  /** The source finished its stream cleanly. */
  ended = false;
  private stopped = false;
  private waitingDrain = false;

  constructor(
    private readonly from: Socket,
    private readonly to: Socket,
    private readonly delay: () => number,
    private readonly maxQueued: number,
    private readonly count: (n: number) => void,
  ) {
    from.on('data', (data: Buffer) => this.push(data));
    from.on('end', () => {
      this.ended = true;
      this.pump();
    });
  }

  private push(data: Buffer): void {
    if (this.stopped) return;
    const d = this.delay();
    if (d <= 0 && this.queue.length === 0) {
      this.write(data);
      return;
    }
    this.queue.push({ due: performance.now() + d, data });
    this.queued += data.length;
    if (this.queued > this.maxQueued) this.from.pause();
    this.pump();
  }

  private write(data: Buffer): void {
    this.count(data.length);
    if (this.to.destroyed || this.to.write(data) || this.waitingDrain) return;
    this.waitingDrain = true;
    this.from.pause();
    this.to.once('drain', () => {
      this.waitingDrain = false;
      if (this.queued <= this.maxQueued && !this.stopped) this.from.resume();
    });
  }

  private pump(): void {
    if (this.stopped || this.timer) return;
    const now = performance.now();
    while (this.queue.length && this.queue[0].due <= now) {
      const { data } = this.queue.shift()!;
      this.queued -= data.length;
      this.write(data);
    }
    if (
      this.queued <= this.maxQueued &&
      !this.waitingDrain &&
      this.from.isPaused() &&
      this.from.readyState !== 'opening'
    )
      this.from.resume();
    if (this.queue.length) {
      this.timer = setTimeout(
        () => {
          this.timer = undefined;
          this.pump();
        },
        Math.max(0, this.queue[0].due - now),
      );
    } else if (this.ended && !this.to.destroyed) {
      this.to.end();
    }
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.queue.length = 0;
    this.queued = 0;
  }
}

export class TcpProxy {
  /** Delay of every chunk, each way, in ms; may be changed while running. */
  delayMs: number;
  /** Connections accepted since start. */
  connections = 0;
  /** Connections refused because maxConnections were live. */
  refused = 0;
  bytesUp = 0;
  bytesDown = 0;
  /** Connections destroyed by cut(). */
  cutConnections = 0;
  readonly records: ConnectionRecord[] = [];

  private readonly live = new Set<Live>();
  private readonly server: Server;
  private readonly opts: Required<Omit<ProxyOptions, 'onFirstClientByte' | 'listenHost' | 'listenPort'>>;
  private readonly onFirstClientByte?: (record: ConnectionRecord) => void;
  private nextId = 1;

  private constructor(opts: ProxyOptions) {
    this.opts = {
      targetHost: opts.targetHost ?? '127.0.0.1',
      targetPort: opts.targetPort ?? 2222,
      delayMs: opts.delayMs ?? 0,
      maxConnections: opts.maxConnections ?? 64,
      maxQueuedBytes: opts.maxQueuedBytes ?? 8 * 1024 * 1024,
      maxRecords: opts.maxRecords ?? 1000,
    };
    this.delayMs = this.opts.delayMs;
    this.onFirstClientByte = opts.onFirstClientByte;
    this.server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (client) => this.accept(client));
  }

  /** Starts a proxy on a free port of 127.0.0.1 (or where `listenHost`/`listenPort` say). */
  static async start(opts: ProxyOptions = {}): Promise<TcpProxy> {
    const proxy = new TcpProxy(opts);
    await new Promise<void>((resolve, reject) => {
      proxy.server.once('error', reject);
      proxy.server.listen(opts.listenPort ?? 0, opts.listenHost ?? '127.0.0.1', () => {
        proxy.server.off('error', reject);
        resolve();
      });
    });
    return proxy;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** Connections open now. */
  get liveConnections(): number {
    return this.live.size;
  }

  private accept(client: Socket): void {
    if (this.live.size >= this.opts.maxConnections) {
      this.refused += 1;
      client.destroy();
      return;
    }
    this.connections += 1;
    const record: ConnectionRecord = {
      id: this.nextId++,
      openedAt: performance.now(),
      bytesUp: 0,
      bytesDown: 0,
      cut: false,
    };
    this.records.push(record);
    if (this.records.length > this.opts.maxRecords) this.records.shift();
    const upstream = connect({ host: this.opts.targetHost, port: this.opts.targetPort, allowHalfOpen: true });
    const conn: Live = { record, client, upstream, pipes: [] };
    this.live.add(conn);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    client.once('data', () => {
      record.firstClientByteAt ??= performance.now();
      this.onFirstClientByte?.(record);
    });
    upstream.once('data', () => (record.firstServerByteAt ??= performance.now()));
    const delay = (): number => this.delayMs;
    conn.pipes.push(
      new DelayedPipe(client, upstream, delay, this.opts.maxQueuedBytes, (n) => {
        record.bytesUp += n;
        this.bytesUp += n;
      }),
      new DelayedPipe(upstream, client, delay, this.opts.maxQueuedBytes, (n) => {
        record.bytesDown += n;
        this.bytesDown += n;
      }),
    );
    upstream.once('connect', () => {
      record.upstreamPort = upstream.localPort;
      client.resume();
    });
    const [up, down] = conn.pipes;
    // A side that goes away without finishing its stream (a reset, an error,
    // a destroy) takes the other with it; a side that ended cleanly lets the
    // other finish once the delayed data has been written.
    const onClose = (from: DelayedPipe, other: Socket) => (hadError: boolean) => {
      if ((hadError || !from.ended) && !other.destroyed) other.destroy();
      if (client.destroyed && upstream.destroyed) this.drop(conn);
    };
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.on('close', onClose(up, upstream));
    upstream.on('close', onClose(down, client));
  }

  private drop(conn: Live): void {
    if (!this.live.delete(conn)) return;
    for (const p of conn.pipes) p.stop();
    conn.record.closedAt ??= performance.now();
  }

  /** Destroys every live connection at once, both sides; returns how many. */
  cut(): number {
    const all = [...this.live];
    for (const conn of all) {
      conn.record.cut = true;
      for (const p of conn.pipes) p.stop();
      conn.client.resetAndDestroy();
      conn.upstream.resetAndDestroy();
      this.drop(conn);
    }
    this.cutConnections += all.length;
    return all.length;
  }

  /** Stops listening, cuts what is left, and resolves when the server is closed. */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.cut();
    await closed;
  }
}
