// The human form of an explain trace: one indented block per stage, in the order the request meets them.
import type { ExplainTrace, HopTrace, RouteTrace } from './trace.ts';

function ms(v: number): string {
  return v === 0 ? 'none' : v % 1000 === 0 ? `${v / 1000}s` : `${v}ms`;
}

function routeLines(r: RouteTrace, out: string[]): void {
  out.push(`    route configuration ${r.routeConfiguration}`);
  if (!r.virtualHost) {
    out.push('    virtual host: none matches the authority');
    return;
  }
  out.push(`    virtual host ${r.virtualHost}`);
  for (const s of r.skipped) out.push(`      route ${s.route}: skipped, ${s.failed}`);
  if (!r.route) {
    out.push('      no route matched');
    return;
  }
  out.push(`      route ${r.route}: MATCHED (${r.kind})`);
  if (r.clusters.length > 1) {
    for (const c of r.clusters) out.push(`        ${c.name === r.cluster ? '*' : ' '} ${c.name}  weight ${c.weight} (${c.probability}%)`);
  } else if (r.cluster) out.push(`        cluster ${r.cluster}`);
  if (r.clusters.length > 1 && r.cluster) out.push(`        picked ${r.cluster} (probability ${r.clusters.find((c) => c.name === r.cluster)?.probability ?? 0}%)`);
  if (r.upstreamPath !== undefined && r.upstreamPath !== r.downstreamPath) out.push(`        rewrite path ${r.downstreamPath} → ${r.upstreamPath}`);
  if (r.upstreamAuthority !== undefined && r.upstreamAuthority !== r.downstreamAuthority) out.push(`        rewrite authority ${r.downstreamAuthority} → ${r.upstreamAuthority}`);
  if (r.timeoutMs !== undefined) out.push(`        timeout ${ms(r.timeoutMs)}`);
  if (r.retries) out.push(`        retries ${r.retries.attempts} × per try ${ms(r.retries.perTryTimeoutMs)} on ${r.retries.retryOn || '(default)'}`);
  if (r.fault?.delay) out.push(`        fault delay ${ms(r.fault.delay.ms)} for ${r.fault.delay.percent}% of requests${r.fault.delay.applied ? ' (applied to this one)' : ''}`);
  if (r.fault?.abort) out.push(`        fault abort ${r.fault.abort.status} for ${r.fault.abort.percent}% of requests${r.fault.abort.applied ? ' (applied to this one)' : ''}`);
}

function hopLines(title: string, h: HopTrace, out: string[]): void {
  out.push(`${title}: ${h.proxy.name} (${h.proxy.role}, ${h.proxy.principal})`);
  out.push(`  listener ${h.listener} → filter chain ${h.filterChain}`);
  out.push(`    matched on ${h.chainMatch}${h.serverTransport ? `; chain accepts ${h.serverTransport} only` : ''}`);
  if (h.pathNormalization !== '-') out.push(`    path normalisation ${h.pathNormalization}: ${h.normalizedPath}`);
  if (h.authorization) {
    out.push(`    authorization: ${h.authorization.decision.toUpperCase()} (${h.authorization.decidedBy})`);
    for (const s of h.authorization.steps) out.push(`      ${s.filter}: ${s.result}: ${s.detail}`);
  }
  if (h.route) routeLines(h.route, out);
}

export function formatExplainText(t: ExplainTrace): string {
  const out: string[] = [];
  const r = t.request;
  out.push(`request: ${r.method} ${r.scheme}://${r.host}:${r.port}${r.target}${r.headers.map(([k, v]) => `\n  ${k}: ${v}`).join('')}`);
  hopLines('source', t.source, out);
  if (t.endpoints.length) {
    out.push('  endpoints');
    for (const e of t.endpoints) {
      const mark = e === t.endpoint ? '*' : ' ';
      out.push(`    ${mark} ${e.address}${e.workload ? ` ${e.workload}` : ''}${e.targetPort ? ` target port ${e.targetPort}` : ''}${e.tlsMode ? ` tlsMode=${e.tlsMode}` : ''}${e.healthy ? '' : ' UNHEALTHY'}`);
    }
  }
  if (t.mtls) {
    const m = t.mtls;
    out.push(`mTLS on the hop: client ${m.client} → uses ${m.clientUses}; server ${m.server ?? 'n/a'}${m.serverDecidedBy ? ` (${m.serverDecidedBy})` : ''}: ${m.conflict ? 'CONFLICT' : 'ok'}`);
    if (m.serverNames) out.push(`  secure naming: the server must present one of ${m.serverNames.join(', ')}`);
  }
  if (t.destination) hopLines('destination', t.destination, out);
  for (const n of t.notes) out.push(`note: ${n}`);
  const o = t.outcome;
  out.push(`outcome: ${o.status === undefined ? "the original destination's answer" : `${o.status}${o.flag !== '-' ? ` ${o.flag}` : ''}`}: ${o.detail}`);
  const u = o.ifUnanswered;
  if (u) out.push(`  if nothing answers there: ${u.status === undefined ? u.flag : `${u.status} ${u.flag}`}: ${u.detail}`);
  return `${out.join('\n')}\n`;
}
