import type { ImageSource } from '../inputs/image-source.js';
import { ImageExit, pullImage, pulledDigestFields, pulledDigestsFields } from '../programs/image-sources.js';
import type { ImageSourceKind } from './kind.js';

/**
 * `image-source: registry`: the workflow pushed `image:tag`; the NAS pulls it
 * (always: a re-run pulls what the workflow pushed), checks its platform and
 * tags it with the dated tag. The history keeps the tag and the digest it was
 * pulled as, so a rollback whose image is gone pulls that digest again.
 */
export function pulledFromRegistry(source: Extract<ImageSource, { kind: 'registry' }>): ImageSourceKind {
  const login = source.login;
  return {
    stepText: (ref) => `Pulling backend image (${ref})`,
    stepTextOfImages: (images, services) =>
      `Pulling ${images} image(s) for ${services} service(s) from the registry, tag ${source.tag}`,
    // a pull changes nothing that runs
    obtainsFirst: true,
    obtainsAtOnce: false,
    sentFromRunner: false,
    obtain: (r, p) =>
      pullImage(r, {
        ref: `${p.image}:${source.tag}`,
        target: `${p.image}:${p.tag}`,
        authDir: p.authDir,
        what: 'image',
        ...(login ? { login } : {}),
        ...(p.platform ? { platform: p.platform } : {}),
      }),
    record: () => ({ pulled: source.tag }),
    digestFields: (r, ref, image) => pulledDigestFields(r, ref, image),
    digestsFields: (r, images, tag) => pulledDigestsFields(r, images, tag),
    failure(image, _tag, code, platforms) {
      const pulled = `${image}:${source.tag}`;
      if (code === ImageExit.RegistryLoginFailed)
        return `logging in to ${login?.server || 'Docker Hub'} as ${login?.username ?? '?'} failed, so ${pulled} was not pulled: check registry-username and registry-password (and that the NAS reaches the registry)`;
      if (code === ImageExit.PullFailed)
        return `pulling ${pulled} failed: the tag is missing from the registry, or the registry refused it (is image-tag the tag the workflow pushed?)`;
      if (code === ImageExit.PlatformMismatch)
        return `the image ${pulled} is built for ${platforms?.image || 'an unknown platform'}, but the NAS runs ${platforms?.nas || 'another'}: push an image built for ${platforms?.nas || "the NAS's platform"} (docker buildx build --platform ${platforms?.nas || '<platform>'}, or a multi-platform image)`;
      return undefined;
    },
    reobtain(o) {
      const tagged = `${o.image}:${o.pulled ?? o.tag}`;
      // the digest it was released with: its tag may name other content by now
      const ref = o.digest ? `${o.image}@${o.digest}` : tagged;
      return {
        ref,
        authDir: o.authDir,
        ...(login ? { login } : {}),
        from: o.digest
          ? `the registry (${tagged}) by the digest it was released with (${ref})`
          : `the registry (${ref})`,
      };
    },
  };
}
