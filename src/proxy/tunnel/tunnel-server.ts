// The `connect_terminate` listener: mutual TLS (client certificate required, verified against ROOTCA and
// the listener's SAN matchers, the mesh's trust domains),
// HTTP/2 or HTTP/1.1 by ALPN. On HTTP/2 a CONNECT stream is a TCP connection to `:authority`'s port,
// and an extended CONNECT (RFC 8441) with `:protocol` HTTP1_CARRIER_PROTOCOL carries an HTTP/1.1
// connection to the tunnel itself, as the HTTP/1.1 pool's connections do. Any other request, on
// either protocol, is HTTP for the port in `x-outrigger-target-port`. All continue on virtualInbound's
// chain for that port, with the peer's SPIFFE ID as the connection's principal; one marked
// `x-outrigger-transport: raw_buffer` (its source cluster has no mesh TLS) is served as plaintext instead:
// on a chain taking `raw_buffer`, without the principal, and reset where there is none (STRICT), as
// Istio's server closes a plaintext connection it has no chain for. One marked `plain_tls` carries the TLS
// a DestinationRule SIMPLE or MUTUAL originates, which is not the mesh's: as Istio's "plain TLS" chains,
// a TCP chain that takes plaintext (PERMISSIVE, DISABLE) passes it to the app, without the principal;
// a STRICT port (whose handshake it would fail) or an HTTP port (no chain for it) closes it.
// The ClientHello's SNI (each source cluster opens sessions of its own, named by its mesh TLS context)
// is the SNI of every stream on the session, mesh TLS ones only: `%REQUESTED_SERVER_NAME%`, `connection.sni`.
// A `plain_tls` stream's SNI is the one in the ClientHello it carries; a `raw_buffer` one has none.
import http2 from 'node:http2';
import type { Http2Stream, ServerHttp2Session } from 'node:http2';
import type net from 'node:net';
import tls from 'node:tls';
import { h2Settings } from '../listener/http-servers.ts';
import { refuseStream, watchPeerGoaway, watchPrematureResets } from '../listener/h2-abuse.ts';
import { type Detection, detectProtocol } from '../listener/detect-protocol.ts';
import { type FilterChain, TCP_PROXY_IDLE_TIMEOUT_MS } from '../listener/compile-listener.ts';
import { type H1ServerOptions, type H1Socket, H1ServerConnection, h1ServerDefaults } from '../http/h1-server.ts';
import { type H2Request, type H2Response, serverExchange } from '../http/h2-server.ts';
import { headBytesOver } from '../http/parse-request.ts';
import type { DownstreamReq, DownstreamRes } from '../http/http-stream.ts';
import type { ConnectionInfo } from '../http/stream.ts';
import { splitAuthority } from '../listener/bound-listener.ts';
import { PEER_HEADER } from '../upstream/h2-connection.ts';
import { HTTP1_CARRIER_PROTOCOL, TARGET_PORT_HEADER, TRANSPORT_HEADER } from '../upstream/h2-upstream.ts';
import type { MeshTlsMaterial } from './mesh-tls.ts';
import { atPeerExpiry, certificateHash, meshContextOptions, spiffeIdOf, TUNNEL_SERVER_STREAMS, TUNNEL_SESSION_WINDOW, TUNNEL_STREAM_WINDOW } from './mesh-tls.ts';
import { realTimers, type Timers } from '../http/router.ts';
import { clientCertOutcome, type ListenerSslStats } from '../tls/listener-ssl-stats.ts';
import type { PeerCertValidator } from '../tls/peer-cert-validator.ts';
import { parsePeerMetadata } from '../filters/telemetry/peer-metadata.ts';

export { PEER_HEADER };

/** The tunnel listener's address in its TLS stats (`listener.0.0.0.0_15008.ssl.*`). */
const TUNNEL_STATS_ADDRESS = '0.0.0.0_15008';

/** tls_inspector alone, with no timeout of its own (Istio's protocolDetectionTimeout is 0s). */
const CLIENT_HELLO: Detection = Object.freeze({ http: false, tls: true, timeoutMs: 0, continueOnTimeout: true });

/** A tunnelled stream is an HTTP request or a CONNECT (TCP). */
export type TunnelStreamKind = 'http' | 'tcp';
/** What a tunnelled stream stands for: the mesh's mTLS, or a plaintext connection (`x-outrigger-transport`). */
export type TunnelTransport = 'tls' | 'raw_buffer';
/** What the marker asks for: the two transports above, or TLS originated by the source that is not the mesh's. */
type StreamTransport = TunnelTransport | 'plain_tls';

