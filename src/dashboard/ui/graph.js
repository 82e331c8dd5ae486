// The service graph in SVG: a layered left-to-right layout (callers left of callees), nodes shaped
// by kind, edges weighted by request rate and coloured by health, labelled with rps and error %.
import { fmtPct, fmtRps, h, s } from './dom.js';

const COL = 250;
const ROW = 110;
const PAD_X = 90;
const PAD_Y = 56;

/** Rank = longest path from a node without callers; bounded so a cycle cannot loop forever. */
function ranks(nodes, edges) {
  const rank = new Map(nodes.map((n) => [n.id, 0]));
  for (let pass = 0; pass < nodes.length; pass++) {
    let changed = false;
    for (const e of edges) {
      const want = (rank.get(e.source) ?? 0) + 1;
      if (want > (rank.get(e.target) ?? 0) && want < nodes.length) {
        rank.set(e.target, want);
        changed = true;
      }
    }
    if (!changed) break;
  }
  return rank;
}

export function layout(nodes, edges) {
  const live = edges.filter((e) => e.source !== e.target);
  const rank = ranks(nodes, live);
  const byRank = [];
  for (const n of nodes) {
    const r = rank.get(n.id) ?? 0;
    byRank[r] ??= [];
    byRank[r].push(n);
  }
  // A cycle (a workload calling a service that routes back to it) can leave ranks no node holds: the
  // columns close up over them, so that none is empty.
  const columns = byRank.filter((col) => col !== undefined);
  const pos = new Map();
  const preds = new Map();
  for (const e of live) {
    if (!preds.has(e.target)) preds.set(e.target, []);
    preds.get(e.target).push(e.source);
  }
  // Order each column by the mean position of its callers (two sweeps are plenty for small meshes).
  for (let sweep = 0; sweep < 2; sweep++) {
    columns.forEach((col, r) => {
      const key = (n) => {
        const ps = (preds.get(n.id) ?? []).map((p) => pos.get(p)?.i).filter((i) => i !== undefined);
        return ps.length ? ps.reduce((a, b) => a + b, 0) / ps.length : Number.POSITIVE_INFINITY;
      };
      if (r > 0 || sweep > 0) col.sort((a, b) => key(a) - key(b) || a.id.localeCompare(b.id));
      else col.sort((a, b) => a.id.localeCompare(b.id));
      col.forEach((n, i) => {
        pos.set(n.id, { i, r });
      });
    });
  }
  const tallest = Math.max(1, ...columns.map((c) => c.length));
  for (const col of columns) {
    const offset = ((tallest - col.length) * ROW) / 2;
    col.forEach((n, i) => {
      const p = pos.get(n.id);
      p.x = PAD_X + p.r * COL;
      p.y = PAD_Y + offset + i * ROW;
    });
  }
  return { pos, width: PAD_X * 2 + Math.max(0, columns.length - 1) * COL, height: PAD_Y * 2 + (tallest - 1) * ROW };
}

function nodeShape(n) {
  const cls = `shape ${n.health}`;
  if (n.kind === 'service') return s('polygon', { class: cls, points: '0,-22 21,14 -21,14' });
  if (n.kind === 'unknown') return s('circle', { class: `${cls} unknown`, r: 18 });
  return s('circle', { class: cls, r: 18 });
}

function edgeLabel(e) {
  if (e.protocol === 'tcp' && e.stats.requests === 0) return e.stats.tcpConnectionsPerSecond > 0 ? `${fmtRps(e.stats.tcpConnectionsPerSecond)} cps` : '';
  if (e.health === 'idle') return '';
  const err = e.stats.errorRatio ? ` · ${fmtPct(e.stats.errorRatio)}` : '';
  return `${fmtRps(e.stats.rps)} rps${err}`;
}

