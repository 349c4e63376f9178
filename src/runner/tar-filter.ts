import { Transform, type TransformCallback } from 'node:stream';

const BLOCK = 512;
const LAYER_BLOB = /^(?:\.\/)?blobs\/sha256\/([0-9a-f]{64})$/;

/** A tar entry's size field: octal text, or base-256 when its first byte has the high bit set. */
function entrySize(header: Buffer): number {
  const field = header.subarray(124, 136);
  if (field[0] & 0x80) {
    let n = field[0] & 0x7f;
    for (let i = 1; i < field.length; i++) n = n * 256 + field[i];
    return n;
  }
  const text = field.toString('latin1').replace(/\0.*$/s, '').trim();
  return text ? parseInt(text, 8) : 0;
}

function field(header: Buffer, from: number, to: number): string {
  const end = header.indexOf(0, from);
  return header.toString('utf8', from, end < 0 || end > to ? to : end);
}

/** `path=` of a PAX extended header's records, if any. */
function paxPath(data: Buffer): string | undefined {
  let at = 0;
  let path: string | undefined;
  while (at < data.length) {
    const space = data.indexOf(0x20, at);
    if (space < 0) break;
    const length = parseInt(data.toString('latin1', at, space), 10);
    if (!(length > 0)) break;
    const record = data.toString('utf8', space + 1, at + length - 1);
    if (record.startsWith('path=')) path = record.slice(5);
    at += length;
  }
  return path;
}

/**
 * Leaves out of a `docker save` archive the layer blobs the NAS already has.
 * An archive of Docker 25 or later (OCI layout) names each layer
 * `blobs/sha256/<digest>`, and a layer's digest there is its diff ID (the
 * blob is the uncompressed tar); `docker load` looks a layer up by its chain
 * and reads its file only when it is missing, so leaving out a layer the NAS
 * has changes nothing it loads. Everything else (the manifests, the config,
 * the layers of an older engine's layout, whose names say nothing of their
 * content) passes through unchanged. A streaming filter: it holds at most one
 * header and its extended header, never an entry's data.
 */
export class LayerFilter extends Transform {
  /** Bytes of the entry being passed (`keep`) or dropped, still to come, padding included. */
  private remaining = 0;
  private keep = true;
  private pending: Buffer[] = [];
  private pendingLength = 0;
  /** Extended headers (PAX `x`, GNU `L`) held until the entry they describe decides. */
  private extension: Buffer[] = [];
  private extensionPath?: string;
  /** Reading an extended header's data: it is held, not passed. */
  private readingExtension?: { kind: 'x' | 'L'; size: number; data: Buffer[] };
  private ended = false;
  dropped = 0;
  droppedBytes = 0;

  constructor(private readonly skip: ReadonlySet<string>) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    let at = 0;
    while (at < chunk.length) {
      if (this.ended) {
        this.push(chunk.subarray(at));
        break;
      }
      if (this.remaining > 0) {
        const n = Math.min(this.remaining, chunk.length - at);
        const piece = chunk.subarray(at, at + n);
        if (this.readingExtension) this.readingExtension.data.push(Buffer.from(piece));
        else if (this.keep) this.push(piece);
        else this.droppedBytes += n;
        this.remaining -= n;
        at += n;
        if (this.remaining === 0 && this.readingExtension) this.endExtension();
        continue;
      }
      // a header block, perhaps split between chunks
      const need = BLOCK - this.pendingLength;
      const piece = chunk.subarray(at, at + need);
      this.pending.push(Buffer.from(piece));
      this.pendingLength += piece.length;
      at += piece.length;
      if (this.pendingLength < BLOCK) break;
      const header = Buffer.concat(this.pending, BLOCK);
      this.pending = [];
      this.pendingLength = 0;
      this.header(header);
    }
    done();
  }

  override _flush(done: TransformCallback): void {
    if (this.pendingLength) this.push(Buffer.concat(this.pending));
    done();
  }

  private header(header: Buffer): void {
    if (header.every((b) => b === 0)) {
      // the end of the archive: whatever follows is passed as it is
      for (const e of this.extension) this.push(e);
      this.extension = [];
      this.push(header);
      this.ended = true;
      return;
    }
    const size = entrySize(header);
    const padded = Math.ceil(size / BLOCK) * BLOCK;
    const type = String.fromCharCode(header[156]);
    if (type === 'x' || type === 'L') {
      this.extension.push(header);
      this.readingExtension = { kind: type, size, data: [] };
      this.remaining = padded;
      if (padded === 0) this.endExtension();
      return;
    }
    const prefix = field(header, 345, 500);
    const name = this.extensionPath ?? (prefix ? `${prefix}/${field(header, 0, 100)}` : field(header, 0, 100));
    const blob = LAYER_BLOB.exec(name);
    this.keep = !(blob && this.skip.has(blob[1]) && (type === '0' || type === '\0'));
    if (this.keep) {
      for (const e of this.extension) this.push(e);
      this.push(header);
    } else {
      this.dropped += 1;
      this.droppedBytes += BLOCK;
    }
    this.extension = [];
    this.extensionPath = undefined;
    this.remaining = padded;
  }

  private endExtension(): void {
    const ext = this.readingExtension!;
    this.readingExtension = undefined;
    const data = Buffer.concat(ext.data);
    this.extension.push(data);
    const body = data.subarray(0, ext.size);
    if (ext.kind === 'x') this.extensionPath = paxPath(body) ?? this.extensionPath;
    else this.extensionPath = body.toString('utf8').replace(/\0.*$/s, '');
  }
}
