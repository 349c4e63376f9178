import type { RunnerRelease } from './checkout.js';
import { Shell, sh } from '../remote/shell.js';

/**
 * Questions of a release's first round trip that catch, before anything
 * changes, what would otherwise fail after the checkout moved: the NAS's
 * platform (an image of another architecture starts with `exec format error`),
 * and the compose file's contract with the release (its services exist and
 * read the tag variable; with blue-green, the colours can run side by side),
 * checked on the commit being released.
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
  /** blue-green: the two colours run the service side by side, told apart by COLOR and this port variable. */
  blueGreen?: { portVariable: string };
}

/**
 * The compose preflight, run after the fetch: the commit's compose file (git
 * show; the work tree is not touched), sent back base64 as `compose_b64`, or
 * `compose_error missing`. The runner reads it: no compose runs on the NAS,
 * which cost the release a third of a second. Sent once the background
 * questions have ended, as a long value line could tear another.
 */
export function composeQuestion(c: Omit<ComposeContract, 'services'>): Shell {
  // project-source: runner: the runner's own file, echoed into the answers (the NAS has no git to show it)
  if (c.content !== undefined)
    return c.content
      ? sh`wait
nr_value compose_b64 ${c.content}`
      : sh`wait
nr_value compose_error missing`;
  return sh`if nr_pf_b64=$(nr_git -C ${c.repo} show ${`${c.rev}:${c.file}`} 2>/dev/null); then
  nr_pf_b64=$(printf '%s\n' "$nr_pf_b64" | base64 | tr -d '\n')
else
  nr_pf_b64=-
fi
wait
if [ "$nr_pf_b64" = - ]; then nr_value compose_error missing; else nr_value compose_b64 "$nr_pf_b64"; fi`;
}

/** What the first round trip brought of the compose file. */
export type ComposeText =
  | { read: 'text'; text: string }
  | { read: 'missing' }
  /** Not asked (a dry run of nothing), or the NAS never answered. */
  | { read: 'unknown' };

export function decodeCompose(values: ReadonlyMap<string, string>): ComposeText {
  if (values.get('compose_error') === 'missing') return { read: 'missing' };
  const b64 = values.get('compose_b64');
  if (b64 === undefined) return { read: 'unknown' };
  return { read: 'text', text: Buffer.from(b64, 'base64').toString('utf8') };
}

/** What a service's settings read: its image, its container name, its published ports, and every variable. */
export interface ServiceFacts {
  /** The image as written, '' without one. */
  image: string;
  /** Variables the image reads. */
  imageReads: ReadonlySet<string>;
  /** Variables any of its settings read. */
  reads: ReadonlySet<string>;
  /** container_name as written, '' without one. */
  containerName: string;
  /** Each `ports` entry as written (long syntax as `published:target`), with the variables it reads. */
  ports: readonly { text: string; published: string; target: string; reads: ReadonlySet<string> }[];
  /** Built by `extends` on another service: what it inherits is not seen here. */
  extends: boolean;
}

/** What the compose preflight found in the file. */
export type ComposeFindings =
  | { read: 'ok'; services: ReadonlyMap<string, ServiceFacts>; includes: boolean }
  | { read: 'missing' }
  | { read: 'unreadable'; error: string }
  | { read: 'unknown' };

