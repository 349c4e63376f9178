import { octokit } from './deployments.js';

/**
 * Creates an annotated release tag on GitHub through its API (`github-token` with `contents: write`), so the NAS
 * never needs write access to the repository. An existing tag of the same name is left alone. Never throws: a
 * tag that could not be made is the caller's warning, as a failed push from the NAS was.
 */
export async function createTagThroughApi(
  token: string,
  o: { tag: string; commit: string; message: string },
): Promise<{ ok: true } | { ok: false; error: string }> {
  const [owner, repo] = (process.env.GITHUB_REPOSITORY ?? '').split('/');
  if (!owner || !repo) return { ok: false, error: 'GITHUB_REPOSITORY is not set' };
  try {
    const client = await octokit(token);
    const made = await client.rest.git.createTag({
      owner,
      repo,
      tag: o.tag,
      message: o.message,
      object: o.commit,
      type: 'commit',
    });
    await client.rest.git.createRef({ owner, repo, ref: `refs/tags/${o.tag}`, sha: made.data.sha });
    return { ok: true };
  } catch (err) {
    const status = (err as { status?: number }).status;
    return { ok: false, error: `${status ? `HTTP ${status}: ` : ''}${(err as Error).message}`.slice(0, 300) };
  }
}
