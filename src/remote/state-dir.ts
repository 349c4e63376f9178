/** Where the lock, the history and the detached phase's log live: inside `.git/`, outside the work tree. */
export function stateDirOf(repoPath: string): string {
  return `${repoPath}/.git/nas-release`;
}
