// Commitments list: filters in the URL, results, pagination, counts per municipality.
import { ready, t, tn } from './i18n.js';
import { get } from './api.js';
import {
  $, h, fill, badge, progress, when, num, qty, pct, problemBox, fact, flag, commitmentFlags, tNodes, STATUSES,
} from './ui.js';
import { credit, sourceOf } from './credits.js';

const LIMIT = 20;
const FIELDS = ['municipality_id', 'theme', 'status', 'q'];
// true/false filters of the API, shown as check boxes (checked: "true"; unchecked: no filter)
const FLAGS = { recorded_late: 'f-recorded-late', amended_after_due_date: 'f-amended-after-due',
  met_only_under_relaxed_terms: 'f-relaxed' };
let munis = new Map();
let munisReady = Promise.resolve();

function readState() {
  const p = new URLSearchParams(location.search);
  const s = { offset: Math.max(0, parseInt(p.get('offset'), 10) || 0) };
  for (const f of FIELDS) s[f] = (p.get(f) || '').trim();
  for (const f of Object.keys(FLAGS)) s[f] = p.get(f) === 'true' ? 'true' : '';
  return s;
}

function href(s) {
  const p = new URLSearchParams();
  for (const f of [...FIELDS, ...Object.keys(FLAGS)]) if (s[f]) p.set(f, s[f]);
  if (s.offset) p.set('offset', s.offset);
  const l = new URLSearchParams(location.search).get('lang');
  if (l) p.set('lang', l);
  const q = p.toString();
  return q ? `/?${q}` : '/';
}

function go(s, focus) {
  history.pushState(null, '', href(s));
  loadResults(focus);
}

function option(value, label, selected) {
  return h('option', { value, selected: selected || null }, label);
}

function fillMunicipalities(selected) {
  const sel = $('f-municipality');
  fill(sel, option('', t('filter.allMunicipalities')),
    [...munis.values()].map((m) => option(String(m.id), m.name, String(m.id) === selected)));
}

async function loadThemes(municipalityId, selected) {
  const sel = $('f-theme');
  try {
    const r = await get('/themes', { municipality_id: municipalityId });
    const themes = r.data.filter((x) => x.theme);
    if (selected && !themes.some((x) => x.theme === selected)) themes.unshift({ theme: selected, count: 0 });
    fill(sel, option('', t('filter.allThemes')),
      themes.map((x) => option(x.theme, `${x.theme} (${num(x.count)})`, x.theme === selected)));
  } catch {
    fill(sel, option('', t('filter.allThemes')), selected ? option(selected, selected, true) : null);
  }
}

function fillForm(s) {
  $('f-municipality').value = s.municipality_id;
  $('f-status').value = STATUSES.includes(s.status) ? s.status : '';
  $('f-q').value = s.q;
  for (const [f, id] of Object.entries(FLAGS)) $(id).checked = s[f] === 'true';
}

function overview() {
  const rows = [...munis.values()];
  const cell = (m, st, n) => h('td', {}, n > 0
    ? h('a', { href: href({ municipality_id: String(m.id), status: st }) }, num(n)) : num(n));
  const table = h('table', {},
    h('caption', {}, t('overview.caption')),
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, t('filter.municipality')),
      STATUSES.map((st) => h('th', { scope: 'col' }, t(`status.${st}`))),
      h('th', { scope: 'col' }, t('overview.total')))),
    h('tbody', {}, rows.map((m) => h('tr', {},
      h('th', { scope: 'row' }, h('a', { href: href({ municipality_id: String(m.id) }) }, m.name)),
      STATUSES.map((st) => cell(m, st, (m.status_counts || {})[st] || 0)),
      h('td', {}, num(m.commitment_count))))));
  fill($('overview'), h('div', { class: 'scroll', tabindex: '0', role: 'region', 'aria-label': t('overview.caption') }, table));
  fill($('credits'), ...rows.map((m) => h('li', {}, credit(m))));
}

const isZero = (v) => v == null || /^0*$/.test(String(v));

// The second party's check in one line: the confirmed share of the target, once something counts.
const confirmedShare = (c) => (c.confirmed_quantity == null || isZero(c.delivered_quantity) ? ''
  : t('list.confirmedOf', {
    pct: pct(c.progress_bps_confirmed), done: num(c.confirmed_quantity), target: num(c.target_quantity), unit: c.unit || '',
  }));