/**
 * Any mention of a marker (a repeated header, joined or not) counts, the most restrictive first
 * (`plain_tls` is served on fewer chains than `raw_buffer`): the marker only ever fails closed.
 */
function transportOf(value: string | string[] | undefined): StreamTransport {
  if (value === undefined) return 'tls';
  const v = Array.isArray(value) ? value.join(',') : value;
  return v.includes('plain_tls') ? 'plain_tls' : v.includes('raw_buffer') ? 'raw_buffer' : 'tls';
}

/** The connection as a plaintext one: no TLS, so no verified caller and no SNI. */
function asPlaintext(base: ConnectionInfo): ConnectionInfo {
  const { peerPrincipal: _, peerCertHash: __, meshPeer: ___, sni: ____, ...rest } = base;
  return { ...rest, tls: false };
}

export interface TunnelDeps {
  /** The clock premature resets are timed by (Date.now by default). */
  now?: () => number;
  /** Handshake counters (`listener.0.0.0.0_15008.ssl.*`). */
  sslStats?: ListenerSslStats;
  /**
   * The `connect_terminate` listener's client-certificate checks (the mesh trust domains' SAN matchers),
   * read per handshake so that a listener update applies to the next one.
   */
  peerValidator?(): PeerCertValidator | undefined;
  /** Mesh material from `default` + `ROOTCA`; undefined until both exist (handshakes then fail). */
  material(): MeshTlsMaterial | undefined;
  /** virtualInbound's chain for a target port, what the stream carries (an undeclared port has one of each) and its transport. */
  inboundChain(port: number, kind: TunnelStreamKind, transport: TunnelTransport): FilterChain | undefined;
  /** Continue a tunnelled TCP stream or HTTP request on an inbound chain. */
  serveStream(stream: http2.ServerHttp2Stream, chain: FilterChain, connection: ConnectionInfo): void;
  serveRequest(chain: FilterChain, connection: ConnectionInfo, req: DownstreamReq, res: DownstreamRes): void;
  /** Timers for certificate expiry and the HTTP/1.1 codec's delayed close (a test clock in tests). */
  timers?: Timers;
  /**
   * This workload's `x-outrigger-peer` metadata (base64 JSON), answered to a mesh peer's CONNECT as Istio's
   * TCP metadata exchange does: the source sidecar's TCP telemetry learns who it reached.
   */
  selfPeer?: string;
}

/** Decoded `x-outrigger-peer` values: a sidecar sends the same one on every request. */
const peers = new Map<string, ConnectionInfo['peer']>();
const MAX_PEERS = 1024;

function peerOf(value: string | string[] | undefined): ConnectionInfo['peer'] | undefined {
  if (typeof value !== 'string') return undefined;
  const hit = peers.get(value);
  if (hit) return hit;
  const m = parsePeerMetadata(value);
  if (!m) return undefined;
  const peer = Object.freeze({ workload: m.workload, namespace: m.namespace, labels: m.labels });
  // Values come from peers: a flood of distinct ones must not grow memory forever.
  if (peers.size >= MAX_PEERS) peers.clear();
  peers.set(value, peer);
  return peer;
}

/** A stream's errors end it; they are not the process's (one function for every stream). */
function ignore(): void {}

export class TunnelServer {
  #deps: TunnelDeps;
  #tls: tls.Server;
  #h2: http2.Http2Server;
  #sessions = new Map<ServerHttp2Session, ConnectionInfo>();
  /** HTTP/1.1 tunnel connections, on the raw codec: TLS sockets (ALPN `http/1.1`) and streams carried on HTTP/2 sessions. */
  #h1Conns = new Set<H1ServerConnection>();
  /** The TLS socket being handed to the HTTP/2 server, and its connection, for its 'session' event. */
  #pending: { base: ConnectionInfo; socket: tls.TLSSocket } | undefined;
  /** The HTTP/2 session on each TLS socket that has one. */
  #sessionOn = new WeakMap<tls.TLSSocket, ServerHttp2Session>();
  /**
   * Each session's source metadata: a source sends `x-outrigger-peer` on its streams until one is
   * answered, and the session's later streams are from the same source (one client, one TLS identity).
   */
  #sessionPeers = new WeakMap<ServerHttp2Session, NonNullable<ConnectionInfo['peer']>>();
  /** The HTTP/1.1 codec's options: the defaults, on the proxy's timers (its delayed close). */
  readonly #h1Options: H1ServerOptions;
  readonly boundPort: Promise<number>;

