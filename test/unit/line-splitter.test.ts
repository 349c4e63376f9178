import { describe, expect, it } from 'vitest';
import { LineSplitter, ProgramOutput } from '../../src/ssh/exec.js';

/** Feeds `chunks` through a splitter and returns the lines it handed over. */
function split(chunks: (Buffer | string)[]): string[] {
  const lines: string[] = [];
  const splitter = new LineSplitter((line) => lines.push(line));
  for (const chunk of chunks) splitter.push(chunk);
  splitter.end();
  return lines;
}

/** Every way of cutting `bytes` in two. */
function cuts(bytes: Buffer): [Buffer, Buffer][] {
  return Array.from({ length: bytes.length - 1 }, (_, i) => [bytes.subarray(0, i + 1), bytes.subarray(i + 1)]);
}

describe('LineSplitter', () => {
  it('defect 12.11: a UTF-8 character split between two SSH packets stays whole', () => {
    const text = 'Größe: 5 € — 日本語 🚀\nnext line\n';
    for (const [first, second] of cuts(Buffer.from(text, 'utf8'))) {
      expect(split([first, second])).toEqual(['Größe: 5 € — 日本語 🚀', 'next line']);
    }
  });

  it('splits at \\n, \\r\\n and \\r, also when \\r\\n is split between packets', () => {
    expect(split(['a\nb\r\nc\rd'])).toEqual(['a', 'b', 'c', 'd']);
    for (const [first, second] of cuts(Buffer.from('one\r\ntwo\r\n'))) {
      expect(split([first, second])).toEqual(['one', 'two']);
    }
    expect(split(['empty\n\nlines\n'])).toEqual(['empty', '', 'lines']);
  });

  it('hands runs of plain lines over as one string, markers alone', () => {
    const marker = '@@m@@ ';
    const texts: string[] = [];
    const lines: string[] = [];
    const special = (line: string) => line.startsWith(marker);
    const splitter = new LineSplitter(
      (l) => lines.push(l),
      special,
      (t) => texts.push(t),
      marker,
    );
    splitter.push('one\ntwo\n@@m@@ ok done\nthree\nfour @@m@@ not at the start\n@@m@@ value x 1');
    splitter.end();
    expect(texts).toEqual(['one\ntwo', 'three\nfour @@m@@ not at the start']);
    expect(lines).toEqual(['@@m@@ ok done', '@@m@@ value x 1']);
  });

  it('cuts an endless line at 16 KiB but keeps a marker line whole', () => {
    const long = 'x'.repeat(40 * 1024);
    const [cut] = split([long.slice(0, 20000), long.slice(20000), '\n']);
    expect(cut).toBe('x'.repeat(16 * 1024) + ' …');
    const value = '@@m@@ value history ' + 'A'.repeat(100 * 1024);
    const lines: string[] = [];
    const splitter = new LineSplitter(
      (l) => lines.push(l),
      (l) => l.startsWith('@@m@@ '),
    );
    for (let at = 0; at < value.length; at += 32 * 1024) splitter.push(value.slice(at, at + 32 * 1024));
    splitter.push('\n');
    splitter.end();
    expect(lines).toEqual([value]);
  });
});

describe('LineSplitter with onBytes', () => {
  const marker = '@@m@@ ';
  /** Feeds `chunks`; returns what it handed over, in order: bytes as { bytes }, lines and texts as strings. */
  function splitBytes(chunks: (Buffer | string)[]): { all: (string | { bytes: Buffer })[]; packets: Buffer[] } {
    const all: (string | { bytes: Buffer })[] = [];
    const packets = chunks.map((c) => (typeof c === 'string' ? Buffer.from(c) : c));
    const splitter = new LineSplitter(
      (line) => all.push(`line:${line}`),
      (line) => line.startsWith(marker),
      (text) => all.push(`text:${text}`),
      marker,
      (bytes) => all.push({ bytes }),
    );
    for (const packet of packets) splitter.push(packet);
    splitter.end();
    return { all, packets };
  }
  const shown = (all: (string | { bytes: Buffer })[]): string[] =>
    all.map((x) => (typeof x === 'string' ? x : `bytes:${x.bytes.toString()}`));

  it("issue 11.8: a packet's whole plain lines are handed over as the packet's own bytes, not decoded", () => {
    const { all, packets } = splitBytes(['one\ntwo\nthr', 'ee\nfour\nfive\n']);
    expect(shown(all)).toEqual(['bytes:one\ntwo\n', 'text:three', 'bytes:four\nfive\n']);
    // the very memory of the packets: no copy, no string
    const handed = all.filter((x): x is { bytes: Buffer } => typeof x !== 'string').map((x) => x.bytes);
    expect(handed[0].buffer).toBe(packets[0].buffer);
    expect(handed[1].buffer).toBe(packets[1].buffer);
  });

  it('decodes marker lines alone, and only those at the start of a line', () => {
    const { all } = splitBytes(['a\n@@m@@ ok done\nb @@m@@ not one\n@@m@@ value x 1\n@@m@@ step last\nc\n']);
    expect(shown(all)).toEqual([
      'bytes:a\n',
      'line:@@m@@ ok done',
      'bytes:b @@m@@ not one\n',
      'line:@@m@@ value x 1',
      'line:@@m@@ step last',
      'bytes:c\n',
    ]);
  });

  it('takes the string path for a run with \r (rewritten to \n) and for a line it must cut', () => {
    expect(shown(splitBytes(['a\r\nb\rc\n']).all)).toEqual(['text:a\nb\nc']);
    const long = 'x'.repeat(20 * 1024);
    expect(shown(splitBytes([`short\n${long}\nafter\n`]).all)).toEqual([
      'line:short',
      `line:${'x'.repeat(16 * 1024)} …`,
      'line:after',
    ]);
  });

  it('keeps a UTF-8 character split between packets whole, whichever path a line takes', () => {
    const text = 'Größe: 5 € — 日本語 🚀\nnext line\n';
    for (const [first, second] of cuts(Buffer.from(text, 'utf8'))) {
      const log = splitBytes([first, second])
        .all.map((x) => (typeof x === 'string' ? x.replace(/^(text|line):/, '') + '\n' : x.bytes.toString()))
        .join('');
      expect(log).toBe(text);
    }
  });
});

