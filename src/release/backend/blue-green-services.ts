import type { Reobtain } from '../../image-sources/table.js';
import type { BackupEntry } from '../../rules/backups.js';
import type { DeploymentInputs } from '../../github/deployments.js';
import type { BackendTarget, BlueGreenSettings, RollbackBackendInputs } from '../../inputs/backend.js';
import type { ComposeChoice } from '../../inputs/connection.js';
import type { Nas } from '../../nas/nas.js';
import {
  colorTag,
  composeProject,
  otherColor,
  type BlueGreenState,
  type ColorService,
  type SwitchValues,
} from '../../programs/blue-green.js';
import { colorVolumeProblems, type ColorVolumes, type ColorVolumesPlan } from '../../programs/color-volumes.js';
import { servicesImages } from '../../programs/services.js';
import type { HistoryRecord } from '../../remote/history.js';
import type { RecordUpdate } from '../../nas/nas.js';
import { datedTags } from '../../rules/images.js';
import { previousServiceRelease, serviceRecord, type ServiceRecord, type ServiceSpec } from '../../rules/services.js';
import type { Progress } from '../../report/progress.js';
import type { FlowContext, FlowResult } from '../flow.js';

/**
 * Several services released as blue-green colours: each colour runs every
 * service of the release under its own compose project, the other services of
 * the compose file (a database, the proxy, a cache) are shared and never
 * touched. What the runner decides for them: the colour's services and their
 * health URLs, the volumes the colours must share, a per-service rollback.
 */

/** A colour's service without its tag: the first is reached through the proxy (health-url, the colour's port). */
export type ColorServiceSpec = Omit<ColorService, 'tag'>;

/**
 * The health URL of a colour's service: the first's is its own or health-url (the proxy's, given the colour's
 * port on the NAS); another's only when its line gives one (health-url is the proxy's, not its own).
 */
export function colorHealthUrl(index: number, own: string, proxyUrl: string): string {
  if (index === 0) return own || proxyUrl;
  return own === proxyUrl ? '' : own;
}

/** The colour's services of a release of several services. */
export function colorSpecs(services: readonly ServiceSpec[], target: BackendTarget): ColorServiceSpec[] {
  return services.map((s, i) => ({
    name: s.name,
    image: s.image,
    tagVariable: s.tagVariable,
    healthUrl: colorHealthUrl(i, s.healthUrl, target.healthUrl),
  }));
}

/** The volumes question of a blue-green release: the blue colour's project, the variables the colours set. */
export function volumesPlan(
  repo: string,
  target: BackendTarget,
  bg: BlueGreenSettings,
  compose: ComposeChoice,
  tagVariables: readonly string[],
): Omit<ColorVolumesPlan, 'rev'> {
  const env: Record<string, string> = { COLOR: 'blue', [bg.portVariable]: String(bg.ports.blue) };
  for (const v of tagVariables) env[v] = 'nas-release-check';
  return { repo, file: target.composeFile, project: `${composeProject(target.composeFile)}-blue`, env, compose };
}

/**
 * A compose file whose colours would not share a volume ends the release before anything changes, recorded, with
 * the line to add; one compose could not read is a warning (it may need what the release writes).
 */
export async function refuseColorVolumes(
  nas: Nas,
  progress: Progress,
  found: ColorVolumes | undefined,
  o: { file: string; services: readonly string[]; what: string; update: RecordUpdate },
): Promise<FlowResult | undefined> {
  if (found?.read === 'unreadable') {
    progress.warn(`compose config could not read ${o.file}: whether the colours share their volumes was not checked`);
    return undefined;
  }
  const project = composeProject(o.file);
  const problems = found
    ? colorVolumeProblems(found, {
        file: o.file,
        project,
        blue: `${project}-blue`,
        green: `${project}-green`,
        services: o.services,
      })
    : [];
  if (!problems.length) return undefined;
  const why = `The colours would not share their data: ${problems.join('; ')}. Nothing was changed.`;
  progress.fail(why);
  await nas.finish('failure', { ...o.update, detail: 'compose file refused: a volume not shared by the colours' });
  return { ok: false, outputs: {}, error: `${o.what} failed before anything changed: ${why}` };
}

/** The services that failed their health in the idle colour, with their last log lines, for the error message. */
export function failedServicesText(values: Pick<SwitchValues, 'failed' | 'failedLogs'>): string {
  if (!values.failed?.length) return '';
  const logs = values.failed
    .map((name) => {
      const text = values.failedLogs?.get(name);
      return text === undefined ? '' : `\nLast log lines of ${name}:\n${text || '(it logged nothing)'}`;
    })
    .join('');
  return ` Not healthy: ${values.failed.join(', ')}.${logs}`;
}

/** What each service of the live colour runs, by name ('' for one it does not run). */
export function liveTags(state: BlueGreenState, services: readonly Pick<ColorService, 'name' | 'image'>[]): string[] {
  const none = { status: '', health: '', image: '' };
  const live = state.live ? state.services?.[state.live] : undefined;
  return services.map((s) => (live ? colorTag(s.image, live.get(s.name) ?? none) : ''));
}