/** The variables a compose value reads (`$VAR`, `${VAR}`, `${VAR:-x}`…); `$$` is a literal dollar. */
export function variablesIn(text: string): Set<string> {
  return new Set([...text.replace(/\$\$/g, '').matchAll(/\$\{?([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]));
}

function text(value: unknown): string {
  return typeof value === 'string' || typeof value === 'number' ? String(value) : '';
}

function portsOf(value: unknown): ServiceFacts['ports'] {
  if (!Array.isArray(value)) return [];
  return value.map((entry: unknown) => {
    if (entry && typeof entry === 'object') {
      const long = entry as Record<string, unknown>;
      const published = text(long.published);
      const target = text(long.target);
      return { text: `${published}:${target}`, published, target, reads: variablesIn(JSON.stringify(long)) };
    }
    // [host_ip:][published:]target[/protocol]; an IPv6 host address is in brackets
    const written = text(entry);
    const parts = written
      .replace(/^\[[^\]]*\]:/, 'ip:')
      .replace(/\/\w+$/, '')
      .split(':');
    const target = parts.at(-1) ?? '';
    const published = parts.length > 1 ? (parts.at(-2) ?? '') : '';
    return { text: written, published, target, reads: variablesIn(written) };
  });
}

let yaml: Promise<typeof import('yaml')> | undefined;
/** The YAML parser, loaded once; the preflight starts loading it while the first round trip is on the way. */
function yamlParser(): Promise<typeof import('yaml')> {
  yaml ??= import('yaml');
  return yaml;
}

/**
 * Reads the compose file's services as written, with the YAML parser loaded
 * only here (the release needs it for this one check; the other bundles' paths
 * never load it). Merge keys (`<<: *base`) are applied.
 */
export async function readComposeFile(found: ComposeText): Promise<ComposeFindings> {
  if (found.read !== 'text') return found;
  const { parse } = await yamlParser();
  let doc: unknown;
  try {
    doc = parse(found.text, { merge: true, maxAliasCount: 1000 });
  } catch (err) {
    return { read: 'unreadable', error: (err as Error).message.split('\n')[0] };
  }
  const root = doc && typeof doc === 'object' ? (doc as Record<string, unknown>) : {};
  const services = new Map<string, ServiceFacts>();
  const listed = root.services && typeof root.services === 'object' ? (root.services as Record<string, unknown>) : {};
  for (const [name, value] of Object.entries(listed)) {
    const s = value && typeof value === 'object' ? (value as Record<string, unknown>) : {};
    const image = text(s.image);
    services.set(name, {
      image,
      imageReads: variablesIn(image),
      reads: variablesIn(JSON.stringify(s)),
      containerName: text(s.container_name),
      ports: portsOf(s.ports),
      extends: s.extends !== undefined,
    });
  }
  return { read: 'ok', services, includes: root.include !== undefined };
}

/**
 * What the compose file at the released commit gets wrong, one sentence each,
 * with the line to add; empty when it keeps the contract. What the file takes
 * from elsewhere (`include`, `extends`) is not refused here: compose reads it
 * at the release.
 */
export function composeProblems(
  found: ComposeFindings,
  c: Pick<ComposeContract, 'file' | 'services' | 'blueGreen'> & { commit: string; image: (service: string) => string },
): string[] {
  const at = `${c.file} at ${c.commit.slice(0, 7)}`;
  if (found.read === 'missing')
    return [`${at} does not exist: set compose-file to the compose file of the commit being released`];
  if (found.read !== 'ok') return [];
  const problems: string[] = [];
  const names = [...found.services.keys()];
  for (const [i, s] of c.services.entries()) {
    const wanted = `image: ${c.image(s.name)}:\${${s.tagVariable}}`;
    const facts = found.services.get(s.name);
    if (!facts) {
      if (!found.includes)
        problems.push(
          `${at} has no service ${s.name} (its services: ${names.join(', ') || 'none'}): add it, with the line \`${wanted}\`, or name one of its services`,
        );
      continue;
    }
    if (!facts.imageReads.has(s.tagVariable) && !(facts.extends && !facts.image))
      problems.push(
        `in ${at}, service ${s.name}'s image ${facts.image ? `(${facts.image}) ` : ''}does not read ${s.tagVariable}, so the release would not run the image it made: write the line \`${wanted}\` in service ${s.name}`,
      );
    if (c.blueGreen && !facts.extends)
      // the proxy routes to the first service only: the others need not listen on the colour's port
      problems.push(...colorProblems(`in ${at}, service ${s.name}`, facts, c.blueGreen.portVariable, i === 0));
  }
  return problems;
}

/**
 * blue-green runs the service twice, a compose project per colour: what must
 * differ between the colours (the container's name, the host port, the port
 * the application listens on) has to read COLOR or the port variable.
 */
function colorProblems(where: string, facts: ServiceFacts, port: string, proxied: boolean): string[] {
  const differs = (reads: ReadonlySet<string>): boolean => reads.has('COLOR') || reads.has(port);
  const problems: string[] = [];
  if (facts.containerName && !differs(variablesIn(facts.containerName)))
    problems.push(
      `${where}'s container_name (${facts.containerName}) is the same for both colours, so the idle colour cannot start beside the live one: write the line \`container_name: ${facts.containerName}-\${COLOR}\``,
    );
  for (const p of facts.ports)
    if (p.published && !differs(p.reads))
      problems.push(
        `${where} publishes host port ${p.published} for both colours (\`${p.text}\`), so the idle colour cannot start beside the live one: write it \`- "\${${port}}:${p.target}"\``,
      );
  if (proxied && !facts.reads.has(port) && !facts.ports.some((p) => p.published && !differs(p.reads)))
    problems.push(
      `${where} does not read ${port}, so both colours would listen on one port and the proxy could not tell them apart: ${
        facts.ports.length
          ? `publish the colour's port with the line \`- "\${${port}}:${facts.ports[0].target}"\` under ports`
          : `write the line \`${port}: \${${port}}\` under its environment and listen on that port`
      }`,
    );
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
  compose: ComposeText;
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
  // loaded beside the round trip, not after it; a failure to load is met where the file is read
  if (plan) yamlParser().catch(() => undefined);
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
