import type { HistoryRecord } from '../../src/remote/history.js';

let count = 0;

/** A finished release in the history, as the NAS would hold it. */
export function released(
  stack: 'backend' | 'monitoring',
  tag: string,
  extra: Partial<HistoryRecord> = {},
): HistoryRecord {
  count += 1;
  return {
    id: `op-${count}`,
    action: stack === 'backend' ? 'deploy-backend' : 'deploy-monitoring',
    stack,
    tag,
    actor: 'octocat',
    run: `https://github.com/acme/shop/actions/runs/${count}`,
    started: '2026-01-10T10:00:00.000Z',
    ended: '2026-01-10T10:05:00.000Z',
    outcome: 'success',
    ...extra,
  };
}

/** Steps as the log numbers them must count up from 1 to N, and never past N. */
export function stepNumbers(steps: readonly { n: number; of: number }[]): string[] {
  return steps.map((s) => `${s.n}/${s.of}`);
}
