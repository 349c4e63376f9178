import { describe, expect, it } from 'vitest';
import {
  composeProblems,
  decodeCompose,
  decodePlatform,
  platformOf,
  readComposeFile,
  samePlatform,
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
  /** The compose file as the first round trip brings it: base64 of the commit's file. */
  const sent = (text: string) => new Map([['compose_b64', Buffer.from(text).toString('base64')]]);
  const problemsOf = async (values: ReadonlyMap<string, string>) =>
    composeProblems(await readComposeFile(decodeCompose(values)), contract);
  const problems = (text: string) => problemsOf(sent(text));

  it('passes a service whose image reads the tag variable, in every form compose takes', async () => {
    for (const image of ['${BACKEND_TAG}', '${BACKEND_TAG:-latest}', '$BACKEND_TAG', '${BACKEND_TAG-x}'])
      expect(
        await problems(`services:\n  api:\n    image: scanium-backend:${image}\n  db:\n    image: postgres:16\n`),
      ).toEqual([]);
    // merge keys: the image comes from an anchor
    expect(
      await problems(
        'x-app: &app\n  image: "scanium-backend:${BACKEND_TAG}"\nservices:\n  api:\n    <<: *app\n    restart: always\n',
      ),
    ).toEqual([]);
  });

  it('names the variable an image ignores, and the line to write', async () => {
    expect(await problems('services:\n  api:\n    image: scanium-backend:latest\n')).toEqual([
      "in backend/docker-compose.yml at 1234567, service api's image (scanium-backend:latest) does not read BACKEND_TAG, so the release would not run the image it made: write the line `image: scanium-backend:${BACKEND_TAG}` in service api",
    ]);
    // a service without an image at all (build only) reads no variable either
    expect((await problems('services:\n  api:\n    build: .\n'))[0]).toContain(
      "service api's image does not read BACKEND_TAG",
    );
    // another service's variable is not this one's; a literal $$ reads nothing
    expect((await problems('services:\n  api:\n    image: scanium-backend:${WORKER_TAG}\n'))[0]).toContain(
      'does not read BACKEND_TAG',
    );
    expect((await problems('services:\n  api:\n    image: scanium-backend:$${BACKEND_TAG}\n'))[0]).toContain(
      'does not read BACKEND_TAG',
    );
    // read elsewhere in the service is not read by its image
    expect(
      (
        await problems(
          'services:\n  api:\n    image: scanium-backend:latest\n    environment:\n      T: ${BACKEND_TAG}\n',
        )
      )[0],
    ).toContain('does not read BACKEND_TAG');
  });

  it('names a missing service and the services there are', async () => {
    expect(await problems('services:\n  web:\n    image: nginx:1\n  db:\n    image: postgres:16\n')).toEqual([
      'backend/docker-compose.yml at 1234567 has no service api (its services: web, db): add it, with the line `image: scanium-backend:${BACKEND_TAG}`, or name one of its services',
    ]);
    expect((await problems('name: shop\n'))[0]).toContain('has no service api (its services: none)');
  });

  it('leaves to compose what the file takes from elsewhere: include, extends', async () => {
    expect(await problems('include:\n  - other.yml\nservices:\n  web:\n    image: nginx\n')).toEqual([]);
    expect(await problems('services:\n  api:\n    extends:\n      file: base.yml\n      service: api\n')).toEqual([]);
  });

  it('refuses a compose file missing from the commit, and one that is no YAML', async () => {
    expect((await problemsOf(new Map([['compose_error', 'missing']])))[0]).toBe(
      'backend/docker-compose.yml at 1234567 does not exist: set compose-file to the compose file of the commit being released',
    );
    const broken = await readComposeFile(decodeCompose(sent('services:\n  api:\n    image: [unclosed\n')));
    expect(broken.read).toBe('unreadable');
    // nothing asked (a dry run of nothing): nothing refused
    expect(composeProblems(await readComposeFile(decodeCompose(new Map())), contract)).toEqual([]);
  });
});

describe('the compose preflight of a blue-green release', () => {
  const contract = {
    file: 'backend/docker-compose.yml',
    commit: '1234567890abcdef',
    services: [{ name: 'api', tagVariable: 'BACKEND_TAG' }],
    image: () => 'nrg-backend',
    blueGreen: { portVariable: 'BACKEND_PORT' },
  };
  const problems = async (service: string) =>
    composeProblems(
      await readComposeFile(
        decodeCompose(
          new Map([
            [
              'compose_b64',
              Buffer.from(`services:\n  api:\n    image: nrg-backend:\${BACKEND_TAG:-latest}\n${service}`).toString(
                'base64',
              ),
            ],
          ]),
        ),
      ),
      contract,
    );

  it("passes the stand-in's sample: a container name by COLOR, the port from BACKEND_PORT", async () => {
    expect(
      await problems(
        '    container_name: nrg-backend-${COLOR:-blue}\n    network_mode: host\n    environment:\n      BACKEND_PORT: ${BACKEND_PORT:-18121}\n',
      ),
    ).toEqual([]);
    // no container name: compose names each colour's container after its project
    expect(await problems('    ports:\n      - "127.0.0.1:${BACKEND_PORT}:8080"\n')).toEqual([]);
    expect(await problems('    ports:\n      - published: ${BACKEND_PORT}\n        target: 8080\n')).toEqual([]);
  });

  it('refuses a container name both colours would take, with the line to write', async () => {
    expect(
      await problems('    container_name: scanium-backend\n    environment:\n      - BACKEND_PORT=${BACKEND_PORT}\n'),
    ).toEqual([
      "in backend/docker-compose.yml at 1234567, service api's container_name (scanium-backend) is the same for both colours, so the idle colour cannot start beside the live one: write the line `container_name: scanium-backend-${COLOR}`",
    ]);
  });

  it('refuses a host port both colours would publish, and a service that never reads the port variable', async () => {
    expect(await problems('    ports:\n      - "8080:8080"\n')).toEqual([
      'in backend/docker-compose.yml at 1234567, service api publishes host port 8080 for both colours (`8080:8080`), so the idle colour cannot start beside the live one: write it `- "${BACKEND_PORT}:8080"`',
    ]);
    expect((await problems('    ports:\n      - "[::1]:8080:80/tcp"\n'))[0]).toContain(
      'publishes host port 8080 for both colours (`[::1]:8080:80/tcp`)',
    );
    expect(await problems('    network_mode: host\n')).toEqual([
      'in backend/docker-compose.yml at 1234567, service api does not read BACKEND_PORT, so both colours would listen on one port and the proxy could not tell them apart: write the line `BACKEND_PORT: ${BACKEND_PORT}` under its environment and listen on that port',
    ]);
    // a container port alone publishes a port docker picks: no clash, but nothing tells the colours' ports apart
    expect((await problems('    ports:\n      - "8080"\n'))[0]).toContain(
      'publish the colour\'s port with the line `- "${BACKEND_PORT}:8080"` under ports',
    );
  });
});
