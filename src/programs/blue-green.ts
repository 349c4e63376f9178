import type { BackendTarget, BlueGreenSettings, CheckoutInputs, Color } from '../inputs/backend.js';
import type { Renderer } from '../remote/command.js';
import { colors, docker } from '../remote/docker.js';
import { HEALTH } from '../remote/health.js';
import {
  exitCodes,
  Steps,
  type Phase,
  type PhaseEnding,
  type RecordUpdate,
  type StateQuestions,
} from '../remote/program.js';
import { Shell, lines, sh } from '../remote/shell.js';
import { stateDirOf } from '../remote/state-dir.js';
import { BackendExit, imageTags, RELEASE_STEPS, watchPhaseParts, watchStep, type HookNames } from './backend.js';
import type { WatchPlan } from '../rules/guards.js';
import { decodeWatch, type WatchResult } from './watch.js';
import { putBackTree } from './releases.js';
import { decodeFetchedTarget, fetchTarget, moveCheckout, type FetchedTarget } from './checkout.js';
import { preflightQuestions, type PreflightPlan, type PreflightState } from './preflight.js';
import type { ImageTag } from '../rules/images.js';
import type { ImageSource } from '../inputs/image-source.js';
import { imageSourceKind, type Reobtain } from '../image-sources/table.js';
import { proxyKind, type ProxyKind, type ProxyRefusal } from '../proxies/proxy-table.js';
import { decodeNasLayers, nasLayersScript, pullImage, type NasLayers } from './image-sources.js';
import type { ImageToObtain, ServiceRecord } from '../rules/services.js';
import { colorVolumesQuestion, decodeColorVolumes, type ColorVolumes, type ColorVolumesPlan } from './color-volumes.js';
import { envFileStep, envPreviousKey, type EnvFileStep } from './env-file.js';
import type { BackupEntry } from '../rules/backups.js';
import { decodeListing, listingValue, type AppContainer, type BackupValues, type DataOutcome } from './backups.js';
import {
  backupBeforeRelease,
  decodeReleaseData,
  restoreBeforeTarget,
  restoreOnFallback,
  undoRestoreThenStart,
  type ReleaseBackup,
  type RollbackRestore,
} from './release-steps.js';

/**
 * Blue-green releases: the backend service runs under two compose
 * projects, `<project>-blue` and `<project>-green`; the proxy (nginx, in the
 * same compose file, under `<project>`) sends requests to the live one through
 * a one-line upstream include. A release starts the idle colour beside the
 * live one, waits for its health, points the proxy at it, drains and stops
 * (or keeps warm) the old one: all in one detached phase.
 */

/** How a blue-green phase ends, besides the backend's own exits (NoCheckout, PreDeployFailed, ...). */
export const BlueGreenExit = {
  /** The live colour is not the one the runner read (a vanished run's phase switched it): nothing changed. */
  BlueGreenStateChanged: 60,
  /** compose could not start the idle colour; the live one serves on. */
  BlueGreenIdleStartFailed: 61,
  /** The idle colour failed its health check; it is stopped, the proxy was never touched. */
  BlueGreenIdleUnhealthy: 62,
  /** `nginx -t` refused the configuration (or the reload failed): the live colour serves on. */
  BlueGreenProxyRefused: 63,
  /** The user's switch-command failed: the live colour serves on. */
  BlueGreenSwitchFailed: 64,
  /** After the switch the proxy did not answer: switched back, the live colour serves on. */
  BlueGreenProxyCheckFailed: 65,
  /** nginx's old workers still accepted NGINX_RELOAD_WAIT_SECONDS (proxies/nginx.ts) after the reload: the upstream was put back. */
  BlueGreenProxyReloadPending: 66,
  /**
   * An incident: after the switch the proxy did not answer, and the switch back failed too. The proxy still sends
   * requests to the new colour, which is kept running and recorded as live; the old one runs beside it, undrained.
   */
  BlueGreenSwitchBackFailed: 67,
} as const;
export type BlueGreenExit = (typeof BlueGreenExit)[keyof typeof BlueGreenExit];

/** The history's detail for BlueGreenSwitchBackFailed: which colour serves. */
export function switchBackFailedDetail(serving: Color): string {
  return `incident: no answer through the proxy after the switch, and the switch back failed; the ${serving} colour serves`;
}

/** The incident is recorded on the NAS as it happens, with the colour that serves: the runner may be gone by then. */
function switchBackEnding(serving: Color, update: RecordUpdate): PhaseEnding {
  return {
    code: BlueGreenExit.BlueGreenSwitchBackFailed,
    outcome: 'failure',
    update: { ...update, detail: switchBackFailedDetail(serving), color: serving },
  };
}
const EXIT = exitCodes(BlueGreenExit);
const BACKEND = exitCodes(BackendExit);

/** The exits after which the colour that served before still serves, and the new one was stopped. */
export const LIVE_KEPT: ReadonlySet<number> = new Set([
  BlueGreenExit.BlueGreenIdleStartFailed,
  BlueGreenExit.BlueGreenIdleUnhealthy,
  BlueGreenExit.BlueGreenProxyRefused,
  BlueGreenExit.BlueGreenSwitchFailed,
  BlueGreenExit.BlueGreenProxyCheckFailed,
  BlueGreenExit.BlueGreenProxyReloadPending,
]);

export const COLORS: readonly Color[] = ['blue', 'green'];
export const otherColor = (c: Color): Color => (c === 'blue' ? 'green' : 'blue');

/** The compose project name of the compose file, as compose derives it: its folder's name, lowercase, [a-z0-9_-] only. */
export function composeProject(composeFile: string): string {
  const parts = composeFile.split('/').filter(Boolean);
  const folder = parts.length > 1 ? parts[parts.length - 2] : 'default';
  return folder.toLowerCase().replace(/[^a-z0-9_-]/g, '') || 'default';
}

/** The state file that says which colour serves (written after each switch, atomically). */
export const LIVE_FILE = 'live-color';
/** `<colour> <until epoch>` of the old colour kept warm; the timer stops it only while this line is unchanged. */
export const WARM_FILE = 'warm-color';

/** Placeholders for a shell function's arguments in a catalog command rendered as its body. */
const ARG = ['NR_ARG_1', 'NR_ARG_2'] as const;

/** `name() { <command with NR_ARG_n as "$n"> ; }`: a catalog command as a shell function of its arguments. */
function shellFunction(name: string, body: Shell): Shell {
  // the placeholders are plain words (quote() leaves them bare): one inside quotes would stay literal
  if (/'[^']*NR_ARG_\d[^']*'/.test(body.text)) throw new Error(`${name}: an argument placeholder was quoted`);
  let text = body.text;
  ARG.forEach((arg, i) => {
    text = text.split(arg).join(`"$${i + 1}"`);
  });
  return new Shell(`${name}() { ${text}; }`);
}

