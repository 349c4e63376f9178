import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { datedTags, parseImageTags, parseSize, planCleanup } from '../../src/rules/images.js';
import { datedTag, isBackendRollbackTag, isDatedTag, isMonitoringTag, newestFirst } from '../../src/rules/tags.js';

const SHA = 'abcdef0123456789abcdef0123456789abcdef01';

describe('datedTag', () => {
  it('is the UTC date and the short commit', () => {
    expect(datedTag(SHA, new Date('2026-01-10T12:00:00Z'))).toBe('2026.01.10-abcdef0');
    expect(datedTag('1234567', new Date('2026-12-31T23:59:59Z'))).toBe('2026.12.31-1234567');
  });

  it('uses the UTC date, not the local one', () => {
    expect(datedTag(SHA, new Date('2026-01-10T23:30:00-05:00'))).toBe('2026.01.11-abcdef0');
    expect(datedTag(SHA, new Date('2026-01-11T00:30:00+02:00'))).toBe('2026.01.10-abcdef0');
  });

  it('refuses what is not a lowercase commit hash', () => {
    for (const bad of ['', 'abcdef', 'ABCDEF0123', 'HEAD', 'main', 'abcdefg', '$(id)abc', `${SHA}\n`]) {
      expect(() => datedTag(bad, new Date())).toThrow(/not a commit hash/);
    }
  });

  it('always makes a tag that isDatedTag accepts', () => {
    fc.assert(
      fc.property(
        fc.date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('9999-12-31T23:59:59Z'), noInvalidDate: true }),
        fc.stringMatching(/^[0-9a-f]{7,64}$/),
        (when, commit) => {
          const tag = datedTag(commit, when);
          expect(isDatedTag(tag)).toBe(true);
          expect(tag).toBe(`${when.toISOString().slice(0, 10).replace(/-/g, '.')}-${commit.slice(0, 7)}`);
        },
      ),
    );
  });
});

describe('isDatedTag / isBackendRollbackTag', () => {
  it('accepts dated tags', () => {
    for (const ok of ['2026.01.11-abcdef0', '2025.12.31-0000000', '2026.02.29-fffffff']) {
      expect(isDatedTag(ok)).toBe(true);
      expect(isBackendRollbackTag(ok)).toBe(true);
    }
  });

  it('accepts latest as a rollback target, but not as a dated tag', () => {
    expect(isBackendRollbackTag('latest')).toBe(true);
    expect(isDatedTag('latest')).toBe(false);
  });

  it('refuses anything else, injections included', () => {
    for (const bad of [
      '',
      '$(touch /tmp/pwned)',
      '`id`',
      'latest;rm',
      'latest ',
      ' latest',
      'latest\n',
      'Latest',
      '2026.13.01-abcdef0',
      '2026.00.01-abcdef0',
      '2026.01.32-abcdef0',
      '2026.01.00-abcdef0',
      '2026.1.01-abcdef0',
      '26.01.01-abcdef0',
      '2026.01.01-ABCDEF0',
      '2026.01.01-abcdef',
      '2026.01.01-abcdef01',
      '2026.01.01-abcdefg',
      '2026.01.01_abcdef0',
      '2026.01.01-abcdef0\n',
      '2026.01.01-abcdef0;id',
      'v2026.01.01-abcdef0',
    ]) {
      expect({ bad, ok: isBackendRollbackTag(bad) }).toEqual({ bad, ok: false });
    }
  });
});

describe('isMonitoringTag', () => {
  it('is the prefix and a dated tag', () => {
    expect(isMonitoringTag('monitoring-2026.01.11-abcdef0', 'monitoring-')).toBe(true);
    expect(isMonitoringTag('mon.2026.01.11-abcdef0', 'mon.')).toBe(true);
  });

  it('refuses another prefix, no prefix, or a bad dated part', () => {
    expect(isMonitoringTag('2026.01.11-abcdef0', 'monitoring-')).toBe(false);
    expect(isMonitoringTag('backend-2026.01.11-abcdef0', 'monitoring-')).toBe(false);
    expect(isMonitoringTag('monitoring-2026.13.11-abcdef0', 'monitoring-')).toBe(false);
    expect(isMonitoringTag('monitoring-latest', 'monitoring-')).toBe(false);
    expect(isMonitoringTag('monitoring-2026.01.11-abcdef0;id', 'monitoring-')).toBe(false);
    expect(isMonitoringTag('xmonitoring-2026.01.11-abcdef0', 'monitoring-')).toBe(false);
  });
});

