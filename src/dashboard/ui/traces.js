// The trace list and one trace's waterfall: spans on a shared time axis, indented by call depth.
import { badge, fmtMs, h, hue, s, table } from './dom.js';

const num = (text) => ({ text, attrs: { class: 'num' } });

export function renderTraces(data, service, onService) {
  if (!data.enabled) return h('section', { class: 'card' }, h('h2', null, 'Traces'), h('p', { class: 'empty' }, 'No trace collector is attached to this dashboard.'));
  const services = [...new Set(data.traces.flatMap((t) => t.services))].sort();
  if (service && !services.includes(service)) services.push(service);
  const select = h('select', { 'aria-label': 'service', onchange: (ev) => onService(ev.target.value) }, h('option', { value: '' }, 'all services'), services.map((name) => h('option', { value: name, selected: name === service }, name)));
  const longest = Math.max(1, ...data.traces.map((t) => t.durationMs));
  const rows = data.traces.map((t) =>
    h(
      'tr',
      { 'data-trace': t.traceId },
      h('td', { class: 'mono' }, new Date(t.start).toLocaleTimeString()),
      h('td', null, h('a', { href: `#/traces/${t.traceId}` }, t.root || t.traceId), t.error ? badge('error', 'failing') : null),
      h('td', null, t.services.join(', ')),
      h('td', { class: 'num' }, t.spans),
      h('td', { class: 'num share' }, h('meter', { min: 0, max: longest, value: t.durationMs }), fmtMs(t.durationMs)),
    ),
  );
  return h(
    'section',
    { class: 'card' },
    h('h2', null, 'Traces', h('small', null, 'most recent first'), h('span', { class: 'spacer' }), select),
    rows.length ? table(['Time', 'Root span', 'Services', num('Spans'), num('Duration')], rows, { class: 'grid', id: 'traces-table' }) : h('p', { class: 'empty' }, 'No traces yet. Send a request through the mesh.'),
  );
}

function clip(text, n) {
  if (n <= 1) return '';
  return text.length <= n ? text : `${text.slice(0, n - 1)}…`;
}

export function renderWaterfall(t) {
  const labelW = 420;
  const barW = 620;
  const rowH = 26;
  const total = t.durationMs || 1;
  const x = (ms) => labelW + (ms / total) * barW;
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => s('g', { class: 'tick' }, s('line', { x1: x(f * total), x2: x(f * total), y1: 18, y2: 24 + t.spans.length * rowH }), s('text', { x: x(f * total), y: 12, 'text-anchor': 'middle' }, fmtMs(f * total))));
  const rows = t.spans.map((sp, i) => {
    const y = 24 + i * rowH;
    const w = Math.max(2, (sp.durationMs / total) * barW);
    // Keep the label left of the time axis: about 6.8 px per character at 12 px.
    const budget = Math.floor((labelW - 20 - sp.depth * 14) / 6.8);
    const service = clip(sp.service, budget);
    const name = clip(sp.name, budget - service.length - 1);
    const attrs = Object.entries(sp.attributes)
      .map(([k, v]) => `${k}=${v}`)
      .join('\n');
    return s(
      'g',
      { class: `span-row ${sp.error ? 'error' : ''}`, 'data-span': sp.spanId },
      s('title', null, `${sp.service} ${sp.kind}: ${sp.name}\n${fmtMs(sp.durationMs)} at +${fmtMs(sp.offsetMs)}\n${attrs}`),
      s('rect', { x: 0, y, width: labelW + barW + 90, height: rowH, class: 'row-bg' }),
      s('text', { x: 8 + sp.depth * 14, y: y + 17, class: 'span-label' }, s('tspan', { class: 'span-service', fill: `hsl(${hue(sp.service)} 55% 38%)` }, service), ` ${name}`),
      s('rect', { x: x(sp.offsetMs), y: y + 6, width: w, height: rowH - 12, rx: 3, fill: sp.error ? undefined : `hsl(${hue(sp.service)} 60% 55%)`, class: 'span-bar' }),
      s('text', { x: x(sp.offsetMs) + w + 6, y: y + 17, class: 'span-time' }, fmtMs(sp.durationMs)),
    );
  });
  return h(
    'section',
    { class: 'card', id: 'waterfall' },
    h('p', { class: 'crumbs' }, h('a', { href: '#/traces' }, 'Traces'), ' / ', h('span', { class: 'mono' }, t.traceId)),
    h('h2', null, t.spans[0] ? `${t.spans[0].service}: ${t.spans[0].name}` : t.traceId, h('small', null, `${t.spans.length} spans · ${fmtMs(t.durationMs)} · ${new Date(t.start).toLocaleString()}`)),
    s('svg', { class: 'waterfall', viewBox: `0 0 ${labelW + barW + 90} ${30 + t.spans.length * rowH}`, width: labelW + barW + 90, height: 30 + t.spans.length * rowH }, ticks, rows),
  );
}