/**
 * `nr_bg_state_of PROJECT SERVICE`: `<id> <status> <healthy|unhealthy|starting|none> <image>` of the service's
 * container under that project, empty without one; the health read from docker's status text.
 */
export const COLOR_STATE_OF = new Shell(`nr_bg_state_of() {
  nr_bg_ls "$1" "$2" | { IFS=' ' read -r nr_i nr_s nr_img nr_st || exit 0
    case $nr_st in *'(healthy)'*) nr_h=healthy ;; *'(unhealthy)'*) nr_h=unhealthy ;; *'(health: '*) nr_h=starting ;; *) nr_h=none ;; esac
    printf '%s %s %s %s\\n' "$nr_i" "$nr_s" "$nr_h" "$nr_img"; }
}`);

/** The colour library: find a compose service's container by its labels, ask its state. */
function colorLibrary(r: Renderer): Shell {
  return lines(
    shellFunction('nr_bg_find', r.run(colors.containerOf(ARG[0], ARG[1]))),
    shellFunction('nr_bg_ls', r.run(colors.containerStateOf(ARG[0], ARG[1]))),
    COLOR_STATE_OF,
    shellFunction('nr_bg_logs', r.run(docker.logs(ARG[0], 100))),
    shellFunction('nr_bg_running', r.run(colors.runningContainerOf(ARG[0], ARG[1]))),
    shellFunction('nr_bg_all', r.run(colors.projectStates(ARG[0]))),
  );
}

/** The health URL of a colour: health-url (through the proxy) with the colour's port. */
export function colorUrl(healthUrl: string, port: number): string {
  if (!healthUrl) return '';
  const url = new URL(healthUrl);
  url.port = String(port);
  return url.toString();
}

/** What one colour's container is doing. */
export interface ColorState {
  /** running, exited, ... or empty without a container. */
  status: string;
  /** healthy, unhealthy, starting, none. */
  health: string;
  /** `image:tag`. */
  image: string;
}

export interface BlueGreenState {
  /** The colour serving through the proxy, empty before the first blue-green release. */
  live: Color | '';
  colors: Record<Color, ColorState>;
  /** Every service each colour's project runs, by compose service name (asked by the labels, whatever the list). */
  services?: Record<Color, Map<string, ColorState>>;
}

/** Reads the live colour and each colour's container: the blue-green part of a flow's first questions. */
function colorQuestions(r: Renderer, repo: string, target: Pick<BackendTarget, 'composeFile' | 'service'>): Shell {
  const project = composeProject(target.composeFile);
  // each colour in the background, beside the other questions: their value lines are short, so none tears another
  const one = (c: Color): Shell =>
    sh`( nr_value ${`bg_${c}`} "$(nr_bg_state_of ${`${project}-${c}`} ${target.service} 2>/dev/null)" ) &`;
  // every service of the colour's project, one line each joined by ';' (a value is one line)
  const all = (c: Color): Shell =>
    sh`( nr_value ${`bg_${c}_all`} "$(nr_bg_all ${`${project}-${c}`} 2>/dev/null | tr '\n' ';')" ) &`;
  return lines(
    colorLibrary(r),
    sh`nr_value bg_live "$(cat ${`${stateDirOf(repo)}/${LIVE_FILE}`} 2>/dev/null)"`,
    one('blue'),
    one('green'),
    all('blue'),
    all('green'),
  );
}

/** `<service> <id> <state> <image> <status text>;...` of a colour's project: each service's newest container. */
export function decodeProjectStates(text: string | undefined): Map<string, ColorState> {
  const out = new Map<string, ColorState>();
  for (const entry of (text ?? '').split(';')) {
    const [service = '', , status = '', image = '', ...words] = entry.trim().split(/\s+/);
    if (!service || out.has(service)) continue;
    const said = words.join(' ');
    const health = said.includes('(healthy)')
      ? 'healthy'
      : said.includes('(unhealthy)')
        ? 'unhealthy'
        : said.includes('(health: ')
          ? 'starting'
          : 'none';
    out.set(service, { status, health, image });
  }
  return out;
}

function decodeColorState(text: string | undefined): ColorState {
  const [, status = '', health = '', image = ''] = (text ?? '').trim().split(/\s+/);
  return { status, health, image };
}

function decodeColors(values: ReadonlyMap<string, string>): BlueGreenState {
  const live = values.get('bg_live')?.trim();
  return {
    live: live === 'blue' || live === 'green' ? live : '',
    colors: { blue: decodeColorState(values.get('bg_blue')), green: decodeColorState(values.get('bg_green')) },
    ...(values.has('bg_blue_all') || values.has('bg_green_all')
      ? {
          services: {
            blue: decodeProjectStates(values.get('bg_blue_all')),
            green: decodeProjectStates(values.get('bg_green_all')),
          },
        }
      : {}),
  };
}

/** The live colour and each colour's container, found through compose's labels (cleanup-backend's protected tags). */
export function colorsState(
  repo: string,
  target: Pick<BackendTarget, 'composeFile' | 'service'>,
): StateQuestions<BlueGreenState> {
  return { script: (r) => colorQuestions(r, repo, target), decode: decodeColors };
}

/** The tag the live colour runs: the one a blue-green release serves, and an empty-tag rollback starts from. */
export function liveTag(image: string, state: BlueGreenState): string {
  return state.live ? colorTag(image, state.colors[state.live]) : '';
}

export interface BlueGreenDeployState extends FetchedTarget, BlueGreenState, Partial<PreflightState> {
  /** With an image the runner sends: the layers the NAS has, and the image's tags there. */
  layers?: NasLayers;
  inventory?: ImageTag[];
  /** The volumes the colours' services mount (asked with `volumes`). */
  volumes?: ColorVolumes;
}

/** deploy-backend's first questions with blue-green: the colours, the commit, what the image source needs, the volumes. */
export function blueGreenDeployState(
  target: BackendTarget,
  checkout: CheckoutInputs & { repo: string },
  source: ImageSource = { kind: 'nas' },
  volumes?: Omit<ColorVolumesPlan, 'rev'>,
  preflight?: PreflightPlan,
): StateQuestions<BlueGreenDeployState> {
  const runner = imageSourceKind(source).sentFromRunner;
  const tags = imageTags(target.image);
  const checks = preflightQuestions(preflight, checkout);
  const rev = checkout.ref || `refs/remotes/${checkout.remote}/${checkout.branch}`;
  return {
    // the layers' value line is long: asked after the others have ended
    script: (r) =>
      lines(
        colorQuestions(r, checkout.repo, target),
        checks.before,
        fetchTarget(r, checkout),
        checks.after,
        volumes && colorVolumesQuestion({ ...volumes, rev }),
        runner ? lines(sh`wait`, nasLayersScript(r), tags.script(r)) : undefined,
      ),
    decode: (values) => ({
      ...decodeColors(values),
      ...decodeFetchedTarget(values),
      ...checks.decode(values),
      ...(runner ? { layers: decodeNasLayers(values), inventory: tags.decode(values).inventory } : {}),
      ...(volumes ? { volumes: decodeColorVolumes(values) } : {}),
    }),
  };
}

