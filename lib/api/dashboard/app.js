// The cafkit dashboard: plain browser JavaScript, no framework, no build, no network beyond this server.
// Every value from the API goes into the page through textContent, never as HTML.

const TOKEN_KEY = 'cafkit.api.token';
const LIST_LIMIT = 100;
/** Rows kept on the page; the oldest go first. */
const MAX_ROWS = 500;
const HEALTH_EVERY_MS = 5000;
const BACKOFF_FIRST_MS = 500;
const BACKOFF_MAX_MS = 15000;
const FINAL = new Set(['succeeded', 'failed', 'timed_out', 'dead_lettered']);
const STATUS_TEXT = {
  received: 'received',
  running: 'running',
  succeeded: 'succeeded',
  failed: 'failed',
  timed_out: 'timed out',
  dead_lettered: 'dead-lettered',
};
const STATUS_MARK = { received: '…', running: '▶', succeeded: '✓', failed: '✗', timed_out: '⏱', dead_lettered: '☠' };

const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

/** An element with attributes/properties and children (strings become text nodes). */
function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null) continue;
    if (key === 'class') node.className = value;
    else if (key === 'text') node.textContent = String(value);
    else if (key.startsWith('data-') || key.startsWith('aria-') || key === 'role' || key === 'datetime' || key === 'title' || key === 'scope') node.setAttribute(key, String(value));
    else node[key] = value;
  }
  for (const child of children) if (child !== undefined && child !== null) node.append(child);
  return node;
}

// ---------------------------------------------------------------- token

let token = null;

/**
 * The token from `#token=…` (then removed from the address bar, so it is not
 * bookmarked or shared), else from this tab's storage, else the one the
 * browser signed in with (the server puts it in a meta tag of the page it
 * served to those credentials).
 */
function takeToken() {
  const fragment = new URLSearchParams(location.hash.slice(1));
  const fromUrl = fragment.get('token');
  if (fromUrl) {
    sessionStorage.setItem(TOKEN_KEY, fromUrl);
    history.replaceState(null, '', location.pathname + location.search);
  }
  const stored = sessionStorage.getItem(TOKEN_KEY);
  if (stored) return stored;
  const signedIn = document.querySelector('meta[name="cafkit-token"]')?.getAttribute('content');
  if (signedIn) sessionStorage.setItem(TOKEN_KEY, signedIn);
  return signedIn || null;
}

function showLogin(message) {
  token = null;
  sessionStorage.removeItem(TOKEN_KEY);
  stopEverything();
  $('app').hidden = true;
  $('sign-out').hidden = true;
  $('login').hidden = false;
  $('login-message').textContent = message ?? '';
  setFeedState('not connected');
  $('token-input').focus();
}

function start() {
  $('login').hidden = true;
  $('app').hidden = false;
  $('sign-out').hidden = false;
  reopen();
  refreshHealth();
  clearInterval(healthTimer);
  clearInterval(tickTimer);
  healthTimer = setInterval(refreshHealth, HEALTH_EVERY_MS);
  tickTimer = setInterval(tickDurations, 1000);
}

// ---------------------------------------------------------------- API

class Unauthorized extends Error {}

/** GET a JSON document of the API, relative to this page (so a path prefix behind a proxy keeps working). */
async function api(path, { allow = [] } = {}) {
  const res = await fetch(new URL(path, location.href), { headers: { Authorization: `Bearer ${token}`, Accept: 'application/json' }, cache: 'no-store' });
  if (res.status === 401) throw new Unauthorized('the token was refused');
  let body;
  try {
    body = await res.json();
  } catch {
    body = undefined;
  }
  if (!res.ok && !allow.includes(res.status)) {
    const why = body && typeof body.message === 'string' ? body.message : res.statusText;
    throw new Error(`${path.split('?')[0]}: ${res.status} ${why}`);
  }
  return body;
}

function handleError(error, where) {
  if (error instanceof Unauthorized) {
    showLogin('The token was refused (401). Enter a valid API token.');
    return;
  }
  $(where).textContent = error.message;
}

// ---------------------------------------------------------------- filters

/** The filters as query parameters (shared by the list and the stream). */
function filterParams() {
  const form = /** @type {HTMLFormElement} */ ($('filters'));
  const params = new URLSearchParams();
  for (const name of ['status', 'destination', 'action', 'incident']) {
    const value = String(new FormData(form).get(name) ?? '').trim();
    if (value) params.set(name, value);
  }
  return params;
}

