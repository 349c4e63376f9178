import { preflightQuestions, type PreflightState } from './preflight.js';
import type { ComposeChoice } from '../inputs/connection.js';
import { posix } from 'node:path';
import type { CheckoutInputs } from '../inputs/backend.js';
import { command, type Renderer } from '../remote/command.js';
import { compose, docker } from '../remote/docker.js';
import { HEALTH } from '../remote/health.js';
import { exitCodes, Steps, type Phase, type StateQuestions, type TypedProgram } from '../remote/program.js';
import { Shell, lines, sh } from '../remote/shell.js';
import { parseImageTags, type ImageTag } from '../rules/images.js';
import { distinctImages, serviceRecord, type ServiceRecord, type ServiceSpec } from '../rules/services.js';
import type { WatchPlan } from '../rules/guards.js';
import { decodeWatch, type WatchResult } from './watch.js';
import {
  BackendExit,
  keepFallback,
  RELEASE_STEPS,
  ROLLBACK_HOOKS,
  watchPhaseParts,
  watchStep,
  type Fallback,
  type HookNames,
} from './backend.js';
import { putBackTree } from './releases.js';
import { decodeFetchedTarget, fetchTarget, moveCheckout, type FetchedTarget } from './checkout.js';
import type { ImageSource, RegistryLogin } from '../inputs/image-source.js';
import { decodeNasLayers, nasLayersScript, pullImage, type NasLayers } from './image-sources.js';
import { imageSourceKind } from '../image-sources/table.js';
import { envFileStep, envPreviousKey, type EnvFileStep } from './env-file.js';
import {
  decodeListing,
  listingValue,
  undoRestore,
  type AppContainer,
  type BackupValues,
  type DataOutcome,
} from './backups.js';
import type { BackupEntry } from '../rules/backups.js';
import {
  backupBeforeRelease,
  decodeReleaseData,
  restoreBeforeTarget,
  restoreOnFallback,
  type ReleaseBackup,
  type RollbackRestore,
} from './release-steps.js';

/**
 * The NAS side of a release of several compose services: what
 * each service runs, getting each distinct image once, recreating them
 * together, waiting for all of them in parallel under one timeout, and
 * putting every one back when any fails. Values are reported by the
 * service's position in the list, so no name is ever a shell word of ours.
 */

const EXIT = exitCodes(BackendExit);

/** The labels compose puts on a service's container: found by docker alone (no compose call, none of its start-up time). */
const SERVICE_LABEL = 'com.docker.compose.service';
const PROJECT_DIR_LABEL = 'com.docker.compose.project.working_dir';

/**
 * Shell functions finding a service's container: its own name, or the one
 * compose made for the service of this compose file (its labels name the
 * service and the compose file's folder; an id works wherever a name does).
 * nr_svc_container NAME SERVICE, nr_svc_image NAME SERVICE, nr_svc_logs NAME SERVICE.
 */
function containerFinder(r: Renderer, repo: string, composeFile: string): Shell {
  const inspect = r.run(command(['docker', 'container', 'inspect', '--format', '{{.Config.Image}}']));
  const inspectId = r.run(command(['docker', 'container', 'inspect', '--format', '{{.Image}}']));
  const logs = r.run(command(['docker', 'logs', '--tail', '100']));
  const list = r.run(command(['docker', 'container', 'ls', '--all', '--quiet']));
  return sh`nr_svc_dir=$(cd ${repo} 2>/dev/null && cd ${posix.dirname(composeFile)} 2>/dev/null && pwd)
nr_svc_container() { if [ -n "$1" ]; then printf '%s\n' "$1"; else ${list} --filter "label=${new Shell(SERVICE_LABEL)}=$2" --filter "label=${new Shell(PROJECT_DIR_LABEL)}=$nr_svc_dir" 2>/dev/null | head -n 1; fi; }
nr_svc_image() { nr_sc=$(nr_svc_container "$1" "$2"); [ -n "$nr_sc" ] && ${inspect} "$nr_sc" 2>/dev/null; }
nr_svc_image_id() { nr_sc=$(nr_svc_container "$1" "$2"); [ -n "$nr_sc" ] && ${inspectId} "$nr_sc" 2>/dev/null; }
nr_svc_logs() { nr_sc=$(nr_svc_container "$1" "$2"); [ -n "$nr_sc" ] && ${logs} "$nr_sc" 2>&1; }`;
}
const containerOf = (s: Pick<ServiceSpec, 'name' | 'container'>): Shell =>
  sh`"$(nr_svc_container ${s.container} ${s.name})"`;
const imageOf = (s: Pick<ServiceSpec, 'name' | 'container'>): Shell => sh`"$(nr_svc_image ${s.container} ${s.name})"`;