/** rollback-backend's first questions with blue-green: the colours and the image's tags. */
export function blueGreenImagesState(
  repo: string,
  target: BackendTarget,
  inventory: StateQuestions<{ inventory: ImageTag[] }>,
  volumes?: ColorVolumesPlan,
): StateQuestions<BlueGreenState & { inventory: ImageTag[]; volumes?: ColorVolumes }> {
  return {
    script: (r) =>
      lines(colorQuestions(r, repo, target), volumes && colorVolumesQuestion(volumes), inventory.script(r)),
    decode: (values) => ({
      ...decodeColors(values),
      inventory: inventory.decode(values).inventory,
      ...(volumes ? { volumes: decodeColorVolumes(values) } : {}),
    }),
  };
}

/** The tags of `image` that containers use (a warm colour, the live one): cleanup never removes them. */
export function tagsInUse(image: string): StateQuestions<string[]> {
  return {
    script: (r) => sh`nr_value images_in_use "$(${r.run(colors.imagesInUse())} 2>/dev/null | tr '\\n' ' ')"`,
    decode: (values) =>
      (values.get('images_in_use') ?? '')
        .split(' ')
        .filter((ref) => ref.startsWith(`${image}:`))
        .map((ref) => ref.slice(image.length + 1)),
  };
}

/** The tag a colour runs, when it runs this image. */
export function colorTag(image: string, state: ColorState): string {
  return state.status === 'running' && state.image.startsWith(`${image}:`) ? state.image.slice(image.length + 1) : '';
}

/** The steps of the blue-green part of a phase. */
export const SWITCH_STEPS = {
  start: 'Starting the idle colour',
  health: 'Waiting for the idle colour to be healthy',
  switch: 'Switching the proxy',
  drain: 'Draining the old colour',
} as const;

/** One compose service a colour runs. */
export interface ColorService {
  name: string;
  image: string;
  tagVariable: string;
  tag: string;
  /**
   * Where its health is asked: the first service's URL gets the colour's port. Empty: its container's
   * healthcheck, else it staying up.
   */
  healthUrl: string;
}

export interface SwitchPlan {
  repo: string;
  /**
   * The services each colour runs, the first the one the proxy routes to (its port is the colour's); every other
   * service of the compose file is shared and never touched. Unset: `target.service` alone, at `tag`.
   */
  services?: readonly ColorService[];
  target: BackendTarget;
  bg: BlueGreenSettings;
  tag: string;
  /** The colour serving now (as the runner read it), empty before the first blue-green release. */
  live: Color | '';
  preDeploy?: string;
  postDeploy?: string;
  /** What the log calls the hooks (a rollback's are pre-rollback and post-rollback). */
  hookNames?: HookNames;
  /** PREVIOUS_BACKEND_TAG for the hooks. */
  previous: string;
  /** After the pre-deploy hook, before the idle colour starts (a rollback's restore): it may end the phase. */
  beforeStart?: Shell;
  /** When the release is refused and the live colour serves on, once the idle colour is stopped (the data put back): never ends the phase. */
  onRefused?: Shell;
  /**
   * The metrics watch after the switch, while the old colour still runs; `rollBack` (auto-rollback): a breach
   * switches the proxy back to the old colour and stops the new one. The old colour drains (or stays warm) after it.
   */
  watch?: { plan: WatchPlan; rollBack: boolean };
  /**
   * The environment file, in place before the idle colour starts (compose reads it at `up` only, so the live
   * colour keeps what it loaded); the live release's file comes back when the live colour serves on.
   */
  envFile?: EnvFileStep & { sha256?: string };
}

/** What a blue-green phase reports. */
export interface SwitchValues {
  /** The tag serving through the proxy when the phase ended. */
  running: string;
  /** The colour serving when the phase ended. */
  liveColor: Color | '';
  /** The new release was refused (unhealthy, proxy refused) and the live one serves on. */
  rolledBack: boolean;
  /** The idle colour already ran the tag, healthy: the release was a switch alone. */
  warm: boolean;
  /** Milliseconds from the start of the phase to the proxy's reload (the switch). */
  switchMs?: number;
  /** The colour's services that were not healthy (the idle colour refused). */
  failed?: string[];
  /** Their last log lines, by service. */
  failedLogs?: Map<string, string>;
}

/** How many log lines of a service that failed its health the error message quotes (the log group holds 100). */
const FAILED_LOG_LINES = 10;

/** The services that failed their health and their last log lines (values `bg_failed`, `bg_logs_b64_<i>`). */
export function decodeFailed(
  values: ReadonlyMap<string, string>,
  services: readonly Pick<ColorService, 'name'>[],
): Pick<SwitchValues, 'failed' | 'failedLogs'> {
  if (!values.has('bg_failed')) return {};
  return {
    failed: (values.get('bg_failed') ?? '').split(' ').filter(Boolean),
    failedLogs: new Map(
      services.flatMap((s, i): [string, string][] => {
        const b64 = values.get(`bg_logs_b64_${i}`);
        return b64 === undefined ? [] : [[s.name, Buffer.from(b64, 'base64').toString('utf8').trimEnd()]];
      }),
    ),
  };
}

/** The services of a switch: the plan's, or `target.service` alone at the plan's tag. */
export function colorServicesOf(p: Pick<SwitchPlan, 'services' | 'target' | 'tag'>): readonly ColorService[] {
  if (p.services?.length) return p.services;
  const t = p.target;
  return [{ name: t.service, image: t.image, tagVariable: t.tagVariable, tag: p.tag, healthUrl: t.healthUrl }];
}

export function decodeSwitch(values: ReadonlyMap<string, string>): SwitchValues {
  const live = values.get('live_color');
  const ms = Number(values.get('switch_ms'));
  return {
    running: values.get('running') ?? '',
    liveColor: live === 'blue' || live === 'green' ? live : '',
    rolledBack: values.get('rolled_back') === 'true',
    warm: values.get('warm') === 'true',
    ...(Number.isFinite(ms) && values.has('switch_ms') ? { switchMs: ms } : {}),
  };
}

/** The exit of each refusal of the proxy: the live colour serves on. */
const REFUSAL_EXIT: Record<ProxyRefusal, BlueGreenExit> = {
  refused: BlueGreenExit.BlueGreenProxyRefused,
  reloadPending: BlueGreenExit.BlueGreenProxyReloadPending,
  commandFailed: BlueGreenExit.BlueGreenSwitchFailed,
};

/** `nr_ms`: milliseconds since the epoch (whole seconds where date has no %N). */
const NR_MS = new Shell(
  `nr_ms() { nr_ms_now=$(date +%s%N 2>/dev/null); case $nr_ms_now in *N|'') echo $(( $(date +%s) * 1000 ));; *) echo $(( nr_ms_now / 1000000 ));; esac; }`,
);

