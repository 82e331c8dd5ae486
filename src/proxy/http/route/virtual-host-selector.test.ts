// Envoy's virtual host domain rules as a table: which domain forms compile, which are refused, and
// which virtual host each authority selects (config_impl.cc RouteMatcher / findVirtualHost).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RouteConfigError } from './errors.ts';
import { VirtualHostSelector } from './virtual-host-selector.ts';

/** One virtual host per domain, named by the domain itself. */
function selector(domains: readonly string[], ignorePort = false): VirtualHostSelector<string> {
  const s = new VirtualHostSelector<string>(ignorePort);
  for (const [i, d] of domains.entries()) s.add(d, d, `virtual_hosts[${i}].domains[0]`);
  return s;
}

test('precedence: exact, then the longest suffix wildcard, then the longest prefix wildcard, then "*"', () => {
  const s = selector(['*', 'foo.*', 'foo-bar.*', '*.foo.com', '*-bar.foo.com', 'www.foo.com']);
  const cases: [string, string | undefined][] = [
    ['www.foo.com', 'www.foo.com'],
    ['baz-bar.foo.com', '*-bar.foo.com'],
    ['baz.foo.com', '*.foo.com'],
    ['foo-bar.org', 'foo-bar.*'],
    ['foo.org', 'foo.*'],
    ['foo-bar.foo.com', '*-bar.foo.com'],
    ['other.org', '*'],
  ];
  for (const [authority, want] of cases) assert.equal(s.select(authority), want, authority);
});

test('a wildcard matches at least one character', () => {
  const s = selector(['*.foo.com', 'bar.*']);
  assert.equal(s.select('.foo.com'), undefined);
  assert.equal(s.select('bar.'), undefined);
  assert.equal(s.select('a.foo.com'), '*.foo.com');
  assert.equal(s.select('bar.x'), 'bar.*');
});

test('a port is part of the domain; "host:*" is a prefix wildcard that takes any port', () => {
  const s = selector(['a.com', 'a.com:*', 'b.com:8080']);
  assert.equal(s.select('a.com'), 'a.com');
  assert.equal(s.select('a.com:8080'), 'a.com:*');
  assert.equal(s.select('a.com:'), undefined, 'the wildcard needs at least one character');
  assert.equal(s.select('b.com:8080'), 'b.com:8080');
  assert.equal(s.select('b.com'), undefined);
  assert.equal(s.select('b.com:9090'), undefined);
});

test('only a leading or trailing "*" is a wildcard: "*.a.com:*" is accepted and is the suffix ".a.com:*"', () => {
  const s = selector(['*.a.com:*', 'a*b.com', '*x*']);
  assert.equal(s.select('www.a.com:8080'), undefined, 'Envoy has no port wildcard inside a suffix wildcard');
  assert.equal(s.select('www.a.com:*'), '*.a.com:*', 'the trailing "*" is a literal character');
  assert.equal(s.select('a*b.com'), 'a*b.com', 'an inner "*" makes an exact domain');
  assert.equal(s.select('axb.com'), undefined);
  assert.equal(s.select('yx*'), '*x*', 'a leading "*" wins: the suffix "x*"');
});

test('suffix wildcards beat prefix wildcards even when the prefix names the host (envoyproxy/envoy#22664)', () => {
  const s = selector(['*.example.com:443', 'foo.example.com', 'foo.example.com:*']);
  assert.equal(s.select('foo.example.com'), 'foo.example.com');
  assert.equal(s.select('foo.example.com:443'), '*.example.com:443');
  assert.equal(s.select('foo.example.com:8443'), 'foo.example.com:*');
});

test('ignore_port_in_host_matching strips the port (never an IPv6 literal) before every rule', () => {
  const s = selector(['a.com', '*.b.com', '[::1]', 'c.*'], true);
  assert.equal(s.select('a.com:8080'), 'a.com');
  assert.equal(s.select('x.b.com:1'), '*.b.com');
  assert.equal(s.select('[::1]:80'), '[::1]');
  assert.equal(s.select('[::1]'), '[::1]');
  assert.equal(s.select('c.com:80'), 'c.*');
});

test('domains compare without case', () => {
  const s = selector(['WWW.Foo.COM', '*.Bar.com']);
  assert.equal(s.select('www.foo.com'), 'WWW.Foo.COM');
  assert.equal(s.select('x.bar.com'), '*.Bar.com');
});

test('an empty domain is accepted, as Envoy does, and matches only an empty authority', () => {
  const s = selector(['', '*']);
  assert.equal(s.select(''), '');
  assert.equal(s.select('a'), '*');
});

test('refused, with the domain path: a duplicate (any case, any virtual host), a second "*", NUL/CR/LF', () => {
  const refused: [readonly string[], RegExp, RegExp][] = [
    [['a.com', 'A.com'], /^virtual_hosts\[1\]\.domains\[0\]$/, /"A\.com" is listed more than once/],
    [['*.a.com', '*.A.COM'], /^virtual_hosts\[1\]/, /listed more than once/],
    [['a.*', 'A.*'], /^virtual_hosts\[1\]/, /listed more than once/],
    [['*', '*'], /^virtual_hosts\[1\]/, /"\*" may appear only once/],
    [['a.com\r\nx: y'], /^virtual_hosts\[0\]/, /NUL, CR and LF are not allowed/],
    [['a\0.com'], /^virtual_hosts\[0\]/, /NUL, CR and LF are not allowed/],
  ];
  for (const [domains, path, message] of refused) {
    assert.throws(
      () => selector(domains),
      (e: unknown) => e instanceof RouteConfigError && e.code === 'ROUTE_CONFIG' && path.test(e.path) && message.test(e.message),
      JSON.stringify(domains),
    );
  }
  // The same key in different tables is no duplicate.
  assert.doesNotThrow(() => selector(['a.com', '*a.com', 'a.com*']));
});
