import { isMonitoringTag } from '../rules/tags.js';
import { readCheckout, type CheckoutInputs } from './backend.js';
import { refuseWithRunnerProject } from './project-source.js';
import { readConnection, type ConnectionInputs } from './connection.js';
import { InputError, PATTERNS, type InputReader } from './reader.js';

export interface VerifyInputs {
  grafanaUrl: string;
  grafanaCredentials: string;
  mimirUrl: string;
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

export function readVerify(r: InputReader): VerifyInputs {
  const credentials = r.string('grafana-credentials', { trim: true });
  return {
    grafanaUrl: r.url('grafana-url'),
    grafanaCredentials: credentials,
    mimirUrl: r.url('mimir-url'),
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
  const conn = readConnection(r);
  refuseWithRunnerProject(conn, [], 'deploy-monitoring');
  return {
    conn,
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
  const conn = readConnection(r);
  refuseWithRunnerProject(conn, [], 'rollback-monitoring');
  return { conn, stack, tag, checks: readVerify(r) };
}

export function readVerifyMonitoring(r: InputReader): { conn: ConnectionInputs; checks: VerifyInputs } {
  return { conn: readConnection(r), checks: readVerify(r) };
}