/** Writes the live colour's file atomically. */
function setLive(c: Color | ''): Shell {
  return sh`printf '%s\\n' ${c} > "$nr_dir/${new Shell(LIVE_FILE)}.tmp" && mv -f "$nr_dir/${new Shell(LIVE_FILE)}.tmp" "$nr_dir/${new Shell(LIVE_FILE)}"`;
}

/** A user's hook (pre-deploy, post-deploy) with the tags in its environment; its failure ends the phase. */
function hookStep(r: Renderer, p: SwitchPlan, name: string, text: string | undefined, failure: BackendExit): Shell {
  return text
    ? sh`nr_say info ${`Running ${name}...`}
( BACKEND_TAG=${p.tag}; PREVIOUS_BACKEND_TAG=${p.previous}; export BACKEND_TAG PREVIOUS_BACKEND_TAG; ${r.user(text)} ) || { nr_rc=$?; nr_say fail "${name} failed (exit $nr_rc)"; ${BACKEND.exit(failure)}; }
nr_say ok ${`${name} done`}`
    : sh`:`;
}

/** What the switch's parts share. */
interface SwitchParts {
  idle: Color;
  /** The compose project of the shared services; a colour's is `<project>-<colour>`. */
  project: string;
  svcs: readonly ColorService[];
  /** The colour's images, for the log. */
  ref: string;
  proxy: ProxyKind;
  /** Ends the phase with `code`: the idle colour stopped, the live one serves on. */
  refused: (code: BlueGreenExit) => Shell;
  removeColor: (c: Color) => Shell;
}

/**
 * The NAS-side switch: start the idle colour (unless it already runs the tag,
 * healthy: a warm rollback), wait for its health, point the proxy at it,
 * check through the proxy, drain, stop or keep warm the old colour. A failure
 * before the switch leaves the proxy untouched and stops the idle colour.
 */
export function switchColors(r: Renderer, p: SwitchPlan, steps: Steps<keyof typeof SWITCH_STEPS>): Shell {
  const { target: t, bg } = p;
  const idle: Color = p.live ? otherColor(p.live) : 'blue';
  const project = composeProject(t.composeFile);
  const svcs = colorServicesOf(p);
  const ref = [...new Set(svcs.map((s) => `${s.image}:${s.tag}`))].join(', ');
  const idlePort = bg.ports[idle];
  const proxy = proxyKind(bg);
  const envOf = colorEnv(bg, svcs);
  const removeColor = (c: Color): Shell =>
    r.change(
      colors.removeServices({
        file: t.composeFile,
        project: `${project}-${c}`,
        services: svcs.map((s) => s.name),
        env: envOf(c),
      }),
    );
  // A colour this phase started is stopped when the release fails; a warm one it found running stays.
  const stopIdle = sh`if [ "$nr_warm" != true ]; then ${removeColor(idle)} >/dev/null 2>&1 && nr_say info ${`The ${idle} colour (${ref}) was stopped`}; fi`;
  const env = p.envFile && envFileStep(r, p.envFile, { tag: p.tag, previous: envPreviousKey([p.previous], p.tag) });
  const refused = (code: BlueGreenExit): Shell =>
    sh`${stopIdle}
${env ? env.undo : sh`:`}
${p.onRefused ?? sh`:`}
nr_value live_color ${p.live}; nr_value running ${p.previous}; nr_value rolled_back true; ${EXIT.exit(code)}`;
  const parts: SwitchParts = { idle, project, svcs, ref, proxy, refused, removeColor };
  const at = { repo: p.repo, composeFile: t.composeFile, project, idle, live: p.live, env: envOf(idle) };
  const switchBack = p.live ? proxy.switchTo(r, at, p.live, new Shell('"$nr_live_cid"')) : undefined;
  return lines(
    HEALTH,
    colorLibrary(r),
    NR_MS,
    sh`nr_dir=${stateDirOf(p.repo)}
# nr_bg_t0, not nr_t0: the health wait (nr_wait_container) sets nr_t0 to its own start, in seconds
nr_bg_t0=$(nr_ms); nr_warm=false; nr_env_changed=
cd ${p.repo} || ${BACKEND.exit(BackendExit.NoCheckout)}
nr_seen=$(cat "$nr_dir/${new Shell(LIVE_FILE)}" 2>/dev/null)
if [ "$nr_seen" != ${p.live} ]; then nr_say fail "The live colour is \${nr_seen:-none}, not "${p.live || 'none'}" (a run that vanished switched it): nothing was changed; run again"; ${EXIT.exit(BlueGreenExit.BlueGreenStateChanged)}; fi
nr_value previous ${p.previous}
${hookStep(r, p, p.hookNames?.pre ?? 'pre-deploy', p.preDeploy, BackendExit.PreDeployFailed)}
${env ? env.before : sh`:`}
${p.beforeStart ?? sh`:`}
${steps.say('start', `Starting ${ref} as the ${idle} colour (port ${idlePort}) beside ${p.live ? `the live ${p.live} colour` : 'nothing'}`)}
${startIdle(r, p, parts, { steps, envOf, envChanged: !!env })}
${steps.say('switch', `Switching the proxy to the ${idle} colour (127.0.0.1:${idlePort})`)}
${proxy.switchStep(r, at, (why) => refused(REFUSAL_EXIT[why]))}
nr_value switch_ms "$(( $(nr_ms) - nr_bg_t0 ))"
${setLive(idle)}
rm -f "$nr_dir/${new Shell(WARM_FILE)}"
nr_say ok ${`The proxy sends requests to the ${idle} colour`}
${checkThroughProxy(r, p, parts, switchBack)}
nr_value live_color ${idle}; nr_value running ${p.tag}; nr_value rolled_back false; nr_value warm "$nr_warm"
${p.watch ? watchAfterSwitch(r, p, { ...parts, switchBack, ...(env ? { undo: env.undo } : {}) }) : sh`:`}
${retireOld(r, p, parts, steps)}
${p.watch ? sh`[ -z "$nr_watch_kept" ] || ${BACKEND.exit(BackendExit.FailedWithoutFallback)}` : sh`:`}
${hookStep(r, p, p.hookNames?.post ?? 'post-deploy', p.postDeploy, BackendExit.PostDeployFailed)}
exit 0`,
  );
}

/** A colour's environment: COLOR, its port, every service's tag in its variable (`group`'s last: services sharing a variable start one tag at a time). */
function colorEnv(
  bg: BlueGreenSettings,
  svcs: readonly ColorService[],
): (c: Color, group?: readonly ColorService[]) => Record<string, string> {
  return (c, group = []) => {
    const env: Record<string, string> = { COLOR: c, [bg.portVariable]: String(bg.ports[c]) };
    for (const s of [...svcs, ...group]) env[s.tagVariable] = s.tag;
    return env;
  };
}

