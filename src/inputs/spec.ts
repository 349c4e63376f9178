/**
 * Every action's inputs and outputs, in one table. The `action.yml` files and
 * the README's tables are generated from it (`npm run build`), and the input
 * reader refuses a name that is not declared here, so code and metadata agree.
 */
export interface InputSpec {
  description: string;
  default?: string;
  required?: boolean;
  /** Masked in the log, every line of it. */
  secret?: boolean;
  /** Its lines are `KEY=value`: each value is masked on its own too (see envValues). */
  envValues?: boolean;
  /** The CLI also reads it from a file (`--<input>-file PATH`), as it does every secret: for long text such as a host key. */
  file?: boolean;
}

/** Whether the CLI reads an input from a file: every secret (only from a file), and the long values marked `file`. */
export function readsFile(input: InputSpec): boolean {
  return input.secret === true || input.file === true;
}
export interface ActionSpec {
  name: string;
  description: string;
  icon: string;
  inputs: Record<string, InputSpec>;
  outputs: Record<string, string>;
}

const connection: Record<string, InputSpec> = {
  host: { description: 'NAS host name or address.', required: true },
  port: { description: 'SSH port.', default: '22' },
  username: {
    description:
      'SSH user: a NAS user in the docker group (or allowed to run docker through sudo), not necessarily root.',
    required: true,
  },
  'private-key': { description: 'Private key (OpenSSH or PEM) for the SSH user.', secret: true },
  passphrase: { description: 'Passphrase of the private key.', secret: true },
  password: { description: 'Password authentication, when no private-key is given.', secret: true },
  'host-key': {
    description:
      'Expected host key(s), one a line: a SHA256: fingerprint, or a public key as ssh-keyscan prints it. Required unless insecure-skip-host-key-check is true.',
    file: true,
  },
  'insecure-skip-host-key-check': {
    description: 'Skip host-key pinning (anyone on the path could impersonate the NAS).',
    default: 'false',
  },
  'jump-host': {
    description:
      'Jump host (bastion) to reach the NAS through: the SSH connection to the NAS is tunnelled over one to this host. Empty: connect to the NAS directly.',
    default: '',
  },
  'jump-port': { description: 'SSH port of the jump host.', default: '22' },
  'jump-username': {
    description: 'SSH user on the jump host (it needs TCP forwarding to the NAS, no shell).',
    default: '',
  },
  'jump-private-key': { description: 'Private key (OpenSSH or PEM) for the jump host user.', secret: true },
  'jump-password': { description: 'Password for the jump host user, when no jump-private-key is given.', secret: true },
  'jump-host-key': {
    description:
      "The jump host's expected host key(s), in the forms host-key takes. Required with jump-host (insecure-skip-host-key-check does not apply to it).",
    default: '',
    file: true,
  },
  'connect-timeout': { description: 'Seconds to establish the SSH connection, retries included.', default: '30' },
  'repo-path': {
    description:
      "The application's folder on the NAS: its git checkout (project-source: git), or the folder the runner ships releases into (project-source: runner).",
    default: '/volume1/docker/scanium/repo',
  },
  'project-source': {
    description:
      "Where the NAS gets the project's files. `git`: repo-path is a git checkout the NAS fetches into, with its own access to the repository. `runner`: the runner's checkout (the CLI: the current folder) ships what the release needs (the compose file's folder, the build context when the NAS builds, the monitoring stack's folder) over SSH into `<repo-path>/releases/<commit>/`, whole or not at all, before anything changes; the release's phase then gives the work tree `<repo-path>/<name of repo-path>` those files, as a git checkout moves to a commit. No git and no repository credentials on the NAS; the lock and the history live in `<repo-path>/.nas-release`.",
    default: 'git',
  },
  'compose-command': {
    description: '`docker compose`, `docker-compose`, or `auto` (the first that works on the NAS).',
    default: 'auto',
  },
  'lock-timeout': {
    description: 'Seconds to wait while another release operation holds the NAS checkout.',
    default: '600',
  },
  'dry-run': {
    description: 'Print every state-changing command instead of running it; read-only commands still run.',
    default: 'false',
  },
  'remote-path': {
    description:
      'Put in front of the PATH of every remote command (Synology keeps docker in /usr/local/bin, outside the PATH of a non-interactive SSH session).',
    default: '/usr/local/bin:/usr/local/sbin:/usr/bin:/bin:/usr/sbin:/sbin',
  },
  sudo: {
    description: 'Run docker and compose through `sudo -n` (for a NAS user outside the docker group).',
    default: 'false',
  },
};

