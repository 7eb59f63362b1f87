// The godwit coordinator's dashboard (docs/coordinator.md is the contract it speaks).
//
// Plain ES module, no framework and nothing fetched from elsewhere. Everything that comes from
// the API reaches the page as text nodes or attribute values (el() below): no innerHTML
// anywhere, so a process's command line, which any user of a host controls, is shown and never run.
//
// Data flow: GET /api/hosts and /api/migrations once at start; then /api/events keeps hosts,
// running migrations and the history current (and is reconnected with backoff when it drops,
// the history being fetched again then, as events may have been missed meanwhile).

// ---------------------------------------------------------------------------------------------
// Formatting

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

/** 1536 -> "1.5 KiB", 67108864 -> "64.0 MiB" */
export function fmtBytes(n) {
  if (typeof n !== 'number' || !Number.isFinite(n)) return '–';
  if (n < 1024) return `${Math.round(n)} B`;
  let i = 0, v = n;
  while (v >= 1024 && i < UNITS.length - 1) { v /= 1024; i++; }
  return `${v.toFixed(v < 100 ? 1 : 0)} ${UNITS[i]}`;
}

export function fmtRate(n) { return typeof n === 'number' && Number.isFinite(n) ? `${fmtBytes(n)}/s` : '–'; }

/** 0.42 -> "0.42 ms", 12.3 -> "12.3 ms", 1234 -> "1.23 s", 125000 -> "2 min 5 s" */
export function fmtMs(ms) {
  if (typeof ms !== 'number' || !Number.isFinite(ms)) return '–';
  if (ms === 0) return '0 ms';
  if (ms < 1) return `${ms.toFixed(2)} ms`;
  if (ms < 10) return `${ms.toFixed(1)} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  const s = Math.round(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

function fmtAgo(at) {
  if (typeof at !== 'number') return '';
  const s = Math.max(0, Math.round((Date.now() - at) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  return `${Math.floor(s / 3600)} h ago`;
}

function fmtTime(at) {
  if (typeof at !== 'number') return '–';
  const d = new Date(at);
  const today = new Date().toDateString() === d.toDateString();
  return today ? d.toLocaleTimeString() : d.toLocaleString();
}

// ---------------------------------------------------------------------------------------------
// DOM helpers: every string becomes a text node, every attribute goes through setAttribute

const SVGNS = 'http://www.w3.org/2000/svg';

function build(ns, tag, attrs, children) {
  const e = ns ? document.createElementNS(ns, tag) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') e.addEventListener(k.slice(2), v);
    else if (k === 'class') e.setAttribute('class', String(v));
    else if (k === 'testid') e.setAttribute('data-testid', String(v));
    else if (k in { disabled: 1, hidden: 1, selected: 1, checked: 1 } && !ns) e[k] = Boolean(v);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  append(e, children);
  return e;
}

function append(parent, children) {
  for (const c of [children].flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    parent.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** el('div', {class: 'x', testid: 'y', onclick: f}, 'text', child, [more]) */
const el = (tag, attrs, ...children) => build(null, tag, attrs, children);
const svg = (tag, attrs, ...children) => build(SVGNS, tag, attrs, children);

const $ = (sel, root = document) => root.querySelector(sel);
const byTestid = (id, root = document) => root.querySelector(`[data-testid="${CSS.escape(id)}"]`);

function replace(parent, ...children) {
  parent.replaceChildren();
  append(parent, children);
}

function setText(node, text) {
  if (node && node.textContent !== text) node.textContent = text;
}

// ---------------------------------------------------------------------------------------------
// API

class ApiError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

async function api(method, path, body) {
  let res;
  try {
    res = await fetch(path, {
      method,
      credentials: 'same-origin',
      headers: body === undefined ? { accept: 'application/json' } : { accept: 'application/json', 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  } catch (e) {
    throw new ApiError(0, 'network', `the coordinator cannot be reached (${e.message})`);
  }
  let data = null;
  try { data = await res.json(); } catch { /* not JSON */ }
  if (!res.ok) {
    const err = data && data.error ? data.error : { code: 'failed', message: `${res.status} ${res.statusText}` };
    if (res.status === 401) showBanner('Not authorized: open this page once as /?token=TOKEN (the first line of the cluster token file).');
    throw new ApiError(res.status, err.code, err.message || `${res.status}`);
  }
  return data;
}

// ---------------------------------------------------------------------------------------------
// State

const PHASES = ['connect', 'preflight', 'expect', 'precopy', 'freeze', 'restore', 'resume', 'cleanup', 'done'];
const PHASE_LABEL = {
  connect: 'connect', preflight: 'preflight', expect: 'prepare', precopy: 'pre-copy', freeze: 'freeze + dump',
  restore: 'restore', resume: 'resume', cleanup: 'clean up', done: 'done', rollback: 'roll back',
};
const OUTCOME_CLASS = { migrated: 'ok', 'dry-run': 'info', refused: 'warn', 'rolled-back': 'warn', unknown: 'bad', interrupted: 'bad' };

const state = {
  /** name -> Host */
  hosts: new Map(),
  hostsOrder: [],
  selected: null,
  procs: { host: null, list: [], loading: false, error: null, at: 0, seq: 0 },
  procFilter: '',
  procSort: { key: 'rssBytes', dir: -1 },
  /** the migrate dialog: { proc, from, preflight: {key, report} | null, busy } */
  dialog: null,
  /** id -> { record, progress, phases: Set, node } */
  runs: new Map(),
  /** MigrationRecord[], newest first */
  history: [],
  historyLimit: 50,
  historyError: null,
  /** id of the migration in the report panel */
  reportId: null,
};

// ---------------------------------------------------------------------------------------------
// Banner and connection status

function showBanner(text) {
  const b = byTestid('banner');
  b.hidden = !text;
  setText(b, text || '');
}

function setConn(s, text) {
  const c = byTestid('conn');
  c.dataset.state = s;
  setText($('.conn-text', c), text);
}

// ---------------------------------------------------------------------------------------------
// Hosts

function setHosts(hosts) {
  state.hosts = new Map(hosts.map((h) => [h.name, h]));
  state.hostsOrder = hosts.map((h) => h.name);
  renderHosts();
  refreshDestinations();
}

function healthOf(h) {
  return h.health && h.health.up ? 'healthy' : h.health && h.health.checkedAt ? 'down' : 'unknown';
}

function renderHosts() {
  const box = byTestid('hosts');
  if (!state.hostsOrder.length) { replace(box, el('p', { class: 'muted' }, 'No hosts in the hosts file.')); return; }
  // keyed: a card keeps its node (and a click in flight lands) while its contents change
  const cards = new Map([...box.querySelectorAll('.host')].map((n) => [n.dataset.name, n]));
  const want = [];
  for (const name of state.hostsOrder) {
    const h = state.hosts.get(name);
    let card = cards.get(name);
    if (!card) {
      card = el('article', {
        class: 'host card', testid: `host-${name}`, 'data-name': name, tabindex: '0', role: 'button',
        'aria-label': `host ${name}: show its processes`,
        onclick: () => selectHost(name),
        onkeydown: (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); selectHost(name); } },
      });
    }
    fillHostCard(card, h);
    want.push(card);
  }
  if (want.length !== box.children.length || want.some((c, i) => box.children[i] !== c)) box.replaceChildren(...want);
}

function fillHostCard(card, h) {
  const health = healthOf(h);
  const hl = h.health ?? {};
  card.classList.toggle('selected', state.selected === h.name);
  card.dataset.health = health;
  const facts = [];
  if (hl.hostname) facts.push(['hostname', hl.hostname]);
  if (hl.kernel) facts.push(['kernel', hl.kernel]);
  if (hl.godwit) facts.push(['godwit', hl.godwit]);
  if (typeof hl.latencyMs === 'number') facts.push(['latency', fmtMs(hl.latencyMs)]);
  if (typeof hl.running === 'number') facts.push(['operations', String(hl.running)]);
  replace(card,
    el('div', { class: 'host-head' },
      el('span', { class: 'host-name' }, h.name),
      el('span', { class: `badge ${health === 'healthy' ? 'ok' : health === 'down' ? 'bad' : 'info'}`, testid: 'health', 'data-up': String(health === 'healthy') }, health)),
    el('div', { class: 'host-url mono small muted' }, h.url),
    facts.length ? el('dl', { class: 'facts small' }, facts.map(([k, v]) => [el('dt', {}, k), el('dd', {}, v)])) : null,
    hl.error && health === 'down' ? el('p', { class: 'error small', testid: 'host-error' }, hl.error) : null,
    el('div', { class: 'small muted checked', 'data-at': hl.checkedAt ?? '' }, hl.checkedAt ? `checked ${fmtAgo(hl.checkedAt)}` : 'not checked yet'),
  );
}

function tickAges() {
  for (const n of document.querySelectorAll('.checked[data-at]')) {
    const at = Number(n.dataset.at);
    if (at) setText(n, `checked ${fmtAgo(at)}`);
  }
}

function selectHost(name) {
  state.selected = name;
  for (const c of document.querySelectorAll('.host')) c.classList.toggle('selected', c.dataset.name === name);
  byTestid('proc-refresh').disabled = false;
  $('#h-procs').textContent = `Processes on ${name}`;
  loadProcs(name);
}

// ---------------------------------------------------------------------------------------------
// Processes

async function loadProcs(name) {
  const seq = ++state.procs.seq;
  state.procs = { ...state.procs, host: name, loading: true, error: null, list: state.procs.host === name ? state.procs.list : [] };
  renderProcs();
  try {
    const data = await api('GET', `/api/hosts/${encodeURIComponent(name)}/processes`);
    if (seq !== state.procs.seq) return;
    state.procs = { ...state.procs, list: data.processes ?? [], loading: false, at: Date.now() };
  } catch (e) {
    if (seq !== state.procs.seq) return;
    state.procs = { ...state.procs, list: [], loading: false, error: e.message };
  }
  renderProcs();
}

/** PIDs of `host` that a queued or running migration has in hand */
function busyPids(host) {
  const s = new Set();
  for (const r of state.runs.values()) if (r.record.from === host && r.record.state !== 'done') s.add(r.record.pid);
  return s;
}

function renderProcs() {
  const box = $('.procs');
  const p = state.procs;
  if (!p.host) return;
  if (p.error) { replace(box, el('p', { class: 'error', testid: 'proc-error' }, `Cannot list the processes of ${p.host}: ${p.error}`)); return; }
  if (p.loading && !p.list.length) { replace(box, el('p', { class: 'muted' }, `Asking ${p.host}'s agent…`)); return; }
  const f = state.procFilter.trim().toLowerCase();
  const rows = p.list.filter((x) => !f || String(x.pid) === f || String(x.command ?? '').toLowerCase().includes(f) || String(x.comm ?? '').toLowerCase().includes(f));
  const { key, dir } = state.procSort;
  rows.sort((a, b) => {
    const x = a[key], y = b[key];
    const c = typeof x === 'number' && typeof y === 'number' ? x - y : String(x ?? '').localeCompare(String(y ?? ''));
    return c * dir || a.pid - b.pid;
  });
  const busy = busyPids(p.host);
  const others = state.hostsOrder.filter((n) => n !== p.host);
  const th = (label, k, cls) => el('th', {
    class: `sortable ${cls ?? ''}`, 'aria-sort': key === k ? (dir > 0 ? 'ascending' : 'descending') : 'none',
    onclick: () => { state.procSort = { key: k, dir: key === k ? -dir : (k === 'rssBytes' || k === 'threads' ? -1 : 1) }; renderProcs(); },
  }, label, key === k ? (dir > 0 ? ' ▲' : ' ▼') : '');
  replace(box,
    el('p', { class: 'small muted' }, `${p.list.length} processes${f ? `, ${rows.length} shown` : ''}`, p.at ? ` · listed ${fmtTime(p.at)}` : '', p.loading ? ' · refreshing…' : ''),
    el('div', { class: 'table-wrap' },
      el('table', { class: 'procs-table' },
        el('thead', {}, el('tr', {}, th('PID', 'pid', 'num'), th('User', 'uid', 'num'), th('Command', 'command'), th('RSS', 'rssBytes', 'num'), th('Threads', 'threads', 'num'), th('State', 'state'), el('th', {}, ''))),
        el('tbody', {}, rows.map((x) => el('tr', { testid: `proc-${x.pid}`, 'data-pid': x.pid },
          el('td', { class: 'num mono' }, x.pid),
          el('td', { class: 'num mono' }, x.uid ?? ''),
          el('td', { class: 'cmd mono', title: x.command ?? '' }, x.command ?? x.comm ?? ''),
          el('td', { class: 'num', 'data-bytes': x.rssBytes }, fmtBytes(x.rssBytes)),
          el('td', { class: 'num' }, x.threads ?? ''),
          el('td', { class: 'mono' }, x.state ?? ''),
          el('td', { class: 'act' }, busy.has(x.pid)
            ? el('span', { class: 'badge info' }, 'migrating')
            : x.godwit
            ? el('span', { class: 'badge', title: 'godwit itself (its agent, or the host\'s init) does not move' }, 'godwit')
            : el('button', { type: 'button', class: 'small-btn', testid: `migrate-${x.pid}`, disabled: !others.length, onclick: () => openMigrate(p.host, x) }, 'Migrate…')),
        ))),
      ),
    ),
  );
}

