// Language choice (?lang=, then localStorage, then the browser's languages, default nl),
// translation lookup and the language switch. Every page module awaits `ready`.
const SUPPORTED = ['nl', 'en'];
const NAMES = { nl: 'Nederlands', en: 'English' };
const KEY = 'lang';

function choose() {
  const q = new URLSearchParams(location.search).get('lang');
  if (SUPPORTED.includes(q)) {
    try { localStorage.setItem(KEY, q); } catch { /* storage blocked: the URL still says it */ }
    return q;
  }
  try {
    const s = localStorage.getItem(KEY);
    if (SUPPORTED.includes(s)) return s;
  } catch { /* ignore */ }
  for (const l of navigator.languages || [navigator.language]) {
    const base = String(l || '').slice(0, 2).toLowerCase();
    if (SUPPORTED.includes(base)) return base;
  }
  return 'nl';
}

export const lang = choose();
let dict = {};

/** Translation of `key`, with {name} placeholders filled from `vars`. */
export function t(key, vars) {
  let s = dict[key];
  if (s == null) return key;
  if (vars) s = s.replace(/\{(\w+)\}/g, (m, k) => (vars[k] ?? m));
  return s;
}

/** Plural-aware translation: uses `key.one` / `key.other` and {n}. */
export function tn(key, n, vars) {
  const form = new Intl.PluralRules(lang).select(n) === 'one' ? 'one' : 'other';
  return t(`${key}.${form}`, { n: new Intl.NumberFormat(lang).format(n), ...vars });
}

/** Translate the static markup: data-i18n (text), data-i18n-html (own trusted strings
 * with links), data-i18n-attr ("attr:key;attr:key"). */
export function apply(root = document) {
  root.querySelectorAll('[data-i18n]').forEach((el) => { el.textContent = t(el.dataset.i18n); });
  root.querySelectorAll('[data-i18n-html]').forEach((el) => { el.innerHTML = t(el.dataset.i18nHtml); });
  root.querySelectorAll('[data-i18n-attr]').forEach((el) => {
    for (const pair of el.dataset.i18nAttr.split(';')) {
      const [attr, k] = pair.split(':');
      el.setAttribute(attr, t(k));
    }
  });
}

function setupSwitch() {
  const a = document.getElementById('lang-switch');
  if (!a) return;
  const other = lang === 'nl' ? 'en' : 'nl';
  const target = () => {
    const u = new URL(location.href);
    u.searchParams.set('lang', other);
    return u.pathname + u.search + u.hash;
  };
  a.textContent = NAMES[other];
  a.lang = other;
  a.hreflang = other;
  a.href = target();
  a.addEventListener('click', () => {
    a.href = target(); // the list page changes its URL after load
    try { localStorage.setItem(KEY, other); } catch { /* ignore */ }
  });
}

export const ready = (async () => {
  document.documentElement.lang = lang;
  try {
    const r = await fetch(`/static/i18n/${lang}.json`);
    if (r.ok) dict = await r.json();
  } catch { /* keep the Dutch markup */ }
  if (Object.keys(dict).length) apply();
  setupSwitch();
})();