/** `image:tag` each service's container runs, as values `svc_image_<i>`. */
function runningImages(r: Renderer, repo: string, composeFile: string, services: readonly ServiceSpec[]): Shell {
  return lines(
    containerFinder(r, repo, composeFile),
    // each service asked at once (one or two docker calls each), not one after the other; each value is one
    // line, written whole
    ...services.map(
      (s, i) =>
        sh`( nr_value ${`svc_image_${i}`} ${imageOf(s)}; nr_value ${`svc_image_id_${i}`} "$(nr_svc_image_id ${s.container} ${s.name})" ) &`,
    ),
    sh`wait`,
  );
}
function decodeRunningImages(values: ReadonlyMap<string, string>, services: readonly ServiceSpec[]): string[] {
  return services.map((_, i) => values.get(`svc_image_${i}`) ?? '');
}
/** The image id each service's container runs, when docker named any. */
function decodeRunningIds(
  values: ReadonlyMap<string, string>,
  services: readonly ServiceSpec[],
): { runningIds?: string[] } {
  const ids = services.map((_, i) => values.get(`svc_image_id_${i}`) ?? '');
  return ids.some(Boolean) ? { runningIds: ids } : {};
}

/** The tag a service runs, when its container runs the service's image. */
export function serviceTag(image: string, runningImage: string): string {
  return runningImage.startsWith(`${image}:`) ? runningImage.slice(image.length + 1) : '';
}

export interface ServicesDeployState extends FetchedTarget, Partial<PreflightState> {
  /** `image:tag` each service runs, in the order of the list (empty: none). */
  runningImages: string[];
  /** The id of the image each service runs (empty: none). */
  runningIds?: string[];
  /** With image-source runner: the layers the NAS has, and each distinct image's tags there. */
  layers?: NasLayers;
  inventory?: Map<string, ImageTag[]>;
}

/** deploy-backend's first questions with several services: what each runs, and the commit to release. */
export function servicesDeployState(
  services: readonly ServiceSpec[],
  composeFile: string,
  checkout: CheckoutInputs & { repo: string },
  source: ImageSource = { kind: 'nas' },
  compose?: ComposeChoice,
): StateQuestions<ServicesDeployState> {
  const runner = imageSourceKind(source).sentFromRunner;
  const images = distinctImages(services).map((i) => i.image);
  const checks = preflightQuestions(
    compose
      ? {
          repo: checkout.repo,
          file: composeFile,
          services: services.map((s) => ({ name: s.name, tagVariable: s.tagVariable })),
        }
      : undefined,
    checkout,
  );
  return {
    // the layers' value line is long: asked after the others have ended (as for a single service)
    script: (r) => sh`( ${runningImages(r, checkout.repo, composeFile, services)} ) &
${checks.before}
${fetchTarget(r, checkout)}
${checks.after}
wait${
      runner
        ? sh`
${nasLayersScript(r)}
${inventoryValues(r, images)}`
        : sh``
    }`,
    decode: (values) => ({
      runningImages: decodeRunningImages(values, services),
      ...decodeRunningIds(values, services),
      ...decodeFetchedTarget(values),
      ...(runner ? { layers: decodeNasLayers(values), inventory: decodeInventories(values, images) } : {}),
      ...checks.decode(values),
    }),
  };
}

export interface ServicesImagesState {
  runningImages: string[];
  /** The tags of each distinct image, by image name. */
  inventory: Map<string, ImageTag[]>;
}

function inventoryValues(r: Renderer, images: readonly string[]): Shell {
  return lines(
    ...images.map(
      (image, i) => sh`nr_value ${`img_tags_b64_${i}`} "$(${r.run(docker.imageTags(image))} | base64 | tr -d '\\n')"`,
    ),
  );
}
function decodeInventories(values: ReadonlyMap<string, string>, images: readonly string[]): Map<string, ImageTag[]> {
  return new Map(
    images.map((image, i) => [
      image,
      parseImageTags(Buffer.from(values.get(`img_tags_b64_${i}`) ?? '', 'base64').toString()),
    ]),
  );
}

/** What each service runs and which tags each image has: rollback's and cleanup's questions once the services are known. */
export function servicesImages(
  r: Renderer,
  repo: string,
  composeFile: string,
  services: readonly ServiceSpec[],
): TypedProgram<ServicesImagesState> {
  const images = [...new Set(services.map((s) => s.image))];
  return {
    title: 'Asking what each service runs',
    timeout: 120,
    quiet: true,
    script: lines(runningImages(r, repo, composeFile, services), inventoryValues(r, images)),
    decode: (values) => ({
      runningImages: decodeRunningImages(values, services),
      inventory: decodeInventories(values, images),
    }),
  };
}

