import type { DeploymentInputs } from '../../github/deployments.js';
import type { Nas } from '../../nas/nas.js';
import { commitOfTag } from '../../programs/backend.js';
import { commitOf, type HistoryRecord } from '../../remote/history.js';
import { isDatedTag } from '../../rules/tags.js';
import type { FlowContext } from '../flow.js';

/**
 * Starts the GitHub deployment of a rollback to `tag`, when an environment is
 * set: for the commit the tag was built from (the history knows it, else the
 * checkout resolves the dated tag's short SHA). Without a commit it only warns:
 * a deployment record is never a reason to stop a rollback.
 */
export async function startRollbackDeployment(
  nas: Nas,
  { progress, deployment }: FlowContext,
  o: { inputs: DeploymentInputs; repo: string; history: readonly HistoryRecord[]; tag: string; description: string },
): Promise<void> {
  if (!o.inputs.environment) return;
  let commit = commitOf(o.history, o.tag);
  if (!commit && isDatedTag(o.tag))
    commit = (await nas.runProgram(commitOfTag(nas.render, o.repo, o.tag.slice(-7)))).values;
  if (commit) await deployment.start(o.inputs, commit, o.description);
  else progress.warn(`No commit is known for ${o.tag}: no GitHub deployment is recorded`);
}
