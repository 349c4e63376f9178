import type { VerifyInputs } from '../../inputs/monitoring.js';
import type { HttpRequest, HttpResponse } from '../../remote/http.js';

export type CheckStatus = 'pass' | 'warn' | 'fail';

export interface CheckResult {
  component: string;
  check: string;
  status: CheckStatus;
  detail: string;
}

/** The HTTP requests the checks need, all made from the NAS in one round trip. */
export function checkRequests(v: VerifyInputs): HttpRequest[] {
  return [
    { id: 'grafana_health', url: `${v.grafanaUrl}/api/health` },
    { id: 'grafana_datasources', url: `${v.grafanaUrl}/api/datasources`, auth: true },
    { id: 'mimir_ready', url: `${v.mimirUrl}/ready` },
    ...v.requiredMetrics.map((m, i) => ({
      id: `mimir_metric_${i}`,
      url: `${v.mimirUrl}/prometheus/api/v1/query?query=${encodeURIComponent(m)}`,
    })),
    { id: 'tempo_ready', url: `${v.tempoUrl}/ready` },
    { id: 'tempo_echo', url: `${v.tempoUrl}/api/echo` },
    { id: 'tempo_search', url: `${v.tempoUrl}/api/search?limit=1` },
    { id: 'loki_ready', url: `${v.lokiUrl}/ready` },
    { id: 'loki_labels', url: `${v.lokiUrl}/loki/api/v1/labels` },
  ];
}

/** `user:password` becomes basic auth; anything else is an API token. */
export function authorizationHeader(credentials: string): string {
  if (!credentials) return '';
  return credentials.includes(':') ? `Basic ${Buffer.from(credentials).toString('base64')}` : `Bearer ${credentials}`;
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

/**
 * Judges the answers: each check ends pass, warn or fail, saying what came
 * back when it does not pass. `containers` maps each stack container to its
 * `status health restarts` line (or `missing`).
 */
export function evaluateChecks(
  v: VerifyInputs,
  responses: Map<string, HttpResponse>,
  containers: Map<string, string>,
): CheckResult[] {
  const get = (id: string): HttpResponse => responses.get(id) ?? { status: 0, body: '', error: 'not asked' };
  const out: CheckResult[] = [];
  const add = (component: string, check: string, status: CheckStatus, detail: string): void =>
    void out.push({ component, check, status, detail });

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

  const mr = get('mimir_ready');
  add('Mimir', 'ready', mr.status === 200 ? 'pass' : 'fail', mr.status === 200 ? 'ready' : answered(mr));
  v.requiredMetrics.forEach((metric, i) => {
    const r = get(`mimir_metric_${i}`);
    const body = json(r) as { status?: string; data?: { result?: unknown[] } } | undefined;
    const series = body?.data?.result;
    if (r.status === 200 && body?.status === 'success' && Array.isArray(series)) {
      add(
        'Mimir',
        `metric ${metric}`,
        series.length > 0 ? 'pass' : 'warn',
        series.length > 0 ? `${series.length} series` : `no series for ${metric}`,
      );
    } else if (r.status === 0 || mr.status !== 200) {
      add('Mimir', `metric ${metric}`, 'fail', answered(r));
    } else {
      add('Mimir', `metric ${metric}`, 'warn', `query ${metric} failed: ${answered(r)}`);
    }
  });

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