/**
 * Runs the parts (each may `exit` with a named code, as obtaining an image does) at
 * the same time, each in a subshell: the first one's output live, each
 * other's kept in a file of its own and printed after it, in the order of the
 * list. It waits for every part (nothing is left building), then goes on only
 * when all of them succeeded; else it exits with the code of the first that
 * failed, in the order of the list, printing no output after that one's. A NAS
 * without mktemp runs them one after the other, as a dry run or a single part
 * does. Each part's text is written once, as a shell function (so it must not
 * read the positional parameters).
 */
export function allAtOnce(r: Renderer, parts: readonly Shell[]): Shell {
  if (r.dryRun || parts.length < 2) return lines(...parts);
  const numbered = parts.map((part, n) => ({ part, n, fn: new Shell(`nr_par_${n}`) }));
  const rest = numbered.slice(1);
  const file = (n: number): Shell => new Shell(`"$nr_par/${n}"`);
  return sh`${lines(
    ...numbered.map(
      ({ part, fn }) => sh`${fn}() {
${part}
}`,
    ),
  )}
if nr_par=$(mktemp -d 2>/dev/null) && [ -d "$nr_par" ]; then
${lines(...rest.map(({ n, fn }) => sh`  ( ${fn} ) > ${file(n)} 2>&1 & ${new Shell(`nr_par_pid_${n}=$!`)}`))}
  nr_par_rc=0
  ( ${numbered[0].fn} ) || nr_par_rc=$?
${lines(...rest.map(({ n }) => sh`  ${new Shell(`nr_par_rc_${n}=0; wait "$nr_par_pid_${n}" || nr_par_rc_${n}=$?`)}`))}
${lines(...rest.map(({ n }) => sh`  if [ "$nr_par_rc" = 0 ]; then cat ${file(n)}; ${new Shell(`nr_par_rc=$nr_par_rc_${n}`)}; fi`))}
  rm -rf "$nr_par"
  [ "$nr_par_rc" = 0 ] || exit "$nr_par_rc"
else
${lines(...numbered.map(({ fn }) => sh`  ${fn}`))}
fi`;
}

/** One service in a recreate: where it goes and what to put back. */
export interface ServiceMove {
  spec: ServiceSpec;
  /** The tag it is recreated with. */
  tag: string;
  /** The tag it ran before, put back when the release fails; empty: nothing to put back. */
  fallback: string;
  /** The image it ran, by id: the fallback tag is made to name it before it comes back. */
  fallbackRan?: { image: string; id: string };
}

export interface ServicesRecreatePlan {
  repo: string;
  composeFile: string;
  /** The services recreated, in the order of the list. */
  moves: readonly ServiceMove[];
  /** Services left alone: their tags still go to compose, so a file that reads their variables sees what they run. */
  others: readonly { spec: ServiceSpec; tag: string }[];
  healthTimeout: number;
  force: boolean;
  /** Put back what ran before when any service fails (auto-rollback). */
  fallback: boolean;
  preDeploy?: string;
  postDeploy?: string;
  /** What the log calls the hooks (a rollback's are pre-rollback and post-rollback). */
  hookNames?: HookNames;
  /** BACKEND_TAG and PREVIOUS_BACKEND_TAG of the hooks. */
  hookTags: { tag: string; previous: string };
  steps: Steps<'recreate' | 'health' | 'verify'>;
  /** After pre-deploy, before the services change (the environment file, a rollback's restore): it may end the phase. */
  beforeRecreate?: Shell;
  /** After the services' compose up (a rollback's restore starts the services it stopped and left alone). */
  afterUp?: Shell;
  /** Before what ran before is put back (its environment file, the data restored): never ends the phase, sets nr_fb_incomplete when the data could not be put back. */
  onFallback?: Shell;
  /** After what ran before is put back (the services the restore stopped and no fallback recreated start again). */
  afterFallback?: Shell;
  /** Watch the metrics guards once every service is healthy, before post-deploy; a breach puts every one back. */
  watch?: WatchPlan;
}

/** What a recreate of several services reports. */
export interface ServicesRecreateValues {
  /** The tag each moved service runs at the end, in the order of the moves (empty: docker did not answer). */
  running: string[];
  /** The services that failed their health check (or whose container was not what it should be). */
  failed: string[];
  /** The last log lines of each service that failed. */
  failedLogs: Map<string, string>;
  rolledBack: boolean;
}

/** How many of a failed service's last log lines its error message quotes (the log group holds 100). */
const FAILED_LOG_LINES = 10;