const checkout: Record<string, InputSpec> = {
  branch: { description: 'Branch the NAS checkout follows.', default: 'main' },
  remote: { description: 'Git remote to fetch from.', default: 'origin' },
  ref: {
    description:
      'Full commit SHA to deploy; it must be on the branch (a workflow passes github.sha, so the pushed commit is the one deployed). Empty: the tip of remote/branch.',
    default: '',
  },
  'on-dirty': {
    description:
      'What to do with local changes in the checkout: `fail` (list them, change nothing), `stash`, or `reset`.',
    default: 'fail',
  },
};

const backend: Record<string, InputSpec> = {
  image: { description: 'Image name; tags are YYYY.MM.DD-<sha7>.', default: 'scanium-backend' },
  'compose-file': {
    description: 'Compose file of the backend, relative to repo-path.',
    default: 'backend/docker-compose.yml',
  },
  service: { description: 'Compose service to recreate.', default: 'api' },
  container: { description: 'Name of the container the service runs as.', default: 'scanium-backend' },
  'tag-variable': { description: 'Variable the compose file reads the image tag from.', default: 'BACKEND_TAG' },
  'health-url': {
    description:
      'URL fetched on the NAS to check health (empty: the container healthcheck, else the container staying up).',
    default: '',
  },
  'health-timeout': { description: 'Seconds to wait for the backend to become healthy.', default: '120' },
};

/** Several services in one release. */
const services: InputSpec = {
  description:
    'Several compose services released together, one a line: the compose service name, then `key=value` words `image=`, `container=`, `tag-variable=`, `build-context=`, `dockerfile=`, `health-url=`; what a line leaves out comes from the single-service inputs (`container` only for the line of `service`; the others: the container compose makes). Empty: the single service of `service`.',
  default: '',
};
const deployedServices = {
  DEPLOYED_SERVICES:
    'JSON: each service of a several-service release to its tag, image and previous tag (not set for a single service).',
};

const verify: Record<string, InputSpec> = {
  checks: {
    description:
      'What to verify (comma or newline separated): `grafana`, `prometheus`, `mimir`, `loki`, `tempo`, `containers`. Only these run and appear in the report.',
    default: 'grafana,mimir,loki,tempo,containers',
  },
  'grafana-url': { description: 'Grafana URL as reached from the NAS.', default: 'http://127.0.0.1:3000' },
  'grafana-credentials': { description: '`user:password` for basic auth, or an API token.', default: '', secret: true },
  'mimir-url': { description: 'Mimir URL as reached from the NAS.', default: 'http://127.0.0.1:9009' },
  'prometheus-url': {
    description:
      'Prometheus URL as reached from the NAS, for the `prometheus` check (readiness at `/-/ready`, queries at `/api/v1/query`).',
    default: 'http://127.0.0.1:9090',
  },
  'loki-url': { description: 'Loki URL as reached from the NAS.', default: 'http://127.0.0.1:3100' },
  'tempo-url': { description: 'Tempo URL as reached from the NAS.', default: 'http://127.0.0.1:3200' },
  'expected-datasources': {
    description: 'Datasource UIDs Grafana must list (comma or newline separated).',
    default: 'MIMIR,LOKI,TEMPO',
  },
  'required-metrics': {
    description:
      'PromQL selectors (one a line) that must each return at least one series: from Mimir when `checks` names `mimir` (also when it names `prometheus` too), else from Prometheus when it names `prometheus`.',
    default: 'up{source="pipeline"}\nup{job="scanium-backend"}',
  },
  'fail-on-warnings': { description: 'Fail the step on a warning too.', default: 'false' },
  containers: {
    description: 'Containers of the monitoring stack (comma or newline separated).',
    default: 'scanium-grafana,scanium-mimir,scanium-loki,scanium-tempo,scanium-alloy',
  },
};

const monitoringRelease: Record<string, InputSpec> = {
  'compose-file': {
    description: 'Compose file of the monitoring stack, relative to repo-path.',
    default: 'monitoring/docker-compose.yml',
  },
  'health-timeout': {
    description: 'Seconds to wait for every container to run (and be healthy where it has a healthcheck).',
    default: '90',
  },
  'tag-prefix': { description: 'Prefix of the monitoring release tags.', default: 'monitoring-' },
  verify: { description: 'Run the verify-monitoring checks after the release.', default: 'true' },
};

