import { readRollbackMonitoring } from '../../inputs/monitoring.js';
import type { InputReader } from '../../inputs/reader.js';
import { command } from '../../remote/command.js';
import { git } from '../../remote/git.js';
import { previousRelease } from '../../remote/history.js';
import { sh } from '../../remote/shell.js';
import type { Progress } from '../../report/progress.js';
import { failureOf } from '../backend/deploy.js';
import { Operation } from '../operation.js';
import type { FlowContext, FlowResult } from '../run.js';
import { readDeploymentInputs } from '../../github/deployments.js';
import { isMonitoringTag, lastReleased, newestFirst } from '../tags.js';
import { restartStack, type StackPlace } from './stack.js';
import { verifyRelease } from './verify.js';

/** rollback-monitoring: check out an earlier release tag (detached) and restart the stack cleanly. */
export async function rollbackMonitoring(
  reader: InputReader,
  progress: Progress,
  context: FlowContext,
): Promise<FlowResult> {
  const inputs = readRollbackMonitoring(reader);
  const deployment = readDeploymentInputs(reader);
  const { conn, stack } = inputs;
  const repo = conn.repoPath;
  const place: StackPlace = {
    repo,
    composeFile: stack.composeFile,
    containers: inputs.checks.containers,
    healthTimeout: stack.healthTimeout,
  };
  progress.banner('Monitoring Stack Rollback - NAS');
  progress.plan(6);
  progress.step(`Taking the release lock on ${conn.host}`);
  return Operation.run(
    { action: 'rollback-monitoring', stack: 'monitoring', conn, progress, locking: true },
    async (op) => {
      const remotes = sh`nr_r=$(${op.render.run(command(['git', '-C', repo, 'remote']))} | head -n 1)`;
      const state = await op.readState(sh`${remotes}
[ -n "$nr_r" ] && nr_git -C ${repo} fetch --quiet --tags --force "$nr_r" 2>/dev/null
nr_value head "$(${op.render.run(git.revParse(repo, 'HEAD'))})"
nr_value branch "$(nr_git -C ${repo} symbolic-ref -q --short HEAD)"
nr_value head_tags "$(nr_git -C ${repo} tag --points-at HEAD | tr '\\n' ' ')"
nr_value tags "$(nr_git -C ${repo} tag --list --format='%(refname:short)=%(*objectname)%(objectname)' | tr '\\n' ' ')"
nr_value dirty "$(nr_git -C ${repo} status --porcelain --untracked-files=no | head -n 20 | tr '\\n' ';')"`);
      op.reportInterrupted('');
      // `tag=<commit>` (an annotated tag's commit, then the tag object: the first 40 hex are the commit)
      const tagCommits = new Map(
        (state.get('tags') ?? '')
          .split(' ')
          .filter(Boolean)
          .map(
            (t) => [t.slice(0, t.lastIndexOf('=')), t.slice(t.lastIndexOf('=') + 1, t.lastIndexOf('=') + 41)] as const,
          ),
      );
      const available = newestFirst(
        [...tagCommits.keys()].filter((t) => isMonitoringTag(t, stack.tagPrefix)),
        lastReleased(op.history, 'monitoring'),
      );
      const headCommit = state.get('head') ?? '';
      const headTag =
        (state.get('head_tags') ?? '').split(' ').filter((t) => isMonitoringTag(t, stack.tagPrefix))[0] ?? '';
      const branch = state.get('branch') ?? '';
      const current =
        headTag ||
        [...op.history]
          .reverse()
          .find((r) => r.stack === 'monitoring' && r.outcome === 'success' && r.commit === headCommit)?.tag ||
        '';

      let tag = inputs.tag;
      if (!tag) {
        const previous = previousRelease(op.history, 'monitoring', current);
        if (!previous)
          throw new Error(
            `No previous monitoring release in the history of ${repo} to roll back to (current: ${current || headCommit.slice(0, 7)}). Name a tag; available: ${available.slice(0, 10).join(', ') || 'none'}. Nothing was changed.`,
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
      progress.step('Checking current deployment');
      progress.detail(
        `Current: ${branch ? `branch ${branch}` : `detached${headTag ? ` at ${headTag}` : ''}`} (${headCommit.slice(0, 7)})`,
      );
      progress.detail(`Target:  ${tag}`);
      const dirty = (state.get('dirty') ?? '').trim();
      if (dirty)
        throw new Error(
          `The checkout has local changes to tracked files (${dirty.replace(/;$/, '').split(';').join(', ')}); a rollback would mix them into the old release. Commit, stash or discard them first. Nothing was changed.`,
        );

      await context.deployment.start(
        deployment,
        tagCommits.get(tag) ?? '',
        `Rollback of monitoring from ${current || headCommit.slice(0, 7)} to ${tag}`,
      );
      const phase = await op.runPhase(
        'Rolling back the monitoring stack',
        sh`${op.begin({ tag, previous: current || headCommit, detail: inputs.tag ? 'named' : 'previous-release' })}
${op.render.change(git.checkoutDetached(repo, `refs/tags/${tag}`))} || { nr_say fail ${`git checkout ${tag} failed`}; exit 22; }
nr_value commit "$(${op.render.run(git.revParse(repo, `refs/tags/${tag}^{commit}`))})"
nr_say ok ${`Checked out ${tag}`}
${restartStack(op.render, place, { restart: 'Restarting the stack (down --remove-orphans, up -d)', health: 'Waiting for the stack to be healthy' })}`,
        { timeout: stack.healthTimeout + 1800, allowFailure: true },
      );
      const commit = phase.values.get('commit') ?? '';
      const outputs = {
        DEPLOYED_MONITORING_TAG: tag,
        MONITORING_COMMIT: commit,
        PREVIOUS_MONITORING_COMMIT: headCommit,
        VERIFY_STATUS: 'skipped',
      };
      if (phase.code !== 0) {
        await op.finish('failure', { tag, commit, detail: 'health check failed' });
        return {
          ok: false,
          outputs,
          error: `rollback-monitoring to ${tag} failed: ${failureOf(phase.tail, phase.code)}`,
        };
      }
      const verified = await verifyRelease(op, inputs.checks, stack.verify);
      outputs.VERIFY_STATUS = verified.status;
      if (verified.failed) {
        await op.finish('failure', { tag, commit, detail: `verification ${verified.status}` });
        return {
          ok: false,
          outputs,
          error: `The monitoring stack was rolled back to ${tag} but verification ${verified.status}`,
        };
      }
      await op.finish('success', {
        tag,
        commit,
        previous: current || headCommit,
        detail: inputs.tag ? 'named' : 'previous-release',
      });
      progress.results('MONITORING ROLLBACK COMPLETE', outputs);
      progress.warn(
        `The NAS checkout is now detached at ${tag}. The next deploy-monitoring or deploy-backend switches it back to its branch (with a warning), which brings the branch's monitoring files back on disk; run deploy-monitoring to release them.`,
      );
      await progress.platform.addSummary(
        `### Monitoring rolled back to \`${tag}\`\n\nFrom \`${current || headCommit.slice(0, 7)}\` on ${conn.host}. The checkout is detached.\n\n${verified.summary}`,
      );
      return { ok: true, outputs };
    },
  );
}