function decodeServicesRecreate(
  values: ReadonlyMap<string, string>,
  moves: readonly ServiceMove[],
): ServicesRecreateValues {
  return {
    running: moves.map((_, i) => values.get(`svc_running_${i}`) ?? ''),
    failedLogs: new Map(
      moves.flatMap((m, i): [string, string][] => {
        const b64 = values.get(`svc_logs_b64_${i}`);
        return b64 === undefined ? [] : [[m.spec.name, Buffer.from(b64, 'base64').toString('utf8').trimEnd()]];
      }),
    ),
    failed: (values.get('failed') ?? '').split(' ').filter(Boolean),
    rolledBack: values.get('rolled_back') === 'true',
  };
}

/** `compose up` of the services to a tag each; the variables of the services left alone keep their tags. */
function upServices(
  r: Renderer,
  p: ServicesRecreatePlan,
  targets: readonly { spec: ServiceSpec; tag: string }[],
  force: boolean,
): Shell {
  const env: Record<string, string> = {};
  for (const o of p.others) env[o.spec.tagVariable] = o.tag;
  for (const t of targets) env[t.spec.tagVariable] = t.tag;
  return r.change(compose.upServices({ file: p.composeFile, services: targets.map((t) => t.spec.name), env, force }));
}

/** Waits for the services in parallel (one timeout for all); names each that fails in `nr_failed`. */
function waitAll(r: Renderer, p: ServicesRecreatePlan, moves: readonly { spec: ServiceSpec; i: number }[]): Shell {
  if (r.dryRun) return sh`nr_say info 'dry-run: health wait skipped'`;
  return lines(
    // each container found once (a recreate gives it a new id), then reused by the wait and the verification
    ...moves.map(({ spec, i }) => sh`${new Shell(`nr_c_${i}`)}=${containerOf(spec)}`),
    ...moves.map(
      ({ spec, i }) =>
        sh`( nr_wait_container ${new Shell(`"$nr_c_${i}"`)} ${p.healthTimeout} ${spec.healthUrl} ) & ${new Shell(`nr_wait_${i}=$!`)}`,
    ),
    ...moves.map(
      ({ spec, i }) =>
        sh`if wait ${new Shell(`"$nr_wait_${i}"`)}; then nr_say ok ${`${spec.name} is healthy`}; else nr_failed="$nr_failed "${spec.name}; fi`,
    ),
  );
}

/**
 * Recreates several services together: pre-deploy, one `compose up` of all
 * of them (per target tag), the health of every one awaited in parallel,
 * each container's image verified, post-deploy. When any fails, its last log
 * lines are printed and every moved service goes back to its fallback tag
 * (the others stay as they are: they did not change). Run detached.
 */
