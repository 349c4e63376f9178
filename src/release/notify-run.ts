import { InputReader, type RawInputs } from '../inputs/reader.js';
import type { HistoryRecord } from '../remote/history.js';
import { readNotify } from '../inputs/notify.js';
import { sendAll, wanted, type EventOutcome, type NotifyEvent, type NotifySettings } from '../report/notify.js';
import type { Progress } from '../report/progress.js';
import type { FlowResult } from './flow.js';

/** The notify inputs of a run whose other inputs were refused, so the refusal is still reported; none when they are bad too. */
export function notifyOfRefusedRun(action: string, raw: RawInputs): NotifySettings | undefined {
  try {
    return readNotify(new InputReader(action, raw));
  } catch {
    return undefined;
  }
}

/** What a notification says about this run, from the flow's result and its history record. */
export function eventOfResult(
  action: string,
  result: FlowResult,
  record: HistoryRecord | undefined,
  run: string,
): NotifyEvent {
  const o = result.outputs;
  const outcome = outcomeOfResult(action, result, record);
  return {
    action,
    outcome,
    tag: record?.tag || o.DEPLOYED_BACKEND_TAG || o.DEPLOYED_MONITORING_TAG || undefined,
    commit: record?.commit || o.MONITORING_COMMIT || undefined,
    previous: record?.previous || o.PREVIOUS_BACKEND_TAG || o.PREVIOUS_MONITORING_COMMIT || undefined,
    reason: result.ok
      ? outcome === 'noop'
        ? record?.detail
        : undefined
      : firstLine(result.error ?? `${action} failed`),
    run,
    repository: process.env.GITHUB_REPOSITORY,
  };
}

/** The outcome a notification names, from the flow's result and its history record. */
function outcomeOfResult(action: string, result: FlowResult, record: HistoryRecord | undefined): EventOutcome {
  const o = result.outputs;
  if (o.WATCH_STATUS === 'rolled-back') return 'guard-breach';
  if (record?.outcome === 'rolled-back' || o.ROLLED_BACK === 'true') return 'rolled-back';
  if (action === 'verify-monitoring' && o.VERIFY_STATUS === 'failed') return 'verify-failed';
  if (!result.ok) return action === 'verify-monitoring' ? 'verify-failed' : 'failure';
  if (action === 'verify-monitoring' && o.VERIFY_STATUS === 'warnings') return 'verify-warnings';
  if (record?.outcome === 'noop') return 'noop';
  return 'success';
}

/** What a notification says about a run that ended with an error (a refused input, an unreachable NAS). */
export function eventOfError(
  action: string,
  message: string,
  record: HistoryRecord | undefined,
  run: string,
): NotifyEvent {
  return {
    action,
    outcome: 'failure',
    tag: record?.tag || undefined,
    commit: record?.commit,
    previous: record?.previous,
    reason: firstLine(message),
    run,
    repository: process.env.GITHUB_REPOSITORY,
  };
}

/** What a notification says about an earlier operation no runner reported. */
export function eventOfEarlier(record: HistoryRecord, reportedBy: string): NotifyEvent {
  const outcome: EventOutcome =
    record.outcome === 'rolled-back' || record.outcome === 'interrupted' || record.outcome === 'noop'
      ? record.outcome
      : record.outcome === 'success'
        ? 'success'
        : 'failure';
  return {
    action: record.action,
    outcome,
    tag: record.tag || undefined,
    commit: record.commit,
    previous: record.previous,
    reason: record.detail,
    run: record.run ?? `run ${record.id}`,
    repository: process.env.GITHUB_REPOSITORY,
    reportedBy,
  };
}

function firstLine(text: string): string {
  return text.split('\n')[0].slice(0, 500);
}

/**
 * Sends the events `notify-on` wants to every `notify` URL. Never fails the
 * run: what cannot be sent is a warning. A dry run sends nothing.
 */
export async function notify(
  settings: NotifySettings | undefined,
  events: readonly NotifyEvent[],
  progress: Progress,
  dryRun = false,
): Promise<void> {
  if (!settings?.targets.length) return;
  const due = events.filter((e) => wanted(settings.on, e.outcome));
  if (!due.length) return;
  if (dryRun) {
    progress.detail(`dry-run: ${due.length} notification(s) not sent to ${settings.targets.length} URL(s)`);
    return;
  }
  for (const event of due) {
    const sent = await sendAll(settings.targets, event, (m) => progress.warn(m));
    progress.detail(`Notified ${sent} of ${settings.targets.length} URL(s): ${event.action} ${event.outcome}`);
  }
}
