import { describe, expect, it } from 'vitest';
import { InputError, PATTERNS } from '../../src/inputs/reader.js';
import { deployBackend } from '../../src/release/backend/deploy.js';
import { rollbackBackend } from '../../src/release/backend/rollback.js';
import { cleanupBackend } from '../../src/release/backend/cleanup.js';
import type { HistoryRecord, ServiceRecord } from '../../src/remote/history.js';
import {
  distinctImages,
  imageHistory,
  parseServiceNames,
  parseServices,
  previousServiceRelease,
  pulledDigestOf,
  pulledTagOf,
  recordServices,
  releasedServices,
  ServicesSyntaxError,
  type ServiceDefaults,
} from '../../src/rules/services.js';
import { released } from '../support/records.js';
import { settingsOf } from '../support/settings.js';

const DEFAULTS: ServiceDefaults = {
  service: 'api',
  image: 'scanium-backend',
  container: 'scanium-backend',
  tagVariable: 'BACKEND_TAG',
  buildContext: 'backend',
  dockerfile: '',
  healthUrl: 'http://127.0.0.1:8080/health',
};
const parse = (text: string) => parseServices(text, DEFAULTS, PATTERNS);

describe('the services syntax', () => {
  it('empty (or only blank and # lines): no services, the single-service release of today', () => {
    expect(parse('')).toEqual([]);
    expect(parse('\n  # api and worker\n\n')).toEqual([]);
  });

  it('a Scanium API and worker from one image: what a line leaves out comes from the single-service inputs', () => {
    expect(parse('api\nworker health-url=')).toEqual([
      {
        name: 'api',
        image: 'scanium-backend',
        container: 'scanium-backend',
        tagVariable: 'BACKEND_TAG',
        buildContext: 'backend',
        dockerfile: '',
        healthUrl: 'http://127.0.0.1:8080/health',
      },
      {
        name: 'worker',
        image: 'scanium-backend',
        // only the line of the `service` input takes the `container` input; the worker's is compose's
        container: '',
        tagVariable: 'BACKEND_TAG',
        buildContext: 'backend',
        dockerfile: '',
        // `health-url=` with nothing: the container's healthcheck, else it staying up
        healthUrl: '',
      },
    ]);
  });

  it('every key, registry-qualified images, and several images built once each', () => {
    const services = parse(`
gateway image=ghcr.io/acme/shop/gateway tag-variable=GATEWAY_TAG container=shop-gateway build-context=gateway dockerfile=gateway/Dockerfile.prod health-url=http://127.0.0.1:8001/health/
orders  image=ghcr.io/acme/shop/orders tag-variable=ORDERS_TAG build-context=orders health-url=http://127.0.0.1:8005/health
orders-worker image=ghcr.io/acme/shop/orders tag-variable=ORDERS_TAG build-context=orders health-url=`);
    expect(services[0]).toEqual({
      name: 'gateway',
      image: 'ghcr.io/acme/shop/gateway',
      container: 'shop-gateway',
      tagVariable: 'GATEWAY_TAG',
      buildContext: 'gateway',
      dockerfile: 'gateway/Dockerfile.prod',
      healthUrl: 'http://127.0.0.1:8001/health',
    });
    expect(distinctImages(services)).toEqual([
      {
        image: 'ghcr.io/acme/shop/gateway',
        buildContext: 'gateway',
        dockerfile: 'gateway/Dockerfile.prod',
        services: ['gateway'],
      },
      {
        image: 'ghcr.io/acme/shop/orders',
        buildContext: 'orders',
        dockerfile: '',
        services: ['orders', 'orders-worker'],
      },
    ]);
  });

  it.each([
    ['api\napi', /line 2 .*service api is listed twice/],
    [
      'api\nworker container=scanium-backend',
      /line 2 .*container scanium-backend is already the container of another service/,
    ],
    ['api colour=blue', /line 1 .*"colour=blue" is not one of image=, container=, tag-variable=/],
    ['api image', /line 1 .*"image" is not one of/],
    ['api image=a image=b', /line 1 .*image is given twice/],
    ['image=api', /line 1 .*starts with the compose service name/],
    ['api;rm -rf /', /line 1 .*is not a compose service name/],
    ['api image=Shop/API', /line 1 .*image must be a Docker image name/],
    ['api tag-variable=1TAG', /line 1 .*tag-variable must be an environment variable name/],
    ['api build-context=../etc', /line 1 .*build-context must be a path inside repo-path/],
    ['api dockerfile=/etc/passwd', /line 1 .*dockerfile must be a path inside repo-path/],
    ['api build-context=--output=/', /line 1 .*must not start with -/],
    ['api health-url=file:///etc/passwd', /line 1 .*health-url must be an http/],
    [
      '\n\napi\nworker build-context=worker',
      /line 4 .*image scanium-backend is also the image of api, built from backend/,
    ],
  ])('refuses %j, naming the line', (text, message) => {
    expect(() => parse(text)).toThrow(ServicesSyntaxError);
    expect(() => parse(text)).toThrow(message);
  });

  it('errors name the services input, before anything connects', () => {
    const read = () => settingsOf(deployBackend, { services: 'api\napi' });
    expect(read).toThrow(InputError);
    expect(read).toThrow(/^Input 'services': line 2/);
    expect(() => settingsOf(cleanupBackend, { services: 'api bogus=1' })).toThrow(/^Input 'services': line 1/);
  });

  it('what a several-service release does not do yet is refused by name, not done for one service', () => {
    // backups and their restore on fallback apply to several services as to one
    expect(
      settingsOf(deployBackend, {
        services: 'api\nworker',
        'backup-volumes': 'uploads',
        'auto-rollback-restore': 'true',
      }).backups.enabled,
    ).toBe(true);
    // the metrics watch applies to several services as to one
    expect(
      settingsOf(deployBackend, {
        services: 'api\nworker',
        watch: '10m',
        guards: 'e: up > 1 for 1m',
        'metrics-url': 'http://127.0.0.1:9090',
      }).watch,
    ).toMatchObject({ seconds: 600, metricsUrl: 'http://127.0.0.1:9090' });
    // without services, the same inputs are fine: the single-service release is unchanged
    expect(settingsOf(deployBackend, { 'backup-volumes': 'uploads' }).services).toEqual([]);
  });

  it('one image-source for all the services: registry reads every distinct image, checked before connecting', () => {
    const lines =
      'api image=127.0.0.1:5000/shop-api\nworker image=127.0.0.1:5000/shop-api\nweb image=127.0.0.1:5000/shop-web';
    const registry = { 'image-source': 'registry', 'image-tag': 'c0ffee1', services: lines };
    const login = { 'registry-username': 'ci-bot', 'registry-password': 'token-1' };
    // the image input (scanium-backend, of no line) is not an image of the release: registry agrees with the lines'
    expect(settingsOf(deployBackend, { ...registry, ...login, registry: '127.0.0.1:5000' }).source).toEqual({
      kind: 'registry',
      tag: 'c0ffee1',
      login: { server: '127.0.0.1:5000', username: 'ci-bot', password: 'token-1' },
    });
    expect(
      settingsOf(deployBackend, { ...registry, services: 'api\nworker', image: 'ghcr.io/acme/api' }).source,
    ).toEqual({
      kind: 'registry',
      tag: 'c0ffee1',
    });
    expect(() => settingsOf(deployBackend, { ...registry, 'image-tag': '' })).toThrow(
      /^Input 'image-tag': is required/,
    );
    // registry must agree with every image, naming the one that does not
    expect(() =>
      settingsOf(deployBackend, {
        ...registry,
        services: `${lines}\nmailer image=ghcr.io/acme/mailer`,
        registry: '127.0.0.1:5000',
      }),
    ).toThrow(/^Input 'registry': is 127\.0\.0\.1:5000, but image ghcr\.io\/acme\/mailer is pulled from ghcr\.io/);
    // one set of credentials logs in to one registry; anonymous pulls may come from several
    expect(() =>
      settingsOf(deployBackend, { ...registry, ...login, services: `${lines}\nmailer image=ghcr.io/acme/mailer` }),
    ).toThrow(
      /^Input 'services': names images on two registries \(127\.0\.0\.1:5000\/shop-api on 127\.0\.0\.1:5000, ghcr\.io\/acme\/mailer on ghcr\.io\)/,
    );
    expect(
      settingsOf(deployBackend, { ...registry, services: `${lines}\nmailer image=ghcr.io/acme/mailer` }).services,
    ).toHaveLength(4);
    expect(settingsOf(deployBackend, { services: 'api\nworker', 'image-source': 'runner' }).source).toEqual({
      kind: 'runner',
    });
    // one environment file for the release's services
    expect(settingsOf(deployBackend, { ...registry, 'env-file': '.env', 'env-file-content': 'A=1' }).envFile).toEqual({
      path: '.env',
      content: 'A=1',
    });
  });

  it("rollback-backend's services: names, comma or newline separated, each checked", () => {
    expect(parseServiceNames('api, worker\nweb,,api', PATTERNS)).toEqual(['api', 'worker', 'web']);
    expect(parseServiceNames('', PATTERNS)).toEqual([]);
    expect(settingsOf(rollbackBackend, { services: 'worker' }).services).toEqual(['worker']);
    expect(() => settingsOf(rollbackBackend, { services: 'api,$(reboot)' })).toThrow(
      /^Input 'services': "\$\(reboot\)" is not a compose service name/,
    );
  });
});

