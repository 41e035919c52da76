// One commitment: promise (left) and proof (right), then the on-chain timeline.
import { ready, t, tn } from './i18n.js';
import { get } from './api.js';
import {
  $, h, fill, add, badge, progress, when, num, qty, pct, code, fact, chainRef, problemBox, commitmentFlags, lateText, tNodes, flag,
  shortHash,
} from './ui.js';
import { commitmentCredit, sourceOf, safeHref } from './credits.js';

const KINDS = ['registered', 'amended', 'delivered', 'revoked', 'withdrawn', 'anchored', 'confirmed', 'disputed'];
let tz; // the source's time zone for calendar dates
let textLang; // the source's language for its texts

const day = (sec) => when(sec, null, tz);
const txt = (tag, text, cls) => h(tag, { lang: textLang, class: cls }, text);
// Only absolute http(s) URLs become links; anything else (plain text such as
// "Senado - Tramitación de proyectos") is shown as text.
const uriLink = (uri) => {
  const href = safeHref(uri);
  return href ? h('a', { href, class: 'uri' }, uri) : h('span', { class: 'uri', lang: textLang }, uri);
};
const checkLink = (sha) => h('a', { href: `/check?sha256=${encodeURIComponent(sha)}` }, t('evidence.check'));

function change(label, from, to) {
  return h('li', {}, `${label}: `, h('span', { class: 'old' }, from), ' → ', h('strong', {}, to));
}

const noRole = (x) => (x && x.signer_held_role === false
  ? h('p', { class: 'late' }, h('span', { 'aria-hidden': 'true' }, '⚠ '), t('signer.noRole')) : null);

// Each amendment names the fields it changed; target and due date come with their previous values.
function amendments(c) {
  let prev = { title: null, description: null };
  for (const e of c.timeline || []) {
    if (e.kind === 'registered') prev = { title: (e.details || {}).title ?? null, description: (e.details || {}).description ?? null };
  }
  const items = (c.amendments || []).map((a) => {
    const named = a.fields || [];
    const changes = [];
    if (named.includes('target_quantity')) {
      changes.push(change(t('field.target'), qty(a.previous_target_quantity, c.unit), qty(a.target_quantity, c.unit)));
    }
    if (named.includes('due_date')) changes.push(change(t('field.due'), day(a.previous_due_date), day(a.due_date)));
    if (named.includes('title')) {
      changes.push(h('li', {}, `${t('field.title')}: `, prev.title != null ? [txt('span', prev.title, 'old'), ' → '] : null,
        txt('strong', a.title)));
      prev.title = a.title;
    }
    if (named.includes('description')) {
      changes.push(h('li', {}, t('amend.descriptionChanged'), ' ', prev.description != null
        ? h('details', {}, h('summary', {}, t('amend.showPrevious')), txt('p', prev.description, 'pre')) : null));
      prev.description = a.description;
    }
    const flags = [
      a.after_due_date && a.extended_due_date ? flag('flag.amendedAfterDue', 'warn') : null,
      a.lowered_target ? flag('flag.targetLowered', 'warn') : null,
    ].filter(Boolean);
    return h('li', { class: 'card' },
      h('h4', {}, t('amend.number', { n: num(a.amendment_number) }), ' — ', when(a.amended_at, a.amended_at_iso, tz)),
      flags.length ? h('p', { class: 'flags' }, flags) : null,
      h('p', {}, t('amend.fieldsChanged', { fields: named.map((f) => t(`amend.field.${f}`)).join(', ') })),
      a.after_due_date && !a.extended_due_date ? h('p', {}, t('amend.afterDue')) : null,
      h('p', {}, h('span', { class: 'strong' }, `${t('field.reason')}: `), txt('span', a.reason || '')),
      changes.length ? h('ul', { class: 'changes' }, changes) : null,
      noRole(a));
  });
  return [h('h3', {}, t('amend.heading')),
    items.length ? h('ol', { class: 'plain', id: 'amendments' }, items) : h('p', {}, t('amend.none'))];
}

