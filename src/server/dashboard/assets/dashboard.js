/* global document, window, localStorage */
// The operator dashboard: polls GET /dashboard/api/snapshot every few seconds and draws it with
// plain DOM and hand-drawn SVG. Every value from the gateway goes in through textContent or an
// SVG attribute, never as markup. With API keys configured, the admin key is asked for once and
// kept in this browser's localStorage.

const SNAPSHOT_URL = '/dashboard/api/snapshot';
const POLL_MS = 3000;
const KEY_STORAGE = 'l04.dashboard.key';
const SVG_NS = 'http://www.w3.org/2000/svg';
const CHART = { width: 640, height: 180, left: 58, right: 10, top: 12, bottom: 24 };
const CACHE_PARTS = ['exact', 'semantic', 'miss', 'bypass'];

const byId = (id) => document.getElementById(id);
let timer;

function storedKey() {
  try {
    return localStorage.getItem(KEY_STORAGE) ?? '';
  } catch {
    return '';
  }
}

function storeKey(key) {
  try {
    if (key === '') localStorage.removeItem(KEY_STORAGE);
    else localStorage.setItem(KEY_STORAGE, key);
  } catch {
    // storage disabled: the key lives until the page is closed
  }
  memoryKey = key;
}

let memoryKey = storedKey();

async function poll() {
  window.clearTimeout(timer);
  if (document.visibilityState === 'hidden') {
    timer = window.setTimeout(poll, POLL_MS);
    return;
  }
  try {
    const headers = { accept: 'application/json' };
    if (memoryKey !== '') headers.authorization = `Bearer ${memoryKey}`;
    const response = await fetch(SNAPSHOT_URL, { headers, cache: 'no-store' });
    if (response.status === 401) {
      askForKey(memoryKey === '' ? 'This gateway needs an admin API key.' : 'That key was not accepted. Enter an admin API key.');
      return;
    }
    const body = await response.json();
    if (!response.ok) {
      deny(`${body?.error?.code ?? response.status}: ${body?.error?.message ?? 'the dashboard is not available'}`);
      if (response.status === 403 && memoryKey !== '') askForKey('That key is not an admin key.');
      return;
    }
    render(body);
  } catch (error) {
    byId('status').textContent = `gateway unreachable (${error instanceof Error ? error.message : String(error)}); retrying`;
    byId('status').className = 'stale';
  }
  timer = window.setTimeout(poll, POLL_MS);
}

function askForKey(reason) {
  byId('dashboard').hidden = true;
  byId('key-reason').textContent = reason;
  byId('key-form').hidden = false;
  byId('status').textContent = 'locked';
  byId('key-input').focus();
}

function deny(message) {
  byId('denied').textContent = message;
  byId('denied').hidden = false;
  byId('status').textContent = 'denied';
}

function render(snapshot) {
  byId('key-form').hidden = true;
  byId('denied').hidden = true;
  byId('dashboard').hidden = false;
  byId('forget-key').hidden = memoryKey === '';
  const time = new Date(snapshot.generated_at).toLocaleTimeString();
  byId('status').textContent =
    `live · updated ${time} · state ${snapshot.state_backend} · ledger ${snapshot.ledger.backend}${snapshot.ledger.healthy ? '' : ' (degraded)'}`;
  byId('status').className = 'live';
  renderFigures(snapshot);
  renderProviders(snapshot.providers);
  renderCharts(snapshot.activity);
  renderCache(snapshot.activity.cache);
  renderRefusals(snapshot.activity.refusals, snapshot.queue_depth);
  renderUsage(snapshot.usage);
  renderErrors(snapshot.activity.recent_errors, snapshot.activity.errors_by_code);
}

function renderFigures(snapshot) {
  const { totals, cache, refusals } = snapshot.activity;
  const latency = totals.latency_ms;
  byId('fig-rate').textContent = number(totals.requests_per_s, 2);
  byId('fig-requests').textContent = String(totals.requests);
  byId('fig-errors').textContent = percent(totals.error_rate);
  byId('fig-latency').textContent = [latency.p50, latency.p95, latency.p99].map((value) => (value === null ? '–' : ms(value))).join(' / ');
  byId('fig-hit-rate').textContent = cache.hit_rate === null ? '–' : percent(cache.hit_rate);
  byId('fig-refusals').textContent = String(refusals.total);
  byId('fig-queue').textContent = String(snapshot.queue_depth);
  byId('fig-spend').textContent = 'error' in snapshot.usage ? '–' : cents(snapshot.usage.cost_cents);
}

