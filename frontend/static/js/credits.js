// Source credits per municipality code. The data is not ours: wherever it is shown, the
// source is named. To add a source, add an entry: `text` is shown verbatim (in `lang`, the
// source's language), each `links[i].match` substring of it becomes a link; `timeZone`
// is used to show the source's dates on the calendar day it meant. A source without an entry
// is credited with the API's `sources` (name linked to url — publisher — licence).
import { h } from './ui.js';
import { t } from './i18n.js';

export const SOURCES = {
  GM0308: {
    lang: 'nl',
    timeZone: 'Europe/Amsterdam',
    text: 'Bron: Coalitieakkoord 2022–2026 Samen Baarn, gemeente Baarn (tekst via tiemenrtuinstra/baarn-raadsinformatie)',
    links: [
      { match: 'Coalitieakkoord 2022–2026 Samen Baarn', href: 'https://cuatro.sim-cdn.nl/baarn/uploads/coalitieakkoord_2022_-_2026_-_samen_baarn.pdf?cb=3-fMBGHS' },
      { match: 'tiemenrtuinstra/baarn-raadsinformatie', href: 'https://github.com/tiemenrtuinstra/baarn-raadsinformatie' },
    ],
  },
  'CL-GOB': {
    lang: 'es',
    timeZone: 'America/Santiago',
    text: 'Fuente: Del Dicho al Hecho, Fundación Ciudadano Inteligente (deldichoalhecho.cl)',
    links: [
      { match: 'Del Dicho al Hecho', href: 'https://github.com/ciudadanointeligente/del-dicho-al-hecho-ember' },
      { match: 'deldichoalhecho.cl', href: 'https://deldichoalhecho.cl/' },
    ],
  },
};

/** The source entry of a municipality code, or null. */
export const sourceOf = (code) => SOURCES[code] || null;

/** A link target if `uri` is an absolute http(s) URL, else null. Parsed without a base, so
 * plain text (e.g. "Senado - Tramitación de proyectos") or a relative path never becomes a
 * link to this site, and javascript:, data: etc. never become links at all. */
export function safeHref(uri) {
  if (typeof uri !== 'string' || !uri.trim()) return null;
  try {
    const u = new URL(uri);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.href : null;
  } catch { return null; }
}

function linked(src) {
  const out = [];
  let rest = src.text;
  for (const { match, href } of src.links) {
    const i = rest.indexOf(match);
    if (i < 0) continue;
    out.push(rest.slice(0, i), h('a', { href }, match));
    rest = rest.slice(i + match.length);
  }
  out.push(rest);
  return out;
}

/** The curated credit line of a municipality code (SOURCES above), or null. */
export function curatedCredit(code) {
  const src = sourceOf(code);
  return src ? h('p', { class: 'credit', lang: src.lang }, linked(src)) : null;
}

/** The credit the API serves from the importer's source mapping ([{name, publisher, url,
 * licence}]): name (linked to url) — publisher — licence, one per source; null if none. */
export function apiCredit(sources) {
  if (!Array.isArray(sources) || !sources.length) return null;
  return h('p', { class: 'credit' }, ...sources.flatMap((s, i) => {
    const href = safeHref(s.url);
    const name = s.name || s.url || '';
    return [i ? '; ' : '', `${t('credit.source')}: `, href ? h('a', { href }, name) : name,
      ...[s.publisher, s.licence].filter(Boolean).map((x) => ` — ${x}`)];
  }));
}

/** A commitment's own source_uri as its credit (link only if absolute http(s)). */
function uriCredit(name, sourceUri) {
  if (!sourceUri) return h('p', { class: 'credit' }, t('credit.none', { name }));
  const href = safeHref(sourceUri);
  return h('p', { class: 'credit' }, t('credit.uri', { name }), ' ',
    href ? h('a', { href }, sourceUri) : h('span', { class: 'uri' }, sourceUri));
}

/** Credit of a municipality's data ({name, code, sources}) on the list and about pages: the
 * curated line, else the API's sources, else a pointer to the commitment pages. */
export function credit(m) {
  return curatedCredit(m && m.code) || apiCredit(m && m.sources)
    || h('p', { class: 'credit' }, t('credit.perCommitment', { name: m ? m.name : '' }));
}

/** Credit of one commitment (detail `c`, municipality `m` or undefined). The detail's
 * `sources` name the source(s) of THAT commitment: if any, the curated line of its
 * municipality, else the API's credit. None (registered by staff directly): its source_uri. */
export function commitmentCredit(c, m) {
  if (Array.isArray(c.sources) && c.sources.length) {
    return curatedCredit(m && m.code) || apiCredit(c.sources);
  }
  return uriCredit(c.municipality_name || (m && m.name) || '', c.source_uri || '');
}