function withdrawal(w) {
  if (!w) return null;
  return h('div', { class: 'notice withdrawn', id: 'withdrawal' },
    h('h3', {}, t('withdrawal.heading')),
    h('p', {}, h('span', { class: 'strong' }, `${t('field.reason')}: `), txt('span', w.reason || '')),
    chainRef(w.chain, w.registrar));
}

function evidenceList(d) {
  return h('ul', { class: 'evidence' }, (d.evidence || []).map((ev) => h('li', {},
    code(ev.sha256), h('br'),
    ev.stored && ev.url
      ? h('a', { href: ev.url }, t('evidence.open'))
      : h('span', { class: 'muted' }, t('evidence.notStored')),
    ' · ', checkLink(ev.sha256))));
}

const short = shortHash;

const isZero = (v) => v == null || /^0*$/.test(String(v));
const batchedLabel = (d) => t('delivery.batched', { hash: short(d.leaf_hash) });
const deliveryLabel = (d) => (d.kind === 'batched' ? batchedLabel(d) : t('delivery.number', { id: num(d.id) }));
// Where a verdict is on chain, folded away: it is the confirmer's transaction.
const verdictChain = (x) => (x.chain ? h('details', { class: 'small' }, h('summary', {}, t('review.onChain')),
  chainRef(x.chain, x.confirmer, t('field.confirmer'))) : null);

// A second party's check of a delivery: its review state, then each confirmer's latest verdict.
function review(d) {
  if (d.review == null) return null; // a reader without reviews says nothing about them
  const state = d.review;
  const verdicts = [
    ...(d.confirmations || []).map((x) => h('li', { class: 'verdict v-confirmed' }, tNodes('review.confirmedBy', {
      account: code(x.confirmer), date: when(x.at, x.at_iso, tz),
    }), x.evidence_hash ? [' ', t('review.evidence'), ' ', code(x.evidence_hash), ' · ', checkLink(x.evidence_hash)] : null,
    noRole(x), verdictChain(x))),
    ...(d.disputes || []).map((x) => h('li', { class: 'verdict v-disputed' }, tNodes('review.disputedBy', {
      account: code(x.confirmer), date: when(x.at, x.at_iso, tz),
    }), ' ', h('span', { class: 'strong' }, `${t('field.reason')}: `), txt('span', x.reason || ''),
    noRole(x), verdictChain(x))),
  ];
  return [h('p', { class: 'flags' }, h('span', { class: `review r-${state}` },
    h('span', { 'aria-hidden': 'true' }, { confirmed: '✓', disputed: '!', unconfirmed: '○' }[state] || '?'), ' ',
    t(`review.${state}`))),
  verdicts.length ? h('ul', { class: 'verdicts' }, verdicts) : null];
}