const deployments: Record<string, InputSpec> = {
  environment: {
    description: 'GitHub environment to record the release in as a deployment (empty: none).',
    default: '',
  },
  'environment-url': { description: 'URL shown on the deployment (the application as users reach it).', default: '' },
  'github-token': {
    description:
      'Token for the deployments API; it needs `deployments: write`. deploy-monitoring also creates its release tag with it through the API (`contents: write`), so the NAS never pushes.',
    default: '${{ github.token }}',
    secret: true,
  },
};

const watch: Record<string, InputSpec> = {
  guards: {
    description:
      'Metrics guards watched after the health check, one a line: `<name>: <PromQL> <op> <threshold> for <duration>` (op one of > >= < <=), e.g. `errors: sum(rate(http_requests_total{code=~"5.."}[1m])) / sum(rate(http_requests_total[1m])) > 0.01 for 5m`. A guard breaches when its condition held at every poll for its duration; the release is then rolled back.',
    default: '',
  },
  'metrics-url': {
    description: 'Prometheus query API base as reached from the NAS (`/api/v1/query` is appended).',
    default: 'http://127.0.0.1:9009/prometheus',
  },
  watch: {
    description: 'How long to watch the guards after the health check, like `10m` (`0` or empty: no watch).',
    default: '0',
  },
  'watch-interval': { description: 'Time between polls of the guards, like `15s`.', default: '15s' },
  'on-query-error': {
    description:
      'A guard query that fails or returns no series: `warn` (the poll counts as not breaching) or `fail` (the release is rolled back).',
    default: 'warn',
  },
};

/** What a backup holds and where it goes. */
const backups: Record<string, InputSpec> = {
  'backup-volumes': {
    description: 'Compose volumes of the backend to back up, one a line (archived through a short-lived container).',
    default: '',
  },
  'backup-databases': {
    description:
      'Databases to back up, one a line: `postgres:<service>[/<database>]`, `mysql:<service>[/<database>]` (dumped in the service\'s container, credentials from its environment), or `custom:<service>/<name> dump="<command>" restore="<command>"`.',
    default: '',
  },
  backup: {
    description: 'Take a backup before the release when backup-volumes or backup-databases name anything.',
    default: 'true',
  },
  'backup-dir': {
    description: 'Directory of the backups on the NAS (empty: `<repo-path>/../backups`).',
    default: '',
  },
  'backup-keep': {
    description:
      "Keep the newest N backups (never the running release's nor the one a rollback to the previous release restores).",
    default: '10',
  },
  'backup-image': {
    description: 'Image of the short-lived container that reads and writes a volume.',
    default: 'busybox:latest',
  },
};

/** The backend's environment file, released with it. */
/** Where the release's image comes from. */
const imageSource: Record<string, InputSpec> = {
  'image-source': {
    description:
      '`nas` (build on the NAS from its checkout), `registry` (pull image:image-tag on the NAS), or `runner` (build on the runner with its docker and stream the image to the NAS over the SSH connection). The NAS tags it YYYY.MM.DD-<sha7> whatever the source. With `services`, it applies to every service, each distinct image obtained once.',
    default: 'nas',
  },
  registry: {
    description:
      'Registry to log in to with registry-username (empty: the registry named in image, such as ghcr.io, else Docker Hub).',
    default: '',
  },
  'registry-username': { description: 'User for the registry (empty: pull without logging in).', default: '' },
  'registry-password': {
    description:
      'Password or token for the registry, given to `docker login --password-stdin` on the NAS; never on a command line.',
    secret: true,
  },
};

const envFile: Record<string, InputSpec> = {
  'env-file-content': {
    description:
      "Text of the backend's environment file (from a secret): written on the NAS atomically, private, and kept with the release. Empty: the file is left alone.",
    default: '',
    secret: true,
    envValues: true,
  },
  'env-file': { description: 'Path of the environment file, relative to repo-path.', default: 'backend/.env' },
};

const backupOutputs = {
  BACKUP_ID: 'Id of the backup taken (`<UTC time>-<tag>`), empty when none was.',
  BACKUP_PATH: 'Folder of that backup on the NAS.',
  BACKUP_BYTES: 'Its size in bytes.',
};