/**
 * The idle colour warm (switching only), else started and waited for; `nr_idle_cid` is its first service's
 * container, `nr_live_cid` the live colour's when the proxy needs it for a switch back.
 */
function startIdle(
  r: Renderer,
  p: SwitchPlan,
  o: SwitchParts,
  more: {
    steps: Steps<keyof typeof SWITCH_STEPS>;
    envOf: (c: Color, group?: readonly ColorService[]) => Record<string, string>;
    envChanged: boolean;
  },
): Shell {
  const { target: t, bg } = p;
  const { idle, svcs, ref } = o;
  const idlePort = bg.ports[idle];
  const idleProject = `${o.project}-${idle}`;
  // the first service is reached through the proxy: its health URL with the colour's port; the others as given
  const urlOf = (s: ColorService, i: number): string =>
    r.dryRun ? '' : i === 0 ? colorUrl(s.healthUrl, idlePort) : s.healthUrl;
  return sh`${warmCheck(svcs, idleProject, urlOf)}
nr_live_cid=${p.live && o.proxy.needsContainer ? sh`$(nr_bg_find ${`${o.project}-${p.live}`} ${svcs[0].name} 2>/dev/null)` : sh`''`}
${more.envChanged ? sh`[ -z "$nr_env_changed" ] || nr_warm=false` : sh`:`}
if [ "$nr_warm" = true ]; then
  nr_say ok ${`The ${idle} colour already runs ${ref}, healthy (kept warm): switching only`}
else
  nr_warm=false
  if ! ${startColor(r, svcs, (group) => ({ file: t.composeFile, project: idleProject, env: more.envOf(idle, group) }))} 2>&1; then
    nr_say fail ${`docker compose could not start the ${idle} colour; the proxy was not touched`}
    ${o.refused(BlueGreenExit.BlueGreenIdleStartFailed)}
  fi
  ${lines(...svcs.map((s, i) => sh`${new Shell(`nr_c_${i}`)}=$(nr_bg_find ${idleProject} ${s.name} 2>/dev/null)`))}
  nr_idle_cid=$nr_c_0
  nr_say ok ${`The ${idle} colour started`}
  ${more.steps.say('health')}
  ${
    r.dryRun
      ? sh`nr_say info 'dry-run: health wait skipped'`
      : sh`${waitColor(svcs, { idle, timeout: t.healthTimeout, urlOf })}
  if [ -n "$nr_bg_failed" ]; then
    nr_value bg_failed "$nr_bg_failed"
    nr_say fail ${`The ${idle} colour (${ref}) is not healthy`}${svcs.length > 1 ? sh`" (not healthy:$nr_bg_failed)"` : sh``}${`: the proxy was not touched, ${p.live ? `the ${p.live} colour serves on` : 'nothing served before'}`}
    ${o.refused(BlueGreenExit.BlueGreenIdleUnhealthy)}
  fi`
  }
  nr_say ok ${`The ${idle} colour is healthy`}
fi`;
}

/** After the switch, health-url must answer through the proxy; else the switch back (or the incident). */
function checkThroughProxy(r: Renderer, p: SwitchPlan, o: SwitchParts, switchBack: Shell | undefined): Shell {
  const t = p.target;
  if (!t.healthUrl || r.dryRun) return sh`:`;
  return sh`nr_i=0
until nr_http_ok ${t.healthUrl}; do
  nr_i=$((nr_i + 1))
  if [ "$nr_i" -ge 40 ]; then
    nr_say fail ${`${t.healthUrl} does not answer through the proxy: switching back`}
    ${switchBack ? switchBackOrKeep(p, o.idle, switchBack) : sh`:`}
    ${setLive(p.live)}
    ${o.refused(BlueGreenExit.BlueGreenProxyCheckFailed)}
  fi
  nr_sleep 0.25
done
nr_say ok ${`${t.healthUrl} answers through the proxy`}`;
}

/** The old colour, once the new one serves: kept warm for keep-warm seconds, else drained and stopped. */
function retireOld(r: Renderer, p: SwitchPlan, o: SwitchParts, steps: Steps<keyof typeof SWITCH_STEPS>): Shell {
  const { bg } = p;
  if (!p.live) return steps.say('drain', 'No old colour to drain (the first blue-green release)');
  if (bg.keepWarm > 0)
    return lines(
      steps.say('drain', `Keeping the ${p.live} colour warm for ${bg.keepWarm}s (a rollback to it is a switch alone)`),
      keepWarm(r, { repo: p.repo, color: p.live, seconds: bg.keepWarm, stop: o.removeColor(p.live) }),
    );
  return lines(
    steps.say(
      'drain',
      `Draining the ${p.live} colour until its requests are answered (at most ${bg.drainSeconds}s), then stopping it`,
    ),
    drainThenStop(r, {
      drainSeconds: bg.drainSeconds,
      color: p.live,
      project: `${o.project}-${p.live}`,
      services: o.svcs.map((s) => s.name),
      drain: o.proxy.drain(bg.ports[p.live], bg.drainSeconds),
      stop: o.removeColor(p.live),
    }),
  );
}

/**
 * The watch step of a blue-green release, after the switch: the old colour still runs, so a breach switches the
 * proxy straight back to it (no cold start) and then drains and stops the new colour. Without an old colour (or
 * with auto-rollback off) the new one stays, the old one drains as after a pass, and the phase ends failed
 * (nr_watch_kept). A switch back that fails is the incident of a failed check through the proxy.
 */
function watchAfterSwitch(
  r: Renderer,
  p: SwitchPlan,
  o: SwitchParts & {
    switchBack: Shell | undefined;
    /** Puts back the old release's environment file once it serves again. */
    undo?: Shell;
  },
): Shell {
  const { target: t, bg } = p;
  const watch = watchStep(r, p.watch?.plan, p.repo);
  const live = p.live;
  const back =
    live && p.watch?.rollBack && o.switchBack
      ? sh`nr_say warn ${`Switching the proxy back to the ${live} colour (${t.image}:${p.previous}), still running`}
    ${switchBackOrKeep(p, o.idle, o.switchBack)}
    ${setLive(live)}
    ${o.undo ?? sh`:`}
    nr_say ok ${`The proxy sends requests to the ${live} colour again`}
    nr_value live_color ${live}; nr_value running ${p.previous}; nr_value rolled_back true
    ${drainThenStop(r, {
      drainSeconds: bg.drainSeconds,
      color: o.idle,
      project: `${o.project}-${o.idle}`,
      services: o.svcs.map((s) => s.name),
      drain: o.proxy.drain(bg.ports[o.idle], bg.drainSeconds),
      stop: o.removeColor(o.idle),
    })}
    ${BACKEND.exit(BackendExit.WatchRolledBack)}`
      : sh`nr_say warn ${live ? 'auto-rollback is off: the new colour stays live, for inspection' : 'No colour served before: the new colour stays live, for inspection'}; nr_watch_kept=1`;
  return lines(watch.library, sh`nr_watch_breach=; nr_watch_failed=; nr_watch_kept=`, watch.run(back));
}

