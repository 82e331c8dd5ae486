// The control plane: config watcher → last-good store → (debounced) snapshot → per-proxy translation →
// ADS push; plus the workload registry, bootstrap tokens, the CSR service and the metrics behind the debug API.
import * as grpc from '@grpc/grpc-js';
import type { CertificateAuthority } from '../ca/certificate-authority.ts';
import type { AnyResource } from '../config/resource.ts';
import type { WorkloadInstance } from '../model/workload.ts';
import type { MeshSnapshot } from '../model/snapshot.ts';
import type { ProxyView } from '../model/proxy-view.ts';
import { meshSettingsFrom } from '../model/mesh-config.ts';
import { buildSnapshot } from '../model/snapshot.ts';
import type { ProxyResources } from '../translate/proxy-resources.ts';
import { buildProxyResources, LISTENER_ONLY_KINDS, OUTPUTS_BEYOND_LISTENERS } from '../translate/proxy-resources.ts';
import { meshTranslateOptions } from '../translate/default-options.ts';
import type { TranslateOptions } from '../translate/options.ts';
import type { AdsConnection, AdsServerEvent } from '../xds/ads-server.ts';
import { AdsServer } from '../xds/ads-server.ts';
import { TypeUrl } from '../xds/type-urls.ts';
import type { WorkloadIdentity } from './bootstrap-tokens.ts';
import { BootstrapTokens } from './bootstrap-tokens.ts';
import type { Clock } from './clock.ts';
import { systemClock } from './clock.ts';
import { controlPlaneMetrics, shortType } from './control-plane-metrics.ts';
import { ConfigStore, type StoreState } from './config-store.ts';
import { ConfigWatcher } from './config-watcher.ts';
import { ConfigReporter } from './config-report.ts';
import { runAnalyzers } from '../analysis/run.ts';
import { addCsrService, type CsrServiceOptions } from './csr-service.ts';
import { type CallCheck, callerCheck, controlPlaneServerOptions, csrCallCheck, MAX_RECEIVE_MESSAGE_BYTES, MessageLimitError, maxReceiveMessageBytesFromEnv, preauthInterceptor } from './call-limits.ts';
import { CREATE_CERTIFICATE_PATH } from '../ca/certificate-service-definition.ts';
import { ClientCertAuthenticator } from './client-cert-authenticator.ts';
import { addCsdsService, CsdsMethods, type CsdsOptions } from '../xds/csds-server.ts';
import { bindGrpc, ControlPlaneError, defaultXdsTlsName } from './xds-tls.ts';
import { ServingCertificate } from './serving-certificate.ts';
import { Debouncer } from './debouncer.ts';
import { SnapshotMemo } from './translation-memo.ts';
import { credentialReaders, mayReceiveSecret } from './credential-readers.ts';
import { buildProxylessResources } from './proxyless.ts';
import { declaredWorkloads, WorkloadRegistry } from './registry.ts';

export interface ControlPlaneOptions {
  /** Directories or files of YAML to watch. */
  configPaths: readonly string[];
  /** `host:port` for ADS (+ CSR), plaintext; default `127.0.0.1:15010`. Port 0 picks one. */
  xdsAddress?: string;
  clock?: Clock;
  debounce?: { quietMs: number; maxMs: number };
  /**
   * `host:port` for the same ADS, CSR and CSDS services over TLS (Istio's 15012), served with a
   * certificate from `ca` for `xdsTlsNames` (default `istiod.istio-system.svc`). Off unless given;
   * needs `ca`. Port 0 picks one.
   */
  xdsTlsAddress?: string;
  xdsTlsNames?: readonly string[];
  /** Fallback rescan period of the config directories (ms); 0 disables it. */
  rescanMs?: number;
  /** Accept ADS streams without a token (proxyless test clients); they never get secrets. */
  allowAnonymous?: boolean;
  /** Signs workload certificates (CSR service) and provides the ROOTCA secret. */
  ca?: CertificateAuthority;
  /** Key for bootstrap tokens, so tokens survive a restart; random by default. */
  tokenKey?: Uint8Array;
  log?: (level: 'info' | 'warn', message: string) => void;
  /** What translation plugs in (filters, client and gateway TLS); default `meshTranslateOptions`. Fixed for the control plane's life. */
  translateOptions?: TranslateOptions;
  /**
   * The largest gRPC message a caller may send, in bytes (call-limits.ts); default ISTIO_GPRC_MAXRECVMSGSIZE
   * from the environment, else istiod's 4 MiB. An invalid environment value is warned of and the default used.
   */
  maxReceiveMessageBytes?: number;
}

