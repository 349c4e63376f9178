import { Transform, type TransformCallback } from 'node:stream';
import { gzip, type ZlibOptions } from 'node:zlib';

function compress(data: Buffer, options: ZlibOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => gzip(data, options, (err, out) => (err ? reject(err) : resolve(out))));
}

/**
 * gzip in blocks compressed side by side on libuv's thread pool, as pigz
 * does: each block is a gzip member of its own, and a stream of members is
 * one gzip stream to `gunzip` (GNU's and BusyBox's read them all). The
 * output keeps the input's order; at most `inFlight` blocks are held, so
 * memory stays bounded and backpressure reaches the producer. Compression is
 * the runner's slowest step of a transfer, and one deflate stream keeps one
 * core busy while the others wait.
 */
export class ParallelGzip extends Transform {
  private block: Buffer[] = [];
  private blockLength = 0;
  private readonly queue: Promise<Buffer>[] = [];

  constructor(private readonly options: { level: number; blockSize?: number; inFlight?: number } = { level: 6 }) {
    super();
  }

  private get blockSize(): number {
    return this.options.blockSize ?? 1 << 20;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.block.push(chunk);
    this.blockLength += chunk.length;
    if (this.blockLength < this.blockSize) return done();
    this.dispatch();
    this.emitUntil((this.options.inFlight ?? 4) - 1).then(() => done(), done);
  }

  override _flush(done: TransformCallback): void {
    if (this.blockLength > 0) this.dispatch();
    this.emitUntil(0).then(() => done(), done);
  }

  private dispatch(): void {
    const data = Buffer.concat(this.block, this.blockLength);
    this.block = [];
    this.blockLength = 0;
    const compressed = compress(data, { level: this.options.level });
    compressed.catch(() => undefined); // reported when its turn comes
    this.queue.push(compressed);
  }

  /** Pushes finished blocks, in order, until no more than `limit` are in flight. */
  private async emitUntil(limit: number): Promise<void> {
    while (this.queue.length > limit) this.push(await this.queue.shift()!);
  }
}
