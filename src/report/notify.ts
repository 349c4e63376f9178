import { isIP } from 'node:net';

/**
 * Notifications of a release's outcome to chat and push services: Slack and
 * Discord incoming webhooks, ntfy, Gotify, and any other URL (a JSON body).
 * A URL holds its service's token, so it is a secret: never logged, only
 * described by its service and host.
 */
export type NotifyKind = 'slack' | 'discord' | 'ntfy' | 'gotify' | 'json';
export type NotifyOn = 'always' | 'failure' | 'never';
export const NOTIFY_ON: readonly NotifyOn[] = ['always', 'failure', 'never'];

export interface NotifyTarget {
  kind: NotifyKind;
  /** The URL a message is posted to (without the ntfy+ / gotify+ prefix). */
  url: string;
  /** Service and host, for the log: never the path or query, which hold the token. */
  label: string;
}

export interface NotifySettings {
  targets: NotifyTarget[];
  on: NotifyOn;
}

/** Seconds one notification may take; they are all sent at once. */
export const NOTIFY_TIMEOUT_SECONDS = 10;

/** Why a line of `notify` is refused (the line itself is a secret and is never quoted). */
export class NotifyUrlError extends Error {}

/**
 * Recognises a line of `notify`: `ntfy+https://…` and `gotify+https://…`
 * by their prefix, Slack and Discord by their webhook hosts, ntfy.sh by its
 * host; anything else gets a JSON body. https only, except for a loopback or
 * private address (a receiver on the NAS's own network).
 */
export function notifyTarget(line: string): NotifyTarget {
  const prefixed = /^(ntfy|gotify)\+(.*)$/i.exec(line);
  const raw = prefixed ? prefixed[2] : line;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new NotifyUrlError('is not a URL');
  }
  if (/\s/.test(raw)) throw new NotifyUrlError('holds white space');
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw new NotifyUrlError(`must be an https:// URL, not ${url.protocol}//`);
  const host = url.hostname.toLowerCase();
  if (url.protocol === 'http:' && !localHost(host))
    throw new NotifyUrlError(
      `uses http:// to ${host}: its token would cross the network in clear text; use https:// (http:// is taken only for a loopback or private address)`,
    );
  if (url.username || url.password)
    throw new NotifyUrlError('must not hold a user or password (put a token in its path or query)');
  let kind: NotifyKind = 'json';
  if (prefixed) kind = prefixed[1].toLowerCase() as NotifyKind;
  else if (host === 'hooks.slack.com') kind = 'slack';
  else if (
    /^(discord\.com|discordapp\.com|ptb\.discord\.com|canary\.discord\.com)$/.test(host) &&
    url.pathname.startsWith('/api/webhooks/')
  )
    kind = 'discord';
  else if (host === 'ntfy.sh') kind = 'ntfy';
  if (kind === 'ntfy' && url.pathname.replace(/\/+$/, '').split('/').filter(Boolean).length !== 1)
    throw new NotifyUrlError('is an ntfy URL without a topic (write https://ntfy.sh/<topic>)');
  if (kind === 'gotify' && !url.searchParams.get('token'))
    throw new NotifyUrlError('is a Gotify URL without ?token= (write gotify+https://<host>/message?token=<app token>)');
  return { kind, url: url.toString(), label: `${SERVICE[kind]} (${url.host})` };
}

const SERVICE: Record<NotifyKind, string> = {
  slack: 'Slack',
  discord: 'Discord',
  ntfy: 'ntfy',
  gotify: 'Gotify',
  json: 'webhook',
};

/** localhost, a loopback address, or a private (RFC 1918, unique local, link-local) one. */
function localHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '');
  if (bare === 'localhost') return true;
  const family = isIP(bare);
  if (family === 4) {
    const [a, b] = bare.split('.').map(Number);
    return (
      a === 127 || a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || (a === 169 && b === 254)
    );
  }
  if (family === 6) return bare === '::1' || /^f[cd]/i.test(bare) || /^fe[89ab]/i.test(bare);
  return false;
}

/** What a notification tells: one operation's end. */
export interface NotifyEvent {
  action: string;
  outcome: EventOutcome;
  /** The release tag the operation was about (backend image tag or monitoring tag). */
  tag?: string;
  image?: string;
  commit?: string;
  /** What ran before it. */
  previous?: string;
  /** Why it failed or was rolled back; empty on success. */
  reason?: string;
  /** The run's URL (or where it ran from). */
  run: string;
  repository?: string;
  /** Set when a later run reports an operation whose own runner vanished: that run's URL. */
  reportedBy?: string;
}

export type EventOutcome =
  'success' | 'noop' | 'failure' | 'rolled-back' | 'guard-breach' | 'verify-failed' | 'verify-warnings' | 'interrupted';