export class ControlPlane {
  /** Message and stream limits, and the CSR's and CSDS's callers authenticated before their messages are read (call-limits.ts). */
  readonly grpcServer: grpc.Server;
  #callChecks = new Map<string, CallCheck>();
  readonly metrics = controlPlaneMetrics();
  readonly registry = new WorkloadRegistry();
  readonly store = new ConfigStore();
  readonly ads: AdsServer;
  #opts: ControlPlaneOptions;
  #clock: Clock;
  #tokens: BootstrapTokens;
  /** Workload certificates presented on the TLS port; undefined without a CA (nothing could verify them). */
  #clientCerts: ClientCertAuthenticator | undefined;
  #watcher: ConfigWatcher;
  #debouncer: Debouncer;
  #snapshot: MeshSnapshot;
  /** Translation shared between the proxies of the current snapshot. */
  #memo = new SnapshotMemo();
  /** What the last snapshot's clusters, endpoints and routes were built from (see `rebuild`). */
  #outputInputs: OutputInputs | undefined;
  #generation = 0;
  #versionAt = new Map<string, number>();
  #configReport = new ConfigReporter();
  #serving = false;
  /** Files whose change the next rebuild applies: said once it is in force. */
  #changedFiles = new Set<string>();
  #xdsAddress = '';
  #xdsTlsAddress = '';
  /** The TLS port's own certificate, renewed on the clock; undefined while the port is off. */
  #servingCertificate: ServingCertificate | undefined;
  /** Ends the subscription to the CA's trust-bundle changes. */
  #unsubscribeBundle: (() => void) | undefined;
  #log: NonNullable<ControlPlaneOptions['log']>;
  /** The configured trust domain last seen, so a mismatch with the CA's is reported once per change. */
  #configuredTrustDomain: string | undefined;
  /** The secrets each connection was refused and told of, so a refusal is logged once, not at every push. */
  #refusedSecrets = new WeakMap<AdsConnection, Set<string>>();

