// The error a config compile step throws: its message becomes the NACK's error_detail, so it names the
// resource and the field.
export class ProxyConfigError extends Error {
  readonly code = 'PROXY_CONFIG';
  constructor(resource: string, field: string, problem: string) {
    super(`${resource}: ${field}: ${problem}`);
  }
}

/**
 * An LDS update some of whose listeners could not be added (a listen socket that would not bind). Its
 * message is Envoy's LdsApiImpl rejection: `Error adding/updating listener(s) ` and a `name: reason`
 * line per listener (Envoy ends each with a newline; the last is left off here).
 */
export class ListenerUpdateError extends Error {
  readonly code = 'PROXY_LISTENER_UPDATE';
  constructor(failures: readonly { name: string; message: string }[]) {
    super(`Error adding/updating listener(s) ${failures.map((f) => `${f.name}: ${f.message}`).join('\n')}`);
  }
}

/**
 * A CDS update some of whose clusters could not be added or updated (they do not compile): Envoy's
 * CdsApiImpl rejection, `Error adding/updating cluster(s) ` and `name: reason` per cluster, joined by `, `.
 */
export class ClusterUpdateError extends Error {
  readonly code = 'PROXY_CLUSTER_UPDATE';
  constructor(failures: readonly { name: string; message: string }[]) {
    super(`Error adding/updating cluster(s) ${failures.map((f) => `${f.name}: ${f.message}`).join(', ')}`);
  }
}