function delivery(d, c) {
  const batched = d.kind === 'batched';
  const r = d.revocation;
  const notCounted = r || d.double_counted || d.counted === false;
  const q = qty(d.quantity, c.unit);
  const late = lateText(d);
  const key = batched ? d.leaf_hash : d.id;
  const why = d.double_counted ? t('asset.doubleCounted')
    : d.counted === false && d.refused_reason ? t(`leaf.refused.${d.refused_reason}`) : null;
  return h('li', { class: notCounted ? 'card revoked' : 'card', id: `delivery-${key}` },
    h('h4', {}, deliveryLabel(d),
      ' — ', day(d.delivered_at),
      r ? [' ', h('span', { class: 'tag-revoked' }, t('delivery.revoked'))] : null),
    late ? h('p', { class: 'flags' }, h('span', { class: 'flag warn' }, h('span', { 'aria-hidden': 'true' }, '⚠'), ' ', late)) : null,
    why ? h('p', { class: 'flags' }, h('span', { class: 'flag warn' }, h('span', { 'aria-hidden': 'true' }, '⚠'), ' ', why)) : null,
    r ? h('p', { class: 'revocation' }, h('span', { class: 'strong' }, `${t('delivery.revokedReason')}: `),
      txt('span', r.reason || '')) : null,
    notCounted ? null : review(d),
    h('dl', { class: 'facts' },
      fact(t('field.quantity'), notCounted ? [h('s', {}, q), ` (${t('delivery.notCounted')})`] : q),
      fact(t('field.statedDate'), day(d.delivered_at)),
      fact(t('field.recordedOn'), when(d.recorded_at, d.recorded_at_iso, tz)),
      fact(t('field.asset'), d.asset_ref ? txt('span', d.asset_ref) : ''),
      fact(t('field.note'), d.note ? txt('span', d.note, 'pre') : ''),
      fact(t('field.evidence'), evidenceList(d)),
      fact(t('field.evidenceUri'), d.evidence_uri ? uriLink(d.evidence_uri) : ''),
      fact(t('field.ref'), d.external_ref || ''),
      batched ? fact(t('field.batch'), h('a', { href: `#batch-${d.batch_root}` }, code(short(d.batch_root))),
        d.leaf_index != null ? [' · ', t('batch.leafIndex', { n: num(d.leaf_index + 1) })] : null) : null,
      batched ? fact(t('field.leafHash'), code(d.leaf_hash)) : null,
      batched ? fact(t('batch.proof'), h('a', {
        href: `/api/v1/batches/${encodeURIComponent(d.batch_root)}/leaves/${encodeURIComponent(d.leaf_hash)}/proof`,
      }, t('batch.proofLink'))) : null),
    noRole(d),
    h('p', { class: 'strong small' }, batched ? t('chain.anchored') : t('chain.recorded')), chainRef(d.recorded, d.registrar),
    r ? [h('p', { class: 'strong small' }, t('chain.revokedAt')), chainRef(r.chain, r.registrar)] : null);
}

// Sub-commitments: the parent this one is part of, and its own parts with the weighted roll-up.
// `related` maps ids to the commitments read for it (parent and parts); one that could not
// be read is named by its id only.
function parts(c, related) {
  const link = (id) => h('a', { href: `/commitments/${encodeURIComponent(id)}` }, t('rollup.commitment', { id: num(id) }));
  const titled = (id) => {
    const x = related.get(id);
    return x ? [link(id), ' (', txt('span', x.title), ')'] : link(id);
  };
  const children = c.children || [];
  const part = (id) => {
    const x = related.get(id);
    if (!x) return h('li', {}, link(id));
    // a part's own progress counts up to 100 %; a part with parts of its own counts by its roll-up
    const bps = x.rollup_progress_bps != null ? x.rollup_progress_bps : Math.min(Number(x.progress_bps) || 0, 10000);
    return h('li', { class: x.withdrawn ? 'part withdrawn' : 'part' }, titled(id), ' — ',
      t('rollup.weight', { weight: num(x.weight) }), ' · ', badge(x.status),
      x.withdrawn ? [' ', t('rollup.notCounted')] : [' · ', t('rollup.partProgress', { pct: pct(bps) })]);
  };
  return [
    c.parent_id ? h('p', { id: 'parent' }, tNodes('rollup.partOf', { parent: titled(c.parent_id), weight: num(c.weight) })) : null,
    children.length ? h('section', { id: 'rollup', 'aria-labelledby': 'rollup-h' },
      h('h3', { id: 'rollup-h' }, t('rollup.heading')),
      h('p', {}, t('rollup.explain')),
      h('dl', { class: 'facts' },
        fact(t('rollup.progress'), c.rollup_progress_bps != null ? pct(c.rollup_progress_bps) : ''),
        fact(t('rollup.delivered'), t('rollup.deliveredOf', {
          done: num(c.rollup_children_delivered ?? 0), total: num(c.rollup_children_counted ?? 0),
        }))),
      h('ul', { id: 'parts' }, children.map(part))) : null];
}

