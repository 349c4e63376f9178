import type { RegistryLogin } from '../inputs/image-source.js';
import type { Renderer } from '../remote/command.js';
import type { ObtainPlan } from '../programs/image-sources.js';
import type { Shell } from '../remote/shell.js';

/**
 * What one image source does, wherever a release or a rollback needs its image.
 * Each kind of `image-source` is one module answering this interface, looked up
 * by `imageSourceKind` (table.ts): a new kind is one more module, and the
 * compiler lists what it must answer.
 */
export interface ImageSourceKind {
  /** What the step that obtains the image `ref` says. */
  stepText(ref: string): string;
  /** What the step that obtains the images of a release of several services says (before the list of images). */
  stepTextOfImages(images: number, services: number): string;
  /** The NAS shell that puts `image:tag` on the NAS, or ends the phase with an ImageExit before anything changes. */
  obtain(r: Renderer, plan: ObtainPlan): Shell;
  /**
   * Obtained before the backup and the checkout move: obtaining changes nothing
   * that runs, so a missing tag or an image of another platform is refused first.
   */
  obtainsFirst: boolean;
  /** Several images are obtained at the same time (each its own build); else one after the other. */
  obtainsAtOnce: boolean;
  /**
   * Built on the runner and sent to the NAS before the phase: the first round
   * trip asks the NAS's layers and the image's tags, and the runner adds a step per image.
   */
  sentFromRunner: boolean;
  /** The history's record of where the image came from (`pulled`: the registry tag a rollback pulls again). */
  record(): { pulled?: string };
  /** Shell adding to the history's success record what the release's image is (the digest it was pulled as), or none. */
  digestFields(r: Renderer, ref: string, image: string): Shell | undefined;
  /** The same for the distinct images of a release of several services. */
  digestsFields(r: Renderer, images: readonly string[], tag: string): Shell | undefined;
  /** What a release that ended with an image exit says, naming the image; undefined for the other codes. */
  failure(image: string, tag: string, code: number, platforms?: { image: string; nas: string }): string | undefined;
  /**
   * How a rollback gets back a target image the NAS no longer has, from what
   * the history recorded of its release; undefined: it cannot (the rollback is refused, nothing changed).
   */
  reobtain(o: { image: string; tag: string; pulled?: string; digest?: string; authDir: string }): Reobtain | undefined;
}

/** A target image a rollback pulls again before anything changes, and tags as the target. */
export interface Reobtain {
  /** What is pulled: `image@digest` (what the release ran), else `image:<the tag it was pulled as>`. */
  ref: string;
  login?: RegistryLogin;
  authDir: string;
  /** Where it comes from, for the log. */
  from: string;
}
