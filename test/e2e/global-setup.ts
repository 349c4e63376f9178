import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';

/** Brings the stand-in NAS up once before the end-to-end tests; never skips them. */
export default function setup(): void {
  if (process.getuid?.() !== 0) {
    throw new Error(
      'The end-to-end tests need the stand-in NAS, which needs root (it starts dockerd and sshd and creates the NAS user). Run them as root: sudo npm test (on Debian, the set-up installs docker.io, docker-compose, busybox-static and openssh-server itself).',
    );
  }
  try {
    execFileSync('bash', [resolve(__dirname, '../nas/up.sh')], { stdio: 'inherit' });
  } catch {
    throw new Error(
      'The stand-in NAS did not come up (see the [nas] lines above). It needs the Debian packages docker.io, docker-compose, busybox-static and openssh-server, and root to start dockerd and sshd.',
    );
  }
}
