// The pipeline page: polls /api/status and /api/dead-letters every 2 s and renders them.
// Plain browser JavaScript (no build step); charts by uPlot, served from node_modules.
'use strict';

const POLL_MS = 2000;
const charts = new Map(); // consumer -> uPlot
const expanded = new Map(); // dead-letter id -> detail (or null while loading)
let knownConsumers = [];

const $ = (selector, root = document) => root.querySelector(selector);
const el = (tag, attributes = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null) continue;
    if (name === 'class') node.className = value;
    else if (name.startsWith('on')) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value);
  }
  for (const child of children.flat()) if (child !== null && child !== undefined) node.append(child.nodeType ? child : String(child));
  return node;
};

const integer = (n) => (n === null || n === undefined ? '—' : Math.round(n).toLocaleString('en-US'));
const rate = (n) => (n === null || n === undefined ? '—' : n < 10 ? n.toFixed(1) : integer(n));
const ms = (n) => (n === null || n === undefined ? '—' : n < 10 ? `${n.toFixed(1)} ms` : n < 10000 ? `${Math.round(n)} ms` : `${(n / 1000).toFixed(1)} s`);
function bytes(n) {
  if (n === null || n === undefined) return '—';
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = n / 1024, unit = 0;
  while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit++; }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}
const seconds = (s) => (s === null || s === undefined ? '—' : s < 90 ? `${Math.ceil(s)} s` : `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`);

async function getJson(url, init) {
  const response = await fetch(url, init);
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
  return body;
}

function renderSource(status) {
  const state = status.connector.state;
  const stateNode = $('[data-testid="connector-state"]');
  stateNode.textContent = state;
  stateNode.className = `big state-${state.split(' ')[0]}`;
  const tasks = status.connector.tasks.map((t) => `task ${t.id} ${t.state}${t.trace ? `: ${t.trace}` : ''}`).join(', ');
  $('#connector-detail').textContent = [status.connector.name, tasks || 'no tasks', status.connector.error].filter(Boolean).join(' · ');
  const lag = $('[data-testid="slot-lag"]');
  lag.textContent = bytes(status.slot.lagBytes);
  lag.dataset.value = status.slot.lagBytes ?? '';
  $('#slot-detail').textContent = status.slot.error
    ? status.slot.error
    : `${status.slot.name} · ${status.slot.active ? 'active' : 'INACTIVE'} · WAL kept for it: ${bytes(status.slot.retainedBytes)}`;
}

function figure(field, label, text, value, bad = false) {
  return el('div', { class: 'figure' }, el('div', { class: 'label' }, label), el('div', { class: `value${bad ? ' bad' : ''}`, 'data-field': field, 'data-value': value ?? '' }, text));
}

function consumerCard(consumer, history, counts) {
  const badge = !consumer.up ? ['down', 'down'] : consumer.ready ? ['ready', 'ready'] : ['not ready', 'not-ready'];
  const card = el('div', { class: 'card consumer', 'data-testid': `consumer-${consumer.name}`, 'data-ready': String(consumer.ready === true), 'data-up': String(consumer.up) },
    el('h3', {}, consumer.name, el('span', { class: `badge ${badge[1]}`, 'data-field': 'state' }, badge[0])),
    el('div', { class: 'muted small' }, `group ${consumer.groupId} · ${consumer.healthUrl}`),
    el('div', { class: 'figures' },
      figure('lag', 'lag (messages)', integer(consumer.lag), consumer.lag, consumer.lag > 0),
      figure('events', 'events/s', rate(consumer.eventsPerSecond), consumer.eventsPerSecond),
      figure('p50', 'commit→sink p50 (1 min)', ms(consumer.latency.p50Ms), consumer.latency.p50Ms),
      figure('p99', 'p99 (1 min)', ms(consumer.latency.p99Ms), consumer.latency.p99Ms),
      figure('last-latency', 'latest latency', ms(consumer.lastLatencyMs), consumer.lastLatencyMs),
      figure('dead-lettered', 'dead-lettered', integer(consumer.deadLettered), consumer.deadLettered, (counts?.pending ?? 0) > 0),
      figure('pending', 'pending replay', integer(counts?.pending ?? 0), counts?.pending ?? 0, (counts?.pending ?? 0) > 0),
      figure('replayed', 'replayed', integer(counts?.replayed ?? 0), counts?.replayed ?? 0),
    ),
  );
  if (consumer.catchUp) {
    const { done, total, perSecond, etaSeconds } = consumer.catchUp;
    const share = total > 0 ? (100 * done) / total : 0;
    card.append(
      el('div', { class: 'small', 'data-field': 'catch-up' }, `catching up: ${integer(done)} / ${integer(total)} (${share.toFixed(0)}%) · ${rate(perSecond)}/s · ETA ${seconds(etaSeconds)}`),
      el('div', { class: 'progress' }, el('div', { style: `width:${share.toFixed(1)}%` })),
    );
  }
  const topics = Object.entries(consumer.lagByTopic);
  if (topics.length > 0) {
    card.append(el('table', { class: 'topics' }, topics.map(([topic, lag]) => el('tr', { 'data-topic': topic }, el('td', {}, topic), el('td', {}, `lag ${integer(lag)}`)))));
  }
  if (consumer.error) card.append(el('div', { class: 'error' }, consumer.error));
  if (consumer.readyDetail) card.append(el('div', { class: 'error' }, `not ready: ${JSON.stringify(consumer.readyDetail)}`));
  const chartBox = el('div', { class: 'chart', 'data-field': 'chart' });
  card.append(chartBox);
  return { card, chartBox };
}

