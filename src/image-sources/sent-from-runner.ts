import { docker } from '../remote/docker.js';
import { exitCodes } from '../remote/program.js';
import { sh } from '../remote/shell.js';
import { ImageExit } from '../programs/image-sources.js';
import type { ImageSourceKind } from './kind.js';

const EXIT = exitCodes(ImageExit);

/**
 * `image-source: runner`: the runner builds the image with its docker and
 * streams it into the NAS's engine before the phase (release/backend/image-from-runner.ts);
 * the phase checks it arrived. A rollback cannot build an image that is gone.
 */
export function sentFromRunner(): ImageSourceKind {
  return {
    stepText: (ref) => `Checking backend image from the runner (${ref})`,
    stepTextOfImages: (images, services) => `Checking ${images} image(s) for ${services} service(s) from the runner`,
    obtainsFirst: false,
    obtainsAtOnce: false,
    sentFromRunner: true,
    obtain(r, p) {
      const ref = `${p.image}:${p.tag}`;
      return sh`if ${r.run(docker.imageExists(ref))} >/dev/null 2>&1; then nr_say ok ${`Image ${ref} is on the NAS (built on the runner)`}
else ${r.dryRun ? sh`nr_say info 'dry-run: the image was not sent'` : sh`nr_say fail ${`Image ${ref} is not on the NAS: the stream from the runner did not deliver it`}; ${EXIT.exit(ImageExit.ImageNotTransferred)}`}; fi`;
    },
    record: () => ({}),
    digestFields: () => undefined,
    digestsFields: () => undefined,
    failure: (image, tag, code) =>
      code === ImageExit.ImageNotTransferred
        ? `the image ${image}:${tag} built on the runner is not on the NAS`
        : undefined,
    reobtain: () => undefined,
  };
}
