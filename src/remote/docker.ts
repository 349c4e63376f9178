import { command, type Command } from './command.js';

export const docker = {
  /** No --label: on the legacy builder (most NAS engines) each label is one more build step; the tag names the commit. */
  build: (o: { image: string; tag: string; context: string; dockerfile?: string }): Command =>
    command([
      'docker',
      'build',
      '--tag',
      `${o.image}:${o.tag}`,
      ...(o.dockerfile ? ['--file', o.dockerfile] : []),
      o.context,
    ]),
  imageExists: (ref: string): Command => command(['docker', 'image', 'inspect', '--format', '{{.Id}}', ref]),
  /** `Tag Size ID CreatedAt` lines of an image's tags (CreatedAt last: it holds spaces). */
  imageTags: (image: string): Command =>
    command(['docker', 'image', 'ls', image, '--format', '{{.Tag}} {{.Size}} {{.ID}} {{.CreatedAt}}']),
  containerImage: (container: string): Command =>
    command(['docker', 'container', 'inspect', '--format', '{{.Config.Image}}', container]),
  logs: (container: string, lines: number): Command => command(['docker', 'logs', '--tail', String(lines), container]),
  remove: (containers: readonly string[]): Command => command(['docker', 'rm', '-f', ...containers]),
  removeImages: (refs: readonly string[]): Command => command(['docker', 'image', 'rm', ...refs]),
  pruneDangling: (): Command => command(['docker', 'image', 'prune', '--force']),
};

export const compose = {
  /** Recreates one service with the image tag in the variable the compose file reads, never building. */
  up: (o: { file: string; service: string; tagVariable: string; tag: string; force?: boolean }): Command =>
    command(
      [
        'compose',
        '--file',
        o.file,
        'up',
        '--detach',
        '--no-build',
        '--no-deps',
        ...(o.force ? ['--force-recreate'] : []),
        o.service,
      ],
      { [o.tagVariable]: o.tag },
    ),
  down: (file: string): Command => command(['compose', '--file', file, 'down', '--remove-orphans']),
  upAll: (file: string): Command => command(['compose', '--file', file, 'up', '--detach', '--remove-orphans']),
  /** Names of the containers the compose project owns. */
  project: (file: string): Command => command(['compose', '--file', file, 'config', '--services']),
};
