import { describe, expect, it } from 'vitest';
import {
  composeProblems,
  decodeCompose,
  decodePlatform,
  platformOf,
  samePlatform,
  sentinelOf,
} from '../../src/programs/preflight.js';

describe("the NAS's platform", () => {
  it("is docker's os/arch, with 32-bit ARM's variant from the machine name", () => {
    expect(platformOf('linux/amd64', 'x86_64')).toBe('linux/amd64');
    expect(platformOf('linux/arm64', 'aarch64')).toBe('linux/arm64');
    expect(platformOf('linux/arm', 'armv7l')).toBe('linux/arm/v7');
    expect(platformOf('linux/arm', 'armv6l')).toBe('linux/arm/v6');
    // docker did not answer: the kernel's machine name
    expect(platformOf('', 'aarch64')).toBe('linux/arm64');
    expect(platformOf('', 'mips')).toBe('');
    expect(decodePlatform(new Map([['nas_platform', 'linux/arm64 aarch64']]))).toBe('linux/arm64');
    expect(decodePlatform(new Map([['nas_platform', ' x86_64']]))).toBe('linux/amd64');
  });

  it('matches an image by os and architecture, and by variant only when both name one', () => {
    expect(samePlatform('linux/arm64', 'linux/amd64')).toBe(false);
    expect(samePlatform('linux/amd64', 'linux/amd64')).toBe(true);
    expect(samePlatform('linux/arm64/v8', 'linux/arm64')).toBe(true);
    expect(samePlatform('linux/arm/v6', 'linux/arm/v7')).toBe(false);
  });
});

describe('the compose preflight', () => {
  const contract = {
    file: 'backend/docker-compose.yml',
    commit: '1234567890abcdef',
    services: [{ name: 'api', tagVariable: 'BACKEND_TAG' }],
    image: () => 'scanium-backend',
  };
  const found = (images: string) => decodeCompose(new Map([['compose_images', images]]));

  it('passes a service whose image reads the tag variable', () => {
    expect(
      composeProblems(found(`api= api=scanium-backend:${sentinelOf('BACKEND_TAG')} db= db=postgres:16`), contract),
    ).toEqual([]);
  });

  it('names the variable an image ignores, and the line to write', () => {
    expect(composeProblems(found('api= api=scanium-backend:latest'), contract)).toEqual([
      "in backend/docker-compose.yml at 1234567, service api's image (scanium-backend:latest) does not read BACKEND_TAG, so the release would not run the image it made: write the line `image: scanium-backend:${BACKEND_TAG}` in service api",
    ]);
    // a service without an image at all (build only) reads no variable either
    expect(composeProblems(found('api='), contract)[0]).toContain("service api's image does not read BACKEND_TAG");
    // another service's variable is not this one's
    expect(composeProblems(found(`api= api=scanium-backend:${sentinelOf('WORKER_TAG')}`), contract)[0]).toContain(
      'does not read BACKEND_TAG',
    );
  });

  it('names a missing service and the services there are', () => {
    expect(composeProblems(found('web= web=nginx:1 db= db=postgres:16'), contract)).toEqual([
      'backend/docker-compose.yml at 1234567 has no service api (its services: web, db): add it, with the line `image: scanium-backend:${BACKEND_TAG}`, or name one of its services',
    ]);
  });

  it('refuses a compose file missing from the commit, but not one compose could not read', () => {
    expect(composeProblems(decodeCompose(new Map([['compose_error', 'missing']])), contract)[0]).toBe(
      'backend/docker-compose.yml at 1234567 does not exist: set compose-file to the compose file of the commit being released',
    );
    const unreadable = decodeCompose(new Map([['compose_error', "unreadable: Couldn't find env file: .env"]]));
    expect(unreadable).toEqual({ read: 'unreadable', error: "Couldn't find env file: .env" });
    expect(composeProblems(unreadable, contract)).toEqual([]);
    expect(composeProblems(decodeCompose(new Map()), contract)).toEqual([]);
  });
});
