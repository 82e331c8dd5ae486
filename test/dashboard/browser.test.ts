// The dashboard in a real headless Chromium: the page loads under its CSP, draws the service graph
// with the services and edges in the data, and every view renders. Screenshots go to a temp dir.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { RawAdsClient, sidecarNode } from '../controlplane/raw-ads-client.ts';
import { MeshFixture } from './mesh-fixture.ts';

const executablePath = '/usr/bin/chromium';
const skip = existsSync(executablePath) ? false : `${executablePath} is absent: install it (apt-get install -y chromium) to run the dashboard browser test`;

let mesh: MeshFixture;
let profile: string;
let shots: string;
let context: BrowserContext;
let page: Page;
const problems: string[] = [];

before(async () => {
  if (skip) return;
  mesh = await new MeshFixture().start();
  // Three scrape rounds 10 s apart, so the sparklines have two points.
  await mesh.dashboard.scrapeNow();
  mesh.traffic('stable', 60, { errors: 1, slow: 3 });
  mesh.traffic('canary', 20, { errors: 3 });
  mesh.clock.advance(10_000);
  await mesh.dashboard.scrapeNow();
  mesh.traffic('stable', 90, { slow: 5 });
  mesh.traffic('canary', 30, { errors: 2, slow: 2 });
  mesh.clock.advance(10_000);
  await mesh.dashboard.scrapeNow();
  mesh.trace('aaaabbbbccccdddd0000111122223333', Date.now() - 2000);
  mesh.trace('0123456789abcdef0123456789abcdef', Date.now() - 1000, true);
  profile = await mkdtemp(path.join(tmpdir(), 'or-chromium-'));
  shots = await mkdtemp(path.join(tmpdir(), 'or-dashboard-shots-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    timeout: 30_000,
    viewport: { width: 1360, height: 860 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(15_000);
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console: ${m.text()}`);
  });
});

after(async () => {
  if (skip) return;
  await context?.close();
  await mesh?.close();
  await rm(profile, { recursive: true, force: true });
});

test('the graph shows the gateway, the service and both versions, with live edges', { skip }, async (t) => {
  await page.goto(mesh.dashboard.url);
  await page.waitForSelector('#graph [data-node-id="service:podinfo/podinfo"]');
  const nodes = await page.$$eval('#graph [data-node-id]', (els) => els.map((e) => e.getAttribute('data-node-id')));
  for (const id of ['workload:istio-system/istio-ingressgateway', 'service:podinfo/podinfo', 'workload:podinfo/podinfo-stable', 'workload:podinfo/podinfo-canary']) assert.ok(nodes.includes(id), `${id} in ${nodes.join(', ')}`);
  const edges = await page.$$eval('#graph [data-edge-id]', (els) => els.map((e) => ({ id: e.getAttribute('data-edge-id'), rps: Number(e.getAttribute('data-rps')), cls: e.getAttribute('class'), label: e.querySelector('.edge-label')?.textContent ?? '' })));
  const inbound = edges.find((e) => e.id === 'workload:istio-system/istio-ingressgateway>service:podinfo/podinfo');
  // 200 requests over 20 s
  assert.equal(inbound?.rps, 10);
  assert.match(inbound?.label ?? '', /^10\.0 rps · 3\.0%$/);
  assert.match(inbound?.cls ?? '', /degraded/);
  const canary = edges.find((e) => e.id === 'service:podinfo/podinfo>workload:podinfo/podinfo-canary');
  assert.match(canary?.cls ?? '', /failing/);
  const file = path.join(shots, 'graph.png');
  await page.screenshot({ path: file, fullPage: true });
  t.diagnostic(`screenshot: ${file}`);
});

test('the service page, traces, proxies and certificates render', { skip }, async (t) => {
  await page.click('#graph [data-node-id="service:podinfo/podinfo"]');
  await page.waitForSelector('#service-detail [data-chart="rps"] .spark-line');
  assert.equal(await page.locator('#service-detail [data-chart="rps"] .spark-line').count(), 1);
  await page.screenshot({ path: path.join(shots, 'service.png'), fullPage: true });

  await page.goto(`${mesh.dashboard.url}#/services`);
  await page.waitForSelector('#services-table [data-service="podinfo/podinfo"]');

  await page.goto(`${mesh.dashboard.url}#/traces`);
  await page.waitForSelector('#traces-table [data-trace]');
  assert.equal(await page.locator('#traces-table [data-trace]').count(), 2);
  await page.click('#traces-table [data-trace="0123456789abcdef0123456789abcdef"] a');
  await page.waitForSelector('#waterfall [data-span]');
  assert.equal(await page.locator('#waterfall .span-row.error').count(), 3);
  await page.screenshot({ path: path.join(shots, 'trace.png'), fullPage: true });

  const proxy = new RawAdsClient(mesh.cp.xdsAddress, sidecarNode('podinfo', 'podinfo-canary-0', 'default', 'podinfo-canary'));
  try {
    proxy.subscribe(TypeUrl.Cluster);
    proxy.nack(await proxy.next(), '', 'cluster outbound|9898||podinfo.podinfo.svc.cluster.local: unsupported lb_policy');
    await proxy.barrier();
    await page.goto(`${mesh.dashboard.url}#/proxies`);
    await page.waitForSelector('#proxies-table [data-proxy="podinfo-canary-0.podinfo"]');
    assert.match((await page.locator('#proxies-table .nack-row').textContent()) ?? '', /unsupported lb_policy/);
  } finally {
    proxy.close();
  }
  await page.screenshot({ path: path.join(shots, 'proxies.png'), fullPage: true });

  await page.goto(`${mesh.dashboard.url}#/certificates`);
  await page.waitForSelector('#certs-table [data-cert]');
  await page.screenshot({ path: path.join(shots, 'certificates.png'), fullPage: true });
  t.diagnostic(`screenshots in ${shots}`);
  assert.deepEqual(problems, []);
});
