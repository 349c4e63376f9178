/** The release the runner's checkout ships (project-source: runner). */
export interface RunnerRelease {
  commit: string;
  subject: string;
  /** Files of the commit the first round trip reads (the compose file, for the preflight), base64 by path. */
  files?: Readonly<Record<string, string>>;
}

/**
 * project-source: runner. The runner ships each release's files into `<root>/releases/<commit>/`; the work tree
 * every pipeline uses is the folder `<root>/<name of root>`, which takes a release's files as a checkout takes a
 * commit's, so compose finds the file and names the project as it does in a git checkout at `<root>`. The lock
 * and the history live in `<root>/.nas-release`.
 */
const runnerRoots = new Map<string, string>();

/** The work tree of a release root (and remembers it, so stateDirOf finds the root's state folder). */
export function runnerTree(root: string): string {
  const tree = `${root}/${root.slice(root.lastIndexOf('/') + 1)}`;
  runnerRoots.set(tree, root);
  return tree;
}

/** The release root of a work tree runnerTree returned; undefined for a git checkout. */
export function runnerRootOf(tree: string): string | undefined {
  return runnerRoots.get(tree);
}

/** Where the lock, the history and the detached phase's log live: inside `.git/`, outside the work tree. */
export function stateDirOf(repoPath: string): string {
  const root = runnerRoots.get(repoPath);
  return root ? `${root}/.nas-release` : `${repoPath}/.git/nas-release`;
}