describe('newestFirst', () => {
  it('sorts by date, newest first', () => {
    expect(
      newestFirst(['2026.01.02-aaaaaaa', '2025.12.31-ccccccc', '2026.01.10-bbbbbbb', '2026.10.01-ddddddd']),
    ).toEqual(['2026.10.01-ddddddd', '2026.01.10-bbbbbbb', '2026.01.02-aaaaaaa', '2025.12.31-ccccccc']);
  });

  it('on the same date puts the one deployed later first, and unknown ones last', () => {
    const tags = ['2026.01.10-aaaaaaa', '2026.01.10-bbbbbbb', '2026.01.10-ccccccc', '2026.01.09-fffffff'];
    const order = ['2026.01.10-bbbbbbb', '2026.01.10-aaaaaaa'];
    expect(newestFirst(tags, order)).toEqual([
      '2026.01.10-aaaaaaa',
      '2026.01.10-bbbbbbb',
      '2026.01.10-ccccccc',
      '2026.01.09-fffffff',
    ]);
  });

  it('counts the last time a tag was deployed', () => {
    const tags = ['2026.01.10-aaaaaaa', '2026.01.10-bbbbbbb'];
    expect(newestFirst(tags, ['2026.01.10-aaaaaaa', '2026.01.10-bbbbbbb', '2026.01.10-aaaaaaa'])[0]).toBe(
      '2026.01.10-aaaaaaa',
    );
  });

  it('sorts monitoring tags by their date too', () => {
    expect(
      newestFirst(['monitoring-2026.01.02-aaaaaaa', 'monitoring-2026.01.10-bbbbbbb', 'monitoring-2025.06.01-fffffff']),
    ).toEqual(['monitoring-2026.01.10-bbbbbbb', 'monitoring-2026.01.02-aaaaaaa', 'monitoring-2025.06.01-fffffff']);
  });

  it('does not change the list it is given', () => {
    const tags = ['2025.01.01-aaaaaaa', '2026.01.01-bbbbbbb'];
    newestFirst(tags);
    expect(tags).toEqual(['2025.01.01-aaaaaaa', '2026.01.01-bbbbbbb']);
  });

  it('orders any set of dated tags by date, whatever order they come in', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.stringMatching(/^20[2-3]\d\.(0[1-9]|1[0-2])\.(0[1-9]|[12]\d)-[0-9a-f]{7}$/), {
          maxLength: 20,
        }),
        (tags) => {
          const sorted = newestFirst(tags);
          expect([...sorted].sort()).toEqual([...tags].sort());
          for (let i = 1; i < sorted.length; i++)
            expect(sorted[i - 1].slice(0, 10) >= sorted[i].slice(0, 10)).toBe(true);
          expect(newestFirst([...tags].reverse())).toEqual(sorted);
        },
      ),
    );
  });
});

describe('image tags and the cleanup keep-rules', () => {
  const T = (date: string, hex: string): string => `2026.01.${date}-${hex.repeat(7)}`;

  it('reads docker image ls lines, skipping untagged images', () => {
    expect(parseImageTags(`${T('10', 'a')} 12.3MB\nlatest 570MB\n<none> 1GB\n\n${T('09', 'b')}   532kB\n`)).toEqual([
      { tag: T('10', 'a'), bytes: 12_300_000 },
      { tag: 'latest', bytes: 570_000_000 },
      { tag: T('09', 'b'), bytes: 532_000 },
    ]);
    expect(parseSize('1.2GB')).toBe(1_200_000_000);
    expect(parseSize('12B')).toBe(12);
    expect(parseSize('N/A')).toBe(0);
  });

  it('counts an image as freed only when every tag naming it goes', () => {
    const tags = [
      { tag: T('01', 'a'), bytes: 100, id: 'img1' },
      { tag: T('02', 'b'), bytes: 100, id: 'img1' },
      { tag: T('03', 'c'), bytes: 70, id: 'img2' },
      { tag: T('04', 'd'), bytes: 50, id: 'img3' },
    ];
    expect(planCleanup(tags, 2, []).freedBytes).toBe(100); // 01 and 02 go: img1 is freed
    expect(planCleanup(tags, 3, []).freedBytes).toBe(0); // 02 stays: img1 is still named
    expect(parseImageTags(`${T('05', 'e')} 1.5MB 5cfddd1be29a`)).toEqual([
      { tag: T('05', 'e'), bytes: 1_500_000, id: '5cfddd1be29a' },
    ]);
  });

  it('keeps the newest dated tags and removes the older ones, both newest first', () => {
    const tags = ['01', '02', '03', '04', '05'].map((d, i) => ({ tag: T(d, 'abcde'[i]), bytes: 100 }));
    const plan = planCleanup([...tags, { tag: 'latest', bytes: 5 }, { tag: 'custom', bytes: 5 }], 2, []);
    expect(plan.keep).toEqual([T('05', 'e'), T('04', 'd')]);
    expect(plan.remove).toEqual([T('03', 'c'), T('02', 'b'), T('01', 'a')]);
    expect(plan.freedBytes).toBe(300);
  });

  it('never removes the running tag or the rollback target, even with keep 0', () => {
    const tags = ['01', '02', '03'].map((d, i) => ({ tag: T(d, 'abc'[i]), bytes: 1 }));
    const plan = planCleanup(tags, 0, [T('01', 'a'), undefined, T('02', 'b')]);
    expect(plan.keep).toEqual([T('02', 'b'), T('01', 'a')]);
    expect(plan.remove).toEqual([T('03', 'c')]);
  });

  it('lists the dated tags newest first', () => {
    expect(
      datedTags([
        { tag: T('01', 'a'), bytes: 0 },
        { tag: 'latest', bytes: 0 },
        { tag: T('03', 'c'), bytes: 0 },
      ]),
    ).toEqual([T('03', 'c'), T('01', 'a')]);
  });
});
