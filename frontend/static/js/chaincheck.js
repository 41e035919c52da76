// chaincheck.js — "Check it yourself against the chain" on a commitment page.
//
// Reads, from the reader's browser and without this site's API (except the batch files, which
// it checks against the SHA-256 and Merkle root anchored on chain), every event of one
// commitment from the chain, recomputes its figures with the ledger's rules (rules.js) and
// compares them field by field with what the page states (#chain-check-expected).
//
// Page contract: <section id="chain-check" data-commitment-id data-municipality-id data-now
// data-indexed-block> with #chain-check-run (hidden until this script shows it),
// #chain-check-result (role="status") and <script type="application/json"
// id="chain-check-expected">; #asset-urls names "chain" (chain.js), "rules" (rules.js),
// "ethers" and "abi"; #texts holds every "chaincheck." text. Steps, in order:
//   1. chain: eth_chainId equals <body data-chain-id>;
//   2. contract: version() of <body data-contract> is SUPPORTED_VERSION;
//   3. events: eth_getLogs of this commitment up to the latest block N (topic filters below),
//      those after data-indexed-block listed as newer than this page;
//   4. batch files: each BatchAnchored of the municipality (and each batch the page names) up
//      to the compared block, its file fetched from the API and checked (SHA-256, root, count);
//   5. comparison: rules.project/evaluate at data-now over the events up to the compared block
//      (min(N, data-indexed-block)) against the page; each difference listed with both values.

const SUPPORTED_VERSION = '2.1.0';

const section = document.getElementById('chain-check');
if (section) start().catch(() => {
  // A module failed to load: say so (in the page's language) instead of leaving a dead button.
  const result = document.getElementById('chain-check-result');
  let texts = {};
  try {
    texts = JSON.parse(document.getElementById('texts').textContent);
  } catch (err) { /* no texts: the key itself is shown */ }
  const template = texts['chaincheck.error.asset'] || 'chaincheck.error.asset';
  if (result) result.textContent = template.replace('{what}', 'chain.js / rules.js');
});

async function start() {
  const urls = JSON.parse((document.getElementById('asset-urls') || {}).textContent || '{}');
  const [C, R] = await Promise.all([import(urls.chain), import(urls.rules)]);
  const button = document.getElementById('chain-check-run');
  if (!button || !C.settings().rpcUrl) return; // the page says the operator configured no public RPC URL
  button.hidden = false;
  const firstLabel = button.textContent;
  button.addEventListener('click', async () => {
    button.disabled = true;
    try {
      await run(C, R, C.settings());
    } finally {
      button.disabled = false;
      button.textContent = C.t('chaincheck.runAgain') || firstLabel;
    }
  });
}

// ---------------------------------------------------------------------------- steps (DOM)

class Steps {
  constructor(C, root, names) {
    this.C = C;
    this.items = new Map();
    const heading = document.createElement('h3');
    heading.textContent = C.t('chaincheck.stepsHeading');
    this.list = document.createElement('ol');
    this.list.className = 'cc-steps';
    for (const name of names) {
      const li = document.createElement('li');
      li.dataset.step = name;
      const outcome = document.createElement('span');
      outcome.className = 'cc-outcome';
      const label = document.createElement('strong');
      label.textContent = C.t(`chaincheck.step.${name}`);
      const detail = document.createElement('span');
      detail.className = 'cc-detail';
      li.append(outcome, ' ', label, ' ', detail);
      this.list.append(li);
      this.items.set(name, { li, outcome, detail });
      this.set(name, 'skip', C.t('chaincheck.notRunDetail'), 'notRun');
    }
    root.append(heading, this.list);
  }

  set(name, state, text, word = state) {
    const item = this.items.get(name);
    item.li.className = state;
    item.outcome.textContent = this.C.t(`chaincheck.outcome.${word}`);
    item.detail.replaceChildren();
    if (text !== undefined) item.detail.textContent = text;
    return item.detail;
  }