function renderProviders(providers) {
  const body = byId('providers').tBodies[0];
  body.replaceChildren(
    ...providers.map((row) => {
      const tr = document.createElement('tr');
      tr.dataset.provider = row.provider;
      const circuit = row.circuit_state ?? 'closed';
      const latency = row.latency_ewma_ms ?? row.latency_ms;
      tr.append(
        cell(row.provider),
        badge(row.status, `health-${row.status}`),
        badge(circuit.replace('_', '-'), `circuit-${circuit.replace('_', '-')}`),
        cell(latency === undefined ? '–' : ms(latency), 'num'),
        cell(row.window_outcomes === 0 ? '–' : percent(row.error_rate), 'num'),
        cell(`${row.queue.waiting} / ${row.queue.in_flight}`, 'num'),
        cell(row.message ?? ''),
      );
      return tr;
    }),
  );
}

function renderCharts(activity) {
  const buckets = activity.buckets;
  const minutes = activity.window_ms / 60000;
  lineChart(byId('chart-rate'), [{ name: 'rate', values: buckets.map((b) => b.requests / (b.duration_ms / 1000)) }], { minutes, format: (v) => number(v, 1) });
  lineChart(
    byId('chart-latency'),
    ['p50', 'p95', 'p99'].map((name) => ({ name, values: buckets.map((b) => b[name]) })),
    { minutes, format: (v) => ms(v) },
  );
  lineChart(byId('chart-errors'), [{ name: 'errors', values: buckets.map((b) => (b.requests === 0 ? null : (100 * b.errors) / b.requests)) }], {
    minutes,
    format: (v) => `${number(v, 0)} %`,
    max: 100,
  });
}

/** Draws series of values (null = no data) over the window, oldest left; a gap where there is no data. */
function lineChart(svg, series, { minutes, format, max }) {
  const { width, height, left, right, top, bottom } = CHART;
  const plotWidth = width - left - right;
  const plotHeight = height - top - bottom;
  const all = series.flatMap((item) => item.values).filter((value) => value !== null);
  const peak = max ?? niceCeiling(Math.max(0, ...all));
  const count = series[0]?.values.length ?? 0;
  const x = (index) => left + (count <= 1 ? plotWidth : (index / (count - 1)) * plotWidth);
  const y = (value) => top + plotHeight - (peak === 0 ? 0 : (Math.min(value, peak) / peak) * plotHeight);
  const nodes = [];
  for (const fraction of [0, 0.5, 1]) {
    const level = top + plotHeight - fraction * plotHeight;
    nodes.push(svgNode('line', { x1: left, x2: width - right, y1: level, y2: level, class: 'grid' }));
    nodes.push(svgNode('text', { x: left - 6, y: level + 4, class: 'axis', 'text-anchor': 'end' }, peak === 0 && fraction > 0 ? '' : format(fraction * peak)));
  }
  const ticks = [minutes, (minutes * 2) / 3, minutes / 3, 0];
  ticks.forEach((ago, position) => {
    const label = ago === 0 ? 'now' : `−${number(ago, 0)} min`;
    const anchor = position === 0 ? 'start' : position === ticks.length - 1 ? 'end' : 'middle';
    nodes.push(svgNode('text', { x: left + ((minutes - ago) / minutes) * plotWidth, y: height - 6, class: 'axis', 'text-anchor': anchor }, label));
  });
  for (const item of series) {
    let path = '';
    let points = 0;
    let drawing = false;
    item.values.forEach((value, index) => {
      if (value === null || !Number.isFinite(value)) {
        drawing = false;
        return;
      }
      path += `${drawing ? 'L' : 'M'}${x(index).toFixed(1)},${y(value).toFixed(1)}`;
      drawing = true;
      points++;
    });
    nodes.push(svgNode('path', { d: path, class: `series ${item.name}`, 'data-series': item.name, 'data-points': points }));
    // A dot per bucket with data, so that a lone bucket shows too.
    item.values.forEach((value, index) => {
      if (value !== null && Number.isFinite(value))
        nodes.push(svgNode('circle', { cx: x(index).toFixed(1), cy: y(value).toFixed(1), r: 2.5, class: `dot ${item.name}` }));
    });
  }
  svg.replaceChildren(...nodes);
}

function renderCache(cache) {
  const total = CACHE_PARTS.reduce((sum, part) => sum + cache[part], 0);
  const bar = byId('cache-bar');
  let offset = 0;
  bar.replaceChildren(
    ...CACHE_PARTS.filter((part) => cache[part] > 0).map((part) => {
      const width = (cache[part] / total) * 400;
      const rect = svgNode('rect', { x: offset, y: 0, width, height: 24, class: `cache ${part}` });
      offset += width;
      return rect;
    }),
  );
  byId('cache-legend').replaceChildren(
    ...CACHE_PARTS.map((part) => {
      const item = document.createElement('li');
      item.dataset.part = part;
      const swatch = document.createElement('i');
      swatch.className = `cache ${part}`;
      item.append(swatch, `${part} ${cache[part]}${total === 0 ? '' : ` (${percent(cache[part] / total)})`}`);
      return item;
    }),
    listItem(`hit rate ${cache.hit_rate === null ? '–' : percent(cache.hit_rate)} (exact + semantic over lookups)`),
  );
}

