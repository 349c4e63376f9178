import type { BackendTarget, CheckoutInputs } from '../inputs/backend.js';
import type { Renderer } from '../remote/command.js';
import { compose, docker } from '../remote/docker.js';
import { git } from '../remote/git.js';
import { runnerRootOf, stateDirOf } from '../remote/state-dir.js';
import { putBackTree } from './releases.js';
import { HEALTH } from '../remote/health.js';
import type { WatchPlan } from '../rules/guards.js';
import { decodeWatch, watchDetailField, watchGuards, type WatchResult } from './watch.js';
import {
  exitCodes,
  Steps,
  type Phase,
  type PhaseEnding,
  type RecordUpdate,
  type StateQuestions,
  type TypedProgram,
} from '../remote/program.js';
import { Shell, lines, sh } from '../remote/shell.js';
import { parseImageTags, type ImageTag } from '../rules/images.js';
import { CheckoutExit, decodeFetchedTarget, fetchTarget, moveCheckout, type FetchedTarget } from './checkout.js';
import {
  BACKUP_EXIT,
  BackupExit,
  decodeBackup,
  decodeDataOutcome,
  restoreData,
  restoreOrExit,
  undoRestore,
  type DataOutcome,
  type BackupLabel,
  type BackupValues,
  type RestorePlan,
  decodeListing,
  listingValue,
} from './backups.js';
import { backupBeforeRelease, restoreOnFallback, type ReleaseBackup } from './release-steps.js';
import { envFileStep, installEnvFile, putBackEnvFile, stageEnvFile, type EnvFilePlan } from './env-file.js';
import type { BackupEntry } from '../rules/backups.js';
import type { ImageSource, RegistryLogin } from '../inputs/image-source.js';
import { ImageExit, decodeNasLayers, nasLayersScript, pullImage, type NasLayers } from './image-sources.js';
import { imageSourceKind } from '../image-sources/table.js';
import { preflightQuestions, type PreflightPlan, type PreflightState } from './preflight.js';
import { decodePlatform, platformQuestion } from './preflight.js';

/** How the backend's phases end. */
export const BackendExit = {
  ...CheckoutExit,
  ...ImageExit,
  /** repo-path vanished between the state read and the phase. */
  NoCheckout: 30,
  PreDeployFailed: 31,
  PostDeployFailed: 32,
  BuildFailed: 33,
  ImageMissingAfterBuild: 34,
  /** The new tag failed and the fallback runs again, healthy. */
  RolledBack: 40,
  /** The new tag failed and there was nothing to go back to: it is left for inspection. */
  FailedWithoutFallback: 41,
  /** The new tag failed and the fallback did not come back healthy either. */
  RollbackFailed: 42,
  /** The new tag was healthy, a metrics guard breached during the watch, and the fallback runs again, healthy. */
  WatchRolledBack: 43,
  /** As RolledBack, but the data the fallback ran with could not be put back (value `data` says how). */
  RolledBackDataNotPutBack: 44,
  /** As WatchRolledBack, but the data the fallback ran with could not be put back (value `data` says how). */
  WatchRolledBackDataNotPutBack: 45,
  ...BackupExit,
} as const;
export type BackendExit = (typeof BackendExit)[keyof typeof BackendExit];

/** The exits of a release that end it before the recreate: no container was touched. */
export const BEFORE_RECREATE: ReadonlySet<number> = new Set([
  BackendExit.FetchFailed,
  BackendExit.DirtyCheckout,
  BackendExit.CheckoutFailed,
  BackendExit.NoCheckout,
  BackendExit.BuildFailed,
  BackendExit.ImageMissingAfterBuild,
  BackendExit.BackupFailed,
  BackendExit.EnvFileFailed,
  BackendExit.RegistryLoginFailed,
  BackendExit.PullFailed,
  BackendExit.ImageNotTransferred,
  BackendExit.PlatformMismatch,
]);
const EXIT = exitCodes(BackendExit);

/** The tag a container runs, when it runs this image. */
export function runningTag(image: string, runningImage: string): string {
  return runningImage.startsWith(`${image}:`) ? runningImage.slice(image.length + 1) : '';
}

/** What a failed release brings back: what ran before it, exactly, whatever the image is called now. */
export interface Fallback {
  /** The tag of the release's image compose starts it with; empty: nothing ran before (or auto-rollback is off). */
  tag: string;
  /** The id of the image that ran, and what docker called it: the tag is made to name that id before it comes back. */
  ran?: { image: string; id: string };
}

/** The tag a fallback that no tag of the image names gets: it says what it is, and one image always gets the same. */
export function fallbackTag(id: string): string {
  return `fallback-${id.replace(/^sha256:/, '').slice(0, 12)}`;
}