// ---------------------------------------------------------------------------------------------
// The migrate dialog: destination, preflight, confirm

const dialog = () => byTestid('migrate-dialog');
const form = () => $('.migrate-form');

function openMigrate(from, proc) {
  state.dialog = { from, proc, preflight: null, busy: false };
  const d = dialog();
  replace($('.what', d),
    el('p', {}, 'PID ', el('strong', { class: 'mono' }, proc.pid), ' on ', el('strong', {}, from), ' · ', fmtBytes(proc.rssBytes), ' resident · ', `${proc.threads ?? '?'} thread${proc.threads === 1 ? '' : 's'}`),
    el('pre', { class: 'cmdline mono' }, proc.command ?? proc.comm ?? ''),
  );
  const sel = byTestid('dest');
  sel.value = '';
  refreshDestinations();
  const others = state.hostsOrder.filter((n) => n !== from);
  const healthyOthers = others.filter((n) => healthOf(state.hosts.get(n)) === 'healthy');
  if (healthyOthers.length === 1 && others.length === 1) sel.value = healthyOthers[0];
  setError('');
  resetPreflight();
  if (!d.open) d.showModal();
  sel.focus();
}

function refreshDestinations() {
  const sel = byTestid('dest');
  if (!sel || !state.dialog) return;
  const keep = sel.value;
  replace(sel, el('option', { value: '' }, 'choose a host…'),
    state.hostsOrder.filter((n) => n !== state.dialog.from).map((n) => {
      const h = healthOf(state.hosts.get(n));
      return el('option', { value: n, disabled: h === 'down' }, h === 'healthy' ? n : `${n} (${h})`);
    }));
  sel.value = keep;
  if (sel.value !== keep) resetPreflight();
  updateButtons();
}