function chartFor(name, box, points) {
  const data = [
    points.map((p) => p.t / 1000),
    points.map((p) => p.p50Ms),
    points.map((p) => p.p99Ms),
  ];
  let chart = charts.get(name);
  const width = Math.max(300, box.clientWidth || 400);
  if (!chart) {
    chart = new uPlot({
      width, height: 140,
      title: 'commit→sink latency, ms (10 s windows)',
      scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(10, max * 1.1)] } },
      series: [{}, { label: 'p50', stroke: '#0969da', width: 1.5, spanGaps: false }, { label: 'p99', stroke: '#cf222e', width: 1.5, spanGaps: false }],
      axes: [{}, { size: 64 }],
      legend: { show: true },
    }, data, box);
    charts.set(name, chart);
  } else {
    box.append(chart.root);
    chart.setData(data);
    if (Math.abs(chart.width - width) > 20) chart.setSize({ width, height: 140 });
  }
}

function renderConsumers(status) {
  const container = $('#consumers');
  // Keep the chart elements (uPlot instances) across re-renders: move them into the new cards.
  const cards = status.consumers.map((consumer) => ({ consumer, ...consumerCard(consumer, status.history[consumer.name] ?? [], status.deadLetters[consumer.name]) }));
  container.replaceChildren(...cards.map((c) => c.card));
  for (const { consumer, chartBox } of cards) chartFor(consumer.name, chartBox, status.history[consumer.name] ?? []);
  const names = status.consumers.map((c) => c.name);
  if (names.join() !== knownConsumers.join()) {
    knownConsumers = names;
    const select = $('#dl-consumer');
    const chosen = select.value;
    select.replaceChildren(el('option', { value: '' }, 'all'), ...names.map((n) => el('option', { value: n }, n)));
    select.value = chosen;
  }
}

async function renderDeadLetters() {
  const consumer = $('#dl-consumer').value;
  const status = $('#dl-status').value;
  $('#dl-replay-all').disabled = !consumer;
  const query = new URLSearchParams({ ...(consumer ? { consumer } : {}), ...(status ? { status } : {}) });
  const list = await getJson(`/api/dead-letters?${query}`);
  const body = $('#dead-letters');
  if (list.length === 0) {
    body.replaceChildren(el('tr', {}, el('td', { colspan: 9, class: 'muted' }, 'no dead letters')));
    return;
  }
  const rows = [];
  for (const d of list) {
    const lastFailure = [...d.replays].reverse().find((r) => r.outcome === 'failed');
    const lastSettled = [...d.replays].reverse().find((r) => r.outcome !== 'failed');
    rows.push(el('tr', { 'data-id': d.id, 'data-status': d.status, 'data-consumer': d.consumer },
      el('td', {}, el('code', {}, d.id)),
      el('td', { class: `status-${d.status}`, 'data-field': 'status' }, d.status,
        lastSettled ? el('div', { class: 'muted small' }, `${lastSettled.outcome} by ${lastSettled.by}`) : null,
        !lastSettled && lastFailure ? el('div', { class: 'error' }, `last replay failed: ${lastFailure.error}`) : null),
      el('td', { 'data-field': 'table' }, d.table),
      el('td', { 'data-field': 'key' }, el('code', {}, JSON.stringify(d.key))),
      el('td', { 'data-field': 'reason' }, d.reason),
      el('td', { class: 'error-cell', 'data-field': 'error' }, d.error),
      el('td', { 'data-field': 'time' }, d.time.replace('T', ' ').replace(/\.\d+Z$/, 'Z')),
      el('td', { 'data-field': 'offset' }, `${d.original.topic} [${d.original.partition}] @ ${d.original.offset}`),
      el('td', {},
        el('button', { 'data-action': 'show', onclick: () => toggle(d.id) }, expanded.has(d.id) ? 'Hide' : 'Message'), ' ',
        el('button', { 'data-action': 'replay', disabled: d.status === 'replayed' ? '' : null, onclick: (event) => replay(d.id, event.target) }, 'Replay')),
    ));
    if (expanded.has(d.id)) rows.push(detailRow(d.id, expanded.get(d.id)));
  }
  body.replaceChildren(...rows);
}