  constructor(bindPort: number, deps: TunnelDeps) {
    this.#deps = deps;
    this.#h1Options = { ...h1ServerDefaults, timers: deps.timers };
    // Extended CONNECT on: the HTTP/1.1 pool's connections come as streams (a client reads the setting
    // before it asks, so an older server is never sent one). Up to 100 of them (the cap Outrigger's
    // sources keep to) each hold their response writes to a high-water mark plus one chunk: more than
    // the 10 MB default of session memory. A peer past it gets its new streams refused.
    // Resets: mesh peers are authenticated, and a busy one cancels requests faster than nghttp2's default
    // (1,000 in a burst, then 33 a second) allows before it closes the session; the premature-reset
    // watcher still closes a session whose streams are mostly reset before their answer.
    this.#h2 = http2.createServer({
      settings: { ...h2Settings, enableConnectProtocol: true, maxConcurrentStreams: TUNNEL_SERVER_STREAMS, initialWindowSize: TUNNEL_STREAM_WINDOW },
      maxSessionMemory: 32,
      streamResetBurst: 10_000,
      streamResetRate: 1_000,
    });
    this.#h2.on('session', (session) => {
      if (this.#pending) {
        this.#sessions.set(session, this.#pending.base);
        this.#sessionOn.set(this.#pending.socket, session);
      }
      this.#pending = undefined;
      session.on('error', () => {});
      session.setLocalWindowSize(TUNNEL_SESSION_WINDOW);
      watchPrematureResets(session, deps.now ?? Date.now);
      // A peer that said GOAWAY: the session ends once silent for tcp_proxy's idle timeout, the longest a
      // tunnelled stream may be (h2-abuse.ts; a listener's bound is its stream idle timeout).
      watchPeerGoaway(session, deps.timers ?? realTimers, TCP_PROXY_IDLE_TIMEOUT_MS);
      session.once('close', () => this.#sessions.delete(session));
    });
    // Streams are served as they come, without Node's compat request and response (h2-server.ts).
    this.#h2.on('stream', (s, headers, _flags, rawHeaders) => {
      s.on('error', ignore);
      const x = serverExchange(s, headers, rawHeaders as unknown as string[]);
      if (x) this.#onRequest(x.req, x.res);
    });
    this.#tls = tls.createServer({
      noDelay: true,
      requestCert: true,
      rejectUnauthorized: true,
      // The server's order decides: a client offering both (the HTTP/1.1 pool) gets HTTP/1.1.
      ALPNProtocols: ['http/1.1', 'h2'],
      minVersion: 'TLSv1.2',
    });
    this.refreshTls();
    deps.sslStats?.watch(this.#tls, TUNNEL_STATS_ADDRESS);
    this.#tls.on('secureConnection', (s) => this.#onSecure(s));
    this.#tls.on('tlsClientError', () => {});
    this.#tls.on('error', () => {});
    this.boundPort = new Promise((resolve, reject) => {
      this.#tls.once('error', reject);
      this.#tls.listen({ host: '127.0.0.1', port: bindPort }, () => resolve((this.#tls.address() as net.AddressInfo).port));
    });
  }

  /** Applies the current certificate and trust bundle to new handshakes (open connections keep theirs). */
  refreshTls(): void {
    const m = this.#deps.material();
    if (m) this.#tls.setSecureContext({ ...meshContextOptions(m), requestCert: true, rejectUnauthorized: true } as tls.SecureContextOptions);
  }

  /**
   * A verified peer with one SPIFFE ID that the listener's SAN matchers accept (a peer of another trust
   * domain, under the same root, is refused here), counted once in the listener's TLS stats.
   */
  #onSecure(s: tls.TLSSocket): void {
    s.on('error', () => {});
    let principal: string | undefined;
    const hasSpiffeId = (raw: Buffer): boolean => {
      principal = spiffeIdOf(raw);
      return principal !== undefined;
    };
    const { outcome } = clientCertOutcome(s, { required: true, validator: this.#deps.peerValidator?.(), san: hasSpiffeId });
    this.#deps.sslStats?.inc(TUNNEL_STATS_ADDRESS, outcome);
    if (outcome !== 'handshake') return void s.destroy();
    const peerCert = s.getPeerCertificate();
    if (!principal || (s.alpnProtocol !== 'h2' && s.alpnProtocol !== 'http/1.1')) return void s.destroy();
    const timers = this.#deps.timers ?? realTimers;
    s.once('close', atPeerExpiry(peerCert, timers, () => this.#expire(s)));
    const base: ConnectionInfo = {
      remoteAddress: s.remoteAddress ?? '',
      remotePort: s.remotePort ?? 0,
      localAddress: s.localAddress ?? '',
      localPort: 15008,
      tls: true,
      meshPeer: true,
      peerPrincipal: principal,
      peerCertHash: certificateHash(peerCert.raw),
    };
    // The source cluster's SNI, as Istio's sidecar names it in its ClientHello: the session's streams share
    // it (a source cluster's sessions are its own), and an HTTP/1.1 connection of its own has it too.
    if (typeof s.servername === 'string' && s.servername !== '') base.sni = s.servername;
    if (s.alpnProtocol === 'http/1.1') return void this.#serveH1(s, base);
    this.#pending = { base, socket: s };
    this.#h2.emit('connection', s);
    this.#pending = undefined;
  }

  /**
   * The peer's certificate expired: its HTTP/2 session takes no new streams (GOAWAY), and its HTTP/1.1
   * connections, carried or not, close after the response in flight; the peer reconnects with its
   * current certificate. What is still open (a TCP stream, a WebSocket) runs on to its end, as Envoy
   * keeps an established connection whatever happens to the certificate it was verified with.
   */
  #expire(s: tls.TLSSocket): void {
    const session = this.#sessionOn.get(s);
    session?.close();
    for (const c of this.#h1Conns) if (c.socket === s || (session && (c.socket as Partial<Http2Stream>).session === session)) c.drain();
  }

  #onRequest(req: H2Request, res: H2Response): void {
    const base = this.#sessions.get(req.stream.session as ServerHttp2Session);
    if (!base) return void refuseStream(req.stream, http2.constants.NGHTTP2_REFUSED_STREAM);
    // A request's head is held to the limit when it is parsed (parseRequest); a CONNECT's is read here.
    if (req.method === 'CONNECT' && headBytesOver(req.rawHeaders)) return void req.stream.respond({ ':status': 431 }, { endStream: true });
    if (req.method === 'CONNECT' && req.headers[':protocol'] !== undefined) {
      if (req.headers[':protocol'] !== HTTP1_CARRIER_PROTOCOL) return void req.stream.respond({ ':status': 501 }, { endStream: true });
      // The source's metadata came once, on the carrier: every request on it is from that source. A mesh
      // source gets this workload's in the answer, once, for every response on the carrier.
      const carrierPeer = peerOf(req.headers[PEER_HEADER]);
      const self = carrierPeer ? this.#deps.selfPeer : undefined;
      req.stream.respond(self ? { ':status': 200, [PEER_HEADER]: self } : { ':status': 200 });
      this.#serveH1(req.stream, carrierPeer ? { ...base, peer: carrierPeer, ...(self ? { peerAnswered: true } : {}) } : base);
      return;
    }
    const session = req.stream.session as ServerHttp2Session;
    let peer = peerOf(req.headers[PEER_HEADER]);
    if (peer !== undefined) this.#sessionPeers.set(session, peer);
    else peer = this.#sessionPeers.get(session);
    if (req.method === 'CONNECT') {
      // The authority names the target port. Its host is the caller's to write, so the stream's local
      // address (what policies read as destination.ip, and where a passthrough dials) is the address the
      // caller's connection reached, as Envoy's original destination is.
      const { port } = splitAuthority(String(req.headers[':authority'] ?? ''), 0);
      const transport = transportOf(req.headers[TRANSPORT_HEADER]);
      // Plain TLS takes what a plaintext TCP connection would (the app terminates it), never an HTTP chain.
      let chain = port ? this.#deps.inboundChain(port, 'tcp', transport === 'tls' ? 'tls' : 'raw_buffer') : undefined;
      if (transport === 'plain_tls' && chain?.handler.kind !== 'tcp') chain = undefined;
      if (!chain) {
        // What Istio would have sent unencrypted is accepted, then closed: not a connection failure at the
        // source. Plain TLS then fails its handshake there, as against Istio's server (UF).
        if (transport !== 'tls' && port) return void req.stream.respond({ ':status': 200 }, { endStream: true });
        return void req.stream.respond({ ':status': 404 }, { endStream: true });
      }
      // Plaintext TCP carries no metadata exchange in Istio: the source is unknown, as well as unverified.
      if (transport !== 'tls') {
        req.stream.respond({ ':status': 200 });
        const plain: ConnectionInfo = { ...asPlaintext(base), localPort: port };
        if (transport === 'plain_tls') return void this.#serveWithClientHelloSni(req.stream, chain, plain);
        return void this.#deps.serveStream(req.stream, chain, plain);
      }
      const self = peer ? this.#deps.selfPeer : undefined;
      req.stream.respond(self ? { ':status': 200, [PEER_HEADER]: self } : { ':status': 200 });
      const conn: ConnectionInfo = { ...base, localPort: port };
      if (peer) conn.peer = peer;
      this.#deps.serveStream(req.stream, chain, conn);
      return;
    }
    this.#serveHttp(base, req, res, peer);
  }

  /**
   * Plain TLS: the SNI is the one in the source's own ClientHello, as Istio's tls_inspector reads it on
   * the connection the source sidecar opened (`%REQUESTED_SERVER_NAME%`, `connection.sni`). The stream is
   * held until the ClientHello is in, then served with its bytes put back; the source's TLS client
   * speaks first, so nothing waits on the app.
   */
  #serveWithClientHelloSni(stream: http2.ServerHttp2Stream, chain: FilterChain, conn: ConnectionInfo): void {
    detectProtocol(stream, CLIENT_HELLO, this.#deps.timers ?? realTimers, (sniffed) => {
      const sni = sniffed?.tls?.serverName;
      this.#deps.serveStream(stream, chain, sni ? { ...conn, sni } : conn);
    });
  }

  /** An HTTP/1.1 connection: a TLS socket, or a stream carrying one on an HTTP/2 session. */
  #serveH1(socket: H1Socket, base: ConnectionInfo): void {
    // A tunnel peer never sends CONNECT or Upgrade on HTTP/1.1 (those take HTTP/2): the codec refuses them.
    const c = new H1ServerConnection(socket, this.#h1Options, (req, res) => this.#serveHttp(base, req, res));
    this.#h1Conns.add(c);
    socket.once('close', () => this.#h1Conns.delete(c));
  }

  /** An HTTP request (either protocol) continues on the chain of its target port. */
  #serveHttp(base: ConnectionInfo, req: DownstreamReq, res: DownstreamRes, peer = peerOf(req.headers[PEER_HEADER])): void {
    const port = Number(req.headers[TARGET_PORT_HEADER]);
    const transport = transportOf(req.headers[TRANSPORT_HEADER]);
    // Plain TLS only ever comes as a CONNECT: a request claiming it is refused.
    const chain = Number.isInteger(port) && port > 0 && transport !== 'plain_tls' ? this.#deps.inboundChain(port, 'http', transport) : undefined;
    if (chain?.handler.kind !== 'http') {
      // Plaintext Istio would have sent finds no chain (a STRICT port), or mTLS finds a port that takes
      // plaintext only (DISABLE, where Istio's handshake fails): the connection is closed under the
      // request, so the source sees a reset (503), never an answer from this side.
      const refused = transport !== 'tls' || (Number.isInteger(port) && port > 0 && this.#deps.inboundChain(port, 'http', 'raw_buffer')?.handler.kind === 'http');
      if (refused) return void ('stream' in res ? refuseStream(res.stream, http2.constants.NGHTTP2_CONNECT_ERROR) : res.destroy());
      return void (res as H2Response).writeHead(404, { 'content-length': 0 }).end();
    }
    const conn: ConnectionInfo = { ...(transport === 'raw_buffer' ? asPlaintext(base) : base), localPort: port };
    if (peer) conn.peer = peer;
    this.#deps.serveRequest(chain, conn, req, res);
  }

  drain(): void {
    this.#tls.close();
    for (const s of this.#sessions.keys()) s.close();
    for (const c of this.#h1Conns) c.drain();
  }

  close(): void {
    this.#tls.close();
    for (const s of this.#sessions.keys()) s.destroy();
    for (const c of this.#h1Conns) c.socket.destroy();
  }
}
