import type { ImageSource, RegistryLogin } from '../inputs/image-source.js';
import type { Renderer } from '../remote/command.js';
import { docker } from '../remote/docker.js';
import { exitCodes, type StateQuestions, type TypedProgram } from '../remote/program.js';
import { RECORD_MORE } from '../remote/history.js';
import { Shell, lines, sh } from '../remote/shell.js';

/**
 * Where one image comes from, on the NAS. Each function here is
 * about one image `{ image, tag }`, so a release of several services calls it
 * once for each distinct image.
 */
export const ImageExit = {
  /** repo-path vanished between the state read and the phase. */
  NoCheckout: 30,
  BuildFailed: 33,
  ImageMissingAfterBuild: 34,
  /** `docker login` refused the registry credentials (or could not reach the registry). */
  RegistryLoginFailed: 70,
  /** `docker pull` failed: the tag is missing, or the registry refused it. */
  PullFailed: 71,
  /** The image streamed from the runner is not in the NAS's engine. */
  ImageNotTransferred: 72,
  /** The pulled image is built for another platform than the NAS's (value `image_platform` says which). */
  PlatformMismatch: 73,
} as const;
const EXIT = exitCodes(ImageExit);

/** One image a release needs on the NAS, and where it comes from. */
export interface ObtainPlan {
  image: string;
  /** The dated tag the release runs (YYYY.MM.DD-<sha7>). */
  tag: string;
  source: ImageSource;
  /** `nas`: what the NAS builds from, in its checkout. */
  build: { repo: string; context: string; dockerfile: string };
  /** `registry`: a private DOCKER_CONFIG for the login, removed after the pull (a folder only this release uses). */
  authDir: string;
  /** The NAS's platform (`linux/arm64`), learned in the first round trip: a pulled image of another is refused. */
  platform?: string;
  /** A release of several services: the services that run the image (the log names them). */
  services?: readonly string[];
  /** What a failed build says was not touched (default: the running container). */
  kept?: string;
}

/**
 * Pulls `ref` from the registry and tags it `target`. With credentials,
 * logs in first with a DOCKER_CONFIG of its own (the NAS user's is never
 * touched), the password on `docker login`'s standard input through `printf`,
 * a shell builtin: it is in no process's arguments. Logs out and removes the
 * folder right after the pull, whatever its outcome.
 */
export function pullImage(
  r: Renderer,
  o: { ref: string; target: string; login?: RegistryLogin; authDir: string; what: string; platform?: string },
): Shell {
  const server = o.login?.server ?? '';
  const where = server || 'Docker Hub';
  if (r.dryRun)
    return sh`nr_say info ${`dry-run: would ${o.login ? `log in to ${where} as ${o.login.username}, ` : ''}pull ${o.ref} and tag it ${o.target}`}`;
  const config = o.login ? o.authDir : undefined;
  const login = o.login
    ? sh`rm -rf ${o.authDir}; ( umask 077; mkdir -p ${o.authDir} ) || { nr_say fail ${`Cannot create ${o.authDir}`}; ${EXIT.exit(ImageExit.RegistryLoginFailed)}; }
nr_say info ${`Logging in to ${where} as ${o.login.username}`}
if nr_out=$(printf '%s' ${Buffer.from(o.login.password, 'utf8').toString('base64')} | base64 -d | ${r.change(docker.login({ server, username: o.login.username, config: o.authDir }))} 2>&1); then
  nr_say ok ${`Logged in to ${where}`}
else
  printf '%s\\n' "$nr_out"; rm -rf ${o.authDir}
  nr_say fail ${`Logging in to ${where} as ${o.login.username} failed (check registry-username and registry-password) before pulling ${o.ref}; the running container was not touched`}
  ${EXIT.exit(ImageExit.RegistryLoginFailed)}
fi`
    : sh`:`;
  const logout = o.login
    ? sh`${r.change(docker.logout({ server, config: o.authDir }))} >/dev/null 2>&1 || true
rm -rf ${o.authDir}`
    : sh`:`;
  return sh`${login}
nr_say group ${`docker pull ${o.ref}`}
if ${r.change(docker.pull(o.ref, config))} 2>&1; then nr_pulled=1; else nr_pulled=0; fi
nr_say endgroup
${logout}
if [ "$nr_pulled" = 0 ]; then
  nr_say fail ${`Pulling ${o.ref} failed (is the tag pushed, and may ${o.login ? o.login.username : 'an anonymous user'} read it?); the running container was not touched`}
  ${EXIT.exit(ImageExit.PullFailed)}
fi
${o.platform ? platformCheck(r, o.ref, o.platform) : sh`:`}
${r.change(docker.tag(o.ref, o.target))} || { nr_say fail ${`Cannot tag ${o.ref} as ${o.target}`}; ${EXIT.exit(ImageExit.PullFailed)}; }
nr_say ok ${`Pulled ${o.what} ${o.ref}, tagged ${o.target}`}`;
}

