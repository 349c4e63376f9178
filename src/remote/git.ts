import { command, type Command, type Renderer } from './command.js';
import { sh, type Shell } from './shell.js';

export type OnDirty = 'fail' | 'stash' | 'reset';

export const git = {
  fetch: (repo: string, remote: string): Command =>
    command(['git', '-C', repo, 'fetch', '--quiet', '--tags', '--force', remote]),
  status: (repo: string): Command => command(['git', '-C', repo, 'status', '--porcelain', '--untracked-files=all']),
  stash: (repo: string, message: string): Command =>
    command(['git', '-C', repo, 'stash', 'push', '--include-untracked', '--quiet', '-m', message]),
  resetHard: (repo: string): Command => command(['git', '-C', repo, 'reset', '--hard', '--quiet']),
  clean: (repo: string): Command => command(['git', '-C', repo, 'clean', '-fd', '--quiet']),
  isAncestor: (repo: string, commit: string, of: string): Command =>
    command(['git', '-C', repo, 'merge-base', '--is-ancestor', commit, of]),
  checkoutBranch: (repo: string, branch: string, target: string): Command =>
    command(['git', '-C', repo, 'checkout', '--quiet', '-B', branch, target]),
  setUpstream: (repo: string, remote: string, branch: string): Command =>
    command(['git', '-C', repo, 'branch', '--quiet', `--set-upstream-to=${remote}/${branch}`, branch]),
  checkoutDetached: (repo: string, ref: string): Command =>
    command(['git', '-C', repo, 'checkout', '--quiet', '--detach', ref]),
  revParse: (repo: string, ref: string): Command =>
    command(['git', '-C', repo, 'rev-parse', '--verify', '--quiet', ref]),
  tagAnnotated: (repo: string, tag: string, commit: string, message: string): Command =>
    command(['git', '-C', repo, 'tag', '-a', tag, commit, '-m', message]),
  pushTag: (repo: string, remote: string, tag: string): Command =>
    command(['git', '-C', repo, 'push', '--quiet', remote, `refs/tags/${tag}`]),
};

export interface CheckoutTarget {
  repo: string;
  remote: string;
  branch: string;
  /** A full SHA that must be on remote/branch; empty for its tip. */
  ref: string;
  onDirty: OnDirty;
  /** Names the run in a stash message. */
  runLabel: string;
}

/**
 * Fetches the remote and finds the commit to release: `ref` (which must be on
 * remote/branch) or the branch's tip. Touches only remote-tracking refs and
 * tags, never the work tree. Reports `commit` and `subject`.
 */
export function fetchTarget(r: Renderer, t: Omit<CheckoutTarget, 'onDirty' | 'runLabel'>): Shell {
  const upstream = `refs/remotes/${t.remote}/${t.branch}`;
  return sh`${r.run(git.fetch(t.repo, t.remote))} || { nr_say fail ${`git fetch ${t.remote} failed in ${t.repo}`}; exit 20; }
${r.run(git.revParse(t.repo, upstream))} >/dev/null || { nr_say fail ${`The remote has no branch ${t.branch} (${t.remote}/${t.branch} not found)`}; exit 20; }
${
  t.ref
    ? sh`${r.run(git.revParse(t.repo, `${t.ref}^{commit}`))} >/dev/null || { nr_say fail ${`ref ${t.ref} is not a commit fetched from ${t.remote}`}; exit 20; }
${r.run(git.isAncestor(t.repo, t.ref, upstream))} || { nr_say fail ${`ref ${t.ref} is not on ${t.remote}/${t.branch}`}; exit 20; }`
    : sh`:`
}
nr_value commit "$(${r.run(git.revParse(t.repo, `${t.ref || upstream}^{commit}`))})"
nr_value subject "$(${r.run(command(['git', '-C', t.repo, 'log', '-1', '--format=%s', t.ref || upstream]))} | head -c 200)"`;
}

/**
 * Moves the checkout to `commit` on the branch: local changes per `on-dirty`
 * first, and a checkout left detached (a monitoring rollback) is switched
 * back to the branch with a warning.
 */
export function moveCheckout(r: Renderer, t: CheckoutTarget, commit: string): Shell {
  return sh`nr_dirty=$(${r.run(git.status(t.repo))}) || exit 20
if [ -n "$nr_dirty" ]; then
  case ${t.onDirty} in
    fail)
      nr_say fail 'The checkout has local changes (on-dirty: fail); nothing was changed. Dirty paths:'
      printf '%s\n' "$nr_dirty" | head -n 50 | while IFS= read -r nr_l; do nr_say info "  $nr_l"; done
      exit 21 ;;
    stash)
      ${r.change(git.stash(t.repo, `nas-release: local changes before ${t.runLabel}`))} || exit 21
      nr_say warn ${`Local changes in the checkout were stashed (on-dirty: stash); see git stash list in ${t.repo}`} ;;
    reset)
      ${r.change(git.resetHard(t.repo))} && ${r.change(git.clean(t.repo))} || exit 21
      nr_say warn 'Local changes in the checkout were discarded (on-dirty: reset)' ;;
  esac
fi
if ! ${r.run(command(['git', '-C', t.repo, 'symbolic-ref', '-q', 'HEAD']))} >/dev/null; then
  nr_at=$(${r.run(command(['git', '-C', t.repo, 'describe', '--tags', '--exact-match', 'HEAD']))} 2>/dev/null || ${r.run(command(['git', '-C', t.repo, 'rev-parse', '--short', 'HEAD']))})
  nr_say warn "The checkout was detached at $nr_at (a monitoring rollback); switching it back to branch "${t.branch}". The monitoring files on disk change with it."
fi
${r.change(git.checkoutBranch(t.repo, t.branch, commit))} || { nr_say fail ${`git checkout ${t.branch} failed`}; exit 22; }
${r.change(git.setUpstream(t.repo, t.remote, t.branch))} 2>/dev/null || true
nr_say ok ${`Repository at ${commit.slice(0, 7)} on ${t.branch}`}`;
}