// What a second party checked: the same status rules, counting only confirmed deliveries.
// Shown once something counts (before that it would repeat the status as reported).
function confirmed(c) {
  if (c.confirmed_quantity == null || isZero(c.delivered_quantity)) return [];
  return [
    fact(t('field.statusConfirmed'), badge(c.status_confirmed)),
    fact(t('field.confirmedQuantity'), [c.progress_bps_confirmed != null ? [pct(c.progress_bps_confirmed), ' · '] : null,
      t('progress.of', { done: num(c.confirmed_quantity), target: num(c.target_quantity), unit: c.unit || '' })]),
    fact(t('field.metAtConfirmed'), c.met_at_confirmed != null ? when(c.met_at_confirmed, c.met_at_confirmed_iso, tz) : ''),
    isZero(c.unconfirmed_quantity) ? null : fact(t('field.unconfirmedQuantity'), qty(c.unconfirmed_quantity, c.unit)),
    isZero(c.disputed_quantity) ? null : fact(t('field.disputedQuantity'), qty(c.disputed_quantity, c.unit)),
  ];
}

function batchCard(b) {
  const file = [
    b.file_stored && b.file_url ? h('a', { href: b.file_url }, t('batch.fileOpen')) : null,
    b.file_uri && b.file_uri !== b.file_url ? [b.file_stored && b.file_url ? h('br') : null, uriLink(b.file_uri)] : null,
  ];
  return h('li', { class: 'card', id: `batch-${b.root}` },
    h('h4', {}, t('batch.title', { hash: short(b.root) }), ' — ', when(b.anchored_at, b.anchored_at_iso, tz)),
    h('p', { class: 'flags' }, b.verified
      ? h('span', { class: 'review r-confirmed' }, h('span', { 'aria-hidden': 'true' }, '✓'), ' ', t('batch.verified'))
      : h('span', { class: 'flag warn' }, h('span', { 'aria-hidden': 'true' }, '⚠'), ' ', t('batch.unverified'), ' (',
        t(`batch.reason.${b.unverified_reason}`), ')')),
    h('dl', { class: 'facts' },
      fact(t('batch.leaves'), num(b.leaf_count)),
      b.verified ? fact(t('batch.counted'), num(b.counted_leaves)) : null,
      b.refused_leaves ? fact(t('batch.refused'), num(b.refused_leaves)) : null,
      b.revoked_leaves ? fact(t('batch.revoked'), num(b.revoked_leaves)) : null,
      fact(t('field.root'), code(b.root)),
      fact(t('batch.fileSha'), [code(b.file_sha256), h('br'), checkLink(b.file_sha256)]),
      fact(t('batch.file'), file.flat().some(Boolean) ? file : '')),
    noRole(b),
    h('p', { class: 'strong small' }, t('chain.anchoredBatch')), chainRef(b.chain, b.registrar));
}

// The batches that carry this commitment's deliveries (verified: they count their leaves), then
// the municipality's batches whose contents cannot be verified: their leaves are unknown, so
// they may concern this commitment, and they count for none.
function batches(own, unverifiable, unverifiableCount) {
  if (!own.length && !unverifiable.length) return null;
  return h('section', { id: 'batches-box', 'aria-labelledby': 'batches-h' },
    h('h3', { id: 'batches-h' }, t('batch.heading')),
    own.length ? h('ul', { class: 'plain', id: 'batches' }, own.map(batchCard)) : null,
    unverifiable.length ? [h('p', { id: 'unverifiable-note' }, tn('batch.unverifiableNote', Math.max(unverifiableCount || 0, unverifiable.length))),
      h('ul', { class: 'plain', id: 'unverifiable-batches' }, unverifiable.map(batchCard))] : null);
}