// --- blue-green: zero-downtime releases behind a reverse proxy ---
const blueGreen: Record<string, InputSpec> = {
  strategy: {
    description:
      '`recreate` (stop the running backend, start the new one) or `blue-green` (start the new release beside the live one as the idle colour, switch the proxy to it once healthy, then stop the old one: no request is lost).',
    default: 'recreate',
  },
  'proxy-service': {
    description:
      'blue-green: compose service of the reverse proxy (nginx) in compose-file; its container is validated (`nginx -t`) and reloaded (`nginx -s reload`).',
    default: 'proxy',
  },
  'proxy-upstream-file': {
    description:
      "blue-green: the proxy's upstream include, relative to repo-path; it holds one line, `server 127.0.0.1:<port of the live colour>;`, written atomically (mount its folder into the proxy, not the file, and keep it out of git).",
    default: 'backend/nginx/upstream.conf',
  },
  'port-variable': {
    description: 'blue-green: variable the compose file reads the port of a colour from.',
    default: 'BACKEND_PORT',
  },
  'blue-port': { description: 'blue-green: port the blue colour listens on.', default: '8081' },
  'green-port': { description: 'blue-green: port the green colour listens on.', default: '8082' },
  'drain-seconds': {
    description:
      'blue-green: the longest the old colour keeps running after the switch for requests in flight; the drain ends once none is left (with `switch-command`, it lasts the whole time).',
    default: '5',
  },
  'keep-warm': {
    description:
      'blue-green: seconds the old colour stays up after the switch, so a rollback to it is a switch alone; `0` stops it after the drain. A timer on the NAS stops it when this time has passed (the next release replaces it anyway).',
    default: '300',
  },
  'switch-command': {
    description:
      "blue-green: your own command run on the NAS (in repo-path) to point another proxy (Traefik, Caddy, the NAS's own) at the new colour, instead of the upstream file and nginx; COLOR, CONTAINER and PORT are in its environment. Non-zero fails the switch and the live colour keeps serving.",
    default: '',
  },
};
const blueGreenOutputs = {
  LIVE_COLOR:
    'blue-green: the colour serving through the proxy when the action ends (`blue` or `green`); empty with recreate.',
};
// --- end blue-green ---

const backendOutputs = {
  DEPLOYED_BACKEND_TAG: 'The backend tag running when the action ends.',
  PREVIOUS_BACKEND_TAG: 'The tag that was running before (empty on a first deploy).',
  BACKEND_IMAGE: 'image:tag running.',
};