/**
 * The fallback of a release of `image:tag`, from what the container runs now: its own tag when it runs one of this
 * image (and that is not the tag being released, which a pull may move), else its image by id under fallbackTag.
 */
export function fallbackOf(image: string, running: { image: string; id?: string }, tag: string): Fallback {
  const now = runningTag(image, running.image);
  if (!running.id) return { tag: now };
  return { tag: now && now !== tag ? now : fallbackTag(running.id), ran: { image: running.image, id: running.id } };
}

/** The image's tags, base64 in one value (any number of them). */
function inventoryValue(r: Renderer, image: string): Shell {
  return sh`nr_value tags_b64 "$(${r.run(docker.imageTags(image))} | base64 | tr -d '\\n')"`;
}
/**
 * The image's tags asked beside the questions already started in the background, and sent once they have
 * answered: a value line this long could be torn by another writer where the NAS has no fold to cut it.
 */
function inventoryAfterOthers(r: Renderer, image: string): Shell {
  return sh`nr_tags_b64=$(${r.run(docker.imageTags(image))} | base64 | tr -d '\\n')
wait
nr_value tags_b64 "$nr_tags_b64"`;
}
function decodeInventory(values: ReadonlyMap<string, string>): ImageTag[] {
  return parseImageTags(Buffer.from(values.get('tags_b64') ?? '', 'base64').toString());
}

export interface DeployState extends FetchedTarget, Partial<PreflightState> {
  /** `image:tag` the container runs, empty without one. */
  runningImage: string;
  /** The id of the image the container runs (absent without a container). */
  runningId?: string;
  /** With image-source runner: the layers the NAS has, and the image's tags there. */
  layers?: NasLayers;
  inventory?: ImageTag[];
}

/** deploy-backend's first questions: what runs, and the commit to release (fetched, the work tree untouched). */
export function deployState(
  target: BackendTarget,
  checkout: CheckoutInputs & { repo: string },
  source: ImageSource = { kind: 'nas' },
  preflight?: PreflightPlan,
): StateQuestions<DeployState> {
  const runner = imageSourceKind(source).sentFromRunner;
  const checks = preflightQuestions(preflight, checkout);
  return {
    // The image query runs beside the fetch; its value line is short, so it cannot tear another.
    // The layers' value line is long: it is asked after the others have ended.
    script: (r) => sh`( ${runningValues(r, target.container)} ) &
${checks.before}
${fetchTarget(r, checkout)}
${checks.after}${
      runner
        ? sh`
wait
${nasLayersScript(r)}
${inventoryValue(r, target.image)}`
        : sh``
    }`,
    decode: (values) => ({
      ...decodeRunning(values),
      ...decodeFetchedTarget(values),
      ...(runner ? { layers: decodeNasLayers(values), inventory: decodeInventory(values) } : {}),
      ...checks.decode(values),
    }),
  };
}

export interface ImagesState {
  runningImage: string;
  runningId?: string;
  inventory: ImageTag[];
  /** The NAS's platform, when asked. */
  platform?: string;
}

/** What the container runs: its `image:tag` and its image's id (two short value lines). */
function runningValues(r: Renderer, container: string): Shell {
  return sh`nr_value running_image "$(${r.run(docker.containerImage(container))} 2>/dev/null)"; nr_value running_image_id "$(${r.run(docker.containerImageId(container))} 2>/dev/null)"`;
}
function decodeRunning(values: ReadonlyMap<string, string>): { runningImage: string; runningId?: string } {
  const id = values.get('running_image_id');
  return { runningImage: values.get('running_image') ?? '', ...(id ? { runningId: id } : {}) };
}

/**
 * What runs and which tags of the image exist: rollback's and cleanup's first questions; with `platform`,
 * the NAS's platform too (a rollback that may pull its image refuses one of another platform).
 */
export function imagesState(image: string, container: string, platform = false): StateQuestions<ImagesState> {
  return {
    script: (r) => sh`( ${runningValues(r, container)} ) &
${platform ? platformQuestion() : sh`:`}
${inventoryAfterOthers(r, image)}`,
    decode: (values) => {
      const nas = platform ? decodePlatform(values) : '';
      return { ...decodeRunning(values), inventory: decodeInventory(values), ...(nas ? { platform: nas } : {}) };
    },
  };
}

/** The image's tags, asked at once: at the end of a phase, where nothing else writes. */
export function imageTags(image: string): StateQuestions<{ inventory: ImageTag[] }> {
  return {
    script: (r) => inventoryValue(r, image),
    decode: (values) => ({ inventory: decodeInventory(values) }),
  };
}

/** The image's tags alone (a blue-green rollback finds its containers through compose, not `container`). */
export function imageInventory(image: string): StateQuestions<{ inventory: ImageTag[] }> {
  return {
    script: (r) => inventoryAfterOthers(r, image),
    decode: (values) => ({ inventory: decodeInventory(values) }),
  };
}

