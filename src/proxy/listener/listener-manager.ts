// Reconciles LDS with bound sockets: new listeners bind (through the port map for Istio's fixed
// ports), changed ones swap their compiled config in place, removed ones drain. `connect_terminate`
// is the mesh tunnel; `bind_to_port: false` listeners are only consulted by the forward proxy. A
// listener that cannot bind is left out, or keeps its previous version, and is reported to the caller.
import http2, { type ServerHttp2Stream } from 'node:http2';
import { refuseStream } from './h2-abuse.ts';
import type { HcmRuntime } from '../http/connection-manager.ts';
import { handleHttp } from '../http/connection-manager.ts';
import type { ConnectionInfo } from '../http/stream.ts';
import type { DownstreamReq, DownstreamRes } from '../http/http-stream.ts';
import type { SecretStore } from '../config/secrets.ts';
import type { ClusterManager } from '../cluster/cluster-manager.ts';
import { TunnelServer, type TunnelStreamKind, type TunnelTransport } from '../tunnel/tunnel-server.ts';
import { type ListenerBindFailure, bindFailure } from './bind-failure.ts';
import { BoundListener, serverKind } from './bound-listener.ts';
import type { CompiledListener, FilterChain } from './compile-listener.ts';
import type { OriginalDestinationReader } from './original-destination.ts';
import { selectChain } from './select-chain.ts';
import { realTimers } from '../http/router.ts';
import type { ListenerSslStats } from '../tls/listener-ssl-stats.ts';
import type { NetworkAuthzStats } from '../filters/network-authz-stats.ts';

export const TUNNEL_LISTENER = 'connect_terminate';
export const INBOUND_LISTENER = 'virtualInbound';

// Istio's client-side ALPN for HTTP/2 over mTLS; Istio's TCP ALPNs (`mtlsTCPWithMxcALPNs`) plus `h2`,
// the tunnel's own.
/** Istio's drainDuration (45 s): how long a replaced or removed listener's connections may finish. */
export const RETIRED_LISTENER_DRAIN_MS = 45_000;
const TUNNEL_HTTP_ALPN: readonly string[] = ['istio-h2'];
const TUNNEL_TCP_ALPN: readonly string[] = ['istio-peer-exchange', 'istio', 'h2'];
/** What http_inspector reports for a plaintext HTTP/1.1 request. */
const PLAINTEXT_HTTP_ALPN: readonly string[] = ['http/1.1'];
/**
 * The port map's key for every listener port it does not name (`--port-map *=0`): `up --ephemeral-ports`
 * gives a gateway's later-added server ports a free port too, found on the admin's `/listeners`.
 */
export const OTHER_LISTENER_PORTS = 0;

export interface ListenerManagerDeps {
  hcm: HcmRuntime;
  clusters: ClusterManager;
  secrets: SecretStore;
  random(): number;
  /** Istio port → port to bind (process mode); unmapped ports bind as they are, or as OTHER_LISTENER_PORTS maps them. */
  portMap: ReadonlyMap<number, number>;
  /** A listener that could not bind: Envoy's `cannot bind '0.0.0.0:15008': Address already in use`. */
  onError?(listener: string, err: Error): void;
  /** Envoy's `listener_manager.listener_create_failure`: a listener's socket would not bind. */
  listenerCreateFailure?: { inc(): void };
  /** Mesh TLS handshake counters for the tunnel listener. */
  sslStats?: ListenerSslStats;
  /** Network RBAC's counters (`tcp.rbac.denied`). */
  authzStats?: NetworkAuthzStats;
  /** SO_ORIGINAL_DST, when this proxy's traffic is captured (INTERCEPTION_MODE REDIRECT). */
  originalDestination?: OriginalDestinationReader;
  /** This workload's metadata (`x-outrigger-peer`), answered to mesh peers' tunnel CONNECTs. */
  selfPeer?: string;
}

/** Listener warming: which updates wait for routes not held yet before they take over. */
export interface ListenerWarming {
  /** How long this listener's update may wait for its routes: 0, not at all; Infinity, until they come. */
  waitMs(l: CompiledListener): number;
  /** A warming listener took over because its wait ran out. */
  onTimedOut(): void;
}

/** `port`: the configured port; `bound`: the port it got, once bound. */
type Running = { kind: 'listener'; l: BoundListener; port: number; bound?: number } | { kind: 'tunnel'; t: TunnelServer; port: number; bound?: number };

/** The server a running listener is: a bound listener, or the tunnel. */
const serverOf = (r: Running): BoundListener | TunnelServer => (r.kind === 'listener' ? r.l : r.t);