export function recreateServices(r: Renderer, p: ServicesRecreatePlan): Shell {
  const indexed = p.moves.map((m, i) => ({ ...m, i }));
  const byTag = (list: typeof indexed, tagOf: (m: ServiceMove) => string): Map<string, typeof indexed> => {
    const out = new Map<string, typeof indexed>();
    for (const m of list) out.set(tagOf(m), [...(out.get(tagOf(m)) ?? []), m]);
    return out;
  };
  const hook = (name: string, text: string | undefined, failure: BackendExit): Shell =>
    text
      ? sh`nr_say info ${`Running ${name}...`}
( BACKEND_TAG=${p.hookTags.tag}; PREVIOUS_BACKEND_TAG=${p.hookTags.previous}; export BACKEND_TAG PREVIOUS_BACKEND_TAG; ${r.user(text)} ) || { nr_rc=$?; nr_say fail "${name} failed (exit $nr_rc)"; ${EXIT.exit(failure)}; }
nr_say ok ${`${name} done`}`
      : sh`:`;
  const ups = [...byTag(indexed, (m) => m.tag)].map(
    ([tag, ms]) =>
      sh`${upServices(
        r,
        p,
        ms.map((m) => ({ spec: m.spec, tag })),
        p.force,
      )} || nr_up_ok=0`,
  );
  const inspectImages = r.run(command(['docker', 'container', 'inspect', '--format', '{{.Config.Image}}']));
  // one docker call for every container (a line each, in order, when all of them answer); else one each
  const allImages = sh`nr_imgs=$(${inspectImages} ${new Shell(indexed.map((m) => `"$nr_c_${m.i}"`).join(' '))} 2>/dev/null) || nr_imgs=`;
  const verify = indexed.map(
    (m, k) => sh`nr_now_img=$(printf '%s\n' "$nr_imgs" | sed -n ${`${k + 1}p`})
[ -n "$nr_imgs" ] || nr_now_img=$(${inspectImages} ${new Shell(`"$nr_c_${m.i}"`)} 2>/dev/null)
if [ "$nr_now_img" = ${`${m.spec.image}:${m.tag}`} ] || ${r.dryRun ? sh`true` : sh`false`}; then nr_say ok ${`${m.spec.name} runs `}"$nr_now_img"
else nr_say fail ${`${m.spec.name} runs `}"$nr_now_img, not "${`${m.spec.image}:${m.tag}`}; nr_failed="$nr_failed "${m.spec.name}; fi`,
  );
  const logs = indexed.map(
    (m) => sh`case " $nr_failed " in *${` ${m.spec.name} `}*)
  nr_lg=$(nr_svc_logs ${m.spec.container} ${m.spec.name})
  nr_say group ${`Last 100 log lines of ${m.spec.name} (${m.spec.image}:${m.tag})`}
  printf '%s\n' "$nr_lg"
  nr_say endgroup
  nr_value ${`svc_logs_b64_${m.i}`} "$(printf '%s\n' "$nr_lg" | tail -n ${FAILED_LOG_LINES} | base64 | tr -d '\n')" ;;
esac`,
  );
  const back = indexed.filter((m) => m.fallback);
  const fallback =
    p.fallback && back.length
      ? sh`nr_say warn ${`Putting back what ran before: ${back.map((m) => `${m.spec.name} ${m.spec.image}:${m.fallback}${m.fallbackRan ? ` (${m.fallbackRan.image}, ${m.fallbackRan.id})` : ''}`).join(', ')}`}
${lines(...indexed.filter((m) => !m.fallback).map((m) => sh`nr_say warn ${`${m.spec.name} did not run before: it is left on ${m.tag} for inspection`}`))}
${lines(...back.map((m) => (m.fallbackRan ? keepFallback(r, `${m.spec.image}:${m.fallback}`, m.fallbackRan.id) : undefined)))}
${p.onFallback ?? sh`:`}
nr_up_ok=1; nr_failed_new=$nr_failed; nr_failed=
${lines(
  ...[...byTag(back, (m) => m.fallback)].map(
    ([tag, ms]) =>
      sh`${upServices(
        r,
        p,
        ms.map((m) => ({ spec: m.spec, tag })),
        true,
      )} || nr_up_ok=0`,
  ),
)}
${p.afterFallback ?? sh`:`}
${waitAll(r, p, back)}
nr_back_failed=$nr_failed; nr_failed=$nr_failed_new
nr_value failed "$nr_failed"
${lines(...back.map((m) => sh`nr_value ${`svc_running_${m.i}`} "$(nr_svc_image ${m.spec.container} ${m.spec.name} | sed 's/^.*://')"`))}
${lines(...indexed.filter((m) => !m.fallback).map((m) => sh`nr_value ${`svc_running_${m.i}`} ${m.tag}`))}
nr_value rolled_back true
if [ "$nr_up_ok" = 1 ] && [ -z "$nr_back_failed" ]; then
  nr_say ok ${`Rolled back: ${back.map((m) => `${m.spec.name} runs ${m.spec.image}:${m.fallback}`).join(', ')}, healthy`}
  ${p.watch ? sh`[ -z "$nr_watch_breach$nr_watch_failed" ] || ${EXIT.exit(BackendExit.WatchRolledBack)}` : sh`:`}
  [ -z "$nr_fb_incomplete" ] || ${EXIT.exit(BackendExit.RolledBackDataNotPutBack)}
  ${EXIT.exit(BackendExit.RolledBack)}
fi
nr_say fail "Putting back what ran before failed too (not healthy:$nr_back_failed)"
${EXIT.exit(BackendExit.RollbackFailed)}`
      : sh`nr_say warn 'Nothing to put back: the new containers are left for inspection'
nr_value failed "$nr_failed"
${lines(...indexed.map((m) => sh`nr_value ${`svc_running_${m.i}`} ${m.tag}`))}
nr_value rolled_back false
${EXIT.exit(BackendExit.FailedWithoutFallback)}`;
  const watch = watchStep(r, p.watch, p.repo);
  return lines(
    HEALTH,
    containerFinder(r, p.repo, p.composeFile),
    watch.library,
    sh`cd ${p.repo} || ${EXIT.exit(BackendExit.NoCheckout)}
nr_failed=; nr_fb_incomplete=; nr_watch_breach=; nr_watch_failed=; nr_watch_bad=
${hook(p.hookNames?.pre ?? 'pre-deploy', p.preDeploy, BackendExit.PreDeployFailed)}
${p.beforeRecreate ?? sh`:`}
${p.steps.say('recreate', `${p.steps.text('recreate')} (${p.moves.map((m) => m.spec.name).join(', ')})`)}
nr_up_ok=1
${lines(...ups)}
${p.afterUp ?? sh`:`}
if [ "$nr_up_ok" = 1 ]; then
  nr_say ok ${`Recreated ${p.moves.map((m) => m.spec.name).join(', ')}`}
  ${p.steps.say('health')}
  ${waitAll(r, p, indexed)}
  if [ -z "$nr_failed" ]; then
    ${p.steps.say('verify')}
    ${lines(allImages, ...verify)}
  fi
else
  nr_say fail 'docker compose up failed'; nr_failed=${` ${p.moves.map((m) => m.spec.name).join(' ')}`}
fi
if [ -z "$nr_failed" ]; then
  nr_say ok 'Every service is healthy'
  ${p.watch ? watch.run(sh`nr_watch_bad=1`) : sh`:`}
fi
if [ -z "$nr_failed$nr_watch_bad" ]; then
  ${lines(...indexed.map((m) => sh`nr_value ${`svc_running_${m.i}`} ${m.tag}`))}
  nr_value failed ''; nr_value rolled_back false
  ${hook(p.hookNames?.post ?? 'post-deploy', p.postDeploy, BackendExit.PostDeployFailed)}
  exit 0
fi
[ -z "$nr_failed" ] || nr_say fail "Not healthy:$nr_failed"
${lines(...logs)}
${fallback}`,
  );
}