/** The names of the user's commands before and after a recreate, for the log. */
export interface HookNames {
  pre: string;
  post: string;
}
/** A rollback's hooks: run where a deploy runs pre-deploy and post-deploy, with the same environment. */
export const ROLLBACK_HOOKS: HookNames = { pre: 'pre-rollback', post: 'post-rollback' };

/** The steps the NAS announces while it recreates the backend (their texts differ between deploy and rollback). */
export type RecreateSteps = Steps<'recreate' | 'health' | 'verify'>;

export interface RecreatePlan {
  repo: string;
  target: BackendTarget;
  tag: string;
  /** Tag to put back when the new one fails; empty: none (leave it for inspection). */
  fallback: string;
  /** The image that ran before, by id: made the fallback tag's image again before it comes back. */
  fallbackRan?: { image: string; id: string };
  force: boolean;
  preDeploy?: string;
  postDeploy?: string;
  /** What the log calls the hooks (a rollback's are pre-rollback and post-rollback). */
  hookNames?: HookNames;
  /** Watch the metrics guards once healthy, before post-deploy; a breach rolls back like a failed health check. */
  watch?: WatchPlan;
  steps: RecreateSteps;
  /**
   * Runs after pre-deploy, before the container changes (a restore, an environment file). It may set
   * nr_before_failed after a change it could not finish: the recreate is skipped and the fallback comes back.
   */
  beforeRecreate?: Shell;
  /**
   * Runs before the fallback is put back (its environment file, a restore of the data); it never ends the
   * phase, and sets nr_fb_incomplete when the data the fallback ran with could not be put back.
   */
  onFallback?: Shell;
}

/** What a recreate reports. */
export interface RecreateValues {
  /** The tag that ran before. */
  previous: string;
  /** The tag that runs now (empty when docker did not answer). */
  running: string;
  rolledBack: boolean;
  /** `docker compose up` failed: the new container was never created (or never started). */
  upFailed?: boolean;
}
function decodeRecreate(values: ReadonlyMap<string, string>): RecreateValues {
  return {
    previous: values.get('previous') ?? '',
    running: values.get('running') ?? '',
    rolledBack: values.get('rolled_back') === 'true',
    ...(values.get('up_failed') === 'yes' ? { upFailed: true } : {}),
  };
}

/**
 * Changes the running backend: pre-deploy, recreate with the tag, wait for
 * health, verify, post-deploy; when the new tag fails, print its logs and put
 * the fallback tag back. Run detached on the NAS, so a hang-up cannot cut it in half.
 */
