import { readDeployMonitoring } from '../../inputs/monitoring.js';
import type { InputReader } from '../../inputs/reader.js';
import { command } from '../../remote/command.js';
import { fetchTarget, git, moveCheckout } from '../../remote/git.js';
import { sh } from '../../remote/shell.js';
import type { Progress } from '../../report/progress.js';
import { failureOf } from '../backend/deploy.js';
import { Operation } from '../operation.js';
import type { FlowContext, FlowResult } from '../run.js';
import { readDeploymentInputs } from '../../github/deployments.js';
import { datedTag } from '../tags.js';
import { containerOwners, findLeftovers, removeLeftovers, restartStack, type StackPlace } from './stack.js';
import { verifyRelease } from './verify.js';

/** deploy-monitoring: release the stack's configuration from git, restart it cleanly, verify it, tag the release. */
export async function deployMonitoring(
  reader: InputReader,
  progress: Progress,
  context: FlowContext,
): Promise<FlowResult> {
  const inputs = readDeployMonitoring(reader);
  const deployment = readDeploymentInputs(reader);
  const { conn, stack, checkout } = inputs;
  const place: StackPlace = {
    repo: conn.repoPath,
    composeFile: stack.composeFile,
    containers: inputs.checks.containers,
    healthTimeout: stack.healthTimeout,
  };
  progress.banner('Monitoring Stack Deployment - NAS');
  progress.plan(8);
  progress.step(`Taking the release lock on ${conn.host}`);
  return Operation.run(
    { action: 'deploy-monitoring', stack: 'monitoring', conn, progress, locking: true },
    async (op) => {
      const state = await op.readState(sh`${containerOwners(op.render, place)}
${fetchTarget(op.render, { repo: conn.repoPath, ...checkout })}`);
      op.reportInterrupted('');
      const commit = state.get('commit') ?? '';
      const tag = `${stack.tagPrefix}${datedTag(commit, new Date())}`;
      const leftovers = findLeftovers(place, state);
      await context.deployment.start(deployment, commit, `Deploy monitoring ${tag}`);

      const phase = await op.runPhase(
        'Releasing the monitoring stack',
        sh`${op.begin({ tag, commit, detail: 'deploy' })}
nr_say step 'Preflight: looking for leftover containers'
${removeLeftovers(op.render, leftovers)}
nr_say step ${`Updating repository from ${checkout.remote}/${checkout.branch}`}
${moveCheckout(op.render, { repo: conn.repoPath, ...checkout, runLabel: `${op.run.url} (${op.run.actor})` }, commit)}
nr_say info ${`${commit.slice(0, 7)} ${state.get('subject') ?? ''}`}
nr_say step 'Computing release tag'
nr_say ok ${`Release tag: ${tag}`}
${restartStack(op.render, place, { restart: 'Restarting the stack (down --remove-orphans, up -d)', health: 'Waiting for the stack to be healthy' })}`,
        { timeout: stack.healthTimeout + 1800, allowFailure: true },
      );
      const outputs = { DEPLOYED_MONITORING_TAG: '', MONITORING_COMMIT: commit, VERIFY_STATUS: 'skipped' };
      if (phase.code !== 0) {
        await op.finish('failure', { detail: phase.code === 53 ? 'health check failed' : 'release failed' });
        return { ok: false, outputs, error: `deploy-monitoring failed: ${failureOf(phase.tail, phase.code)}` };
      }

      const verified = await verifyRelease(op, inputs.checks, stack.verify);
      outputs.VERIFY_STATUS = verified.status;
      if (verified.failed) {
        await op.finish('failure', { tag, commit, detail: `verification ${verified.status}` });
        return {
          ok: false,
          outputs,
          error: `The monitoring stack at ${commit.slice(0, 7)} is running but verification ${verified.status === 'failed' ? 'failed' : 'has warnings (fail-on-warnings)'}; no release tag was created`,
        };
      }

      progress.step(`Tagging the release (${tag})`);
      if (inputs.createTag) {
        const push = `git -C ${conn.repoPath} push ${checkout.remote} refs/tags/${tag}`;
        const tagged = await op.runProgram(
          'Tagging the release',
          sh`nr_has=$(${op.render.run(git.revParse(conn.repoPath, `refs/tags/${tag}^{commit}`))} || true)
if [ "$nr_has" = ${commit} ]; then nr_say ok ${`Tag ${tag} already exists on this commit (a re-run): reusing it`}
elif [ -n "$nr_has" ]; then nr_say fail ${`Tag ${tag} exists on another commit ($nr_has)`}; exit 60
else ${op.render.change(git.tagAnnotated(conn.repoPath, tag, commit, `Monitoring release ${tag}\n\nDeployed by ${op.run.actor} (${op.run.url})`))} && nr_say ok ${`Created tag ${tag}`} || exit 61
fi
${
  inputs.pushTag
    ? sh`if ${op.render.change(command(['git', '-C', conn.repoPath, 'push', '--quiet', checkout.remote, `refs/tags/${tag}`], { GIT_TERMINAL_PROMPT: '0', GIT_SSH_COMMAND: 'ssh -o BatchMode=yes' }))} 2>&1; then nr_say ok ${`Pushed ${tag} to ${checkout.remote}`}
else nr_say warn ${`Could not push ${tag} to ${checkout.remote} (no credentials on the NAS?). Push it by hand: ${push}`}; fi`
    : sh`:`
}`,
          { timeout: 300, allowFailure: true },
        );
        if (tagged.code !== 0) {
          await op.finish('failure', { tag, commit, detail: 'tagging failed' });
          return {
            ok: false,
            outputs,
            error: `The stack is released but the tag ${tag} could not be created: ${failureOf(tagged.tail, tagged.code)}`,
          };
        }
      } else progress.detail('create-tag: false, no tag created');
      outputs.DEPLOYED_MONITORING_TAG = tag;
      await op.finish('success', { tag, commit });
      progress.results('MONITORING DEPLOYMENT COMPLETE', {
        DEPLOYED_MONITORING_TAG: tag,
        MONITORING_COMMIT: commit,
        VERIFY_STATUS: outputs.VERIFY_STATUS,
      });
      await progress.platform.addSummary(
        `### Monitoring deployed: \`${tag}\`\n\nCommit \`${commit}\` on ${conn.host}.\n\n${verified.summary}`,
      );
      return { ok: true, outputs };
    },
  );
}