  private constructor(opts: ControlPlaneOptions) {
    this.#opts = opts;
    this.#clock = opts.clock ?? systemClock;
    this.#tokens = new BootstrapTokens(opts.tokenKey);
    this.#log = opts.log ?? ((level, m) => process.stderr.write(`${new Date().toISOString()} ${level} ${m}\n`));
    this.grpcServer = new grpc.Server(controlPlaneServerOptions([preauthInterceptor((path) => this.#callChecks.get(path))], opts.maxReceiveMessageBytes ?? this.#envMaxReceiveMessageBytes()));
    this.#snapshot = buildSnapshot([], [], '0');
    const ca = opts.ca;
    if (ca) {
      this.#clientCerts = new ClientCertAuthenticator({
        issuers: () => ca.ownSigners(),
        // The CA's domain, and the aliases the config gives it (the snapshot's mesh settings hold both).
        trustDomains: () => [ca.trustDomain, ...this.#snapshot.mesh.trustDomainAliases],
        now: () => this.#clock.now(),
      });
    }
    const clientCerts = this.#clientCerts;
    this.ads = new AdsServer({
      verifyToken: (t) => this.verifyBootstrapToken(t),
      tokenGenuine: (t) => this.#tokens.verify(t, 0) !== undefined,
      ...(clientCerts ? { verifyCertificate: (c) => clientCerts.authenticate(c) } : {}),
      allowAnonymous: opts.allowAnonymous ?? false,
      // A proxy speaks for its own workload's pods only (istiod's ensureProxyCanControlEntry). Proxyless
      // clients and anonymous streams never enter the registry, so they claim nothing.
      admit: (node, identity, credential) => (node.generator === 'grpc' || !identity ? undefined : this.registry.refusal(node.view.namespace, node.podName, identity, credential)),
      generate: (conn) => this.#generate(conn),
      version: () => this.#snapshot.version,
      clock: this.#clock,
      onEvent: (e) => this.#onAdsEvent(e),
    });
    this.ads.register(this.grpcServer);
    if (opts.ca) {
      // A refused certificate leaves a workload without identity (or renewing until it expires): say so here too.
      const onResult: NonNullable<CsrServiceOptions['onResult']> = (r) => {
        if (r.ok) this.metrics.certificatesIssued.inc({ auth: r.auth ?? 'token' });
        // A caller without a token is not news; one whose workload certificate proves nothing is (as a refused ADS stream).
        else if (r.code === 'UNAUTHENTICATED' && r.message) this.#log('warn', `refused certificate request from ${r.peer ?? 'a caller'}: ${r.message}`);
        else if (r.code !== 'UNAUTHENTICATED') this.#log('warn', `certificate refused for ${r.identity ? `${r.identity.namespace}/${r.identity.serviceAccount}` : 'a caller'}: ${r.code} ${r.message ?? ''}`.trim());
      };
      addCsrService(this.grpcServer, {
        ca: opts.ca,
        authenticate: (t) => this.verifyBootstrapToken(t),
        ...(clientCerts ? { authenticateCertificate: (c) => clientCerts.authenticate(c) } : {}),
        onResult,
      });
      // The same decision from the call's headers, before its message is read (the handler decides again).
      this.#callChecks.set(
        CREATE_CERTIFICATE_PATH,
        csrCallCheck({ verifyToken: (t) => this.verifyBootstrapToken(t), ...(clientCerts ? { verifyCertificate: (c) => clientCerts.authenticate(c) } : {}), onRefused: onResult }),
      );
      this.metrics.rootCertExpiry.set(Math.floor(opts.ca.rootExpiry().getTime() / 1000));
    }
    // CSDS authenticates its caller as ADS does (the same certificate checks and token), and its refusals
    // are counted with ADS's: one metric of callers the xDS ports turned away.
    const csds = {
      connections: () => this.ads.connections,
      verifyToken: (t) => this.verifyBootstrapToken(t),
      tokenGenuine: (t) => this.#tokens.verify(t, 0) !== undefined,
      ...(clientCerts ? { verifyCertificate: (c) => clientCerts.authenticate(c) } : {}),
      allowAnonymous: opts.allowAnonymous ?? false,
      now: () => this.#clock.now(),
      onRefused: (r) => {
        this.metrics.refused.inc({ code: r.code });
        this.#log('warn', `refused CSDS call from ${r.peer}: ${r.code} ${r.reason}`);
      },
    } satisfies CsdsOptions;
    addCsdsService(this.grpcServer, csds);
    // A stream's requests are each authenticated again by the service; its first is not read unless this passes.
    this.#callChecks.set(CsdsMethods.fetch, callerCheck(csds));
    this.#callChecks.set(CsdsMethods.stream, callerCheck(csds));
    this.#debouncer = new Debouncer({
      quietMs: opts.debounce?.quietMs ?? 100,
      maxMs: opts.debounce?.maxMs ?? 10_000,
      clock: this.#clock,
      onFire: (_events, waited) => {
        this.metrics.debounce.observe(waited / 1000);
        this.rebuild();
      },
    });
    this.#watcher = new ConfigWatcher({
      paths: opts.configPaths,
      clock: this.#clock,
      rescanMs: opts.rescanMs ?? 5000,
      onFile: (file, result) => {
        if (this.store.setFile(file, result)) {
          this.#changedFiles.add(file);
          this.#debouncer.trigger();
        }
        this.#reportConfig();
      },
      onError: (err) => this.#log('warn', `config watch: ${err.message}`),
    });
  }

  /** Loads the config, builds the first snapshot and starts serving ADS. */
  static async start(opts: ControlPlaneOptions): Promise<ControlPlane> {
    const cp = new ControlPlane(opts);
    try {
      await cp.#watcher.start();
      cp.#debouncer.cancel();
      // The first load is what `xDS listening ... N resources from M files` says; edits are said from here on.
      cp.#changedFiles.clear();
      cp.rebuild();
      cp.#serving = true;
      // A root added, rotated in or removed goes to every proxy at once as its ROOTCA: a proxy must
      // know a new root before the TLS port's certificate (re-signed by it) is all it is offered.
      cp.#unsubscribeBundle = opts.ca?.onTrustBundleChange(() => cp.#debouncer.trigger());
      const address = opts.xdsAddress ?? '127.0.0.1:15010';
      cp.#xdsAddress = await bindGrpc(cp.grpcServer, address, grpc.ServerCredentials.createInsecure());
      cp.#log('info', `xDS listening on ${cp.#xdsAddress}; ${cp.store.state.resources.length} resources from ${cp.store.files.length} files`);
      if (opts.xdsTlsAddress) {
        if (!opts.ca) throw new ControlPlaneError('CP_TLS_NEEDS_CA', 'the TLS xDS port needs the mesh CA for its serving certificate');
        cp.#servingCertificate = await ServingCertificate.issue({ ca: opts.ca, names: opts.xdsTlsNames ?? [defaultXdsTlsName], clock: cp.#clock, log: cp.#log });
        cp.#xdsTlsAddress = await bindGrpc(cp.grpcServer, opts.xdsTlsAddress, cp.#servingCertificate.credentials);
        cp.#log('info', `xDS over TLS listening on ${cp.#xdsTlsAddress}`);
      }
    } catch (err) {
      // A half-started control plane must not keep the process alive: the bound port, the watcher's timers.
      cp.#watcher.close();
      cp.#debouncer.close();
      cp.#unsubscribeBundle?.();
      cp.#servingCertificate?.close();
      cp.grpcServer.forceShutdown();
      throw err;
    }
    return cp;
  }

  get xdsAddress(): string {
    return this.#xdsAddress;
  }

  /** `host:port` of the TLS xDS port, or '' when it is off. */
  get xdsTlsAddress(): string {
    return this.#xdsTlsAddress;
  }

  get snapshot(): MeshSnapshot {
    return this.#snapshot;
  }

  get configState(): StoreState {
    return this.store.state;
  }

  get connections(): readonly AdsConnection[] {
    return this.ads.connections;
  }

  /** The local runtime announces an instance it started (or its new ports/health). */
  registerWorkload(instance: WorkloadInstance): void {
    this.registry.register(instance);
    this.#debouncer.trigger();
  }

  unregisterWorkload(namespace: string, name: string): void {
    if (this.registry.unregister(namespace, name)) this.#debouncer.trigger();
  }

  /** A token for one workload's proxy: ADS and CSR accept it for exactly this identity (until `expiresAtMs`, if given). */
  issueBootstrapToken(id: WorkloadIdentity, expiresAtMs?: number): string {
    return this.#tokens.issue(id, expiresAtMs);
  }

  /** The token's identity, or undefined when it is not ours or expired by the control plane's clock. */
  verifyBootstrapToken(token: string): WorkloadIdentity | undefined {
    return this.#tokens.verify(token, this.#clock.now());
  }

  /** Rescans the config now (tests, or after `outrigger up` wrote files). */
  async rescan(): Promise<void> {
    await this.#watcher.rescan();
  }

  /** Skips the rest of the debounce and pushes now, if anything is pending. */
  flush(): void {
    this.#debouncer.flush();
  }

  /** Builds a new snapshot from the store and registry and pushes what changed. */
  rebuild(): void {
    const resources = this.store.state.resources;
    this.registry.setDeclared(declaredWorkloads(resources));
    const version = `${new Date(this.#clock.now()).toISOString()}/${++this.#generation}`;
    const instances = this.registry.instances();
    // Workload identities are in the CA's trust domain, fixed when it started: the clusters' secure-naming
    // SANs must name what it issues, whatever a later meshConfig says.
    const caDomain = this.#opts.ca?.trustDomain;
    this.#snapshot = buildSnapshot(resources, instances, version, caDomain);
    // An edit is said once it is in force (a workload coming or going is not a config change).
    if (this.#changedFiles.size > 0 || !this.#serving) {
      if (this.#serving) this.#log('info', `config applied: ${[...this.#changedFiles].join(', ')} (${resources.length} resources, version ${version})`);
      this.#changedFiles.clear();
      // What `up` and `analyze` say of the first load, said of each edit: a route to a host nothing defines.
      const found = this.#configReport.findings(runAnalyzers(resources));
      if (this.#serving) for (const l of found) this.#log(l.level, l.message);
    }
    const configured = meshSettingsFrom(resources).trustDomain;
    if (caDomain !== undefined && configured !== caDomain && configured !== this.#configuredTrustDomain) {
      this.#log('warn', `meshConfig.trustDomain is ${configured}, but the CA issues identities in ${caDomain} (set when the control plane started): identities and secure naming stay in ${caDomain}, and authorization treats ${configured} as an alias of it; restart the control plane to change it`);
    }
    this.#configuredTrustDomain = configured;
    // A change to listener-only config (a Telemetry, an AuthorizationPolicy) keeps the clusters, endpoints
    // and routes already built: the same objects, so nothing there is translated, hashed or encoded again.
    const inputs = outputInputs(resources, instances);
    const unchanged = this.#outputInputs !== undefined && sameInputs(this.#outputInputs, inputs);
    this.#memo = new SnapshotMemo(unchanged ? this.#memo.carry(OUTPUTS_BEYOND_LISTENERS) : undefined);
    this.#outputInputs = inputs;
    this.metrics.snapshots.inc();
    this.#versionAt.clear();
    this.#versionAt.set(version, this.#clock.now());
    const started = performance.now();
    this.ads.pushAll(() => this.metrics.pushTime.observe((performance.now() - started) / 1000));
  }

  /**
   * Pushes anything pending now, then resolves once every connected Envoy-style proxy has ACKed what
   * it was last sent for each type it subscribed to (true), or at the deadline (false). `outrigger up`
   * waits on this so the mesh it reports as running already routes to the apps it registered.
   */
  async whenSynced(timeoutMs: number): Promise<boolean> {
    this.flush();
    const until = this.#clock.now() + timeoutMs;
    const synced = () =>
      !this.#debouncer.pending &&
      !this.ads.pushing &&
      this.ads.connections.every((c) => c.node.generator === 'grpc' || [...c.subscriptions().keys()].every((t) => c.status(t) !== 'STALE'));
    while (!synced()) {
      if (this.#clock.now() > until) return false;
      await new Promise((r) => setTimeout(r, 20));
      if (this.#debouncer.pending) this.flush();
    }
    return true;
  }

  async close(): Promise<void> {
    this.#watcher.close();
    // Closed, not just cancelled: the streams closed below unregister their pods, which would arm it again.
    this.#debouncer.close();
    this.#unsubscribeBundle?.();
    this.#servingCertificate?.close();
    this.ads.closeStreams();
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        this.grpcServer.forceShutdown();
        resolve();
      }, 2000);
      t.unref();
      this.grpcServer.tryShutdown(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  /** What a sidecar or gateway with this view is translated to now, shared work included (tests, debugging). */
  translateFor(view: ProxyView): ProxyResources {
    return buildProxyResources(this.#snapshot, view, this.#opts.translateOptions ?? meshTranslateOptions, this.#memo);
  }

  /** ISTIO_GPRC_MAXRECVMSGSIZE, or the default; an invalid value is said and ignored, as istiod's env.Register does. */
  #envMaxReceiveMessageBytes(): number {
    try {
      return maxReceiveMessageBytesFromEnv() ?? MAX_RECEIVE_MESSAGE_BYTES;
    } catch (err) {
      if (!(err instanceof MessageLimitError)) throw err;
      this.#log('warn', `${err.message}; using ${MAX_RECEIVE_MESSAGE_BYTES}`);
      return MAX_RECEIVE_MESSAGE_BYTES;
    }
  }

  #generate(conn: AdsConnection): ProxyResources {
    const started = performance.now();
    const node = conn.node;
    const out =
      node.generator === 'grpc'
        ? buildProxylessResources(this.#snapshot, node.view.namespace, conn.state(TypeUrl.Listener).names)
        : this.translateFor(node.view);
    this.#withholdCredentials(conn, out);
    const ca = this.#opts.ca;
    if (ca && node.generator !== 'grpc') {
      // A copy: translation may share its secrets map between the replicas of a workload.
      const secrets = new Map(out.get(TypeUrl.Secret));
      if (!secrets.has('ROOTCA')) {
        const bundle = ca.trustBundle().join('');
        // One object per bundle, so its bytes are encoded once for every proxy.
        const rootCa = this.#memo.once(`ROOTCA\0${bundle}`, () => ({ '@type': TypeUrl.Secret, name: 'ROOTCA', validation_context: { trusted_ca: { inline_string: bundle } } }));
        secrets.set('ROOTCA', rootCa);
      }
      out.set(TypeUrl.Secret, secrets);
    }
    this.metrics.translationTime.observe((performance.now() - started) / 1000);
    return out;
  }

  /**
   * Drops the `credentialName` keys this proxy's verified identity may not read (credential-readers.ts):
   * its role and labels are its own claim, so they decide what it asks for, never what it gets. Each
   * refusal is logged once per connection, as istiod logs an unauthorized SDS request.
   */
  #withholdCredentials(conn: AdsConnection, out: ProxyResources): void {
    const secrets = out.get(TypeUrl.Secret);
    const identity = conn.identity;
    // Without an identity the ADS server sends no secret at all.
    if (!secrets || !identity) return;
    const readers = credentialReaders(this.#snapshot);
    const refused = [...secrets.keys()].filter((name) => !mayReceiveSecret(readers, identity, name));
    if (refused.length === 0) return;
    // A copy: translation may share its secrets map between the replicas of a workload.
    const allowed = new Map(secrets);
    const logged = this.#refusedSecrets.get(conn) ?? new Set<string>();
    this.#refusedSecrets.set(conn, logged);
    for (const name of refused) {
      allowed.delete(name);
      if (logged.has(name)) continue;
      logged.add(name);
      this.#log('warn', `proxy ${conn.node.view.id} (${identity.namespace}/${identity.serviceAccount}) is not authorized for secret ${name}: not sent`);
    }
    if (allowed.size > 0) out.set(TypeUrl.Secret, allowed);
    else out.delete(TypeUrl.Secret);
  }

  #onAdsEvent(e: AdsServerEvent): void {
    const m = this.metrics;
    switch (e.kind) {
      case 'connect':
      case 'disconnect': {
        m.connected.set(this.ads.connections.length);
        const { podName, view, generator } = e.conn.node;
        if (generator === 'grpc') break;
        const identity = e.conn.identity;
        // Only a verified identity makes an instance: an anonymous stream gets config and announces nothing.
        const changed = !identity ? false : e.kind === 'connect' ? this.registry.proxyConnected(e.conn.id, podName, view, identity) : this.registry.proxyDisconnected(e.conn.id, podName, view.namespace);
        this.#log('info', `${e.kind === 'connect' ? 'connected' : 'disconnected'} ${view.id} (${e.conn.peer})`);
        if (changed) this.#debouncer.trigger();
        break;
      }
      case 'push':
        m.pushes.inc({ type: shortType(e.typeUrl) });
        m.configSize.observe(e.bytes, { type: shortType(e.typeUrl) });
        break;
      case 'ack': {
        const at = this.#versionAt.get(e.version);
        if (at !== undefined) m.convergence.observe((this.#clock.now() - at) / 1000);
        break;
      }
      case 'nack':
        m.rejects.inc({ type: shortType(e.typeUrl) });
        this.#log('warn', `NACK ${shortType(e.typeUrl)} ${e.version} from ${e.conn.node.view.id}: ${e.message}`);
        break;
      case 'refused':
        m.refused.inc({ code: e.code });
        this.#log('warn', `refused ADS stream from ${e.peer}: ${e.code} ${e.reason}`);
        break;
      case 'error': {
        // A failure of the whole translation has no type: `xds`.
        const type = e.typeUrl ? shortType(e.typeUrl) : 'xds';
        m.translationErrors.inc({ type });
        // Config the control plane could not send counts as `<type>_senderr`, which the seed's push-error
        // alert reads. (Istio counts failed stream writes there; here a write to a closing stream is not
        // an error, and what fails is translation.)
        m.pushes.inc({ type: `${type}_senderr` });
        this.#log('warn', `config for ${e.conn.node.view.id} not sent: ${e.message}`);
        break;
      }
    }
  }

  #reportConfig(): void {
    const state = this.store.state;
    this.metrics.rejectedResources.set(new Set(state.diagnostics.filter((d) => d.severity === 'error').map((d) => d.resource ?? d.span?.file)).size);
    this.metrics.heldResources.set(state.held.length);
    const lines = this.#configReport.report(state);
    // The first load is `up`'s (or `analyze`'s) to report: edits are said from here on.
    if (this.#serving) for (const l of lines) this.#log(l.level, l.message);
  }
}

/** The inputs of clusters, endpoints and routes: every resource but the listener-only kinds, and the workloads. */
interface OutputInputs {
  /** Each resource's fields by reference: an unchanged document keeps its parsed objects across loads. */
  refs: unknown[];
  instances: string;
}

function outputInputs(resources: readonly AnyResource[], instances: readonly WorkloadInstance[]): OutputInputs {
  const refs: unknown[] = [];
  for (const r of resources) {
    if (LISTENER_ONLY_KINDS.has(r.kind)) continue;
    for (const [k, v] of Object.entries(r)) if (k !== 'origin') refs.push(k, v);
    refs.push('\0');
  }
  return { refs, instances: JSON.stringify(instances) };
}

function sameInputs(a: OutputInputs, b: OutputInputs): boolean {
  return a.instances === b.instances && a.refs.length === b.refs.length && a.refs.every((v, i) => v === b.refs[i]);
}
