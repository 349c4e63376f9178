import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TcpProxy } from '../e2e/support/proxy.js';

/** A local echo server: the proxy's target in these tests (no NAS). */
let echo: Server;
let echoPort = 0;
const serverSockets = new Set<Socket>();
beforeAll(async () => {
  echo = createServer((s) => {
    serverSockets.add(s);
    s.on('close', () => serverSockets.delete(s));
    s.on('error', () => undefined);
    s.pipe(s);
  });
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
  echoPort = (echo.address() as AddressInfo).port;
});
afterAll(async () => {
  for (const s of serverSockets) s.destroy();
  await new Promise<void>((r) => echo.close(() => r()));
});

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port }, () => resolve(s));
    s.once('error', reject);
  });
}

/** Sends `text` and resolves with the echo and the time it took. */
function roundTrip(s: Socket, text: string): Promise<{ reply: string; ms: number }> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    let got = '';
    const onData = (d: Buffer): void => {
      got += d.toString();
      if (got.length >= text.length) {
        s.off('data', onData);
        resolve({ reply: got, ms: performance.now() - t0 });
      }
    };
    s.on('data', onData);
    s.write(text);
  });
}

const closed = (s: Socket): Promise<void> => new Promise((r) => (s.destroyed ? r() : s.once('close', () => r())));

describe('TcpProxy', () => {
  it('forwards both ways and counts connections and bytes', async () => {
    const proxy = await TcpProxy.start({ targetPort: echoPort });
    try {
      const s = await open(proxy.port);
      const { reply } = await roundTrip(s, 'hello through the proxy');
      expect(reply).toBe('hello through the proxy');
      expect(proxy.connections).toBe(1);
      expect(proxy.liveConnections).toBe(1);
      expect(proxy.bytesUp).toBe(23);
      expect(proxy.bytesDown).toBe(23);
      expect(proxy.records[0].upstreamPort).toBeGreaterThan(0);
      expect(proxy.records[0].firstClientByteAt).toBeGreaterThan(0);
      s.end();
      await closed(s);
      await new Promise((r) => setTimeout(r, 50));
      expect(proxy.liveConnections).toBe(0);
    } finally {
      await proxy.close();
    }
  });

  it('adds at least 2 × delayMs to a round trip, and keeps the order of the chunks', async () => {
    const proxy = await TcpProxy.start({ targetPort: echoPort, delayMs: 60 });
    try {
      const s = await open(proxy.port);
      const { ms } = await roundTrip(s, 'ping');
      expect(ms).toBeGreaterThanOrEqual(119);
      // Many small writes in a burst come back whole and in order.
      const parts = Array.from({ length: 200 }, (_, i) => `<${i}>`);
      const want = parts.join('');
      const done = new Promise<string>((resolve) => {
        let got = '';
        s.on('data', (d: Buffer) => {
          got += d.toString();
          if (got.length >= want.length) resolve(got);
        });
      });
      for (const p of parts) s.write(p);
      expect(await done).toBe(want);
      proxy.delayMs = 0;
      s.removeAllListeners('data');
      const fast = await roundTrip(s, 'pong');
      expect(fast.reply).toBe('pong');
      expect(fast.ms).toBeLessThan(100);
      s.destroy();
    } finally {
      await proxy.close();
    }
  });

  it('cut() ends every live connection at once, both sides; new connections work afterwards', async () => {
    const proxy = await TcpProxy.start({ targetPort: echoPort, delayMs: 5 });
    try {
      const a = await open(proxy.port);
      const b = await open(proxy.port);
      a.on('error', () => undefined);
      b.on('error', () => undefined);
      await roundTrip(a, 'a');
      await roundTrip(b, 'b');
      expect(serverSockets.size).toBe(2);
      expect(proxy.cut()).toBe(2);
      await Promise.all([closed(a), closed(b)]);
      // the server side is gone too
      for (let i = 0; i < 50 && serverSockets.size > 0; i++) await new Promise((r) => setTimeout(r, 10));
      expect(serverSockets.size).toBe(0);
      expect(proxy.liveConnections).toBe(0);
      expect(proxy.cutConnections).toBe(2);

      const c = await open(proxy.port);
      expect((await roundTrip(c, 'after the cut')).reply).toBe('after the cut');
      expect(proxy.connections).toBe(3);
      c.destroy();
    } finally {
      await proxy.close();
    }
  });

  it('refuses connections above maxConnections and closes cleanly', async () => {
    const proxy = await TcpProxy.start({ targetPort: echoPort, maxConnections: 1 });
    const a = await open(proxy.port);
    await roundTrip(a, 'x');
    const b = await open(proxy.port);
    b.on('error', () => undefined);
    await closed(b);
    expect(proxy.refused).toBe(1);
    a.on('error', () => undefined);
    await proxy.close();
    await closed(a);
    expect(proxy.liveConnections).toBe(0);
  });
});