// ---------------------------------------------------------------- list and stream

/** execution_id → summary, for the executions in view. */
const rows = new Map();
let socket = null;
let cursor = null;
let listing = null;
/** Stream events that arrive while a list request is out: applied after it, so the newer state wins. */
let pending = [];
let backoff = BACKOFF_FIRST_MS;
let reconnectTimer = null;
let healthTimer = null;
let tickTimer = null;
/** Bumped on every reopen: callbacks of an older socket or list see it and do nothing. */
let generation = 0;
/** The filters the list and stream were opened with. */
let appliedFilters = '';
/** Whether the list for these filters has been fetched. */
let listed = false;

function stopEverything() {
  generation++;
  if (socket) socket.close(1000);
  socket = null;
  clearTimeout(reconnectTimer);
  clearInterval(healthTimer);
  clearInterval(tickTimer);
}

/** Starts over: new filters (or a new token), so a fresh list and a stream without a cursor. */
function reopen() {
  generation++;
  if (socket) socket.close(1000);
  socket = null;
  clearTimeout(reconnectTimer);
  cursor = null;
  backoff = BACKOFF_FIRST_MS;
  appliedFilters = filterParams().toString();
  listed = false;
  rows.clear();
  render();
  connect();
}

/**
 * Opens the stream. Without a cursor the server answers `ready` at once, and
 * the list is fetched then: events after `ready` are held until the list is
 * in, so nothing between the list and the stream is missed.
 */
function connect() {
  const mine = generation;
  const url = new URL('executions/stream', location.href);
  url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  url.search = appliedFilters;
  if (cursor) url.searchParams.set('cursor', cursor);
  setFeedState(cursor ? 'reconnecting…' : 'connecting…');
  let opened = false;
  // Browsers cannot set headers on a WebSocket: the token travels as a subprotocol.
  // The server answers with `cafkit.v1`, which a browser accepts only if it was offered.
  const ws = new WebSocket(url, ['cafkit.v1', 'cafkit.bearer.' + token]);
  socket = ws;
  ws.addEventListener('open', () => {
    opened = true;
  });
  ws.addEventListener('message', (e) => {
    if (mine !== generation) return;
    let msg;
    try {
      msg = JSON.parse(String(e.data));
    } catch {
      return;
    }
    onMessage(msg, mine);
  });
  ws.addEventListener('close', (e) => {
    if (mine !== generation) return;
    socket = null;
    setFeedState(`disconnected (${e.code}${e.reason ? ` ${e.reason}` : ''}); retrying`);
    retry(opened, mine);
  });
}

function onMessage(msg, mine) {
  if (msg.type === 'ready') {
    cursor = msg.cursor;
    backoff = BACKOFF_FIRST_MS;
    setFeedState('live');
    // The first time (or after a list that failed); on a resume the backlog was enough.
    if (!listed && !listing) relist(mine);
  } else if (msg.type === 'gap') {
    // The server no longer has the events after our cursor: the list is the truth, then the stream goes on from here.
    cursor = msg.cursor;
    relist(mine);
  } else if (msg.type === 'event') {
    cursor = msg.cursor;
    if (listing) pending.push(msg.execution);
    else upsert(msg.execution);
  }
}

async function relist(mine) {
  pending = [];
  const params = new URLSearchParams(appliedFilters);
  params.set('limit', String(LIST_LIMIT));
  const request = api(`executions?${params}`);
  listing = request;
  try {
    const page = await request;
    if (mine !== generation) return;
    rows.clear();
    for (const item of page.items) rows.set(item.execution_id, item);
    for (const item of pending) merge(item);
    listed = true;
    $('list-message').textContent = '';
    render();
  } catch (error) {
    if (mine === generation) handleError(error, 'list-message');
  } finally {
    if (listing === request) {
      listing = null;
      pending = [];
    }
  }
}

