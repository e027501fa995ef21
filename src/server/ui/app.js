// The status page. Plain script, no build step and no library: it is served as is by the
// keeper, under a CSP that allows only this file. It never sees a token: the data endpoint
// has none to give.
'use strict';

const SVG = 'http://www.w3.org/2000/svg';
const DAY_MS = 86400000;
const $ = (id) => document.getElementById(id);

let state = null;
/** Server time minus ours, so countdowns are right on a phone whose clock is off. */
let skew = 0;
let source = null;
/** The last action's outcome per account: cards are rebuilt on every update, the message must survive. */
const outcomes = new Map();

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

function svg(tag, attrs) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  return node;
}

// --- time ---

const now = () => Date.now() + skew;
const localZone = Intl.DateTimeFormat().resolvedOptions().timeZone;

function fmt(ms, zone) {
  const sameDay = new Date(ms).toDateString() === new Date(now()).toDateString();
  const opts = { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false };
  if (!sameDay) Object.assign(opts, { weekday: 'short', day: 'numeric', month: 'short' });
  if (zone) opts.timeZone = zone;
  return new Intl.DateTimeFormat(undefined, opts).format(new Date(ms));
}

/** "14:05:12 (IST 18:35:12)": the viewer's zone first, IST beside it unless they are the same. */
function both(ms) {
  const wrap = el('span', {}, fmt(ms));
  const ist = state ? state.timezone : 'Asia/Kolkata';
  if (localZone !== ist) wrap.append(' ', el('span', { class: 'ist', text: `(IST ${fmt(ms, ist)})` }));
  return wrap;
}

function human(ms) {
  const neg = ms < 0;
  let s = Math.floor(Math.abs(ms) / 1000);
  const d = Math.floor(s / 86400);
  s -= d * 86400;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  const parts = [];
  if (d) parts.push(`${d}d`);
  if (h) parts.push(`${h}h`);
  if (m && !d) parts.push(`${m}m`);
  if (!d && !h) parts.push(`${s}s`);
  return neg ? `${parts.join(' ')} ago` : `in ${parts.join(' ')}`;
}

/** A relative time that the once-a-second tick keeps current. */
function rel(ms) {
  return el('span', { class: 'rel', 'data-at': ms, text: human(ms - now()) });
}

// --- rendering ---

function renderKeeper(k) {
  const box = $('keeper');
  box.replaceChildren();
  const item = (label, value) => el('span', {}, el('span', { class: 'k', text: `${label} ` }), value);
  box.append(
    item('version', k.version),
    item('up', human(-k.uptimeSeconds * 1000).replace(' ago', '')),
    item('role', k.role),
    item('clock vs Dhan', k.clockSkewMs === null ? 'not measured yet' : `${(k.clockSkewMs / 1000).toFixed(1)} s`),
  );
  const sinks = el('div', { class: 'sinks' }, el('span', { class: 'k', text: 'sinks' }));
  if (k.sinks.length === 0) sinks.append(el('span', { text: 'none ran yet' }));
  for (const s of k.sinks) {
    sinks.append(
      el(
        'span',
        { class: s.ok ? '' : 'error' },
        `${s.clientId} ${s.sink}: ${s.ok ? 'ok' : `failed${s.error ? ` (${s.error})` : ''}`} `,
        rel(s.at),
      ),
    );
  }
  box.append(sinks);
  box.hidden = false;
}

