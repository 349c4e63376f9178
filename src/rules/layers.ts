/**
 * The layers of an image that need not cross to the NAS (image-source:
 * runner): a layer is there when the NAS has an image whose
 * layers start with the same chain (the same diff IDs up to and including
 * it), which is how docker load looks a layer up. Diff IDs without `sha256:`.
 */
export function layersOnNas(image: readonly string[], nasChains: readonly (readonly string[])[]): Set<string> {
  const strip = (d: string): string => d.replace(/^sha256:/, '');
  const prefixes = new Set<string>();
  for (const chain of nasChains) {
    let prefix = '';
    for (const d of chain) {
      prefix += `${strip(d)} `;
      prefixes.add(prefix);
    }
  }
  const present = new Set<string>();
  const missing = new Set<string>();
  let prefix = '';
  for (const d of image.map(strip)) {
    prefix += `${d} `;
    (prefixes.has(prefix) ? present : missing).add(d);
  }
  // A blob that one position needs cannot be left out for another that has it.
  for (const d of missing) present.delete(d);
  return present;
}
