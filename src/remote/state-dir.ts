/** Where the NAS gets the project's files: its own git checkout, or releases the runner ships. */
export type ProjectSource = 'git' | 'runner';

/**
 * Where the lock, the history and the detached phase's log live: inside `.git/`, outside the work tree; a folder
 * the runner ships releases into has no `.git/`, so there they live in `.nas-release/`, beside the releases.
 */
export function stateDirOf(repoPath: string, source: ProjectSource = 'git'): string {
  return source === 'runner' ? `${repoPath}/.nas-release` : `${repoPath}/.git/nas-release`;
}