function lifeBar(a) {
  const wrap = el('div', { class: 'life' });
  if (a.obtainedAt === null || a.expiresAt === null) {
    wrap.append(el('p', { class: 'marks', text: 'no token yet' }));
    return wrap;
  }
  const start = a.obtainedAt;
  const span = Math.max(1, a.expiresAt - start);
  const x = (ms) => Math.min(1000, Math.max(0, ((ms - start) / span) * 1000));
  const bar = svg('svg', {
    viewBox: '0 0 1000 18',
    preserveAspectRatio: 'none',
    height: 18,
    role: 'img',
    'aria-label': 'token life: obtained, now, planned refresh, expiry',
  });
  const t = now();
  const plan = a.nextActionAt !== null && a.nextActionAt < a.expiresAt ? a.nextActionAt : null;
  const dead = t >= a.expiresAt;
  bar.append(svg('rect', { x: 0, y: 3, width: x(t), height: 12, class: dead ? 'dead' : 'used' }));
  if (!dead) {
    const planX = plan === null ? 1000 : x(plan);
    bar.append(svg('rect', { x: x(t), y: 3, width: Math.max(0, planX - x(t)), height: 12, class: 'ahead' }));
    bar.append(
      svg('rect', {
        x: Math.max(planX, x(t)),
        y: 3,
        width: Math.max(0, 1000 - Math.max(planX, x(t))),
        height: 12,
        class: 'late',
      }),
    );
  }
  const nowLine = svg('line', { x1: x(t), x2: x(t), y1: 0, y2: 18, class: 'now' });
  nowLine.dataset.nowFor = a.clientId;
  bar.append(nowLine);
  if (plan !== null) bar.append(svg('line', { x1: x(plan), x2: x(plan), y1: 0, y2: 18, class: 'plan' }));
  wrap.append(bar);
  const marks = el(
    'div',
    { class: 'marks' },
    el('span', {}, 'obtained ', both(a.obtainedAt)),
    plan !== null ? el('span', {}, 'refresh ', both(plan)) : null,
    el('span', {}, 'expires ', both(a.expiresAt)),
  );
  wrap.append(marks);
  return wrap;
}

function timeline(a) {
  const fig = el('figure', { class: 'timeline' }, el('figcaption', { text: 'last 7 days (hover or tap a mark)' }));
  const { from, to } = state.window;
  const x = (ms) => ((ms - from) / (to - from)) * 1000;
  const chart = svg('svg', {
    viewBox: '0 0 1000 40',
    preserveAspectRatio: 'none',
    height: 40,
    role: 'img',
    'aria-label': `${a.events.length} events in the last 7 days`,
  });
  chart.append(svg('rect', { x: 0, y: 0, width: 1000, height: 40, class: 'bg' }));
  for (const w of a.avoid)
    chart.append(
      svg('rect', { x: x(w.start), y: 0, width: Math.max(1, x(w.end) - x(w.start)), height: 40, class: 'avoid' }),
    );
  for (let d = Math.ceil(from / DAY_MS) * DAY_MS; d < to; d += DAY_MS)
    chart.append(svg('line', { x1: x(d), x2: x(d), y1: 0, y2: 40, class: 'day' }));
  // Shapes differ by kind as well as colour, so the chart reads without colour too.
  const shape = { swap: [4, 32, 5], failure: [2, 14, 6], dead: [24, 14, 6], stop: [0, 40, 9], lift: [0, 40, 5] };
  a.events.forEach((e, i) => {
    const [y, h, w] = shape[e.mark] || [10, 20, 3];
    chart.append(
      svg('rect', { x: x(e.at) - w / 2, y, width: w, height: h, class: e.mark === 'stop' ? 'stopmark' : e.mark }),
    );
    const hit = svg('rect', { x: x(e.at) - 7, y: 0, width: 14, height: 40, class: 'hit', 'data-i': i });
    const title = svg('title', {});
    title.textContent = `${e.label} at ${fmt(e.at)}`;
    hit.append(title);
    chart.append(hit);
  });
  chart.addEventListener('pointerover', (ev) => tip(ev, a));
  chart.addEventListener('click', (ev) => tip(ev, a));
  chart.addEventListener('pointerleave', () => ($('tip').hidden = true));
  const days = el('div', { class: 'days' }, el('span', { text: fmt(from).split(',')[0] }), el('span', { text: 'now' }));
  fig.append(chart, days);
  return fig;
}

