// The dashboard's single page: a hash router over the views, fetching the JSON API and refreshing
// the current view every few seconds without losing the reader's place.
import { h } from './dom.js';
import { graphLegend, renderGraph } from './graph.js';
import { renderCertificates, renderProxies } from './mesh.js';
import { renderService, renderServices } from './services.js';
import { renderTraces, renderWaterfall } from './traces.js';

const REFRESH_MS = 5000;
const main = document.getElementById('main');
const status = document.getElementById('status');
const windowSelect = document.getElementById('window');
const autoRefresh = document.getElementById('auto-refresh');
let timer;
let generation = 0;

async function api(path) {
  const sep = path.includes('?') ? '&' : '?';
  const res = await fetch(`/api/${path}${sep}window=${windowSelect.value}`, { headers: { accept: 'application/json' } });
  const body = await res.json();
  if (!res.ok) throw new Error(body.error ?? `HTTP ${res.status}`);
  return body;
}

function navigate(hash) {
  location.hash = hash;
}

const routes = [
  [
    /^\/graph$/,
    async () => {
      const g = await api('graph');
      const traffic = g.edges.filter((e) => e.health !== 'idle').length;
      return h(
        'section',
        { class: 'card graph-card' },
        h('h2', null, 'Service graph', h('small', null, g.at ? `${traffic} active edges · rates over ${g.windowSeconds} s` : 'waiting for the second metrics scrape')),
        h('div', { class: 'graph-wrap' }, renderGraph(g, (n) => n.kind === 'service' && navigate(`#/services/${encodeURIComponent(n.namespace)}/${encodeURIComponent(n.name)}`))),
        graphLegend(),
      );
    },
  ],
  [/^\/services$/, async () => renderServices(await api('services'))],
  [/^\/services\/([^/]+)\/([^/]+)$/, async (ns, name) => renderService(await api(`services/${ns}/${name}`))],
  [
    /^\/traces$/,
    async (_a, _b, query) => {
      const service = query.get('service') ?? '';
      return renderTraces(await api(`traces?limit=50${service ? `&service=${encodeURIComponent(service)}` : ''}`), service, (v) => navigate(v ? `#/traces?service=${encodeURIComponent(v)}` : '#/traces'));
    },
  ],
  [/^\/traces\/([0-9a-f]+)$/, async (id) => renderWaterfall(await api(`traces/${id}`))],
  [/^\/proxies$/, async () => renderProxies(await api('proxies'))],
  [/^\/certificates$/, async () => renderCertificates(await api('certificates'))],
];

async function render() {
  const mine = ++generation;
  const raw = location.hash.replace(/^#/, '') || '/graph';
  const [path, qs = ''] = raw.split('?');
  const section = path.split('/')[1];
  for (const a of document.querySelectorAll('nav a')) a.classList.toggle('active', a.dataset.section === section);
  const route = routes.find(([re]) => re.test(path));
  if (!route) return navigate('#/graph');
  const args = path.match(route[0]).slice(1).map(decodeURIComponent);
  try {
    const view = await route[1](...args, ...Array(2 - Math.min(args.length, 2)).fill(undefined), new URLSearchParams(qs));
    if (mine !== generation) return;
    const scroll = window.scrollY;
    main.replaceChildren(view);
    window.scrollTo(0, scroll);
    status.textContent = `updated ${new Date().toLocaleTimeString()}`;
    status.className = 'status ok';
  } catch (err) {
    if (mine !== generation) return;
    status.textContent = `error: ${err.message}`;
    status.className = 'status error';
  }
}

function schedule() {
  clearTimeout(timer);
  if (autoRefresh.checked) timer = setTimeout(() => render().finally(schedule), REFRESH_MS);
}

window.addEventListener('hashchange', () => render().finally(schedule));
windowSelect.addEventListener('change', () => render());
autoRefresh.addEventListener('change', schedule);
render().finally(schedule);
