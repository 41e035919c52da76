// DOM building and formatting shared by the pages. All API text goes in via textContent.
import { t, tn, lang } from './i18n.js';

export const STATUSES = ['pending', 'in_progress', 'delivered', 'delivered_late', 'overdue', 'withdrawn'];
const ICONS = { pending: '○', in_progress: '◐', delivered: '✓', delivered_late: '✓', overdue: '!', withdrawn: '×' };

/** Create an element: h('a', {href, class, text}, ...children). */
export function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of kids.flat(Infinity)) {
    if (c != null && c !== false) el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

export const $ = (id) => document.getElementById(id);

const kids = (list) => list.flat(Infinity).filter((c) => c != null && c !== false);
/** Replace the children of `el` (arrays are flattened, null/false skipped). */
export const fill = (el, ...list) => el.replaceChildren(...kids(list));
/** Append to `el` (arrays are flattened, null/false skipped). */
export const add = (el, ...list) => el.append(...kids(list));

/** Integer or decimal string (uint64 may exceed a JS number) in the page language. */
export function num(v) {
  if (v == null || v === '') return '';
  try {
    return new Intl.NumberFormat(lang).format(/^\d+$/.test(String(v)) ? BigInt(v) : Number(v));
  } catch { return String(v); }
}

/** A quantity with its unit, kept on one line ("100 %", not "100" and "%" on two lines). */
export const qty = (v, unit) => (unit ? `${num(v)}\u00a0${unit}` : num(v));

/** progress_bps (basis points) as a percentage. */
export const pct = (bps) =>
  new Intl.NumberFormat(lang, { style: 'percent', maximumFractionDigits: 2 }).format((Number(bps) || 0) / 10000);

/** Unix seconds as a calendar date, in `timeZone` when given (the source's zone). */
export function date(sec, timeZone) {
  if (sec == null) return '';
  const opt = { dateStyle: 'long' };
  try {
    return new Intl.DateTimeFormat(lang, timeZone ? { ...opt, timeZone } : opt).format(sec * 1000);
  } catch {
    return new Intl.DateTimeFormat(lang, opt).format(sec * 1000);
  }
}

/** Unix seconds as date and time in UTC (block times). */
export const dateTime = (sec) => new Intl.DateTimeFormat(lang, {
  year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit',
  second: '2-digit', timeZone: 'UTC', timeZoneName: 'short',
}).format(sec * 1000);

const iso = (sec) => { try { return new Date(sec * 1000).toISOString(); } catch { return ''; } };

/** <time> for a date (or date and time when `withTime`). */
export const when = (sec, isoText, tz, withTime) =>
  sec == null ? '' : h('time', { datetime: isoText || iso(sec) }, withTime ? dateTime(sec) : date(sec, tz));

/** Status badge: text, symbol and colour (never colour alone). */
export const badge = (status) => h('span', { class: `badge s-${status}` },
  h('span', { 'aria-hidden': 'true' }, ICONS[status] || '?'), ' ', t(`status.${status}`));

/** Progress: a bar (decorative) and the value as text. */
export function progress(c) {
  const fill = h('span', { class: 'fill' });
  fill.style.width = `${Math.min(100, (Number(c.progress_bps) || 0) / 100)}%`;
  return h('span', { class: 'progress' },
    h('span', { class: 'bar', 'aria-hidden': 'true' }, fill),
    h('span', { class: 'pv' }, pct(c.progress_bps)),
    h('span', { class: 'pq' }, t('progress.of', {
      done: num(c.delivered_quantity), target: num(c.target_quantity), unit: c.unit || '',
    })));
}

/** A <dl> term/description pair wrapped in a div; skipped when `value` is empty. */
export const fact = (label, ...value) =>
  (value.every((v) => v == null || v === '') ? null : h('div', {}, h('dt', {}, label), h('dd', {}, value)));

export const code = (text) => h('code', { class: 'hash' }, text);

/** A 32-byte hash shortened for headings: "0x12345678…abcd" (the full hash is shown beside it). */
export const shortHash = (hex) => (hex && hex.length > 14 ? `${hex.slice(0, 10)}…${hex.slice(-4)}` : hex || '');

/** Where a fact is recorded on chain (ChainRef), and by which account (a registrar's unless
 * `label` names another role). */
export function chainRef(ch, registrar, label) {
  if (!ch) return null;
  return h('dl', { class: 'chain' },
    fact(t('chain.time'), when(ch.block_time, ch.block_time_iso, null, true)),
    fact(t('chain.block'), String(ch.block_number)),
    fact(t('chain.log'), String(ch.log_index)),
    fact(t('chain.tx'), code(ch.tx_hash)),
    registrar ? fact(label || t('field.registrar'), code(registrar)) : null);
}

/** An error box from an ApiError (problem+json title and detail). */
export const problemBox = (err) => h('div', { class: 'notice error', role: 'alert' },
  h('p', { class: 'strong' }, t('error.heading')),
  h('p', {}, err.title || String(err), err.status ? ` (${err.status})` : ''),
  err.detail ? h('p', {}, err.detail) : null);

/** A duration in whole days in words, at most two units ("3 years", "1 year and 2 months",
 * "45 days" → "1 month and 15 days"); a year is 365 days and a month 30 here. */
export function lagWords(days) {
  const d = Math.max(0, Math.floor(Number(days) || 0));
  const years = Math.floor(d / 365);
  const months = Math.floor((d % 365) / 30);
  const rest = (d % 365) % 30;
  const parts = years ? [['lag.years', years], ['lag.months', months]]
    : months ? [['lag.months', months], ['lag.days', rest]] : [['lag.days', rest]];
  const words = parts.filter(([, n], i) => n > 0 || i === 0).map(([k, n]) => tn(k, n));
  return words.length > 1 ? t('lag.and', { a: words[0], b: words[1] }) : words[0];
}

/** "recorded 3 years after the date it states" for a delivery recorded late (else null). */
export const lateText = (d) => (d.recorded_late
  ? t('lag.recordedAfter', { lag: lagWords(d.recording_lag_days) }) : null);

/** A flag: symbol + text in a bordered tag (never colour alone). */
export const flag = (key, cls, vars) => h('span', { class: `flag ${cls || ''}`.trim() },
  h('span', { 'aria-hidden': 'true' }, '⚠'), ' ', vars && vars.n != null ? tn(key, vars.n) : t(key, vars));

/** The flags of a commitment that a citizen must not miss, as tags. */
export function commitmentFlags(c) {
  return [
    c.met_only_under_relaxed_terms ? flag('flag.relaxed', 'warn') : null,
    c.historical_record ? flag('flag.historical', 'info') : null,
    c.amended_after_due_date ? flag('flag.amendedAfterDue', 'warn') : null,
    c.target_lowered ? flag('flag.targetLowered', 'warn') : null,
    c.recorded_late_count > 0 ? flag('flag.recordedLate', 'warn', { n: c.recorded_late_count }) : null,
  ].filter(Boolean);
}

/** A translation whose {placeholders} are nodes (e.g. <time>): an array of text and nodes. */
export function tNodes(key, nodes) {
  return t(key).split(/(\{\w+\})/).map((part) => {
    const m = /^\{(\w+)\}$/.exec(part);
    return m && m[1] in nodes ? nodes[m[1]] : part;
  }).filter((x) => x !== '');
}
