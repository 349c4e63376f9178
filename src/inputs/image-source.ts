import { InputError, PATTERNS, type InputReader } from './reader.js';

/** Credentials for `docker login` on the NAS (the password goes on its standard input, never on a command line). */
export interface RegistryLogin {
  /** The server as `docker login` takes it; empty: Docker Hub. */
  server: string;
  username: string;
  password: string;
}

/**
 * Where a release's image comes from. Whatever the source, the NAS
 * ends up with `image:YYYY.MM.DD-<sha7>`, so rollback and cleanup do not care.
 * - `nas`: built on the NAS from its checkout (the default, as before);
 * - `registry`: `image:tag` pulled on the NAS (a rollback pulls a missing target the same way);
 * - `runner`: built on the runner with its docker and streamed into the NAS's engine over the SSH connection.
 */
export type ImageSource =
  | { kind: 'nas' }
  | { kind: 'registry'; /** The tag the workflow pushed; empty for a rollback. */ tag: string; login?: RegistryLogin }
  | { kind: 'runner' };

export const IMAGE_SOURCES = ['nas', 'registry', 'runner'] as const;

const DOCKER_HUB = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io']);

/** The registry an image name is pulled from, as docker reads the name ('' for Docker Hub). */
export function registryOf(image: string): string {
  const slash = image.indexOf('/');
  if (slash < 0) return '';
  const first = image.slice(0, slash);
  return first.includes('.') || first.includes(':') || first === 'localhost' ? first : '';
}

/**
 * Reads image-source and the registry inputs (and image-tag, on deploy-backend),
 * all of them whatever the source, so a typo fails the day it is written.
 * `image` is the release's image, or each distinct image of a release of
 * several services: the credentials log in to one registry, so with them
 * every image must be on that one (`imagesInput` names the input that lists them).
 */
export function readImageSource(
  r: InputReader,
  image: string | readonly string[],
  opts: { withTag: boolean; imagesInput?: string },
): ImageSource {
  const images = typeof image === 'string' ? [image] : image;
  const kind = r.oneOf('image-source', IMAGE_SOURCES);
  const server = r.matching('registry', PATTERNS.registry, 'a registry host such as ghcr.io or 127.0.0.1:5000');
  const username = r.string('registry-username');
  const password = r.string('registry-password');
  const tag = opts.withTag
    ? r.matching('image-tag', PATTERNS.dockerTag, 'a docker tag (letters, digits, _ . -), such as a commit SHA')
    : '';
  if (kind !== 'registry') {
    refuseRegistryInputs(kind, [
      ['image-tag', tag],
      ['registry', server],
      ['registry-username', username],
      ['registry-password', password],
    ]);
    return { kind };
  }
  if (opts.withTag && !tag)
    throw new InputError('image-tag', 'is required with image-source: registry: the tag the workflow pushed');
  if (password && !username) throw new InputError('registry-username', 'is required when registry-password is given');
  if (username && !password) throw new InputError('registry-password', 'is required when registry-username is given');
  return registrySource(images, { tag, server, username, password }, opts.imagesInput);
}

/** Refuses the first registry input given to a source that pulls from no registry. */
function refuseRegistryInputs(kind: string, inputs: readonly (readonly [string, string])[]): void {
  for (const [name, value] of inputs)
    if (value) throw new InputError(name, `is used only with image-source: registry (image-source is ${kind})`);
}

/** The registry source, once every image is checked to be on the one registry the credentials log in to. */
function registrySource(
  images: readonly string[],
  { tag, server, username, password }: { tag: string; server: string; username: string; password: string },
  imagesInput: string | undefined,
): ImageSource {
  for (const one of images) {
    const named = registryOf(one);
    if (server && !(server === named || (named === '' && DOCKER_HUB.has(server))))
      throw new InputError(
        'registry',
        `is ${server}, but image ${one} is pulled from ${named || 'Docker Hub'}: name the registry in image (such as ${server}/${one.split('/').pop()})`,
      );
  }
  const named = registryOf(images[0] ?? '');
  const elsewhere = images.find((one) => registryOf(one) !== named);
  if (username && elsewhere !== undefined)
    throw new InputError(
      imagesInput ?? 'image',
      `names images on two registries (${images[0]} on ${named || 'Docker Hub'}, ${elsewhere} on ${registryOf(elsewhere) || 'Docker Hub'}), but registry-username and registry-password log in to one: release them from one registry`,
    );
  return {
    kind: 'registry',
    tag,
    ...(username ? { login: { server: named, username, password } } : {}),
  };
}
