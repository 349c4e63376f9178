import { change, command, type ChangeCommand, type ReadCommand } from './command.js';

export type OnDirty = 'fail' | 'stash' | 'reset';

export const git = {
  /** Writes remote-tracking refs and tags in .git (never the work tree): a dry run does not fetch. */
  fetch: (repo: string, remote: string): ChangeCommand =>
    change(['git', '-C', repo, 'fetch', '--quiet', '--tags', '--force', remote]),
  /** Tags and branches of every remote: a monitoring rollback may name a tag made elsewhere. */
  fetchAll: (repo: string): ChangeCommand =>
    change(['git', '-C', repo, 'fetch', '--quiet', '--tags', '--force', '--all']),
  /** --no-optional-locks: reading the status must not take index.lock from a release running beside a dry run. */
  status: (repo: string): ReadCommand =>
    command(['git', '-C', repo, '--no-optional-locks', 'status', '--porcelain', '--untracked-files=all']),
  trackedChanges: (repo: string): ReadCommand =>
    command(['git', '-C', repo, '--no-optional-locks', 'status', '--porcelain', '--untracked-files=no']),
  stash: (repo: string, message: string): ChangeCommand =>
    change(['git', '-C', repo, 'stash', 'push', '--include-untracked', '--quiet', '-m', message]),
  resetHard: (repo: string): ChangeCommand => change(['git', '-C', repo, 'reset', '--hard', '--quiet']),
  clean: (repo: string): ChangeCommand => change(['git', '-C', repo, 'clean', '-fd', '--quiet']),
  isAncestor: (repo: string, commit: string, of: string): ReadCommand =>
    command(['git', '-C', repo, 'merge-base', '--is-ancestor', commit, of]),
  checkoutBranch: (repo: string, branch: string, target: string): ChangeCommand =>
    change(['git', '-C', repo, 'checkout', '--quiet', '-B', branch, target]),
  setUpstream: (repo: string, remote: string, branch: string): ChangeCommand =>
    change(['git', '-C', repo, 'branch', '--quiet', `--set-upstream-to=${remote}/${branch}`, branch]),
  checkoutDetached: (repo: string, ref: string): ChangeCommand =>
    change(['git', '-C', repo, 'checkout', '--quiet', '--detach', ref]),
  revParse: (repo: string, ref: string): ReadCommand =>
    command(['git', '-C', repo, 'rev-parse', '--verify', '--quiet', ref]),
  shortHead: (repo: string): ReadCommand => command(['git', '-C', repo, 'rev-parse', '--short', 'HEAD']),
  subject: (repo: string, ref: string): ReadCommand => command(['git', '-C', repo, 'log', '-1', '--format=%s', ref]),
  /** Exits non-zero when HEAD is detached. */
  symbolicHead: (repo: string): ReadCommand => command(['git', '-C', repo, 'symbolic-ref', '-q', 'HEAD']),
  branchName: (repo: string): ReadCommand => command(['git', '-C', repo, 'symbolic-ref', '-q', '--short', 'HEAD']),
  exactTag: (repo: string, ref: string): ReadCommand =>
    command(['git', '-C', repo, 'describe', '--tags', '--exact-match', ref]),
  remotes: (repo: string): ReadCommand => command(['git', '-C', repo, 'remote']),
  tagsAt: (repo: string, ref: string): ReadCommand => command(['git', '-C', repo, 'tag', '--points-at', ref]),
  /** `tag=<commit><tag object>` lines: an annotated tag's commit comes first. */
  tagCommits: (repo: string): ReadCommand =>
    command(['git', '-C', repo, 'tag', '--list', '--format=%(refname:short)=%(*objectname)%(objectname)']),
  tagAnnotated: (repo: string, tag: string, commit: string, message: string): ChangeCommand =>
    change(['git', '-C', repo, 'tag', '-a', tag, commit, '-m', message]),
  /** Never prompts: a NAS without push credentials fails at once. */
  pushTag: (repo: string, remote: string, tag: string): ChangeCommand =>
    change(['git', '-C', repo, 'push', '--quiet', remote, `refs/tags/${tag}`], {
      GIT_TERMINAL_PROMPT: '0',
      GIT_SSH_COMMAND: 'ssh -o BatchMode=yes',
    }),
};
