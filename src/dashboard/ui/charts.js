// SVG sparklines for a service's history: one value per scrape interval, an area under the line,
// the latest value beside the title, and gaps where a value is missing.
import { h, s } from './dom.js';

const W = 300;
const H = 64;

export function sparkline(title, points, key, format, tone) {
  const values = points.map((p) => p[key]);
  const finite = values.filter((v) => v !== null && v !== undefined);
  const max = Math.max(...finite, 0) || 1;
  const n = Math.max(values.length - 1, 1);
  const x = (i) => (values.length === 1 ? W : (i / n) * W);
  const y = (v) => H - 4 - (v / max) * (H - 10);
  const segments = [];
  let cur = [];
  values.forEach((v, i) => {
    if (v === null || v === undefined) {
      if (cur.length) segments.push(cur);
      cur = [];
    } else cur.push([x(i), y(v)]);
  });
  if (cur.length) segments.push(cur);
  const paths = segments.flatMap((seg) => {
    const line = seg.map(([px, py], i) => `${i ? 'L' : 'M'}${px.toFixed(1)},${py.toFixed(1)}`).join(' ');
    const first = seg[0];
    const last = seg.at(-1);
    const area = `${line} L${last[0].toFixed(1)},${H} L${first[0].toFixed(1)},${H} Z`;
    return [s('path', { d: area, class: 'spark-area' }), s('path', { d: line, class: 'spark-line' }), seg.length === 1 ? s('circle', { cx: first[0], cy: first[1], r: 2.5, class: 'spark-dot' }) : null];
  });
  const latest = finite.length ? finite.at(-1) : null;
  return h(
    'figure',
    { class: `chart ${tone ?? ''}`, 'data-chart': key },
    h('figcaption', null, h('span', null, title), h('strong', null, format(latest))),
    s(
      'svg',
      { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: 'none', class: 'spark', role: 'img', 'aria-label': `${title} over time` },
      s('line', { x1: 0, x2: W, y1: H - 0.5, y2: H - 0.5, class: 'spark-axis' }),
      paths,
    ),
    h('div', { class: 'chart-foot' }, finite.length ? `max ${format(Math.max(...finite))}` : 'no data yet', h('span', null, `${values.length} points`)),
  );
}
