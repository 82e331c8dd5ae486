// The proxy host keeps its proxies running as a kubelet keeps a container running: restarted after a
// doubling backoff when one exits, left stopped when its Job retires it or when the host drains.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type HostEvent, HostedProxies, type HostedRun } from './hosted-proxies.ts';
import type { Scheduler } from './supervisor.ts';

/** A scheduler the test drives by hand: nothing waits for real time. */
function manualScheduler(): Scheduler & { fire(): void; delays: number[]; queued(): number } {
  const queue: (() => void)[] = [];
  const delays: number[] = [];
  return {
    delays,
    setTimeout(fn, ms) {
      queue.push(fn);
      delays.push(ms);
      return { cancel: () => queue.includes(fn) && queue.splice(queue.indexOf(fn), 1) && undefined };
    },
    fire: () => queue.shift()?.(),
    queued: () => queue.length,
  };
}

/** A proxy whose every run the test can end, as POST /quitquitquit ends one. */
function fakeProxy(name: string) {
  const runs: { quit(): void; drained: boolean }[] = [];
  return {
    runs,
    name,
    async start(): Promise<HostedRun> {
      const stopped = Promise.withResolvers<void>();
      const run = { quit: () => stopped.resolve(), drained: false };
      runs.push(run);
      return {
        stopped: stopped.promise,
        drain: async () => {
          run.drained = true;
          stopped.resolve();
        },
      };
    },
  };
}

const turn = () => new Promise<void>((r) => setImmediate(r));

test('a proxy that exits is restarted after 0.5s, 1s, 2s ...; the backoff is forgotten after 10 minutes up', async () => {
  const scheduler = manualScheduler();
  const gw = fakeProxy('istio-system/istio-egressgateway-0');
  const events: HostEvent[] = [];
  let now = 0;
  const host = new HostedProxies([gw], { report: (e) => events.push(e), scheduler, now: () => now });
  await host.start();
  for (let i = 0; i < 3; i++) {
    gw.runs.at(-1)?.quit();
    await turn();
    scheduler.fire();
    await turn();
  }
  assert.deepEqual(scheduler.delays, [500, 1000, 2000]);
  assert.equal(gw.runs.length, 4);
  assert.deepEqual(
    events.map((e) => e.type),
    ['proxy-exit', 'proxy-started', 'proxy-exit', 'proxy-started', 'proxy-exit', 'proxy-started'],
  );
  now += 10 * 60_000;
  gw.runs.at(-1)?.quit();
  await turn();
  assert.equal(scheduler.delays.at(-1), 500);
});

test('a retired proxy (its Job finished) is drained and not restarted; the host is done when the others drain', async () => {
  const scheduler = manualScheduler();
  const job = fakeProxy('batch/migrate-0');
  const web = fakeProxy('shop/web-0');
  const events: HostEvent[] = [];
  const host = new HostedProxies([job, web], { report: (e) => events.push(e), scheduler });
  await host.start();
  let done = false;
  void host.done.then(() => {
    done = true;
  });
  host.retire('batch/migrate-0');
  await turn();
  assert.equal(job.runs[0]?.drained, true);
  assert.equal(scheduler.queued(), 0, 'nothing scheduled');
  assert.deepEqual(events, [{ type: 'proxy-retired', name: 'batch/migrate-0' }]);
  assert.equal(done, false, 'web still runs');
  await host.drainAll();
  await turn();
  assert.equal(web.runs[0]?.drained, true);
  assert.equal(done, true);
  assert.equal(job.runs.length + web.runs.length, 2, 'nothing restarted');
});

test('a host draining while a proxy waits to restart does not restart it', async () => {
  const scheduler = manualScheduler();
  const gw = fakeProxy('istio-system/istio-ingressgateway-0');
  const host = new HostedProxies([gw], { report: () => {}, scheduler });
  await host.start();
  gw.runs[0]?.quit();
  await turn();
  assert.equal(scheduler.queued(), 1);
  await host.drainAll();
  assert.equal(scheduler.queued(), 0);
  await host.done;
  assert.equal(gw.runs.length, 1);
});