function detailRow(id, detail) {
  if (!detail) return el('tr', { class: 'detail' }, el('td', { colspan: 9, class: 'muted' }, 'loading…'));
  let value = detail.message.value;
  try {
    const parsed = JSON.parse(value);
    value = JSON.stringify(parsed && parsed.payload !== undefined ? parsed.payload : parsed, null, 2);
  } catch { /* not JSON: shown as it is */ }
  return el('tr', { class: 'detail', 'data-detail': id },
    el('td', { colspan: 9 },
      el('div', {}, el('b', {}, 'original message'), ` ${detail.original.topic} partition ${detail.original.partition} offset ${detail.original.offset}, key `, el('code', {}, detail.message.key ?? '(none)')),
      el('div', { class: 'muted small' }, 'value (Debezium payload; the schema half is left out):'),
      el('pre', { 'data-field': 'message' }, value ?? '(null)'),
      el('div', {}, el('b', {}, 'replays: '), detail.replays.length === 0 ? 'none' : ''),
      detail.replays.map((r) => el('div', { class: 'small' }, `${r.at} ${r.outcome} by ${r.by} via ${r.via}${r.error ? `: ${r.error}` : ''}`)),
    ));
}

async function toggle(id) {
  if (expanded.has(id)) expanded.delete(id);
  else {
    expanded.set(id, null);
    renderDeadLetters();
    expanded.set(id, await getJson(`/api/dead-letters/${encodeURIComponent(id)}`));
  }
  renderDeadLetters();
}

function say(text) { $('#dl-message').textContent = text; }

async function replay(id, button) {
  button.disabled = true;
  say(`replaying ${id}…`);
  try {
    const result = await getJson(`/api/dead-letters/${encodeURIComponent(id)}/replay`, post({ by: $('#dl-by').value }));
    say(`${id}: ${result.outcome} (${result.detail})`);
    if (expanded.has(id)) expanded.set(id, await getJson(`/api/dead-letters/${encodeURIComponent(id)}`));
  } catch (error) {
    say(`${id}: ${error.message}`);
  }
  await refresh();
}

async function replayAll() {
  const consumer = $('#dl-consumer').value;
  if (!consumer || !confirm(`Replay every pending dead letter of ${consumer}?`)) return;
  say(`replaying every pending dead letter of ${consumer}…`);
  try {
    const results = await getJson('/api/replay', post({ consumer, by: $('#dl-by').value }));
    const settled = results.filter((r) => r.outcome === 'applied' || r.outcome === 'stale').length;
    say(`${consumer}: ${settled} replayed, ${results.length - settled} not (still pending)`);
  } catch (error) {
    say(`${consumer}: ${error.message}`);
  }
  await refresh();
}

const post = (body) => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

async function refresh() {
  try {
    const status = await getJson('/api/status');
    renderSource(status);
    renderConsumers(status);
    await renderDeadLetters();
    const updated = $('#updated');
    updated.textContent = `updated ${new Date(status.at).toLocaleTimeString()}`;
    updated.dataset.at = status.at;
  } catch (error) {
    $('#updated').textContent = `page server not answering: ${error.message}`;
  }
}

$('#dl-by').value = localStorage.getItem('cdc-dashboard-by') || '';
$('#dl-by').addEventListener('change', () => localStorage.setItem('cdc-dashboard-by', $('#dl-by').value));
$('#dl-consumer').addEventListener('change', renderDeadLetters);
$('#dl-status').addEventListener('change', renderDeadLetters);
$('#dl-replay-all').addEventListener('click', replayAll);

(async function loop() {
  await refresh();
  setTimeout(loop, POLL_MS);
})();