function renderRefusals(refusals, queueDepth) {
  const codes = Object.entries(refusals.by_code).sort((a, b) => b[1] - a[1]);
  byId('refusals').replaceChildren(
    ...(codes.length === 0 ? [listItem('none')] : codes.map(([code, count]) => listItem(`${code}: ${count}`, code))),
    listItem(`requests waiting in provider queues: ${queueDepth}`),
  );
}

function renderUsage(usage) {
  const error = byId('usage-error');
  if ('error' in usage) {
    error.textContent = `the ledger cannot be read: ${usage.error.code} ${usage.error.message}`;
    error.hidden = false;
    return;
  }
  error.hidden = true;
  byId('usage-since').textContent =
    `since ${new Date(usage.since).toISOString().slice(0, 16).replace('T', ' ')} UTC · ${usage.requests} requests, ${usage.refusals.requests} refused, ${cents(usage.cost_cents)}`;
  usageTable(byId('usage-tenant'), 'tenant', usage.by_tenant);
  usageTable(byId('usage-agent'), 'agent', usage.by_agent);
  usageTable(byId('usage-model'), 'model', usage.by_model);
}

function usageTable(table, title, groups) {
  const head = document.createElement('tr');
  for (const [label, numeric] of [
    [title, false],
    ['requests', true],
    ['refused', true],
    ['tokens in / out', true],
    ['spend', true],
  ]) {
    const th = document.createElement('th');
    th.textContent = label;
    if (numeric) th.className = 'num';
    head.append(th);
  }
  const rows = groups.map((group) => {
    const tr = document.createElement('tr');
    tr.dataset.key = group.key;
    tr.append(
      cell(group.key, 'key'),
      cell(String(group.requests), 'num'),
      cell(String(group.refusals), 'num'),
      cell(`${group.input_tokens} / ${group.output_tokens}`, 'num'),
      cell(cents(group.cost_cents), 'num spend'),
    );
    return tr;
  });
  if (rows.length === 0) {
    const tr = document.createElement('tr');
    const td = cell('no requests yet today');
    td.colSpan = 5;
    tr.append(td);
    rows.push(tr);
  }
  const thead = document.createElement('thead');
  thead.append(head);
  const tbody = document.createElement('tbody');
  tbody.append(...rows);
  table.replaceChildren(thead, tbody);
}

function renderErrors(errors, byCode) {
  const codes = Object.entries(byCode).sort((a, b) => b[1] - a[1]);
  byId('error-codes').replaceChildren(...(codes.length === 0 ? [listItem('none')] : codes.map(([code, count]) => listItem(`${code}: ${count}`, code))));
  const body = byId('errors').tBodies[0];
  if (errors.length === 0) {
    const tr = document.createElement('tr');
    const td = cell('no errors in the last 15 minutes');
    td.colSpan = 6;
    tr.append(td);
    body.replaceChildren(tr);
    return;
  }
  body.replaceChildren(
    ...errors.map((error) => {
      const tr = document.createElement('tr');
      tr.dataset.code = error.code;
      tr.append(
        cell(new Date(error.at).toLocaleTimeString()),
        cell(error.code, 'code'),
        cell(String(error.http_status), 'num'),
        cell(`${error.provider} / ${error.model}`),
        cell(error.agent_did),
        cell(error.message),
      );
      return tr;
    }),
  );
}

function cell(text, className) {
  const td = document.createElement('td');
  td.textContent = text;
  if (className !== undefined) td.className = className;
  return td;
}

function badge(text, className) {
  const td = document.createElement('td');
  const span = document.createElement('span');
  span.className = `badge ${className}`;
  span.textContent = text;
  td.append(span);
  return td;
}

function listItem(text, code) {
  const item = document.createElement('li');
  item.textContent = text;
  if (code !== undefined) item.dataset.code = code;
  return item;
}

function svgNode(name, attributes, text) {
  const node = document.createElementNS(SVG_NS, name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

function niceCeiling(value) {
  if (value <= 0) return 0;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) if (value <= step * power) return step * power;
  return 10 * power;
}

function number(value, digits) {
  return Number(value).toLocaleString(undefined, { maximumFractionDigits: digits, minimumFractionDigits: 0 });
}

function percent(fraction) {
  return `${number(fraction * 100, 1)} %`;
}

function ms(value) {
  return value >= 1000 ? `${number(value / 1000, 2)} s` : `${number(value, value < 10 ? 1 : 0)} ms`;
}

function cents(value) {
  return `${number(value, 4)} ¢`;
}

byId('key-form').addEventListener('submit', (event) => {
  event.preventDefault();
  storeKey(byId('key-input').value.trim());
  byId('key-input').value = '';
  void poll();
});
byId('forget-key').addEventListener('click', () => {
  storeKey('');
  askForKey('Key forgotten. Enter an admin API key.');
});
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible') void poll();
});
void poll();
