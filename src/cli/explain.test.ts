// explain's refusals read as every command's do: `outrigger explain: ...`, one line, exit 1.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { main } from './main.ts';

const seed = fileURLToPath(new URL('../../examples/seed', import.meta.url));

test('explain: a --from no proxy has is one line prefixed as every command, exit 1', async () => {
  const err: string[] = [];
  const [error, write] = [console.error, process.stdout.write];
  console.error = (line: string) => void err.push(line);
  process.stdout.write = (() => true) as typeof process.stdout.write;
  try {
    assert.equal(await main(['node', 'outrigger', 'explain', '-f', seed, '--from', 'nosuch', '--to', 'http://podinfo.podinfo:9898/']), 1);
  } finally {
    [console.error, process.stdout.write] = [error, write];
    process.exitCode = 0;
  }
  assert.equal(err.length, 1, err.join('\n'));
  assert.match(err[0] ?? '', /^outrigger explain: no proxy matches "nosuch" /);
});

/** `explain -f seed` run through main(): its exit code, what it printed and what it said on stderr. */
async function explainSeed(...args: string[]): Promise<{ code: number; out: string; err: string[] }> {
  const err: string[] = [];
  const out: string[] = [];
  const [error, write] = [console.error, process.stdout.write];
  console.error = (line: string) => void err.push(line);
  process.stdout.write = ((c: string) => out.push(String(c)) > 0) as typeof process.stdout.write;
  try {
    const code = await main(['node', 'outrigger', 'explain', '-f', seed, ...args]);
    return { code, out: out.join(''), err };
  } finally {
    [console.error, process.stdout.write] = [error, write];
    process.exitCode = 0;
  }
}

test('explain offline takes a gateway by the name the live commands print (POD.NAMESPACE), and by its Deployment', async () => {
  for (const from of ['istio-ingressgateway-0.istio-system', 'istio-system/istio-ingressgateway-0', 'istio-ingressgateway.istio-system', 'ingress']) {
    const r = await explainSeed('--from', from, '--to', 'http://podinfo.example.com/');
    assert.equal(r.code, 0, `${from}: ${r.err.join('\n')}`);
    assert.match(r.out, /: istio-ingressgateway-0\.istio-system \(router, /, from);
  }
});

test('explain: the refusal of an unknown --from says what it takes, not that the proxy has no sidecar', async () => {
  const r = await explainSeed('--from', 'istio-ingressgateway-7.istio-system', '--to', 'http://podinfo.example.com/');
  assert.equal(r.code, 1);
  assert.match(r.err[0] ?? '', /known: .*istio-ingressgateway-0\.istio-system/);
  assert.doesNotMatch(r.err[0] ?? '', /without a sidecar is not routed/);
});