function splitList(s) { return s.split(/[\s,]+/).map((x) => x.trim()).filter(Boolean); }

/** The MigrationRequest the dialog describes (only what the user set: the rest are godwit migrate's defaults) */
function request() {
  const f = form().elements;
  const r = { pid: state.dialog.proc.pid, from: state.dialog.from, to: f.dest.value };
  const num = (name) => { const v = f[name].value.trim(); if (v !== '') r[name] = Number(v); };
  num('maxDowntimeMs'); num('maxIterations'); num('maxPrecopyS');
  // sizes go as the user wrote them ("200M", "0"): the service parses them as the command line does
  const str = (name) => { const v = f[name].value.trim(); if (v !== '') r[name] = v; };
  str('bandwidth'); str('slice');
  if (f.compress.value) r.compress = f.compress.value;
  if (!f.autoConverge.checked) r.autoConverge = false;
  if (f.newPidns.checked) r.newPidns = true;
  if (f.pidnsFallback.checked) r.pidnsFallback = true;
  const ips = splitList(f.moveIps.value);
  if (ips.length) r.moveIps = ips;
  return r;
}

function setError(text) {
  const e = byTestid('migrate-error');
  e.hidden = !text;
  setText(e, text);
}

function resetPreflight() {
  if (state.dialog) state.dialog.preflight = null;
  const box = byTestid('preflight-result');
  box.dataset.state = 'none';
  box.dataset.ok = '';
  replace(box);
  updateButtons();
}

function updateButtons() {
  const d = state.dialog;
  const to = byTestid('dest').value;
  byTestid('preflight-btn').disabled = !d || !to || d.busy;
  const pf = d && d.preflight;
  byTestid('confirm-btn').disabled = !d || d.busy || !pf || !pf.ok || pf.key !== JSON.stringify(request());
}

async function runPreflight() {
  const d = state.dialog;
  if (!d) return;
  const req = request();
  if (!req.to) return;
  d.busy = true;
  setError('');
  const box = byTestid('preflight-result');
  box.dataset.state = 'running';
  box.dataset.ok = '';
  replace(box, el('p', { class: 'muted' }, `Asking ${req.from} and ${req.to}…`));
  updateButtons();
  try {
    const { report } = await api('POST', '/api/preflight', req);
    if (state.dialog !== d) return;
    const ok = report.outcome === 'dry-run' && (!report.preflight || report.preflight.ok !== false) && !report.error;
    d.preflight = { key: JSON.stringify(req), ok, report };
    renderPreflight(box, report, ok);
  } catch (e) {
    if (state.dialog !== d) return;
    d.preflight = null;
    box.dataset.state = 'error';
    box.dataset.ok = 'false';
    replace(box, el('p', { class: 'error' }, `Preflight failed: ${e.message}`));
  } finally {
    d.busy = false;
    updateButtons();
  }
}

function renderPreflight(box, report, ok) {
  const pf = report.preflight;
  box.dataset.state = ok ? 'ok' : 'refused';
  box.dataset.ok = String(ok);
  const rows = [];
  if (pf) {
    const t = pf.tree ?? {};
    rows.push(['tree', `${t.processes ?? '?'} process${t.processes === 1 ? '' : 'es'}, ${t.threads ?? '?'} thread${t.threads === 1 ? '' : 's'}, ${t.files ?? '?'} files`]);
    rows.push(['memory', fmtBytes(t.memoryBytes)]);
    if (typeof pf.precopy === 'boolean') rows.push(['pre-copy', pf.precopy ? 'yes (dirty tracking on the source)' : 'no: stop and copy']);
    if (pf.tcp) rows.push(['TCP', `${pf.tcp.connections} connection${pf.tcp.connections === 1 ? '' : 's'}${pf.tcp.addresses && pf.tcp.addresses.length ? ` on ${pf.tcp.addresses.join(', ')}` : ''}`]);
    if (pf.source) rows.push(['source', `${pf.source.host ?? ''} · ${pf.source.kernel ?? ''}${pf.source.tracking ? ` · ${pf.source.tracking}` : ''}`]);
    if (pf.destination) rows.push(['destination', `${pf.destination.host ?? ''} · ${pf.destination.kernel ?? ''} · ${fmtBytes(pf.destination.freeMemoryBytes)} free memory, ${fmtBytes(pf.destination.freeDiskBytes)} free disk`]);
  }
  replace(box,
    el('div', { class: 'pf-head' },
      el('span', { class: `badge ${ok ? 'ok' : 'bad'}`, testid: 'preflight-status' }, ok ? 'preflight ok' : 'refused'),
      el('span', { class: 'small muted' }, ok ? ' the migration can go ahead' : ' the migration would not work')),
    report.error && !ok ? el('p', { class: 'error' }, report.error) : null,
    pf && pf.problems && pf.problems.length ? el('ul', { class: 'problems', testid: 'preflight-problems' }, pf.problems.map((p) => el('li', {}, p))) : null,
    (pf?.warnings ?? report.warnings ?? []).length ? el('ul', { class: 'warnings', testid: 'preflight-warnings' }, (pf?.warnings ?? report.warnings).map((w) => el('li', {}, w))) : null,
    rows.length ? el('dl', { class: 'facts small' }, rows.map(([k, v]) => [el('dt', {}, k), el('dd', {}, v)])) : null,
  );
}

