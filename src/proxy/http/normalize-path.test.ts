// Istio's path normalization conformance table (tests/integration/security/normalization_test.go) and the
// percent sweep, for all four modes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compilePathNormalizer, type PathNormalizationMode, parsePathNormalizationMode } from './normalize-path.ts';

const MODES: PathNormalizationMode[] = ['NONE', 'BASE', 'MERGE_SLASHES', 'DECODE_AND_MERGE_SLASHES'];
const U = 'unchanged';
// input, NONE, BASE, MERGE_SLASHES, DECODE_AND_MERGE_SLASHES
const TABLE: [string, string, string, string, string][] = [
  ['/app#foo', '/app', '/app', '/app', '/app'],
  ['/app/../admin', U, '/admin', '/admin', '/admin'],
  ['/app//', U, '/app//', '/app/', '/app/'],
  ['/app/%2f', U, '/app/%2f', '/app/%2f', '/app/'],
  ['/app%2f/', U, '/app%2f/', '/app%2f/', '/app/'],
  ['/xyz%30..//abc', U, '/xyz0..//abc', '/xyz0../abc', '/xyz0../abc'],
  ['/app/%2E./admin', U, '/admin', '/admin', '/admin'],
  ['/app\\admin', U, '/app/admin', '/app/admin', '/app/admin'],
  ['/app/\\/\\/\\admin', U, '/app//////admin', '/app/admin', '/app/admin'],
  ['/%2Fapp%5cadmin%5Cabc', U, U, U, '/app/admin/abc'],
  [
    '/%5Capp%2f%5c%2F%2e%2e%2fadmin%5c\\abc',
    U,
    '/%5Capp%2f%5c%2F..%2fadmin%5c/abc',
    '/%5Capp%2f%5c%2F..%2fadmin%5c/abc',
    '/app/admin/abc',
  ],
  ['/app//../admin', U, '/app/admin', '/app/admin', '/app/admin'],
  ['/app//../../admin', U, '/admin', '/admin', '/admin'],
  ['/%c0%2e%c0%2e/admin', U, '/%c0.%c0./admin', '/%c0.%c0./admin', '/%c0.%c0./admin'],
  ['/%c0%2fadmin', U, U, U, '/%c0/admin'],
];

test('conformance table, every mode', () => {
  for (const [input, ...expected] of TABLE) {
    MODES.forEach((mode, i) => {
      const want = expected[i] === U ? input : expected[i];
      const got = compilePathNormalizer(mode)(input);
      assert.ok(got.ok, `${mode} ${input}`);
      assert.equal(got.path, want, `${mode} ${input}`);
    });
  }
});

test('%00 is rejected in every mode', () => {
  for (const mode of MODES) {
    const got = compilePathNormalizer(mode)('/admin%00');
    assert.equal(got.ok, false);
    if (!got.ok) assert.equal(got.status, 400);
  }
});

test('never normalised (double encoding, overlong UTF-8, odd segments, case)', () => {
  const never = [
    '/0x2e0x2e/admin',
    '/%25c0%25ae%25c1%259cadmin',
    '/%252e%252e/admin',
    '/%252e%252e%252fadmin',
    '/%c1%9cadmin',
    '/%c0%ae%c0%ae/admin',
    '/%c0%afadmin',
    '/.../admin',
    '/..../admin',
    '/..;/admin',
    '/;/admin',
    '/admin;a=b',
    '/admin;a=b/xyz',
    '/admin,a=b/xyz',
    '/Admin',
    '/ADMIN',
  ];
  const normalize = compilePathNormalizer('DECODE_AND_MERGE_SLASHES');
  for (const p of never) assert.deepEqual(normalize(p), { ok: true, path: p, query: '' }, p);
});

test('percent sweep: only unreserved bytes and %2f/%5c change under DECODE_AND_MERGE_SLASHES', () => {
  const normalize = compilePathNormalizer('DECODE_AND_MERGE_SLASHES');
  const base = compilePathNormalizer('BASE');
  for (let b = 1; b <= 0xff; b++) {
    const enc = `%${b.toString(16).padStart(2, '0')}`;
    const ch = String.fromCharCode(b);
    const unreserved = /[A-Za-z0-9\-._~]/.test(ch);
    const slash = b === 0x2f || b === 0x5c;
    const got = normalize(`/admin${enc}`);
    assert.ok(got.ok);
    let want = `/admin${enc}`;
    if (unreserved) want = ch === '.' ? '/admin.' : `/admin${ch}`;
    if (slash) want = '/admin/';
    assert.equal(got.path, want, enc);
    const gotBase = base(`/admin${enc}`);
    assert.ok(gotBase.ok);
    assert.equal(gotBase.path, slash ? `/admin${enc}` : want, `BASE ${enc}`);
    for (const mode of ['NONE'] as const) {
      const n = compilePathNormalizer(mode)(`/admin${enc}`);
      assert.ok(n.ok);
      assert.equal(n.path, `/admin${enc}`);
    }
  }
});

test('query is split off and kept; fragment dropped even after a query', () => {
  const normalize = compilePathNormalizer('BASE');
  assert.deepEqual(normalize('/a/../b?x=1&y=/../z#frag'), { ok: true, path: '/b', query: 'x=1&y=/../z' });
  assert.deepEqual(normalize('/a#frag?x=1'), { ok: true, path: '/a', query: '' });
  assert.deepEqual(normalize('/protected?'), { ok: true, path: '/protected', query: '' });
});

test('a path that is not absolute is rejected', () => {
  for (const mode of MODES) assert.equal(compilePathNormalizer(mode)('admin').ok, false);
  assert.deepEqual(compilePathNormalizer('BASE')('*'), { ok: true, path: '*', query: '' });
});

test('mode names', () => {
  assert.equal(parsePathNormalizationMode(undefined), 'BASE');
  assert.equal(parsePathNormalizationMode('DEFAULT'), 'BASE');
  assert.equal(parsePathNormalizationMode('NONE'), 'NONE');
  assert.throws(() => parsePathNormalizationMode('LOWER'), { code: 'PATH_NORMALIZATION_MODE' });
});