function timelineText(e, c) {
  const d = e.details || {};
  switch (e.kind) {
    case 'registered': return d.target_quantity == null || d.due_date == null ? t('tl.registeredPlain')
      : t('tl.registeredText', { target: qty(d.target_quantity, d.unit || c.unit), due: day(d.due_date).textContent });
    case 'amended': return [t('amend.number', { n: num(d.amendment_number) }), ': ', txt('span', d.reason || '')];
    case 'delivered': return [t('tl.deliveredText', {
      id: num(d.delivery_id), quantity: qty(d.quantity, c.unit),
      date: d.delivered_at != null ? day(d.delivered_at).textContent : '',
    }), ' ', tn('tl.evidence', (d.evidence_sha256 || []).length)];
    case 'revoked': return [d.label ? t('tl.revokedLabel', { label: d.label }) : t('tl.revokedText', { id: num(d.delivery_id) }),
      ' ', txt('span', d.reason || '')];
    case 'withdrawn': return [t('tl.withdrawnText'), ' ', txt('span', d.reason || '')];
    case 'anchored': return [tn('tl.anchoredText', d.count, { hash: short(d.root) }), ' ', t('tl.anchoredQuantity', {
      quantity: qty(d.quantity, c.unit),
    })];
    case 'confirmed': return t('tl.confirmedText', { label: d.label });
    case 'disputed': return [t('tl.disputedText', { label: d.label }), ' ', txt('span', d.reason || '')];
    default: return e.kind;
  }
}

// The API's timeline holds the commitment's own events; the facts of 2.1.0 about its deliveries
// (the anchors of batches carrying them, their batched revocations, the confirmers' verdicts)
// are on chain too, each with its own ChainRef: merged in, in (block, log index) order.
function timelineEntries(c) {
  const api = c.timeline || [];
  const seen = new Set(api.map((e) => e.chain && `${e.chain.tx_hash}:${e.chain.log_index}`));
  const extra = [];
  const push = (e) => {
    const k = e.chain && `${e.chain.tx_hash}:${e.chain.log_index}`;
    if (!e.chain || seen.has(k)) return;
    seen.add(k);
    extra.push(e);
  };
  const anchors = new Map();
  for (const d of c.deliveries || []) {
    if (d.kind === 'batched' && d.batch_root && d.recorded) {
      const a = anchors.get(d.batch_root) || { count: 0, quantity: 0n, chain: d.recorded, registrar: d.registrar };
      a.count += 1;
      a.quantity += BigInt(/^\d+$/.test(String(d.quantity)) ? d.quantity : 0);
      anchors.set(d.batch_root, a);
      if (d.revocation) {
        push({ kind: 'revoked', chain: d.revocation.chain, registrar: d.revocation.registrar,
          details: { label: batchedLabel(d), reason: d.revocation.reason } });
      }
    }
    for (const x of d.confirmations || []) {
      push({ kind: 'confirmed', chain: x.chain, registrar: x.confirmer, by: t('field.confirmer'), details: { label: deliveryLabel(d) } });
    }
    for (const x of d.disputes || []) {
      push({ kind: 'disputed', chain: x.chain, registrar: x.confirmer, by: t('field.confirmer'),
        details: { label: deliveryLabel(d), reason: x.reason } });
    }
  }
  for (const [root, a] of anchors) {
    push({ kind: 'anchored', chain: a.chain, registrar: a.registrar, details: { root, count: a.count, quantity: a.quantity.toString() } });
  }
  const pos = (e) => [Number((e.chain || {}).block_number) || 0, Number((e.chain || {}).log_index) || 0];
  return [...api, ...extra].map((e, i) => [e, i]).sort(([a, i], [b, j]) => {
    const [ab, al] = pos(a);
    const [bb, bl] = pos(b);
    return ab - bb || al - bl || i - j;
  }).map(([e]) => e);
}

