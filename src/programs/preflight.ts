import type { RunnerRelease } from './checkout.js';
import type { ComposeChoice } from '../inputs/connection.js';
import { Shell, sh } from '../remote/shell.js';

/**
 * Questions of a release's first round trip that catch, before anything
 * changes, what would otherwise fail after the checkout moved: the NAS's
 * platform (an image of another architecture starts with `exec format error`),
 * and the compose file's contract with the release (its services exist and
 * read the tag variable), checked on the commit being released.
 */

/** The NAS's platform as docker names it (`linux/amd64`, `linux/arm64`, `linux/arm/v7`); '' when unknown. */
export function platformOf(dockerOsArch: string, machine: string): string {
  const [os = '', arch = ''] = dockerOsArch.trim().split('/');
  if (os && arch) {
    // docker reports 32-bit ARM without its variant: the kernel's machine name has it
    if (arch === 'arm') return `${os}/arm/${/^armv6/.test(machine.trim()) ? 'v6' : 'v7'}`;
    return `${os}/${arch}`;
  }
  const byMachine: Record<string, string> = {
    x86_64: 'linux/amd64',
    amd64: 'linux/amd64',
    aarch64: 'linux/arm64',
    arm64: 'linux/arm64',
    armv7l: 'linux/arm/v7',
    armv8l: 'linux/arm/v7',
    armv6l: 'linux/arm/v6',
    i686: 'linux/386',
  };
  return byMachine[machine.trim()] ?? '';
}

/** Whether an image of `image` runs on `nas` (both `os/arch[/variant]`; a variant is compared only when both name one). */
export function samePlatform(image: string, nas: string): boolean {
  const [io, ia, iv] = image.split('/');
  const [no, na, nv] = nas.split('/');
  return io === no && ia === na && (!iv || !nv || iv === nv);
}

/** Asks the engine's platform (beside the other questions): value `nas_platform`. */
export function platformQuestion(): Shell {
  return sh`( nr_value nas_platform "$(nr_docker version --format '{{.Server.Os}}/{{.Server.Arch}}' 2>/dev/null | head -n 1) $(uname -m 2>/dev/null)" ) &`;
}

export function decodePlatform(values: ReadonlyMap<string, string>): string {
  const [osArch = '', machine = ''] = (values.get('nas_platform') ?? '').trim().split(/\s+/);
  return platformOf(osArch.includes('/') ? osArch : '', osArch.includes('/') ? machine : osArch);
}

/** What the compose preflight checks: each service the release touches, and the variable its image must read. */
export interface ComposeContract {
  repo: string;
  /** Relative to repo. */
  file: string;
  /** The revision whose compose file is checked (the commit being released). */
  rev: string;
  /** project-source: runner: the file itself (base64), read from the runner's checkout, as the NAS has no git. */
  content?: string;
  services: readonly { name: string; tagVariable: string }[];
  compose: ComposeChoice;
}

/** A value of the tag variable no real tag has, by variable, so the check sees which one an image reads. */
export function sentinelOf(variable: string): string {
  return `nas-release-preflight-${variable.toLowerCase().replace(/[^a-z0-9]/g, '')}`;
}

/**
 * The compose preflight, run after the fetch: the commit's compose file (git
 * show, into a temporary file; the work tree is not touched) through `compose
 * config` with each tag variable set to its sentinel, in the checkout's folder
 * so relative paths and `.env` resolve as they will. Runs in the background;
 * reports `compose_images` (`service=image` words) or `compose_error`.
 * Compose is run without sudo: `config` reads files only.
 */
export function composeQuestion(c: ComposeContract): Shell {
  const dir = c.file.includes('/') ? c.file.slice(0, c.file.lastIndexOf('/')) : '.';
  const variables = [...new Set(c.services.map((s) => s.tagVariable))];
  for (const v of variables) if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(v)) throw new Error(`not a variable name: ${v}`);
  // exported in the subshell: `env` cannot run the nr_docker function
  const env = variables.map((v) => sh`${new Shell(v)}=${sentinelOf(v)}; export ${new Shell(v)}`);
  const v2 = sh`nr_docker compose --project-directory "$nr_pf_dir" --file "$nr_pf_tmp" config`;
  const v1 = sh`docker-compose --project-directory "$nr_pf_dir" --file "$nr_pf_tmp" config`;
  const run =
    c.compose === 'docker compose'
      ? v2
      : c.compose === 'docker-compose'
        ? v1
        : sh`if nr_docker compose version >/dev/null 2>&1; then ${v2}; else ${v1}; fi`;
  return sh`(
nr_pf_dir=${c.repo}/${dir}
nr_pf_tmp=$(mktemp "\${TMPDIR:-/tmp}/nas-release-compose.XXXXXX") || exit 0
if ! ${c.content !== undefined ? (c.content ? sh`printf '%s' ${c.content} | base64 -d` : sh`false`) : sh`nr_git -C ${c.repo} show ${`${c.rev}:${c.file}`}`} > "$nr_pf_tmp" 2>/dev/null; then
  nr_value compose_error missing
elif nr_pf_out=$(cd "$nr_pf_dir" && ${new Shell(env.map((e) => e.text).join('; '))}; ${run} 2>&1); then
  nr_value compose_images "$(printf '%s\\n' "$nr_pf_out" | awk '
    /^[^ #]/ { top = $0; next }
    top != "services:" { next }
    /^  [^ #][^:]*:[ ]*$/ { svc = $1; sub(/:$/, "", svc); printf "%s=\\n", svc; next }
    /^    image:/ { img = $0; sub(/^    image:[ ]*/, "", img); printf "%s=%s\\n", svc, img }
  ' | tr -d "\\"'" | tr '\\n' ' ')"
else
  nr_value compose_error "unreadable: $(printf '%s' "$nr_pf_out" | tr '\\n' ' ' | head -c 400)"
fi
rm -f "$nr_pf_tmp"
) &`;
}