async function confirmMigrate() {
  const d = state.dialog;
  if (!d || !d.preflight || !d.preflight.ok) return;
  const req = request();
  if (JSON.stringify(req) !== d.preflight.key) { resetPreflight(); return; }
  d.busy = true;
  updateButtons();
  setError('');
  try {
    const { migration } = await api('POST', '/api/migrations', req);
    upsertHistory(migration);
    upsertRun(migration);
    state.dialog = null;
    dialog().close();
    renderProcs();
    const node = state.runs.get(migration.id)?.node;
    if (node) node.scrollIntoView({ block: 'nearest', behavior: 'smooth' });
  } catch (e) {
    setError(`The migration did not start: ${e.message}`);
    d.busy = false;
    updateButtons();
  }
}

function wireDialog() {
  const d = dialog();
  form().addEventListener('submit', (e) => e.preventDefault());
  form().addEventListener('input', () => { setError(''); if (state.dialog && state.dialog.preflight) resetPreflight(); else updateButtons(); });
  form().addEventListener('change', () => { if (state.dialog && state.dialog.preflight && state.dialog.preflight.key !== JSON.stringify(request())) resetPreflight(); else updateButtons(); });
  byTestid('preflight-btn').addEventListener('click', runPreflight);
  byTestid('confirm-btn').addEventListener('click', confirmMigrate);
  byTestid('migrate-close').addEventListener('click', () => d.close());
  d.addEventListener('close', () => { state.dialog = null; });
}

// ---------------------------------------------------------------------------------------------
// Running migrations

function upsertRun(record, progress) {
  let r = state.runs.get(record.id);
  if (!r) {
    if (record.state === 'done' && !progress) return; // ended before we saw it run: the history has it
    r = { record, progress: null, phases: new Set(), node: null, finishedAt: 0 };
    state.runs.set(record.id, r);
  }
  r.record = { ...r.record, ...record };
  if (progress) {
    r.progress = progress;
    r.phases.add(progress.phase);
  }
  if (r.record.state === 'done' && !r.finishedAt) r.finishedAt = Date.now();
  renderRun(r);
  pruneRuns();
}

function pruneRuns() {
  // finished panels stay (with their outcome and a link to the report) until dismissed; at most 5
  const done = [...state.runs.values()].filter((r) => r.finishedAt).sort((a, b) => b.finishedAt - a.finishedAt);
  for (const r of done.slice(5)) dismissRun(r.record.id);
  const box = byTestid('runs');
  const empty = $('.empty', box);
  if (empty) empty.hidden = state.runs.size > 0;
}

function dismissRun(id) {
  const r = state.runs.get(id);
  if (!r) return;
  r.node?.remove();
  state.runs.delete(id);
  pruneRuns();
}

function runNode(r) {
  const id = r.record.id;
  const field = (label, testid) => el('div', { class: 'stat' }, el('div', { class: 'stat-label' }, label), el('div', { class: 'stat-value', testid }, '–'));
  const node = el('article', { class: 'run card', testid: `run-${id}`, 'data-id': id },
    el('div', { class: 'run-head' },
      el('div', {},
        el('strong', { class: 'run-title' }),
        el('span', { class: 'small muted mono run-id' }, ` ${id}`)),
      el('div', { class: 'run-badges' },
        el('span', { class: 'badge info', testid: 'status' }),
        el('button', { type: 'button', class: 'danger small-btn', testid: 'cancel', onclick: () => cancelRun(id) }, 'Cancel'),
        el('button', { type: 'button', class: 'ghost small-btn', testid: 'report-btn', hidden: true, onclick: () => openReport(id) }, 'Report'),
        el('button', { type: 'button', class: 'ghost small-btn', testid: 'dismiss', hidden: true, title: 'remove this panel', onclick: () => dismissRun(id) }, '×'))),
    el('ol', { class: 'steps', testid: 'steps' }, PHASES.map((p) => el('li', { 'data-phase': p }, PHASE_LABEL[p])),
      el('li', { 'data-phase': 'rollback', hidden: true }, PHASE_LABEL.rollback)),
    el('div', { class: 'bar', role: 'progressbar', 'aria-valuemin': '0', 'aria-valuemax': '100' }, el('div', { class: 'bar-fill' })),
    el('div', { class: 'stats' },
      el('div', { class: 'stat' }, el('div', { class: 'stat-label' }, 'Phase'), el('div', { class: 'stat-value', testid: 'phase' }, '–')),
      field('Link', 'iteration'),
      field('Sent', 'sent'),
      field('Left', 'left'),
      field('Dirty rate', 'dirty'),
      field('Bandwidth', 'bandwidth'),
      field('Expected downtime', 'expected'),
      field('Throttle', 'throttle')),
    el('p', { class: 'small run-message', testid: 'message' }),
  );
  return node;
}

