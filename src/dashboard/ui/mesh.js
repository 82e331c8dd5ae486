// The proxy sync table (per xDS type, as proxy-status shows it), scrape targets and certificates.
import { badge, fmtBytes, fmtDuration, h, table } from './dom.js';

const TYPES = ['CDS', 'LDS', 'EDS', 'RDS', 'SDS'];

export function renderProxies(data) {
  const rows = data.proxies.flatMap((p) => {
    const nacks = TYPES.map((t) => [t, p.types[t]?.lastNack]).filter(([, n]) => n);
    return [
      h(
        'tr',
        { 'data-proxy': p.name },
        h('td', null, h('strong', null, p.name), h('div', { class: 'sub mono' }, p.proxy)),
        h('td', null, p.workload),
        h('td', null, badge(p.status)),
        TYPES.map((t) => {
          const ts = p.types[t];
          return h('td', { title: ts ? `sent ${ts.sentVersion ?? '–'}\nacked ${ts.ackedVersion ?? '–'}\n${ts.resources} resources` : '' }, ts ? badge(ts.status) : '–');
        }),
        h('td', { class: 'num' }, fmtBytes(p.configBytes)),
        h('td', null, new Date(p.connectedAt).toLocaleTimeString()),
      ),
      nacks.length ? h('tr', { class: 'nack-row' }, h('td', { colspan: 10 }, nacks.map(([t, n]) => h('div', null, badge('NACK', 'failing'), ` ${t} ${n.version}: ${n.message}`)))) : null,
    ];
  });
  const targets = data.scrapeTargets.map((t) =>
    h('tr', null, h('td', null, t.name), h('td', { class: 'mono' }, t.url), h('td', null, badge(t.up ? 'up' : 'down', t.up ? 'healthy' : 'failing')), h('td', { class: 'num' }, `${t.durationMs} ms`), h('td', { class: 'num' }, t.edges), h('td', null, t.error ?? '')),
  );
  return h(
    'div',
    { class: 'stack' },
    h(
      'section',
      { class: 'card' },
      h('h2', null, 'Proxies', h('small', null, 'xDS sync state per resource type')),
      rows.length ? table(['Proxy', 'Workload', 'Status', ...TYPES, { text: 'Config', attrs: { class: 'num' } }, 'Connected'], rows, { class: 'grid', id: 'proxies-table' }) : h('p', { class: 'empty' }, 'No proxy is connected to the control plane.'),
    ),
    h('section', { class: 'card' }, h('h2', null, 'Metrics scrape', h('small', null, '/stats/prometheus of each proxy')), targets.length ? table(['Target', 'URL', 'State', { text: 'Took', attrs: { class: 'num' } }, { text: 'Edges', attrs: { class: 'num' } }, 'Error'], targets, { class: 'grid' }) : h('p', { class: 'empty' }, 'No scrape targets.')),
  );
}

export function renderCertificates(data) {
  if (!data.trustDomain) return h('section', { class: 'card' }, h('h2', null, 'Certificates'), h('p', { class: 'empty' }, 'No certificate authority is attached to this dashboard.'));
  const rows = data.certificates.map((c) =>
    h(
      'tr',
      { 'data-cert': c.name },
      h('td', null, h('span', { class: 'tag' }, c.kind)),
      h('td', { class: 'mono' }, c.name, c.fingerprint ? h('div', { class: 'sub' }, `sha256 ${c.fingerprint.slice(0, 32)}…`) : null),
      h('td', null, new Date(c.notAfter).toLocaleString()),
      h('td', { class: 'num' }, fmtDuration(c.secondsLeft)),
      h('td', null, badge(c.status)),
    ),
  );
  return h('section', { class: 'card' }, h('h2', null, 'Certificates', h('small', null, `trust domain ${data.trustDomain}`)), table(['Kind', 'Subject / SPIFFE ID', 'Expires', { text: 'Left', attrs: { class: 'num' } }, 'Status'], rows, { class: 'grid', id: 'certs-table' }));
}