export function recreateBackend(r: Renderer, p: RecreatePlan): Shell {
  const { target: t } = p;
  const ref = `${t.image}:${p.tag}`;
  const up = (tag: string, force: boolean): Shell =>
    r.change(compose.up({ file: t.composeFile, service: t.service, tagVariable: t.tagVariable, tag, force }));
  const hook = (name: string, text: string | undefined, failure: BackendExit): Shell =>
    text
      ? sh`nr_say info ${`Running ${name}...`}
( BACKEND_TAG=${p.tag}; PREVIOUS_BACKEND_TAG=$nr_prev; export BACKEND_TAG PREVIOUS_BACKEND_TAG; ${r.user(text)} ) || { nr_rc=$?; nr_say fail "${name} failed (exit $nr_rc)"; ${EXIT.exit(failure)}; }
nr_say ok ${`${name} done`}`
      : sh`:`;
  const watch = watchStep(r, p.watch, p.repo);
  return lines(
    HEALTH,
    watch.library,
    sh`nr_watch_breach=; nr_watch_failed=; nr_before_failed=; nr_fb_incomplete=
cd ${p.repo} || ${EXIT.exit(BackendExit.NoCheckout)}
nr_img=$(${r.run(docker.containerImage(t.container))} 2>/dev/null || true)
case "$nr_img" in ${t.image + ':'}*) nr_prev=\${nr_img##*:} ;; *) nr_prev= ;; esac
nr_value previous "$nr_prev"
${hook(p.hookNames?.pre ?? 'pre-deploy', p.preDeploy, BackendExit.PreDeployFailed)}
${p.beforeRecreate ?? sh`:`}
${p.steps.say('recreate')}
if [ -n "$nr_before_failed" ]; then
  nr_say fail 'The recreate did not start: what comes before it failed after a change'; nr_ok=0
elif ${up(p.tag, p.force)}; then
  nr_say ok 'Container recreated'
  ${p.steps.say('health')}
  ${r.dryRun ? sh`nr_say info 'dry-run: health wait skipped'; nr_ok=1` : sh`nr_ok=0; nr_wait_container ${t.container} ${t.healthTimeout} ${t.healthUrl} && nr_ok=1`}
else
  nr_say fail 'docker compose up failed (its error is above)'; nr_ok=0; nr_value up_failed yes
fi
if [ "$nr_ok" = 1 ]; then
  nr_say ok 'Backend is healthy'
  ${p.steps.say('verify')}
  nr_now_img=$(${r.run(docker.containerImage(t.container))} 2>/dev/null)
  if [ "$nr_now_img" = ${ref} ] || ${r.dryRun ? sh`true` : sh`false`}; then nr_say ok "Container is running with image: $nr_now_img"
  else nr_say fail "Container runs $nr_now_img, not "${ref}; nr_ok=0; fi
  ${t.healthUrl && !r.dryRun ? sh`if [ "$nr_ok" = 1 ]; then if nr_http_ok ${t.healthUrl}; then nr_say ok 'Health endpoint responding'; else nr_say fail ${`Health endpoint ${t.healthUrl} is not responding`}; nr_ok=0; fi; fi` : sh`:`}
  ${p.watch ? sh`if [ "$nr_ok" = 1 ]; then ${watch.run(sh`nr_ok=0`)}; fi` : sh`:`}
fi
if [ "$nr_ok" = 1 ]; then
  nr_value running ${p.tag}; nr_value rolled_back false
  ${hook(p.hookNames?.post ?? 'post-deploy', p.postDeploy, BackendExit.PostDeployFailed)}
  exit 0
fi
nr_say group ${`Last 100 log lines of ${t.container} (${ref})`}
${r.run(docker.logs(t.container, 100))} 2>&1 || true
nr_say endgroup
${
  p.fallback
    ? sh`nr_say warn ${`Rolling back to ${t.image}:${p.fallback}${p.fallbackRan ? ` (what ran before: ${p.fallbackRan.image}, ${p.fallbackRan.id})` : ''}`}
${p.onFallback ?? sh`:`}
${p.fallbackRan ? keepFallback(r, `${t.image}:${p.fallback}`, p.fallbackRan.id) : sh`:`}
if ${up(p.fallback, true)} && nr_wait_container ${t.container} ${t.healthTimeout} ${t.healthUrl}; then
  nr_say ok ${`Rolled back: ${t.container} runs ${t.image}:${p.fallback} and is healthy`}
  nr_value running ${p.fallback}; nr_value rolled_back true
  if [ -n "$nr_watch_breach$nr_watch_failed" ]; then
    [ -z "$nr_fb_incomplete" ] || ${EXIT.exit(BackendExit.WatchRolledBackDataNotPutBack)}
    ${EXIT.exit(BackendExit.WatchRolledBack)}
  fi
  [ -z "$nr_fb_incomplete" ] || ${EXIT.exit(BackendExit.RolledBackDataNotPutBack)}
  ${EXIT.exit(BackendExit.RolledBack)}
fi
nr_say fail ${`The rollback to ${p.fallback} did not become healthy either`}
nr_value running "$(${r.run(docker.containerImage(t.container))} 2>/dev/null | sed 's/^.*://')"; nr_value rolled_back true; ${EXIT.exit(BackendExit.RollbackFailed)}`
    : sh`nr_say warn 'No previous tag to roll back to: the new container is left for inspection'
nr_value running ${p.tag}; nr_value rolled_back false; ${EXIT.exit(BackendExit.FailedWithoutFallback)}`
}`,
  );
}

/** Where the watch leaves how it ended, for the success line the phase writes after its body. */
function watchOutcomeFile(repo: string): string {
  return `${stateDirOf(repo)}/watch-outcome`;
}

/**
 * The metrics watch as a step of any release (one service, several, blue-green): `library` defines nr_watch
 * (none on a dry run), `run(onBreach)` watches once the release is healthy and runs `onBreach` when it must be
 * rolled back (nr_watch_breach or nr_watch_failed then set); the phase's parts say how it ended.
 */
export function watchStep(
  r: Renderer,
  plan: WatchPlan | undefined,
  repo: string,
): { library?: Shell; run: (onBreach: Shell) => Shell } {
  const live = r.dryRun ? undefined : plan;
  return {
    ...(live ? { library: watchGuards(live, watchOutcomeFile(repo)) } : {}),
    run: (onBreach) =>
      live ? sh`nr_watch || { ${onBreach}; }` : plan ? sh`nr_say info 'dry-run: metrics watch skipped'` : sh`:`,
  };
}

/**
 * What a phase with a watch adds: the time the watch may take (its polls may each take up to a query timeout per
 * guard past the interval), the success line's `watch passed|inconclusive`, and the watch's rollback written on
 * the NAS as it happens (WatchRolledBack), since the runner may be gone by then: the watch is long.
 */
