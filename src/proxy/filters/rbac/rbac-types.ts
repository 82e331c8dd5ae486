// The Envoy RBAC config shapes the engine compiles (Envoy canonical JSON, snake_case), from the
// generated input types of @grpc/grpc-js-xds, plus the facts a request or connection offers to them.
import type { CidrRange } from '@grpc/grpc-js-xds/build/src/generated/envoy/config/core/v3/CidrRange.js';
import type { Permission } from '@grpc/grpc-js-xds/build/src/generated/envoy/config/rbac/v3/Permission.js';
import type { Policy } from '@grpc/grpc-js-xds/build/src/generated/envoy/config/rbac/v3/Policy.js';
import type { Principal } from '@grpc/grpc-js-xds/build/src/generated/envoy/config/rbac/v3/Principal.js';
import type { HeaderMatcher } from '@grpc/grpc-js-xds/build/src/generated/envoy/config/route/v3/HeaderMatcher.js';
import type { MetadataMatcher } from '@grpc/grpc-js-xds/build/src/generated/envoy/type/matcher/v3/MetadataMatcher.js';
import type { StringMatcher } from '@grpc/grpc-js-xds/build/src/generated/envoy/type/matcher/v3/StringMatcher.js';
import type { ValueMatcher } from '@grpc/grpc-js-xds/build/src/generated/envoy/type/matcher/v3/ValueMatcher.js';

export type { CidrRange, HeaderMatcher, MetadataMatcher, Permission, Policy, Principal, StringMatcher, ValueMatcher };

export type RbacAction = 'ALLOW' | 'DENY' | 'LOG';

/** `envoy.config.rbac.v3.RBAC` as the engine reads it. */
export interface RbacConfig {
  action?: RbacAction;
  policies?: Record<string, Policy>;
}

/** What a request (HTTP) or a connection (TCP) offers to the matchers; compiled matchers read only this. */
export interface RbacInput {
  /** Header values by lower-case name, pseudo-headers included (`:method`, `:path`, `:authority`); null on TCP. */
  header(name: string): readonly string[] | undefined;
  /** The normalised path without query; null on TCP. */
  readonly urlPath: string | null;
  readonly destinationIp: string;
  readonly destinationPort: number;
  readonly sni: string | undefined;
  /** The verified peer SPIFFE ID; undefined for plaintext callers. */
  readonly principal: string | undefined;
  /** The socket peer address. */
  readonly directRemoteIp: string;
  /** The client address after trusted X-Forwarded-For hops (the socket peer when none are trusted). */
  readonly remoteIp: string;
  /** Dynamic metadata by filter name (jwt_authn, istio_authn, ...). */
  readonly metadata: ReadonlyMap<string, Record<string, unknown>>;
  /** Filter state objects by key, serialised as strings. */
  readonly filterState: ReadonlyMap<string, string>;
}

export class RbacConfigError extends Error {
  readonly code = 'RBAC_CONFIG';
}