function item(c) {
  const m = munis.get(c.municipality_id);
  const src = m && sourceOf(m.code);
  const tz = src && src.timeZone;
  const flags = [...commitmentFlags(c),
    isZero(c.disputed_quantity) ? null : flag('list.disputed', 'warn', { quantity: qty(c.disputed_quantity, c.unit) }),
  ].filter(Boolean);
  return h('li', { class: 'card' },
    h('h3', { lang: src ? src.lang : null }, h('a', { href: `/commitments/${c.id}` }, c.title)),
    h('p', { class: 'small dates' },
      tNodes('list.promisedOn', { date: when(c.promised_at, c.promised_at_iso, tz) }), ' · ',
      tNodes('list.recordedOn', {
        date: when(c.registered && c.registered.block_time, c.registered && c.registered.block_time_iso, tz),
      }),
      c.parent_id ? [' · ', h('a', { href: `/commitments/${c.parent_id}` }, t('list.partOf', { id: num(c.parent_id) }))] : null),
    flags.length ? h('p', { class: 'flags' }, flags) : null,
    h('dl', { class: 'facts' },
      fact(t('filter.municipality'), c.municipality_name),
      fact(t('field.theme'), c.theme ? h('span', { lang: src ? src.lang : null }, c.theme) : ''),
      fact(t('field.statusClaimed'), badge(c.status)),
      fact(t('field.statusOnRecord'), badge(c.status_on_record)),
      fact(t('field.progress'), progress(c)),
      fact(t('list.confirmed'), confirmedShare(c)),
      fact(t('list.rollup'), c.rollup_progress_bps != null ? pct(c.rollup_progress_bps) : ''),
      fact(t('field.due'), when(c.due_date, c.due_date_iso, tz)),
      fact(t('field.ref'), c.external_ref)));
}

function pager(s, total) {
  const pages = Math.max(1, Math.ceil(total / LIMIT));
  const page = Math.floor(s.offset / LIMIT) + 1;
  const link = (offset, label, rel) => h('a', {
    href: href({ ...s, offset }), rel,
    onclick: (e) => { e.preventDefault(); go({ ...s, offset }, true); },
  }, label);
  return h('nav', { class: 'pager', 'aria-label': t('pager.label') },
    s.offset > 0 ? link(Math.max(0, s.offset - LIMIT), t('pager.prev'), 'prev') : null,
    h('span', {}, t('pager.page', { page: num(page), pages: num(pages) })),
    s.offset + LIMIT < total ? link(s.offset + LIMIT, t('pager.next'), 'next') : null);
}

let seq = 0;
async function loadResults(focus) {
  const s = readState();
  const my = ++seq;
  const region = $('results');
  const list = $('commitment-list');
  const count = $('result-count');
  region.setAttribute('aria-busy', 'true');
  count.textContent = t('state.loading');
  fill($('result-extra'));
  try {
    const params = { offset: s.offset, limit: LIMIT };
    for (const f of [...FIELDS, ...Object.keys(FLAGS)]) params[f] = s[f];
    const r = await get('/commitments', params);
    await munisReady;
    if (my !== seq) return;
    fill(list, ...r.data.map(item));
    if (r.count === 0) {
      count.textContent = t('results.none');
      fill($('result-extra'), h('p', {}, h('a', { href: href({}) }, t('filter.clear'))));
    } else if (!r.data.length) {
      count.textContent = tn('results.total', r.count);
      fill($('result-extra'), h('p', {}, t('results.pastEnd'), ' ',
        h('a', { href: href({ ...s, offset: 0 }) }, t('pager.first'))));
    } else {
      count.textContent = t('results.range', {
        from: num(s.offset + 1), to: num(s.offset + r.data.length), total: num(r.count),
      });
      fill($('result-extra'), pager(s, r.count));
    }
  } catch (e) {
    if (my !== seq) return;
    fill(list);
    count.textContent = t('results.failed');
    fill($('result-extra'), problemBox(e));
  }
  region.setAttribute('aria-busy', 'false');
  if (focus) $('results-h').focus();
}

async function init() {
  await ready;
  document.title = `${t('list.title')} — ${t('site.name')}`;
  const s = readState();
  fill($('f-status'), option('', t('filter.allStatuses')),
    STATUSES.map((st) => option(st, t(`status.${st}`))));
  fillForm(s);
  // results wait for the municipalities (codes give each source's language and time zone)
  munisReady = get('/municipalities').then((r) => {
    munis = new Map(r.data.map((m) => [m.id, m]));
    fillMunicipalities(s.municipality_id);
    overview();
  }, (e) => { fill($('overview'), problemBox(e)); });
  loadResults(false);
  loadThemes(s.municipality_id, s.theme);

  $('f-municipality').addEventListener('change', (e) => loadThemes(e.target.value, $('f-theme').value));
  $('filters').addEventListener('submit', (e) => {
    e.preventDefault();
    const n = { offset: 0 };
    n.municipality_id = $('f-municipality').value;
    n.theme = $('f-theme').value;
    n.status = $('f-status').value;
    n.q = $('f-q').value.trim();
    for (const [f, id] of Object.entries(FLAGS)) n[f] = $(id).checked ? 'true' : '';
    go(n, true);
  });
  window.addEventListener('popstate', () => {
    const p = readState();
    fillForm(p);
    loadThemes(p.municipality_id, p.theme);
    loadResults(false);
  });
}

init();
