// Envoy's header mutations (`*_headers_to_add` with append_action, `*_headers_to_remove`) compiled
// once per level; applied in place to a HeaderMap. Removals run before additions, as in Envoy.
import type { EnvoyHeaderMutationFields, EnvoyHeaderValueOption } from './route/envoy-types.ts';
import { configFieldValue } from './field-syntax.ts';
import { RouteConfigError } from './route/errors.ts';
import type { HeaderMap } from './stream.ts';

type AppendAction = 'APPEND_IF_EXISTS_OR_ADD' | 'ADD_IF_ABSENT' | 'OVERWRITE_IF_EXISTS_OR_ADD' | 'OVERWRITE_IF_EXISTS';

interface HeaderOp {
  readonly name: string;
  readonly value: string;
  readonly action: AppendAction;
  readonly keepEmpty: boolean;
}

const actions = new Set<string>(['APPEND_IF_EXISTS_OR_ADD', 'ADD_IF_ABSENT', 'OVERWRITE_IF_EXISTS_OR_ADD', 'OVERWRITE_IF_EXISTS']);

export class HeaderMutation {
  readonly #remove: readonly string[];
  readonly #ops: readonly HeaderOp[];

  constructor(add: EnvoyHeaderValueOption[] | undefined, remove: string[] | undefined, path: string, addField: string, removeField: string) {
    this.#remove = (remove ?? []).map((name, i) => {
      const lower = name.toLowerCase();
      if (lower === '' || lower.startsWith(':') || lower === 'host') {
        throw new RouteConfigError(`${path}.${removeField}[${i}]`, `cannot remove ${JSON.stringify(name)}`);
      }
      return lower;
    });
    // Mesh-internal request headers are the proxy's own to add (the tunnel's target port, peer
    // metadata, plaintext marker): a route's addition of one is dropped here, once, not per request.
    const request = addField.startsWith('request');
    this.#ops = (add ?? []).flatMap((o, i) => {
      const where = `${path}.${addField}[${i}]`;
      const name = o.header?.key?.toLowerCase() ?? '';
      if (name === '' || name.startsWith(':')) throw new RouteConfigError(`${where}.header.key`, `cannot add ${JSON.stringify(name)}`);
      if (request && name.startsWith('x-outrigger-')) return [];
      let action: AppendAction = 'APPEND_IF_EXISTS_OR_ADD';
      if (o.append_action !== undefined) {
        if (!actions.has(o.append_action)) throw new RouteConfigError(`${where}.append_action`, `unknown ${o.append_action}`);
        if (o.append !== undefined) throw new RouteConfigError(where, 'append and append_action are exclusive');
        action = o.append_action as AppendAction;
      } else if (o.append?.value === false) action = 'OVERWRITE_IF_EXISTS_OR_ADD';
      const value = o.header?.value !== undefined ? configFieldValue(o.header.value) : o.header?.raw_value !== undefined ? Buffer.from(o.header.raw_value, 'base64').toString('latin1') : '';
      // Envoy's HeaderValue validation: no NUL, CR or LF in a value.
      if (/[\0\r\n]/.test(value)) throw new RouteConfigError(`${where}.header.value`, 'a header value cannot hold NUL, CR or LF');
      if (value.includes('%') && /%[A-Z_]+(\(.*?\))?%/.test(value)) {
        throw new RouteConfigError(`${where}.header.value`, `header formatters are not supported: ${value}`);
      }
      return [{ name, value, action, keepEmpty: o.keep_empty_value === true }];
    });
  }

  get empty(): boolean {
    return this.#remove.length === 0 && this.#ops.length === 0;
  }

  apply(headers: HeaderMap): void {
    // Indexed loops: this runs on every request and response, most often with nothing to do.
    const remove = this.#remove;
    for (let i = 0; i < remove.length; i++) headers.delete(remove[i] as string);
    const ops = this.#ops;
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i] as HeaderOp;
      if (op.value === '' && !op.keepEmpty) continue;
      const existing = headers.get(op.name);
      switch (op.action) {
        case 'APPEND_IF_EXISTS_OR_ADD':
          if (existing === undefined) headers.set(op.name, op.value);
          else if (typeof existing === 'string') headers.set(op.name, [existing, op.value]);
          else existing.push(op.value);
          break;
        case 'ADD_IF_ABSENT':
          if (existing === undefined) headers.set(op.name, op.value);
          break;
        case 'OVERWRITE_IF_EXISTS_OR_ADD':
          headers.set(op.name, op.value);
          break;
        case 'OVERWRITE_IF_EXISTS':
          if (existing !== undefined) headers.set(op.name, op.value);
          break;
      }
    }
  }
}

export interface CompiledHeaderMutations {
  readonly request: HeaderMutation;
  readonly response: HeaderMutation;
}

/** Compiles the request and response mutations of one level (route config, virtual host, route, cluster). */
export function compileHeaderMutations(fields: EnvoyHeaderMutationFields, path: string): CompiledHeaderMutations {
  return {
    request: new HeaderMutation(fields.request_headers_to_add, fields.request_headers_to_remove, path, 'request_headers_to_add', 'request_headers_to_remove'),
    response: new HeaderMutation(fields.response_headers_to_add, fields.response_headers_to_remove, path, 'response_headers_to_add', 'response_headers_to_remove'),
  };
}