function timeline(c) {
  return timelineEntries(c).map((e) => h('li', { class: `tl tl-${e.kind}` },
    h('h3', {}, KINDS.includes(e.kind) ? t(`tl.${e.kind}`) : e.kind, ' — ',
      when(e.chain && e.chain.block_time, e.chain && e.chain.block_time_iso, null, true)),
    h('p', {}, timelineText(e, c)),
    chainRef(e.chain, e.registrar, e.by)));
}

// Who keeps this municipality's record: its admin, every change of it, pending hand-overs.
function admin(m) {
  if (!m) return null;
  const changes = (m.admin_changes || []).map((x) => h('li', {},
    tNodes('admin.change', {
      date: when(x.chain && x.chain.block_time, x.chain && x.chain.block_time_iso, tz),
      from: code(x.previous_admin), to: code(x.new_admin),
    }), ' (', x.recovered ? h('strong', {}, t('admin.viaRecovery')) : t('admin.handover'), ')'));
  return [h('h2', { id: 'admin-h' }, t('admin.heading')),
    h('dl', { class: 'facts' }, fact(t('admin.current', { name: m.name }), code(m.admin))),
    m.recovery ? h('p', { class: 'notice', id: 'recovery' }, tNodes('admin.recovery', {
      account: code(m.recovery.proposed_admin), date: when(m.recovery.executable_at, m.recovery.executable_at_iso, null, true),
    })) : null,
    m.pending_admin ? h('p', {}, tNodes('admin.pending', { account: code(m.pending_admin) })) : null,
    changes.length ? h('ul', { id: 'admin-changes' }, changes) : h('p', {}, t('admin.none'))];
}

function render(c, m, more) {
  const src = m && sourceOf(m.code);
  tz = src ? src.timeZone : undefined;
  textLang = src ? src.lang : null;
  document.title = `${c.title} — ${t('site.name')}`;
  const title = $('commitment-title');
  title.textContent = c.title;
  if (textLang) title.lang = textLang;
  fill($('c-kicker'), [c.municipality_name, c.theme && txt('span', c.theme)]
    .filter(Boolean).flatMap((x, i) => (i ? [' · ', x] : [x])));
  fill($('c-summary'), badge(c.status), ' ', progress(c));
  const flags = commitmentFlags(c);
  const original = t('original.terms', { target: qty(c.original_target_quantity, c.unit), due: day(c.original_due_date).textContent });
  const registeredAt = c.registered ? when(c.registered.block_time, c.registered.block_time_iso, tz) : '';

  add($('promise'),
    flags.length ? h('p', { class: 'flags', id: 'c-flags' }, flags) : null,
    c.historical_record ? h('div', { class: 'notice', id: 'historical' }, h('p', {}, t('historical.explain', {
      promised: day(c.promised_at).textContent, recorded: registeredAt.textContent, due: day(c.original_due_date).textContent,
    }))) : null,
    c.description ? txt('p', c.description, 'pre description') : null,
    h('dl', { class: 'facts' },
      fact(t('field.theme'), c.theme ? txt('span', c.theme) : ''),
      fact(t('field.target'), qty(c.target_quantity, c.unit)),
      fact(t('field.due'), day(c.due_date)),
      c.amendment_count ? fact(t('field.originalTerms'), original) : null,
      fact(t('field.ref'), c.external_ref),
      fact(t('field.promisedAt'), day(c.promised_at)),
      fact(t('field.registered'), registeredAt),
      fact(t('field.sourceUri'), c.source_uri ? uriLink(c.source_uri) : ''),
      fact(t('field.sourceDoc'), c.source_document_sha256
        ? [code(c.source_document_sha256), h('br'), checkLink(c.source_document_sha256)] : '')),
    noRole(c),
    parts(c, more.related),
    amendments(c),
    withdrawal(c.withdrawal));

  const dels = c.deliveries || [];
  const valid = dels.filter((d) => !d.revocation && !d.double_counted && d.counted !== false).length;
  add($('proof-body'),
    c.met_only_under_relaxed_terms ? h('div', { class: 'notice', id: 'relaxed' }, h('p', {},
      h('span', { class: 'flag warn' }, h('span', { 'aria-hidden': 'true' }, '⚠'), ' ', t('flag.relaxed'))),
    h('p', {}, t('relaxed.explain', {
      target: qty(c.original_target_quantity, c.unit), due: day(c.original_due_date).textContent,
      status: t(`status.${c.status_original_terms}`),
    }))) : null,
    h('dl', { class: 'facts' },
      fact(t('field.statusClaimed'), badge(c.status)),
      fact(t('field.statusOnRecord'), badge(c.status_on_record)),
      fact(t('field.statusOriginal'), badge(c.status_original_terms)),
      fact(t('field.progress'), progress(c)),
      fact(t('field.metAt'), c.met_at != null ? when(c.met_at, c.met_at_iso, tz) : ''),
      fact(t('field.metOnRecordAt'), c.met_on_record_at != null ? when(c.met_on_record_at, c.met_on_record_at_iso, tz) : ''),
      confirmed(c)),
    h('h3', {}, t('delivery.heading')),
    h('p', {}, dels.length ? [tn('delivery.count', dels.length), ' ',
      dels.length > valid ? tn('delivery.notCountedCount', dels.length - valid) : ''] : t('delivery.none')));
  fill($('deliveries'), ...dels.map((d) => delivery(d, c)));
  fill($('c-batches'), batches(more.own, more.unverifiable, more.unverifiableCount));

  const l = c.ledger || {};
  fill($('ledger'), t('tl.ledger', { chain: l.chain_id ?? '' }), ' ', code(l.contract_address || ''));
  fill($('timeline'), ...timeline(c));
  fill($('c-credit'), commitmentCredit(c, m));
  fill($('c-admin'), admin(m));
  $('commitment').hidden = false;
}

