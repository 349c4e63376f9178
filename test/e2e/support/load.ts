import { request } from 'node:http';

/** One answered (or failed) request of the load generator. */
export interface Sample {
  /** performance.now() when the request was sent and when it ended. */
  sentAt: number;
  endedAt: number;
  status: number;
  body: string;
  error?: string;
}

export interface LoadReport {
  sent: number;
  ok: number;
  /** Requests that did not end with a 2xx (connection refused or reset, 502 from the proxy, a timeout). */
  failed: number;
  /** The longest time without a successful answer, in ms (the gap a user would see). */
  longestGapMs: number;
  /** A few of the failures, for the message of a failed assertion. */
  failures: string[];
}

/**
 * A steady stream of GET requests (about `rate` a second) through the proxy,
 * each on a new connection, as browsers arriving one by one: a request that is
 * refused, reset, answered with a non-2xx or not answered within 5 s counts as
 * lost. Requests are sent on a fixed schedule, not one after another, so a
 * slow answer does not slow the stream down.
 */
export class LoadGenerator {
  readonly samples: Sample[] = [];
  private timer?: NodeJS.Timeout;
  private inFlight = new Set<Promise<void>>();

  constructor(
    private readonly url: string,
    private readonly rate = 50,
  ) {}

  start(): this {
    const every = 1000 / this.rate;
    const t0 = performance.now();
    let sent = 0;
    const tick = (): void => {
      // catch up on the schedule, however late this tick runs
      const due = Math.floor((performance.now() - t0) / every) + 1;
      while (sent < due) {
        sent += 1;
        const p = this.one().finally(() => this.inFlight.delete(p));
        this.inFlight.add(p);
      }
      this.timer = setTimeout(tick, every / 2);
    };
    tick();
    return this;
  }

  private one(): Promise<void> {
    const sentAt = performance.now();
    return new Promise<void>((resolve) => {
      const done = (status: number, body: string, error?: string): void => {
        this.samples.push({ sentAt, endedAt: performance.now(), status, body, ...(error ? { error } : {}) });
        resolve();
      };
      const req = request(this.url, { agent: false, timeout: 5000, headers: { connection: 'close' } }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => done(res.statusCode ?? 0, body));
        res.on('error', (e) => done(0, body, e.message));
      });
      req.on('timeout', () => req.destroy(new Error('no answer within 5 s')));
      req.on('error', (e) => done(0, '', e.message));
      req.end();
    });
  }

  /** Stops sending, waits for the requests in flight, and reports. */
  async stop(): Promise<LoadReport> {
    clearTimeout(this.timer);
    await Promise.all([...this.inFlight]);
    return report(this.samples);
  }

  /** The first answer (by when it ended) whose body is `body`, after `since` (performance.now() ms). */
  firstAnswer(body: string, since: number): Sample | undefined {
    return this.samples
      .filter((s) => s.sentAt >= since && s.status >= 200 && s.status < 300 && s.body === body)
      .sort((a, b) => a.endedAt - b.endedAt)[0];
  }
}

export function report(samples: readonly Sample[]): LoadReport {
  const ok = samples.filter((s) => s.status >= 200 && s.status < 300);
  const failed = samples.filter((s) => !(s.status >= 200 && s.status < 300));
  const times = ok.map((s) => s.endedAt).sort((a, b) => a - b);
  let longestGapMs = 0;
  for (let i = 1; i < times.length; i++) longestGapMs = Math.max(longestGapMs, times[i] - times[i - 1]);
  return {
    sent: samples.length,
    ok: ok.length,
    failed: failed.length,
    longestGapMs: Math.round(longestGapMs),
    failures: failed.slice(0, 5).map((s) => `${s.status} ${s.error ?? s.body.slice(0, 80)}`),
  };
}
