// Source credits per municipality code. The data is not ours: wherever it is shown, the
// source is named. To add a source, add an entry: `text` is shown verbatim (in `lang`, the
// source's language), each `links[i].match` substring of it becomes a link; `timeZone`
// is used to show the source's dates on the calendar day it meant.
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

/** A link if `uri` is http(s), else null (never javascript: or data:). */
export function safeHref(uri) {
  try {
    const u = new URL(uri, location.origin);
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

/** Credit for data of municipality `m` ({name, code}). For municipalities without an entry
 * above, a commitment page passes its source_uri (`sourceUri`, possibly ''); the list passes
 * nothing (undefined) and points to the commitment pages. */
export function credit(m, sourceUri) {
  const src = m && sourceOf(m.code);
  if (src) return h('p', { class: 'credit', lang: src.lang }, linked(src));
  // Any other source: the credit the API serves from the importer's source mapping.
  if (m && Array.isArray(m.sources) && m.sources.length) {
    return h('p', { class: 'credit' }, ...m.sources.flatMap((s, i) => {
      const href = safeHref(s.url);
      return [i ? '; ' : '', `${t('credit.source')}: `, href ? h('a', { href }, s.name) : s.name, ` — ${s.publisher} — ${s.licence}`];
    }));
  }
  const name = m ? m.name : '';
  if (sourceUri) {
    const href = safeHref(sourceUri);
    return h('p', { class: 'credit' }, t('credit.uri', { name }), ' ',
      href ? h('a', { href }, sourceUri) : h('span', { class: 'hash' }, sourceUri));
  }
  return h('p', { class: 'credit' }, t(sourceUri === undefined ? 'credit.perCommitment' : 'credit.none', { name }));
}