export const ACTIONS: Record<string, ActionSpec> = {
  'deploy-backend': {
    name: 'NAS release: deploy backend',
    description:
      'Build the backend on the NAS, tag it YYYY.MM.DD-<sha7>, recreate it, wait for health, and roll back by itself when it fails.',
    icon: 'upload-cloud',
    inputs: {
      ...connection,
      ...backend,
      services,
      'build-context': {
        description:
          "Build context, relative to repo-path (with image-source: runner, relative to the runner's workspace).",
        default: 'backend',
      },
      dockerfile: {
        description:
          "Dockerfile, relative to repo-path (with image-source: runner, to the runner's workspace); empty: the context's Dockerfile.",
        default: '',
      },
      ...imageSource,
      'image-tag': {
        description:
          'With image-source: registry, the tag the workflow pushed (a commit SHA, a version): pulled, then also tagged YYYY.MM.DD-<sha7> on the NAS.',
        default: '',
      },
      ...checkout,
      'auto-rollback': {
        description: 'When the new release fails its health check, put the previous one back.',
        default: 'true',
      },
      'pre-deploy': {
        description:
          'Shell command run on the NAS in repo-path before the container changes (BACKEND_TAG and PREVIOUS_BACKEND_TAG are set); failing stops the deploy.',
        default: '',
      },
      'post-deploy': { description: 'Shell command run on the NAS in repo-path after a verified deploy.', default: '' },
      'keep-images': {
        description: 'When above 0, keep only this many dated tags after a successful deploy (as cleanup-backend).',
        default: '0',
      },
      ...watch,
      ...backups,
      'auto-rollback-restore': {
        description:
          'When the new release fails and is rolled back, also restore the backup taken just before it (for migrations the previous release cannot read).',
        default: 'false',
      },
      ...envFile,
      ...deployments,
      ...blueGreen,
    },
    outputs: {
      ...backendOutputs,
      ROLLED_BACK: '`true` when the new release failed and the previous one was put back.',
      WATCH_STATUS:
        '`passed` (no guard breached during the watch, and each got answers), `inconclusive` (a guard never got one good answer: the release stays, with a warning naming the guard), `rolled-back` (a guard breached, or a query failed with on-query-error: fail), or `skipped` (no watch, or the release failed before it); not set when the release failed before any container changed.',
      WATCH_REPORT: 'JSON: the watch status and, for each guard, its condition, worst value and samples.',
      ...backupOutputs,
      ...deployedServices,
      ...blueGreenOutputs,
    },
  },
  'rollback-backend': {
    name: 'NAS release: roll back backend',
    description: 'Bring an earlier backend image back: a named YYYY.MM.DD-<sha7> tag, or the previous release.',
    icon: 'rotate-ccw',
    inputs: {
      ...connection,
      ...backend,
      tag: {
        description:
          'Tag to roll back to (YYYY.MM.DD-<7 hex> or latest). Empty: the release deployed before the one running.',
        default: '',
      },
      force: { description: 'Recreate even when the target tag is already running.', default: 'false' },
      'pre-rollback': {
        description:
          'Shell command run on the NAS in repo-path before the container changes (BACKEND_TAG: the tag rolled back to; PREVIOUS_BACKEND_TAG: the tag running before); failing stops the rollback before anything changes.',
        default: '',
      },
      'post-rollback': {
        description:
          'Shell command run on the NAS in repo-path after a verified rollback, with the same environment as pre-rollback.',
        default: '',
      },
      services: {
        description:
          "Services of a several-service release to roll back (comma or newline separated): to `tag`, or each to its own previous release. Empty: all of the release's services (or the single service of `service`).",
        default: '',
      },
      ...imageSource,
      'restore-backup': {
        description:
          'Data to restore with the rollback: empty (images only), `auto` (the backup taken just before the release being rolled back), or a backup id.',
        default: '',
      },
      'backup-dir': backups['backup-dir'],
      'backup-image': backups['backup-image'],
      ...envFile,
      ...deployments,
      ...blueGreen,
    },
    outputs: {
      ...backendOutputs,
      RESTORED_BACKUP: 'Id of the backup restored, empty when none was.',
      SAFETY_BACKUP_ID: 'Id of the backup of the data taken just before the restore (restore it to undo).',
      ...deployedServices,
      ...blueGreenOutputs,
    },
  },
  'backup-backend': {
    name: 'NAS release: back up backend data',
    description:
      "Back up the backend's volumes and databases on the NAS (a nightly schedule, or before maintenance), and list the backups.",
    icon: 'archive',
    inputs: {
      ...connection,
      'compose-file': backend['compose-file'],
      container: backend.container,
      image: backend.image,
      ...backups,
      backup: { description: 'Take a backup (`false`: only list the backups).', default: 'true' },
    },
    outputs: {
      ...backupOutputs,
      BACKUPS: 'JSON list of the backups, newest first: id, release, commit, time, reason, bytes, verifies, items.',
    },
  },
  'cleanup-backend': {
    name: 'NAS release: clean up backend images',
    description:
      'Keep the newest dated backend images and remove the older ones, never the running one or the rollback target.',
    icon: 'trash-2',
    inputs: {
      ...connection,
      image: backend.image,
      container: backend.container,
      services,
      'compose-file': backend['compose-file'],
      service: backend.service,
      keep: { description: 'How many dated tags to keep (per image).', default: '10' },
      'prune-dangling': { description: 'Also remove dangling images.', default: 'true' },
      'backup-dir': backups['backup-dir'],
      'backup-keep': backups['backup-keep'],
    },
    outputs: {
      REMOVED_TAGS: 'JSON array of the removed tags, newest first.',
      REMOVED_BACKUPS: 'JSON array of the ids of the backups removed by backup-keep.',
      KEPT_TAGS: 'JSON array of the kept tags, newest first.',
      FREED_BYTES: 'Bytes freed (an estimate from the image sizes).',
    },
  },
  'deploy-monitoring': {
    name: 'NAS release: deploy monitoring',
    description:
      'Release the monitoring stack configuration from git, restart it cleanly, verify it, and tag the release.',
    icon: 'activity',
    inputs: {
      ...connection,
      ...monitoringRelease,
      ...checkout,
      'create-tag': { description: 'Create the annotated release tag on the deployed commit.', default: 'true' },
      'push-tag': { description: 'Push the release tag to the remote (a failed push is a warning).', default: 'true' },
      ...verify,
      ...deployments,
    },
    outputs: {
      DEPLOYED_MONITORING_TAG: 'The monitoring release tag (empty with create-tag: false).',
      MONITORING_COMMIT: 'Full SHA of the deployed commit.',
      VERIFY_STATUS: '`passed`, `warnings`, `failed`, or `skipped`.',
    },
  },
  'rollback-monitoring': {
    name: 'NAS release: roll back monitoring',
    description: 'Check out an earlier monitoring release tag and restart the stack cleanly.',
    icon: 'rotate-ccw',
    inputs: {
      ...connection,
      ...monitoringRelease,
      tag: {
        description:
          'Monitoring tag (<tag-prefix>YYYY.MM.DD-<7 hex>). Empty: the release deployed before the current one.',
        default: '',
      },
      ...verify,
      ...deployments,
    },
    outputs: {
      DEPLOYED_MONITORING_TAG: 'The monitoring release tag now checked out.',
      MONITORING_COMMIT: 'Full SHA of the commit now checked out.',
      PREVIOUS_MONITORING_COMMIT: 'Full SHA of the commit checked out before.',
      VERIFY_STATUS: '`passed`, `warnings`, `failed`, or `skipped`.',
    },
  },
  'verify-monitoring': {
    name: 'NAS release: verify monitoring',
    description:
      'Check from the NAS that Grafana, Mimir, Loki and Tempo answer and hold what the dashboards need. Read-only.',
    icon: 'check-circle',
    inputs: { ...connection, ...verify },
    outputs: {
      VERIFY_STATUS: '`passed`, `warnings` or `failed`.',
      VERIFY_REPORT: 'JSON list of {component, check, status, detail}.',
    },
  },
};

