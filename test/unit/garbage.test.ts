import { describe, expect, it } from 'vitest';
import { COLLECT_EVERY_BYTES, GarbageCollector } from '../../src/ssh/garbage.js';

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('the garbage collector of relayed output', () => {
  it('collects once COLLECT_EVERY_BYTES have been relayed, not before', async () => {
    const collector = new GarbageCollector();
    let ref = new WeakRef({ payload: Buffer.alloc(1024) });
    await tick(); // a WeakRef keeps its target alive until the job that made it ends
    collector.add(COLLECT_EVERY_BYTES - 1);
    await tick();
    // Nothing else allocates here, so without a collection the object is still there.
    expect(ref.deref()).toBeDefined();

    ref = new WeakRef({ payload: Buffer.alloc(1024) });
    await tick();
    collector.add(1); // with the byte before, the threshold is reached
    await tick();
    expect(ref.deref()).toBeUndefined();
  });
});