export interface ServicesReleasePlan {
  repo: string;
  composeFile: string;
  checkout: CheckoutInputs;
  commit: string;
  subject: string;
  tag: string;
  services: readonly ServiceSpec[];
  /** The tag each service runs now, in the order of the list (empty: none, or not its image). */
  previous: readonly string[];
  /** What each service falls back to, by image id (default: its previous tag). */
  fallbacks?: readonly Fallback[];
  healthTimeout: number;
  autoRollback: boolean;
  preDeploy?: string;
  postDeploy?: string;
  runLabel: string;
  /** The history's record of the services (their tags in this release). */
  record: Record<string, ServiceRecord>;
  /** Where every image comes from (one source for the release; default: built on the NAS), and the registry login's private folder. */
  source?: ImageSource;
  authDir?: string;
  /** List each image's tags after a success, for keep-images (unset: not asked, no docker call spent). */
  listTags?: boolean;
  /** The NAS's platform: a pulled image of another is refused before the recreate. */
  platform?: string;
  /** The metrics watch once every service is healthy: a breach puts the whole release back. */
  watch?: WatchPlan;
  /** The environment file of the release's services, recorded by its sha256. */
  envFile?: EnvFileStep & { sha256?: string };
  /** A backup taken before anything changes, of the data the services use; restored when they fall back, if asked. */
  backup?: ReleaseBackup;
}

/** The application containers of services that use the data: every one listed, but a database service the backup holds. */
export function servicesApps(
  services: readonly ServiceSpec[],
  backup?: { databases: readonly { service: string }[] },
): AppContainer[] {
  const databases = new Set((backup?.databases ?? []).map((d) => d.service));
  return services.filter((s) => !databases.has(s.name)).map((s) => ({ service: s.name, container: s.container }));
}

export interface ServicesReleaseValues extends ServicesRecreateValues {
  /** The metrics watch, as far as it went (absent: the release had none). */
  watch?: WatchResult;
  built: boolean;
  /** The position (in distinctImages) of the image being obtained when the phase ended: the one that failed, on an image exit. */
  obtaining?: number;
  /** The tags of each distinct image after a successful release (with listTags; else none). */
  inventory: Map<string, ImageTag[]>;
  /** A pulled image refused for its platform: the platform its config names. */
  imagePlatform?: string;
  backup?: BackupValues;
  /** The backup of the failed release's data taken before a restore on fallback. */
  safety?: BackupValues;
  /** What the restore on fallback did to the data (none: no restore ran). */
  data?: DataOutcome;
  /** With a backup, the backups there are after a successful release (for retention). */
  backups?: BackupEntry[];
}