  append(name, node) {
    this.items.get(name).detail.append(node);
  }
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function short(hex) {
  return hex && hex.length > 14 ? `${hex.slice(0, 10)}…${hex.slice(-4)}` : String(hex);
}

// ---------------------------------------------------------------------------- the check

async function run(C, R, s) {
  const result = document.getElementById('chain-check-result');
  result.replaceChildren();
  const steps = new Steps(C, result, ['chain', 'contract', 'events', 'batches', 'compare']);
  const lang = s.lang;
  let current = 'chain';
  try {
    const expected = C.readJson('chain-check-expected');
    const ds = section.dataset;
    const commitmentId = BigInt(ds.commitmentId || (expected && expected.commitment_id));
    const municipalityId = BigInt(ds.municipalityId || (expected && expected.municipality_id));
    const now = Number(ds.now || (expected && expected.now));
    const indexedText = ds.indexedBlock !== undefined && ds.indexedBlock !== '' ? ds.indexedBlock
      : (expected && expected.indexed_block !== null && expected.indexed_block !== undefined ? String(expected.indexed_block) : '');
    const indexedBlock = indexedText === '' ? null : Number(indexedText);

    // 1. chain
    steps.set('chain', 'run', C.t('chaincheck.chain.asking', { url: s.rpcUrl }), 'run');
    const chain = await C.connect();
    const id = await C.checkChainId(chain);
    steps.set('chain', 'ok', C.t('chaincheck.chain.ok', { url: s.rpcUrl, id: id.toString(), network: s.networkName || id.toString() }));

    // 2. contract
    current = 'contract';
    steps.set('contract', 'run', C.t('chaincheck.contract.asking', { address: s.contract }), 'run');
    const version = await C.contractVersion(chain);
    if (version !== SUPPORTED_VERSION) {
      steps.set('contract', 'fail', C.t('chaincheck.contract.wrongVersion', { address: s.contract, version, expected: SUPPORTED_VERSION }));
      return;
    }
    steps.set('contract', 'ok', C.t('chaincheck.contract.ok', { address: s.contract, version }));

    // 3. events
    current = 'events';
    const head = await C.head(chain);
    const from = s.deployBlock;
    const fmtBlock = (n) => C.formatNumber(n, lang);
    const progress = (done, part, parts) => steps.set('events', 'run', C.t('chaincheck.events.reading', {
      from: fmtBlock(from), head: fmtBlock(head.number), done: fmtBlock(done), part, parts }), 'run');
    progress(from, 1, 1);
    const logs = await readCommitmentLogs(C, chain, commitmentId, municipalityId, expected, head.number, progress);
    const events = logs.map((log) => C.decodeLog(chain, log)).filter(Boolean);
    const compareBlock = indexedBlock === null ? head.number : Math.min(indexedBlock, head.number);
    const older = events.filter((e) => e.blockNumber <= compareBlock);
    const newer = events.filter((e) => e.blockNumber > compareBlock);

    // 4. batch files (fetched before the events step is summarised: the anchors shown are
    // those that concern this commitment)
    current = 'batches';
    const anchors = older.filter((e) => e.name === 'BatchAnchored');
    const batches = await checkBatches(C, R, chain, s, steps, anchors, expected, commitmentId, municipalityId, compareBlock);
    const mine = (e) => e.name !== 'BatchAnchored' || batches.relevant.has(e.args.root.toLowerCase());
    const shownOlder = older.filter(mine);
    const shownNewer = newer.filter((e) => e.name !== 'BatchAnchored' || e.args.municipalityId === municipalityId);

    const eventsDetail = steps.set('events', newer.length || (indexedBlock !== null && indexedBlock > head.number) ? 'warn' : 'ok',
      C.t('chaincheck.events.ok', { count: C.formatNumber(shownOlder.length + shownNewer.length, lang), from: fmtBlock(from), head: fmtBlock(head.number) }));
    if (shownNewer.length) {
      eventsDetail.append(' ', C.t('chaincheck.events.newer', { count: C.formatNumber(shownNewer.length, lang), indexed: fmtBlock(compareBlock) }));
    }
    if (indexedBlock !== null && indexedBlock > head.number) {
      eventsDetail.append(' ', C.t('chaincheck.events.nodeBehind', { head: fmtBlock(head.number), indexed: fmtBlock(indexedBlock) }));
    }

    // 5. comparison
    current = 'compare';
    if (!expected) {
      steps.set('compare', 'fail', C.t('chaincheck.compare.noExpected'));
      return;
    }
    const projection = R.project({ commitmentId, events: older, batches: batches.checks });
    if (!projection) {
      steps.set('compare', 'fail', C.t('chaincheck.compare.notRegistered', { id: commitmentId.toString(), block: fmtBlock(compareBlock) }));
    } else {
      showComparison(C, R, steps, projection, expected, now, compareBlock, lang);
    }
    result.append(eventTable(C, s, projection, shownOlder, 'chaincheck.log.heading', lang));
    if (shownNewer.length) result.append(eventTable(C, s, projection, shownNewer, 'chaincheck.log.newerHeading', lang));
  } catch (err) {
    const typed = err && err.name === 'ChainError' ? err : null;
    const text = typed ? C.t(`chaincheck.error.${typed.code}`, typed.params)
      : C.t('chaincheck.error.bug', { message: err && err.message ? err.message : String(err) });
    steps.set(current, 'fail', text);
    if (!typed) console.error(err); // eslint-disable-line no-console
  }
}

async function readCommitmentLogs(C, chain, commitmentId, municipalityId, expected, toBlock, progress) {
  const topic = (name) => C.eventTopic(chain, name);
  const cid = C.idTopic(commitmentId);
  const queries = [
    [[topic('CommitmentRegistered'), topic('CommitmentAmended'), topic('CommitmentWithdrawn')], cid],
    [[topic('DeliveryRecorded'), topic('DeliveryRevoked')], null, cid],
    [[topic('BatchedDeliveryRevoked')], null, null, cid],
    [[topic('BatchAnchored')], null, C.idTopic(municipalityId)],
  ];
  // Batches the page names that are not this municipality's (their leaves count nothing, but
  // the page lists them): read their anchors by root.
  const named = [...new Set(((expected && expected.batches) || []).map((b) => String(b.root).toLowerCase()))];
  if (named.length) queries.push([[topic('BatchAnchored')], named]);
  const seen = new Set();
  const out = [];
  for (const [i, topics] of queries.entries()) {
    const onProgress = (done) => progress(done, i + 1, queries.length);
    for (const log of await C.getLogs(chain, { topics, toBlock, onProgress })) {
      const key = `${log.transactionHash}:${log.logIndex}`;
      if (!seen.has(key)) {
        seen.add(key);
        out.push(log);
      }
    }
  }
  return out.sort((a, b) => (a.blockNumber - b.blockNumber) || (a.logIndex - b.logIndex));
}

async function fetchBytes(url) {
  try {
    const resp = await fetch(url, { credentials: 'same-origin' });
    if (!resp.ok) return null;
    return new Uint8Array(await resp.arrayBuffer());
  } catch (err) {
    return null;
  }
}

async function checkBatches(C, R, chain, s, steps, anchors, expected, commitmentId, municipalityId, compareBlock) {
  const hashes = { sha256Hex: (bytes) => C.sha256Hex(bytes), keccak256: (bytes) => chain.ethers.keccak256(bytes) };
  const lang = s.lang;
  const checks = new Map();
  const relevant = new Set();
  const named = new Map(((expected && expected.batches) || []).map((b) => [String(b.root).toLowerCase(), b]));
  if (!anchors.length) {
    steps.set('batches', 'skip', C.t('chaincheck.batches.none', { block: C.formatNumber(compareBlock, lang) }), 'skip');
    return { checks, relevant };
  }
  const list = el('ul', 'cc-diffs');
  let bad = 0;
  let others = 0;
  for (const [i, e] of anchors.entries()) {
    steps.set('batches', 'run', C.t('chaincheck.batches.reading', { i: i + 1, n: anchors.length }), 'run');
    const root = e.args.root.toLowerCase();
    const url = (named.get(root) && named.get(root).file_url) || `${s.api}/batches/${root}/file`;
    const bytes = await fetchBytes(url);
    const options = named.has(root) ? {} : { onlyFor: commitmentId };
    const check = await R.checkBatchFile(bytes, { root, fileSha256: e.args.fileSha256, leafCount: e.args.leafCount }, hashes, options);
    checks.set(root, check);
    const mineCount = check.leaves.filter((leaf) => leaf.commitmentId === commitmentId).length;
    if (check.skipped || (check.verified && mineCount === 0 && !named.has(root))) {
      others += 1;
      continue;
    }
    relevant.add(root);
    if (!check.verified) bad += 1;
    const li = el('li', check.verified ? 'ok' : 'warn');
    li.dataset.root = root;
    li.append(C.t('chaincheck.batch.item', { root: short(root), block: C.formatNumber(e.blockNumber, lang) }));
    const text = check.verified
      ? C.t('chaincheck.batch.verified', { leaves: C.formatNumber(check.leaves.length, lang), mine: C.formatNumber(mineCount, lang) })
      : C.t(`chaincheck.batch.reason.${check.reason}`, {
        actual: check.reason === 'root_mismatch' ? check.rebuiltRoot : check.sha256,
        expected: check.reason === 'leaf_count_mismatch' ? String(e.args.leafCount) : e.args.fileSha256,
        where: check.error && check.error.where ? check.error.where : '',
        count: check.reason === 'leaf_count_mismatch' ? String(countValues(bytes)) : '',
      });
    li.append(text, ' ', C.t('chaincheck.batch.anchoredIn'), C.chainRef(s, 'tx', e.txHash, short(e.txHash)), '.');
    list.append(li);
  }
  const n = relevant.size;
  const summary = bad
    ? C.t('chaincheck.batches.some', { bad: C.formatNumber(bad, lang), n: C.formatNumber(n, lang) })
    : C.t(n === 1 ? 'chaincheck.batches.ok.one' : 'chaincheck.batches.ok.other', { n: C.formatNumber(n, lang) });
  const detail = steps.set('batches', n === 0 ? 'skip' : bad ? 'warn' : 'ok', n ? summary : '', n === 0 ? 'skip' : undefined);
  if (others) detail.append(' ', C.t(others === 1 ? 'chaincheck.batches.others.one' : 'chaincheck.batches.others.other', { n: C.formatNumber(others, lang) }));
  if (n) detail.append(list);
  return { checks, relevant };
}

function countValues(bytes) {
  try {
    return JSON.parse(new TextDecoder().decode(bytes)).values.length;
  } catch (err) {
    return '?';
  }
}

// ---------------------------------------------------------------------------- comparison (DOM)

const TIME_FIELDS = new Set(['due_date', 'original_due_date', 'promised_at', 'met_at', 'met_on_record_at',
  'met_at_original_terms', 'met_on_record_at_original_terms', 'delivered_at', 'recorded_at']);
const QUANTITY_FIELDS = new Set(['target_quantity', 'original_target_quantity', 'delivered_quantity', 'quantity']);

function show(C, field, value, lang) {
  if (value === null || value === undefined) return C.t('chaincheck.value.none');
  if (typeof value === 'boolean') return C.t(`chaincheck.value.${value}`);
  if (TIME_FIELDS.has(field) && Number.isFinite(Number(value))) {
    return C.t('chaincheck.value.time', { date: C.formatDate(Number(value), lang), seconds: String(value) });
  }
  if (QUANTITY_FIELDS.has(field) && /^-?[0-9]+$/.test(String(value))) return C.formatNumber(String(value), lang);
  if (field.startsWith('status')) return C.t(`chaincheck.status.${value}`);
  if (field === 'kind') return C.t(`chaincheck.kind.${value}`);
  if (Array.isArray(value)) return value.length ? value.join(', ') : C.t('chaincheck.value.none');
  return String(value);
}

function deliveryLabel(C, d, projection, lang) {
  if (d.kind === 'batched') {
    const own = projection && projection.deliveries.find((x) => x.kind === 'batched' && x.key === String(d.key).toLowerCase());
    const n = own ? own.leafIndex + 1 : '?';
    return C.t('chaincheck.delivery.batched', { n: C.formatNumber(n, lang), root: short(d.batchRoot || d.batch_root || '') });
  }
  const n = BigInt(d.key) % 1000000n;
  return C.t('chaincheck.delivery.recorded', { n: n.toString() });
}

function showComparison(C, R, steps, projection, expected, now, block, lang) {
  const chainFields = R.evaluate(projection, now);
  const chainDeliveries = R.expectedDeliveries(projection);
  const fieldDiffs = R.compareFields(expected.fields || {}, chainFields);
  const deliveryDiffs = R.compareDeliveries(expected.deliveries || [], chainDeliveries, expected.deliveries_complete !== false);
  const total = fieldDiffs.length + deliveryDiffs.length;
  const fmtBlock = C.formatNumber(block, lang);
  if (!total) {
    const c = projection.commitment;
    steps.set('compare', 'ok', C.t('chaincheck.compare.ok', {
      block: fmtBlock, delivered: C.formatNumber(projection.delivered, lang), target: C.formatNumber(c.target, lang),
      unit: c.unit, status: C.t(`chaincheck.status.${chainFields.status}`),
      fields: C.formatNumber(Object.keys(expected.fields || {}).length, lang),
      deliveries: C.formatNumber(chainDeliveries.length, lang), amendments: C.formatNumber(c.amendmentCount, lang),
    }));
    steps.items.get('compare').detail.classList.add('cc-summary');
    return;
  }
  const detail = steps.set('compare', 'fail', C.t(total === 1 ? 'chaincheck.compare.fail.one' : 'chaincheck.compare.fail.other',
    { count: C.formatNumber(total, lang), block: fmtBlock }));
  const list = el('ul', 'cc-diffs');
  for (const d of fieldDiffs) {
    const li = el('li', 'cc-diff', C.t('chaincheck.compare.diff', {
      field: C.t(`chaincheck.field.${d.field}`), page: show(C, d.field, d.page, lang), chain: show(C, d.field, d.chain, lang) }));
    li.dataset.field = d.field;
    list.append(li);
  }
  for (const d of deliveryDiffs) {
    const label = deliveryLabel(C, d, projection, lang);
    let text;
    if (d.field === '(presence)') text = C.t(d.page ? 'chaincheck.compare.onlyOnPage' : 'chaincheck.compare.onlyOnChain', { delivery: label });
    else {
      text = C.t('chaincheck.compare.deliveryDiff', { delivery: label, field: C.t(`chaincheck.field.${d.field}`),
        page: show(C, d.field, d.page, lang), chain: show(C, d.field, d.chain, lang) });
    }
    const li = el('li', 'cc-diff', text);
    li.dataset.field = `delivery.${d.field}`;
    li.dataset.delivery = String(d.key);
    list.append(li);
  }
  detail.append(list);
}

// ---------------------------------------------------------------------------- events read (DOM)

function describe(C, e, projection, lang) {
  const a = e.args;
  const unit = projection ? projection.commitment.unit : '';
  const q = (v) => C.formatNumber(v, lang);
  switch (e.name) {
    case 'CommitmentRegistered':
      return C.t('chaincheck.what.registered', { target: q(a.targetQuantity), unit: a.unit, due: C.formatDate(Number(a.dueDate), lang, false) });
    case 'CommitmentAmended':
      return C.t('chaincheck.what.amended', { n: String(a.amendmentNumber), reason: a.reason });
    case 'CommitmentWithdrawn':
      return C.t('chaincheck.what.withdrawn', { reason: a.reason });
    case 'DeliveryRecorded':
      return C.t('chaincheck.what.recorded', { n: (a.deliveryId % 1000000n).toString(), quantity: q(a.quantity), unit,
        date: C.formatDate(Number(a.deliveredAt), lang, false) });
    case 'DeliveryRevoked':
      return C.t('chaincheck.what.revoked', { n: (a.deliveryId % 1000000n).toString(), reason: a.reason });
    case 'BatchAnchored': {
      const root = a.root.toLowerCase();
      const mine = projection ? projection.deliveries.filter((d) => d.batchRoot === root).length : null;
      return mine === null
        ? C.t('chaincheck.what.anchoredUnchecked', { root: short(root), leaves: q(a.leafCount) })
        : C.t('chaincheck.what.anchored', { root: short(root), leaves: q(a.leafCount), mine: q(mine) });
    }
    case 'BatchedDeliveryRevoked': {
      const own = projection && projection.deliveries.find((d) => d.batchRoot === a.root.toLowerCase() && d.key === a.leafHash.toLowerCase());
      return C.t('chaincheck.what.batchedRevoked', { leaf: own ? q(own.leafIndex + 1) : short(a.leafHash), root: short(a.root), reason: a.reason });
    }
    default:
      return '';
  }
}

function eventTable(C, s, projection, events, headingKey, lang) {
  const details = el('details', 'cc-events');
  details.append(el('summary', '', C.t(headingKey, { count: C.formatNumber(events.length, lang) })));
  const wrap = el('div', 'cc-scroll');
  wrap.tabIndex = 0; // a region that may scroll sideways is reachable by keyboard
  wrap.setAttribute('role', 'region');
  wrap.setAttribute('aria-label', C.t(headingKey, { count: C.formatNumber(events.length, lang) }));
  const table = el('table');
  const head = el('tr');
  for (const key of ['event', 'block', 'tx', 'what']) {
    const th = el('th', '', C.t(`chaincheck.log.${key}`));
    th.scope = 'col';
    head.append(th);
  }
  const thead = el('thead');
  thead.append(head);
  const tbody = el('tbody');
  for (const e of events) {
    const tr = el('tr');
    tr.dataset.event = e.name;
    tr.dataset.block = String(e.blockNumber);
    const block = el('td');
    block.append(C.chainRef(s, 'block', e.blockNumber, C.formatNumber(e.blockNumber, lang)));
    const tx = el('td');
    tx.append(C.chainRef(s, 'tx', e.txHash, e.txHash));
    tr.append(el('td', '', C.t(`chaincheck.event.${e.name}`)), block, tx, el('td', '', describe(C, e, projection, lang)));
    tbody.append(tr);
  }
  table.append(thead, tbody);
  wrap.append(table);
  details.append(wrap);
  return details;
}
