// One bound listener: accepts connections (plaintext or TLS), selects the filter chain and hands the
// connection to tcp_proxy or the HTTP codecs. The compiled config is swappable: new connections use
// the new chains, open ones keep theirs. `virtualOutbound` is also an HTTP forward proxy (absolute-form
// requests and CONNECT), choosing chains by the original destination port.
import type { HandedRequest } from '../http/h1-server.ts';
import { constants } from 'node:crypto';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import type { ClusterManager } from '../cluster/cluster-manager.ts';
import type { HcmRuntime } from '../http/connection-manager.ts';
import { handleUpgrade } from '../http/upgrade.ts';
import type { ConnectionInfo, DownstreamRequest } from '../http/stream.ts';
import type { NetworkAuthzStats } from '../filters/network-authz-stats.ts';
import { certificateHash, spiffeIdOf } from '../tunnel/mesh-tls.ts';
import { clientCertOutcome, type ListenerSslStats } from '../tls/listener-ssl-stats.ts';
import type { CompiledListener, DownstreamTls, FilterChain, HttpChain, TcpChain } from './compile-listener.ts';
import { serverTlsOptions } from '../tls/server-tls-params.ts';
import { compileRouteConfiguration } from '../http/route/route-table.ts';
import type { EnvoyRoute } from '../http/route/envoy-types.ts';
import { compilePathNormalizer } from '../http/normalize-path.ts';
import { realTimers } from '../http/router.ts';
import { detectionFor, detectProtocol, type Sniffed } from './detect-protocol.ts';
import { HttpServers, replay } from './http-servers.ts';
import type { OriginalDestinationReader } from './original-destination.ts';
import { selectChain } from './select-chain.ts';
import { serveTcp } from './tcp-proxy.ts';

export interface ListenerDeps {
  hcm: HcmRuntime;
  clusters: ClusterManager;
  random(): number;
  /** TLS context for a chain's TLS settings; undefined while a secret is missing (connection refused). */
  secureContext(t: DownstreamTls): tls.SecureContext | undefined;
  /** The options of that context, for the server's default context (a client without SNI). */
  contextOptions(t: DownstreamTls): tls.SecureContextOptions | undefined;
  /** Istio's per-port outbound listeners (`bind_to_port: false`), consulted by the forward proxy. */
  unboundListener(port: number): CompiledListener | undefined;
  /** SO_ORIGINAL_DST of a connection iptables redirected (netns mode); absent where nothing is captured. */
  originalDestination?: OriginalDestinationReader;
  /** Network RBAC's counters (`tcp.rbac.denied`). */
  authzStats?: NetworkAuthzStats;
  /** TLS handshake counters (`listener.<address>_<port>.ssl.*`) of a listener that terminates TLS. */
  sslStats?: ListenerSslStats;
}

export class BoundListener {
  config: CompiledListener;
  #deps: ListenerDeps;
  #server: net.Server;
  #http: HttpServers;
  #sockets = new Set<Duplex>();
  readonly boundPort: Promise<number>;

