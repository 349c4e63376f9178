import type { InputReader } from '../inputs/reader.js';
import type { Progress } from '../report/progress.js';
import { currentRun } from '../report/run-info.js';

export interface DeploymentInputs {
  environment: string;
  environmentUrl: string;
  token: string;
}

export function readDeploymentInputs(r: InputReader): DeploymentInputs {
  return {
    environment: r.matching('environment', /^[^\0-\x1f'"`$\\]{1,255}$/, 'a GitHub environment name'),
    environmentUrl: r.url('environment-url'),
    token: r.string('github-token'),
  };
}

type State = 'in_progress' | 'success' | 'failure';

/**
 * Records a release as a GitHub deployment of the released commit, when the
 * `environment` input is set: `in_progress` at the start, then `success` or
 * `failure`, linking the run's log. A token without `deployments: write`
 * (or any API trouble) is a warning, never a failed release.
 */
export class DeploymentRecorder {
  private url?: string;
  private inputs?: DeploymentInputs;
  private finished = false;

  constructor(private readonly progress: Progress) {}

  async start(inputs: DeploymentInputs, ref: string, description: string): Promise<void> {
    if (!inputs.environment) return;
    const repo = process.env.GITHUB_REPOSITORY;
    if (!inputs.token || !repo) {
      this.progress.warn(
        `environment is set but ${!inputs.token ? 'github-token is empty' : 'GITHUB_REPOSITORY is not set'}: no GitHub deployment is recorded`,
      );
      return;
    }
    this.inputs = inputs;
    const api = (process.env.GITHUB_API_URL ?? 'https://api.github.com').replace(/\/+$/, '');
    const created = await this.call(`${api}/repos/${repo}/deployments`, {
      ref,
      environment: inputs.environment,
      description: description.slice(0, 140),
      auto_merge: false,
      required_contexts: [],
      production_environment: /^prod/i.test(inputs.environment),
    });
    const id = (created as { id?: number } | undefined)?.id;
    if (!id) return;
    this.url = `${api}/repos/${repo}/deployments/${id}/statuses`;
    await this.status('in_progress', description);
  }

  async finish(ok: boolean, description: string): Promise<void> {
    if (!this.url || this.finished) return;
    this.finished = true;
    await this.status(ok ? 'success' : 'failure', description);
  }

  private async status(state: State, description: string): Promise<void> {
    if (!this.url || !this.inputs) return;
    const logUrl = currentRun().url;
    await this.call(this.url, {
      state,
      description: description.slice(0, 140),
      ...(logUrl.startsWith('http') ? { log_url: logUrl } : {}),
      ...(this.inputs.environmentUrl ? { environment_url: this.inputs.environmentUrl } : {}),
      auto_inactive: state === 'success',
    });
  }

  private async call(url: string, body: unknown): Promise<unknown> {
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${this.inputs?.token ?? ''}`,
          accept: 'application/vnd.github+json',
          'content-type': 'application/json',
          'x-github-api-version': '2022-11-28',
          'user-agent': 'nas-release',
        },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(15_000),
      });
      if (!res.ok) {
        const hint =
          res.status === 403 || res.status === 404
            ? ' (does the workflow grant `permissions: deployments: write`?)'
            : '';
        this.progress.warn(
          `Recording the GitHub deployment failed: HTTP ${res.status}${hint}. The release itself is not affected.`,
        );
        this.url = undefined;
        return undefined;
      }
      return await res.json();
    } catch (err) {
      this.progress.warn(
        `Recording the GitHub deployment failed: ${(err as Error).message}. The release itself is not affected.`,
      );
      this.url = undefined;
      return undefined;
    }
  }
}
