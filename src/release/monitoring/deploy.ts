import { readDeploymentInputs, type DeploymentInputs } from '../../github/deployments.js';
import { readDeployMonitoring, type DeployMonitoringInputs } from '../../inputs/monitoring.js';
import {
  releaseStackPhase,
  RELEASE_STACK_STEPS,
  stackState,
  tagRelease,
  stackPlace,
} from '../../programs/monitoring.js';
import { MonitoringExit } from '../../programs/monitoring.js';
import { Steps } from '../../remote/program.js';
import { createTagThroughApi } from '../../github/tags.js';
import { failureOf, reportInProgress, reportInterrupted } from '../failures.js';
import { defineFlow } from '../flow.js';
import { datedTag } from '../../rules/tags.js';
import { verifyRelease } from './verify.js';

export const DEPLOY_MONITORING_STEPS = new Steps({
  lock: 'Taking the release lock',
  ...RELEASE_STACK_STEPS,
  verify: 'Verifying the stack',
  tagRelease: 'Tagging the release',
});

/** deploy-monitoring: release the stack's configuration from git, restart it cleanly, verify it, tag the release. */
export const deployMonitoring = defineFlow<DeployMonitoringInputs & { deployment: DeploymentInputs }>({
  kind: { action: 'deploy-monitoring', stack: 'monitoring', locking: true },
  settings: (reader) => ({ ...readDeployMonitoring(reader), deployment: readDeploymentInputs(reader) }),
  async run(settings, nas, { progress, deployment }) {
    const { conn, stack, checkout } = settings;
    const place = stackPlace(conn.repoPath, stack, settings.checks);
    progress.banner('Monitoring Stack Deployment - NAS');
    progress.plan(DEPLOY_MONITORING_STEPS.count);
    progress.step(`${DEPLOY_MONITORING_STEPS.text('lock')} on ${conn.host}`);
    const state = await nas.readState(stackState(place, checkout));
    reportInterrupted(progress, state.interrupted, '');
    reportInProgress(progress, state.inProgress);
    const { commit, subject, leftovers, conflicts } = state.answers;
    if (conflicts.length)
      throw new Error(
        `${conflicts.map((c) => `Container ${c.name} (${c.why})`).join('; ')} holds a name of this stack. deploy-monitoring never removes another compose project's container: stop that project or remove the container, then deploy again. Nothing was changed.`,
      );
    // Without a tag the release is recorded by its commit alone: a tag name that exists nowhere
    // would later be offered (and fail) as the target of an empty-tag rollback.
    const tag = settings.createTag ? `${stack.tagPrefix}${datedTag(commit, new Date())}` : '';
    await deployment.start(settings.deployment, commit, `Deploy monitoring ${tag || commit.slice(0, 7)}`);

    const phase = await nas.runPhase(
      releaseStackPhase(nas.render, {
        place,
        checkout,
        commit,
        subject,
        tag,
        leftovers,
        runLabel: `${nas.run.url} (${nas.run.actor})`,
      }),
    );
    const outputs = { DEPLOYED_MONITORING_TAG: '', MONITORING_COMMIT: commit, VERIFY_STATUS: 'skipped' };
    if (phase.code !== 0) {
      await nas.finish('failure', {
        detail: phase.code === MonitoringExit.StackUnhealthy ? 'health check failed' : 'release failed',
      });
      return { ok: false, outputs, error: `deploy-monitoring failed: ${failureOf(phase.tail, phase.code)}` };
    }

    const verified = await verifyRelease(nas, progress, settings.checks, stack.verify);
    outputs.VERIFY_STATUS = verified.status;
    if (verified.failed) {
      await nas.finish('failure', { tag, commit, detail: `verification ${verified.status}` });
      return {
        ok: false,
        outputs,
        error: `The monitoring stack at ${commit.slice(0, 7)} is running but verification ${verified.status === 'failed' ? 'failed' : 'has warnings (fail-on-warnings)'}; no release tag was created`,
      };
    }

    if (tag) {
      progress.step(`Tagging the release (${tag})`);
      const message = `Monitoring release ${tag}\n\nDeployed by ${nas.run.actor} (${nas.run.url})`;
      const token = settings.pushTag ? settings.deployment.token : '';
      // project-source: runner: the NAS has no git; the history keeps the tag for rollbacks, GitHub gets it through its API
      if (!conn.releaseRoot) {
        const tagged = await nas.runProgram(
          tagRelease(nas.render, {
            repo: conn.repoPath,
            remote: checkout.remote,
            tag,
            commit,
            message,
            // with a github-token the tag reaches GitHub through its API: the NAS needs no write access
            push: settings.pushTag && !token,
          }),
        );
        if (tagged.code !== 0) {
          await nas.finish('failure', { tag, commit, detail: 'tagging failed' });
          return {
            ok: false,
            outputs,
            error: `The stack is released but the tag ${tag} could not be created: ${failureOf(tagged.tail, tagged.code)}`,
          };
        }
      }
      if (token && !nas.dryRun) {
        const made = await createTagThroughApi(token, { tag, commit, message });
        if (made.ok) progress.ok(`Created ${tag} on GitHub (through the API)`);
        else if (conn.releaseRoot)
          progress.warn(
            `Could not create ${tag} on GitHub through the API (${made.error}; the github-token needs contents: write); the NAS history keeps it for rollbacks`,
          );
        else {
          // a token without contents: write (the job's default permissions, say): the NAS pushes it, as without a token
          progress.warn(
            `Could not create ${tag} on GitHub through the API (${made.error}; the github-token needs contents: write): pushing it from the NAS`,
          );
          await nas.runProgram(
            tagRelease(nas.render, { repo: conn.repoPath, remote: checkout.remote, tag, commit, message, push: true }),
          );
        }
      } else if (conn.releaseRoot && settings.pushTag)
        progress.warn(`No github-token: ${tag} is kept in the NAS history (for rollbacks), not created on GitHub`);
    } else {
      progress.step('Tagging the release');
      progress.detail('create-tag: false, no tag created');
    }
    outputs.DEPLOYED_MONITORING_TAG = tag;
    await nas.finish('success', { tag, commit });
    progress.results('MONITORING DEPLOYMENT COMPLETE', {
      DEPLOYED_MONITORING_TAG: tag,
      MONITORING_COMMIT: commit,
      VERIFY_STATUS: outputs.VERIFY_STATUS,
    });
    await progress.platform.addSummary(
      `### Monitoring deployed: \`${tag || commit.slice(0, 7)}\`\n\nCommit \`${commit}\` on ${conn.host}.\n\n${verified.summary}`,
    );
    return { ok: true, outputs };
  },
});