/** deploy-backend's one detached phase with several services: checkout, each distinct image once, recreate all, health. */
export function servicesReleasePhase(r: Renderer, p: ServicesReleasePlan): Phase<ServicesReleaseValues> {
  const steps = new Steps(RELEASE_STEPS);
  const images = distinctImages(p.services);
  const moves = p.services.map((spec, i): ServiceMove => {
    const back = p.fallbacks?.[i];
    const fallback = p.autoRollback ? (back ? back.tag : (p.previous[i] ?? '')) : '';
    return { spec, tag: p.tag, fallback, ...(fallback && back?.ran ? { fallbackRan: back.ran } : {}) };
  });
  const firstPrevious = p.previous.find(Boolean) ?? '';
  // the data of before comes back before the services' fallback: every service that uses it stopped first
  const restore = restoreOnFallback(r, p.backup, {
    repo: p.repo,
    composeFile: p.composeFile,
    container: p.services.find((s) => s.container)?.container ?? '',
    apps: servicesApps(p.services, p.backup?.plan),
    tag: p.tag,
    commit: p.commit,
    fallback: 'what ran before',
  });
  const source = p.source ?? { kind: 'nas' };
  const kind = imageSourceKind(source);
  // as a single-service release records it; each service's record holds it too
  const env = p.envFile?.sha256 ? { env: p.envFile.sha256 } : {};
  const update = {
    tag: p.tag,
    commit: p.commit,
    previous: firstPrevious,
    services: p.record,
    ...kind.record(),
    ...env,
  };
  const envStep = p.envFile && envFileStep(r, p.envFile, { tag: p.tag, previous: envPreviousKey(p.previous, p.tag) });
  // a watch's rollback is recorded with what runs after it: each service on its fallback
  const watch =
    p.watch &&
    watchPhaseParts(p.watch, p.repo, {
      tag: p.tag,
      commit: p.commit,
      previous: firstPrevious,
      services: fallbackRecord(p.services, moves, p.record),
    });
  const getting = kind.stepTextOfImages(images.length, p.services.length);
  // each image once, whatever the source; `obtaining` says which one an image exit is about
  const obtain = images.map(
    (i, n) =>
      sh`nr_value obtaining ${String(n)}
${kind.obtain(r, {
  image: i.image,
  tag: p.tag,
  source,
  build: { repo: p.repo, context: i.buildContext, dockerfile: i.dockerfile },
  authDir: p.authDir ?? `${p.repo}/.git/nas-release/registry-auth`,
  services: i.services,
  ...(p.platform ? { platform: p.platform } : {}),
})}`,
  );
  const digests = kind.digestsFields(
    r,
    images.map((i) => i.image),
    p.tag,
  );
  return {
    title: 'Releasing the services',
    timeout: 3600 * images.length + p.healthTimeout * 2 + 900 + (watch ? watch.timeout : 0),
    begin: { ...update, detail: 'deploy' },
    success: update,
    ...(digests || watch ? { successFields: lines(digests, watch ? watch.successField : undefined, sh`:`) } : {}),
    ...(watch ? { endings: [watch.ending] } : {}),
    ...(p.listTags || p.backup
      ? {
          afterSuccess: lines(
            p.listTags
              ? inventoryValues(
                  r,
                  images.map((i) => i.image),
                )
              : undefined,
            // the backups are listed in the same round trip, for retention (presence only, no data read)
            p.backup ? listingValue(p.backup.plan.dir, { quick: true }) : undefined,
          ),
        }
      : {}),
    script: sh`${backupBeforeRelease(r, p.backup)}
${steps.say('checkout', `Updating repository from ${p.checkout.remote}/${p.checkout.branch}`)}
${moveCheckout(r, { repo: p.repo, ...p.checkout, runLabel: p.runLabel }, p.commit)}
nr_say info ${`${p.commit.slice(0, 7)} ${p.subject}`}
${steps.say('tag')}
nr_say ok ${`Image tag: ${p.tag}`}
${steps.say('build', `${getting}: ${images.map((i) => `${i.image}:${p.tag}`).join(', ')}`)}
cd ${p.repo} || ${EXIT.exit(BackendExit.NoCheckout)}
${kind.obtainsAtOnce ? allAtOnce(r, obtain) : lines(...obtain)}
cd ${p.repo} || ${EXIT.exit(BackendExit.NoCheckout)}
${steps.say('verifyImage')}
nr_say ok ${`Every image exists with tag ${p.tag}`}
nr_value built yes
${recreateServices(r, {
  repo: p.repo,
  composeFile: p.composeFile,
  moves,
  others: [],
  healthTimeout: p.healthTimeout,
  force: false,
  fallback: p.autoRollback,
  ...(p.preDeploy ? { preDeploy: p.preDeploy } : {}),
  ...(p.postDeploy ? { postDeploy: p.postDeploy } : {}),
  hookTags: { tag: p.tag, previous: firstPrevious },
  steps: new Steps({ recreate: steps.text('recreate'), health: steps.text('health'), verify: steps.text('verify') }),
  ...(p.watch ? { watch: p.watch } : {}),
  ...(envStep || restore
    ? {
        onFallback: lines(envStep?.undo, restore, sh`:`),
        ...(restore ? { afterFallback: sh`nr_rs_start_backend` } : {}),
      }
    : {}),
  ...(envStep ? { beforeRecreate: envStep.before } : {}),
})}`,
    decode: (values) => ({
      ...decodeServicesRecreate(values, moves),
      watch: decodeWatch(values, p.watch?.guards ?? []),
      ...decodeReleaseData(values),
      ...(values.has('backups_b64') ? { backups: decodeListing(values) } : {}),
      built: values.get('built') === 'yes',
      ...(values.has('obtaining') ? { obtaining: Number(values.get('obtaining')) } : {}),
      ...(values.has('image_platform') ? { imagePlatform: values.get('image_platform') ?? '' } : {}),
      inventory: decodeInventories(
        values,
        images.map((i) => i.image),
      ),
    }),
  };
}

