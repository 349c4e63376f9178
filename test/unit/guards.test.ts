import { describe, expect, it } from 'vitest';
import {
  breachAt,
  breaches,
  describeGuard,
  formatDuration,
  parseDuration,
  parseGuard,
  parseGuards,
  worstOf,
  type Guard,
} from '../../src/rules/guards.js';
import { InputReader } from '../../src/inputs/reader.js';
import { readDeployBackend } from '../../src/inputs/backend.js';
import { deployBackend } from '../../src/release/backend/deploy.js';
import { CONNECTION_INPUTS, settingsOf } from '../support/settings.js';

const ERRORS = 'sum(rate(http_requests_total{code=~"5.."}[1m])) / sum(rate(http_requests_total[1m]))';

describe('guard lines', () => {
  it('reads the example of the issue: name, PromQL, op, threshold, duration', () => {
    expect(parseGuard(`errors: ${ERRORS} > 0.01 for 5m`)).toEqual({
      name: 'errors',
      query: ERRORS,
      op: '>',
      threshold: '0.01',
      forSeconds: 300,
    });
  });

  it('reads the condition from the end, so the PromQL may hold comparisons and colons of its own', () => {
    const g = parseGuard(
      'mem: (container_memory_usage_bytes > 0) / container_spec_memory_limit_bytes{id=~"a:b"} >= 0.9 for 10m',
    );
    expect(g).toMatchObject({ name: 'mem', op: '>=', threshold: '0.9', forSeconds: 600 });
    expect(g.query).toBe('(container_memory_usage_bytes > 0) / container_spec_memory_limit_bytes{id=~"a:b"}');
    expect(parseGuard('up: min(up{job="api"}) < 1 for 30s')).toMatchObject({ op: '<', threshold: '1', forSeconds: 30 });
    expect(parseGuard('lat: histogram_quantile(0.99, sum by (le) (rate(x[5m]))) > 1e1 for 1h30m').forSeconds).toBe(
      5400,
    );
  });

  it('refuses a line without name, condition or duration, naming what is wrong', () => {
    expect(() => parseGuard(`${ERRORS} > 0.01 for 5m`)).toThrow(/is not "<name>: /);
    expect(() => parseGuard(`errors: ${ERRORS} > 0.01`)).toThrow(
      /is not "<name>: <PromQL> <op> <threshold> for <duration>"/,
    );
    expect(() => parseGuard(`errors: ${ERRORS} > 1% for 5m`)).toThrow(/is not/);
    expect(() => parseGuard(`errors: ${ERRORS} > 0.01 for 5 minutes`)).toThrow(/is not/);
    expect(() => parseGuard(`errors: ${ERRORS} > 0.01 for 5d`)).toThrow(/not a duration/);
    expect(() => parseGuard('1x: up > 0 for 5m')).toThrow(/guard name "1x"/);
    expect(() => parseGuards('a: up > 0 for 5m\na: up > 1 for 5m')).toThrow(/used twice/);
  });

  it('skips blank and comment lines', () => {
    expect(parseGuards('\n# the guide\n  a: up < 1 for 1m  \n\n').map((g) => g.name)).toEqual(['a']);
  });

  it('durations: s, m, h and their sums; a bare number is seconds', () => {
    expect(parseDuration('15s')).toBe(15);
    expect(parseDuration('10m')).toBe(600);
    expect(parseDuration('1h2m3s')).toBe(3723);
    expect(parseDuration('90')).toBe(90);
    expect(parseDuration('1.5m')).toBeUndefined();
    expect(parseDuration('-5s')).toBeUndefined();
    expect(formatDuration(300)).toBe('5m');
    expect(formatDuration(3723)).toBe('1h2m3s');
    expect(describeGuard(parseGuard('a: up < 1 for 90s'))).toBe('up < 1 for 1m30s');
  });
});

describe('the breach rule', () => {
  const g: Guard = { name: 'e', query: 'q', op: '>', threshold: '0.01', forSeconds: 30 };

  it('compares as Prometheus does: NaN never breaches, the infinities do', () => {
    expect(breaches(g, 0.02)).toBe(true);
    expect(breaches(g, 0.01)).toBe(false);
    expect(breaches({ op: '>=', threshold: '0.01' }, 0.01)).toBe(true);
    expect(breaches({ op: '<', threshold: '1' }, 0)).toBe(true);
    expect(breaches(g, NaN)).toBe(false);
    expect(breaches(g, Infinity)).toBe(true);
  });

  it('of several series the worst counts: the highest for >, the lowest for <', () => {
    expect(worstOf(g, [0.001, 0.5, 0.02])).toBe(0.5);
    expect(worstOf({ op: '<' }, [3, 1, 2])).toBe(1);
    expect(worstOf(g, [NaN, 0.2])).toBe(0.2);
    expect(worstOf(g, [NaN])).toBeNaN();
    expect(worstOf(g, [])).toBeUndefined();
  });

  it('breaches once the condition held at every poll for the duration, not before', () => {
    const polls = (values: Array<number | undefined>) =>
      values.map((value, i) => (value === undefined ? { at: i * 15, error: 'down' } : { at: i * 15, value }));
    // above from 15 s: held 30 s at the poll of 45 s
    expect(breachAt(g, polls([0, 0.02, 0.03, 0.05, 0.05]))).toBe(3);
    // a dip below resets the run
    expect(breachAt(g, polls([0.02, 0.02, 0, 0.02, 0.02]))).toBeUndefined();
    // a failed query breaks it too: the condition was not seen to hold
    expect(breachAt(g, polls([0.02, 0.02, undefined, 0.02, 0.02]))).toBeUndefined();
    // for 0: the first breaching poll
    expect(breachAt({ ...g, forSeconds: 0 }, polls([0, 0.02]))).toBe(1);
  });
});

describe("each guard's PromQL, parsed with Prometheus' grammar before connecting", () => {
  const settings = (guards: string, extra: Record<string, string> = {}) =>
    settingsOf(deployBackend, { guards, watch: '10m', ...extra });

  it('accepts the PromQL of the README and of real dashboards', () => {
    const queries = [
      ERRORS,
      'histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))',
      'max(container_memory_working_set_bytes{name="scanium-backend"} / (container_spec_memory_limit_bytes{name="scanium-backend"} > 0))',
      'sum without (instance) (rate(x_total{job=~"api|worker", code!~"2.."}[5m] offset 1m))',
      'max_over_time(up{job="shop"}[10m:30s]) == bool 0',
      '{"my.dotted.metric", env="prod"}',
      'absent(up{job="shop"}) or vector(0)',
    ];
    const guards = queries.map((q, i) => `g${i}: ${q} > 0.5 for 1m`).join('\n');
    expect(settings(guards).watch?.guards.map((g) => g.query)).toEqual(queries);
  });

  it('refuses a query that does not parse, naming the guard and the position of the error', () => {
    expect(() => settings('ok: up < 1 for 1m\nerrors: sum(rate(http_requests_total[5m]) > 0.01 for 5m')).toThrow(
      'Input \'guards\': guard errors: its PromQL does not parse at character 34 of "sum(rate(http_requests_total[5m])" (it ends there: something is missing)',
    );
    expect(() => settings('latency: rate(x[5m]) bogus_word > 1 for 1m')).toThrow(
      'Input \'guards\': guard latency: its PromQL does not parse at character 13 of "rate(x[5m]) bogus_word" (at "bogus_word")',
    );
    expect(() => settings('five: up{code=~} > 0 for 1m')).toThrow(
      /guard five: its PromQL does not parse at character 10 of "up{code=~}" \(at "}"\)/,
    );
    expect(() => settings('typo: sum(x) by job > 0 for 1m')).toThrow(
      /guard typo: its PromQL does not parse at character 11 /,
    );
  });

  it('also while the watch is off, so a broken guard never waits for the day it is turned on', () => {
    expect(() => settings('errors: sum(rate(x[5m]) > 0 for 5m', { watch: '0' })).toThrow(
      /^Input 'guards': guard errors: its PromQL does not parse/,
    );
  });
});

describe('the watch inputs', () => {
  const read = (inputs: Record<string, string>) =>
    readDeployBackend(new InputReader('deploy-backend', (n) => ({ ...CONNECTION_INPUTS, ...inputs })[n]));

  it('no watch by default; with one, every setting typed', () => {
    expect(read({}).watch).toBeUndefined();
    expect(read({ watch: '0', guards: 'a: up < 1 for 1m' }).watch).toBeUndefined();
    expect(read({ watch: '10m', guards: 'a: up < 1 for 1m' }).watch).toEqual({
      guards: [{ name: 'a', query: 'up', op: '<', threshold: '1', forSeconds: 60 }],
      metricsUrl: 'http://127.0.0.1:9009/prometheus',
      seconds: 600,
      interval: 15,
      onQueryError: 'warn',
    });
  });

  it('bad values name their input, also while the watch is off', () => {
    expect(() => read({ guards: 'up > 0 for 5m' })).toThrow(/^Input 'guards': /);
    expect(() => read({ watch: '10 minutes' })).toThrow(/^Input 'watch': must be a duration/);
    expect(() => read({ watch: '10m' })).toThrow(/^Input 'guards': is empty, but watch is 10m/);
    expect(() => read({ watch: '1m', guards: 'a: up < 1 for 1m', 'watch-interval': '0' })).toThrow(
      /^Input 'watch-interval': must be at least 1s/,
    );
    expect(() => read({ 'on-query-error': 'ignore' })).toThrow(/^Input 'on-query-error': must be one of/);
    expect(() => read({ 'metrics-url': 'http://admin:pw@127.0.0.1:9009' })).toThrow(
      /^Input 'metrics-url': must not hold credentials/,
    );
  });
});
