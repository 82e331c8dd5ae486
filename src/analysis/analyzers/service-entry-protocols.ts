// ServiceEntries visible in one namespace that give one host and port different protocols (IST0177,
// Istio's serviceentry.ConflictingServiceEntryProtocolAnalyzer): only one protocol can serve them.
import type { ServiceEntry } from '../../config/resource.ts';
import type { Analyzer } from '../analyzer.ts';

/** exportToScopes: `*` for every namespace (exportTo empty or holding `*`), else each namespace named (`.` is the entry's own). */
function scopes(se: ServiceEntry): string[] {
  const exportTo = se.spec.exportTo ?? [];
  if (exportTo.length === 0 || exportTo.includes('*')) return ['*'];
  return [...new Set(exportTo.map((e) => (e === '.' ? se.metadata.namespace : e)))];
}

export const serviceEntryProtocols: Analyzer = {
  name: 'serviceentry.ConflictingServiceEntryProtocolAnalyzer',
  codes: ['IST0177'],
  analyze(ctx, report) {
    // scope, host (as written), port → the protocols the entries give it.
    const index = new Map<string, { scope: string; host: string; port: number; entries: { protocol: string; se: ServiceEntry }[] }>();
    for (const se of ctx.ofKind<ServiceEntry>('ServiceEntry')) {
      for (const scope of scopes(se)) {
        for (const host of se.spec.hosts) {
          for (const p of se.spec.ports ?? []) {
            const key = `${scope}\0${host}\0${p.number}`;
            const slot = index.get(key) ?? { scope, host, port: p.number, entries: [] };
            slot.entries.push({ protocol: p.protocol ?? '', se });
            index.set(key, slot);
          }
        }
      }
    }
    const reported = new Set<ServiceEntry>();
    for (const { scope, host, port, entries: own } of index.values()) {
      const entries = scope === '*' ? own : [...own, ...(index.get(`*\0${host}\0${port}`)?.entries ?? [])];
      const protocols = [...new Set(entries.map((e) => e.protocol.toUpperCase()))].sort();
      if (protocols.length < 2) continue;
      const names = [...new Set(entries.map((e) => `${e.se.metadata.namespace}/${e.se.metadata.name}`))].sort();
      for (const { se } of entries) {
        if (reported.has(se)) continue;
        reported.add(se);
        report({
          code: 'IST0177',
          resource: se,
          path: ['metadata', 'name'],
          message: `Multiple ServiceEntries (${names.join(', ')}) define the same host "${host}" and port ${port} with conflicting protocols (${protocols.join(', ')}).`,
          fix: `Give port ${port} of ${host} one protocol in every ServiceEntry, or declare the host in one ServiceEntry.`,
        });
      }
    }
  },
};
