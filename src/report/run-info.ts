import { userInfo, hostname } from 'node:os';

/** Who runs this release and where to find its log: recorded in the lock and the history. */
export interface RunInfo {
  id: string;
  actor: string;
  url: string;
  started: string;
}

export function currentRun(now = new Date()): RunInfo {
  const env = process.env;
  const server = env.GITHUB_SERVER_URL ?? 'https://github.com';
  const url =
    env.GITHUB_REPOSITORY && env.GITHUB_RUN_ID
      ? `${server}/${env.GITHUB_REPOSITORY}/actions/runs/${env.GITHUB_RUN_ID}`
      : `terminal ${safe(() => userInfo().username)}@${safe(hostname)} pid ${process.pid}`;
  const attempt = env.GITHUB_RUN_ATTEMPT ? `-${env.GITHUB_RUN_ATTEMPT}` : '';
  return {
    id: env.GITHUB_RUN_ID ? `${env.GITHUB_RUN_ID}${attempt}` : `local-${now.getTime()}-${process.pid}`,
    actor: env.GITHUB_ACTOR ?? safe(() => userInfo().username),
    url,
    started: now.toISOString(),
  };
}

function safe(fn: () => string): string {
  try {
    return fn();
  } catch {
    return 'unknown';
  }
}
