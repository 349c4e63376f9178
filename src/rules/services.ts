import { releaseStack, type HistoryRecord, type ServiceRecord } from '../remote/history.js';

export type { ServiceRecord };

/**
 * Several compose services in one release: the `services` input's
 * syntax, and what the history says about each service. Pure: no NAS, no
 * inputs reader, so every rule here is unit-tested on its own.
 */

/** One service of a release, every key filled in. */
export interface ServiceSpec {
  /** The compose service name. */
  name: string;
  image: string;
  /** Container name; empty: the container compose made for the service, found on the NAS. */
  container: string;
  tagVariable: string;
  buildContext: string;
  dockerfile: string;
  /** Empty: the container's own healthcheck, else it staying up. */
  healthUrl: string;
}

/** What a line leaves out: today's single-service inputs. */
export interface ServiceDefaults {
  /** The `service` input: the only service that takes the `container` input as its default. */
  service: string;
  image: string;
  container: string;
  tagVariable: string;
  buildContext: string;
  dockerfile: string;
  healthUrl: string;
}

/** How names are checked: the inputs layer's patterns, so `image` here is what `image` accepts on its own. */
export interface ServiceNameRules {
  image: RegExp;
  name: RegExp;
  envName: RegExp;
}

export class ServicesSyntaxError extends Error {}

const KEYS = ['image', 'container', 'tag-variable', 'build-context', 'dockerfile', 'health-url'] as const;
type Key = (typeof KEYS)[number];

function relativePath(value: string, where: string, key: Key): string {
  if (value.startsWith('/') || value.split('/').includes('..'))
    throw new ServicesSyntaxError(
      `${where}: ${key} must be a path inside repo-path (relative, without ..), not ${JSON.stringify(value)}`,
    );
  if (value.startsWith('-'))
    throw new ServicesSyntaxError(`${where}: ${key} must not start with - (docker would take it as an option)`);
  return value;
}

function httpUrl(value: string, where: string): string {
  if (value === '') return value;
  let ok = false;
  try {
    ok = /^https?:$/.test(new URL(value).protocol);
  } catch {
    ok = false;
  }
  if (!ok)
    throw new ServicesSyntaxError(
      `${where}: health-url must be an http:// or https:// URL, not ${JSON.stringify(value)}`,
    );
  return value.replace(/\/+$/, '');
}

/**
 * Parses the `services` lines: `<service> [key=value ...]`, keys `image`,
 * `container`, `tag-variable`, `build-context`, `dockerfile`, `health-url`.
 * Blank lines and `#` lines are skipped. What a line leaves out comes from
 * `defaults`; `container` only for the service the `service` input names
 * (two containers cannot share a name), the others get the one compose makes.
 * `health-url=` with nothing after it means no URL. Errors say the line.
 */