function renderRun(r) {
  const box = byTestid('runs');
  if (!r.node) {
    r.node = runNode(r);
    const empty = $('.empty', box);
    box.insertBefore(r.node, empty ? empty.nextSibling : box.firstChild);
  }
  const n = r.node, rec = r.record, p = r.progress;
  const get = (t) => byTestid(t, n);
  setText($('.run-title', n), `PID ${rec.pid}: ${rec.from} → ${rec.to}`);
  const finished = rec.state === 'done';
  n.dataset.state = rec.state;
  if (rec.outcome) n.dataset.outcome = rec.outcome; else delete n.dataset.outcome;
  const st = get('status');
  setText(st, finished ? (rec.outcome ?? 'done') : rec.state);
  st.className = `badge ${finished ? OUTCOME_CLASS[rec.outcome] ?? 'info' : 'running'}`;
  st.dataset.outcome = rec.outcome ?? '';

  // finished: done when it moved; else where it stopped (rollback, or the phase that refused)
  const phase = !finished ? p?.phase ?? rec.state
    : rec.outcome === 'migrated' ? 'done' : r.phases.has('rollback') ? 'rollback' : p?.phase ?? 'done';
  const pe = get('phase');
  setText(pe, PHASE_LABEL[phase] ?? phase);
  pe.dataset.phase = phase;
  n.dataset.phase = phase;
  n.dataset.phases = [...r.phases].join(' ');
  const idx = PHASES.indexOf(phase);
  for (const li of n.querySelectorAll('.steps li')) {
    const i = PHASES.indexOf(li.dataset.phase);
    li.classList.toggle('seen', r.phases.has(li.dataset.phase) || (idx >= 0 && i < idx) || (finished && rec.outcome === 'migrated'));
    li.classList.toggle('current', li.dataset.phase === phase && !finished);
  }
  const rolledBack = phase === 'rollback' || r.phases.has('rollback');
  n.classList.toggle('rolling-back', rolledBack);
  const rb = $('.steps li[data-phase="rollback"]', n);
  rb.hidden = !rolledBack;
  rb.classList.toggle('current', phase === 'rollback' && !finished);

  if (p) {
    const iterText = p.phase === 'precopy' ? `pre-${p.iteration}` : ['freeze', 'restore', 'resume', 'cleanup', 'done'].includes(p.phase) ? 'final' : '–';
    setText(get('iteration'), iterText);
    setText(get('sent'), fmtBytes(p.sent));
    const left = get('left');
    setText(left, p.left || p.sent ? fmtBytes(p.left) : '–');
    left.dataset.bytes = String(p.left ?? 0);
    setText(get('dirty'), p.dirtyRate ? fmtRate(p.dirtyRate) : '–');
    setText(get('bandwidth'), p.bandwidth ? fmtRate(p.bandwidth) : '–');
    setText(get('expected'), p.expectedDowntimeMs ? fmtMs(p.expectedDowntimeMs) : '–');
    setText(get('throttle'), p.throttle ? `${p.throttle}%` : '–');
    if (p.message) setText(get('message'), p.message);
    const total = (p.sent ?? 0) + (p.left ?? 0);
    const pct = total > 0 ? Math.round((100 * p.sent) / total) : 0;
    $('.bar-fill', n).style.width = `${pct}%`;
    $('.bar', n).setAttribute('aria-valuenow', String(pct));
  }
  if (finished) {
    if (rec.outcome === 'migrated') {
      $('.bar-fill', n).style.width = '100%';
      const dt = rec.downtimeMs ?? rec.report?.downtime?.totalMs;
      setText(get('message'), `Moved to ${rec.to}${typeof dt === 'number' ? ` with ${fmtMs(dt)} of downtime` : ''}${rec.startedAt && rec.endedAt ? ` in ${fmtMs(rec.endedAt - rec.startedAt)}` : ''}.`);
    } else if (rec.error) {
      setText(get('message'), rec.error);
    }
  }
  get('cancel').hidden = finished;
  // past the commit point a cancel cannot roll back
  get('cancel').disabled = !finished && (phase === 'resume' || phase === 'cleanup' || phase === 'done' || phase === 'rollback');
  get('report-btn').hidden = !finished;
  get('dismiss').hidden = !finished;
}

async function cancelRun(id) {
  const r = state.runs.get(id);
  if (!r) return;
  const b = byTestid('cancel', r.node);
  b.disabled = true;
  setText(b, 'Cancelling…');
  try {
    await api('POST', `/api/migrations/${encodeURIComponent(id)}/cancel`, {});
    setText(byTestid('message', r.node), 'Cancel requested: rolling back…');
  } catch (e) {
    setText(byTestid('message', r.node), `Cannot cancel: ${e.message}`);
    b.disabled = false;
  }
  setText(b, 'Cancel');
}

/** a migration we follow that the event stream has not finished (after a reconnect, say) */
const refreshing = new Set();
async function refreshRun(id) {
  if (refreshing.has(id)) return;
  refreshing.add(id);
  try {
    const data = await api('GET', `/api/migrations/${encodeURIComponent(id)}`);
    upsertHistory(data.migration);
    upsertRun(data.migration, data.progress);
  } catch { /* stays as it is */ } finally { refreshing.delete(id); }
}

// ---------------------------------------------------------------------------------------------
// History

async function loadHistory() {
  try {
    const data = await api('GET', `/api/migrations?limit=${state.historyLimit}`);
    // what the stream told us meanwhile may be newer than this list: merge, keep the most advanced
    const rank = (m) => (m.state === 'done' ? 2 : m.state === 'running' ? 1 : 0);
    const fetched = data.migrations ?? [];
    const oldest = Math.min(...fetched.map((m) => m.createdAt ?? 0));
    const known = new Map(state.history.map((m) => [m.id, m]));
    const merged = fetched.map((m) => {
      const k = known.get(m.id);
      return k && rank(k) > rank(m) ? k : { ...m, ...(k && k.report ? { report: k.report } : {}) };
    });
    const ids = new Set(fetched.map((m) => m.id));
    for (const m of state.history) if (!ids.has(m.id) && (m.state !== 'done' || (m.createdAt ?? 0) >= oldest)) merged.push(m);
    merged.sort((a, b) => (b.createdAt ?? 0) - (a.createdAt ?? 0));
    state.history = merged;
    state.historyError = null;
  } catch (e) {
    state.historyError = e.message;
  }
  renderHistory();
}

function upsertHistory(rec) {
  const i = state.history.findIndex((m) => m.id === rec.id);
  if (i >= 0) state.history[i] = { ...state.history[i], ...rec };
  else state.history.unshift(rec);
  state.history.sort((a, b) => (b.createdAt ?? 0) - (a.createdAt ?? 0));
  renderHistory();
}

