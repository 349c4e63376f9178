import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { ANSWERS, HEALTH_URL, connection, pushCommit, resetNas, runAction, type ActionRun } from './harness.js';
import { readAsRunner } from './support/runner-commands.js';

/**
 * Defect 12.2: text from the NAS, the repository or an HTTP body re-entered
 * the log with workflow commands switched back on. Each source below carries
 * the commands a hostile or unlucky text could hold; the runner's reading of
 * the log (support/runner-commands.ts) must find none of them acted on, and
 * every one of them shown as text.
 */
function hostile(source: string): string[] {
  return [
    `::set-output name=NR_INJECTED_${source}::true`,
    `  ::set-env name=NR_INJECTED_${source}_ENV::true`,
    `::add-mask::nr-injected-${source}-mask`,
    `text ##[set-output name=NR_INJECTED_${source}_LEGACY;]true`,
    `::stop-commands::nr-injected-${source}-stop`,
  ];
}

/** No command in `run`'s log came from the quoted text, and the text is there to read. */
function expectOnlyOurCommands(run: ActionRun, visible: string[]): void {
  const reading = readAsRunner(run.stdout);
  // Ours: one random token for the whole run (none when nothing needed stopping).
  const token = reading.stopTokens[0];
  expect(new Set(reading.stopTokens).size).toBeLessThanOrEqual(1);
  expect(
    reading.stopTokens.filter((t) => !/^[0-9a-f]{16,}$/.test(t)),
    'a stop-commands that is not ours',
  ).toEqual([]);
  const acted = reading.commands.map((c) => c.name).filter((n) => n !== token);
  expect(
    acted.filter((n) => !['stop-commands', 'add-mask', 'warning', 'error', 'group', 'endgroup'].includes(n)),
  ).toEqual([]);
  expect(reading.commands.filter((c) => c.form === 'legacy')).toEqual([]);
  expect(reading.masks.filter((m) => m.includes('nr-injected'))).toEqual([]);
  expect(reading.outputs).toEqual({});
  expect(reading.env).toEqual({});
  expect(Object.keys(run.outputs).filter((k) => k.startsWith('NR_INJECTED'))).toEqual([]);
  expect(Object.keys(run.env).filter((k) => k.startsWith('NR_INJECTED'))).toEqual([]);
  const text = reading.text.join('\n');
  for (const line of visible) expect(text, `shown as text: ${line}`).toContain(line);
}

describe('defect 12.2: remote text never acts as a workflow command', () => {
  beforeEach(() => resetNas());

  it('defect 12.2: a commit subject and the failed container log lines are printed as text, never read as commands', async () => {
    // A subject is read as its first 200 characters: the legacy form first, which the runner finds mid-line.
    const [output, , mask, legacy, stop] = hostile('SUBJECT');
    const subject = [legacy, output, mask, stop].join(' ');
    expect(subject.length).toBeLessThanOrEqual(200);
    const logLines = hostile('LOG');
    pushCommit(
      {
        'backend/start.sh': `#!/bin/sh\n${logLines.map((l) => `echo '${l}'`).join('\n')}\nexec httpd -f -p 127.0.0.1:18080 -h /www\n`,
        'backend/Dockerfile': 'FROM nas-base:latest\nCOPY www /www\nCOPY start.sh /start.sh\nCMD ["sh", "/start.sh"]\n',
        'backend/www/health': null, // the health check fails, so the last log lines are reprinted in the failure
      },
      subject,
    );
    const run = await runAction('deploy-backend', connection({ 'health-url': HEALTH_URL, 'health-timeout': '30' }));
    expect(run.code, run.stdout).toBe(1);
    expect(run.outputs.ROLLED_BACK).toBe('false');
    // The failure quotes the container's last lines: in the log, and in the ::error:: annotation.
    expect(run.stdout).toMatch(/✗ The release scanium-backend:\S+ failed: exit code \d+; last lines:/);
    expectOnlyOurCommands(run, [subject, ...logLines]);
    const failure = readAsRunner(run.stdout)
      .commands.filter((c) => c.name === 'error')
      .at(-1);
    expect(failure?.data).toContain(logLines[0]);
  });

  it('defect 12.2: a monitoring HTTP answer body is printed as text, never read as commands', async () => {
    expect((await runAction('deploy-monitoring', connection({ 'create-tag': 'false', verify: 'false' }))).code).toBe(0);
    // The legacy form first: a body is quoted on one line, cut at 120 characters.
    const body = (source: string): string[] => {
      const [output, env, mask, legacy, stop] = hostile(source);
      return [legacy, output, env, mask, stop];
    };
    writeFileSync(join(ANSWERS, 'grafana/api/datasources'), body('HTTP').join('\n'));
    writeFileSync(join(ANSWERS, 'loki/loki/api/v1/labels'), body('HTTPWARN').join('\n'));
    const run = await runAction('verify-monitoring', connection());
    expect(run.code, run.stdout).toBe(1);
    expect(run.outputs.VERIFY_STATUS).toBe('failed');
    expectOnlyOurCommands(run, [
      `Grafana datasources: not a JSON list: HTTP 200: ${body('HTTP')[0]}`,
      `Loki labels: HTTP 200: ${body('HTTPWARN')[0]}`,
    ]);
  });
});
