// Reads a zod schema's structure at a field path: the fields an object allows, for "did you mean".
import type * as z from 'zod';

interface Def {
  type: string;
  shape?: Record<string, unknown>;
  element?: unknown;
  innerType?: unknown;
  in?: unknown;
  valueType?: unknown;
  options?: unknown[];
}

function defOf(schema: unknown): Def | undefined {
  const zod = (schema as { _zod?: { def?: Def } } | undefined)?._zod;
  return zod?.def;
}

/** Strips optional/nullable/default/pipe wrappers. */
function unwrap(schema: unknown): unknown {
  for (let i = 0; i < 16; i++) {
    const def = defOf(schema);
    if (!def) return schema;
    if (def.type === 'optional' || def.type === 'nullable' || def.type === 'default' || def.type === 'nonoptional') schema = def.innerType;
    else if (def.type === 'pipe') schema = def.in;
    else return schema;
  }
  return schema;
}

/** The schema at `path`, or undefined when the path leaves the schema. */
export function schemaAt(schema: z.ZodType, path: readonly PropertyKey[]): unknown {
  let s: unknown = schema;
  for (const seg of path) {
    const def = defOf(unwrap(s));
    if (!def) return undefined;
    if (def.type === 'object' && def.shape) s = def.shape[String(seg)];
    else if (def.type === 'array') s = def.element;
    else if (def.type === 'record') s = def.valueType;
    else if (def.type === 'union') s = def.options?.find((o) => defOf(unwrap(o))?.type === 'object');
    else return undefined;
  }
  return s;
}

/** The field names the object schema at `path` allows (empty when it is not an object). */
export function fieldsAt(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
  const def = defOf(unwrap(schemaAt(schema, path)));
  return def?.type === 'object' && def.shape ? Object.keys(def.shape) : [];
}
