import { docker } from '../remote/docker.js';
import { exitCodes } from '../remote/program.js';
import { sh } from '../remote/shell.js';
import { ImageExit } from '../programs/image-sources.js';
import type { ImageSourceKind } from './kind.js';

const EXIT = exitCodes(ImageExit);

/**
 * `image-source: nas` (the default): the image is built on the NAS from its
 * checkout at the released commit, reused when it exists (a re-run, or this
 * commit released today). A rollback cannot build an image that is gone.
 */
export function builtOnNas(): ImageSourceKind {
  return {
    stepText: (ref) => `Building backend image (${ref})`,
    stepTextOfImages: (images, services) => `Getting ${images} image(s) for ${services} service(s)`,
    obtainsFirst: false,
    obtainsAtOnce: true,
    sentFromRunner: false,
    obtain(r, p) {
      const ref = `${p.image}:${p.tag}`;
      const build = r.change(
        docker.build({ image: p.image, tag: p.tag, context: p.build.context, dockerfile: p.build.dockerfile }),
      );
      // an image of several services says which, and is checked at once: they are built side by side
      if (p.services)
        return sh`if ${r.run(docker.imageExists(ref))} >/dev/null 2>&1; then
  nr_say ok ${`Image ${ref} already exists (for ${p.services.join(', ')}): reusing it`}
else
  nr_say group ${`docker build ${ref} (for ${p.services.join(', ')})`}
  ${build} 2>&1 || { nr_rc=$?; nr_say endgroup; nr_say fail ${`Build of ${ref} failed`}" (exit $nr_rc); no container was touched"; ${EXIT.exit(ImageExit.BuildFailed)}; }
  nr_say endgroup
  nr_say ok ${`Image ${ref} built`}
fi
if ${r.run(docker.imageExists(ref))} >/dev/null 2>&1; then :
else ${r.dryRun ? sh`nr_say info ${`dry-run: ${ref} was not built`}` : sh`nr_say fail ${`Image ${ref} is missing after the build`}; ${EXIT.exit(ImageExit.ImageMissingAfterBuild)}`}; fi`;
      return sh`cd ${p.build.repo} || ${EXIT.exit(ImageExit.NoCheckout)}
if ${r.run(docker.imageExists(ref))} >/dev/null 2>&1; then
  nr_say ok ${`Image ${ref} already exists (this commit was deployed today, or this is a re-run): reusing it`}
else
  nr_say group ${`docker build ${ref}`}
  ${build} 2>&1 || { nr_rc=$?; nr_say endgroup; nr_say fail "Build failed (exit $nr_rc); "${p.kept ?? 'the running container was not touched'}; ${EXIT.exit(ImageExit.BuildFailed)}; }
  nr_say endgroup
  nr_say ok 'Image built'
fi`;
    },
    record: () => ({}),
    digestFields: () => undefined,
    digestsFields: () => undefined,
    failure: () => undefined,
    reobtain: () => undefined,
  };
}
