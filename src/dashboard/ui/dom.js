// Tiny DOM helpers for the dashboard UI: element builders for HTML and SVG, and number formatting.

const SVG_NS = 'http://www.w3.org/2000/svg';

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

function setAttrs(el, attrs) {
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
}

/** An HTML element: h('td', { class: 'num' }, '12.0'). */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

/** An SVG element. */
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

export function fmtRps(v) {
  if (v === null || v === undefined) return '–';
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
}

export function fmtPct(v) {
  if (v === null || v === undefined) return '–';
  const p = v * 100;
  return `${p === 0 ? '0' : p < 0.1 ? '<0.1' : p < 10 ? p.toFixed(1) : p.toFixed(0)}%`;
}

export function fmtMs(v) {
  if (v === null || v === undefined) return '–';
  if (v >= 1000) return `${(v / 1000).toFixed(v >= 10_000 ? 0 : 1)} s`;
  return `${v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)} ms`;
}

export function fmtDuration(seconds) {
  const abs = Math.abs(seconds);
  const sign = seconds < 0 ? '-' : '';
  if (abs >= 86_400 * 365) return `${sign}${(abs / (86_400 * 365)).toFixed(1)} y`;
  if (abs >= 86_400) return `${sign}${Math.floor(abs / 86_400)} d ${Math.floor((abs % 86_400) / 3600)} h`;
  if (abs >= 3600) return `${sign}${Math.floor(abs / 3600)} h ${Math.floor((abs % 3600) / 60)} m`;
  if (abs >= 60) return `${sign}${Math.floor(abs / 60)} m ${Math.floor(abs % 60)} s`;
  return `${sign}${Math.floor(abs)} s`;
}

export function fmtBytes(v) {
  if (v >= 1 << 20) return `${(v / (1 << 20)).toFixed(1)} MiB`;
  if (v >= 1024) return `${(v / 1024).toFixed(1)} KiB`;
  return `${v} B`;
}

/** A status pill: healthy/degraded/failing/idle, SYNCED/STALE/NACKED, valid/expiring/expired. */
export function badge(text, tone) {
  return h('span', { class: `badge ${tone ?? text.toLowerCase().replace(/\s+/g, '-')}` }, text);
}

/** A stable hue per name, for trace services. */
export function hue(name) {
  let x = 0;
  for (let i = 0; i < name.length; i++) x = (x * 31 + name.charCodeAt(i)) >>> 0;
  return x % 360;
}

export function table(headers, rows, attrs) {
  return h('table', attrs, h('thead', null, h('tr', null, headers.map((c) => h('th', typeof c === 'string' ? null : c.attrs, typeof c === 'string' ? c : c.text)))), h('tbody', null, rows));
}