export function parseServices(text: string, defaults: ServiceDefaults, rules: ServiceNameRules): ServiceSpec[] {
  const out: ServiceSpec[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const where = `line ${i + 1} (${JSON.stringify(line.length > 80 ? `${line.slice(0, 80)}…` : line)})`;
    const [name, ...words] = line.split(/\s+/);
    if (name.includes('='))
      throw new ServicesSyntaxError(`${where}: a line starts with the compose service name, then key=value words`);
    if (!rules.name.test(name))
      throw new ServicesSyntaxError(`${where}: ${JSON.stringify(name)} is not a compose service name`);
    const given = new Map<Key, string>();
    for (const w of words) {
      const at = w.indexOf('=');
      const key = (at > 0 ? w.slice(0, at) : w) as Key;
      if (at <= 0 || !KEYS.includes(key))
        throw new ServicesSyntaxError(
          `${where}: ${JSON.stringify(w.slice(0, 60))} is not one of ${KEYS.map((k) => `${k}=`).join(', ')}`,
        );
      if (given.has(key)) throw new ServicesSyntaxError(`${where}: ${key} is given twice`);
      given.set(key, w.slice(at + 1));
    }
    const value = (key: Key, fallback: string): string => given.get(key) ?? fallback;
    const image = value('image', defaults.image);
    if (!rules.image.test(image))
      throw new ServicesSyntaxError(`${where}: image must be a Docker image name, not ${JSON.stringify(image)}`);
    const container = value('container', name === defaults.service ? defaults.container : '');
    if (container !== '' && !rules.name.test(container))
      throw new ServicesSyntaxError(`${where}: container must be a container name, not ${JSON.stringify(container)}`);
    const tagVariable = value('tag-variable', defaults.tagVariable);
    if (!rules.envName.test(tagVariable))
      throw new ServicesSyntaxError(
        `${where}: tag-variable must be an environment variable name, not ${JSON.stringify(tagVariable)}`,
      );
    const buildContext = relativePath(value('build-context', defaults.buildContext) || '.', where, 'build-context');
    const dockerfile = value('dockerfile', defaults.dockerfile);
    if (dockerfile) relativePath(dockerfile, where, 'dockerfile');
    const healthUrl = httpUrl(value('health-url', defaults.healthUrl), where);
    if (out.some((s) => s.name === name)) throw new ServicesSyntaxError(`${where}: service ${name} is listed twice`);
    if (container && out.some((s) => s.container === container))
      throw new ServicesSyntaxError(`${where}: container ${container} is already the container of another service`);
    const sameImage = out.find((s) => s.image === image);
    if (sameImage && (sameImage.buildContext !== buildContext || sameImage.dockerfile !== dockerfile))
      throw new ServicesSyntaxError(
        `${where}: image ${image} is also the image of ${sameImage.name}, built from ${sameImage.buildContext}${sameImage.dockerfile ? ` with ${sameImage.dockerfile}` : ''}: services sharing an image share its build-context and dockerfile`,
      );
    out.push({ name, image, container, tagVariable, buildContext, dockerfile, healthUrl });
  });
  return out;
}

/** One image to obtain for a release, and the services that run it: an image several services share is built once. */
export interface ImageToObtain {
  image: string;
  buildContext: string;
  dockerfile: string;
  services: string[];
}

export function distinctImages(services: readonly ServiceSpec[]): ImageToObtain[] {
  const byImage = new Map<string, ImageToObtain>();
  for (const s of services) {
    const known = byImage.get(s.image);
    if (known) known.services.push(s.name);
    else
      byImage.set(s.image, {
        image: s.image,
        buildContext: s.buildContext,
        dockerfile: s.dockerfile,
        services: [s.name],
      });
  }
  return [...byImage.values()];
}

/** rollback-backend's `services`: names, comma or newline separated. */
export function parseServiceNames(text: string, rules: Pick<ServiceNameRules, 'name'>): string[] {
  const names = text
    .split(/[,\n]/)
    .map((s) => s.trim())
    .filter(Boolean);
  for (const n of names)
    if (!rules.name.test(n))
      throw new ServicesSyntaxError(`${JSON.stringify(n.slice(0, 100))} is not a compose service name`);
  return [...new Set(names)];
}

/** `pulled`: the registry tag the image of `tag` was pulled as (image-source: registry), when known. */
export function serviceRecord(s: ServiceSpec, tag: string, pulled?: string): ServiceRecord {
  return {
    tag,
    image: s.image,
    container: s.container,
    tagVariable: s.tagVariable,
    healthUrl: s.healthUrl,
    ...(pulled ? { pulled } : {}),
  };
}

/**
 * The registry tag `image:tag` was pulled as, by the history (the newest
 * record that says): what a rollback pulls when the image is gone from the NAS.
 */
export function pulledTagOf(records: readonly HistoryRecord[], image: string, tag: string): string | undefined {
  for (const r of [...records].reverse())
    for (const s of recordServices(r).values()) if (s.image === image && s.tag === tag && s.pulled) return s.pulled;
  return undefined;
}

