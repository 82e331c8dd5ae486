// A proxy alone in its process (`outrigger proxy`, as netns mode runs each one) reports the process's
// CPU and memory as cAdvisor's istio-proxy container series; proxies sharing a process (the proxy host)
// do not, since none of them owns that CPU or memory.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startProxy } from './harness.ts';

async function prometheusText(ownsProcess: boolean): Promise<string> {
  const p = await startProxy(ownsProcess ? { ownsProcess } : {});
  try {
    return await (await fetch(`http://127.0.0.1:${p.metricsPort}/stats/prometheus`)).text();
  } finally {
    await p.close();
  }
}

test('a proxy that owns its process reports its CPU seconds and resident memory as the istio-proxy container', async () => {
  const text = await prometheusText(true);
  assert.match(text, /^# TYPE container_cpu_usage_seconds_total counter$/m);
  assert.match(text, /^# TYPE container_memory_working_set_bytes gauge$/m);
  const cpu = Number(/^container_cpu_usage_seconds_total\{container="istio-proxy"\} (\S+)$/m.exec(text)?.[1]);
  const rss = Number(/^container_memory_working_set_bytes\{container="istio-proxy"\} (\S+)$/m.exec(text)?.[1]);
  // This test's own process: some CPU spent, its resident memory within a factor of what Node reports.
  assert.ok(cpu > 0 && cpu <= process.cpuUsage().user / 1e6 + process.cpuUsage().system / 1e6, String(cpu));
  const now = process.memoryUsage.rss();
  assert.ok(rss > now / 2 && rss < now * 2, `${rss} against ${now}`);
});

test('a proxy sharing its process (the proxy host) reports no container series', async () => {
  assert.doesNotMatch(await prometheusText(false), /container_/);
});