/** The history's record of the services after they were put back: each on its fallback, one without left as released. */
function fallbackRecord(
  services: readonly ServiceSpec[],
  moves: readonly ServiceMove[],
  released: Record<string, ServiceRecord>,
): Record<string, ServiceRecord> {
  return Object.fromEntries(
    services.map((s, i) => {
      const m = moves[i];
      if (!m?.fallback) return [s.name, released[s.name]];
      return [s.name, { ...serviceRecord(s, m.fallback), ...(m.fallbackRan ? { ran: m.fallbackRan } : {}) }];
    }),
  );
}

/** A target image a rollback of services pulls (image-source: registry), once for the services that run it. */
export interface ServicePull {
  ref: string;
  target: string;
  services: string[];
  login?: RegistryLogin;
  authDir: string;
  /** The NAS's platform: a pulled image of another is refused before it is tagged. */
  platform?: string;
}

/** rollback-backend's detached phase for some services of a release: each to its target, the others untouched. */
export function servicesRollbackPhase(
  r: Renderer,
  p: {
    repo: string;
    composeFile: string;
    moves: readonly ServiceMove[];
    others: readonly { spec: ServiceSpec; tag: string }[];
    healthTimeout: number;
    force: boolean;
    named: boolean;
    record: Record<string, ServiceRecord>;
    steps: Steps<'recreate' | 'health' | 'verify'>;
    /** Target images gone from the NAS (image-source: registry): each pulled as `ref` and tagged `target` first, before anything changes. */
    pulls?: readonly ServicePull[];
    preRollback?: string;
    postRollback?: string;
    /** The environment file: `tag` names the release whose file the services get, `previous` the file there now. */
    envFile?: { step: EnvFileStep; tag: string; previous: string; sha256?: string };
    /**
     * Data to restore before the services move: every application service of the release stopped for it (the
     * database services keep running), the moved ones recreated on the restored data, the others started again.
     */
    restore?: RollbackRestore;
  },
): Phase<ServicesRecreateValues & { imagePlatform?: string } & ReturnType<typeof decodeReleaseData>> {
  const first = p.moves[0];
  const envStep = p.envFile && envFileStep(r, p.envFile.step, p.envFile);
  const env = p.envFile?.sha256 ? { env: p.envFile.sha256 } : {};
  const restoreId = p.restore && typeof p.restore.plan.id === 'string' ? p.restore.plan.id : undefined;
  const started = sh`nr_rs_start_backend`;
  return {
    title: 'Rolling back services',
    timeout: p.healthTimeout * 2 + 600 + (p.restore ? 6 * 3600 : 0),
    begin: {
      tag: first?.tag ?? '',
      previous: first?.fallback ?? '',
      detail: p.named ? 'named' : 'previous-release',
      services: p.record,
      ...env,
      ...(restoreId ? { backup: restoreId } : {}),
    },
    success: env,
    script: lines(
      // every service back to one release: its files come back with it
      p.others.length === 0 && new Set(p.moves.map((m) => m.tag)).size === 1 && first
        ? putBackTree(r, p.repo, first.tag)
        : undefined,
      ...(p.pulls ?? []).map((pull) =>
        pullImage(r, {
          ref: pull.ref,
          target: pull.target,
          authDir: pull.authDir,
          what: `the missing image of ${pull.services.join(', ')}`,
          ...(pull.login ? { login: pull.login } : {}),
          ...(pull.platform ? { platform: pull.platform } : {}),
        }),
      ),
      recreateServices(r, {
        repo: p.repo,
        composeFile: p.composeFile,
        moves: p.moves,
        others: p.others,
        healthTimeout: p.healthTimeout,
        force: p.force || !!p.restore,
        fallback: true,
        ...(p.preRollback ? { preDeploy: p.preRollback } : {}),
        ...(p.postRollback ? { postDeploy: p.postRollback } : {}),
        hookNames: ROLLBACK_HOOKS,
        hookTags: { tag: first?.tag ?? '', previous: first?.fallback ?? '' },
        steps: p.steps,
        // the environment file is staged first (nothing to undo in the data when it fails), then the data restored
        ...(envStep || p.restore
          ? {
              beforeRecreate: lines(envStep?.before, p.restore ? restoreBeforeTarget(r, p.restore) : undefined, sh`:`),
              onFallback: lines(p.restore ? undoRestore() : undefined, envStep?.undo, sh`:`),
              ...(p.restore ? { afterUp: started, afterFallback: started } : {}),
            }
          : {}),
      }),
    ),
    decode: (values) => ({
      ...decodeServicesRecreate(values, p.moves),
      ...(values.has('image_platform') ? { imagePlatform: values.get('image_platform') ?? '' } : {}),
      ...decodeReleaseData(values),
    }),
  };
}