// Every action reports its outcome the same way: a release always, a scheduled check or maintenance on failure.
for (const [name, action] of Object.entries(ACTIONS)) {
  const release = name.startsWith('deploy-') || name.startsWith('rollback-');
  action.inputs.notify = {
    description:
      'Where to send a message with the outcome, one URL a line: a Slack (`https://hooks.slack.com/…`) or Discord (`https://discord.com/api/webhooks/…`) incoming webhook, ntfy (`https://ntfy.sh/<topic>`, or `ntfy+https://<host>/<topic>` for your own server), Gotify (`gotify+https://<host>/message?token=<app token>`), or any other `https://` URL (a JSON body). `http://` only to a loopback or private address. Each line is a secret. A message that cannot be sent is a warning.',
    default: '',
    secret: true,
  };
  action.inputs['notify-on'] = {
    description:
      '`always` (every outcome), `failure` (a failure, an automatic or guard rollback, an interrupted operation, a failed verify) or `never`.',
    default: release ? 'always' : 'failure',
  };
}

export type ActionName = keyof typeof ACTIONS;

/** A day-two command of `nas-release` (read-only, no release lock): flags as inputs, no action.yml. */
export interface CommandSpec {
  description: string;
  inputs: Record<string, InputSpec>;
  /** The input a bare argument gives (`nas-release logs api`). */
  positional?: string;
}

const json: InputSpec = { description: 'Print JSON on standard output (and nothing else there).', default: 'false' };

/** The CLI's day-two commands: they read the NAS and change nothing, so they take the connection flags of the actions. */
export const COMMANDS: Record<string, CommandSpec> = {
  status: {
    description:
      'Show what runs: each service of the compose file (image tag, health, since when), the live colour, the lock holder, the last operation.',
    inputs: {
      ...connection,
      'compose-file': backend['compose-file'],
      json,
    },
  },
  history: {
    description: 'Show the release history, newest first.',
    inputs: {
      ...connection,
      limit: { description: 'How many operations to show (1 to 500).', default: '20' },
      json,
    },
  },
  logs: {
    description: "Print the services' logs through compose (every colour of a blue-green backend).",
    positional: 'service',
    inputs: {
      ...connection,
      'compose-file': backend['compose-file'],
      service: { description: 'Compose service whose logs to print (empty: every service).', default: '' },
      tail: { description: 'How many of the last lines of each container to print first.', default: '100' },
      follow: { description: 'Keep printing new lines until Ctrl-C.', default: 'false' },
    },
  },
};