/** What the user must check when the switch back failed: the proxy they route with. */
export function proxyToCheck(bg: BlueGreenSettings): string {
  return proxyKind(bg).toCheck;
}

/**
 * The switch back after a failed check through the proxy; when it fails too, the proxy still routes to the new
 * colour (the built-in switch puts its upstream line back): that colour stays up and is recorded as live, the old
 * one is left running, and the phase ends with an incident of its own.
 */
function switchBackOrKeep(p: SwitchPlan, idle: Color, switchBack: Shell): Shell {
  const live = p.live as Color;
  const ref = `${p.target.image}:${p.tag}`;
  const before = p.previous ? ` (${p.target.image}:${p.previous})` : '';
  return sh`if ! ${switchBack}; then
      nr_say fail ${`INCIDENT: switching back to the ${live} colour failed too. The proxy still sends requests to the ${idle} colour (${ref}): it is kept running and recorded as live, and the ${live} colour${before} runs beside it. Check ${proxyToCheck(p.bg)} and what ${p.target.healthUrl} answers through it, then deploy again or roll back`}
      nr_value live_color ${idle}; nr_value running ${p.tag}; nr_value rolled_back false; nr_value warm "$nr_warm"
      ${EXIT.exit(BlueGreenExit.BlueGreenSwitchBackFailed)}
    fi`;
}

/**
 * The drain and the old colour's stop, off the release's critical path: the
 * new release serves from the switch on, so the phase ends there and the
 * runner reports it, while a job it leaves behind waits for the requests in
 * flight and stops the old colour. That job keeps the phase's busy lock (its
 * descriptor 8, inherited), so the next release waits for the stop, exactly
 * as it waits for a phase; it runs in the phase's own session, so a runner
 * that vanishes cannot cut it short. The proxy's `drain` waits for the
 * requests in flight (nginx's ends as soon as there are none); `drainSeconds`
 * is the longest wait.
 */
function drainThenStop(
  r: Renderer,
  o: {
    drainSeconds: number;
    color: Color;
    project: string;
    services: readonly string[];
    /** The proxy's wait for the requests in flight. */
    drain: Shell;
    stop: Shell;
  },
): Shell {
  if (r.dryRun) return sh`nr_say info ${`dry-run: would drain ${o.drainSeconds}s, then stop the ${o.color} colour`}`;
  // docker itself stops and removes the colour's container (with the stop signal and grace period compose gave it):
  // the next release waits for this job, and compose v1 alone takes half a second to start; compose is the fallback
  return sh`${shellFunction('nr_bg_stop', r.change(colors.stop(ARG[0])))}
${shellFunction('nr_bg_rm', r.change(colors.removeStopped(ARG[0])))}
( ${o.drain}
  ${stopEach(o.project, o.services)}
  [ "$nr_stopped" = 1 ] || ${o.stop}
) </dev/null >/dev/null 2>&1 3>&- 4>&- 5>&- 6>&- 7>&- 9>&- &
nr_say ok ${`The ${o.color} colour stops once the requests it holds are answered (at most ${o.drainSeconds}s; the next release waits for it)`}`;
}

/**
 * Each service's container of the old colour stopped at once, by docker (its own stop signal and grace period);
 * `nr_stopped` is 1 when every one was found and stopped.
 */
function stopEach(project: string, services: readonly string[]): Shell {
  return sh`${lines(
    ...services.map(
      (name, i) =>
        sh`( nr_old=$(nr_bg_find ${project} ${name} 2>/dev/null); [ -n "$nr_old" ] && nr_bg_stop "$nr_old" && nr_bg_rm "$nr_old" ) & ${new Shell(`nr_s_${i}=$!`)}`,
    ),
  )}
  nr_stopped=1
  ${lines(...services.map((_, i) => sh`wait ${new Shell(`"$nr_s_${i}"`)} || nr_stopped=0`))}`;
}

/**
 * The idle colour is warm (`nr_warm=true`) when each of its services already runs its target, healthy (or up,
 * answering its URL); `nr_idle_cid` is the first service's container.
 */
function warmCheck(
  svcs: readonly ColorService[],
  project: string,
  urlOf: (s: ColorService, i: number) => string,
): Shell {
  return lines(
    sh`nr_warm=true`,
    ...svcs.map(
      (s, i) => sh`nr_idle=$(nr_bg_state_of ${project} ${s.name} 2>/dev/null)
${i === 0 ? sh`nr_idle_cid=\${nr_idle%% *}` : sh`:`}
case "\${nr_idle#* }" in
  ${`running healthy ${s.image}:${s.tag}`}) ;;
  ${`running none ${s.image}:${s.tag}`}) [ -z ${urlOf(s, i)} ] || nr_http_ok ${urlOf(s, i)} || nr_warm=false ;;
  *) nr_warm=false ;;
esac`,
    ),
  );
}

/**
 * `compose up --no-deps` of the colour's services under its project, one call per tag (services sharing a tag
 * variable may run different tags after a per-service rollback): the shared services are never started in it.
 */
function startColor(
  r: Renderer,
  svcs: readonly ColorService[],
  where: (group: readonly ColorService[]) => { file: string; project: string; env: Record<string, string> },
): Shell {
  const groups = new Map<string, ColorService[]>();
  for (const s of svcs) groups.set(s.tag, [...(groups.get(s.tag) ?? []), s]);
  const ups = [...groups.values()].map((group) =>
    r.change(colors.upServices({ ...where(group), services: group.map((s) => s.name), force: true })),
  );
  return ups.length === 1 ? ups[0] : new Shell(`{ ${ups.map((u) => u.text).join(' && ')}; }`);
}

/**
 * Waits for every service of the idle colour at once, under one timeout; `nr_bg_failed` names those that failed,
 * each with its last log lines in a group (and the value `bg_logs_b64_<i>`).
 */
