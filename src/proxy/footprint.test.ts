// What a proxy process loads: the proxy's modules and the CLI's `proxy` command must not pull in
// packages only other commands or rare paths need (each costs every sidecar megabytes of memory).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';

const root = path.join(import.meta.dirname, '..', '..');

/** Loads `modules` in a fresh Node process and returns the npm packages it loaded and whether Node's bundled undici was loaded. */
function loadedBy(modules: string[]): { packages: string[]; bundledUndici: boolean } {
  const script = `
    import { createRequire } from 'node:module';
    ${modules.map((m, i) => `await import(${JSON.stringify(path.join(root, m))}).then((m${i}) => m${i});`).join('\n')}
    const require = createRequire(import.meta.url);
    const packages = new Set(Object.keys(require.cache).flatMap((f) => {
      const m = /node_modules\\/((?:@[^/]+\\/)?[^/]+)\\//.exec(f.slice(f.lastIndexOf('node_modules/')));
      return m ? [m[1]] : [];
    }));
    console.log(JSON.stringify({ packages: [...packages].sort(), bundledUndici: process.moduleLoadList.some((m) => m.includes('undici')) }));
  `;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: root, encoding: 'utf8' });
  return JSON.parse(out) as { packages: string[]; bundledUndici: boolean };
}

test('the proxy and its CLI command load no schema library, no X.509 library and no undici', () => {
  const { packages, bundledUndici } = loadedBy(['src/proxy/run-proxy.ts', 'src/proxy/proxy.ts', 'src/cli/proxy.ts']);
  for (const heavy of ['undici', 'zod', '@peculiar/x509', 'asn1js', 'tsyringe', 'yaml']) assert.ok(!packages.includes(heavy), `${heavy} loaded: ${packages.join(', ')}`);
  assert.equal(bundledUndici, false, "Node's bundled undici was loaded (an ESM import of node:http does that)");
  // The xDS client and the proto codec are what a proxy does need.
  assert.ok(packages.includes('@grpc/grpc-js') && packages.includes('protobufjs'), packages.join(', '));
});
