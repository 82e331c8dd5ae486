// The raw HTTP/1.1 server codec on real sockets: framing both ways, keep-alive and pipelining, request
// bodies and trailers, and the answer every malformed head gets (status, then the connection closes).
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, test } from 'node:test';
import { FakeClock, until } from '../../../test/resilience/fake-clock.ts';
import { H1ServerConnection, type H1Request, type H1Response, h1ServerDefaults } from './h1-server.ts';

type Handler = (req: H1Request, res: H1Response) => void;


const servers: net.Server[] = [];
after(() => {
  for (const s of servers) s.close();
});

async function serve(handler: Handler, opts = h1ServerDefaults): Promise<number> {
  const server = net.createServer((socket) => new H1ServerConnection(socket, opts, handler));
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as net.AddressInfo).port;
}

/** Writes `text` on a new connection and collects everything until the server closes it (or `stopAt` matches). */
function exchange(port: number, text: string | string[], stopAt?: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let got = '';
    const parts = Array.isArray(text) ? text : [text];
    socket.on('connect', () => {
      for (const p of parts) socket.write(p);
    });
    socket.on('data', (d) => {
      got += d.toString('latin1');
      if (stopAt?.test(got)) socket.destroy();
    });
    socket.on('close', () => resolve(got));
    socket.on('error', reject);
  });
}

/** A server whose handler reads each body; `failure()` is the last body error. */
async function serveBodyReader(): Promise<{ port: number; failure: () => Error | undefined }> {
  let failed: Error | undefined;
  const port = await serve((req) => {
    req.body?.on('error', (err) => {
      failed = err;
    });
    req.body?.resume();
  });
  return { port, failure: () => failed };
}

const echo: Handler = (req, res) => {
  const chunks: Buffer[] = [];
  if (!req.body) {
    res.writeHead(200, { 'content-length': String(req.url.length), 'x-method': req.method });
    res.end(req.url);
    return;
  }
  req.body.on('data', (c: Buffer) => chunks.push(c));
  req.body.on('end', () => {
    const body = Buffer.concat(chunks).toString();
    res.writeHead(200, { 'content-length': String(body.length), 'x-trailer': req.trailers['x-sum'] ?? '-' });
    res.end(body);
  });
};

test('keep-alive: two requests on one connection, pipelined in one write, answered in order', async () => {
  const port = await serve(echo);
  const out = await exchange(port, 'GET /one HTTP/1.1\r\nhost: a\r\n\r\nGET /two HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n');
  const heads = out.match(/HTTP\/1.1 200 OK/g) ?? [];
  assert.equal(heads.length, 2);
  assert.ok(out.indexOf('/one') < out.indexOf('/two'));
  assert.match(out, /connection: close\r\n\r\n\/two$/, 'the second asked to close: it says so and the connection ends');
});