export function watchPhaseParts(
  plan: WatchPlan,
  repo: string,
  rolledBack: RecordUpdate,
): { timeout: number; successField: Shell; ending: PhaseEnding } {
  return {
    timeout: plan.seconds * 2 + plan.guards.length * 60,
    successField: watchDetailField(watchOutcomeFile(repo)),
    ending: {
      code: BackendExit.WatchRolledBack,
      outcome: 'rolled-back',
      update: { ...rolledBack, detail: WATCH_ROLLBACK_DETAIL },
    },
  };
}

/**
 * Makes `ref` name the image that ran before, by its id: under a renamed image no tag of it is left for compose,
 * and a pull may have moved the tag. Only when a release falls back, so a release that succeeds leaves no such tag.
 */
export function keepFallback(r: Renderer, ref: string, id: string): Shell {
  return sh`if [ "$(${r.run(docker.imageExists(ref))} 2>/dev/null)" != ${id} ]; then
  ${r.change(docker.tag(id, ref))} && nr_say info ${`Tagged ${id} as ${ref}`} || nr_say warn ${`Cannot tag ${id} as ${ref}`}
fi`;
}

/** The steps of a backend release on the NAS, after the runner's lock step. */
export const RELEASE_STEPS = {
  checkout: 'Updating repository',
  tag: 'Computing image tag',
  build: 'Building backend image',
  verifyImage: 'Verifying image tag',
  recreate: 'Deploying backend container',
  health: 'Waiting for backend to be healthy',
  verify: 'Verifying deployment',
} as const;

export interface ReleasePlan {
  repo: string;
  target: BackendTarget;
  checkout: CheckoutInputs;
  commit: string;
  subject: string;
  tag: string;
  buildContext: string;
  dockerfile: string;
  /** What runs now: put back when the release fails (empty: nothing to put back, or auto-rollback is off). */
  fallback: string;
  /** What ran before the release (recorded in the history), and the id the fallback tag is made to name. */
  fallbackRan?: { image: string; id: string };
  previous: string;
  preDeploy?: string;
  postDeploy?: string;
  /** Names the run in a stash message. */
  runLabel: string;
  watch?: WatchPlan;
  /** A backup taken before anything changes, of the data the running release uses. */
  backup?: ReleaseBackup;
  /** The environment file this release writes. */
  envFile?: { plan: EnvFilePlan; content: string; sha256?: string };
  /** Where the image comes from (default: built on the NAS), and the registry login's private folder. */
  source?: ImageSource;
  authDir?: string;
  /** The NAS's platform (learned in the first round trip): a pulled image of another is refused before anything changes. */
  platform?: string;
}

export interface ReleaseValues extends RecreateValues {
  /** The image was built (or reused): a failure after this may have changed what runs. */
  built: boolean;
  /** The image's tags after a successful release. */
  inventory: ImageTag[];
  /** The metrics watch, as far as it went. */
  watch: WatchResult;
  backup?: BackupValues;
  /** The backup of the failed release's data taken before a restore on fallback. */
  safety?: BackupValues;
  /** What the restore on fallback did to the data (none: no restore ran). */
  data?: DataOutcome;
  /** With backups configured, the backups there are after a successful release (for retention). */
  backups?: BackupEntry[];
  /** A pulled image refused for its platform: the platform its config names. */
  imagePlatform?: string;
}

/** The history's word for a release rolled back by its watch (written by the phase itself, on the NAS). */
export const WATCH_ROLLBACK_DETAIL = 'metrics guard breached during the watch';
/** …and when the data of before the release could not be restored on the way back. */
export const WATCH_ROLLBACK_DATA_DETAIL = `${WATCH_ROLLBACK_DETAIL}; data of before not restored`;

