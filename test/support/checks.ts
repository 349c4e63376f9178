import type { VerifyInputs } from '../../src/inputs/monitoring.js';
import type { CheckAnswers } from '../../src/programs/monitoring.js';
import type { HttpResponse } from '../../src/remote/http.js';

const ok = (body: unknown): HttpResponse => ({ status: 200, body: JSON.stringify(body), error: '' });

/**
 * What a healthy stack answers the checks: every endpoint up, the expected
 * datasources there, a series for each required metric (in Mimir and in Prometheus), traces and labels
 * present, every container running and healthy.
 */
export function healthyStack(v: VerifyInputs): CheckAnswers {
  const responses = new Map<string, HttpResponse>([
    ['grafana_health', ok({ database: 'ok' })],
    ['grafana_datasources', ok(v.expectedDatasources.map((uid) => ({ uid })))],
    ['mimir_ready', { status: 200, body: 'ready', error: '' }],
    ['prometheus_ready', { status: 200, body: 'Prometheus Server is Ready.', error: '' }],
    ['tempo_ready', { status: 200, body: 'ready', error: '' }],
    ['tempo_echo', { status: 200, body: 'echo', error: '' }],
    ['tempo_search', ok({ traces: [{ traceID: 'a1' }] })],
    ['loki_ready', { status: 200, body: 'ready', error: '' }],
    ['loki_labels', ok({ status: 'success', data: ['job', 'container'] })],
  ]);
  v.requiredMetrics.forEach((_, i) => {
    for (const store of ['mimir', 'prometheus'])
      responses.set(`${store}_metric_${i}`, ok({ status: 'success', data: { result: [{ value: [0, '1'] }] } }));
  });
  return { responses, states: new Map(v.containers.map((c) => [c, 'running healthy 0'])) };
}

/** A healthy stack with one answer changed. */
export function stackWith(v: VerifyInputs, id: string, response: HttpResponse): CheckAnswers {
  const answers = healthyStack(v);
  answers.responses.set(id, response);
  return answers;
}

/** No traces yet: a warning, not a failure. */
export const noTraces = (v: VerifyInputs): CheckAnswers =>
  stackWith(v, 'tempo_search', { status: 200, body: '{"traces":[]}', error: '' });

/** Loki does not answer ready: a failure. */
export const lokiDown = (v: VerifyInputs): CheckAnswers =>
  stackWith(v, 'loki_ready', { status: 503, body: 'Ingester not ready', error: '' });