export class ListenerManager {
  #deps: ListenerManagerDeps;
  #running = new Map<string, Running>();
  /** Listeners replaced or removed: draining, closed at the drain deadline or with the manager. */
  #retired = new Set<Running>();
  /** Listeners serving on until the one replacing them (on another port) is bound. */
  #replaced = new Set<Running>();
  #closed = false;
  #all = new Map<string, CompiledListener>();
  #unboundByPort = new Map<number, CompiledListener>();
  /** Updates waiting for their routes (Envoy's warming listeners), the version before serving meanwhile. */
  #warming = new Map<string, { l: CompiledListener; timer: unknown }>();

  constructor(deps: ListenerManagerDeps) {
    this.#deps = deps;
    deps.secrets.onChange(() => {
      for (const r of this.#running.values()) (r.kind === 'tunnel' ? r.t : r.l).refreshTls();
    });
  }

  /** Actual bound ports by listener name (after the port map; 0 binds an ephemeral port); one that failed to bind is left out. */
  async boundPorts(): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const s of await this.listenerStatuses()) out[s.name] = s.port;
    return out;
  }

  /** Each bound listener's name, address and actual port, as Envoy's admin `/listeners` lists them; one that failed to bind is left out. */
  async listenerStatuses(): Promise<{ name: string; address: string; port: number }[]> {
    const out: { name: string; address: string; port: number }[] = [];
    for (const [name, r] of this.#running) {
      try {
        const port = await serverOf(r).boundPort;
        out.push({ name, address: this.#all.get(name)?.address ?? '127.0.0.1', port });
      } catch {
        // Its bind failure went to onError.
      }
    }
    return out;
  }

  /** The listeners serving (a warming one's version before). */
  listeners(): IterableIterator<CompiledListener> {
    return this.#all.values();
  }

  /** Updates waiting for their routes. */
  *warmingListeners(): IterableIterator<CompiledListener> {
    for (const w of this.#warming.values()) yield w.l;
  }

  /**
   * Warming listeners whose routes are all here now (`ready`) take over; true when one did. On a refused
   * RDS update every one does, serving what it has, as Envoy's onConfigUpdateFailed readies them.
   */
  warm(ready: (l: CompiledListener) => boolean): boolean {
    let any = false;
    for (const [name, w] of this.#warming) {
      if (!ready(w.l)) continue;
      this.#takeOver(name);
      any = true;
    }
    return any;
  }

  #takeOver(name: string): void {
    const w = this.#warming.get(name);
    if (!w) return;
    this.#warming.delete(name);
    if (w.timer !== undefined) (this.#deps.hcm.timers ?? realTimers).clear(w.timer);
    const r = this.#running.get(name);
    if (r?.kind === 'listener') {
      r.l.config = w.l;
      r.l.refreshTls();
    } else if (!w.l.bindToPort) {
      this.#unboundByPort.set(w.l.port, w.l);
    }
    this.#all.set(name, w.l);
  }

  /** Ends the warming of every listener but those in `keep`, which wait on with their timeouts. */
  #cancelWarming(keep?: ReadonlySet<string>): void {
    const timers = this.#deps.hcm.timers ?? realTimers;
    for (const [name, w] of this.#warming) {
      if (keep?.has(name)) continue;
      if (w.timer !== undefined) timers.clear(w.timer);
      this.#warming.delete(name);
    }
  }

  /**
   * Applies LDS. Listeners swap config at once; new and moved ones bind, and the promise settles when
   * every bind has: Envoy creates listen sockets while it applies LDS, so the update is answered only
   * then. It resolves with the listeners that could not bind, each left out (a new one) or kept at its
   * previous version (one that moved port keeps serving on the old one), so that the next update binds
   * it again. Never rejects. An update in place that `warming` says must wait for its routes keeps the
   * version before serving until they come (Envoy's listener warming: the old listener is replaced only
   * once the new one's init targets are ready); a later update replaces what waits.
   */
  apply(listeners: readonly CompiledListener[], warming?: ListenerWarming, unchanged?: ReadonlySet<string>): Promise<ListenerBindFailure[]> {
    this.#cancelWarming(unchanged);
    const previous = this.#all;
    const all = new Map(listeners.map((l) => [l.name, l]));
    this.#all = all;
    this.#unboundByPort = new Map(listeners.filter((l) => !l.bindToPort).map((l) => [l.port, l]));
    // Removals first, as Envoy's LDS applies them: a listener added on a removed one's port can bind it.
    for (const [name, r] of this.#running) if (!all.get(name)?.bindToPort) this.#stop(name, r);
    const binds: Promise<ListenerBindFailure | undefined>[] = [];
    for (const l of listeners) {
      if (!l.bindToPort) {
        // One the forward proxy consults (Istio's outbound listeners) warms alike, where it was before.
        const before = previous.get(l.name);
        if (before && !before.bindToPort && before.port === l.port && (this.#warming.has(l.name) || this.#warmUp(l, before, warming))) {
          all.set(l.name, before);
          this.#unboundByPort.set(l.port, before);
        }
        continue;
      }
      const r = this.#running.get(l.name);
      // Same port, same kind of server (plaintext or TLS): new connections take the new chains.
      if (r && r.port === l.port && (r.kind !== 'listener' || r.l.kind === serverKind(l))) {
        if (r.kind === 'listener') {
          // Still warming, unchanged: what serves stays, and so does the wait.
          if (this.#warming.has(l.name)) {
            all.set(l.name, r.l.config);
            continue;
          }
          if (this.#warmUp(l, r.l.config, warming)) continue;
          r.l.config = l;
          r.l.refreshTls();
        }
        continue;
      }
      if (r && r.port === l.port) {
        // Started anew for the same port (a server switched between plaintext and TLS): the port it had,
        // which the old one's stop just frees, not another free one where the port map says `*=0`.
        this.#stop(l.name, r);
        binds.push(this.#start(l, all, r.bound));
        continue;
      }
      // New, or moved to another port: one it replaces serves until this one is bound.
      binds.push(this.#start(l, all, undefined, r && { running: r, config: previous.get(l.name) }));
    }
    return Promise.all(binds).then((results) => results.filter((f) => f !== undefined));
  }

  /**
   * Starts a listener; settles when it is bound (the one it replaces then drains) or could not be
   * (the one it replaces, with its config, is restored; a new one is dropped). `keep`: the host port
   * a listener this one replaces was bound to.
   */
  #start(l: CompiledListener, all: Map<string, CompiledListener>, keep?: number, replaces?: { running: Running; config: CompiledListener | undefined }): Promise<ListenerBindFailure | undefined> {
    const bindPort = keep ?? this.#deps.portMap.get(l.port) ?? this.#deps.portMap.get(OTHER_LISTENER_PORTS) ?? l.port;
    const running = l.name === TUNNEL_LISTENER ? this.#tunnel(l, bindPort) : this.#listener(l, bindPort);
    this.#running.set(l.name, running);
    const server = serverOf(running);
    if (replaces) this.#replaced.add(replaces.running);
    return server.boundPort.then(
      (p) => {
        running.bound = p;
        // Closed while it was binding: it must not outlive the manager.
        if (this.#closed) server.close();
        if (replaces && this.#replaced.delete(replaces.running)) this.#retire(replaces.running);
        return undefined;
      },
      (err: Error) => {
        server.close();
        const failure = bindFailure(l, err);
        this.#deps.listenerCreateFailure?.inc();
        this.#deps.onError?.(l.name, new Error(failure.message, { cause: err }));
        // Closed meanwhile: what it replaced was closed with the manager.
        if (replaces && !this.#replaced.delete(replaces.running)) return failure;
        if (this.#running.get(l.name) !== running) {
          // A later update has replaced or removed it already; what it replaced is not coming back.
          if (replaces) this.#retire(replaces.running);
          return failure;
        }
        if (replaces) this.#running.set(l.name, replaces.running);
        else this.#running.delete(l.name);
        if (replaces?.config) all.set(l.name, replaces.config);
        else all.delete(l.name);
        return failure;
      },
    );
  }

  /** Holds `l` warming, `serving` on in its place, when it must wait for routes; false when it need not. */
  #warmUp(l: CompiledListener, serving: CompiledListener, warming: ListenerWarming | undefined): boolean {
    const waitMs = warming?.waitMs(l) ?? 0;
    if (waitMs <= 0) return false;
    this.#all.set(l.name, serving);
    const timer = Number.isFinite(waitMs)
      ? (this.#deps.hcm.timers ?? realTimers).set(() => {
          this.#takeOver(l.name);
          warming?.onTimedOut();
        }, waitMs)
      : undefined;
    this.#warming.set(l.name, { l, timer });
    return true;
  }

  #tunnel(l: CompiledListener, bindPort: number): Running {
    const d = this.#deps;
    const t = new TunnelServer(bindPort, {
      material: () => d.secrets.mesh(),
      // The current listener's, so that an update (a trust domain alias added) applies to the next handshake.
      peerValidator: () => this.#all.get(TUNNEL_LISTENER)?.tunnelTls?.peerValidator,
      ...(d.hcm.timers ? { timers: d.hcm.timers } : {}),
      ...(d.sslStats ? { sslStats: d.sslStats } : {}),
      ...(d.selfPeer ? { selfPeer: d.selfPeer } : {}),
      inboundChain: (port, kind, transport) => this.#inboundChain(port, kind, transport),
      serveStream: (stream: ServerHttp2Stream, chain: FilterChain, conn: ConnectionInfo) => this.#inbound()?.l.serveChain(stream, chain, conn),
      serveRequest: (chain: FilterChain, conn: ConnectionInfo, req: DownstreamReq, res: DownstreamRes) => {
        if (chain.handler.kind === 'http') void handleHttp(d.hcm, chain.handler, conn, req, res).catch(() => ('stream' in res ? refuseStream(res.stream, http2.constants.NGHTTP2_INTERNAL_ERROR) : res.destroy()));
      },
    });
    return { kind: 'tunnel', t, port: l.port };
  }

  #listener(l: CompiledListener, bindPort: number): Running {
    const d = this.#deps;
    const bl = new BoundListener(l, bindPort, {
      hcm: d.hcm,
      clusters: d.clusters,
      random: d.random,
      secureContext: (t) => d.secrets.secureContext(t),
      contextOptions: (t) => d.secrets.contextOptions(t),
      unboundListener: (port) => this.#unboundByPort.get(port),
      ...(d.originalDestination ? { originalDestination: d.originalDestination } : {}),
      ...(d.authzStats ? { authzStats: d.authzStats } : {}),
      ...(d.sslStats ? { sslStats: d.sslStats } : {}),
    });
    return { kind: 'listener', l: bl, port: l.port };
  }

  #inbound(): { l: BoundListener } | undefined {
    const r = this.#running.get(INBOUND_LISTENER);
    return r?.kind === 'listener' ? r : undefined;
  }

  /**
   * virtualInbound's chain for a tunnelled stream. The tunnel already knows what the stream carries, so
   * it stands in for the inspectors: a request offers the ALPN an Istio client sidecar sends for HTTP/2
   * over mTLS (`istio-h2`), a CONNECT Istio's TCP ALPNs, which no detected-HTTP chain lists. Tunnel
   * streams are `tls` (docs/internals.md §5): a DISABLE port's `raw_buffer` chains never take them, as
   * Istio's plaintext-only chains never take mTLS (they fall to the default chain). A stream standing
   * for plaintext (`raw_buffer`) offers what http_inspector reports for plaintext HTTP, or nothing for
   * TCP, and a STRICT port's `tls` chains never take it.
   */
  #inboundChain(port: number, kind: TunnelStreamKind, transport: TunnelTransport): FilterChain | undefined {
    const l = this.#all.get(INBOUND_LISTENER);
    if (!l) return undefined;
    if (transport === 'raw_buffer') {
      const chain = selectChain(l, { destinationPort: port, transportProtocol: 'raw_buffer', alpn: kind === 'http' ? PLAINTEXT_HTTP_ALPN : [] });
      // The default chain (BlackHole) is no chain for a port: that is where Istio's server closes it.
      return chain === l.defaultChain ? undefined : chain;
    }
    return selectChain(l, { destinationPort: port, transportProtocol: 'tls', alpn: kind === 'http' ? TUNNEL_HTTP_ALPN : TUNNEL_TCP_ALPN });
  }

  /**
   * A listener replaced or removed drains (idle connections close, requests in flight finish), then is
   * closed at Istio's drain deadline: a WebSocket or TCP connection on it never outlives its config.
   */
  #stop(name: string, r: Running): void {
    this.#running.delete(name);
    this.#retire(r);
  }

  #retire(r: Running): void {
    const l = serverOf(r);
    l.drain();
    this.#retired.add(r);
    const timers = this.#deps.hcm.timers ?? realTimers;
    timers.set(() => {
      if (!this.#retired.delete(r)) return;
      l.close();
    }, RETIRED_LISTENER_DRAIN_MS);
  }

  drain(): void {
    for (const r of [...this.#running.values(), ...this.#replaced]) serverOf(r).drain();
  }

  close(): void {
    this.#closed = true;
    this.#cancelWarming();
    for (const r of [...this.#running.values(), ...this.#retired, ...this.#replaced]) serverOf(r).close();
    this.#running.clear();
    this.#retired.clear();
    this.#replaced.clear();
  }
}