/** deploy-backend's one detached phase, from the checkout to health, with its own automatic rollback. */
export function releasePhase(r: Renderer, p: ReleasePlan): Phase<ReleaseValues> {
  const { target } = p;
  const ref = `${target.image}:${p.tag}`;
  const steps = new Steps(RELEASE_STEPS);
  const source = p.source ?? { kind: 'nas' };
  const kind = imageSourceKind(source);
  // An image obtained without changing what runs (a pull) comes first, so a missing tag or an image of another
  // platform is refused before the backup and the checkout move.
  const pullFirst = kind.obtainsFirst;
  const obtain = lines(
    steps.say('build', kind.stepText(ref)),
    kind.obtain(r, {
      image: target.image,
      tag: p.tag,
      source,
      build: { repo: p.repo, context: p.buildContext, dockerfile: p.dockerfile },
      authDir: p.authDir ?? `${p.repo}/.git/nas-release/registry-auth`,
      ...(p.platform ? { platform: p.platform } : {}),
    }),
  );
  const watch = p.watch && watchPhaseParts(p.watch, p.repo, { tag: p.tag, commit: p.commit, previous: p.previous });
  return {
    title: 'Releasing the backend',
    timeout: 3600 + target.healthTimeout * 2 + 900 + (watch ? watch.timeout : 0),
    begin: {
      tag: p.tag,
      image: target.image,
      commit: p.commit,
      previous: p.previous,
      detail: 'deploy',
      ...(p.fallbackRan ? { ran: p.fallbackRan } : {}),
      ...envRecord(p),
      ...pulledRecord(p),
    },
    success: {
      tag: p.tag,
      image: target.image,
      commit: p.commit,
      previous: p.previous,
      ...envRecord(p),
      ...pulledRecord(p),
    },
    ...(kind.digestFields(r, ref, target.image) || p.watch
      ? {
          successFields: lines(kind.digestFields(r, ref, target.image), watch ? watch.successField : undefined, sh`:`),
        }
      : {}),
    // A watch's rollback is written on the NAS as it happens: the runner may be gone by then (the watch is long).
    ...(watch
      ? {
          endings: [
            watch.ending,
            ...(p.fallback && p.backup?.restoreOnFallback
              ? [
                  {
                    code: BackendExit.WatchRolledBackDataNotPutBack,
                    outcome: 'rolled-back' as const,
                    update: { tag: p.tag, commit: p.commit, previous: p.previous, detail: WATCH_ROLLBACK_DATA_DETAIL },
                  },
                ]
              : []),
          ],
        }
      : {}),
    // The backups are listed in the same round trip, for retention (presence only, no data read).
    afterSuccess: p.backup
      ? lines(inventoryValue(r, target.image), listingValue(p.backup.plan.dir, { quick: true }))
      : inventoryValue(r, target.image),
    script: sh`${pullFirst ? obtain : sh`:`}
${backupBeforeRelease(r, p.backup)}
${steps.say('checkout', `Updating repository from ${p.checkout.remote}/${p.checkout.branch}`)}
${moveCheckout(r, { repo: p.repo, ...p.checkout, runLabel: p.runLabel }, p.commit)}
nr_say info ${`${p.commit.slice(0, 7)} ${p.subject}`}
${steps.say('tag')}
nr_say ok ${`Image tag: ${p.tag}`}
${pullFirst ? sh`:` : obtain}
cd ${p.repo} || ${EXIT.exit(BackendExit.NoCheckout)}
${steps.say('verifyImage')}
if ${r.run(docker.imageExists(ref))} >/dev/null 2>&1; then nr_say ok ${`Image ${ref} exists`}
else ${r.dryRun ? sh`nr_say info 'dry-run: the image was not built'` : sh`nr_say fail ${`Image ${ref} is missing after the build`}; ${EXIT.exit(BackendExit.ImageMissingAfterBuild)}`}; fi
nr_value built yes
${recreateBackend(r, {
  repo: p.repo,
  target,
  tag: p.tag,
  fallback: p.fallback,
  ...(p.fallback && p.fallbackRan ? { fallbackRan: p.fallbackRan } : {}),
  force: false,
  ...(p.preDeploy ? { preDeploy: p.preDeploy } : {}),
  ...(p.postDeploy ? { postDeploy: p.postDeploy } : {}),
  ...(p.watch ? { watch: p.watch } : {}),
  steps: new Steps({ recreate: steps.text('recreate'), health: steps.text('health'), verify: steps.text('verify') }),
  ...(p.envFile ? { beforeRecreate: envFileStep(r, p.envFile, { tag: p.tag, previous: p.previous }).before } : {}),
  ...(p.fallback ? { onFallback: fallbackShell(r, p) } : {}),
})}`,
    decode: (values) => ({
      ...decodeRecreate(values),
      built: values.get('built') === 'yes',
      inventory: decodeInventory(values),
      watch: decodeWatch(values, p.watch?.guards ?? []),
      ...(values.get('backup_id') ? { backup: decodeBackup(values) } : {}),
      ...(values.get('safety_id') ? { safety: decodeBackup(values, 'safety') } : {}),
      ...decodeDataOutcome(values),
      ...(values.has('backups_b64') ? { backups: decodeListing(values) } : {}),
      ...(values.get('image_platform') !== undefined ? { imagePlatform: values.get('image_platform') ?? '' } : {}),
    }),
  };
}

function envRecord(p: ReleasePlan): { env?: string } {
  return p.envFile?.sha256 ? { env: p.envFile.sha256 } : {};
}

/** The registry tag a registry release pulls, for the history (a rollback pulls it again when the image is gone). */
function pulledRecord(p: ReleasePlan): { pulled?: string } {
  return imageSourceKind(p.source ?? { kind: 'nas' }).record();
}

/**
 * What a failed release does before its fallback comes back: its environment file, and its data when asked.
 * A restore that fails here never stops the fallback: it comes back on the data there is, and says which.
 */
