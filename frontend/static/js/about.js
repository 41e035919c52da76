// About page: source credits and the ledger's live coordinates for auditors.
import { ready, t } from './i18n.js';
import { get } from './api.js';
import { $, h, fill, add, code, fact, num, problemBox, badge } from './ui.js';
import { SOURCES, credit, sourceOf } from './credits.js';

async function init() {
  await ready;
  document.title = `${t('about.title')} — ${t('site.name')}`;
  document.querySelectorAll('[data-status]').forEach((el) => fill(el, badge(el.dataset.status)));
  // The curated lines of the sources described on this page, then the API's credit of any
  // other source the ledger holds data from.
  fill($('about-credits'), ...Object.keys(SOURCES).map((code_) => h('li', {}, credit({ code: code_ }))));
  get('/municipalities').then((r) => {
    add($('about-credits'), ...r.data.filter((m) => !sourceOf(m.code) && (m.sources || []).length)
      .map((m) => h('li', {}, credit(m))));
  }, () => { /* the curated lines stay */ });
  try {
    const x = await get('/health');
    fill($('health'), h('dl', { class: 'facts' },
      fact(t('health.status'), x.status === 'ok' ? t('health.ok') : t('health.degraded')),
      fact(t('health.chain'), String(x.chain_id ?? '')),
      fact(t('health.contract'), code(x.contract_address || '')),
      fact(t('health.deploy'), String(x.deploy_block ?? '')),
      fact(t('health.head'), String(x.chain_head_block ?? '')),
      fact(t('health.indexed'), String(x.indexed_block ?? '')),
      fact(t('health.lag'), num(x.lag_blocks ?? 0))));
  } catch (e) {
    fill($('health'), problemBox(e));
  }
}

init();