function tip(ev, a) {
  const i = ev.target && ev.target.getAttribute && ev.target.getAttribute('data-i');
  const box = $('tip');
  if (i === null || i === undefined) return;
  const e = a.events[Number(i)];
  if (!e) return;
  box.replaceChildren(
    el('strong', { text: e.label }),
    el('br'),
    both(e.at),
    e.message ? el('div', { text: e.message }) : null,
  );
  box.hidden = false;
  // CSSOM, not a style attribute: the CSP allows only our stylesheet.
  box.style.left = `${Math.min(ev.clientX + 10, window.innerWidth - box.offsetWidth - 8)}px`;
  box.style.top = `${ev.clientY + 14}px`;
}

const ACTIONS = {
  renew: 'Renew the token now? Dhan kills the old token at once; the bots get the new one.',
  generate: 'Generate a fresh token now with the PIN and TOTP? The old token dies at once.',
  reset: 'Leave the stop and resume automatic refresh? Do this after fixing the cause.',
};

function actions(a) {
  if (!state.viewer.canAct.includes(a.clientId)) return null;
  const box = el('div', { class: 'actions' });
  const last = outcomes.get(a.clientId);
  const out = el('span', {
    class: last && last.bad ? 'outcome bad' : 'outcome',
    role: 'status',
    text: last ? last.text : '',
  });
  for (const action of Object.keys(ACTIONS)) {
    const b = el('button', { type: 'button', 'data-action': action, text: action[0].toUpperCase() + action.slice(1) });
    if (action === 'reset' && a.state !== 'attention') b.disabled = true;
    b.addEventListener('click', () => confirmAndRun(a, action, out));
    box.append(b);
  }
  box.append(out);
  return box;
}

function confirmAndRun(a, action, out) {
  const dialog = $('confirm');
  $('confirm-text').textContent = `${a.name} (${a.clientId}): ${ACTIONS[action]}`;
  $('confirm-ok').textContent = action[0].toUpperCase() + action.slice(1);
  dialog.returnValue = '';
  dialog.onclose = async () => {
    if (dialog.returnValue !== 'ok') return;
    const show = (text, bad) => {
      outcomes.set(a.clientId, { text, bad });
      const live = document.querySelector(`article[data-client="${a.clientId}"] .outcome`);
      for (const node of [out, live]) {
        if (!node) continue;
        node.className = bad ? 'outcome bad' : 'outcome';
        node.textContent = text;
      }
    };
    show(`${action}: sent to the keeper…`, false);
    const headers = state.viewer.csrf ? { 'x-csrf-token': state.viewer.csrf } : {};
    try {
      const res = await fetch(`/v1/ui/actions/${encodeURIComponent(a.clientId)}/${action}`, {
        method: 'POST',
        headers,
        credentials: 'same-origin',
      });
      const body = await res.json().catch(() => ({}));
      show(`${action}: ${body.message || res.status}`, !res.ok);
    } catch (err) {
      show(`${action}: the keeper did not answer (${err.message})`, true);
    }
  };
  dialog.showModal();
}

