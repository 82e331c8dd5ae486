// The service table and a service's page: rates, errors, latency, sparklines and the traffic split.
import { sparkline } from './charts.js';
import { badge, fmtMs, fmtPct, fmtRps, h, table } from './dom.js';

const num = (text) => ({ text, attrs: { class: 'num' } });

export function renderServices(data) {
  const rows = data.services.map((svc) =>
    h(
      'tr',
      { 'data-service': `${svc.namespace}/${svc.name}` },
      h('td', null, h('span', { class: `dot ${svc.health}` }), h('a', { href: `#/services/${encodeURIComponent(svc.namespace)}/${encodeURIComponent(svc.name)}` }, svc.name)),
      h('td', null, svc.namespace),
      h('td', { class: 'num' }, `${svc.healthyEndpoints}/${svc.endpoints}`),
      h('td', { class: 'num' }, fmtRps(svc.stats.rps)),
      h('td', { class: `num ${svc.health}` }, fmtPct(svc.stats.errorRatio)),
      h('td', { class: 'num' }, fmtMs(svc.stats.p50)),
      h('td', { class: 'num' }, fmtMs(svc.stats.p95)),
      h('td', { class: 'num' }, fmtMs(svc.stats.p99)),
      h('td', { class: 'num' }, fmtPct(svc.stats.mtlsRatio)),
      ejectedCell(svc.outlier),
    ),
  );
  return h(
    'section',
    { class: 'card' },
    h('h2', null, 'Services', h('small', null, `rates over the last ${data.windowSeconds || '–'} s`)),
    rows.length ? table(['Service', 'Namespace', num('Ready'), num('Req/s'), num('5xx'), num('p50'), num('p95'), num('p99'), num('mTLS'), num('Ejected')], rows, { class: 'grid', id: 'services-table' }) : h('p', { class: 'empty' }, 'No services in the mesh config yet.'),
  );
}

/** Endpoints outlier detection holds ejected now (callers' proxies), and ejections over the window. */
function ejectedCell(o) {
  const active = o?.ejectionsActive ?? 0;
  return h('td', { class: `num ${active > 0 ? 'failing' : ''}`, title: `${o?.ejections ?? 0} ejection(s), ${o?.overflows ?? 0} kept in by max ejection % in the window` }, String(active));
}

function statCard(label, value, tone) {
  return h('div', { class: `stat ${tone ?? ''}` }, h('span', null, label), h('strong', null, value));
}

function splitTable(title, rows, name) {
  const total = rows.reduce((a, r) => a + r.stats.requests, 0) || 1;
  return h(
    'div',
    { class: 'card' },
    h('h3', null, title),
    rows.length
      ? table(
          [name, num('Share'), num('Req/s'), num('5xx'), num('p95')],
          rows.map((r) =>
            h(
              'tr',
              null,
              h('td', null, r.workload, r.version && r.version !== 'unknown' ? h('span', { class: 'tag' }, r.version) : null),
              h('td', { class: 'num share' }, h('meter', { min: 0, max: 1, value: r.stats.requests / total }), fmtPct(r.stats.requests / total)),
              h('td', { class: 'num' }, fmtRps(r.stats.rps)),
              h('td', { class: 'num' }, fmtPct(r.stats.errorRatio)),
              h('td', { class: 'num' }, fmtMs(r.stats.p95)),
            ),
          ),
          { class: 'grid' },
        )
      : h('p', { class: 'empty' }, 'No traffic in this window.'),
  );
}

export function renderService(d) {
  const st = d.stats;
  return h(
    'div',
    { class: 'stack', id: 'service-detail' },
    h(
      'section',
      { class: 'card' },
      h('p', { class: 'crumbs' }, h('a', { href: '#/services' }, 'Services'), ' / ', d.namespace),
      h('h2', null, h('span', { class: `dot ${d.health}` }), d.name, h('small', null, d.hostname), badge(d.health)),
      h(
        'div',
        { class: 'stats' },
        statCard('Requests/s', fmtRps(st.rps)),
        statCard('5xx', fmtPct(st.errorRatio), d.health),
        statCard('p50', fmtMs(st.p50)),
        statCard('p95', fmtMs(st.p95)),
        statCard('p99', fmtMs(st.p99), st.p99 !== null && st.p99 > 1000 ? 'failing' : ''),
        statCard('mTLS', fmtPct(st.mtlsRatio)),
        statCard('Ready endpoints', `${d.healthyEndpoints}/${d.endpoints}`),
        statCard('Ejected (outlier)', `${d.outlier.ejectionsActive}`, d.outlier.ejectionsActive > 0 ? 'failing' : ''),
        statCard('Ejections', `${d.outlier.ejections}`, d.outlier.ejections > 0 ? 'degraded' : ''),
        statCard('Kept in by the cap', `${d.outlier.overflows}`, d.outlier.overflows > 0 ? 'degraded' : ''),
      ),
      h(
        'div',
        { class: 'charts' },
        sparkline('Requests/s', d.history, 'rps', fmtRps),
        sparkline('5xx ratio', d.history, 'errorRatio', fmtPct, 'bad'),
        sparkline('p95 latency', d.history, 'p95', fmtMs, 'warm'),
      ),
    ),
    h('div', { class: 'columns' }, splitTable('By destination workload', d.byDestination, 'Workload'), splitTable('By source', d.bySource, 'Source workload')),
    h(
      'div',
      { class: 'columns' },
      h(
        'div',
        { class: 'card' },
        h('h3', null, 'Instances'),
        d.instances.length
          ? table(
              ['Instance', 'Workload', 'Address', 'Ready'],
              d.instances.map((i) => h('tr', null, h('td', null, i.name), h('td', null, i.workload), h('td', { class: 'mono' }, i.address), h('td', null, badge(i.healthy ? 'ready' : 'not ready', i.healthy ? 'healthy' : 'idle')))),
              { class: 'grid' },
            )
          : h('p', { class: 'empty' }, 'No workload selected by this service.'),
      ),
      h(
        'div',
        { class: 'card' },
        h('h3', null, 'Configuration'),
        h('dl', { class: 'config' }, h('dt', null, 'Ports'), h('dd', null, d.ports.map((p) => `${p.name || p.protocol} ${p.port}`).join(', ') || '–'), h('dt', null, 'VirtualServices'), h('dd', null, d.virtualServices.join(', ') || '–'), h('dt', null, 'DestinationRules'), h('dd', null, d.destinationRules.join(', ') || '–')),
      ),
    ),
  );
}