function renderHistory() {
  const box = byTestid('history');
  if (state.historyError && !state.history.length) { replace(box, el('p', { class: 'error' }, `Cannot load the history: ${state.historyError}`)); return; }
  if (!state.history.length) { replace(box, el('p', { class: 'muted' }, 'No migrations yet.')); return; }
  replace(box, el('div', { class: 'table-wrap' },
    el('table', { class: 'history-table' },
      el('thead', {}, el('tr', {},
        el('th', {}, 'Started'), el('th', { class: 'num' }, 'PID'), el('th', {}, 'From → to'), el('th', {}, 'Outcome'),
        el('th', { class: 'num' }, 'Downtime'), el('th', { class: 'num' }, 'Bytes'), el('th', { class: 'num' }, 'Took'), el('th', {}, ''))),
      el('tbody', {}, state.history.map((m) => {
        const outcome = m.state === 'done' ? m.outcome ?? 'done' : m.state;
        return el('tr', {
          testid: `hist-${m.id}`, 'data-id': m.id, 'data-outcome': m.outcome ?? '', 'data-state': m.state, tabindex: '0',
          class: `clickable${state.reportId === m.id ? ' selected' : ''}`,
          onclick: () => openReport(m.id),
          onkeydown: (e) => { if (e.key === 'Enter') openReport(m.id); },
        },
        el('td', { title: m.id }, fmtTime(m.startedAt ?? m.createdAt)),
        el('td', { class: 'num mono' }, m.pid),
        el('td', {}, `${m.from} → ${m.to}`),
        el('td', {}, el('span', { class: `badge ${m.state === 'done' ? OUTCOME_CLASS[m.outcome] ?? 'info' : 'running'}`, testid: 'outcome' }, outcome)),
        el('td', { class: 'num' }, typeof m.downtimeMs === 'number' ? fmtMs(m.downtimeMs) : '–'),
        el('td', { class: 'num' }, typeof m.bytes === 'number' ? fmtBytes(m.bytes) : '–'),
        el('td', { class: 'num' }, m.startedAt && m.endedAt ? fmtMs(m.endedAt - m.startedAt) : '–'),
        el('td', { class: 'act' }, el('button', { type: 'button', class: 'ghost small-btn', testid: 'report-btn', onclick: (e) => { e.stopPropagation(); openReport(m.id); } }, 'Report')));
      })))),
  state.history.length >= state.historyLimit
    ? el('button', { type: 'button', class: 'ghost', testid: 'history-more', onclick: () => { state.historyLimit += 50; loadHistory(); } }, 'Show more')
    : null);
}

// ---------------------------------------------------------------------------------------------
// Report

let reportSeq = 0;

async function openReport(id) {
  state.reportId = id;
  const panel = byTestid('report');
  panel.hidden = false;
  panel.dataset.id = id;
  for (const tr of document.querySelectorAll('.history-table tbody tr')) tr.classList.toggle('selected', tr.dataset.id === id);
  const body = $('.report-body', panel);
  const seq = ++reportSeq;
  if (panel.dataset.loaded !== id) replace(body, el('p', { class: 'muted' }, 'Loading…'));
  panel.scrollIntoView({ block: 'start', behavior: 'smooth' });
  try {
    const data = await api('GET', `/api/migrations/${encodeURIComponent(id)}`);
    if (seq !== reportSeq) return;
    upsertHistory(data.migration);
    renderReport(body, data);
    panel.dataset.loaded = id;
    panel.dataset.state = data.migration.state;
  } catch (e) {
    if (seq !== reportSeq) return;
    replace(body, el('p', { class: 'error' }, `Cannot load migration ${id}: ${e.message}`));
  }
}

function closeReport() {
  state.reportId = null;
  const panel = byTestid('report');
  panel.hidden = true;
  delete panel.dataset.loaded;
  for (const tr of document.querySelectorAll('.history-table tbody tr.selected')) tr.classList.remove('selected');
}

function renderReport(body, data) {
  const m = data.migration, rep = m.report;
  const facts = [
    ['migration', m.id],
    ['process', `PID ${m.pid} on ${m.from}${rep && rep.destinationPid && rep.destinationPid !== m.pid ? ` → PID ${rep.destinationPid} on ${m.to}` : ` → ${m.to}`}`],
    ['created', fmtTime(m.createdAt)],
  ];
  if (m.startedAt && m.endedAt) facts.push(['took', fmtMs(m.endedAt - m.startedAt)]);
  if (rep) {
    facts.push(['total', fmtMs(rep.totalMs)], ['pre-copy', fmtMs(rep.precopyMs)]);
    if (rep.downtime) facts.push(['downtime', fmtMs(rep.downtime.totalMs)]);
    const pages = (rep.iterations ?? []).reduce((s, i) => s + i.pagesBytes, 0) + (rep.final?.pagesBytes ?? 0);
    const wire = (rep.iterations ?? []).reduce((s, i) => s + i.wireBytes, 0) + (rep.final?.wireBytes ?? 0);
    facts.push(['memory sent', `${fmtBytes(pages)} in ${(rep.iterations ?? []).length} pre-copy link${(rep.iterations ?? []).length === 1 ? '' : 's'}${rep.final ? ' + final' : ''}`]);
    const ratio = rep.compressionRatio;
    facts.push(['on the wire', `${fmtBytes(wire)}${typeof ratio === 'number' && ratio > 0 && ratio < 0.98 ? ` (compressed to ${Math.round(ratio * 100)} %)` : ''}`]);
    if (rep.convergedBecause) facts.push(['converged', rep.convergedBecause]);
    if (rep.builtAheadBytes) facts.push(['built ahead', fmtBytes(rep.builtAheadBytes)]);
    if (rep.network) facts.push(['network', `${rep.network.connections} TCP connection${rep.network.connections === 1 ? '' : 's'}${rep.network.movedIps && rep.network.movedIps.length ? `, moved ${rep.network.movedIps.join(', ')}` : ''}`]);
  } else if (typeof m.downtimeMs === 'number') {
    facts.push(['downtime', fmtMs(m.downtimeMs)]);
  }
  const opts = m.options && typeof m.options === 'object' ? Object.entries(m.options).filter(([k]) => !['pid', 'from', 'to'].includes(k)) : [];
  if (opts.length) facts.push(['options', opts.map(([k, v]) => `${k}=${Array.isArray(v) ? v.join(',') : v}`).join(' ')]);

  const outcome = m.state === 'done' ? m.outcome ?? 'done' : m.state;
  const events = Array.isArray(data.events) ? data.events : [];
  const pf = rep && rep.preflight;
  replace(body,
    el('div', { class: 'report-head' },
      el('strong', {}, `PID ${m.pid}: ${m.from} → ${m.to}`),
      el('span', { class: `badge ${m.state === 'done' ? OUTCOME_CLASS[m.outcome] ?? 'info' : 'running'}`, testid: 'report-outcome', 'data-outcome': m.outcome ?? '' }, outcome)),
    m.state !== 'done' ? el('p', { class: 'muted' }, 'This migration is still running: its report comes when it ends (see the running panel above).') : null,
    m.error || rep?.error ? el('p', { class: 'error', testid: 'report-error' }, m.error || rep.error) : null,
    el('dl', { class: 'facts' }, facts.map(([k, v]) => [el('dt', {}, k), el('dd', {}, v)])),
    rep ? el('div', { class: 'charts' },
      el('figure', { class: 'chart', testid: 'chart-downtime' },
        el('figcaption', {}, 'Downtime by phase', rep.downtime ? el('span', { class: 'muted' }, ` · ${fmtMs(rep.downtime.totalMs)} in all`) : null),
        rep.downtime ? downtimeChart(rep.downtime) : el('p', { class: 'muted small' }, 'No downtime: the process was not frozen for a move.')),
      el('figure', { class: 'chart', testid: 'chart-iterations' },
        el('figcaption', {}, 'Bytes per pre-copy link'),
        (rep.iterations ?? []).length || rep.final ? iterationsChart(rep.iterations ?? [], rep.final) : el('p', { class: 'muted small' }, 'No memory was sent.'))) : null,
    rep && rep.warnings && rep.warnings.length ? el('div', {}, el('h3', {}, 'Warnings'), el('ul', { class: 'warnings' }, rep.warnings.map((w) => el('li', {}, w)))) : null,
    pf ? el('details', { class: 'sub' },
      el('summary', {}, `Preflight: ${pf.ok ? 'ok' : 'refused'}`),
      pf.problems && pf.problems.length ? el('ul', { class: 'problems' }, pf.problems.map((p) => el('li', {}, p))) : null,
      el('dl', { class: 'facts small' },
        el('dt', {}, 'tree'), el('dd', {}, `${pf.tree?.processes ?? '?'} processes, ${pf.tree?.threads ?? '?'} threads, ${fmtBytes(pf.tree?.memoryBytes)}, ${pf.tree?.files ?? '?'} files`),
        pf.source ? [el('dt', {}, 'source'), el('dd', {}, `${pf.source.host} · ${pf.source.kernel} · ${pf.source.tracking}`)] : null,
        pf.destination ? [el('dt', {}, 'destination'), el('dd', {}, `${pf.destination.host} · ${pf.destination.kernel}`)] : null)) : null,
    rep && (rep.iterations ?? []).length ? el('details', { class: 'sub' },
      el('summary', {}, 'Pre-copy links'),
      el('div', { class: 'table-wrap' }, el('table', { class: 'small' },
        el('thead', {}, el('tr', {}, ['link', 'pages', 'wire', 'time', 'throughput', 'throttle'].map((h, i) => el('th', { class: i ? 'num' : '' }, h)))),
        el('tbody', {}, rep.iterations.map((it, i) => el('tr', {},
          el('td', { class: 'mono', title: it.link }, `pre-${i + 1}`),
          el('td', { class: 'num' }, fmtBytes(it.pagesBytes)), el('td', { class: 'num' }, fmtBytes(it.wireBytes)),
          el('td', { class: 'num' }, fmtMs(it.ms)), el('td', { class: 'num' }, fmtRate(it.throughput)),
          el('td', { class: 'num' }, it.throttle ? `${it.throttle}%` : '–'))))))) : null,
    events.length ? el('details', { class: 'sub' },
      el('summary', {}, `Events (${events.length})`),
      el('ol', { class: 'events small' }, events.map((e) => el('li', {},
        el('span', { class: 'mono muted' }, fmtTime(e.at)), ' ', el('strong', {}, PHASE_LABEL[e.phase] ?? e.phase ?? ''), e.message ? ` ${e.message}` : '')))) : null,
  );
}

