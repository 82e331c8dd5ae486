// The `envoy.service.auth.v3.Authorization/Check` messages in Envoy's canonical JSON shape, and their
// protobuf wire codec (the proto from @grpc/grpc-js-xds's tree, loaded once on first use).
import { existsSync } from 'node:fs';
import path from 'node:path';
import protobuf from 'protobufjs';
import { protoIncludeDirs } from '../../../xds/protos.ts';
import { configFieldValue } from '../../http/field-syntax.ts';

export const CHECK_METHOD_PATH = '/envoy.service.auth.v3.Authorization/Check';

export interface CheckPeer {
  address?: { socket_address: { address: string; port_value: number } };
  /** The peer's SPIFFE ID (source) or the proxy's own (destination); empty when unknown. */
  principal?: string;
}

export interface CheckRequestJson {
  attributes: {
    source: CheckPeer;
    destination: CheckPeer;
    request?: {
      time?: { seconds: string; nanos: number };
      http: {
        id?: string;
        method: string;
        headers: Record<string, string>;
        path: string;
        host: string;
        scheme: string;
        protocol: string;
        size?: string;
      };
    };
    context_extensions?: Record<string, string>;
  };
}

export interface HeaderValueOptionJson {
  header?: { key?: string; value?: string; raw_value?: Uint8Array };
  append?: { value?: boolean };
  append_action?: string;
}

export interface CheckResponseJson {
  status?: { code?: number; message?: string };
  denied_response?: { status?: { code?: string | number }; headers?: HeaderValueOptionJson[]; body?: string };
  ok_response?: {
    headers?: HeaderValueOptionJson[];
    headers_to_remove?: string[];
    response_headers_to_add?: HeaderValueOptionJson[];
  };
}

let types: { request: protobuf.Type; response: protobuf.Type } | undefined;

function checkTypes(): { request: protobuf.Type; response: protobuf.Type } {
  if (types) return types;
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => {
    if (path.isAbsolute(target)) return target;
    for (const dir of protoIncludeDirs) {
      const candidate = path.join(dir, target);
      if (existsSync(candidate)) return candidate;
    }
    return target;
  };
  root.loadSync('envoy/service/auth/v3/external_auth.proto', { keepCase: true });
  root.resolveAll();
  types = { request: root.lookupType('envoy.service.auth.v3.CheckRequest'), response: root.lookupType('envoy.service.auth.v3.CheckResponse') };
  return types;
}

export function encodeCheckRequest(req: CheckRequestJson): Uint8Array {
  const t = checkTypes().request;
  return t.encode(t.fromObject(req)).finish();
}

export function decodeCheckResponse(bytes: Uint8Array): CheckResponseJson {
  const t = checkTypes().response;
  return t.toObject(t.decode(bytes), { longs: String, enums: String, defaults: false, bytes: Array }) as CheckResponseJson;
}

/** The value of a HeaderValueOption (raw_value wins, as in Envoy, when value is empty). */
export function headerOptionValue(h: HeaderValueOptionJson): string {
  const v = h.header?.value ?? '';
  if (v === '' && h.header?.raw_value) return Buffer.from(h.header.raw_value).toString('latin1');
  // Decoded from protobuf as UTF-8 text: carried as its bytes, as Envoy sends it.
  return configFieldValue(v);
}

/** Envoy: append_action when given; else `append: true` appends, unset or false overwrites. */
export function headerOptionAppends(h: HeaderValueOptionJson): boolean {
  if (h.append_action !== undefined) return h.append_action === 'APPEND_IF_EXISTS_OR_ADD' || h.append_action === '0';
  return h.append?.value === true;
}

/** `type.v3.StatusCode` arrives as an enum name (`Forbidden`) or number; 0/unset means 403. */
const STATUS_BY_NAME: Record<string, number> = {
  OK: 200,
  BadRequest: 400,
  Unauthorized: 401,
  PaymentRequired: 402,
  Forbidden: 403,
  NotFound: 404,
  MethodNotAllowed: 405,
  TooManyRequests: 429,
  InternalServerError: 500,
  BadGateway: 502,
  ServiceUnavailable: 503,
  GatewayTimeout: 504,
};

export function deniedStatus(code: string | number | undefined): number {
  const n = typeof code === 'number' ? code : code === undefined ? 0 : (STATUS_BY_NAME[code] ?? Number(code));
  return Number.isInteger(n) && n >= 100 && n <= 599 ? n : 403;
}
