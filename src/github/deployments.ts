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
type Octokit = ReturnType<typeof import('@actions/github').getOctokit>;

/** How long one API call may take, and how often a call that met a server error or no answer is tried again. */
const CALL_TIMEOUT_MS = 15_000;
const RETRY_DELAYS_MS = [1_000, 3_000];

/** The HTTP status the API answered with; undefined when no answer came (Octokit calls that a 500). */
function answeredStatus(err: unknown): number | undefined {
  return (err as { response?: { status?: number } }).response?.status;
}

/**
 * An Octokit from @actions/github: its base URL is GITHUB_API_URL (GitHub
 * Enterprise Server), and it goes through the runner's proxy settings. It is
 * loaded only when a deployment is recorded: Octokit is large, and most runs
 * never need it. A call that gets no answer, 429 or a 5xx is tried again.
 */
export async function octokit(token: string): Promise<Octokit> {
  const { getOctokit } = await import('@actions/github');
  const client = getOctokit(token, { userAgent: 'nas-release' });
  client.hook.wrap('request', async (request, options) => {
    for (let attempt = 0; ; attempt++) {
      try {
        return await request({
          ...options,
          request: { ...options.request, signal: AbortSignal.timeout(CALL_TIMEOUT_MS) },
        });
      } catch (err) {
        const status = answeredStatus(err);
        const timedOut = (err as { cause?: Error }).cause?.name === 'TimeoutError';
        const transient = status === undefined ? !timedOut : status === 429 || status >= 500;
        if (!transient || attempt >= RETRY_DELAYS_MS.length) throw err;
        await new Promise((resume) => setTimeout(resume, RETRY_DELAYS_MS[attempt]));
      }
    }
  });
  return client;
}

/**
 * Records a release as a GitHub deployment of the released commit, when the
 * `environment` input is set: `in_progress` at the start, then `success` or
 * `failure`, linking the run's log. A token without `deployments: write`
 * (or any API trouble) is a warning, never a failed release.
 */
export class DeploymentRecorder {
  private client?: Octokit;
  private deployment?: { owner: string; repo: string; id: number };
  private inputs?: DeploymentInputs;
  private finished = false;

  constructor(private readonly progress: Progress) {}

  async start(inputs: DeploymentInputs, ref: string, description: string): Promise<void> {
    if (!inputs.environment) return;
    const [owner, repo] = (process.env.GITHUB_REPOSITORY ?? '').split('/');
    if (!inputs.token || !owner || !repo) {
      this.progress.warn(
        `environment is set but ${!inputs.token ? 'github-token is empty' : 'GITHUB_REPOSITORY is not set'}: no GitHub deployment is recorded`,
      );
      return;
    }
    this.inputs = inputs;
    const id = await this.call(async (client) => {
      const created = await client.rest.repos.createDeployment({
        owner,
        repo,
        ref,
        environment: inputs.environment,
        description: description.slice(0, 140),
        auto_merge: false,
        required_contexts: [],
        production_environment: /^prod/i.test(inputs.environment),
      });
      return 'id' in created.data ? created.data.id : undefined;
    });
    if (!id) return;
    this.deployment = { owner, repo, id };
    await this.status('in_progress', description);
  }

  async finish(ok: boolean, description: string): Promise<void> {
    if (!this.deployment || this.finished) return;
    this.finished = true;
    await this.status(ok ? 'success' : 'failure', description);
  }

  private async status(state: State, description: string): Promise<void> {
    const deployment = this.deployment;
    const inputs = this.inputs;
    if (!deployment || !inputs) return;
    const logUrl = currentRun().url;
    await this.call((client) =>
      client.rest.repos.createDeploymentStatus({
        owner: deployment.owner,
        repo: deployment.repo,
        deployment_id: deployment.id,
        state,
        description: description.slice(0, 140),
        ...(logUrl.startsWith('http') ? { log_url: logUrl } : {}),
        ...(inputs.environmentUrl ? { environment_url: inputs.environmentUrl } : {}),
        auto_inactive: state === 'success',
      }),
    );
  }

  /** One API call; any failure becomes a warning and ends the recording. */
  private async call<T>(fn: (client: Octokit) => Promise<T>): Promise<T | undefined> {
    try {
      this.client ??= await octokit(this.inputs?.token ?? '');
      return await fn(this.client);
    } catch (err) {
      const status = answeredStatus(err);
      const hint =
        status === 403 || status === 404 ? ' (does the workflow grant `permissions: deployments: write`?)' : '';
      const why = status ? `HTTP ${status}${hint}` : (err as Error).message;
      this.progress.warn(`Recording the GitHub deployment failed: ${why}. The release itself is not affected.`);
      this.deployment = undefined;
      return undefined;
    }
  }
}
