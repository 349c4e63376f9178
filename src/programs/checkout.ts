import type { Renderer } from '../remote/command.js';
import { git, type OnDirty } from '../remote/git.js';
import { exitCodes } from '../remote/program.js';
import { sh, type Shell } from '../remote/shell.js';
import { switchTree } from './releases.js';
import type { RunnerRelease } from '../remote/state-dir.js';

export type { RunnerRelease };

/** How moving the checkout can fail. */
export const CheckoutExit = {
  /** The fetch failed, or the branch or ref is not on the remote. */
  FetchFailed: 20,
  /** Local changes and on-dirty: fail (or stashing/discarding them failed). */
  DirtyCheckout: 21,
  CheckoutFailed: 22,
} as const;
export const CHECKOUT = exitCodes(CheckoutExit);

/** What fetchTarget reports. */
export interface FetchedTarget {
  commit: string;
  subject: string;
}

/** Decodes fetchTarget's values. */
export function decodeFetchedTarget(values: ReadonlyMap<string, string>): FetchedTarget {
  return { commit: values.get('commit') ?? '', subject: values.get('subject') ?? '' };
}

export interface CheckoutTarget {
  repo: string;
  remote: string;
  branch: string;
  /** A full SHA that must be on remote/branch; empty for its tip. */
  ref: string;
  onDirty: OnDirty;
  /** Names the run in a stash message. */
  runLabel: string;
  /** project-source: runner: the commit the runner's checkout holds, shipped to the NAS instead of fetched. */
  runner?: RunnerRelease;
}

/**
 * Fetches the remote and finds the commit to release: `ref` (which must be on
 * remote/branch) or the branch's tip. Touches only remote-tracking refs and
 * tags, never the work tree (a dry run does not fetch: it reads what was
 * fetched last). Reports `commit` and `subject` (decodeFetchedTarget).
 */
export function fetchTarget(r: Renderer, t: Omit<CheckoutTarget, 'onDirty' | 'runLabel'>): Shell {
  // project-source: runner: the NAS has no git; the commit is the runner's, its files shipped after the lock
  if (t.runner)
    return sh`nr_value commit ${t.runner.commit}
nr_value subject ${t.runner.subject}`;
  const upstream = `refs/remotes/${t.remote}/${t.branch}`;
  return sh`${r.change(git.fetch(t.repo, t.remote))} || { nr_say fail ${`git fetch ${t.remote} failed in ${t.repo}`}; ${CHECKOUT.exit(CheckoutExit.FetchFailed)}; }
${r.run(git.revParse(t.repo, upstream))} >/dev/null || { nr_say fail ${`The remote has no branch ${t.branch} (${t.remote}/${t.branch} not found)`}; ${CHECKOUT.exit(CheckoutExit.FetchFailed)}; }
${
  t.ref
    ? sh`${r.run(git.revParse(t.repo, `${t.ref}^{commit}`))} >/dev/null || { nr_say fail ${`ref ${t.ref} is not a commit fetched from ${t.remote}`}; ${CHECKOUT.exit(CheckoutExit.FetchFailed)}; }
${r.run(git.isAncestor(t.repo, t.ref, upstream))} || { nr_say fail ${`ref ${t.ref} is not on ${t.remote}/${t.branch}`}; ${CHECKOUT.exit(CheckoutExit.FetchFailed)}; }`
    : sh`:`
}
nr_value commit "$(${r.run(git.revParse(t.repo, `${t.ref || upstream}^{commit}`))})"
nr_value subject "$(${r.run(git.subject(t.repo, t.ref || upstream))} | head -c 200)"`;
}

/**
 * Moves the checkout to `commit` on the branch: local changes per `on-dirty`
 * first, and a checkout left detached (a monitoring rollback) is switched
 * back to the branch with a warning.
 */
export function moveCheckout(r: Renderer, t: CheckoutTarget, commit: string): Shell {
  const switched = switchTree(r, t.repo, commit, CHECKOUT.exit(CheckoutExit.CheckoutFailed));
  if (switched) return switched;
  return sh`nr_dirty=$(${r.run(git.status(t.repo))}) || ${CHECKOUT.exit(CheckoutExit.FetchFailed)}
if [ -n "$nr_dirty" ]; then
  case ${t.onDirty} in
    fail)
      nr_say fail 'The checkout has local changes (on-dirty: fail); nothing was changed. Dirty paths:'
      printf '%s\n' "$nr_dirty" | head -n 50 | while IFS= read -r nr_l; do nr_say info "  $nr_l"; done
      ${CHECKOUT.exit(CheckoutExit.DirtyCheckout)} ;;
    stash)
      ${r.change(git.stash(t.repo, `nas-release: local changes before ${t.runLabel}`))} || ${CHECKOUT.exit(CheckoutExit.DirtyCheckout)}
      nr_say warn ${`Local changes in the checkout were stashed (on-dirty: stash); see git stash list in ${t.repo}`} ;;
    reset)
      ${r.change(git.resetHard(t.repo))} && ${r.change(git.clean(t.repo))} || ${CHECKOUT.exit(CheckoutExit.DirtyCheckout)}
      nr_say warn 'Local changes in the checkout were discarded (on-dirty: reset)' ;;
  esac
fi
if ! ${r.run(git.symbolicHead(t.repo))} >/dev/null; then
  nr_at=$(${r.run(git.exactTag(t.repo, 'HEAD'))} 2>/dev/null || ${r.run(git.shortHead(t.repo))})
  nr_say warn "The checkout was detached at $nr_at (a monitoring rollback); switching it back to branch "${t.branch}". The monitoring files on disk change with it."
fi
${r.change(git.checkoutBranch(t.repo, t.branch, commit))} || { nr_say fail ${`git checkout ${t.branch} failed`}; ${CHECKOUT.exit(CheckoutExit.CheckoutFailed)}; }
${r.change(git.setUpstream(t.repo, t.remote, t.branch))} 2>/dev/null || true
nr_say ok ${`Repository at ${commit.slice(0, 7)} on ${t.branch}`}`;
}
