// About page: source credits and the ledger's live coordinates for auditors.
import { ready, t } from './i18n.js';
import { get } from './api.js';
import { $, h, fill, code, fact, num, problemBox, badge } from './ui.js';
import { SOURCES, credit } from './credits.js';

async function init() {
  await ready;
  document.title = `${t('about.title')} — ${t('site.name')}`;
  document.querySelectorAll('[data-status]').forEach((el) => fill(el, badge(el.dataset.status)));
  fill($('about-credits'), ...Object.keys(SOURCES).map((code_) => h('li', {}, credit({ code: code_ }))));
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