// What the page shows beside the commitment, each part optional (a failed read leaves it out):
// the batches carrying its deliveries (one read each, without their leaves), the municipality's
// batches whose contents cannot be verified, and its parent and parts (for their titles).
const MAX_PARTS = 100;

async function related(c) {
  const roots = [...new Set((c.deliveries || []).map((d) => d.batch_root).filter(Boolean))];
  const ids = [...new Set([c.parent_id, ...(c.children || []).slice(0, MAX_PARTS)].filter((x) => x != null))];
  const [own, unverified, commitments] = await Promise.all([
    Promise.all(roots.map((r) => get(`/batches/${encodeURIComponent(r)}`, { leaf_limit: 1 }).catch(() => null))),
    get('/batches', { municipality_id: c.municipality_id, verified: 'false', limit: 100 }).catch(() => ({ data: [] })),
    Promise.all(ids.map((id) => get(`/commitments/${encodeURIComponent(id)}`).catch(() => null))),
  ]);
  return {
    own: own.filter(Boolean),
    unverifiable: (unverified.data || []).filter((b) => !b.verified && !roots.includes(b.root)),
    unverifiableCount: unverified.count, // the page lists at most 100 of them
    related: new Map(commitments.filter(Boolean).map((x) => [x.id, x])),
  };
}

async function init() {
  await ready;
  const id = decodeURIComponent(location.pathname.split('/').filter(Boolean)[1] || '');
  const state = $('c-state');
  state.textContent = t('state.loading');
  try {
    const [c, ms] = await Promise.all([
      get(`/commitments/${encodeURIComponent(id)}`),
      get('/municipalities').catch(() => ({ data: [] })),
    ]);
    const m = (ms.data || []).find((x) => x.id === c.municipality_id);
    render(c, m, await related(c));
    state.textContent = '';
  } catch (e) {
    $('commitment-title').textContent = e.status === 404 ? t('detail.notFound') : t('error.heading');
    document.title = `${$('commitment-title').textContent} — ${t('site.name')}`;
    fill(state, problemBox(e), h('p', {}, h('a', { href: '/' }, t('detail.back'))));
  }
}

init();