/** After a close: if the socket never opened, ask the API why (a 401 brings the form back), then try again with backoff. */
async function retry(opened, mine) {
  if (!opened) {
    try {
      await api('executions?limit=1');
    } catch (error) {
      if (error instanceof Unauthorized) return handleError(error, 'list-message');
    }
  }
  if (mine !== generation) return;
  const wait = backoff;
  backoff = Math.min(backoff * 2, BACKOFF_MAX_MS);
  reconnectTimer = setTimeout(() => {
    if (mine === generation) connect();
  }, wait);
}

function setFeedState(text) {
  const node = $('feed-state');
  node.textContent = `Feed: ${text}`;
  node.dataset.state = text === 'live' ? 'live' : 'down';
}

/** Statuses only move forward: a late copy of a running execution never hides its end. */
function merge(summary) {
  const known = rows.get(summary.execution_id);
  if (known && FINAL.has(known.status) && !FINAL.has(summary.status)) return false;
  rows.set(summary.execution_id, summary);
  return true;
}

function upsert(summary) {
  if (merge(summary)) render(summary.execution_id);
}

// ---------------------------------------------------------------- rendering

/** Newest first: execution ids are UUID v7, so they sort by arrival. */
function newestFirst() {
  return [...rows.values()].sort((a, b) => (a.execution_id < b.execution_id ? 1 : a.execution_id > b.execution_id ? -1 : 0));
}

function render(changedId) {
  let list = newestFirst();
  if (list.length > MAX_ROWS) {
    for (const gone of list.slice(MAX_ROWS)) rows.delete(gone.execution_id);
    list = list.slice(0, MAX_ROWS);
  }
  const body = $('rows');
  const existing = new Map([...body.children].map((tr) => [tr.dataset.id, tr]));
  // Rows are reused (updated in place) so focus and selection survive a live update.
  let previous = null;
  for (const summary of list) {
    let tr = existing.get(summary.execution_id);
    if (!tr) tr = rowFor(summary);
    else if (changedId === undefined || changedId === summary.execution_id) fillRow(tr, summary);
    existing.delete(summary.execution_id);
    const expectedAt = previous ? previous.nextSibling : body.firstChild;
    if (tr !== expectedAt) body.insertBefore(tr, expectedAt);
    previous = tr;
  }
  for (const stale of existing.values()) stale.remove();
  $('empty').hidden = list.length > 0;
  renderCounters(list);
  if (selectedId && changedId === selectedId) loadDetail(selectedId, { quiet: true });
}

function rowFor(summary) {
  const tr = el('tr', { 'data-id': summary.execution_id, tabIndex: 0, class: 'row' });
  tr.addEventListener('click', () => openDetail(summary.execution_id));
  tr.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' || e.key === ' ') {
      e.preventDefault();
      openDetail(summary.execution_id);
    }
  });
  fillRow(tr, summary);
  return tr;
}

function fillRow(tr, s) {
  tr.dataset.status = s.status;
  tr.classList.toggle('selected', s.execution_id === selectedId);
  tr.replaceChildren(
    el('td', {}, badge(s.status)),
    el('td', { class: 'action', text: s.action_name ?? '–' }),
    el('td', { text: s.processor ?? '–' }),
    el('td', { text: s.destination ?? '–' }),
    el('td', { class: 'num', text: s.incident_id ?? '–' }),
    el('td', {}, timeEl(s.received_at)),
    el('td', { class: 'num duration', text: durationOf(s) }),
  );
}

function badge(status) {
  return el('span', { class: `badge status-${status}` }, el('span', { 'aria-hidden': 'true', text: STATUS_MARK[status] ?? '?' }), ' ', STATUS_TEXT[status] ?? status);
}

function timeEl(iso) {
  if (!iso) return '–';
  const at = new Date(iso);
  const text = Number.isNaN(at.getTime()) ? iso : at.toLocaleTimeString(undefined, { hour12: false }) + '.' + String(at.getMilliseconds()).padStart(3, '0');
  return el('time', { datetime: iso, title: iso, text });
}

/** The summary's duration, or the time so far while it runs. */
function durationOf(s) {
  if (typeof s.duration_ms === 'number') return formatMs(s.duration_ms);
  if (FINAL.has(s.status)) return '–';
  const since = Date.parse(s.started_at ?? s.received_at);
  return Number.isNaN(since) ? '–' : `${formatMs(Math.max(0, Date.now() - since))} so far`;
}

