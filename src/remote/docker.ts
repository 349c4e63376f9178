import { change, command, type ChangeCommand, type ReadCommand } from './command.js';

/** The compose project a container belongs to, as the folder it was started from. */
const PROJECT_DIR_LABEL = 'com.docker.compose.project.working_dir';

export const docker = {
  /** No --label: on the legacy builder (most NAS engines) each label is one more build step; the tag names the commit. */
  build: (o: { image: string; tag: string; context: string; dockerfile?: string }): ChangeCommand =>
    change([
      'docker',
      'build',
      '--tag',
      `${o.image}:${o.tag}`,
      ...(o.dockerfile ? ['--file', o.dockerfile] : []),
      o.context,
    ]),
  /** `os/architecture[/variant]` of an image, from its config. */
  imagePlatform: (ref: string): ReadCommand =>
    command(['docker', 'image', 'inspect', '--format', '{{.Os}}/{{.Architecture}}{{with .Variant}}/{{.}}{{end}}', ref]),
  imageExists: (ref: string): ReadCommand => command(['docker', 'image', 'inspect', '--format', '{{.Id}}', ref]),
  /** `Tag Size ID CreatedAt` lines of an image's tags (CreatedAt last: it holds spaces). */
  imageTags: (image: string): ReadCommand =>
    command(['docker', 'image', 'ls', image, '--format', '{{.Tag}} {{.Size}} {{.ID}} {{.CreatedAt}}']),
  containerImage: (container: string): ReadCommand =>
    command(['docker', 'container', 'inspect', '--format', '{{.Config.Image}}', container]),
  /** The id of the image a container runs: what it runs even once no tag names that image any more. */
  containerImageId: (container: string): ReadCommand =>
    command(['docker', 'container', 'inspect', '--format', '{{.Image}}', container]),
  /** `<status> <compose project folder>` of a container: who owns a stack name. */
  containerOwner: (container: string): ReadCommand =>
    command([
      'docker',
      'container',
      'inspect',
      '--format',
      `{{.State.Status}} {{index .Config.Labels "${PROJECT_DIR_LABEL}"}}`,
      container,
    ]),
  /** `<name> <compose project folder>` lines of exited and created containers (the folder may hold spaces). */
  stoppedContainers: (): ReadCommand =>
    command([
      'docker',
      'container',
      'ls',
      '--all',
      '--filter',
      'status=exited',
      '--filter',
      'status=created',
      '--format',
      `{{.Names}} {{.Label "${PROJECT_DIR_LABEL}"}}`,
    ]),
  logs: (container: string, lines: number): ReadCommand =>
    command(['docker', 'logs', '--tail', String(lines), container]),
  remove: (containers: readonly string[]): ChangeCommand => change(['docker', 'rm', '-f', ...containers]),
  removeImages: (refs: readonly string[]): ChangeCommand => change(['docker', 'image', 'rm', ...refs]),
  pruneDangling: (): ChangeCommand => change(['docker', 'image', 'prune', '--force']),
  // Where images come from. Registry credentials live in a private DOCKER_CONFIG of the
  // release's own, never in the NAS user's; the password reaches `login` on its standard input only.
  login: (o: { server: string; username: string; config: string }): ChangeCommand =>
    change(['docker', 'login', '--username', o.username, '--password-stdin', ...(o.server ? [o.server] : [])], {
      DOCKER_CONFIG: o.config,
    }),
  logout: (o: { server: string; config: string }): ChangeCommand =>
    change(['docker', 'logout', ...(o.server ? [o.server] : [])], { DOCKER_CONFIG: o.config }),
  pull: (ref: string, config?: string): ChangeCommand =>
    change(['docker', 'pull', ref], config ? { DOCKER_CONFIG: config } : undefined),
  tag: (source: string, target: string): ChangeCommand => change(['docker', 'tag', source, target]),
  /** `repo@sha256:…` lines: the registry digests an image was pulled (or pushed) as. */
  repoDigests: (ref: string): ReadCommand =>
    command(['docker', 'image', 'inspect', '--format', '{{range .RepoDigests}}{{println .}}{{end}}', ref]),
  /** Reads an image archive (docker save's tar) on standard input. */
  load: (): ChangeCommand => change(['docker', 'load']),
  /** The layer chains (`RootFS.Layers`, space-separated diff IDs) of the images given. */
  imageLayers: (refs: readonly string[]): ReadCommand =>
    command(['docker', 'image', 'inspect', '--format', '{{range .RootFS.Layers}}{{.}} {{end}}', ...refs]),
  /** Every image's ID, for imageLayers. */
  imageIds: (): ReadCommand => command(['docker', 'image', 'ls', '--quiet', '--no-trunc']),
};

/**
 * Recreates services, each tag in the variable its service reads, never building (nor their dependencies); under
 * `project` instead of the name compose derives from the file's folder (a blue-green colour).
 */
