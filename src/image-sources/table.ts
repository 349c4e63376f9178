import type { ImageSource } from '../inputs/image-source.js';
import { builtOnNas } from './built-on-nas.js';
import type { ImageSourceKind } from './kind.js';
import { pulledFromRegistry } from './pulled-from-registry.js';
import { sentFromRunner } from './sent-from-runner.js';

export type { ImageSourceKind, Reobtain } from './kind.js';

/** The module of each kind of image-source: the one place that tells the kinds apart. */
export function imageSourceKind(source: ImageSource): ImageSourceKind {
  switch (source.kind) {
    case 'nas':
      return builtOnNas();
    case 'registry':
      return pulledFromRegistry(source);
    case 'runner':
      return sentFromRunner();
    default:
      return unknownKind(source);
  }
}

/** A kind the switch above does not name fails to compile here. */
function unknownKind(source: never): never {
  throw new Error(`unknown image-source ${JSON.stringify((source as { kind: unknown }).kind)}`);
}
