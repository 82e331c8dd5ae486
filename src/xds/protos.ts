// The Envoy v3 protos Outrigger speaks, loaded once from the copy that @grpc/grpc-js-xds ships,
// and the codec between xDS resources in Envoy's canonical JSON shape and protobuf `Any`.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, unlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import protobuf from 'protobufjs';
import { writeFileAtomic } from '../runtime/write-atomic.ts';

const require = createRequire(import.meta.url);
const xdsRoot = path.dirname(require.resolve('@grpc/grpc-js-xds/package.json'));

/** Directories that hold the Envoy, xDS, validate and googleapis protos. */
export const protoIncludeDirs: readonly string[] = [
  path.join(xdsRoot, 'deps/envoy-api'),
  path.join(xdsRoot, 'deps/xds'),
  path.join(xdsRoot, 'deps/googleapis'),
  path.join(xdsRoot, 'deps/protoc-gen-validate'),
  path.dirname(require.resolve('protobufjs/package.json')),
  path.join(path.dirname(new URL(import.meta.url).pathname), 'proto'),
];

/** Every proto file Outrigger's xDS and CSR contracts need. */
export const protoFiles: readonly string[] = [
  'envoy/service/discovery/v3/ads.proto',
  'envoy/config/listener/v3/listener.proto',
  'envoy/config/route/v3/route.proto',
  'envoy/config/cluster/v3/cluster.proto',
  'envoy/config/endpoint/v3/endpoint.proto',
  'envoy/extensions/transport_sockets/tls/v3/tls.proto',
  'envoy/extensions/transport_sockets/tls/v3/secret.proto',
  'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
  'envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.proto',
  'envoy/extensions/filters/listener/original_dst/v3/original_dst.proto',
  'envoy/extensions/filters/listener/tls_inspector/v3/tls_inspector.proto',
  'envoy/extensions/filters/listener/http_inspector/v3/http_inspector.proto',
  'envoy/extensions/filters/network/rbac/v3/rbac.proto',
  'envoy/extensions/filters/network/ext_authz/v3/ext_authz.proto',
  'envoy/extensions/filters/http/router/v3/router.proto',
  'envoy/extensions/filters/http/rbac/v3/rbac.proto',
  'envoy/extensions/filters/http/fault/v3/fault.proto',
  'envoy/extensions/filters/http/cors/v3/cors.proto',
  'envoy/extensions/filters/http/jwt_authn/v3/config.proto',
  'envoy/extensions/filters/http/ext_authz/v3/ext_authz.proto',
  'envoy/extensions/upstreams/http/v3/http_protocol_options.proto',
  'envoy/extensions/load_balancing_policies/ring_hash/v3/ring_hash.proto',
  'envoy/extensions/load_balancing_policies/maglev/v3/maglev.proto',
  'envoy/extensions/retry/priority/previous_priorities/v3/previous_priorities_config.proto',
  'envoy/admin/v3/config_dump.proto',
  'envoy/service/status/v3/csds.proto',
  'xds/type/v3/typed_struct.proto',
  'udpa/type/v1/typed_struct.proto',
  'google/protobuf/struct.proto',
  'istio/v1/auth/ca.proto',
  'google/protobuf/wrappers.proto',
];

/** Decoding options shared by every Outrigger xDS codec: snake_case fields as in Envoy's JSON. */
export const protoLoaderOptions = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: false,
  oneofs: false,
  json: true,
} as const;

let root: protobuf.Root | undefined;

/** Parses every Outrigger proto from its `.proto` source (about 200 ms and 6 MB of heap, comments kept). */
export function parseProtoRoot(): protobuf.Root {
  const r = new protobuf.Root();
  r.resolvePath = (_origin, target) => {
    if (path.isAbsolute(target)) return target;
    for (const dir of protoIncludeDirs) {
      const candidate = path.join(dir, target);
      if (existsSync(candidate)) return candidate;
    }
    return target;
  };
  // @grpc/proto-loader, once loaded in a process, registers a bundled descriptor.proto (camelCase
  // fields) in protobufjs's global `common`, which a load would take over the file. The root, and the
  // cache other processes read, must not depend on what this process loaded before.
  const bundled = protobuf.common as unknown as Record<string, unknown>;
  const descriptor = 'google/protobuf/descriptor.proto';
  const registered = bundled[descriptor];
  delete bundled[descriptor];
  try {
    r.loadSync([...protoFiles], { keepCase: true });
  } finally {
    if (registered !== undefined) bundled[descriptor] = registered;
  }
  r.resolveAll();
  return r;
}

/** A root rebuilt from `parseProtoRoot().toJSON()`: the same types, without re-reading the sources. */
export function protoRootFromJson(json: protobuf.INamespace): protobuf.Root {
  const r = protobuf.Root.fromJSON(json);
  r.resolveAll();
  return r;
}