const svc = (tag: string, image = 'shop'): ServiceRecord => ({
  tag,
  image,
  container: '',
  tagVariable: 'TAG',
  healthUrl: '',
});
const A = '2026.01.01-aaaaaaa';
const B = '2026.01.02-bbbbbbb';
const C = '2026.01.03-ccccccc';
const deployOf = (tag: string): HistoryRecord =>
  released('backend', tag, { services: { api: svc(tag), worker: svc(tag), web: svc(tag, 'web') } });
const rollbackOf = (services: Record<string, ServiceRecord>, named: boolean): HistoryRecord =>
  released('backend', Object.values(services)[0].tag, {
    action: 'rollback-backend',
    detail: named ? 'named' : 'previous-release',
    services,
  });

describe('each service in the history', () => {
  it("an empty-tag rollback of one service goes to its own previous release and does not move the others'", () => {
    const history = [deployOf(A), deployOf(B), deployOf(C)];
    expect(previousServiceRelease(history, 'worker', C)).toBe(B);
    // worker back to B, then A: each pop counts only the worker's records
    const once = [...history, rollbackOf({ worker: svc(B) }, false)];
    expect(previousServiceRelease(once, 'worker', B)).toBe(A);
    expect(previousServiceRelease(once, 'api', C)).toBe(B);
    const twice = [...once, rollbackOf({ worker: svc(A) }, false)];
    expect(previousServiceRelease(twice, 'worker', A)).toBeUndefined();
    expect(previousServiceRelease(twice, 'api', C)).toBe(B);
    expect(releasedServices(twice)).toEqual(
      new Map([
        ['api', svc(C)],
        ['worker', svc(A)],
        ['web', svc(C, 'web')],
      ]),
    );
  });

  it('a failed or rolled-back release does not count; a new deploy sets the list of services again', () => {
    const history = [
      deployOf(A),
      { ...deployOf(B), outcome: 'rolled-back' as const },
      released('backend', C, { services: { api: svc(C) } }),
    ];
    expect(previousServiceRelease(history, 'api', C)).toBe(A);
    expect([...releasedServices(history).keys()]).toEqual(['api']);
    // a single-service history knows no services
    expect(releasedServices([released('backend', A)]).size).toBe(0);
  });

  it("an image's own history: a rollback of another image's service does not make a tag newer", () => {
    const history = [deployOf(A), deployOf(B), rollbackOf({ web: svc(A, 'web') }, true)];
    expect(imageHistory(history, 'shop').map((r) => r.tag)).toEqual([A, B]);
    expect(imageHistory(history, 'web').map((r) => r.tag)).toEqual([A, B, A]);
  });

  it("a service's pulled registry tag: kept when it is a docker tag, found again by image and tag", () => {
    const pulledDeploy = released('backend', B, {
      services: { api: { ...svc(B), pulled: 'c0ffee1' }, web: svc(B, 'web') },
    });
    expect(recordServices(pulledDeploy).get('api')?.pulled).toBe('c0ffee1');
    expect(pulledTagOf([deployOf(A), pulledDeploy], 'shop', B)).toBe('c0ffee1');
    expect(pulledTagOf([deployOf(A), pulledDeploy], 'shop', A)).toBeUndefined();
    expect(pulledTagOf([deployOf(A), pulledDeploy], 'web', B)).toBeUndefined();
    // a pulled tag that is not a docker tag (it would reach docker pull) makes the entry no record
    const odd = released('backend', B, { services: { api: { ...svc(B), pulled: 'x;reboot' } } });
    expect(recordServices(odd).size).toBe(0);
  });

  it('data safety 9: the digest a service image was released with, found by image and tag; never one that is not sha256', () => {
    const digest = `sha256:${'0a'.repeat(32)}`;
    const deploy = released('backend', B, {
      services: { api: { ...svc(B), pulled: 'latest' }, web: svc(B, 'web') },
      digests: { shop: digest, web: 'sha256:x"; reboot' },
    });
    // a later rollback record of the same tag, without digests, does not hide it
    const rollback = rollbackOf({ api: { ...svc(B), pulled: 'latest' } }, true);
    expect(pulledDigestOf([deployOf(A), deploy, rollback], 'shop', B)).toBe(digest);
    expect(pulledDigestOf([deployOf(A), deploy], 'shop', A)).toBeUndefined();
    expect(pulledDigestOf([deployOf(A), deploy], 'web', B)).toBeUndefined();
  });

  it('ignores service entries the history file holds that are not records', () => {
    const odd = released('backend', A, { services: { api: { tag: 5 } as unknown as ServiceRecord } });
    expect(releasedServices([odd]).size).toBe(0);
    // a field that would reach docker as an option is not a service of the release
    const option = released('backend', A, { services: { api: { ...svc(A), image: '--help' }, worker: svc(A) } });
    expect([...releasedServices([option]).keys()]).toEqual(['worker']);
  });
});