test('a response without length is chunked on HTTP/1.1, with trailers; HEAD and 204 carry no body', async () => {
  const port = await serve((req, res) => {
    if (req.url === '/nc') {
      res.writeHead(204, {});
      res.end();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain' });
    if (req.method === 'HEAD') return void res.end();
    res.write(Buffer.from('hello '));
    res.write('world');
    res.addTrailers({ 'grpc-status': '0' });
    res.end();
  });
  const chunked = await exchange(port, 'GET / HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n');
  assert.match(chunked, /transfer-encoding: chunked\r\n/);
  assert.match(chunked, /\r\n\r\n6\r\nhello \r\n5\r\nworld\r\n0\r\ngrpc-status: 0\r\n\r\n$/);
  const head = await exchange(port, 'HEAD / HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n');
  assert.doesNotMatch(head, /transfer-encoding|\r\n0\r\n/);
  const none = await exchange(port, 'GET /nc HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n');
  assert.match(none, /^HTTP\/1.1 204 No Content\r\ndate: [A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT\r\nconnection: close\r\n\r\n$/);
});

test('request bodies: Content-Length across writes, chunked with trailers; Expect: 100-continue is acknowledged', async () => {
  const port = await serve(echo);
  const sized = await exchange(port, ['POST / HTTP/1.1\r\nhost: a\r\ncontent-length: 6\r\nconnection: close\r\n\r\nabc', 'def']);
  assert.match(sized, /x-trailer: -\r\n.*\r\n\r\nabcdef$/s);
  const chunked = await exchange(port, 'POST / HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nx-sum: 42\r\n\r\n');
  assert.match(chunked, /x-trailer: 42\r\n.*\r\n\r\nabcde$/s);
  const expect = await exchange(port, ['POST / HTTP/1.1\r\nhost: a\r\nexpect: 100-continue\r\ncontent-length: 2\r\nconnection: close\r\n\r\n', 'ok']);
  assert.match(expect, /^HTTP\/1.1 100 Continue\r\n\r\nHTTP\/1.1 200 OK\r\n/);
});

test('the head and a first body chunk, small (copied in behind the head) or large, go out with their framing', async () => {
  const port = await serve((req, res) => {
    const size = Number(req.url.slice(2));
    const body = Buffer.alloc(size, 'ab');
    res.writeHead(200, req.url.startsWith('/l') ? { 'content-length': String(size) } : {});
    res.write(body);
    res.end();
  });
  for (const size of [10, 16 * 1024, 16 * 1024 + 1, 70_000]) {
    const body = Buffer.alloc(size, 'ab').toString('latin1');
    const sized = await exchange(port, `GET /l${size} HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n`);
    assert.ok(sized.endsWith(`\r\n\r\n${body}`), `content-length ${size}`);
    assert.match(sized, new RegExp(`content-length: ${size}\r\n`));
    const chunked = await exchange(port, `GET /c${size} HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n`);
    assert.ok(chunked.endsWith(`\r\n\r\n${size.toString(16)}\r\n${body}\r\n0\r\n\r\n`), `chunked ${size}`);
  }
});

test('HTTP/1.0: closed after the response unless it asked for keep-alive', async () => {
  const port = await serve(echo);
  assert.match(await exchange(port, 'GET /x HTTP/1.0\r\n\r\n'), /connection: close\r\n\r\n\/x$/);
  const kept = await exchange(port, 'GET /y HTTP/1.0\r\nconnection: keep-alive\r\n\r\n', /\/y$/);
  assert.match(kept, /connection: keep-alive\r\n/);
});

test('HTTP/1.0 with Transfer-Encoding: faulty framing (RFC 9112 §6.1), so it is served as read and the connection closes; a request behind it is never parsed', async () => {
  const urls: string[] = [];
  const port = await serve((req, res) => {
    urls.push(req.url);
    echo(req, res);
  });
  const out = await exchange(port, 'POST /first HTTP/1.0\r\nconnection: keep-alive\r\ntransfer-encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nhost: a\r\n\r\n', /\/smuggled$/);
  assert.match(out, /^HTTP\/1.1 200 OK\r\n[\s\S]*connection: close\r\n\r\nhi$/, 'its answer says close, and nothing follows it');
  assert.deepEqual(urls, ['/first']);
  // An HTTP/1.1 chunked request keeps its connection as before.
  const kept = await exchange(port, 'POST /a HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\nGET /b HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n');
  assert.equal(kept.match(/HTTP\/1.1 200 OK/g)?.length, 2);
});

test('`Upgrade: h2c` (curl --http2 on http://) is served as the HTTP/1.1 request it also is, without its upgrade fields, as Envoy serves it', async () => {
  const seen: H1Request[] = [];
  const handed: string[] = [];
  const port = await serve(
    (req, res) => {
      seen.push(req);
      echo(req, res);
    },
    { ...h1ServerDefaults, onUpgrade: (req, socket) => {
      handed.push(String(req.headers['upgrade']));
      socket.destroy();
    } },
  );
  const out = await exchange(port, 'GET /h HTTP/1.1\r\nhost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\nx-after: 1\r\n\r\nGET /next HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n');
  assert.equal(out.match(/HTTP\/1.1 200 OK/g)?.length, 2, 'answered, and the connection kept for the next request');
  const req = seen[0] as H1Request;
  assert.deepEqual(req.rawHeaders, ['host', 'a', 'x-after', '1']);
  assert.equal(req.headers['upgrade'], undefined);
  assert.equal(req.headers['http2-settings'], undefined);
  assert.equal(req.headers['connection'], undefined);
  // Other Connection tokens stay (repeated Connection lines become one, as Envoy joins them).
  await exchange(port, 'GET /k HTTP/1.1\r\nhost: a\r\nconnection: keep-alive, Upgrade\r\nconnection: http2-settings, close\r\nupgrade: H2C\r\n\r\n');
  assert.deepEqual((seen[2] as H1Request).rawHeaders, ['host', 'a', 'connection', 'keep-alive,close']);
  assert.deepEqual(handed, [], 'no h2c upgrade is handed over');
  await exchange(port, 'GET /ws HTTP/1.1\r\nhost: a\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n');
  assert.deepEqual(handed, ['websocket'], 'any other upgrade still is');
});

/** Read through a variable, as the proxy reads every field name. */
const PROTO = '__proto__';

test('fields named as Object.prototype members (`__proto__`, `constructor`) are own fields: parsed, joined and kept as any other, trailers too', async () => {
  const seen: H1Request[] = [];
  const port = await serve((req, res) => {
    seen.push(req);
    echo(req, res);
  });
  const out = await exchange(port, 'POST / HTTP/1.1\r\nhost: a\r\n__proto__: x\r\nconstructor: y\r\nconstructor: z\r\ntoString: t\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n1\r\nb\r\n0\r\n__proto__: tp\r\nx-sum: 1\r\n\r\n');
  assert.match(out, /^HTTP\/1.1 200 OK\r\n/);
  const req = seen[0] as H1Request;
  assert.equal(Object.getPrototypeOf(req.headers), Object.prototype);
  assert.ok(Object.hasOwn(req.headers, '__proto__'));
  assert.equal(req.headers[PROTO], 'x');
  assert.equal(req.headers['constructor'], 'y, z');
  assert.equal(req.headers['tostring'], 't');
  assert.ok(Object.hasOwn(req.trailers, '__proto__'));
  assert.equal(req.trailers[PROTO], 'tp');
  assert.equal(req.trailers['x-sum'], '1');
});

test('malformed heads get their status and the connection closes; nothing reaches the handler', async () => {
  let reached = 0;
  const port = await serve((req, res) => {
    reached++;
    echo(req, res);
  });
  const cases: [string, number][] = [
    ['POST / HTTP/1.1\r\nhost: a\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n', 400],
    ['GET / HTTP/1.1\r\nhost: a\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n', 400],
    ['GET / HTTP/1.1\r\nhost: a\r\ncontent-length: +1\r\n\r\n', 400],
    ['POST / HTTP/1.1\r\nhost: a\r\ntransfer-encoding: gzip\r\n\r\n', 501],
    ['GET / HTTP/1.1\r\nhost: a\r\nbad name: x\r\n\r\n', 400],
    ['GET / HTTP/1.1\r\nhost: a\r\n folded: x\r\n\r\n', 400],
    ['GET / HTTP/1.1\r\nhost: a\r\nx: a\x01b\r\n\r\n', 400],
    ['GET / HTTP/1.1\r\nx: y\r\n\r\n', 400],
    ['GET /a b HTTP/1.1\r\nhost: a\r\n\r\n', 400],
    ['GET / HTTP/2.0\r\nhost: a\r\n\r\n', 505],
    ['CONNECT a:443 HTTP/1.1\r\nhost: a:443\r\n\r\n', 405],
    ['GET / HTTP/1.1\r\nhost: a\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n', 400],
    [`GET / HTTP/1.1\r\nhost: a\r\nx: ${'a'.repeat(70 * 1024)}\r\n\r\n`, 431],
    [`GET / HTTP/1.1\r\nhost: a\r\nx: ${'a'.repeat(70 * 1024)}`, 431],
  ];
  for (const [text, status] of cases) {
    const out = await exchange(port, text);
    assert.match(out, new RegExp(`^HTTP/1.1 ${status} [^\r]*\r\ncontent-length: 0\r\nconnection: close\r\n\r\n$`), JSON.stringify(text.slice(0, 80)));
  }
  assert.equal(reached, 0);
});

test('a malformed chunk closes the connection and fails the body stream', async () => {
  const { port, failure } = await serveBodyReader();
  await exchange(port, 'POST / HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n');
  assert.match(String(failure()), /invalid chunk size/);
});

test('a client gone mid-response closes the stream with the response unfinished', async () => {
  let res: H1Response | undefined;
  const closed = new Promise<boolean>((resolve) => {
    void serve((_req, r) => {
      res = r;
      r.on('close', () => resolve(r.writableFinished));
      r.writeHead(200, { 'content-length': '10' });
      r.write('abc');
    }).then((port) => exchange(port, 'GET / HTTP/1.1\r\nhost: a\r\n\r\n', /abc$/));
  });
  assert.equal(await closed, false);
  assert.ok(res);
});

test('a request body the handler never reads: answered, then the connection closes instead of reading it', async () => {
  const port = await serve((_req, res) => {
    res.writeHead(403, { 'content-length': '0' });
    res.end();
  });
  const out = await exchange(port, 'POST / HTTP/1.1\r\nhost: a\r\ncontent-length: 100\r\n\r\nonly part');
  assert.match(out, /^HTTP\/1.1 403 Forbidden\r\n/);
});

test('a response that starts before the request body is in says `connection: close`, and the connection closes after it', async () => {
  const port = await serve((req, res) => {
    // A 408 to a stalled upload, as the stream idle timeout sends it: some of the body read, the rest never comes.
    req.body?.on('data', (c: Buffer) => {
      if (c.toString() !== 'half') return;
      res.writeHead(408, { 'content-length': '7' });
      res.end('timeout');
    });
    req.body?.on('end', () => {
      res.writeHead(200, { 'content-length': '4' });
      res.end('done');
    });
  });
  const out = await exchange(port, 'POST / HTTP/1.1\r\nhost: a\r\ncontent-length: 100\r\n\r\nhalf');
  assert.match(out, /^HTTP\/1.1 408 Request Timeout\r\n/);
  assert.match(out, /\r\nconnection: close\r\n/);
  assert.doesNotMatch(out, /keep-alive/);
  // A request already in keeps its connection.
  const kept = await exchange(port, 'POST / HTTP/1.1\r\nhost: a\r\ncontent-length: 4\r\n\r\nhold', /done$/);
  assert.match(kept, /^HTTP\/1.1 200 OK\r\n/);
  assert.doesNotMatch(kept, /connection: close/);
});

test('an invalid response field is refused before anything is sent, leaving room for another answer', async () => {
  const port = await serve((_req, res) => {
    assert.throws(() => res.writeHead(200, { 'x-bad': 'a\r\nx-injected: 1' }));
    // U+010A written as latin1 would go out as its low byte, a line feed.
    assert.throws(() => res.writeHead(200, { 'x-bad': 'a\u010ax-injected: 1' }));
    assert.equal(res.headersSent, false);
    res.writeHead(502, { 'content-length': '0' });
    res.end();
  });
  const out = await exchange(port, 'GET / HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n');
  assert.match(out, /^HTTP\/1.1 502 Bad Gateway\r\ncontent-length: 0\r\ndate: [^\r]+\r\nconnection: close\r\n\r\n$/);
});

test('drain: an idle connection closes at once', async () => {
  const conns: H1ServerConnection[] = [];
  const server = net.createServer((socket) => conns.push(new H1ServerConnection(socket, h1ServerDefaults, echo)));
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const socket = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  const ended = new Promise<void>((r) => socket.on('end', () => r()));
  await new Promise<void>((r) => socket.on('connect', () => r()));
  while (conns.length === 0) await new Promise((r) => setImmediate(r));
  (conns[0] as H1ServerConnection).drain();
  await ended;
  socket.destroy();
});

test('CONNECT and an upgrade are handed over with the socket and the bytes read past the head', async () => {
  const handed: string[] = [];
  const opts = {
    ...h1ServerDefaults,
    onConnect: (req: { method?: string | undefined; url?: string | undefined }, socket: import('node:stream').Duplex, head: Buffer) => {
      handed.push(`${req.method} ${req.url} [${head.toString()}]`);
      socket.on('data', (d: Buffer) => socket.end(`tunnel got ${d.toString()}`));
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    },
    onUpgrade: (req: { headers: NodeJS.Dict<string | string[]> }, socket: import('node:stream').Duplex, head: Buffer) => {
      handed.push(`upgrade ${String(req.headers['upgrade'])} [${head.toString()}]`);
      socket.end('HTTP/1.1 101 Switching Protocols\r\n\r\n');
    },
  };
  const port = await serve(echo, opts);
  const tunnel = await new Promise<string>((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write('CONNECT db:5432 HTTP/1.1\r\nhost: db:5432\r\n\r\nearly'));
    let got = '';
    socket.on('data', (d) => {
      got += d.toString();
      if (got === 'HTTP/1.1 200 Connection Established\r\n\r\n') socket.write('later');
    });
    socket.on('close', () => resolve(got));
  });
  assert.equal(tunnel, 'HTTP/1.1 200 Connection Established\r\n\r\ntunnel got later', 'the handler reads on from the socket');
  await exchange(port, 'GET /ws HTTP/1.1\r\nhost: a\r\nconnection: Upgrade\r\nupgrade: websocket\r\n\r\nframe');
  assert.deepEqual(handed, ['CONNECT db:5432 [early]', 'upgrade websocket [frame]']);
  const plain = await exchange(port, 'GET /p HTTP/1.1\r\nhost: a\r\nupgrade: websocket\r\nconnection: close\r\n\r\n');
  assert.match(plain, /^HTTP\/1.1 200 OK\r\n/, 'Upgrade without Connection: upgrade is an ordinary request');
});

test('field values are checked before trimming: \\v, \\f, a bare LF or a trailing \\xa0 never pass as framing', async () => {
  let reached = 0;
  const port = await serve((req, res) => {
    reached++;
    echo(req, res);
  });
  const latin1 = (s: string): string => Buffer.from(s, 'latin1').toString('latin1');
  const cases: [string, RegExp][] = [
    ['POST / HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\xa0\r\n\r\n3\r\nabc\r\n0\r\n\r\n', /^HTTP\/1.1 501 /],
    ['POST / HTTP/1.1\r\nhost: a\r\ntransfer-encoding:\x0bchunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n', /^HTTP\/1.1 400 /],
    ['POST / HTTP/1.1\r\nhost: a\r\ncontent-length: 3\x0c\r\n\r\nabc', /^HTTP\/1.1 400 /],
    ['GET / HTTP/1.1\r\nhost: a\n\r\nx: y\r\n\r\n', /^HTTP\/1.1 400 /],
  ];
  for (const [text, expected] of cases) assert.match(await exchange(port, latin1(text)), expected, JSON.stringify(text));
  assert.equal(reached, 0);
});

test('a bare LF inside a chunk extension (a desync attempt) fails the body and closes the connection', async () => {
  const { port, failure } = await serveBodyReader();
  const out = await exchange(port, 'POST / HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\n\r\n3;x\nGET /smuggled HTTP/1.1\r\nabc\r\n0\r\n\r\n');
  assert.equal(out, '');
  assert.match(String(failure()), /control character/);
});

test('trailers get one head budget in all (60 KiB), not 100 lines of it', async () => {
  const { port, failure } = await serveBodyReader();
  const trailers = Array.from({ length: 3 }, (_, i) => `x-t${i}: ${'v'.repeat(30 * 1024)}\r\n`).join('');
  await exchange(port, `POST / HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\n\r\n1\r\na\r\n0\r\n${trailers}\r\n`).catch(() => 'reset');
  assert.match(String(failure()), /trailers too large/);
});

test('a body that fails before anyone reads it (client gone during an async filter) does not take the process down', async () => {
  let seen: H1Request | undefined;
  const port = await serve((req) => {
    seen = req;
  });
  await new Promise<void>((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write('POST / HTTP/1.1\r\nhost: a\r\ncontent-length: 100\r\n\r\nonly ten b'));
    const poll = (): void => {
      if (seen) {
        socket.resetAndDestroy();
        resolve();
      } else setImmediate(poll);
    };
    poll();
  });
  await until(() => seen?.body?.destroyed === true, 'seen?.body?.destroyed === true');
});