// ---------------------------------------------------------------------------------------------
// Charts: inline SVG

const DOWNTIME_PARTS = [
  ['dump', 'dumpMs', 'dump'], ['transfer', 'transferMs', 'transfer'], ['restore', 'restoreMs', 'restore'],
  ['handover', 'handoverMs', 'address handover'], ['resume', 'resumeMs', 'resume'], ['other', 'otherMs', 'other'],
];

/** a horizontal stacked bar of the downtime's phases, with their ms */
function downtimeChart(dt) {
  const W = 640, H = 64, X0 = 8, BAR_Y = 18, BAR_H = 26;
  const parts = DOWNTIME_PARTS.map(([key, field, label]) => ({ key, label, ms: Math.max(0, Number(dt[field]) || 0) }));
  const sum = parts.reduce((s, p) => s + p.ms, 0) || 1;
  const width = W - 2 * X0;
  let x = X0;
  const segs = [];
  for (const p of parts) {
    if (p.ms <= 0) continue;
    const w = Math.max(1.5, (p.ms / sum) * width);
    const label = `${p.label} ${fmtMs(p.ms)}`;
    segs.push(svg('g', {},
      svg('rect', { x: x.toFixed(2), y: BAR_Y, width: w.toFixed(2), height: BAR_H, class: `seg seg-${p.key}`, 'data-seg': p.key, 'data-ms': p.ms }, svg('title', {}, label)),
      // the ms inside the segment when it fits, else the legend says it
      w > 54 ? svg('text', { x: (x + w / 2).toFixed(2), y: BAR_Y + BAR_H / 2 + 4, class: 'seg-label', 'text-anchor': 'middle' }, fmtMs(p.ms)) : null));
    x += w;
  }
  const chart = svg('svg', { viewBox: `0 0 ${W} ${H}`, class: 'svg-chart', role: 'img', 'aria-label': `downtime ${fmtMs(dt.totalMs)}: ${parts.map((p) => `${p.label} ${fmtMs(p.ms)}`).join(', ')}` },
    svg('text', { x: X0, y: 12, class: 'axis-label' }, '0'),
    svg('text', { x: W - X0, y: 12, class: 'axis-label', 'text-anchor': 'end' }, fmtMs(dt.totalMs ?? sum)),
    segs,
    svg('line', { x1: X0, x2: W - X0, y1: BAR_Y + BAR_H + 6, y2: BAR_Y + BAR_H + 6, class: 'axis' }));
  const legend = el('ul', { class: 'legend' }, parts.map((p) => el('li', { class: p.ms > 0 ? '' : 'zero', 'data-seg': p.key },
    el('span', { class: `swatch seg-${p.key}` }), ` ${p.label} `, el('span', { class: 'mono' }, fmtMs(p.ms)))));
  return [chart, legend];
}

function niceStep(max, ticks) {
  const raw = max / ticks;
  const mag = 2 ** Math.floor(Math.log2(raw));
  for (const m of [1, 2, 4, 8]) if (mag * m >= raw) return mag * m;
  return mag * 8;
}

