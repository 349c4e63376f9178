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
  },
  'connect-timeout': { description: 'Seconds to establish the SSH connection, retries included.', default: '30' },
  'repo-path': { description: "The application's git checkout on the NAS.", default: '/volume1/docker/scanium/repo' },
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

const verify: Record<string, InputSpec> = {
  'grafana-url': { description: 'Grafana URL as reached from the NAS.', default: 'http://127.0.0.1:3000' },
  'grafana-credentials': { description: '`user:password` for basic auth, or an API token.', default: '', secret: true },
  'mimir-url': { description: 'Mimir URL as reached from the NAS.', default: 'http://127.0.0.1:9009' },
  'loki-url': { description: 'Loki URL as reached from the NAS.', default: 'http://127.0.0.1:3100' },
  'tempo-url': { description: 'Tempo URL as reached from the NAS.', default: 'http://127.0.0.1:3200' },
  'expected-datasources': {
    description: 'Datasource UIDs Grafana must list (comma or newline separated).',
    default: 'MIMIR,LOKI,TEMPO',
  },
  'required-metrics': {
    description: 'PromQL selectors (one a line) that must each return at least one series from Mimir.',
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
    description: 'Token for the deployments API; it needs `deployments: write`.',
    default: '${{ github.token }}',
    secret: true,
  },
};

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
      'build-context': { description: 'Build context, relative to repo-path.', default: 'backend' },
      dockerfile: { description: "Dockerfile, relative to repo-path (empty: the context's Dockerfile).", default: '' },
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
      ...deployments,
    },
    outputs: {
      ...backendOutputs,
      ROLLED_BACK: '`true` when the new release failed and the previous one was put back.',
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
      ...deployments,
    },
    outputs: backendOutputs,
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
      keep: { description: 'How many dated tags to keep.', default: '10' },
      'prune-dangling': { description: 'Also remove dangling images.', default: 'true' },
    },
    outputs: {
      REMOVED_TAGS: 'JSON array of the removed tags, newest first.',
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
      DEPLOYED_MONITORING_TAG: 'The monitoring release tag.',
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

export type ActionName = keyof typeof ACTIONS;