/** A blue-green rollback, decided: what the switch starts in the idle colour. */
export interface ColorRollback {
  history: readonly HistoryRecord[];
  /** The first moved service's target and what it ran: the hooks' BACKEND_TAG and PREVIOUS_BACKEND_TAG. */
  tag: string;
  current: string;
  /** What the messages call the target. */
  ref: string;
  live: BlueGreenState['live'];
  idle: 'blue' | 'green';
  services?: ColorService[];
  record?: Record<string, ServiceRecord>;
  /** A target image gone from the NAS, pulled again in the phase before anything changes. */
  pull?: Reobtain;
  /** The backup to restore before the target colour starts (restore-backup). */
  restore?: BackupEntry & { manifest: NonNullable<BackupEntry['manifest']> };
  /** DEPLOYED_SERVICES and the other outputs of a rollback of several services. */
  outputs?: Record<string, string>;
}

/**
 * A per-service rollback under blue-green: the named services (all of the last release's when none is named)
 * each to `tag` or its own previous release, the others at what the live colour runs; the idle colour is started
 * with all of them, then the proxy switched. Unknown names and missing images fail before anything changes.
 * Undefined when nothing moves (answered here).
 */
export async function colorServicesRollback(
  settings: RollbackBackendInputs & { deployment: DeploymentInputs },
  nas: Nas,
  { progress }: FlowContext,
  state: { answers: BlueGreenState; history: readonly HistoryRecord[] },
  known: ReadonlyMap<string, ServiceRecord>,
): Promise<{ plan: ColorRollback } | { done: FlowResult }> {
  const { conn, target } = settings;
  const names = settings.services.length ? settings.services : [...known.keys()];
  const unknown = names.filter((n) => !known.has(n));
  if (unknown.length || known.size === 0)
    throw new Error(
      `Input 'services': ${unknown.length ? `no service ${unknown.join(', ')} in` : 'there is no'} the last release of several services in the history of ${conn.repoPath}; its services are: ${[...known.keys()].join(', ') || '(none: the last release was of a single service, roll it back without services)'}. Nothing was changed.`,
    );
  const specs = [...known].map(([name, r]) => ({ name, ...r }));
  const now = liveTags(state.answers, specs);
  progress.step('Verifying the images exist');
  const asked = await nas.runProgram(
    servicesImages(
      nas.render,
      conn.repoPath,
      target.composeFile,
      specs.map((s) => ({ ...s, buildContext: '.', dockerfile: '' })),
    ),
  );
  const services = specs.map((s, i): ColorService => {
    const running = now[i] || s.tag;
    if (!names.includes(s.name)) return { ...colorOf(s, i, target), tag: running };
    const tag = settings.tag || previousServiceRelease(state.history, s.name, running);
    const inventory = asked.values.inventory.get(s.image) ?? [];
    const available = datedTags(inventory, state.history);
    if (!tag)
      throw new Error(
        `No previous release of service ${s.name} in the history of ${conn.repoPath} to roll back to (running: ${running || 'nothing'}). Name a tag; available: ${available.slice(0, 10).join(', ') || 'none'}. Nothing was changed.`,
      );
    if (!inventory.some((t) => t.tag === tag))
      throw new Error(
        `Image ${s.image}:${tag} (service ${s.name}) does not exist on the NAS. Available tags, newest first:\n  ${available.slice(0, 15).join('\n  ') || '(none)'}\nNothing was changed.`,
      );
    return { ...colorOf(s, i, target), tag };
  });
  const moved = services.filter((s, i) => names.includes(s.name) && (s.tag !== now[i] || settings.force));
  for (const [i, s] of services.entries())
    progress.detail(
      `${s.name}: ${s.image}:${now[i] || '(nothing)'} -> ${s.image}:${s.tag}${names.includes(s.name) ? '' : ' (as the live colour runs it)'}`,
    );
  const outputs = (tags: readonly string[]): Record<string, string> => ({
    DEPLOYED_SERVICES: JSON.stringify(
      Object.fromEntries(services.map((s, i) => [s.name, { tag: tags[i], image: s.image, previous: now[i] }])),
    ),
  });
  if (!moved.length) {
    progress.ok(`${names.join(', ')} already run their target tags: nothing to do (set force: true to switch anyway)`);
    await nas.finish('noop', {
      detail: 'already running',
      ...(state.answers.live ? { color: state.answers.live } : {}),
    });
    return { done: { ok: true, outputs: outputs(now) } };
  }
  const first = moved[0];
  const live = state.answers.live;
  return {
    plan: {
      history: state.history,
      tag: first.tag,
      current: now[services.indexOf(first)],
      ref: moved.map((s) => `${s.name} ${s.image}:${s.tag}`).join(', '),
      live,
      idle: live ? otherColor(live) : 'blue',
      services,
      record: Object.fromEntries(
        moved.map((s) => {
          const r = known.get(s.name) as ServiceRecord;
          return [s.name, serviceRecord({ ...r, name: s.name, buildContext: '.', dockerfile: '' }, s.tag)];
        }),
      ),
      outputs: outputs(services.map((s) => s.tag)),
    },
  };
}

function colorOf(s: { name: string } & ServiceRecord, i: number, target: BackendTarget): ColorServiceSpec {
  return {
    name: s.name,
    image: s.image,
    tagVariable: s.tagVariable,
    healthUrl: colorHealthUrl(i, s.healthUrl, target.healthUrl),
  };
}
