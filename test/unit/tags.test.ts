import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { datedTags, parseCreatedAt, parseImageTags, parseSize, planCleanup } from '../../src/rules/images.js';
import { previousRelease, type HistoryRecord } from '../../src/remote/history.js';
import {
  datedTag,
  isBackendRollbackTag,
  isDatedTag,
  isMonitoringTag,
  lastReleased,
  newestFirst,
} from '../../src/rules/tags.js';

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

  it('on the same date puts the one released later first, and unknown ones last', () => {
    const tags = ['2026.01.10-aaaaaaa', '2026.01.10-bbbbbbb', '2026.01.10-ccccccc', '2026.01.09-fffffff'];
    const times = new Map([
      ['2026.01.10-bbbbbbb', Date.parse('2026-01-10T09:00:00Z')],
      ['2026.01.10-aaaaaaa', Date.parse('2026-01-10T10:00:00Z')],
    ]);
    expect(newestFirst(tags, times)).toEqual([
      '2026.01.10-aaaaaaa',
      '2026.01.10-bbbbbbb',
      '2026.01.10-ccccccc',
      '2026.01.09-fffffff',
    ]);
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

describe('defect 12.4: same-day releases are ordered by what happened, never by the sha', () => {
  const day = '2026.01.10';
  const [E, TWO, A, B, C] = ['eeeeeee', '2222222', 'aaaaaaa', 'bbbbbbb', 'ccccccc'].map((sha) => `${day}-${sha}`);
  let clock = Date.parse('2026-01-10T08:00:00Z');
  const record = (r: Partial<HistoryRecord> & Pick<HistoryRecord, 'action' | 'tag'>): HistoryRecord => {
    clock += 60_000;
    const at = new Date(clock).toISOString();
    return { id: String(clock), stack: 'backend', started: at, ended: at, outcome: 'success', ...r };
  };

  it('defect 12.4: without history, same-day tags keep the newer release (the image creation time decides)', () => {
    // Deployed by the hand-run script in the order eeeeeee, 2222222, aaaaaaa; aaaaaaa runs.
    const inventory = parseImageTags(
      [
        `${A} 12.3MB 3333333333aa 2026-01-10 11:00:00 +0000 UTC`,
        `${E} 12.3MB 1111111111ee 2026-01-10 09:00:00 +0000 UTC`,
        `${TWO} 12.3MB 2222222222bb 2026-01-10 10:00:00 +0000 UTC`,
        'latest 12.3MB 3333333333aa 2026-01-10 11:00:00 +0000 UTC',
      ].join('\n'),
    );
    const plan = planCleanup(inventory, 2, [A, previousRelease([], 'backend', A)], []);
    expect(plan.keep).toEqual([A, TWO]);
    expect(plan.remove).toEqual([E]);
    expect(plan.freedBytes).toBe(12_300_000);
    expect(datedTags(inventory)).toEqual([A, TWO, E]);
  });

  it('defect 12.4: a failed rollback does not make its target the newest release', () => {
    // Released in the order A, B, C, D; their shas sort in another order.
    const [A, B, C, D] = ['ccccccc', 'aaaaaaa', 'ddddddd', 'bbbbbbb'].map((sha) => `${day}-${sha}`);
    const history = [
      record({ action: 'deploy-backend', tag: A }),
      record({ action: 'deploy-backend', tag: B, previous: A }),
      record({ action: 'deploy-backend', tag: C, previous: B }),
      record({ action: 'deploy-backend', tag: D, previous: C }),
      record({ action: 'rollback-backend', tag: A, previous: D, outcome: 'rolled-back', detail: 'named' }),
      record({ action: 'rollback-backend', tag: A, previous: D, outcome: 'failure', detail: 'named' }),
    ];
    const inventory = [A, B, C, D].map((tag) => ({ tag, bytes: 100 }));
    const plan = planCleanup(inventory, 3, [D, previousRelease(history, 'backend', D)], history);
    expect(plan.keep).toEqual([D, C, B]);
    expect(plan.remove).toEqual([A]);
  });

  it('defect 12.4: a successful rollback makes its target the newest, whatever the images were built at', () => {
    const history = [
      record({ action: 'deploy-backend', tag: A }),
      record({ action: 'deploy-backend', tag: B, previous: A }),
      record({ action: 'rollback-backend', tag: A, previous: B, detail: 'named' }),
      record({ action: 'cleanup-backend', tag: '' }),
      record({ action: 'deploy-backend', tag: C, previous: A, outcome: 'noop' }),
    ];
    const created = Date.parse('2026-01-10T08:00:00Z');
    const inventory = [A, B, C].map((tag, i) => ({ tag, bytes: 1, created: created + i * 1000 }));
    // C was built before either release and never released itself: its build time puts it last.
    expect(datedTags(inventory, history)).toEqual([A, B, C]);
  });

  it("defect 12.4: deploy-backend's recent tags are newest first (the history, then the build time)", () => {
    const history = [record({ action: 'deploy-backend', tag: E }), record({ action: 'deploy-backend', tag: TWO })];
    const built = clock + 60_000; // a hand-built image after the last recorded release
    const inventory = [
      { tag: E, bytes: 1, created: Date.parse('2026-01-10T08:00:00Z') },
      { tag: TWO, bytes: 1, created: Date.parse('2026-01-10T08:00:30Z') },
      { tag: A, bytes: 1, created: built },
      { tag: '2026.01.09-fffffff', bytes: 1, created: built + 1000 },
    ];
    expect(datedTags(inventory, history)).toEqual([A, TWO, E, '2026.01.09-fffffff']);
  });

  it('counts only successful deploys and rollbacks of the stack, at their last time', () => {
    const history = [
      record({ action: 'deploy-backend', tag: A }),
      record({ action: 'deploy-backend', tag: B }),
      record({ action: 'rollback-backend', tag: A, detail: 'previous-release' }),
      record({ action: 'deploy-backend', tag: C, outcome: 'failure' }),
      record({ action: 'deploy-monitoring', tag: `monitoring-${E}`, stack: 'monitoring' }),
    ];
    const times = lastReleased(history, 'backend');
    expect([...times.keys()].sort()).toEqual([A, B]);
    expect(times.get(A)).toBe(Date.parse(history[2].ended!));
    expect([...lastReleased(history, 'monitoring').keys()]).toEqual([`monitoring-${E}`]);
  });

  it("reads docker's CreatedAt, with any offset, and nothing else", () => {
    expect(parseCreatedAt('2026-01-10 09:00:00 +0000 UTC')).toBe(Date.parse('2026-01-10T09:00:00Z'));
    expect(parseCreatedAt('2026-01-10 10:00:00 +0100 CET')).toBe(Date.parse('2026-01-10T09:00:00Z'));
    expect(parseCreatedAt('2026-01-10 09:00:00.5 -0230 X')).toBe(Date.parse('2026-01-10T11:30:00.5Z'));
    for (const bad of ['', 'N/A', '2 hours ago', '2026-01-10']) expect(parseCreatedAt(bad)).toBeUndefined();
    expect(parseImageTags(`${A} 1.5MB 5cfddd1be29a 2026-01-10 09:00:00 +0000 UTC`)).toEqual([
      { tag: A, bytes: 1_500_000, id: '5cfddd1be29a', created: Date.parse('2026-01-10T09:00:00Z') },
    ]);
  });
});