function upServices(o: {
  file: string;
  project?: string;
  services: readonly string[];
  env: Record<string, string>;
  force?: boolean;
}): ChangeCommand {
  return change(
    [
      'compose',
      ...(o.project ? ['--project-name', o.project] : []),
      '--file',
      o.file,
      'up',
      '--detach',
      '--no-build',
      '--no-deps',
      ...(o.force ? ['--force-recreate'] : []),
      ...o.services,
    ],
    o.env,
  );
}

export const compose = {
  /** Recreates one service with the image tag in the variable the compose file reads. */
  up: (o: { file: string; service: string; tagVariable: string; tag: string; force?: boolean }): ChangeCommand =>
    upServices({ file: o.file, services: [o.service], env: { [o.tagVariable]: o.tag }, force: o.force }),
  /** Recreates several services at once. */
  upServices,
  down: (file: string): ChangeCommand => change(['compose', '--file', file, 'down', '--remove-orphans']),
  upAll: (file: string): ChangeCommand => change(['compose', '--file', file, 'up', '--detach', '--remove-orphans']),
  /** Names of the containers the compose project owns. */
  project: (file: string): ReadCommand => command(['compose', '--file', file, 'config', '--services']),
};

// --- blue-green: the two colours and the proxy, found through compose's labels ---
/** `docker container ls` of one compose project's service, found by the labels compose gives its containers. */
function serviceContainers(project: string, service: string, options: readonly string[]): ReadCommand {
  return command([
    'docker',
    'container',
    'ls',
    ...options,
    '--filter',
    `label=com.docker.compose.project=${project}`,
    '--filter',
    `label=com.docker.compose.service=${service}`,
  ]);
}
/** Colour-aware commands: a colour is the backend service run under its own compose project. */
export const colors = {
  /** The id of the (newest) container of a compose project's service, running or not. */
  containerOf: (project: string, service: string): ReadCommand =>
    serviceContainers(project, service, ['--all', '--quiet', '--latest']),
  /**
   * `<id> <status> <image> <docker's status text>` of the (newest) container of a compose project's service: one
   * call, as the first questions and the warm check sit on a rollback's critical path. The text carries the health
   * ("Up 2 minutes (healthy)"); the image is the `image:tag` it was made from, or an id once that tag moved.
   */
  containerStateOf: (project: string, service: string): ReadCommand =>
    serviceContainers(project, service, ['--all', '--latest', '--format', '{{.ID}} {{.State}} {{.Image}} {{.Status}}']),
  /** Starts one service under its own project name, the colour and its port in the environment, never building. */
  up: (o: {
    file: string;
    project: string;
    service: string;
    env: Readonly<Record<string, string>>;
    force: boolean;
  }): ChangeCommand =>
    upServices({ file: o.file, project: o.project, services: [o.service], env: { ...o.env }, force: o.force }),
  /** Starts several services under one colour's project: `--no-deps`, so a shared service is never started in it. */
  upServices: (o: {
    file: string;
    project: string;
    services: readonly string[];
    env: Readonly<Record<string, string>>;
    force: boolean;
  }): ChangeCommand =>
    upServices({ file: o.file, project: o.project, services: o.services, env: { ...o.env }, force: o.force }),
  /** Stops and removes several services' containers of one colour's project, and nothing else of it. */
  removeServices: (o: {
    file: string;
    project: string;
    services: readonly string[];
    env: Readonly<Record<string, string>>;
  }): ChangeCommand =>
    change(['compose', '--project-name', o.project, '--file', o.file, 'rm', '--stop', '--force', ...o.services], {
      ...o.env,
    }),
  /** `<service> <id> <state> <image> <status text>` of every container of a compose project, newest first. */
  projectStates: (project: string): ReadCommand =>
    command([
      'docker',
      'container',
      'ls',
      '--all',
      '--filter',
      `label=com.docker.compose.project=${project}`,
      '--format',
      '{{.Label "com.docker.compose.service"}} {{.ID}} {{.State}} {{.Image}} {{.Status}}',
    ]),
  /** Stops and removes one service's container of a project (a colour that no longer serves). */
  remove: (o: {
    file: string;
    project: string;
    service: string;
    env: Readonly<Record<string, string>>;
  }): ChangeCommand =>
    change(['compose', '--project-name', o.project, '--file', o.file, 'rm', '--stop', '--force', o.service], {
      ...o.env,
    }),
  /** Stops a container the way compose would: its own stop signal and timeout (compose's stop_grace_period). */
  stop: (container: string): ChangeCommand => change(['docker', 'container', 'stop', container]),
  /** Removes a stopped container. */
  removeStopped: (container: string): ChangeCommand => change(['docker', 'container', 'rm', container]),
  /** The `image:tag` of every container, running or stopped (a warm colour's image is never removed). */
  imagesInUse: (): ReadCommand => command(['docker', 'container', 'ls', '--all', '--format', '{{.Image}}']),
  /** The id of a compose project's service container while it runs (empty otherwise). */
  runningContainerOf: (project: string, service: string): ReadCommand =>
    serviceContainers(project, service, ['--quiet', '--latest', '--filter', 'status=running']),
};

// --- end blue-green ---
