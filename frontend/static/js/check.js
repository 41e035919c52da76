// Document check: the file is hashed in the browser (never uploaded); only its SHA-256
// is looked up with GET /api/v1/verify/{sha256}.
import { ready, t, tn } from './i18n.js';
import { get } from './api.js';
import { $, h, fill, when, num, qty, fact, chainRef, problemBox, code, shortHash } from './ui.js';
import { commitmentCredit, sourceOf } from './credits.js';

const HEX = /^(?:0x)?([0-9a-f]{64})$/;

/** "0x" + 64 lowercase hex digits, or null. */
export function normalize(text) {
  const m = HEX.exec(String(text).trim().toLowerCase());
  return m ? `0x${m[1]}` : null;
}

const out = () => $('check-result');
const say = (...nodes) => fill(out(), ...nodes);
let seq = 0;

// Municipalities (their codes give each source's time zone and language) and the cited
// commitments (for the unit and the source credit): looked up once, best effort.
let munis = null;
const municipalities = () => (munis ??= get('/municipalities')
  .then((r) => new Map(r.data.map((m) => [m.id, m])), () => new Map()));
const details = new Map();
const detail = (id) => {
  if (!details.has(id)) details.set(id, get(`/commitments/${id}`).catch(() => null));
  return details.get(id);
};
const MAX_DETAILS = 20;

/** The commitment details and municipalities the result needs (null where unknown). */
async function context(cites, sources) {
  const ids = [...new Set([...cites, ...sources].map((x) => x.commitment_id))].slice(0, MAX_DETAILS);
  const [ms, ...ds] = await Promise.all([municipalities(), ...ids.map(detail)]);
  const byId = new Map(ids.map((id, i) => [id, ds[i]]));
  return { munis: ms, detail: (id) => byId.get(id) || null };
}

// A delivery citing the document: recorded (its id is a number) or a leaf of a verified batch
// (its id is the leaf hash; recorded on chain by the batch's anchor, counted unless refused).
function citation(c, ctx) {
  const d = ctx.detail(c.commitment_id);
  const m = ctx.munis.get(d ? d.municipality_id : c.municipality_id);
  const src = m && sourceOf(m.code);
  const q = qty(c.quantity, d ? d.unit : '');
  const batched = c.kind === 'batched';
  const notCounted = c.revoked || c.counted === false;
  const validity = c.revoked
    ? [h('span', { class: 'tag-revoked' }, t('delivery.revoked')), ' ', t('delivery.revokedReason'), ': ', c.revocation_reason || '']
    : c.counted === false ? t('check.refused') : t(batched ? 'check.batchedValid' : 'check.valid');
  return h('li', { class: notCounted ? 'card revoked' : 'card' },
    h('h3', { lang: src ? src.lang : null },
      h('a', { href: `/commitments/${c.commitment_id}#delivery-${encodeURIComponent(c.delivery_id)}` }, c.commitment_title)),
    h('dl', { class: 'facts' },
      fact(t('filter.municipality'), c.municipality_name),
      fact(t('check.delivery'), batched ? t('delivery.batched', { hash: shortHash(c.leaf_hash) })
        : t('delivery.number', { id: num(c.delivery_id) })),
      fact(t('field.date'), when(c.delivered_at, c.delivered_at_iso, src && src.timeZone)),
      fact(t('field.quantity'), notCounted ? [h('s', {}, q), ` (${t('delivery.notCounted')})`] : q),
      fact(t('check.validity'), validity),
      batched ? fact(t('field.leafHash'), code(c.leaf_hash)) : null,
      batched && c.batch_root && c.leaf_hash ? fact(t('batch.proof'), h('a', {
        href: `/api/v1/batches/${encodeURIComponent(c.batch_root)}/leaves/${encodeURIComponent(c.leaf_hash)}/proof`,
      }, t('batch.proofLink'))) : null),
    h('p', { class: 'strong small' }, t(batched ? 'chain.anchored' : 'chain.recorded')), chainRef(c.chain, c.registrar),
    d ? commitmentCredit(d, m) : null);
}

function sourceItem(s, ctx) {
  const d = ctx.detail(s.commitment_id);
  const m = d && ctx.munis.get(d.municipality_id);
  const src = m && sourceOf(m.code);
  return h('li', {},
    h('a', { href: `/commitments/${s.commitment_id}`, lang: src ? src.lang : null }, s.title),
    ` (${s.municipality_name})`, d ? commitmentCredit(d, m) : null);
}

async function lookup(sha, fileName) {
  const my = ++seq;
  $('check-hash').textContent = sha;
  $('hash-line').hidden = false;
  const u = new URL(location.href);
  u.searchParams.set('sha256', sha);
  history.replaceState(null, '', u.pathname + u.search);
  out().setAttribute('aria-busy', 'true');
  say(h('p', {}, t('check.looking')));
  try {
    const r = await get(`/verify/${sha}`);
    if (my !== seq) return;
    const cites = r.citations || [];
    const sources = r.source_of || [];
    const ctx = await context(cites, sources);
    if (my !== seq) return;
    const name = fileName ? h('span', { class: 'strong' }, fileName) : t('check.thisHash');
    if (!cites.length && !sources.length) {
      say(h('div', { class: 'notice' },
        h('p', { class: 'strong' }, t('check.notFound')),
        h('p', {}, t('check.notFoundHelp'))));
    } else {
      say(h('p', { class: 'notice ok strong' }, name, ' ', t('check.foundIntro')),
        cites.length ? [h('h3', {}, tn('check.cited', cites.length)),
          h('ol', { class: 'plain' }, cites.map((c) => citation(c, ctx)))] : null,
        sources.length ? [h('h3', {}, tn('check.sourceOf', sources.length)),
          h('ul', { class: 'sources' }, sources.map((s) => sourceItem(s, ctx)))] : null);
    }
  } catch (e) {
    if (my === seq) say(problemBox(e));
  }
  if (my === seq) out().setAttribute('aria-busy', 'false');
}

async function onFile() {
  const f = $('check-file').files[0];
  if (!f) return;
  if (!(window.crypto && crypto.subtle)) {
    say(h('div', { class: 'notice error', role: 'alert' }, t('check.noSubtle')));
    return;
  }
  const my = ++seq;
  say(h('p', {}, t('check.hashing', { name: f.name, size: num(f.size) })));
  try {
    const digest = await crypto.subtle.digest('SHA-256', await f.arrayBuffer());
    if (my !== seq) return;
    const hex = [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
    $('check-sha256').value = '';
    await lookup(`0x${hex}`, f.name);
  } catch (e) {
    if (my === seq) say(h('div', { class: 'notice error', role: 'alert' }, t('check.readFailed'), ' ', String(e.message || '')));
  }
}

function onHash(e, initial) {
  e.preventDefault();
  const input = $('check-sha256');
  const err = $('sha-error');
  const sha = normalize(input.value);
  if (!sha) {
    err.textContent = t('check.invalid');
    err.hidden = false;
    input.setAttribute('aria-invalid', 'true');
    if (!initial) input.focus();
    return;
  }
  err.hidden = true;
  input.removeAttribute('aria-invalid');
  lookup(sha, null);
}

async function init() {
  await ready;
  document.title = `${t('check.title')} — ${t('site.name')}`;
  $('check-file').addEventListener('change', onFile);
  $('hash-form').addEventListener('submit', (e) => onHash(e, false));
  const q = new URLSearchParams(location.search).get('sha256');
  if (q) {
    $('check-sha256').value = q;
    const sha = normalize(q);
    if (sha) lookup(sha, null);
    else onHash(new Event('submit'), true);
  }
}

init();