test('a head sent a byte at a time is parsed, including a blank line split across reads', async () => {
  const port = await serve(echo);
  const text = 'GET /slow HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n';
  const out = await new Promise<string>((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.setNoDelay(true);
    let got = '';
    let i = 0;
    const next = (): void => {
      if (i < text.length) socket.write(text[i++] as string, () => setImmediate(next));
    };
    socket.on('connect', next);
    socket.on('data', (d) => {
      got += d.toString();
    });
    socket.on('close', () => resolve(got));
  });
  assert.match(out, /^HTTP\/1.1 200 OK\r\n[\s\S]*\r\n\r\n\/slow$/);
});

test('a closing connection whose client never closes its side is destroyed 1 s (delayed_close_timeout) after its last bytes are out', async () => {
  const clock = new FakeClock();
  const serverSockets: net.Socket[] = [];
  const server = net.createServer((socket) => {
    serverSockets.push(socket);
    new H1ServerConnection(socket, { ...h1ServerDefaults, timers: clock }, echo);
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const client = net.connect({ port: (server.address() as net.AddressInfo).port, host: '127.0.0.1', allowHalfOpen: true });
  let ended = false;
  client.on('data', () => {});
  client.on('end', () => (ended = true));
  client.write('GET / HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n');
  await until(() => ended && serverSockets[0]?.writableFinished === true, 'the response, then the FIN');
  assert.equal(serverSockets[0]?.destroyed, false, 'kept for the client to close');
  assert.equal(clock.nextDue, clock.now() + 1000);
  clock.advance(1000);
  assert.equal(serverSockets[0]?.destroyed, true);
  client.destroy();
});

test('drain: a request arriving after an idle connection was told to close is not run; a handed-over tunnel is left alone', async () => {
  const conns: H1ServerConnection[] = [];
  let ran = 0;
  const opts = {
    ...h1ServerDefaults,
    onConnect: (_req: unknown, socket: import('node:stream').Duplex) => {
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      socket.on('data', (d: Buffer) => socket.write(d));
    },
  };
  const server = net.createServer((socket) =>
    conns.push(
      new H1ServerConnection(socket, opts, (req, res) => {
        ran++;
        echo(req, res);
      }),
    ),
  );
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const idle = net.connect(port, '127.0.0.1');
  await new Promise<void>((r) => idle.on('connect', () => r()));
  await until(() => conns.length === 1, 'conns.length === 1');
  (conns[0] as H1ServerConnection).drain();
  idle.write('POST / HTTP/1.1\r\nhost: a\r\ncontent-length: 0\r\n\r\n');
  await new Promise<void>((r) => idle.on('close', () => r()));
  assert.equal(ran, 0);
  const tunnel = net.connect(port, '127.0.0.1');
  let got = '';
  tunnel.on('data', (d) => {
    got += d.toString();
  });
  tunnel.write('CONNECT db:1 HTTP/1.1\r\nhost: db:1\r\n\r\n');
  await until(() => got.includes('Established'), 'got.includes("Established")');
  (conns[1] as H1ServerConnection).drain();
  tunnel.write('still open');
  await until(() => got.endsWith('still open'), 'got.endsWith("still open")');
  tunnel.destroy();
});

test('a kept-alive response announces the keep-alive timeout and carries a Date unless it has one', async () => {
  const port = await serve((req, res) => {
    res.writeHead(200, req.url === '/dated' ? { 'content-length': '0', date: 'Mon, 01 Jan 2024 00:00:00 GMT' } : { 'content-length': '0' });
    res.end();
  });
  const out = await exchange(port, 'GET / HTTP/1.1\r\nhost: a\r\n\r\nGET /dated HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n');
  const [first, second] = out.split('HTTP/1.1 200 OK').slice(1);
  assert.match(first ?? '', /\r\ndate: [^\r]+ GMT\r\nkeep-alive: timeout=60\r\n\r\n$/);
  assert.match(second ?? '', /\r\ndate: Mon, 01 Jan 2024 00:00:00 GMT\r\nconnection: close\r\n\r\n$/, 'its own Date kept, no second one');
});