const OUTCOME_WORDS: Record<EventOutcome, { icon: string; words: string }> = {
  success: { icon: '✅', words: 'succeeded' },
  noop: { icon: '✅', words: 'changed nothing (already in place)' },
  failure: { icon: '❌', words: 'failed' },
  'rolled-back': { icon: '↩️', words: 'failed and was rolled back automatically' },
  'guard-breach': { icon: '↩️', words: 'breached a metrics guard and was rolled back automatically' },
  'verify-failed': { icon: '❌', words: 'found the monitoring stack failing' },
  'verify-warnings': { icon: '⚠️', words: 'found warnings in the monitoring stack' },
  interrupted: { icon: '⚠️', words: 'was interrupted (its runner vanished before the end)' },
};

/** Whether an outcome is worth a message under `notify-on`. */
export function wanted(on: NotifyOn, outcome: EventOutcome): boolean {
  if (on === 'never') return false;
  if (on === 'always') return true;
  return outcome !== 'success' && outcome !== 'noop' && outcome !== 'verify-warnings';
}

/** The message's title: action, outcome and release. */
export function titleOf(e: NotifyEvent): string {
  const o = OUTCOME_WORDS[e.outcome];
  const release = e.tag ? ` ${e.image ? `${e.image}:` : ''}${e.tag}` : '';
  return `${o.icon} ${e.action}${release} ${o.words}${e.repository ? ` (${e.repository})` : ''}`;
}

/** The message's body lines: the release, what ran before, why, and where to read the log. */
export function bodyOf(e: NotifyEvent): string[] {
  const out: string[] = [];
  if (e.tag) out.push(`Release: ${e.image ? `${e.image}:` : ''}${e.tag}${e.commit ? ` (commit ${e.commit})` : ''}`);
  else if (e.commit) out.push(`Commit: ${e.commit}`);
  if (e.previous) out.push(`Before: ${e.previous}`);
  if (e.reason) out.push(`Reason: ${e.reason}`);
  out.push(`Run: ${e.run}`);
  if (e.reportedBy)
    out.push(
      `Reported late by ${e.reportedBy}: the runner of this operation vanished and the NAS finished it by itself.`,
    );
  return out;
}

/** The request for one target: its body and headers. */
export function requestOf(target: NotifyTarget, e: NotifyEvent): { body: string; headers: Record<string, string> } {
  const title = titleOf(e);
  const body = bodyOf(e);
  const text = [title, ...body].join('\n');
  const json = { 'content-type': 'application/json' };
  const failed = wanted('failure', e.outcome);
  switch (target.kind) {
    case 'slack':
      return { body: JSON.stringify({ text }), headers: json };
    case 'discord':
      // Discord refuses content over 2000 characters.
      return { body: JSON.stringify({ content: text.slice(0, 2000), allowed_mentions: { parse: [] } }), headers: json };
    case 'ntfy':
      // Header values must be Latin-1: the title goes in the body's first line instead when it is not.
      return {
        body: body.join('\n'),
        headers: {
          'content-type': 'text/plain; charset=utf-8',
          title: latin1(title),
          priority: failed ? 'high' : 'default',
          tags: failed ? 'warning' : 'white_check_mark',
        },
      };
    case 'gotify':
      return {
        body: JSON.stringify({ title, message: body.join('\n'), priority: failed ? 8 : 4 }),
        headers: json,
      };
    case 'json':
      return { body: JSON.stringify({ text, title, ...e }), headers: json };
  }
}

function latin1(s: string): string {
  return s.replace(/[^\x20-\x7e\xa0-\xff]/g, '').trim();
}

/**
 * Sends `event` to every target at once, each within the timeout. Never
 * throws: a message that cannot be sent is a warning naming the service and
 * host, never the URL. Returns how many were delivered.
 */
export async function sendAll(
  targets: readonly NotifyTarget[],
  event: NotifyEvent,
  warn: (message: string) => void,
  timeoutSeconds = NOTIFY_TIMEOUT_SECONDS,
): Promise<number> {
  const sent = await Promise.all(
    targets.map(async (target) => {
      const { body, headers } = requestOf(target, event);
      try {
        const res = await fetch(target.url, {
          method: 'POST',
          body,
          headers,
          redirect: 'error',
          signal: AbortSignal.timeout(timeoutSeconds * 1000),
        });
        await res.body?.cancel();
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        return true;
      } catch (err) {
        warn(
          `The ${target.label} notification was not sent: ${reasonOf(err, timeoutSeconds)}. The release itself is not affected.`,
        );
        return false;
      }
    }),
  );
  return sent.filter(Boolean).length;
}

function reasonOf(err: unknown, timeoutSeconds: number): string {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  if (e.name === 'TimeoutError') return `no answer within ${timeoutSeconds}s`;
  // fetch's own message is "fetch failed"; the cause says why (ECONNREFUSED, ENOTFOUND…), without the URL.
  const why = e.cause?.code ?? e.cause?.message ?? e.message;
  return why.replace(/\w+:\/\/\S+/g, '<url>');
}