function formatMs(ms) {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

/** Running rows show their time so far; refreshed each second without touching the others. */
function tickDurations() {
  for (const tr of $('rows').children) {
    const s = rows.get(tr.dataset.id);
    if (s && !FINAL.has(s.status)) tr.querySelector('.duration').textContent = durationOf(s);
  }
}

function renderCounters(list) {
  const counts = { running: 0, succeeded: 0, failed: 0, timed_out: 0, dead_lettered: 0 };
  for (const s of list) {
    const key = s.status === 'received' ? 'running' : s.status;
    if (key in counts) counts[key]++;
  }
  for (const [key, n] of Object.entries(counts)) $(`count-${key}`).textContent = String(n);
  $('count-total').textContent = String(list.length);
}

// ---------------------------------------------------------------- health

async function refreshHealth() {
  try {
    // 503 means "not ready": the body still says why.
    const h = await api('health', { allow: [503] });
    $('health-broker').textContent = h.broker.connected ? 'connected' : 'disconnected';
    $('health-broker').dataset.ok = String(h.broker.connected);
    $('health-ready').textContent = h.ready ? 'ready' : 'not ready';
    $('health-ready').dataset.ok = String(h.ready);
    $('health-in-flight').textContent = String(h.in_flight);
    const sinks = Object.entries(h.sinks ?? {});
    $('health-sinks').replaceChildren(
      ...(sinks.length === 0
        ? ['none']
        : sinks.map(([name, s]) =>
            el('span', { class: 'sink', title: s.last_error ? `last error ${s.last_error_at ?? ''}: ${s.last_error}` : undefined, 'data-ok': String(!s.last_error && s.dropped === 0) },
              `${name}: ${s.queued} queued${s.in_spill ? `, ${s.in_spill} spilled` : ''}${s.dropped ? `, ${s.dropped} dropped` : ''}${s.last_error ? ', failing' : ''}`),
          )),
    );
  } catch (error) {
    if (error instanceof Unauthorized) return handleError(error, 'list-message');
    $('health-broker').textContent = 'unknown';
    $('health-ready').textContent = `health unavailable (${error.message})`;
  }
}

// ---------------------------------------------------------------- detail

let selectedId = null;
let detailRequest = 0;

function openDetail(id) {
  selectedId = id;
  for (const tr of $('rows').children) tr.classList.toggle('selected', tr.dataset.id === id);
  $('detail').hidden = false;
  loadDetail(id, { quiet: false });
}

function closeDetail() {
  const id = selectedId;
  selectedId = null;
  $('detail').hidden = true;
  for (const tr of $('rows').children) tr.classList.remove('selected');
  const row = id && [...$('rows').children].find((tr) => tr.dataset.id === id);
  if (row) row.focus();
}

async function loadDetail(id, { quiet }) {
  const mine = ++detailRequest;
  if (!quiet) $('detail-message').textContent = 'Loading…';
  try {
    const d = await api(`executions/${encodeURIComponent(id)}`);
    if (mine !== detailRequest || selectedId !== id) return;
    $('detail-message').textContent = '';
    showDetail(d);
  } catch (error) {
    if (mine === detailRequest) handleError(error, 'detail-message');
  }
}

function showDetail(d) {
  $('detail-title').textContent = `${d.action_name ?? 'Execution'} · ${STATUS_TEXT[d.status] ?? d.status}`;
  const objects = Object.entries(d.object_ids ?? {}).map(([k, v]) => `${k} ${v}`).join(', ');
  fields($('detail-fields'), [
    ['Status', badge(d.status)],
    ['Execution', d.execution_id],
    ['Correlation', d.correlation_id],
    ['Action', d.action_name],
    ['Processor', d.processor],
    ['Destination', d.destination],
    ['Objects', objects || null],
    ['User', d.user ? d.user.email ?? String(d.user.id) : null],
    ['Received', timeEl(d.received_at)],
    ['Started', d.started_at ? timeEl(d.started_at) : null],
    ['Ended', d.ended_at ? timeEl(d.ended_at) : null],
    ['Duration', durationOf(d)],
    ['Rerun', d.rerun ? 'yes: an earlier run never finished' : null],
  ]);
  showSteps(d);
  const replies = /** @type {HTMLTableElement} */ ($('detail-replies'));
  replies.tBodies[0].replaceChildren(
    ...(d.replies.length === 0
      ? [el('tr', {}, el('td', { colSpan: 4, class: 'empty', text: 'No replies yet.' }))]
      : d.replies.map((r) =>
          el('tr', { class: 'reply' },
            el('td', {}, timeEl(r.at)),
            el('td', { text: replyType(r.message_type) }),
            el('td', { class: 'reply-text', text: r.message }),
            el('td', { text: r.complete ? 'final' : 'progress' }),
          ),
        )),
  );
  $('detail-error').textContent = d.error ?? 'none';
  $('detail-error').dataset.has = String(Boolean(d.error));
  const record = d.record;
  fields($('detail-record'), record
    ? [
        ['Record', record.id],
        ['Chain', record.chain_id],
        ['Position', String(record.seq)],
        ['Previous hash', record.prev_hash ?? 'none (first of its chain)'],
        ['Key', record.key_id],
        ['Signature', el('code', { class: 'wrap', text: record.signature })],
      ]
    : [['Record', 'not yet: the execution has not finished']]);
}

function replyType(type) {
  return type === 0 ? 'info (0)' : type === 1 ? 'warning (1)' : type === 2 ? 'error (2)' : String(type);
}

function fields(dl, pairs) {
  dl.replaceChildren(
    ...pairs
      .filter(([, value]) => value !== null && value !== undefined && value !== '')
      .map(([name, value]) => el('div', {}, el('dt', { text: name }), el('dd', {}, value))),
  );
}

/** Each step as a bar: where it started and how long it took, relative to the whole execution. */
function showSteps(d) {
  const start = Date.parse(d.started_at ?? d.received_at);
  const stepEnds = d.steps.map((s) => Date.parse(s.ended_at ?? '')).filter((t) => !Number.isNaN(t));
  const end = Date.parse(d.ended_at ?? '') || Math.max(Date.now(), ...stepEnds);
  const span = Math.max(1, end - start);
  $('detail-no-steps').hidden = d.steps.length > 0;
  $('detail-steps').replaceChildren(
    ...d.steps.map((s) => {
      const from = Date.parse(s.started_at ?? '');
      const to = Date.parse(s.ended_at ?? '') || (s.status === 'running' ? Date.now() : NaN);
      const took = !Number.isNaN(from) && !Number.isNaN(to) ? to - from : null;
      const bar = el('span', { class: `bar status-${s.status}`, 'aria-hidden': 'true' });
      if (took !== null) {
        bar.style.marginLeft = `${(100 * Math.max(0, from - start)) / span}%`;
        bar.style.width = `${Math.max(0.5, (100 * took) / span)}%`;
      } else {
        bar.style.width = '0';
      }
      return el('li', { class: 'step', 'data-status': s.status },
        el('span', { class: 'step-name', text: s.name }),
        el('span', { class: `step-status status-${s.status}`, text: s.status }),
        el('span', { class: 'step-time', text: took === null ? '–' : formatMs(took) }),
        el('span', { class: 'track' }, bar),
        s.error ? el('span', { class: 'step-error', text: s.error }) : null,
      );
    }),
  );
}

// ---------------------------------------------------------------- wiring

$('login-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const value = /** @type {HTMLInputElement} */ ($('token-input')).value.trim();
  if (!value) return;
  sessionStorage.setItem(TOKEN_KEY, value);
  /** @type {HTMLInputElement} */ ($('token-input')).value = '';
  token = value;
  start();
});
$('sign-out').addEventListener('click', () => showLogin('Token forgotten.'));
/** Enter in a field fires both `change` and `submit`: one reopen is enough. */
function filtersChanged() {
  if (filterParams().toString() !== appliedFilters) reopen();
}
$('filters').addEventListener('submit', (e) => {
  e.preventDefault();
  filtersChanged();
});
$('filters').addEventListener('change', filtersChanged);
// A reset event fires before the fields are cleared: look after it.
$('filters').addEventListener('reset', () => setTimeout(filtersChanged));
$('detail-close').addEventListener('click', closeDetail);
document.addEventListener('keydown', (e) => {
  if (e.key === 'Escape' && selectedId) closeDetail();
});
window.addEventListener('hashchange', () => {
  const next = takeToken();
  if (next && next !== token) {
    stopEverything();
    token = next;
    start();
  }
});

token = takeToken();
if (token) start();
else showLogin('');