function account(a) {
  const card = el('article', {
    class: `account c-${a.colour}`,
    'data-client': a.clientId,
    'data-state': a.state,
    'data-obtained': a.obtainedAt,
  });
  card.append(
    el(
      'div',
      { class: 'head' },
      el('h2', {}, `${a.name} `, el('span', { class: 'cid', text: a.clientId })),
      el('span', { class: `badge c-${a.colour}`, text: a.state }),
    ),
  );
  card.append(lifeBar(a));
  const facts = el('dl', { class: 'facts' });
  const fact = (k, ...v) => facts.append(el('dt', { text: k }), el('dd', {}, ...v));
  if (a.expiresAt !== null) fact('expires', both(a.expiresAt), ' ', rel(a.expiresAt));
  if (a.nextAction)
    fact(
      'next',
      a.nextAction,
      a.nextActionAt !== null ? ' · ' : '',
      a.nextActionAt !== null ? both(a.nextActionAt) : '',
      ' ',
      a.nextActionAt !== null ? rel(a.nextActionAt) : '',
    );
  // The stop box below already says it when the last result is the stop itself.
  if (!a.attention || a.lastResult !== `attention: ${a.attention}`)
    fact(
      'last result',
      a.lastResult || '—',
      a.consecutiveFailures > 0 ? ` (${a.consecutiveFailures} failures in a row)` : '',
    );
  fact('source', `${a.source || '—'} · mode ${a.mode}`);
  card.append(facts);
  if (a.attention || a.liftCommand) {
    card.append(
      el(
        'div',
        { class: 'stop' },
        el('strong', { text: a.attention ? 'Stopped: ' : 'Waiting: ' }),
        a.attention || 'no live token, and this mode cannot make one',
        a.liftCommand
          ? el('div', {}, 'to lift it: ', el('code', { class: 'lift-command', text: a.liftCommand }))
          : null,
      ),
    );
  }
  card.append(timeline(a), actions(a));
  return card;
}

function render(next) {
  state = next;
  skew = next.now - Date.now();
  $('login').hidden = true;
  renderKeeper(next.keeper);
  $('logout').hidden = next.viewer.name === null || !next.viewer.csrf;
  $('who').textContent = next.viewer.name === null ? '' : `key ${next.viewer.name}`;
  const list = $('accounts');
  list.replaceChildren(...next.accounts.map(account));
  if (next.accounts.length === 0) list.append(el('p', { text: 'No accounts this key may see.' }));
  document.title = `${next.accounts.every((a) => a.state === 'valid') ? '✓' : '!'} dhan-token-keeper`;
}

function tick() {
  for (const node of document.querySelectorAll('.rel')) node.textContent = human(Number(node.dataset.at) - now());
  if (!state) return;
  for (const a of state.accounts) {
    const line = document.querySelector(`line[data-now-for="${a.clientId}"]`);
    if (!line || a.obtainedAt === null || a.expiresAt === null) continue;
    const px = Math.min(1000, Math.max(0, ((now() - a.obtainedAt) / Math.max(1, a.expiresAt - a.obtainedAt)) * 1000));
    line.setAttribute('x1', px);
    line.setAttribute('x2', px);
  }
}

function conn(text, cls) {
  const c = $('conn');
  c.textContent = text;
  c.className = `conn ${cls}`;
}

function showLogin() {
  if (source) source.close();
  source = null;
  $('login').hidden = false;
  $('keeper').hidden = true;
  $('accounts').replaceChildren();
  $('login-refused').hidden = new URLSearchParams(location.search).get('login') !== 'refused';
  conn('login needed', 'down');
}

async function start() {
  let res;
  try {
    res = await fetch('/v1/ui/state', { credentials: 'same-origin', cache: 'no-store' });
  } catch {
    conn('the keeper does not answer; retrying', 'down');
    setTimeout(start, 3000);
    return;
  }
  if (res.status === 401) return showLogin();
  if (!res.ok) {
    const body = await res.json().catch(() => ({}));
    conn(body.message || `error ${res.status}`, 'down');
    return;
  }
  render(await res.json());
  if (location.search) history.replaceState(null, '', '/');
  source = new EventSource('/v1/ui/events');
  source.addEventListener('state', (ev) => {
    render(JSON.parse(ev.data));
    conn('live', 'live');
  });
  source.addEventListener('open', () => conn('live', 'live'));
  source.addEventListener('error', () => {
    conn('reconnecting…', 'down');
    // A stream that ends with 401 (the session expired) is not retried by EventSource.
    if (source && source.readyState === EventSource.CLOSED) {
      source = null;
      setTimeout(start, 3000);
    }
  });
}

document.addEventListener('DOMContentLoaded', () => {
  setInterval(tick, 1000);
  start();
});
