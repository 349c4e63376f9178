import { readDeploymentInputs, type DeploymentInputs } from '../../github/deployments.js';
import { readRollbackMonitoring, type RollbackMonitoringInputs } from '../../inputs/monitoring.js';
import { checkoutState, rollbackStackPhase, ROLLBACK_STACK_STEPS, stackPlace } from '../../programs/monitoring.js';
import { previousRelease } from '../../remote/history.js';
import { Steps } from '../../remote/program.js';
import { failureOf, reportInProgress, reportInterrupted } from '../failures.js';
import { defineFlow } from '../flow.js';
import { isMonitoringTag, lastReleased, newestFirst } from '../../rules/tags.js';
import { verifyRelease } from './verify.js';

export const ROLLBACK_MONITORING_STEPS = new Steps({
  lock: 'Taking the release lock',
  tag: 'Verifying the tag exists',
  current: 'Checking current deployment',
  ...ROLLBACK_STACK_STEPS,
  verify: 'Verifying the stack',
});

/** rollback-monitoring: check out an earlier release tag (detached) and restart the stack cleanly. */
export const rollbackMonitoring = defineFlow<RollbackMonitoringInputs & { deployment: DeploymentInputs }>({
  kind: { action: 'rollback-monitoring', stack: 'monitoring', locking: true },
  settings: (reader) => ({ ...readRollbackMonitoring(reader), deployment: readDeploymentInputs(reader) }),
  async run(settings, nas, { progress, deployment }) {
    const { conn, stack } = settings;
    const repo = conn.repoPath;
    const steps = ROLLBACK_MONITORING_STEPS;
    const place = stackPlace(repo, stack, settings.checks);
    progress.banner('Monitoring Stack Rollback - NAS');
    progress.plan(steps.count);
    progress.step(`${steps.text('lock')} on ${conn.host}`);
    const state = await nas.readState(checkoutState(repo));
    reportInterrupted(progress, state.interrupted, '');
    reportInProgress(progress, state.inProgress);
    const { head, branch, headTags, dirty } = state.answers;
    // project-source: runner: no git tags on the NAS; the releases the history recorded are the tags there are
    const tagCommits = conn.releaseRoot
      ? new Map(
          state.history
            .filter((r) => r.stack === 'monitoring' && r.outcome === 'success' && r.tag && r.commit)
            .map((r) => [r.tag, r.commit ?? ''] as const),
        )
      : state.answers.tagCommits;
    const available = newestFirst(
      [...tagCommits.keys()].filter((t) => isMonitoringTag(t, stack.tagPrefix)),
      lastReleased(state.history, 'monitoring'),
    );
    const headTag = headTags.find((t) => isMonitoringTag(t, stack.tagPrefix)) ?? '';
    const current =
      headTag ||
      (conn.releaseRoot
        ? [...state.history].reverse().find((r) => r.stack === 'monitoring' && r.outcome === 'success' && r.tag)?.tag
        : '') ||
      [...state.history].reverse().find((r) => r.stack === 'monitoring' && r.outcome === 'success' && r.commit === head)
        ?.tag ||
      '';

    let tag = settings.tag;
    if (!tag) {
      const previous = previousRelease(state.history, 'monitoring', current);
      if (!previous)
        throw new Error(
          `No previous monitoring release in the history of ${repo} to roll back to (current: ${current || head.slice(0, 7)}). Name a tag; available: ${available.slice(0, 10).join(', ') || 'none'}. Nothing was changed.`,
        );
      tag = previous;
      progress.detail(`Target: the previous release, ${tag} (from the release history)`);
    }
    progress.step(`Verifying tag ${tag} exists`);
    if (!available.includes(tag)) {
      throw new Error(
        `Tag ${tag} does not exist in the NAS checkout or its remote. Available monitoring tags, newest first:\n  ${available.slice(0, 15).join('\n  ') || '(none)'}\nNothing was changed.`,
      );
    }
    progress.ok('Tag exists');
    progress.step(steps.text('current'));
    progress.detail(
      `Current: ${branch ? `branch ${branch}` : `detached${headTag ? ` at ${headTag}` : ''}`} (${head.slice(0, 7)})`,
    );
    progress.detail(`Target:  ${tag}`);
    if (dirty.length)
      throw new Error(
        `The checkout has local changes to tracked files (${dirty.join(', ')}); a rollback would mix them into the old release. Commit, stash or discard them first. Nothing was changed.`,
      );

    await deployment.start(
      settings.deployment,
      tagCommits.get(tag) ?? '',
      `Rollback of monitoring from ${current || head.slice(0, 7)} to ${tag}`,
    );
    const previous = current || head;
    const phase = await nas.runPhase(rollbackStackPhase(nas.render, { place, tag, previous, named: !!settings.tag }));
    const { commit } = phase.values;
    const outputs = {
      DEPLOYED_MONITORING_TAG: tag,
      MONITORING_COMMIT: commit,
      PREVIOUS_MONITORING_COMMIT: head,
      VERIFY_STATUS: 'skipped',
    };
    if (phase.code !== 0) {
      await nas.finish('failure', { tag, commit, detail: 'health check failed' });
      return {
        ok: false,
        outputs,
        error: `rollback-monitoring to ${tag} failed: ${failureOf(phase.tail, phase.code)}`,
      };
    }
    const verified = await verifyRelease(nas, progress, settings.checks, stack.verify);
    outputs.VERIFY_STATUS = verified.status;
    if (verified.failed) {
      await nas.finish('failure', { tag, commit, detail: `verification ${verified.status}` });
      return {
        ok: false,
        outputs,
        error: `The monitoring stack was rolled back to ${tag} but verification ${verified.status}`,
      };
    }
    await nas.finish('success', { tag, commit, previous, detail: settings.tag ? 'named' : 'previous-release' });
    progress.results('MONITORING ROLLBACK COMPLETE', outputs);
    if (!conn.releaseRoot)
      progress.warn(
        `The NAS checkout is now detached at ${tag}. The next deploy-monitoring or deploy-backend switches it back to its branch (with a warning), which brings the branch's monitoring files back on disk; run deploy-monitoring to release them.`,
      );
    await progress.platform.addSummary(
      `### Monitoring rolled back to \`${tag}\`\n\nFrom \`${current || head.slice(0, 7)}\` on ${conn.host}. The checkout is detached.\n\n${verified.summary}`,
    );
    return { ok: true, outputs };
  },
});
