// Compiles Envoy RBAC Permission and Principal trees into predicates, collecting the path of any
// unsupported or malformed node so a bad config is NACKed with a precise message.
import { compileCidr } from './cidr-matcher.ts';
import { HeaderPredicate } from './header-matcher.ts';
import { MetadataPredicate } from './metadata-matcher.ts';
import {
  ANY,
  AndPredicate,
  FilterStatePredicate,
  type InputPredicate,
  IpPredicateLeaf,
  NotPredicate,
  OrPredicate,
  PortPredicate,
  StringFactPredicate,
} from './predicates.ts';
import { type Permission, type Principal, RbacConfigError } from './rbac-types.ts';
import { compileStringMatcher } from './string-matcher.ts';

/** direct_remote_ip, source_ip and destination_ip are the socket's: a dual-stack socket's `::ffff:a.b.c.d` is IPv4. */
const SOCKET = { socket: true };

type PathMatcherLike = { path?: Parameters<typeof compileStringMatcher>[0] } | null | undefined;

function compileUrlPath(m: PathMatcherLike, path: string): InputPredicate {
  return new StringFactPredicate('url_path', compileStringMatcher(m?.path, `${path}.path`));
}

function compileFilterState(
  m: { key?: string; string_match?: Parameters<typeof compileStringMatcher>[0] } | null | undefined,
  path: string,
): InputPredicate {
  if (!m?.key) throw new RbacConfigError(`${path}.key: required`);
  return new FilterStatePredicate(m.key, compileStringMatcher(m.string_match, `${path}.string_match`));
}

export function compilePermission(p: Permission, path: string): InputPredicate {
  if (p.and_rules) return new AndPredicate((p.and_rules.rules ?? []).map((r, i) => compilePermission(r, `${path}.and_rules[${i}]`)));
  if (p.or_rules) return new OrPredicate((p.or_rules.rules ?? []).map((r, i) => compilePermission(r, `${path}.or_rules[${i}]`)));
  if (p.not_rule) return new NotPredicate(compilePermission(p.not_rule, `${path}.not_rule`));
  if (p.any === true) return ANY;
  if (p.header) return new HeaderPredicate(p.header, `${path}.header`);
  if (p.url_path) return compileUrlPath(p.url_path, `${path}.url_path`);
  if (p.destination_ip) return new IpPredicateLeaf('destination_ip', compileCidr(p.destination_ip, `${path}.destination_ip`, SOCKET));
  if (p.destination_port !== undefined) {
    const port = Number(p.destination_port);
    return new PortPredicate(port, port + 1);
  }
  if (p.destination_port_range) {
    return new PortPredicate(Number(p.destination_port_range.start ?? 0), Number(p.destination_port_range.end ?? 0));
  }
  if (p.metadata) return new MetadataPredicate(p.metadata, `${path}.metadata`);
  if (p.requested_server_name) {
    return new StringFactPredicate('sni', compileStringMatcher(p.requested_server_name, `${path}.requested_server_name`));
  }
  throw new RbacConfigError(`${path}: unsupported permission (${Object.keys(p).join(', ') || 'empty'})`);
}

export function compilePrincipal(p: Principal, path: string): InputPredicate {
  if (p.and_ids) return new AndPredicate((p.and_ids.ids ?? []).map((r, i) => compilePrincipal(r, `${path}.and_ids[${i}]`)));
  if (p.or_ids) return new OrPredicate((p.or_ids.ids ?? []).map((r, i) => compilePrincipal(r, `${path}.or_ids[${i}]`)));
  if (p.not_id) return new NotPredicate(compilePrincipal(p.not_id, `${path}.not_id`));
  if (p.any === true) return ANY;
  if (p.authenticated) {
    const m = p.authenticated.principal_name;
    return new StringFactPredicate('principal', m ? compileStringMatcher(m, `${path}.authenticated.principal_name`) : null);
  }
  if (p.direct_remote_ip) return new IpPredicateLeaf('direct_remote_ip', compileCidr(p.direct_remote_ip, `${path}.direct_remote_ip`, SOCKET));
  // remote_ip is matched as written: at the edge an X-Forwarded-For entry (rbac-input unmaps the socket's peer when it stands in).
  if (p.remote_ip) return new IpPredicateLeaf('remote_ip', compileCidr(p.remote_ip, `${path}.remote_ip`));
  if (p.source_ip) return new IpPredicateLeaf('source_ip', compileCidr(p.source_ip, `${path}.source_ip`, SOCKET));
  if (p.header) return new HeaderPredicate(p.header, `${path}.header`);
  if (p.url_path) return compileUrlPath(p.url_path, `${path}.url_path`);
  if (p.metadata) return new MetadataPredicate(p.metadata, `${path}.metadata`);
  if (p.filter_state) return compileFilterState(p.filter_state, `${path}.filter_state`);
  throw new RbacConfigError(`${path}: unsupported principal (${Object.keys(p).join(', ') || 'empty'})`);
}