export function renderGraph(graph, onSelect) {
  const nodes = graph.nodes;
  const { pos, width, height } = layout(nodes, graph.edges);
  const maxRps = Math.max(1, ...graph.edges.map((e) => e.stats.rps));
  const defs = s(
    'defs',
    null,
    ['healthy', 'degraded', 'failing', 'idle'].map((t) => s('marker', { id: `arrow-${t}`, viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 13, markerHeight: 13, markerUnits: 'userSpaceOnUse', orient: 'auto-start-reverse' }, s('path', { d: 'M0,0 L10,5 L0,10 z', class: `arrow ${t}` }))),
  );
  const edgeEls = graph.edges
    .filter((e) => pos.has(e.source) && pos.has(e.target) && e.source !== e.target)
    .map((e) => {
      const a = pos.get(e.source);
      const b = pos.get(e.target);
      const x1 = a.x + 24;
      const x2 = b.x - 26;
      const mid = (x1 + x2) / 2;
      const d = `M${x1},${a.y} C${mid},${a.y} ${mid},${b.y} ${x2},${b.y}`;
      const w = e.health === 'idle' ? 1.2 : 1.5 + 4 * Math.sqrt(e.stats.rps / maxRps);
      const label = edgeLabel(e);
      // Labels sit past the middle of the curve, so the edges fanning out of one node keep theirs apart.
      const t = 0.62;
      const u = 1 - t;
      const lx = u ** 3 * x1 + 3 * u * u * t * mid + 3 * u * t * t * mid + t ** 3 * x2;
      const ly = u ** 3 * a.y + 3 * u * u * t * a.y + 3 * u * t * t * b.y + t ** 3 * b.y;
      const title = `${e.source} → ${e.target}\n${fmtRps(e.stats.rps)} req/s, ${fmtPct(e.stats.errorRatio)} 5xx, mTLS ${fmtPct(e.stats.mtlsRatio)}`;
      return s(
        'g',
        { class: `edge ${e.health}`, 'data-edge-id': e.id, 'data-rps': e.stats.rps },
        s('title', null, title),
        s('path', { d, 'stroke-width': w.toFixed(2), 'marker-end': `url(#arrow-${e.health})` }),
        label ? s('text', { x: lx, y: ly - 7, 'text-anchor': 'middle', class: 'edge-label' }, label) : null,
        e.stats.mtlsRatio === 1 ? s('text', { x: lx, y: ly + 14, 'text-anchor': 'middle', class: 'edge-mtls' }, 'mTLS') : null,
      );
    });
  const nodeEls = nodes.map((n) => {
    const p = pos.get(n.id);
    const sub = n.kind === 'unknown' ? 'outside the mesh' : [n.namespace, n.version].filter(Boolean).join(' · ');
    return s(
      'g',
      {
        class: `node ${n.kind} ${n.health}`,
        transform: `translate(${p.x},${p.y})`,
        'data-node-id': n.id,
        tabindex: 0,
        onclick: () => onSelect?.(n),
        onkeydown: (ev) => ev.key === 'Enter' && onSelect?.(n),
      },
      s('title', null, `${n.kind} ${n.namespace}/${n.name}\n${fmtRps(n.stats.rps)} req/s in, ${fmtPct(n.stats.errorRatio)} 5xx`),
      nodeShape(n),
      n.sidecar ? s('circle', { class: 'sidecar', cx: 15, cy: -15, r: 5 }) : null,
      s('text', { y: 36, 'text-anchor': 'middle', class: 'node-name' }, n.name),
      s('text', { y: 50, 'text-anchor': 'middle', class: 'node-sub' }, sub),
    );
  });
  return s('svg', { id: 'graph', viewBox: `0 0 ${Math.max(width, 400)} ${Math.max(height, 200)}`, width: Math.max(width, 400), height: Math.max(height, 200), role: 'img', 'aria-label': 'service graph' }, defs, s('g', { class: 'edges' }, edgeEls), s('g', { class: 'nodes' }, nodeEls));
}

export function graphLegend() {
  const item = (shape, text) => h('span', { class: 'legend-item' }, shape, text);
  const svg = (child) => s('svg', { width: 22, height: 22, viewBox: '-11 -11 22 22' }, child);
  return h(
    'div',
    { class: 'legend' },
    item(svg(s('circle', { r: 8, class: 'shape healthy' })), 'workload'),
    item(svg(s('polygon', { points: '0,-9 9,6 -9,6', class: 'shape healthy' })), 'service'),
    item(svg(s('circle', { r: 8, class: 'shape idle unknown' })), 'outside the mesh'),
    item(svg(s('circle', { r: 4, class: 'sidecar' })), 'sidecar connected'),
    h('span', { class: 'legend-item' }, h('i', { class: 'swatch healthy' }), 'healthy'),
    h('span', { class: 'legend-item' }, h('i', { class: 'swatch degraded' }), '5xx ≥ 1%'),
    h('span', { class: 'legend-item' }, h('i', { class: 'swatch failing' }), '5xx ≥ 5%'),
    h('span', { class: 'legend-item' }, h('i', { class: 'swatch idle' }), 'no traffic'),
  );
}