/**
 * The digest `image:tag` was pulled as, by the history (the newest record
 * that has one): what a rollback pulls rather than a tag that may have moved.
 */
export function pulledDigestOf(records: readonly HistoryRecord[], image: string, tag: string): string | undefined {
  for (const r of [...records].reverse()) {
    const digest = r.digests?.[image];
    if (typeof digest !== 'string' || !/^sha256:[0-9a-f]{64}$/.test(digest)) continue;
    for (const s of recordServices(r).values()) if (s.image === image && s.tag === tag) return digest;
  }
  return undefined;
}

/** A service of the history is used to recreate it: every field must look like what a release writes, or it is skipped. */
function isServiceRecord(v: unknown): v is ServiceRecord {
  const r = v as ServiceRecord;
  return (
    typeof r === 'object' &&
    r !== null &&
    typeof r.tag === 'string' &&
    /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(r.tag) &&
    typeof r.image === 'string' &&
    /^[a-z0-9][a-z0-9._/:-]{0,254}$/.test(r.image) &&
    typeof r.container === 'string' &&
    /^([A-Za-z0-9][A-Za-z0-9_.-]{0,127})?$/.test(r.container) &&
    typeof r.tagVariable === 'string' &&
    /^[A-Za-z_][A-Za-z0-9_]{0,127}$/.test(r.tagVariable) &&
    typeof r.healthUrl === 'string' &&
    /^(https?:\/\/\S*)?$/.test(r.healthUrl) &&
    (r.pulled === undefined || (typeof r.pulled === 'string' && /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(r.pulled)))
  );
}

/** The services a history record names, skipping anything malformed (the history is a file on the NAS). */
export function recordServices(record: HistoryRecord): Map<string, ServiceRecord> {
  const out = new Map<string, ServiceRecord>();
  const services: unknown = record.services;
  if (typeof services !== 'object' || services === null) return out;
  for (const [name, v] of Object.entries(services)) if (isServiceRecord(v)) out.set(name, v);
  return out;
}

/**
 * The release's services as the history knows them: the last successful
 * deploy with services sets the list; rollbacks after it move the tags of
 * the services they name, and nothing else.
 */
export function releasedServices(records: readonly HistoryRecord[]): Map<string, ServiceRecord> {
  let current = new Map<string, ServiceRecord>();
  for (const r of records) {
    if (r.stack !== 'backend' || r.outcome !== 'success') continue;
    const services = recordServices(r);
    if (services.size === 0) continue;
    if (r.action === 'deploy-backend') current = new Map(services);
    else for (const [name, s] of services) if (current.has(name)) current.set(name, s);
  }
  return current;
}

/**
 * The release an empty-tag rollback of one service goes to: the same stack
 * rule as the backend's (A, B, C deployed: B, then A), over the records that
 * moved this service. A rollback of another service does not count.
 */
export function previousServiceRelease(
  records: readonly HistoryRecord[],
  service: string,
  running: string,
): string | undefined {
  const own = records.flatMap((r): HistoryRecord[] => {
    const s = recordServices(r).get(service);
    return s ? [{ ...r, tag: s.tag }] : [];
  });
  const releases = releaseStack(own, 'backend');
  let at = releases.lastIndexOf(running);
  if (at < 0) at = releases.length;
  for (let i = at - 1; i >= 0; i--) if (releases[i] !== running) return releases[i];
  return undefined;
}

/**
 * The history as one image's own: each record that moved a service of the
 * image, with that service's tag as its tag, so "newest" and "previous" of
 * an image count only the releases of its services (a rollback of another
 * image's service does not make a tag of this one newer).
 */
export function imageHistory(records: readonly HistoryRecord[], image: string): HistoryRecord[] {
  return records.flatMap((r) => {
    const tags = [...new Set([...recordServices(r).values()].filter((s) => s.image === image).map((s) => s.tag))];
    return tags.map((tag) => ({ ...r, tag }));
  });
}