function fallbackShell(r: Renderer, p: ReleasePlan): Shell {
  return lines(
    p.envFile ? putBackEnvFile(r, p.envFile.plan, p.fallback) : undefined,
    restoreOnFallback(r, p.backup, {
      repo: p.repo,
      composeFile: p.target.composeFile,
      container: p.target.container,
      tag: p.tag,
      commit: p.commit,
      fallback: p.fallback,
    }),
    sh`:`,
  );
}

/** The steps of a backend rollback on the NAS. */
export const ROLLBACK_STEPS = {
  recreate: 'Redeploying with the target tag',
  health: 'Waiting for backend to be healthy',
  verify: 'Verifying rollback',
} as const;

/** rollback-backend's detached phase: recreate with the target tag; the tag that ran before is the fallback. */
export interface RollbackValues extends RecreateValues {
  safety?: BackupValues;
  /** A restore failed part way: whether the data of before it was put back from the safety backup. */
  restoreUndone?: boolean;
  /** What the restore did to the data, as far as the phase went (none: no restore, or it never reached the verify). */
  data?: DataOutcome;
  /** The restore went past its verify: it stopped containers and the data may have changed. */
  restoreBegan?: boolean;
  /** The environment file could not take its place after the restore: the recreate never started. */
  envFileFailed?: boolean;
  /** A pulled image refused for its platform: the platform its config names. */
  imagePlatform?: string;
}

export function rollbackPhase(
  r: Renderer,
  p: {
    repo: string;
    target: BackendTarget;
    tag: string;
    current: string;
    force: boolean;
    named: boolean;
    /** Data to restore before the recreate, and the label of the safety backup taken first. */
    restore?: { plan: RestorePlan; safety: BackupLabel };
    /** The environment file: written with `content` (recorded by `sha256`), else the target's kept copy put back. */
    envFile?: { plan: EnvFilePlan; content: string; sha256?: string };
    /**
     * The target image is not on the NAS: pull `ref` (image-source: registry) and tag it first, before anything
     * changes; one built for another `platform` than the NAS's is refused.
     */
    pull?: { ref: string; login?: RegistryLogin; authDir: string; platform?: string };
    /** The target ran under another image name (renamed since): that `image:tag` is tagged as the target first. */
    renamed?: string;
    /** What runs now, by id: put back when the target fails (default: the running tag). */
    fallback?: Fallback;
    preRollback?: string;
    postRollback?: string;
  },
): Phase<RollbackValues> {
  const written = p.envFile?.content ? { plan: p.envFile.plan, content: p.envFile.content } : undefined;
  // The file is staged before anything changes; after a restore, one that cannot take its place undoes the
  // restore (through the fallback) rather than leave the backend stopped.
  const installed = written
    ? installEnvFile(
        r,
        written.plan,
        written.content,
        { tag: p.tag, previous: p.current },
        p.restore
          ? sh`nr_value before_failed env-file; nr_before_failed=1`
          : BACKUP_EXIT.exit(BackupExit.EnvFileFailed),
      )
    : p.envFile
      ? putBackEnvFile(r, p.envFile.plan, p.tag)
      : undefined;
  const restoreId = p.restore && typeof p.restore.plan.id === 'string' ? p.restore.plan.id : undefined;
  const env = p.envFile?.sha256 ? { env: p.envFile.sha256 } : {};
  return {
    title: p.restore ? 'Restoring the data and rolling back the backend' : 'Rolling back the backend',
    timeout: p.target.healthTimeout * 2 + 600 + (p.restore ? 6 * 3600 : 0),
    begin: {
      tag: p.tag,
      image: p.target.image,
      previous: p.current,
      ...(p.fallback?.ran ? { ran: p.fallback.ran } : {}),
      detail: p.named ? 'named' : 'previous-release',
      ...(restoreId ? { backup: restoreId } : {}),
      ...env,
    },
    success: env,
    script: recreateBackend(r, {
      repo: p.repo,
      target: p.target,
      tag: p.tag,
      fallback: p.fallback ? p.fallback.tag : p.current,
      ...(p.fallback?.tag && p.fallback.ran ? { fallbackRan: p.fallback.ran } : {}),
      force: p.force || !!p.restore,
      ...(p.preRollback ? { preDeploy: p.preRollback } : {}),
      ...(p.postRollback ? { postDeploy: p.postRollback } : {}),
      hookNames: ROLLBACK_HOOKS,
      steps: new Steps({ ...ROLLBACK_STEPS, recreate: `Setting ${p.target.tagVariable} and redeploying` }),
      // the restore verifies the backup before anything changes; the environment file is staged before it
      beforeRecreate: lines(
        p.renamed ? retag(r, p.renamed, `${p.target.image}:${p.tag}`) : undefined,
        p.pull
          ? pullImage(r, {
              ref: p.pull.ref,
              target: `${p.target.image}:${p.tag}`,
              authDir: p.pull.authDir,
              what: 'the missing image',
              ...(p.pull.login ? { login: p.pull.login } : {}),
              ...(p.pull.platform ? { platform: p.pull.platform } : {}),
            })
          : undefined,
        written ? stageEnvFile(r, written.plan, written.content) : undefined,
        p.restore ? lines(restoreData(r, p.restore.plan, p.restore.safety), restoreOrExit()) : undefined,
        installed,
        putBackTree(r, p.repo, p.tag),
        sh`:`,
      ),
      // the release that ran before comes back on the data it ran with
      ...(p.envFile || p.restore || runnerRootOf(p.repo)
        ? {
            onFallback: lines(
              putBackTree(r, p.repo, p.current),
              p.envFile ? putBackEnvFile(r, p.envFile.plan, p.current) : undefined,
              p.restore ? undoRestore() : undefined,
              sh`:`,
            ),
          }
        : {}),
    }),
    decode: (values) => ({
      ...decodeRecreate(values),
      ...(values.get('safety_id') ? { safety: decodeBackup(values, 'safety') } : {}),
      ...(values.has('backups_b64') ? { backups: decodeListing(values) } : {}),
      ...(values.has('restore_undone') ? { restoreUndone: values.get('restore_undone') === 'yes' } : {}),
      ...decodeDataOutcome(values),
      ...(values.get('restore_began') === 'yes' ? { restoreBegan: true } : {}),
      ...(values.get('before_failed') === 'env-file' ? { envFileFailed: true } : {}),
      ...(values.has('image_platform') ? { imagePlatform: values.get('image_platform') ?? '' } : {}),
    }),
  };
}

