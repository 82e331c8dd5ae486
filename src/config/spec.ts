// The typed `spec` of a validated document. Secret and ConfigMap keep their top-level data in
// `spec.data` (Secret `data` base64-decoded, then `stringData` laid over it, as the API server does).
type Raw = Record<string, unknown>;

const base64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Decodes standard base64 strictly (Go's decoder skips line breaks, so do we); undefined if invalid. */
export function decodeBase64(text: string): string | undefined {
  const s = text.replace(/[\r\n]/g, '');
  if (s.length % 4 !== 0 || !base64.test(s)) return undefined;
  return Buffer.from(s, 'base64').toString('utf8');
}

function record(v: unknown): Record<string, string> {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, string>) : {};
}

export function buildSpec(kind: string, raw: Raw, onBadBase64: (path: (string | number)[], message: string) => void): unknown {
  switch (kind) {
    case 'Secret': {
      const data: Record<string, string> = {};
      for (const [key, value] of Object.entries(record(raw['data']))) {
        if (typeof value !== 'string') continue;
        const decoded = decodeBase64(value);
        if (decoded === undefined) onBadBase64(['data', key], `data.${key} is not valid base64`);
        else data[key] = decoded;
      }
      Object.assign(data, record(raw['stringData']));
      const spec: { type?: string; data: Record<string, string> } = { data };
      if (typeof raw['type'] === 'string') spec.type = raw['type'];
      return spec;
    }
    case 'ConfigMap':
      return { data: { ...record(raw['data']) } };
    case 'ServiceAccount':
      return {};
    default:
      return raw['spec'] ?? {};
  }
}
