import { CHECKS, type Check, type VerifyInputs } from '../../inputs/monitoring.js';
import type { HttpRequest, HttpResponse } from '../../remote/http.js';

export type CheckStatus = 'pass' | 'warn' | 'fail';

export interface CheckResult {
  component: string;
  check: string;
  status: CheckStatus;
  detail: string;
}

/**
 * Where `required-metrics` are queried: Mimir when it is checked (the store the
 * dashboards read; a Prometheus beside it remote-writes there, so a series in
 * Mimir proves the whole path), else Prometheus when it is; none otherwise.
 */
export function metricsStore(v: Pick<VerifyInputs, 'checks'>): 'mimir' | 'prometheus' | undefined {
  if (v.checks.has('mimir')) return 'mimir';
  if (v.checks.has('prometheus')) return 'prometheus';
  return undefined;
}

/** The containers whose state the checks read: none unless `containers` is checked. */
export function checkedContainers(v: Pick<VerifyInputs, 'checks' | 'containers'>): string[] {
  return v.checks.has('containers') ? v.containers : [];
}

/** The HTTP requests the named checks need, all made from the NAS in one round trip. */
export function checkRequests(v: VerifyInputs): HttpRequest[] {
  const store = metricsStore(v);
  const queryApi = store === 'mimir' ? `${v.mimirUrl}/prometheus` : v.prometheusUrl;
  const requests: Record<Check, HttpRequest[]> = {
    grafana: [
      { id: 'grafana_health', url: `${v.grafanaUrl}/api/health` },
      { id: 'grafana_datasources', url: `${v.grafanaUrl}/api/datasources`, auth: true },
    ],
    prometheus: [{ id: 'prometheus_ready', url: `${v.prometheusUrl}/-/ready` }],
    mimir: [{ id: 'mimir_ready', url: `${v.mimirUrl}/ready` }],
    tempo: [
      { id: 'tempo_ready', url: `${v.tempoUrl}/ready` },
      { id: 'tempo_echo', url: `${v.tempoUrl}/api/echo` },
      { id: 'tempo_search', url: `${v.tempoUrl}/api/search?limit=1` },
    ],
    loki: [
      { id: 'loki_ready', url: `${v.lokiUrl}/ready` },
      { id: 'loki_labels', url: `${v.lokiUrl}/loki/api/v1/labels` },
    ],
    containers: [],
  };
  if (store)
    requests[store].push(
      ...v.requiredMetrics.map((m, i) => ({
        id: `${store}_metric_${i}`,
        url: `${queryApi}/api/v1/query?query=${encodeURIComponent(m)}`,
      })),
    );
  return CHECKS.filter((c) => v.checks.has(c)).flatMap((c) => requests[c]);
}

/** `user:password` becomes basic auth; anything else is an API token. */
export function authorizationHeader(credentials: string): string {
  if (!credentials) return '';
  return credentials.includes(':') ? `Basic ${Buffer.from(credentials).toString('base64')}` : `Bearer ${credentials}`;
}

/** The Authorization header of the checks: only Grafana's take it. */
export function checksAuthorization(v: Pick<VerifyInputs, 'checks' | 'grafanaCredentials'>): string {
  return v.checks.has('grafana') ? authorizationHeader(v.grafanaCredentials) : '';
}

function answered(r: HttpResponse): string {
  if (r.status === 0) return `no answer (${r.error || 'connection failed'})`;
  const body = r.body.replace(/\s+/g, ' ').trim();
  return `HTTP ${r.status}${body ? `: ${body.slice(0, 120)}` : ''}`;
}

function json(r: HttpResponse): unknown {
  try {
    return JSON.parse(r.body);
  } catch {
    return undefined;
  }
}

type Add = (component: string, check: string, status: CheckStatus, detail: string) => void;
type Get = (id: string) => HttpResponse;

function grafanaChecks(v: VerifyInputs, get: Get, add: Add): void {
  const gh = get('grafana_health');
  const health = json(gh) as { database?: string } | undefined;
  if (gh.status === 200 && health?.database === 'ok') add('Grafana', 'api/health', 'pass', 'database: ok');
  else add('Grafana', 'api/health', 'fail', gh.status === 200 ? `database is not ok: ${answered(gh)}` : answered(gh));

  const gd = get('grafana_datasources');
  const list = json(gd);
  if (gd.status === 200 && Array.isArray(list)) {
    const uids = new Set(list.map((d: { uid?: string }) => d?.uid));
    const missing = v.expectedDatasources.filter((u) => !uids.has(u));
    if (missing.length) add('Grafana', 'datasources', 'fail', `missing datasource UID(s): ${missing.join(', ')}`);
    else add('Grafana', 'datasources', 'pass', `${v.expectedDatasources.join(', ') || 'none expected'} present`);
  } else if (gd.status === 401 || gd.status === 403) {
    add(
      'Grafana',
      'datasources',
      'fail',
      `${answered(gd)} (grafana-credentials ${v.grafanaCredentials ? 'were refused' : 'are needed'})`,
    );
  } else {
    add('Grafana', 'datasources', 'fail', gd.status === 200 ? `not a JSON list: ${answered(gd)}` : answered(gd));
  }
}

/**
 * A metrics store (Mimir or Prometheus): ready, and, when it is the store the
 * required metrics are queried against, a series for each of them. A required
 * metric with no series fails: what needs it (a dashboard, an alert) sees nothing.
 */