/** An image name as docker writes it in RepoDigests (Docker Hub's host and `library/` left out). */
function asDockerNames(image: string): string {
  return image.replace(/^(docker\.io|index\.docker\.io)\//, '').replace(/^library\//, '');
}

/** A digest as the history may hold it: `sha256:` and 64 hex digits. */
export const DIGEST = /^sha256:[0-9a-f]{64}$/;

/** Shell that sets nr_pd to the digest `ref` was pulled as from `image`'s repository ('' when none, or not sha256 and hex). */
function digestOf(r: Renderer, ref: string, image: string): Shell {
  return sh`nr_pd=$(${r.run(docker.repoDigests(ref))} 2>/dev/null | awk -v r=${`${asDockerNames(image)}@`} 'index($0, r) == 1 { print substr($0, length(r) + 1); exit }')
case $nr_pd in sha256:*[!0-9a-f]*) nr_pd= ;; sha256:?*) ;; *) nr_pd= ;; esac`;
}

/**
 * Shell that sets RECORD_MORE (history.ts) to the digest `ref` was pulled as
 * from `image`'s repository, for the history: a rollback pulls that digest,
 * never the tag again (a tag moves: `latest`, a branch, a re-pushed version).
 */
export function pulledDigestFields(r: Renderer, ref: string, image: string): Shell {
  return sh`${digestOf(r, ref, image)}
[ -z "$nr_pd" ] || ${new Shell(RECORD_MORE)}=',"digest":"'"$nr_pd"'"'`;
}

/** The same for the images of a release of several services: `digests`, by image. */
export function pulledDigestsFields(r: Renderer, images: readonly string[], tag: string): Shell {
  return lines(
    sh`nr_pds=`,
    ...images.map(
      (image) => sh`${digestOf(r, `${image}:${tag}`, image)}
[ -z "$nr_pd" ] || nr_pds="$nr_pds",${`${JSON.stringify(image)}:"`}"$nr_pd"'"'`,
    ),
    sh`[ -z "$nr_pds" ] || ${new Shell(RECORD_MORE)}=',"digests":{'"\${nr_pds#,}"'}'`,
  );
}

/**
 * Refuses a pulled image built for another platform than the NAS's (it would
 * start with `exec format error`), before it is tagged: the image's config
 * names its OS, architecture and variant. A variant is compared only when both name one.
 */
function platformCheck(r: Renderer, ref: string, nas: string): Shell {
  const [os = '', arch = '', variant = ''] = nas.split('/');
  return sh`nr_img_pf=$(${r.run(docker.imagePlatform(ref))} 2>/dev/null)
nr_img_v=\${nr_img_pf#*/*/}; [ "$nr_img_v" != "$nr_img_pf" ] || nr_img_v=
case "$nr_img_pf" in
  ${`${os}/${arch}`}|${`${os}/${arch}/`}*) nr_pf_ok=1 ;;
  *) nr_pf_ok=0 ;;
esac
[ -z "$nr_img_v" ] || [ -z ${variant} ] || [ "$nr_img_v" = ${variant} ] || nr_pf_ok=0
if [ "$nr_pf_ok" = 0 ]; then
  nr_value image_platform "$nr_img_pf"
  nr_say fail "The image "${ref}" is built for \${nr_img_pf:-an unknown platform}, but the NAS runs "${nas}": push an image for "${nas}" (docker buildx build --platform "${nas}"); the running container was not touched"
  ${EXIT.exit(ImageExit.PlatformMismatch)}
fi
nr_say ok "The image is built for $nr_img_pf, as the NAS runs"`;
}

/** The layer chains of the images on the NAS: what a stream from the runner may leave out. */
export interface NasLayers {
  /** Each image's diff IDs, base layer first. */
  chains: string[][];
}

/** The value line the layer question prints, and its decoding (one line per image, diff IDs space-separated). */
export function nasLayersScript(r: Renderer): Shell {
  return sh`nr_ids=$(${r.run(docker.imageIds())} 2>/dev/null | sort -u)
if [ -n "$nr_ids" ]; then nr_value nas_layers_b64 "$(${r.run(docker.imageLayers([]))} $nr_ids 2>/dev/null | base64 | tr -d '\\n')"; fi`;
}
export function decodeNasLayers(values: ReadonlyMap<string, string>): NasLayers {
  const text = Buffer.from(values.get('nas_layers_b64') ?? '', 'base64').toString();
  return {
    chains: text
      .split('\n')
      .map((l) => l.trim().split(/\s+/).filter(Boolean))
      .filter((c) => c.length > 0),
  };
}

/** The layers on the NAS, asked alone (a state question of a flow that needs nothing else). */
export function nasLayersQuestion(): StateQuestions<NasLayers> {
  return { script: (r) => nasLayersScript(r), decode: decodeNasLayers };
}

/**
 * Loads an image archive (docker save's tar, gzip-compressed) from standard
 * input into the NAS's engine: `gunzip | docker load`, no file. Reports
 * whether `ref` is there afterwards.
 */
export function loadImage(r: Renderer, ref: string): TypedProgram<{ loaded: boolean }> {
  return {
    title: 'Loading the image into the NAS',
    timeout: 6 * 3600,
    script: sh`( gunzip -c || { echo 'gunzip: the stream from the runner is cut or corrupt' >&2; exit 1; } ) | ${r.change(docker.load())} 2>&1 || { nr_say fail 'docker load failed on the NAS'; ${EXIT.exit(ImageExit.ImageNotTransferred)}; }
if ${r.run(docker.imageExists(ref))} >/dev/null 2>&1; then nr_value loaded yes; else nr_say fail ${`docker load ended, but ${ref} is not on the NAS`}; ${EXIT.exit(ImageExit.ImageNotTransferred)}; fi`,
    decode: (values) => ({ loaded: values.get('loaded') === 'yes' }),
  };
}