/** Tags `from` as `to` before anything changes, or ends the phase as a failed pull would: nothing changed. */
function retag(r: Renderer, from: string, to: string): Shell {
  return sh`${r.change(docker.tag(from, to))} && nr_say ok ${`Tagged ${from} as ${to} (the image was renamed since it ran)`} || { nr_say fail ${`Cannot tag ${from} as ${to}; the running container was not touched`}; ${EXIT.exit(BackendExit.PullFailed)}; }`;
}

/** The ids of images by reference, empty for one the NAS does not have. */
export function imageIds(r: Renderer, refs: readonly string[]): TypedProgram<string[]> {
  return {
    title: 'Looking for the images',
    timeout: 60,
    quiet: true,
    script: lines(
      ...refs.map((ref, i) => sh`nr_value ${`image_id_${i}`} "$(${r.run(docker.imageExists(ref))} 2>/dev/null)"`),
    ),
    decode: (values) => refs.map((_, i) => values.get(`image_id_${i}`) ?? ''),
  };
}

/** What the backend container runs now (`image:tag`, empty without one): asked when a phase's report was cut short. */
export function whatRuns(r: Renderer, container: string): TypedProgram<string> {
  return {
    title: 'Asking what runs now',
    timeout: 60,
    quiet: true,
    script: sh`nr_value running_image "$(${r.run(docker.containerImage(container))} 2>/dev/null)"`,
    decode: (values) => values.get('running_image') ?? '',
  };
}

/** The commit a dated tag was built from, by its short SHA, through git on the NAS. */
export function commitOfTag(r: Renderer, repo: string, shortSha: string): TypedProgram<string> {
  return {
    title: 'Finding the commit of the tag',
    timeout: 60,
    quiet: true,
    script: sh`nr_value commit "$(${r.run(git.revParse(repo, `${shortSha}^{commit}`))})"`,
    decode: (values) => values.get('commit') ?? '',
  };
}

/** What removing images did, tag by tag. */
export interface Removal {
  removed: string[];
  /** Tags docker refused to remove (used by a container, say). */
  kept: string[];
}

/**
 * Removes image tags in one docker call (in one program, whatever their
 * number), then lists what is left, so the log and the outputs count only
 * what was really removed. A dry run removes nothing and reports what would go.
 */
export function removeImages(
  r: Renderer,
  image: string,
  tags: readonly string[],
  pruneDangling: boolean,
): TypedProgram<Removal> {
  return {
    title: 'Removing old images',
    timeout: 1800,
    script: lines(
      tags.length
        ? sh`${r.change(docker.removeImages(tags.map((t) => `${image}:${t}`)))} 2>&1 || nr_say warn 'Some images could not be removed (still used by a container?)'
${inventoryValue(r, image)}`
        : undefined,
      pruneDangling
        ? sh`${r.change(docker.pruneDangling())} >/dev/null && nr_say ok 'Dangling images pruned'`
        : undefined,
      sh`:`,
    ),
    decode: (values) => {
      if (r.dryRun) return { removed: [...tags], kept: [] };
      const left = new Set(decodeInventory(values).map((t) => t.tag));
      return { removed: tags.filter((t) => !left.has(t)), kept: tags.filter((t) => left.has(t)) };
    },
  };
}