function storeChecks(v: VerifyInputs, store: 'mimir' | 'prometheus', get: Get, add: Add): void {
  const component = store === 'mimir' ? 'Mimir' : 'Prometheus';
  const ready = get(`${store}_ready`);
  add(component, 'ready', ready.status === 200 ? 'pass' : 'fail', ready.status === 200 ? 'ready' : answered(ready));
  if (metricsStore(v) !== store) return;
  v.requiredMetrics.forEach((metric, i) => {
    const r = get(`${store}_metric_${i}`);
    const body = json(r) as { status?: string; data?: { result?: unknown[] } } | undefined;
    const series = body?.data?.result;
    if (r.status === 200 && body?.status === 'success' && Array.isArray(series)) {
      add(
        component,
        `metric ${metric}`,
        series.length > 0 ? 'pass' : 'fail',
        series.length > 0 ? `${series.length} series` : `no series for ${metric}`,
      );
    } else if (r.status === 0 || ready.status !== 200) {
      add(component, `metric ${metric}`, 'fail', answered(r));
    } else {
      add(component, `metric ${metric}`, 'warn', `query ${metric} failed: ${answered(r)}`);
    }
  });
}

function tempoChecks(get: Get, add: Add): void {
  const tr = get('tempo_ready');
  const te = get('tempo_echo');
  if (tr.status === 200 && te.status >= 200 && te.status < 300)
    add('Tempo', 'ready', 'pass', 'ready, api/echo answers');
  else add('Tempo', 'ready', 'fail', tr.status !== 200 ? answered(tr) : `api/echo: ${answered(te)}`);
  const ts = get('tempo_search');
  const traces = (json(ts) as { traces?: unknown[] } | undefined)?.traces;
  if (ts.status === 200 && Array.isArray(traces))
    add(
      'Tempo',
      'search',
      traces.length ? 'pass' : 'warn',
      traces.length ? 'traces found' : 'no traces yet (normal on a fresh store)',
    );
  else add('Tempo', 'search', ts.status === 0 ? 'fail' : 'warn', answered(ts));
}

function lokiChecks(get: Get, add: Add): void {
  const lr = get('loki_ready');
  add('Loki', 'ready', lr.status === 200 ? 'pass' : 'fail', lr.status === 200 ? 'ready' : answered(lr));
  const ll = get('loki_labels');
  const labels = (json(ll) as { data?: unknown[] } | undefined)?.data;
  if (ll.status === 200 && Array.isArray(labels))
    add(
      'Loki',
      'labels',
      labels.length ? 'pass' : 'warn',
      labels.length ? `${labels.length} label(s)` : 'no labels: is ingestion working?',
    );
  else add('Loki', 'labels', ll.status === 0 ? 'fail' : 'warn', answered(ll));
}

function containerChecks(v: VerifyInputs, containers: Map<string, string>, add: Add): void {
  for (const name of v.containers) {
    const state = containers.get(name) ?? 'missing';
    const [status, health] = state.split(' ');
    const ok = status === 'running' && (health === 'healthy' || health === 'none');
    add(
      'containers',
      name,
      ok ? 'pass' : 'fail',
      ok
        ? `running${health === 'healthy' ? ', healthy' : ''}`
        : state === 'missing'
          ? 'not found'
          : `${status}${health && health !== 'none' ? `, ${health}` : ''}`,
    );
  }
}

/**
 * Judges the answers of the named checks, and only those: each ends pass,
 * warn or fail, saying what came back when it does not pass. `containers`
 * maps each stack container to its `status health restarts` line (or `missing`).
 */
export function evaluateChecks(
  v: VerifyInputs,
  responses: Map<string, HttpResponse>,
  containers: Map<string, string>,
): CheckResult[] {
  const get: Get = (id) => responses.get(id) ?? { status: 0, body: '', error: 'not asked' };
  const out: CheckResult[] = [];
  const add: Add = (component, check, status, detail) => void out.push({ component, check, status, detail });
  const judge: Record<Check, () => void> = {
    grafana: () => grafanaChecks(v, get, add),
    prometheus: () => storeChecks(v, 'prometheus', get, add),
    mimir: () => storeChecks(v, 'mimir', get, add),
    tempo: () => tempoChecks(get, add),
    loki: () => lokiChecks(get, add),
    containers: () => containerChecks(v, containers, add),
  };
  for (const check of CHECKS) if (v.checks.has(check)) judge[check]();
  return out;
}

export type VerifyStatus = 'passed' | 'warnings' | 'failed';

export function overallStatus(results: readonly CheckResult[]): VerifyStatus {
  if (results.some((r) => r.status === 'fail')) return 'failed';
  if (results.some((r) => r.status === 'warn')) return 'warnings';
  return 'passed';
}

/** The job summary's table of the checks. */
export function checksTable(results: readonly CheckResult[]): string {
  const icon = { pass: '✅ pass', warn: '⚠️ warn', fail: '❌ fail' };
  const esc = (s: string): string => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
  return [
    '| Component | Check | Result | Detail |',
    '|---|---|---|---|',
    ...results.map((r) => `| ${r.component} | ${esc(r.check)} | ${icon[r.status]} | ${esc(r.detail)} |`),
  ].join('\n');
}