/** Files under `dir`, relative, sorted: Outrigger's own protos, part of the cache key. */
function filesUnder(dir: string, prefix = ''): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? filesUnder(path.join(dir, e.name), `${prefix}${e.name}/`) : [`${prefix}${e.name}`]))
    .sort();
}

/** Bumped when parseProtoRoot() changes how it parses (options, resolution), so older caches are not read. */
const PROTO_CACHE_FORMAT = 2;

/**
 * Where the parsed protos are kept as JSON, named by a hash of what they were parsed from and how (the
 * versions of the packages that ship them, the include directories, the file list, Outrigger's own
 * proto files and PROTO_CACHE_FORMAT), so a change to any of those misses the cache instead of reading
 * a stale one. Files patched inside node_modules without a version change are not seen: delete
 * `node_modules/.cache/outrigger-protos` after patching them.
 */
export function protoCacheFile(): string {
  const pkg = (name: string) => (JSON.parse(readFileSync(require.resolve(`${name}/package.json`), 'utf8')) as { version: string }).version;
  const own = path.join(path.dirname(new URL(import.meta.url).pathname), 'proto');
  const nodeModules = path.dirname(path.dirname(require.resolve('protobufjs/package.json')));
  const includes = protoIncludeDirs.map((d) => (d.startsWith(nodeModules) ? path.relative(nodeModules, d) : path.basename(d)));
  const hash = createHash('sha256').update(
    JSON.stringify({ format: PROTO_CACHE_FORMAT, keepCase: true, xds: pkg('@grpc/grpc-js-xds'), protobufjs: pkg('protobufjs'), includes, files: protoFiles }),
  );
  for (const f of filesUnder(own)) hash.update(f).update(readFileSync(path.join(own, f)));
  return path.join(nodeModules, '.cache', 'outrigger-protos', `${hash.digest('hex').slice(0, 16)}.json`);
}

/**
 * The protobufjs root with every Outrigger proto loaded; built on first use. The first process to parse
 * the sources leaves them as JSON in the package's cache, and later ones load that: about a third of the
 * time and heap, since comments are not kept. A cache that cannot be read or written only costs the parse.
 */
export function protoRoot(): protobuf.Root {
  if (root) return root;
  let file: string | undefined;
  try {
    file = protoCacheFile();
    if (existsSync(file)) {
      root = protoRootFromJson(JSON.parse(readFileSync(file, 'utf8')) as protobuf.INamespace);
      return root;
    }
  } catch {
    // Unreadable or unparsable: parse the sources below and write it again.
  }
  root = parseProtoRoot();
  if (file) {
    try {
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileAtomic(file, JSON.stringify(root.toJSON()));
      dropOtherKeys(file);
    } catch {
      // A read-only install or a full disk: every process parses.
    }
  }
  return root;
}

/**
 * Removes caches written under other keys (older protos, an older parser): they are never read again. A
 * process of another version that still wanted one parses the sources instead.
 */
export function dropOtherKeys(kept: string): void {
  const dir = path.dirname(kept);
  for (const name of readdirSync(dir)) {
    if (!/^[0-9a-f]{16}\.json$/.test(name) || name === path.basename(kept)) continue;
    try {
      unlinkSync(path.join(dir, name));
    } catch {
      // Gone already (another process cleaned up), or not ours to remove.
    }
  }
}

const typeCache = new Map<string, protobuf.Type>();

/** The message type named by a type URL (`type.googleapis.com/envoy.config.listener.v3.Listener`). */
export function messageType(typeUrl: string): protobuf.Type {
  let t = typeCache.get(typeUrl);
  if (t) return t;
  const name = typeUrl.slice(typeUrl.lastIndexOf('/') + 1);
  t = protoRoot().lookupType(name);
  typeCache.set(typeUrl, t);
  return t;
}

/** What a field holds, for the codecs (json-to-proto.ts, proto-to-json.ts); resolves the field first. */
export interface FieldKind {
  /** The message type of a message field (or of a map's values). */
  message: protobuf.Type | undefined;
  enumType: protobuf.Enum | undefined;
  /** Numbers and enums may travel as one packed run; strings, bytes and messages never do. */
  packable: boolean;
}

export function fieldKind(f: protobuf.Field): FieldKind {
  f.resolve();
  const message = f.resolvedType instanceof protobuf.Type ? f.resolvedType : undefined;
  const enumType = f.resolvedType instanceof protobuf.Enum ? f.resolvedType : undefined;
  const packable = enumType !== undefined || (protobuf.types.packed as Record<string, number | undefined>)[f.type] !== undefined;
  return { message, enumType, packable };
}