/** What the compose preflight found. */
export type ComposeFindings =
  | { read: 'ok'; images: ReadonlyMap<string, string> }
  | { read: 'missing' }
  | { read: 'unreadable'; error: string }
  /** Not asked (a dry run of nothing), or the NAS never answered. */
  | { read: 'unknown' };

export function decodeCompose(values: ReadonlyMap<string, string>): ComposeFindings {
  const error = values.get('compose_error');
  if (error === 'missing') return { read: 'missing' };
  if (error !== undefined) return { read: 'unreadable', error: error.replace(/^unreadable: /, '') };
  const listed = values.get('compose_images');
  if (listed === undefined) return { read: 'unknown' };
  const images = new Map<string, string>();
  for (const word of listed.split(/\s+/).filter(Boolean)) {
    const at = word.indexOf('=');
    const service = word.slice(0, at);
    const image = word.slice(at + 1);
    // a service's name line comes first (empty), its image after it
    if (image || !images.has(service)) images.set(service, image);
  }
  return { read: 'ok', images };
}

/**
 * What the compose file at the released commit gets wrong, one sentence each,
 * with the line to add; empty when it keeps the contract. A file compose could
 * not read is not refused here (it may need the environment file this release
 * writes): the release says so and goes on.
 */
export function composeProblems(
  found: ComposeFindings,
  c: Pick<ComposeContract, 'file' | 'services'> & { commit: string; image: (service: string) => string },
): string[] {
  const at = `${c.file} at ${c.commit.slice(0, 7)}`;
  if (found.read === 'missing')
    return [`${at} does not exist: set compose-file to the compose file of the commit being released`];
  if (found.read !== 'ok') return [];
  const problems: string[] = [];
  const names = [...found.images.keys()];
  for (const s of c.services) {
    const wanted = `image: ${c.image(s.name)}:\${${s.tagVariable}}`;
    if (!found.images.has(s.name)) {
      problems.push(
        `${at} has no service ${s.name} (its services: ${names.join(', ') || 'none'}): add it, with the line \`${wanted}\`, or name one of its services`,
      );
      continue;
    }
    const image = found.images.get(s.name) ?? '';
    if (!image.includes(sentinelOf(s.tagVariable)))
      problems.push(
        `in ${at}, service ${s.name}'s image ${image ? `(${image.replace(sentinelOf(s.tagVariable), `\${${s.tagVariable}}`)}) ` : ''}does not read ${s.tagVariable}, so the release would not run the image it made: write the line \`${wanted}\` in service ${s.name}`,
      );
  }
  return problems;
}

/** project-source: runner: the compose file shipped from the runner; absent there, it is missing. */
function runnerContent(file: string, runner: RunnerRelease | undefined): { content?: string } {
  return runner ? { content: runner.files?.[file] ?? '' } : {};
}

/** What the preflight checks: the compose file's contract (the platform is always asked). */
export type PreflightPlan = Omit<ComposeContract, 'rev'>;

/** What the first round trip learned for the preflight (a field is absent when the NAS did not answer it). */
export interface PreflightState {
  /** The NAS's platform (`linux/arm64`). */
  platform: string;
  compose: ComposeFindings;
}

/**
 * The preflight's questions in a state script: the platform beside everything
 * (`before`), the compose file of the fetched commit once the fetch is done (`after`).
 */
export function preflightQuestions(
  plan: PreflightPlan | undefined,
  checkout: { remote: string; branch: string; ref: string; runner?: RunnerRelease },
): { before: Shell; after: Shell; decode: (values: ReadonlyMap<string, string>) => Partial<PreflightState> } {
  const rev = checkout.ref || `refs/remotes/${checkout.remote}/${checkout.branch}`;
  return {
    before: platformQuestion(),
    after: plan ? composeQuestion({ ...plan, rev, ...runnerContent(plan.file, checkout.runner) }) : sh`:`,
    decode: (values) => {
      const platform = decodePlatform(values);
      const compose = decodeCompose(values);
      return { ...(platform ? { platform } : {}), ...(compose.read !== 'unknown' ? { compose } : {}) };
    },
  };
}
