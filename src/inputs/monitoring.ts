import { isMonitoringTag } from '../rules/tags.js';
import { readCheckout, type CheckoutInputs } from './backend.js';
import { readConnection, type ConnectionInputs } from './connection.js';
import { InputError, PATTERNS, type InputReader } from './reader.js';

/** What verify-monitoring can check, in the order the report lists them. */
export const CHECKS = ['grafana', 'prometheus', 'mimir', 'tempo', 'loki', 'containers'] as const;
export type Check = (typeof CHECKS)[number];

export interface VerifyInputs {
  /** Only these run and appear in the report. */
  checks: ReadonlySet<Check>;
  grafanaUrl: string;
  grafanaCredentials: string;
  mimirUrl: string;
  prometheusUrl: string;
  lokiUrl: string;
  tempoUrl: string;
  expectedDatasources: string[];
  requiredMetrics: string[];
  failOnWarnings: boolean;
  containers: string[];
}

export interface StackInputs {
  composeFile: string;
  healthTimeout: number;
  tagPrefix: string;
  verify: boolean;
}

function readChecks(r: InputReader): Set<Check> {
  const named = r.list('checks', /^[a-z]{1,20}$/, `a check (${CHECKS.join(', ')})`);
  for (const name of named)
    if (!(CHECKS as readonly string[]).includes(name))
      throw new InputError('checks', `${JSON.stringify(name)} is not a check: name some of ${CHECKS.join(', ')}`);
  if (named.length === 0) throw new InputError('checks', `names no check: name some of ${CHECKS.join(', ')}`);
  return new Set(named as Check[]);
}

export function readVerify(r: InputReader): VerifyInputs {
  const credentials = r.string('grafana-credentials', { trim: true });
  return {
    checks: readChecks(r),
    grafanaUrl: r.url('grafana-url'),
    grafanaCredentials: credentials,
    mimirUrl: r.url('mimir-url'),
    prometheusUrl: r.url('prometheus-url'),
    lokiUrl: r.url('loki-url'),
    tempoUrl: r.url('tempo-url'),
    expectedDatasources: r.list('expected-datasources', /^[A-Za-z0-9_.-]{1,100}$/, 'a datasource UID'),
    requiredMetrics: r.lines('required-metrics'),
    failOnWarnings: r.bool('fail-on-warnings'),
    containers: r.list('containers', PATTERNS.name, 'a container name'),
  };
}

function readStack(r: InputReader): StackInputs {
  return {
    composeFile: r.relativePath('compose-file'),
    healthTimeout: r.int('health-timeout', 1, 3600),
    tagPrefix: r.matching('tag-prefix', PATTERNS.tagPrefix, 'a tag prefix (letters, digits, . _ -)'),
    verify: r.bool('verify'),
  };
}

export interface DeployMonitoringInputs {
  conn: ConnectionInputs;
  stack: StackInputs;
  checkout: CheckoutInputs;
  createTag: boolean;
  pushTag: boolean;
  checks: VerifyInputs;
}

export function readDeployMonitoring(r: InputReader): DeployMonitoringInputs {
  return {
    conn: readConnection(r),
    stack: readStack(r),
    checkout: readCheckout(r),
    createTag: r.bool('create-tag'),
    pushTag: r.bool('push-tag'),
    checks: readVerify(r),
  };
}

export interface RollbackMonitoringInputs {
  conn: ConnectionInputs;
  stack: StackInputs;
  tag: string;
  checks: VerifyInputs;
}

export function readRollbackMonitoring(r: InputReader): RollbackMonitoringInputs {
  const stack = readStack(r);
  const tag = r.string('tag');
  if (tag !== '' && !isMonitoringTag(tag, stack.tagPrefix)) {
    throw new InputError(
      'tag',
      `must be a monitoring release tag like ${stack.tagPrefix}2026.01.09-def4567 (<tag-prefix>YYYY.MM.DD-<7 hex>), or empty for the previous release; got ${JSON.stringify(tag.slice(0, 100))}`,
    );
  }
  return { conn: readConnection(r), stack, tag, checks: readVerify(r) };
}

export function readVerifyMonitoring(r: InputReader): { conn: ConnectionInputs; checks: VerifyInputs } {
  return { conn: readConnection(r), checks: readVerify(r) };
}