  constructor(config: CompiledListener, bindPort: number, deps: ListenerDeps) {
    this.config = config;
    this.#deps = deps;
    this.#http = new HttpServers(deps.hcm);
    const kind = serverKind(config);
    this.kind = kind;
    const listener = this;
    this.#server =
      kind === 'tls'
        ? tls.createServer({ noDelay: true, SNICallback: function (this: tls.TLSSocket, name, cb) { listener.#sni(this, name, cb); }, ALPNCallback: ({ protocols }) => pickAlpn(protocols), requestCert: asksClientCert(config), rejectUnauthorized: false }, (s) => this.#onTls(s))
        : net.createServer({ noDelay: true }, (s) => (kind === 'mixed' ? this.#onMixed(s) : this.#onPlain(s)));
    this.refreshTls();
    this.#server.on('tlsClientError', (err: Error & { code?: string }) => this.#deps.sslStats?.countError(this.#statsAddress(), err));
    this.#server.on('error', () => {});
    this.boundPort = new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen({ host: isWildcard(config.address) ? '127.0.0.1' : config.address, port: bindPort }, () => resolve((this.#server.address() as net.AddressInfo).port));
    });
  }

  /** What its server does with a connection: a config that needs another kind needs a new listener. */
  readonly kind: ListenerKind;
  /** The context a 'tls' listener's handshake uses without SNI (refreshTls): the no-SNI chain's, chosen without ALPN. */
  #defaultContext: string | undefined;

  /**
   * A client that sends no SNI gets the certificate of the chain that serves it (one matching no server
   * name); with none, the handshake fails, as Envoy closes a connection no chain takes. SNI picks per
   * chain (#sni).
   */
  refreshTls(): void {
    if (!(this.#server instanceof tls.Server)) return;
    // A client certificate is asked for only where a chain validates one (MUTUAL, ISTIO_MUTUAL): a
    // 'tls' listener's chains all ask or none does (serverKind), so a SIMPLE server does not ask, as
    // Envoy's does not, and a browser is not prompted for one.
    (this.#server as tls.Server & { requestCert: boolean }).requestCert = asksClientCert(this.config);
    // OpenSSL keeps the versions and ciphers of this context when SNI swaps in a chain's: a 'tls'
    // listener's chains share them (serverKind), so they are set here.
    const chain = selectChain(this.config, { destinationPort: this.config.port, transportProtocol: 'tls' });
    this.#defaultContext = chain?.tls?.contextKey;
    const shared = tlsChains(this.config)[0]?.tls;
    const options = chain?.tls ? this.#deps.contextOptions(chain.tls) : undefined;
    const base = options ?? (shared ? serverTlsOptions(shared.params) : { minVersion: 'TLSv1.2' });
    this.#server.setSecureContext(resumable(this.config) ? base : { ...base, secureOptions: (base.secureOptions ?? 0) | constants.SSL_OP_NO_TICKET });
  }

  /** Envoy's stats name for the listener's address (`0.0.0.0_443`). */
  #statsAddress(): string {
    return `${this.config.address}_${this.config.port}`;
  }

  #track(s: Duplex): void {
    this.#sockets.add(s);
    s.once('close', () => this.#sockets.delete(s));
    s.on('error', () => {});
  }

  /**
   * The server name's chain and its certificate; none (no chain for the name, or its secret not here
   * yet) fails the handshake, as Envoy's does, rather than falling back to another server's certificate.
   * Node calls it (with the TLS socket as `this`) for the first ClientHello only: the name is kept for #onTls.
   */
  #sni(s: tls.TLSSocket, serverName: string, cb: (err: Error | null, ctx?: tls.SecureContext) => void): void {
    const name = serverName.toLowerCase();
    const chain = selectChain(this.config, { destinationPort: this.config.port, serverName: name, transportProtocol: 'tls' });
    // A chain whose secret is not here yet has no context: the handshake fails, never falls back to the
    // listener's default certificate and CA.
    const ctx = chain?.tls ? this.#deps.secureContext(chain.tls) : undefined;
    if (chain?.tls && ctx) {
      firstHellos.set(s, { name, contextKey: chain.tls.contextKey });
      cb(null, ctx);
    } else cb(new Error(`no certificate for server name ${serverName}`));
  }

  #connection(s: net.Socket, extra: Partial<ConnectionInfo> = {}): ConnectionInfo {
    return { remoteAddress: s.remoteAddress ?? '', remotePort: s.remotePort ?? 0, localAddress: s.localAddress ?? '', localPort: this.config.port, tls: false, ...extra };
  }

  #onPlain(s: net.Socket): void {
    this.#track(s);
    const connection = this.#connection(s);
    const original = this.config.originalDst ? this.#deps.originalDestination?.(s) : undefined;
    // Under conntrack every connection has an original destination; only a redirected one's differs
    // from where it landed. A client talking to 15001 itself uses the forward proxy.
    if (original && (original.port !== s.localPort || original.address !== s.localAddress)) {
      this.#onCaptured(s, { ...connection, localAddress: original.address, localPort: original.port });
      return;
    }
    if (this.config.name === 'virtualOutbound') {
      this.#http.serve(s, this.#forwardProxyContext(connection));
      return;
    }
    this.#detectThenServe(this.config, s, connection, undefined);
  }

  /**
   * A connection iptables redirected here (netns mode): matched on this listener's chains by original
   * port and address, after the inspectors, as Envoy's `original_dst` filter has it. With
   * `use_original_dst` (virtualOutbound) it is first handed to the listener for its original port when
   * there is one (`bind_to_port: false`). virtualInbound takes an app port's plaintext this way.
   */
  #onCaptured(s: net.Socket, connection: ConnectionInfo): void {
    const target = (this.config.useOriginalDst ? this.#deps.unboundListener(connection.localPort) : undefined) ?? this.config;
    this.#detectThenServe(target, s, connection, connection.localAddress);
  }

  #detectThenServe(l: CompiledListener, s: net.Socket, connection: ConnectionInfo, destinationIp: string | undefined): void {
    const detection = detectionFor(l.detection, connection.localPort);
    if (!detection) {
      this.#servePlain(l, s, connection, destinationIp, undefined, false);
      return;
    }
    detectProtocol(s, detection, this.#deps.hcm.timers ?? realTimers, (sniffed) => this.#servePlain(l, s, connection, destinationIp, sniffed, true));
  }

  /**
   * A plaintext connection stays `raw_buffer` even when it starts with a ClientHello: in the mesh,
   * `tls` means the tunnel's verified mTLS (docs/internals.md §5), which these bytes do not have. The
   * sniffed protocol picks between a port's HTTP chain (`application_protocols`) and its TCP chain.
   */
  #servePlain(l: CompiledListener, s: net.Socket, connection: ConnectionInfo, destinationIp: string | undefined, sniffed: Sniffed | undefined, paused: boolean): void {
    const chain = selectChain(l, {
      destinationPort: connection.localPort,
      ...(destinationIp !== undefined ? { destinationIp } : {}),
      transportProtocol: 'raw_buffer',
      ...(sniffed?.tls?.serverName ? { serverName: sniffed.tls.serverName } : {}),
      ...(sniffed ? { alpn: sniffed.appProtocol ? [sniffed.appProtocol] : [] } : {}),
    });
    if (!chain || chain.tls) return void s.destroy();
    this.serveChain(s, chain, connection);
    // Detection paused the socket; HTTP reads on from here, tcp_proxy resumes once its upstream is up.
    if (paused && chain.handler.kind === 'http') s.resume();
  }

  /**
   * A port where some chains terminate TLS and others pass it through (a gateway's SIMPLE and
   * PASSTHROUGH servers on one port): the ClientHello's SNI picks the chain first, as Envoy's
   * tls_inspector does, and only a chain with TLS settings gets a TLS socket over the connection.
   */
  #onMixed(s: net.Socket): void {
    this.#track(s);
    const timeoutMs = this.config.detection?.timeoutMs ?? 15_000;
    detectProtocol(s, { http: false, tls: true, timeoutMs, continueOnTimeout: false }, this.#deps.hcm.timers ?? realTimers, (sniffed) => {
      const sni = sniffed?.tls?.serverName;
      // This chain does the handshake and serves: it is never chosen again (#onTls).
      const chain = selectChain(this.config, { destinationPort: this.config.port, transportProtocol: sniffed?.tls ? 'tls' : 'raw_buffer', ...(sni ? { serverName: sni } : {}) });
      if (!chain) return void s.destroy();
      if (!chain.tls) {
        // Passed through: the ClientHello and all after it go to the backend as they came.
        this.serveChain(s, chain, this.#connection(s, sni ? { sni } : {}));
        return;
      }
      const context = this.#deps.secureContext(chain.tls);
      if (!context) return void s.destroy();
      // The ClientHello was read to choose: the TLS socket reads it again through replay().
      const t = new tls.TLSSocket(replay(s, null), { isServer: true, secureContext: context, requestCert: chainAsksClientCert(chain), rejectUnauthorized: false, ALPNProtocols: ['h2', 'http/1.1'] });
      let secure = false;
      // A TLS socket made over a stream has no handshake timeout; a 'tls' port's server gives each one
      // node:tls's, failing it as that server does.
      const timers = this.#deps.hcm.timers ?? realTimers;
      const handshake = timers.set(() => t.destroy(Object.assign(new Error('TLS handshake timeout'), { code: 'ERR_TLS_HANDSHAKE_TIMEOUT' })), HANDSHAKE_TIMEOUT_MS);
      s.once('close', () => timers.clear(handshake));
      t.on('error', (err: Error & { code?: string }) => {
        if (!secure) this.#deps.sslStats?.countError(this.#statsAddress(), err);
        s.destroy();
      });
      t.once('secure', () => {
        timers.clear(handshake);
        secure = true;
        // node:http2 waits for 'secureConnect' while `secureConnecting` is set, which only node:tls's
        // server clears: an h2 session over this socket would read a handle never set up, and throw.
        (t as tls.TLSSocket & { secureConnecting: boolean }).secureConnecting = false;
        settleAuthorization(t);
        this.#onTls(t, s, { chain, sni });
      });
    });
  }

  /**
   * `raw`: the TCP socket under a TLS socket made over a stream (a mixed port), for the addresses;
   * `sniffed`: the chain that port chose from the ClientHello, and its SNI. OpenSSL's servername must
   * be that SNI (SNI is case-insensitive: RFC 6066, Envoy's filter chain match), or the connection is
   * refused: a certificate checked by one chain is never served by another.
   */
  #onTls(s: tls.TLSSocket, raw?: net.Socket, sniffed?: { chain: FilterChain; sni: string | undefined }): void {
    this.#track(s);
    // No renegotiation, as Envoy: the identity read below is the handshake's, once. Node only reports an
    // attempt (an error event); the connection ends then.
    s.disableRenegotiation();
    s.on('error', (err: Error & { code?: string }) => {
      if (err.code === 'ERR_TLS_RENEGOTIATION_DISABLED') s.destroy();
    });
    const sni = ((s as tls.TLSSocket & { servername?: string | false }).servername || undefined)?.toLowerCase();
    // The handshake's certificate and CA are those of the first ClientHello's name (a mixed port sniffs
    // it, a 'tls' port's SNICallback sees only it); a second ClientHello after a HelloRetryRequest can
    // name another server, as OpenSSL takes it (RFC 8446 §4.1.2 forbids it). Envoy fixes the filter
    // chain from the first (tls_inspector); a connection whose names differ is refused. A resumed
    // TLS 1.2 session reports no servername: it can only be one of the first name's context.
    const first = sniffed ? undefined : firstHellos.get(s);
    const hello = sniffed ? sniffed.sni : first?.name;
    // A resumed session runs no SNICallback (OpenSSL skips the certificate callback), so it has no first
    // name here. Only a port of one context whose chains name no server resumes (resumable), so any
    // chain it picks holds the context that made the session.
    const resumed = !sniffed && hello === undefined && s.isSessionReused();
    if (sni !== hello && !resumed && !(sni === undefined && s.isSessionReused())) return void s.destroy();
    let chain: FilterChain | undefined;
    if (sniffed) {
      chain = sniffed.chain;
    } else {
      const alpn = typeof s.alpnProtocol === 'string' ? [s.alpnProtocol] : [];
      chain = selectChain(this.config, { destinationPort: this.config.port, transportProtocol: 'tls', ...(hello ? { serverName: hello } : resumed && sni ? { serverName: sni } : {}), alpn });
      // The handshake's context was chosen without ALPN (by SNI, or the no-SNI default): a chain the
      // negotiated ALPN picks instead must be that context's (same certificates, CA and settings), or
      // its CA never checked the client. Envoy's tls_inspector fixes the chain from SNI and ALPN at once.
      if (!resumed && chain?.tls && chain.tls.contextKey !== (first ? first.contextKey : this.#defaultContext)) return void s.destroy();
    }
    if (!chain) return void s.destroy();
    let peerRaw: Buffer | undefined;
    if (chain.tls && chainAsksClientCert(chain)) {
      // Once per handshake: the CA's verdict, then the server's SAN, SPKI and hash checks (MUTUAL and
      // OPTIONAL_MUTUAL alike: a client that sent a certificate is held to them, as in Envoy).
      const { outcome, raw } = clientCertOutcome(s, { required: chain.tls.requireClientCert, validator: chain.tls.peerValidator });
      this.#deps.sslStats?.inc(this.#statsAddress(), outcome);
      if (outcome !== 'handshake') return void s.destroy();
      peerRaw = raw;
    } else if (chain.tls) {
      // A chain that validates no client certificate has no peer (Envoy's SIMPLE server asks for none).
      this.#deps.sslStats?.inc(this.#statsAddress(), 'handshake');
    }
    const peerPrincipal = peerRaw ? spiffeIdOf(peerRaw) : undefined;
    const meshPeer = peerPrincipal !== undefined && chain.tls?.caSecret === 'ROOTCA';
    const connection = this.#connection(raw ?? s, { tls: true, ...(sni ? { sni } : {}), ...(peerRaw ? { peerCertificate: peerRaw } : {}), ...(peerPrincipal && peerRaw ? { peerPrincipal, peerCertHash: certificateHash(peerRaw), ...(meshPeer ? { meshPeer } : {}) } : {}) });
    this.serveChain(s, chain, connection, s.alpnProtocol === 'h2');
  }

  /** Runs one connection (or tunnelled stream) on a chosen filter chain. */
  serveChain(s: Duplex, chain: FilterChain, connection: ConnectionInfo, knownH2 = false): void {
    if (chain.handler.kind === 'tcp') {
      serveTcp(this.#deps.clusters, chain.handler, s, connection, this.#deps.random, this.#deps.authzStats, this.#deps.hcm.timers ?? realTimers);
      return;
    }
    const ctx = { connection, chain: chain.handler, onUpgrade: (req: HandedRequest, sock: Duplex, head: Buffer) => this.#onUpgrade(chain.handler as HttpChain, connection, req, sock, head) };
    this.#http.serve(s, ctx, knownH2);
  }

  /**
   * The forward proxy stands in for the http_inspector: a proxied HTTP request is `http/1.1`, a CONNECT
   * tunnel is opaque bytes (no ALPN), so an undeclared port's detected-HTTP chain (which lists
   * application_protocols) takes the former and its TCP chain the latter. Among a port's chains one
   * naming the protocol wins over one naming none, as in Envoy's match precedence.
   */
  #chainForPort(port: number, appProtocol: 'http/1.1' | undefined, host?: string): FilterChain | undefined {
    const fits = (c: FilterChain) => c.destinationPort === port && (!c.alpn || (appProtocol !== undefined && c.alpn.includes(appProtocol)));
    // Several services' TCP chains can share a port: a CONNECT names its service, so the chain for that name wins.
    const named = host ? this.#chainForHost(host.toLowerCase(), port, fits) : undefined;
    const own = named ?? this.config.chains.find((c) => fits(c) && c.alpn) ?? this.config.chains.find(fits);
    if (own) return own;
    const l = this.#deps.unboundListener(port);
    if (l) return selectChain(l, { destinationPort: port, transportProtocol: 'raw_buffer', alpn: appProtocol ? [appProtocol] : [] });
    return this.config.defaultChain;
  }

  #chainForHost(host: string, port: number, fits: (c: FilterChain) => boolean): FilterChain | undefined {
    return this.config.chains.find((c) => fits(c) && (c.hosts?.has(host) || c.hosts?.has(`${host}:${port}`)));
  }

  /**
   * A proxied HTTP request for a port the mesh has no HTTP chain for falls to the port's TCP chain
   * (PassthroughCluster, or BlackHoleCluster under REGISTRY_ONLY), as its bytes would without the
   * forward proxy: through an HTTP chain of that one cluster, with the filters of the listener's
   * HTTP chains (telemetry), so it is forwarded to the address it names, or refused with 502 as
   * Istio's block_all answers.
   */
  #passthroughHttp(tcp: TcpChain): HttpChain {
    const cached = passthroughChains.get(tcp);
    if (cached) return cached;
    const cluster = tcp.pickCluster(0);
    const sibling = this.config.chains.find((c) => c.handler.kind === 'http')?.handler as HttpChain | undefined;
    const route: EnvoyRoute = cluster === 'BlackHoleCluster' ? { name: 'block_all', match: { prefix: '/' }, direct_response: { status: 502 } } : { name: 'allow_any', match: { prefix: '/' }, route: { cluster, timeout: { seconds: '0' } } };
    const chain: HttpChain = {
      kind: 'http',
      statPrefix: tcp.statPrefix,
      inlineRoutes: compileRouteConfiguration({ name: tcp.statPrefix, virtual_hosts: [{ name: route.name ?? 'allow_any', domains: ['*'], routes: [route] }] }),
      filters: sibling?.filters ?? [],
      websocket: sibling?.websocket ?? false,
      normalize: sibling?.normalize ?? compilePathNormalizer('BASE'),
      useRemoteAddress: false,
      xffTrustedHops: 0,
      serverHeader: sibling?.serverHeader ?? { name: 'envoy', overwrite: true },
      suppressEnvoyHeaders: sibling?.suppressEnvoyHeaders ?? false,
      generateRequestId: sibling?.generateRequestId ?? true,
    };
    passthroughChains.set(tcp, chain);
    return chain;
  }

  #forwardProxyContext(connection: ConnectionInfo) {
    return {
      connection,
      chain: (req: DownstreamRequest): HttpChain | undefined => {
        const { host, port } = splitAuthority(req.authority, 80);
        req.connection = { ...req.connection, localAddress: host, localPort: port };
        const c = this.#chainForPort(port, 'http/1.1');
        if (!c) return undefined;
        return c.handler.kind === 'http' ? c.handler : this.#passthroughHttp(c.handler);
      },
      onUpgrade: (req: HandedRequest, sock: Duplex, head: Buffer) => {
        const authority = /^https?:\/\/([^/]+)/i.exec(req.url ?? '')?.[1] ?? String(req.headers.host ?? '');
        const { host, port } = splitAuthority(authority, 80);
        const chain = this.#chainForPort(port, 'http/1.1');
        if (chain?.handler.kind !== 'http') return void sock.end('HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
        handleUpgrade(this.#deps.hcm, chain.handler, { ...connection, localAddress: host, localPort: port }, req, sock, head);
      },
      onConnect: (req: HandedRequest, sock: Duplex, head: Buffer) => {
        const { host, port } = splitAuthority(req.url ?? '', 443);
        const chain = this.#chainForPort(port, undefined, host);
        if (!chain || !host) return void sock.end('HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n');
        // Data sent before our 200 is held (unshifted), never forwarded ahead of the tunnel.
        if (head.length) sock.unshift(head);
        sock.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        this.serveChain(sock, chain, { ...connection, localAddress: host, localPort: port });
      },
    };
  }

  #onUpgrade(chain: HttpChain, connection: ConnectionInfo, req: HandedRequest, sock: Duplex, head: Buffer): void {
    handleUpgrade(this.#deps.hcm, chain, connection, req, sock, head);
  }

  /** Stop accepting, send GOAWAY / close idle connections. */
  drain(): void {
    this.#server.close();
    this.#http.drain();
  }

  close(): void {
    this.#server.close();
    this.#http.destroy();
    for (const s of this.#sockets) s.destroy();
  }
}

/**
 * A 'tls' port's connection's first ClientHello: its lowercased SNI and the contextKey of the chain whose
 * certificate and CA the handshake uses (recorded only when there is one: else the handshake fails).
 */
const firstHellos = new WeakMap<tls.TLSSocket, { readonly name: string; readonly contextKey: string }>();

/** node:tls's handshakeTimeout default, which a 'tls' port's server applies and a mixed port's sockets need too. */
const HANDSHAKE_TIMEOUT_MS = 120_000;

/** The HTTP chain a TCP chain stands for in the forward proxy (see #passthroughHttp), made once per chain. */
const passthroughChains = new WeakMap<TcpChain, HttpChain>();

function tlsChains(config: CompiledListener): FilterChain[] {
  return [...config.chains, ...(config.defaultChain ? [config.defaultChain] : [])].filter((c) => c.tls);
}

/**
 * Whether a 'tls' port offers session resumption. node:tls seals every session with its server's default
 * context's ticket keys, whichever chain's context the SNI callback swapped in, and a resumed handshake
 * runs no SNI callback: on a port of several contexts a session made under one chain's CA would resume
 * under another's, its client never checked by that CA. A resumed TLS 1.2 session reports no server name
 * (TLS 1.3 does), so where chains are chosen by name it could not be given its own. Such ports do a full
 * handshake every time (Envoy keeps ticket keys per chain and resumes on them); a mixed port's chains
 * each handshake in their own context, with their own keys.
 */
function resumable(config: CompiledListener): boolean {
  const chains = tlsChains(config);
  if (new Set(chains.map((c) => c.tls?.contextKey)).size > 1) return false;
  return chains.every((c) => (c.serverNames?.length ?? 0) === 0 || c.tls?.params.minVersion === 'TLSv1.3');
}

/** A listener with a TLS chain: its connections are TLS handshakes first (the tunnel, HTTPS gateway servers). */
function usesTls(config: CompiledListener): boolean {
  return tlsChains(config).length > 0;
}

/** Plaintext, TLS terminated for every chain, or both by SNI (TLS chains beside ones that pass TLS through). */
export type ListenerKind = 'plain' | 'tls' | 'mixed';

export function serverKind(config: CompiledListener): ListenerKind {
  if (!usesTls(config)) return 'plain';
  // A chain without TLS settings that matches on TLS (by transport or by SNI) passes TLS through.
  const passes = config.chains.some((c) => !c.tls && (c.transportProtocol === 'tls' || (c.serverNames?.length ?? 0) > 0));
  // Chains with their own versions or ciphers, or that differ in asking for a client certificate, need
  // the ClientHello read first: SNI can swap only a certificate and CA, not what the handshake asks.
  const params = new Set(tlsChains(config).map((c) => `${chainAsksClientCert(c)}\n${c.tls?.params.key}`));
  return passes || params.size > 1 ? 'mixed' : 'tls';
}

/** The IPv4 and IPv6 wildcards in any spelling (`0.0.0.0`, `::`, `0:0::0`, `::ffff:0.0.0.0`, `::ffff:0:0`). */
const wildcards = new net.BlockList();
wildcards.addAddress('0.0.0.0', 'ipv4');
wildcards.addAddress('::', 'ipv6');
// IPv4-mapped 0.0.0.0: listen() on a dual-stack socket takes it as every address too.
wildcards.addAddress('::ffff:0.0.0.0', 'ipv6');

/** Whether a bind address means every address of the host (compared as parsed bytes, not text). */
function isWildcard(address: string): boolean {
  const family = net.isIP(address);
  return family !== 0 && wildcards.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

function pickAlpn(protocols: readonly string[]): string | undefined {
  return protocols.includes('h2') ? 'h2' : protocols.includes('http/1.1') ? 'http/1.1' : undefined;
}


/**
 * node:tls decides `authorized` only for sockets its own server made: a TLS socket made over a stream
 * (a mixed port) is told here, from the handshake's verification result, as Node's server does.
 */
function settleAuthorization(t: tls.TLSSocket): void {
  const err = (t as tls.TLSSocket & { ssl?: { verifyError(): Error | null } }).ssl?.verifyError();
  t.authorized = !err;
  if (err) t.authorizationError = err;
}

/** Whether a chain validates client certificates (a CA to check against, or a certificate required). */
function chainAsksClientCert(c: FilterChain): boolean {
  return c.tls !== undefined && (c.tls.requireClientCert || c.tls.caSecret !== undefined || c.tls.caPem !== undefined);
}

/** Whether any chain of the listener asks for client certificates. */
function asksClientCert(config: CompiledListener): boolean {
  return config.chains.some(chainAsksClientCert) || (config.defaultChain !== undefined && chainAsksClientCert(config.defaultChain));
}

export function splitAuthority(authority: string, defaultPort: number): { host: string; port: number } {
  const m = /^(\[[^\]]+\]|[^:]*)(?::(\d+))?$/.exec(authority);
  if (!m) return { host: '', port: defaultPort };
  const host = (m[1] ?? '').replace(/^\[|\]$/g, '');
  return { host, port: m[2] ? Number(m[2]) : defaultPort };
}