function waitColor(
  svcs: readonly ColorService[],
  o: { idle: Color; timeout: number; urlOf: (s: ColorService, i: number) => string },
): Shell {
  const c = (i: number): Shell => new Shell(`"$nr_c_${i}"`);
  return lines(
    ...svcs.map(
      (s, i) => sh`( nr_wait_container ${c(i)} ${o.timeout} ${o.urlOf(s, i)} ) & ${new Shell(`nr_w_${i}=$!`)}`,
    ),
    sh`nr_bg_failed=`,
    ...svcs.map((s, i) => sh`wait ${new Shell(`"$nr_w_${i}"`)} || nr_bg_failed="$nr_bg_failed "${s.name}`),
    ...svcs.map(
      (s, i) => sh`case " $nr_bg_failed " in *${` ${s.name} `}*)
  nr_lg=$(nr_bg_logs ${c(i)} 2>&1)
  nr_say group ${svcs.length > 1 ? `Last 100 log lines of the ${o.idle} colour's ${s.name} (${s.image}:${s.tag})` : `Last 100 log lines of the ${o.idle} colour (${s.image}:${s.tag})`}
  printf '%s\n' "$nr_lg"
  nr_say endgroup
  nr_value ${`bg_logs_b64_${i}`} "$(printf '%s\n' "$nr_lg" | tail -n ${FAILED_LOG_LINES} | base64 | tr -d '\n')" ;;
esac`,
    ),
  );
}

/**
 * Keeps the old colour running for `seconds`, then stops it: a timer detached
 * on the NAS (its own session, no descriptor of the phase, so it holds no lock
 * while it sleeps) that takes the busy lock, as a phase does, and stops the
 * colour only while the warm line it wrote is unchanged: a switch back to that
 * colour, or the next release, rewrites or removes it. A NAS that reboots
 * loses the timer; the next release then replaces the warm colour anyway.
 */
function keepWarm(r: Renderer, o: { repo: string; color: Color; seconds: number; stop: Shell }): Shell {
  const timer = sh`sleep "$1" 2>/dev/null
exec 8>>"$2/busy"; flock 8
[ "$(cat "$2/${new Shell(WARM_FILE)}" 2>/dev/null)" = "$3" ] || exit 0
[ "$(cat "$2/${new Shell(LIVE_FILE)}" 2>/dev/null)" != ${o.color} ] || exit 0
cd ${o.repo} && ${o.stop} >/dev/null 2>&1
rm -f "$2/${new Shell(WARM_FILE)}"`;
  return sh`nr_warm_line="${new Shell(o.color)} $(( $(date +%s) + ${o.seconds} ))"
printf '%s\\n' "$nr_warm_line" > "$nr_dir/${new Shell(WARM_FILE)}.tmp" && mv -f "$nr_dir/${new Shell(WARM_FILE)}.tmp" "$nr_dir/${new Shell(WARM_FILE)}"
${r.dryRun ? sh`:` : sh`setsid sh -c ${timer.text} nr-warm-timer ${o.seconds} "$nr_dir" "$nr_warm_line" </dev/null >/dev/null 2>&1 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- &`}
nr_say ok ${`The ${o.color} colour stays up for ${o.seconds}s; a timer on the NAS stops it then, unless it serves again`}`;
}

/** The steps of a blue-green release on the NAS, after the runner's lock step. */
export const BLUE_GREEN_RELEASE_STEPS = {
  checkout: RELEASE_STEPS.checkout,
  tag: RELEASE_STEPS.tag,
  build: RELEASE_STEPS.build,
  verifyImage: RELEASE_STEPS.verifyImage,
  ...SWITCH_STEPS,
} as const;

export interface BlueGreenReleasePlan extends SwitchPlan {
  checkout: CheckoutInputs;
  commit: string;
  subject: string;
  buildContext: string;
  dockerfile: string;
  runLabel: string;
  /** Where the image comes from (default: built on the NAS), and the registry login's private folder. */
  source?: ImageSource;
  authDir?: string;
  /** The NAS's platform: an image pulled of another is refused before the idle colour starts. */
  platform?: string;
  /** List the image's tags and the tags containers use after a success, for keep-images (unset: not asked). */
  listImages?: boolean;
  /** The images of the services besides `target.image`, each built once (several services). */
  moreImages?: readonly ImageToObtain[];
  /** The history's record of the services (several services). */
  record?: Record<string, ServiceRecord>;
  /** A backup taken before anything changes; with restoreOnFallback, put back when the release is refused. */
  backup?: ReleaseBackup;
}

/** What a blue-green release reports; `images` with listImages. */
export type BlueGreenReleaseValues = SwitchValues & {
  built: boolean;
  /** A pulled image refused for its platform: the platform its config names. */
  imagePlatform?: string;
  /** The metrics watch, as far as it went (absent: the release had none). */
  watch?: WatchResult;
  images?: { inventory: ImageTag[]; inUse: string[] };
  backup?: BackupValues;
  safety?: BackupValues;
  data?: DataOutcome;
  backups?: BackupEntry[];
};

/** The application containers of both colours (a restore stops them; the shared services keep running). */
export function colorApps(
  target: Pick<BackendTarget, 'composeFile' | 'service'>,
  services: readonly string[] = [target.service],
): AppContainer[] {
  const project = composeProject(target.composeFile);
  return COLORS.flatMap((c) => services.map((service) => ({ service, container: '', project: `${project}-${c}` })));
}

/**
 * A refused release's restore (auto-rollback-restore): the live colour served throughout, but the idle colour
 * (its start may migrate) and pre-deploy ran against the shared data, which the live colour then reads. So the
 * data of before comes back whenever the phase started the idle colour or ran pre-deploy, the live colour
 * stopped while it is put back and started again after: a short outage, and what it wrote since the backup is
 * in the safety backup. A warm colour found running the release (no pre-deploy) changed nothing: no restore.
 */
function restoreRefused(r: Renderer, p: BlueGreenReleasePlan): { define: Shell; call: Shell } | undefined {
  const restore = restoreOnFallback(r, p.backup, {
    repo: p.repo,
    composeFile: p.target.composeFile,
    container: p.target.container,
    apps: colorApps(p.target),
    project: composeProject(p.target.composeFile),
    tag: p.tag,
    commit: p.commit,
    fallback: p.live ? `the ${p.live} colour` : 'nothing',
  });
  if (!restore) return undefined;
  // defined once: every refusal of the switch calls it
  const define = sh`nr_bg_restore() {
${restore}
nr_rs_start_backend
}`;
  const call = p.preDeploy
    ? sh`nr_bg_restore`
    : sh`if [ "$nr_warm" = true ]; then
  nr_say info 'The idle colour already ran this release and no pre-deploy ran: the data is not restored'
else
  nr_bg_restore
fi`;
  return { define, call };
}

/** deploy-backend's one detached phase with blue-green: checkout, build, then the switch. */
export function blueGreenReleasePhase(r: Renderer, p: BlueGreenReleasePlan): Phase<BlueGreenReleaseValues> {
  const { target } = p;
  const ref = `${target.image}:${p.tag}`;
  const steps = new Steps(BLUE_GREEN_RELEASE_STEPS);
  const idle: Color = p.live ? otherColor(p.live) : 'blue';
  const tags = imageTags(target.image);
  const inUse = tagsInUse(target.image);
  const source = p.source ?? { kind: 'nas' };
  const kind = imageSourceKind(source);
  // the image is on the NAS before the idle colour starts; one obtained without a change (a pull) before the checkout moves
  const authDir = p.authDir ?? `${stateDirOf(p.repo)}/registry-auth`;
  const obtainOne = (image: string, context: string, dockerfile: string): Shell =>
    kind.obtain(r, {
      image,
      tag: p.tag,
      source,
      build: { repo: p.repo, context, dockerfile },
      authDir,
      kept: 'the live colour was not touched',
      ...(p.platform ? { platform: p.platform } : {}),
    });
  // several services: each distinct image once, the others after the first
  const obtain = lines(
    steps.say('build', kind.stepText(ref)),
    obtainOne(target.image, p.buildContext, p.dockerfile),
    ...(p.moreImages ?? []).map((i) => obtainOne(i.image, i.buildContext, i.dockerfile)),
  );
  const digest = kind.digestFields(r, ref, target.image);
  const refusedRestore = restoreRefused(r, p);
  // a watch's rollback is recorded with the colour that serves again
  const watch =
    p.watch &&
    watchPhaseParts(p.watch.plan, p.repo, {
      tag: p.tag,
      commit: p.commit,
      previous: p.previous,
      ...(p.live ? { color: p.live } : {}),
    });
  return {
    title: 'Releasing the backend (blue-green)',
    timeout: 3600 + target.healthTimeout + 900 + p.bg.drainSeconds + (watch ? watch.timeout : 0),
    begin: {
      tag: p.tag,
      commit: p.commit,
      previous: p.previous,
      detail: 'deploy',
      ...kind.record(),
      ...records(p.record),
      ...envRecord(p),
    },
    success: {
      tag: p.tag,
      commit: p.commit,
      previous: p.previous,
      color: idle,
      ...kind.record(),
      ...records(p.record),
      ...envRecord(p),
    },
    endings: [
      switchBackEnding(idle, { tag: p.tag, commit: p.commit, previous: p.previous }),
      ...(watch ? [watch.ending] : []),
    ],
    ...(digest || watch ? { successFields: lines(digest, watch ? watch.successField : undefined, sh`:`) } : {}),
    // in the phase, not a program after it: no round trip more (the old colour still runs: its tag is in use)
    ...(p.listImages || p.backup
      ? {
          afterSuccess: lines(
            p.listImages ? lines(tags.script(r), inUse.script(r)) : undefined,
            p.backup ? listingValue(p.backup.plan.dir, { quick: true }) : undefined,
          ),
        }
      : {}),
    script: sh`${kind.obtainsFirst ? obtain : sh`:`}
${backupBeforeRelease(r, p.backup)}
${steps.say('checkout', `Updating repository from ${p.checkout.remote}/${p.checkout.branch}`)}
${moveCheckout(r, { repo: p.repo, ...p.checkout, runLabel: p.runLabel }, p.commit)}
nr_say info ${`${p.commit.slice(0, 7)} ${p.subject}`}
${steps.say('tag')}
nr_say ok ${`Image tag: ${p.tag}`}
${kind.obtainsFirst ? sh`:` : obtain}
cd ${p.repo} || ${BACKEND.exit(BackendExit.NoCheckout)}
${steps.say('verifyImage')}
if ${r.run(docker.imageExists(ref))} >/dev/null 2>&1; then nr_say ok ${`Image ${ref} exists`}
else ${r.dryRun ? sh`nr_say info 'dry-run: the image was not built'` : sh`nr_say fail ${`Image ${ref} is missing after the build`}; ${BACKEND.exit(BackendExit.ImageMissingAfterBuild)}`}; fi
nr_value built yes
${refusedRestore ? refusedRestore.define : sh`:`}
${switchColors(r, refusedRestore ? { ...p, onRefused: refusedRestore.call } : p, new Steps(SWITCH_STEPS))}`,
    decode: (values) => ({
      ...decodeSwitch(values),
      ...decodeFailed(values, colorServicesOf(p)),
      ...decodeReleaseData(values),
      ...(values.has('backups_b64') ? { backups: decodeListing(values) } : {}),
      built: values.get('built') === 'yes',
      ...(values.has('image_platform') ? { imagePlatform: values.get('image_platform') ?? '' } : {}),
      ...(p.watch ? { watch: decodeWatch(values, p.watch.plan.guards) } : {}),
      ...(p.listImages ? { images: { ...tags.decode(values), inUse: inUse.decode(values) } } : {}),
    }),
  };
}

/** The sha256 of the environment file the phase writes, for the history. */
function envRecord(p: SwitchPlan): { env?: string } {
  return p.envFile?.sha256 ? { env: p.envFile.sha256 } : {};
}

/** What a blue-green rollback reports; the data values with a restore. */
export type BlueGreenRollbackValues = SwitchValues & ReturnType<typeof decodeReleaseData>;

/**
 * rollback-backend's detached phase with blue-green: a switch alone when the target is warm, else start it and
 * switch; a target image gone from the NAS is pulled again first (`pull`), before anything changes. With a
 * restore, both colours stop while the backup is put back and the target colour starts on the restored data (the
 * live colour stays stopped until the switch); a target that is refused puts the data of before back and the
 * live colour starts again.
 */
export function blueGreenRollbackPhase(
  r: Renderer,
  p: SwitchPlan & {
    named: boolean;
    pull?: Reobtain;
    record?: Record<string, ServiceRecord>;
    restore?: RollbackRestore;
  },
): Phase<BlueGreenRollbackValues> {
  const idle: Color = p.live ? otherColor(p.live) : 'blue';
  const pull = p.pull
    ? pullImage(r, {
        ref: p.pull.ref,
        target: `${p.target.image}:${p.tag}`,
        authDir: p.pull.authDir,
        what: 'the missing image',
        ...(p.pull.login ? { login: p.pull.login } : {}),
      })
    : undefined;
  const restoreId = p.restore && typeof p.restore.plan.id === 'string' ? p.restore.plan.id : undefined;
  const plan = p.restore
    ? { ...p, beforeStart: restoreBeforeTarget(r, p.restore), onRefused: undoRestoreThenStart() }
    : p;
  return {
    title: 'Rolling back the backend (blue-green)',
    timeout: p.target.healthTimeout + 600 + p.bg.drainSeconds + (p.restore ? 6 * 3600 : 0),
    begin: {
      tag: p.tag,
      previous: p.previous,
      detail: p.named ? 'named' : 'previous-release',
      ...records(p.record),
      ...envRecord(p),
      ...(restoreId ? { backup: restoreId } : {}),
    },
    success: { color: idle, ...envRecord(p) },
    endings: [switchBackEnding(idle, {})],
    // the target's files come back with it; the live colour runs on, whatever happens
    script: lines(pull, putBackTree(r, p.repo, p.tag), switchColors(r, plan, new Steps(SWITCH_STEPS))),
    decode: (values) => ({
      ...decodeSwitch(values),
      ...decodeFailed(values, colorServicesOf(p)),
      ...decodeReleaseData(values),
    }),
  };
}

/** The history's `services` field of a release of several services, when it is one. */
function records(record: Record<string, ServiceRecord> | undefined): { services?: Record<string, ServiceRecord> } {
  return record ? { services: record } : {};
}