describe('ProgramOutput', () => {
  it('keeps the last 40 lines for error messages, whatever runs they came in', () => {
    const printed: string[] = [];
    const output = new ProgramOutput(
      '@@m@@',
      { title: 'Building' },
      {},
      (texts) => void printed.push(...texts.map(String)),
    );
    const all = Array.from({ length: 130 }, (_, i) => `line ${i + 1}`);
    output.text(all.slice(0, 100).join('\n'));
    output.line(all[100]);
    output.text(all.slice(101, 129).join('\n'));
    output.line('@@m@@ value answer 42');
    output.text(all[129]);
    const result = output.result(0);
    expect(result.tail).toEqual(all.slice(-40));
    expect(result.values.get('answer')).toBe('42');
    expect(printed.join('\n').split('\n')).toEqual(all);
  });

  it('keeps the last 40 lines of a long log, and no more than 64 KiB of long lines', () => {
    const output = new ProgramOutput('@@m@@', { title: 'Building', quiet: true }, { allowFailure: true }, () => true);
    const all = Array.from({ length: 50_000 }, (_, i) => `line ${i + 1} ${'ü'.repeat(i % 50)}`);
    for (let at = 0; at < all.length; at += 437) output.text(all.slice(at, at + 437).join('\n'));
    expect(output.result(1).tail).toEqual(all.slice(-40));

    const long = new ProgramOutput('@@m@@', { title: 'Building', quiet: true }, { allowFailure: true }, () => true);
    const wide = Array.from({ length: 100 }, (_, i) => `${i}:` + 'y'.repeat(10_000));
    for (const line of wide) long.text(line);
    long.text('last');
    const tail = long.result(1).tail;
    expect(tail.at(-1)).toBe('last');
    expect(tail.slice(0, -1)).toEqual(wide.slice(-tail.length + 1));
    expect(Buffer.byteLength(tail.join('\n'))).toBeLessThanOrEqual(64 * 1024);
  });

  it('keeps the last 40 lines whether they came as bytes or as text', () => {
    const printed: (string | Buffer)[] = [];
    const output = new ProgramOutput('@@m@@', { title: 'Building' }, {}, (texts) => void printed.push(...texts));
    const all = Array.from({ length: 130 }, (_, i) => `line ${i + 1} ${'é'.repeat(i % 7)}`);
    output.bytes(Buffer.from(all.slice(0, 100).join('\n') + '\n'));
    output.text(all[100]);
    output.bytes(Buffer.from(all.slice(101, 129).join('\n') + '\n'));
    output.line('@@m@@ value answer 42');
    output.bytes(Buffer.from(all[129] + '\n'));
    const result = output.result(0);
    expect(result.tail).toEqual(all.slice(-40));
    expect(result.values.get('answer')).toBe('42');
    const log = printed.map((p) => (typeof p === 'string' ? p + '\n' : p.toString())).join('');
    expect(log).toBe(all.join('\n') + '\n');

    const wide = new ProgramOutput('@@m@@', { title: 'Building', quiet: true }, { allowFailure: true }, () => true);
    const lines = Array.from({ length: 100 }, (_, i) => `${i}:` + 'y'.repeat(10_000));
    wide.bytes(Buffer.from(lines.join('\n') + '\n'));
    wide.bytes(Buffer.from('last\n'));
    const tail = wide.result(1).tail;
    expect(tail.at(-1)).toBe('last');
    expect(tail.slice(0, -1)).toEqual(lines.slice(-tail.length + 1));
    expect(Buffer.byteLength(tail.join('\n'))).toBeLessThanOrEqual(64 * 1024);
  });

  it('prints nothing of a quiet program, yet keeps its tail', () => {
    const printed: string[] = [];
    const output = new ProgramOutput(
      '@@m@@',
      { title: 'Reading', quiet: true },
      { allowFailure: true },
      (texts) => void printed.push(...texts.map(String)),
    );
    output.text('a\nb');
    output.bytes(Buffer.from('c\nd\n'));
    expect(output.result(3).tail).toEqual(['a', 'b', 'c', 'd']);
    expect(printed).toEqual([]);
  });
});