/** pagesBytes and wireBytes of each link: pre-1, pre-2, …, final */
function iterationsChart(iterations, final) {
  const links = iterations.map((it, i) => ({ label: `pre-${i + 1}`, pages: it.pagesBytes ?? 0, wire: it.wireBytes ?? 0, title: it.link }));
  if (final) links.push({ label: 'final', pages: final.pagesBytes ?? 0, wire: final.wireBytes ?? 0, title: 'the final dump' });
  const W = 640, H = 240, L = 70, R = 10, T = 14, B = 30;
  const max = Math.max(1, ...links.flatMap((l) => [l.pages, l.wire]));
  const step = niceStep(max, 4);
  const top = Math.ceil(max / step) * step;
  const plotW = W - L - R, plotH = H - T - B;
  const y = (v) => T + plotH - (v / top) * plotH;
  const group = plotW / links.length;
  const bw = Math.max(1, Math.min(36, (group * 0.8) / 2));
  const every = Math.ceil(links.length / 16);
  const grid = [];
  for (let v = 0; v <= top + 1e-9; v += step) {
    grid.push(svg('line', { x1: L, x2: W - R, y1: y(v).toFixed(1), y2: y(v).toFixed(1), class: v === 0 ? 'axis' : 'gridline' }));
    grid.push(svg('text', { x: L - 6, y: (y(v) + 4).toFixed(1), class: 'axis-label', 'text-anchor': 'end' }, fmtBytes(v)));
  }
  const bars = links.map((l, i) => {
    const cx = L + group * i + group / 2;
    const bar = (kind, v, x) => {
      const h = Math.max(v > 0 ? 1 : 0, (v / top) * plotH);
      return svg('rect', { x: x.toFixed(2), y: (T + plotH - h).toFixed(2), width: bw.toFixed(2), height: h.toFixed(2), class: `bar-${kind}`, 'data-bar': kind, 'data-link': l.label, 'data-bytes': v },
        svg('title', {}, `${l.label} ${kind === 'pages' ? 'pages' : 'on the wire'}: ${fmtBytes(v)}`));
    };
    return svg('g', { 'data-link': l.label },
      svg('title', {}, l.title),
      bar('pages', l.pages, cx - bw),
      bar('wire', l.wire, cx),
      links.length <= 8 && l.pages > 0 ? svg('text', { x: cx.toFixed(2), y: (y(Math.max(l.pages, l.wire)) - 4).toFixed(1), class: 'bar-label', 'text-anchor': 'middle' }, fmtBytes(l.pages)) : null,
      i % every === 0 || i === links.length - 1 ? svg('text', { x: cx.toFixed(2), y: H - B + 16, class: 'axis-label', 'text-anchor': 'middle' }, l.label) : null);
  });
  const chart = svg('svg', { viewBox: `0 0 ${W} ${H}`, class: 'svg-chart', role: 'img', 'aria-label': `bytes per link: ${links.map((l) => `${l.label} ${fmtBytes(l.pages)}`).join(', ')}` }, grid, bars);
  const legend = el('ul', { class: 'legend' },
    el('li', {}, el('span', { class: 'swatch bar-pages' }), ' memory pages'),
    el('li', {}, el('span', { class: 'swatch bar-wire' }), ' on the wire'));
  return [chart, legend];
}

// ---------------------------------------------------------------------------------------------
// The event stream

let ws = null, attempt = 0, reconnectTimer = 0;

function connect() {
  clearTimeout(reconnectTimer);
  const url = `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/api/events`;
  setConn(attempt ? 'reconnecting' : 'connecting', attempt ? 'reconnecting…' : 'connecting…');
  let sock;
  try { sock = new WebSocket(url); } catch { scheduleReconnect(); return; }
  ws = sock;
  sock.addEventListener('open', () => {
    attempt = 0;
    setConn('live', 'live');
    showBanner('');
  });
  sock.addEventListener('message', (ev) => {
    let msg;
    try { msg = JSON.parse(ev.data); } catch { return; }
    try { onEvent(msg); } catch (e) { console.error('godwit dashboard: event', msg, e); }
  });
  sock.addEventListener('close', () => {
    if (ws !== sock) return;
    ws = null;
    scheduleReconnect();
  });
}

function scheduleReconnect() {
  // 0.5 s, 1 s, 2 s … up to 15 s, with jitter so that many pages do not come back at once
  const delay = Math.min(15_000, 500 * 2 ** attempt) * (0.75 + Math.random() * 0.5);
  attempt++;
  setConn('down', `disconnected · retrying in ${Math.ceil(delay / 1000)} s`);
  reconnectTimer = setTimeout(connect, delay);
}

function onEvent(msg) {
  switch (msg.type) {
    case 'hello': {
      setHosts(msg.hosts ?? []);
      const running = new Set();
      for (const m of msg.running ?? []) {
        running.add(m.id);
        upsertHistory(m);
        upsertRun(m);
        refreshRun(m.id); // its progress so far
      }
      // what ended while we were away
      for (const [id, r] of state.runs) if (r.record.state !== 'done' && !running.has(id)) refreshRun(id);
      loadHistory();
      if (state.selected) loadProcs(state.selected);
      break;
    }
    case 'hosts':
      setHosts(msg.hosts ?? []);
      break;
    case 'migration': {
      const m = msg.migration;
      if (!m || !m.id) break;
      const wasRunning = state.runs.get(m.id)?.record.state;
      upsertHistory(m);
      upsertRun(m);
      if (m.state === 'done') {
        if (state.reportId === m.id) openReport(m.id);
        // the process moved (or not): the lists of both ends changed
        if (wasRunning !== 'done' && state.selected && (state.selected === m.from || state.selected === m.to)) loadProcs(state.selected);
      }
      renderProcs();
      break;
    }
    case 'progress': {
      const r = state.runs.get(msg.id);
      if (r) upsertRun(r.record, msg.progress);
      else {
        const h = state.history.find((m) => m.id === msg.id);
        if (h && h.state !== 'done') upsertRun({ ...h, state: 'running' }, msg.progress);
        else if (!h) refreshRun(msg.id);
      }
      break;
    }
    default:
      break;
  }
}

// ---------------------------------------------------------------------------------------------
// Start

function start() {
  wireDialog();
  byTestid('proc-refresh').addEventListener('click', () => { if (state.selected) loadProcs(state.selected); });
  byTestid('proc-filter').addEventListener('input', (e) => { state.procFilter = e.target.value; renderProcs(); });
  byTestid('history-refresh').addEventListener('click', loadHistory);
  byTestid('report-close').addEventListener('click', closeReport);
  setInterval(tickAges, 1000);
  // the page works from the plain API too, before (or without) the event stream
  api('GET', '/api/hosts').then((d) => { if (!state.hostsOrder.length) setHosts(d.hosts ?? []); }).catch((e) => {
    if (e.status !== 401) replace(byTestid('hosts'), el('p', { class: 'error' }, `Cannot load the hosts: ${e.message}`));
  });
  loadHistory();
  connect();
  window.godwitDashboard = { state, fmtBytes, fmtMs };
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
else start();
