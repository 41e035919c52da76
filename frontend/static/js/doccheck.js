// doccheck.js — the document check of /check, in the reader's browser, against the chain.
//
// A file the reader chooses is hashed here (crypto.subtle SHA-256) and never uploaded. Its
// fingerprint — or the one of the page's ?sha256=, when the reader asks — is then checked
// against the chain step by step, as Blockcerts and OpenCerts verifiers name their steps:
//
//   1. fingerprint computed in the browser (or: given in the page's address);
//   2. found on chain: every DeliveryRecorded and CommitmentRegistered log of the contract from
//      data-deploy-block to the head (topic0 only: no event is indexed by evidence hash, so a
//      complete scan is the only trustless way), the hash looked for in `evidenceHashes` and
//      `sourceDocumentHash`. Batched deliveries are not in the log one by one: this server's
//      index names the leaves citing the hash (GET {api}/verify/{sha256}); for each, the batch
//      file is fetched ({api}/batches/{root}/file) and its SHA-256 compared with the
//      BatchAnchored log's `fileSha256`, the leaf is read from that checked file at the
//      position the index gives, and the contract's `verifyBatchedDelivery(root, leaf, proof)`
//      (eth_call, proof from {api}/batches/{root}/leaves/{leaf}/proof) decides: the index only
//      points, the chain decides;
//   3. cited by: which delivery (id, quantity, stated date) of which commitment (id and title
//      as on chain, amendments applied), or the source document of which commitment;
//   4. revoked or not: DeliveryRevoked (deliveryId) / BatchedDeliveryRevoked (root, leafHash)
//      logs, and verifyBatchedDelivery's `revoked`; a revoked citation is never shown green;
//   5. recorded by an account holding the registrar role of that municipality at that log's
//      (block, log index), from RegistrarAdded / RegistrarRemoved logs alone (no archive
//      state needed);
//   6. the verdict: valid / partly valid / revoked / refused / not found on chain / could not
//      be checked (with the reason).
//
// Without a public RPC URL (body data-rpc-url=""), or when the chain cannot be read, the
// index's answer is shown instead, labelled "according to this server's index".
//
// The page contract (frontend/templates/check.html): <input type=file id=check-file> in
// form#doc-check-file, input#check-hash, div#doc-check-chain (role=status, this script's
// output), <script type=application/json> blocks #doc-check-index (the index answer for
// ?sha256=, or null), #texts (every doccheck.* text of the page's language), #asset-urls
// ({"chain": url of chain.js, "ethers", "abi"}). Texts are inserted with textContent only.

const LEDGER_EVENTS = Object.freeze([
  'MunicipalityRegistered', 'RegistrarAdded', 'RegistrarRemoved', 'CommitmentRegistered', 'CommitmentAmended',
  'CommitmentWithdrawn', 'DeliveryRecorded', 'DeliveryRevoked', 'BatchAnchored', 'BatchedDeliveryRevoked',
]);
/** Events read in the one scan of the log (topic0 any of these): what steps 2–5 need. */

const AMEND_TITLE = 1;
/** CommitmentAmended `fields` bit of a new title (docs/LEDGER.md "Terms"). */

const PROGRESS_INTERVAL_MS = 700;
/** Least time between two progress texts in the live region (screen readers read each). */

const HEX32 = /^0x[0-9a-f]{64}$/;

function readJsonBlock(id) {
  const node = document.getElementById(id);
  if (!node || !node.textContent.trim()) return null;
  try {
    return JSON.parse(node.textContent);
  } catch (err) {
    return null;
  }
}

const region = document.getElementById('doc-check-chain');
let C = null; // chain.js, imported below
let generation = 0; // a newer check makes an older one stop writing

// ------------------------------------------------------------------ small DOM helpers

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

/** Text `key` as a fragment: each `{name}` becomes params[name], a Node as is, else its text. */
function fill(key, params = {}) {
  const template = C.t(key);
  const out = document.createDocumentFragment();
  let last = 0;
  template.replace(/\{([A-Za-z0-9_]+)\}/g, (whole, name, offset) => {
    out.append(template.slice(last, offset));
    const value = Object.prototype.hasOwnProperty.call(params, name) ? params[name] : whole;
    out.append(value instanceof Node ? value : String(value));
    last = offset + whole.length;
    return whole;
  });
  out.append(template.slice(last));
  return out;
}

function pluralKey(key, n) {
  const rule = new Intl.PluralRules(lang() === 'en' ? 'en-GB' : 'nl-NL').select(Number(n));
  return `${key}.${rule === 'one' ? 'one' : 'other'}`;
}

function lang() {
  return document.body.dataset.lang === 'en' ? 'en' : 'nl';
}

function code(text) {
  return el('code', 'hash', text);
}

function shortHash(hash) {
  return `${hash.slice(0, 10)}…${hash.slice(-4)}`;
}

function num(value) {
  return C.formatNumber(value, lang());
}

function day(seconds) {
  return C.formatDate(Number(seconds), lang(), false);
}

function moment(seconds) {
  return C.formatDate(Number(seconds), lang(), true);
}

function link(href, text) {
  const a = el('a', null, text);
  a.href = href;
  return a;
}

function commitmentLink(id, title) {
  return link(`/commitments/${id}?lang=${lang()}`, title);
}

function txRef(s, txHash) {
  return C.chainRef(s, 'tx', txHash, shortHash(txHash));
}

function blockRef(s, n) {
  return C.chainRef(s, 'block', n, num(n));
}

function accountRef(s, address) {
  return C.chainRef(s, 'address', address, address);
}

const OUTCOMES = ['ok', 'fail', 'warn', 'skip', 'pending'];
/** Classes of a step or item; its words are `doccheck.outcome.<word>`, by default the class's,
 * or 'unchecked' (class warn) when something could not be read. */

/** One step: <li class=state><span name>: <span outcome> <p detail> <ul items>. */
function step(list, nameKey) {
  const li = el('li', 'pending');
  const name = el('span', 'dc-name', C.t(nameKey));
  const outcome = el('span', 'dc-outcome', C.t('doccheck.outcome.pending'));
  const detail = el('p', 'dc-detail');
  const items = el('ul', 'dc-items');
  li.append(name, ': ', outcome, detail);
  list.append(li);
  return {
    li,
    progress(content) {
      detail.replaceChildren(content);
    },
    set(state, content, words = state) {
      if (!OUTCOMES.includes(state)) throw new Error(`unknown outcome ${state}`);
      li.className = state;
      outcome.textContent = C.t(`doccheck.outcome.${words}`);
      detail.replaceChildren(...(content ? [content] : []));
    },
    item(state, content, words = state) {
      if (!items.isConnected) li.append(items);
      const row = el('li', state);
      row.append(el('span', 'dc-outcome', C.t(`doccheck.outcome.${words}`)), ' ', content);
      items.append(row);
      return row;
    },
  };
}

/** The worst of several outcomes (fail > warn > ok > skip). */
function worst(states) {
  for (const s of ['fail', 'warn', 'ok']) if (states.includes(s)) return s;
  return 'skip';
}

// ------------------------------------------------------------------ the index's answer

class ApiError extends Error {
  constructor(status, url) {
    super(`HTTP ${status} for ${url}`);
    this.name = 'ApiError';
    this.status = status;
  }
}

/** GET {api}{path} as JSON; throws ApiError (status 0 when it did not answer). */
async function apiJson(path) {
  const url = `${C.settings().api}${path}`;
  let resp;
  try {
    resp = await fetch(url, { credentials: 'same-origin', headers: { Accept: 'application/json' } });
  } catch (err) {
    throw new ApiError(0, url);
  }
  if (!resp.ok) throw new ApiError(resp.status, url);
  return resp.json();
}

/** GET {api}{path} as bytes; throws ApiError. */
async function apiBytes(path) {
  const url = `${C.settings().api}${path}`;
  let resp;
  try {
    resp = await fetch(url, { credentials: 'same-origin' });
  } catch (err) {
    throw new ApiError(0, url);
  }
  if (!resp.ok) throw new ApiError(resp.status, url);
  return resp.arrayBuffer();
}

/** The index's answer for `hash`: the page's own block when it is for this hash, else the API. */
function indexAnswer(hash) {
  const own = readJsonBlock('doc-check-index');
  if (own && typeof own.sha256 === 'string' && own.sha256.toLowerCase() === hash) return Promise.resolve(own);
  return apiJson(`/verify/${hash}`);
}

function apiReason(err) {
  return err instanceof ApiError && err.status ? C.t('doccheck.api.status', { status: err.status })
    : C.t('doccheck.api.unreachable');
}

/** The index's answer as a labelled block (never confused with a chain result). */
function renderIndex(container, answer, introKey) {
  const box = el('section', 'dc-index');
  const id = `dc-index-h-${generation}`;
  const h = el('h3', null, C.t('doccheck.index.heading'));
  h.id = id;
  box.setAttribute('aria-labelledby', id);
  box.append(h, el('p', 'note', C.t(introKey)));
  if (!answer.found) {
    box.append(el('p', 'verdict tone-warn', C.t('doccheck.index.notFound')));
    container.append(box);
    return;
  }
  const list = el('ul', 'dc-items');
  const states = [];
  for (const c of answer.citations) {
    const revoked = Boolean(c.revoked);
    const refused = c.counted === false;
    const state = revoked || refused ? 'fail' : 'ok';
    states.push(state);
    const params = {
      cid: num(c.commitment_id), title: commitmentLink(c.commitment_id, c.commitment_title),
      municipality: c.municipality_name, quantity: num(c.quantity), date: day(c.delivered_at),
      recorded: moment(c.recorded_at),
    };
    const row = el('li', state);
    if (c.kind === 'batched') {
      row.append(fill('doccheck.index.batched', { ...params, root: code(shortHash(c.batch_root)), leaf: code(shortHash(c.leaf_hash)) }));
    } else {
      row.append(fill('doccheck.index.recorded', { ...params, number: num(BigInt(c.delivery_id) % 1000000n), id: c.delivery_id }));
    }
    row.append(' ');
    if (revoked) row.append(el('strong', null, C.t('doccheck.index.revoked', { reason: c.revocation_reason || '' })));
    else if (refused) row.append(el('strong', null, C.t('doccheck.index.refused')));
    else row.append(el('strong', null, C.t('doccheck.index.valid')));
    list.append(row);
  }
  for (const s of answer.source_of) {
    states.push('ok');
    const row = el('li', 'ok');
    row.append(fill('doccheck.index.source', { cid: num(s.commitment_id), title: commitmentLink(s.commitment_id, s.title),
      municipality: s.municipality_name }));
    list.append(row);
  }
  const verdictKey = states.every((s) => s === 'ok') ? 'doccheck.index.verdict.valid'
    : states.includes('ok') ? 'doccheck.index.verdict.partly' : 'doccheck.index.verdict.invalid';
  box.append(list, el('p', `verdict ${states.every((s) => s === 'ok') ? 'tone-ok' : 'tone-bad'}`, C.t(verdictKey)));
  container.append(box);
}

async function indexFallback(container, hash, introKey, isCurrent) {
  const own = readJsonBlock('doc-check-index');
  if (own && typeof own.sha256 === 'string' && own.sha256.toLowerCase() === hash) {
    container.append(el('p', 'note', C.t('doccheck.index.seeAbove')));
    return;
  }
  const wait = el('p', null, C.t('doccheck.index.asking'));
  container.append(wait);
  try {
    const answer = await apiJson(`/verify/${hash}`);
    if (!isCurrent()) return;
    wait.remove();
    renderIndex(container, answer, introKey);
  } catch (err) {
    if (!isCurrent()) return;
    wait.textContent = C.t('doccheck.index.failed', { reason: apiReason(err) });
  }
}

// ------------------------------------------------------------------ reading the chain

/** (block, log index) of `a` strictly before that of `b`. */
function before(a, b) {
  return a.blockNumber < b.blockNumber || (a.blockNumber === b.blockNumber && a.logIndex < b.logIndex);
}

/** What the scan found, keyed by decimal id strings and lowercase hex. */
function project(events, hash) {
  const m = {
    municipalities: new Map(), commitments: new Map(), recorded: [], sources: [], revocations: new Map(),
    batches: new Map(), batchRevocations: new Map(), roles: [], counts: { DeliveryRecorded: 0, CommitmentRegistered: 0 },
  };
  for (const ev of events) {
    const a = ev.args;
    switch (ev.name) {
      case 'MunicipalityRegistered':
        m.municipalities.set(a.municipalityId.toString(), a.name);
        break;
      case 'RegistrarAdded':
      case 'RegistrarRemoved':
        m.roles.push(ev);
        break;
      case 'CommitmentRegistered':
        m.counts.CommitmentRegistered += 1;
        m.commitments.set(a.commitmentId.toString(), {
          id: a.commitmentId, title: a.title, unit: a.unit, municipalityId: a.municipalityId, registered: ev, withdrawn: null,
        });
        if (String(a.sourceDocumentHash).toLowerCase() === hash) m.sources.push(ev);
        break;
      case 'CommitmentAmended': {
        const c = m.commitments.get(a.commitmentId.toString());
        if (c && (Number(a.fields) & AMEND_TITLE)) c.title = a.title;
        break;
      }
      case 'CommitmentWithdrawn': {
        const c = m.commitments.get(a.commitmentId.toString());
        if (c) c.withdrawn = ev;
        break;
      }
      case 'DeliveryRecorded':
        m.counts.DeliveryRecorded += 1;
        if (a.evidenceHashes.some((h) => String(h).toLowerCase() === hash)) m.recorded.push(ev);
        break;
      case 'DeliveryRevoked':
        m.revocations.set(a.deliveryId.toString(), ev);
        break;
      case 'BatchAnchored':
        m.batches.set(String(a.root).toLowerCase(), ev);
        break;
      case 'BatchedDeliveryRevoked':
        m.batchRevocations.set(`${String(a.root).toLowerCase()}/${String(a.leafHash).toLowerCase()}`, ev);
        break;
      default:
        break;
    }
  }
  return m;
}

/** Whether `account` held the registrar role of `municipalityId` just before log `at`, from
 * RegistrarAdded/RegistrarRemoved alone: {held, last (the deciding role event or null)}. */
function registrarAt(roles, municipalityId, account, at) {
  let last = null;
  const who = String(account).toLowerCase();
  for (const r of roles) {
    if (!before(r, at)) break; // roles are in log order
    if (r.args.municipalityId === municipalityId && String(r.args.account).toLowerCase() === who) last = r;
  }
  return { held: Boolean(last && last.name === 'RegistrarAdded'), last };
}

async function ethCall(chain, fn, args) {
  const data = chain.iface.encodeFunctionData(fn, args);
  let raw;
  try {
    raw = await chain.provider.send('eth_call', [{ to: chain.settings.contract, data }, 'latest']);
  } catch (err) {
    throw C.classify(err, chain.settings.rpcUrl);
  }
  return chain.iface.decodeFunctionResult(fn, raw);
}

/** A batch leaf's values (file order: commitmentId, quantity, deliveredAt, evidenceHashes,
 * evidenceUri, note, externalRef, assetRef) as the BatchLeaf tuple the contract takes. */
function leafTuple(values) {
  return [BigInt(values[0]), BigInt(values[1]), BigInt(values[2]), values[3], values[4], values[5], values[6], values[7]];
}

/** Checks one batched citation the index names. Returns {state: ok|fail|warn, node, citation?}. */
async function checkBatched(chain, m, hash, c) {
  const s = chain.settings;
  const root = String(c.batch_root).toLowerCase();
  const leaf = String(c.leaf_hash).toLowerCase();
  const names = { root: code(root), leaf: code(leaf) };
  if (!HEX32.test(root) || !HEX32.test(leaf)) {
    return { state: 'fail', node: fill('doccheck.batch.malformed', names) };
  }
  const anchor = m.batches.get(root);
  if (!anchor) return { state: 'fail', node: fill('doccheck.batch.notAnchored', names) };
  const expected = String(anchor.args.fileSha256).toLowerCase();
  let bytes;
  try {
    bytes = await apiBytes(`/batches/${root}/file`);
  } catch (err) {
    return { state: 'warn', reason: C.t('doccheck.batch.fileMissingShort'),
      node: fill('doccheck.batch.fileMissing', { ...names, reason: apiReason(err), uri: anchor.args.fileUri }) };
  }
  const actual = await C.sha256Hex(bytes);
  if (actual !== expected) {
    return { state: 'fail', node: fill('doccheck.batch.fileMismatch', { ...names, actual: code(actual), expected: code(expected) }) };
  }
  let dump;
  try {
    dump = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (err) {
    return { state: 'fail', node: fill('doccheck.batch.unparseable', names) };
  }
  let proof;
  try {
    proof = await apiJson(`/batches/${root}/leaves/${leaf}/proof`);
  } catch (err) {
    return { state: 'warn', reason: C.t('doccheck.batch.proofMissingShort'),
      node: fill('doccheck.batch.proofMissing', { ...names, reason: apiReason(err) }) };
  }
  const entry = dump && Array.isArray(dump.values) ? dump.values[proof.leaf_index] : null;
  const values = entry && Array.isArray(entry.value) && entry.value.length === 8 ? entry.value : null;
  if (!values) return { state: 'fail', node: fill('doccheck.batch.leafNotInFile', names) };
  if (!Array.isArray(values[3]) || !values[3].some((h) => String(h).toLowerCase() === hash)) {
    return { state: 'fail', node: fill('doccheck.batch.leafLacksHash', names) };
  }
  let answer;
  try {
    answer = await ethCall(chain, 'verifyBatchedDelivery', [root, leafTuple(values), proof.proof]);
  } catch (err) {
    const typed = C.classify(err, s.rpcUrl);
    return { state: 'warn', reason: C.t(`doccheck.error.${typed.code}`, typed.params),
      node: fill('doccheck.batch.callFailed', { ...names, reason: C.t(`doccheck.error.${typed.code}`, typed.params) }) };
  }
  const [included, leafHash, revokedFlag] = [Boolean(answer[0]), String(answer[1]).toLowerCase(), Boolean(answer[2])];
  if (!included || leafHash !== leaf) {
    return { state: 'fail', node: fill('doccheck.batch.proofRejected', { ...names, included: String(included), computed: code(leafHash) }) };
  }
  const node = fill('doccheck.batch.ok', {
    ...names, sha: code(actual), block: blockRef(s, anchor.blockNumber), tx: txRef(s, anchor.txHash),
    position: num(proof.leaf_index + 1),
  });
  return {
    state: 'ok', node,
    citation: {
      kind: 'batched', root, leaf, position: proof.leaf_index + 1, commitmentId: BigInt(values[0]),
      quantity: BigInt(values[1]), deliveredAt: BigInt(values[2]), at: anchor, signer: anchor.args.registrar,
      municipalityId: anchor.args.municipalityId,
      revocation: m.batchRevocations.get(`${root}/${leaf}`) || null, revokedOnChain: revokedFlag,
      refusedReason: proof.counted === false ? (proof.refused_reason || 'unknown') : null,
    },
  };
}

// ------------------------------------------------------------------ the check

function citationLabel(c) {
  if (c.kind === 'recorded') {
    return C.t('doccheck.label.recorded', { number: num(c.deliveryId % 1000000n), cid: num(c.commitmentId) });
  }
  if (c.kind === 'batched') return C.t('doccheck.label.batched', { leaf: shortHash(c.leaf), cid: num(c.commitmentId) });
  return C.t('doccheck.label.source', { cid: num(c.commitmentId) });
}

/** Runs steps 2–6 for `hash` into `list`; `isCurrent()` false once a newer check started. */
async function chainCheck(hash, list, view, isCurrent) {
  const s = C.settings();
  const found = step(list, 'doccheck.step.found');
  const cited = step(list, 'doccheck.step.cited');
  const revoked = step(list, 'doccheck.step.revoked');
  const role = step(list, 'doccheck.step.role');
  const verdict = step(list, 'doccheck.step.verdict');
  verdict.li.classList.add('dc-verdict');
  const finish = (state, key, params, words = state) => {
    verdict.set(state, fill(key, params), words);
    verdict.li.className = `${state} dc-verdict`;
  };
  const skipRest = (key, params = {}) => {
    for (const st of [cited, revoked, role]) st.set('skip', fill(key, params));
  };

  const index = indexAnswer(hash);
  index.catch(() => undefined); // awaited below; an early failure must not be "unhandled"
  found.progress(fill('doccheck.connecting', { network: s.networkName || s.chainId || '', url: s.rpcUrl }));

  let chain;
  let headBlock;
  let events;
  let version;
  try {
    if (!s.contract) throw new C.ChainError('no-contract', { address: '' });
    chain = await C.connect();
    await C.checkChainId(chain);
    version = await C.contractVersion(chain);
    headBlock = (await C.head(chain)).number;
    const topics = [LEDGER_EVENTS.map((name) => C.eventTopic(chain, name))];
    const from = s.deployBlock;
    let shown = 0;
    const logs = await C.getLogs(chain, {
      topics, fromBlock: from, toBlock: headBlock,
      onProgress(done, to) {
        const now = Date.now();
        if (now - shown < PROGRESS_INTERVAL_MS || !isCurrent()) return;
        shown = now;
        found.progress(fill('doccheck.scanning', { from: num(from), to: num(to), done: num(done - from + 1), blocks: num(to - from + 1) }));
      },
    });
    events = logs.map((log) => C.decodeLog(chain, log)).filter(Boolean);
  } catch (err) {
    if (!isCurrent()) return;
    const typed = C.classify(err, s.rpcUrl);
    const reason = C.t(`doccheck.error.${typed.code}`, typed.params);
    found.set('warn', fill('doccheck.found.failed', { reason }), 'unchecked');
    skipRest('doccheck.skip.unchecked');
    finish('warn', 'doccheck.verdict.unchecked', { reason }, 'unchecked');
    await indexFallback(view, hash, 'doccheck.index.afterFailure', isCurrent);
    return;
  }
  if (!isCurrent()) return;

  const m = project(events, hash);
  const from = s.deployBlock;
  const scanned = {
    from: num(from), to: blockRef(s, headBlock), blocks: num(Math.max(0, headBlock - from + 1)),
    events: num(events.length), deliveries: num(m.counts.DeliveryRecorded), commitments: num(m.counts.CommitmentRegistered),
    version,
  };

  // Step 2: recorded deliveries and source documents from the log; batched ones via the index.
  const citations = [];
  const foundStates = [];
  for (const ev of m.recorded) {
    const a = ev.args;
    citations.push({
      kind: 'recorded', deliveryId: a.deliveryId, commitmentId: a.commitmentId, quantity: a.quantity,
      deliveredAt: a.deliveredAt, recordedAt: a.recordedAt, at: ev, signer: a.registrar,
      municipalityId: (m.commitments.get(a.commitmentId.toString()) || {}).municipalityId,
      revocation: m.revocations.get(a.deliveryId.toString()) || null,
    });
    foundStates.push('ok');
    found.item('ok', fill('doccheck.found.recorded', { id: a.deliveryId.toString(), block: blockRef(s, ev.blockNumber), tx: txRef(s, ev.txHash) }));
  }
  for (const ev of m.sources) {
    const a = ev.args;
    citations.push({ kind: 'source', commitmentId: a.commitmentId, at: ev, signer: a.registrar, municipalityId: a.municipalityId });
    foundStates.push('ok');
    found.item('ok', fill('doccheck.found.source', { cid: num(a.commitmentId), block: blockRef(s, ev.blockNumber), tx: txRef(s, ev.txHash) }));
  }

  let answer = null;
  let indexError = null;
  try {
    answer = await index;
  } catch (err) {
    indexError = err;
  }
  if (!isCurrent()) return;
  const batchUnchecked = [];
  let batchFailed = 0;
  const batched = answer ? answer.citations.filter((c) => c.kind === 'batched') : [];
  if (batched.length) found.progress(fill(pluralKey('doccheck.batch.checking', batched.length), { n: num(batched.length) }));
  for (const c of batched) {
    const result = await checkBatched(chain, m, hash, c);
    if (!isCurrent()) return;
    found.item(result.state, result.node, result.state === 'warn' ? 'unchecked' : result.state);
    foundStates.push(result.state);
    if (result.citation) citations.push(result.citation);
    else if (result.state === 'warn') batchUnchecked.push(result.reason);
    else batchFailed += 1;
  }
  const notes = document.createDocumentFragment();
  notes.append(fill('doccheck.found.scanned', scanned), ' ');
  if (indexError) {
    notes.append(fill('doccheck.found.indexFailed', { reason: apiReason(indexError), n: num(m.batches.size) }));
    if (m.batches.size) batchUnchecked.push(C.t('doccheck.found.indexFailedShort'));
  } else if (m.batches.size) {
    notes.append(fill(pluralKey(batched.length ? 'doccheck.found.batches' : 'doccheck.found.batchesNone', m.batches.size),
      { n: num(m.batches.size) }));
  }
  if (citations.length) {
    found.set(worst(foundStates), notes);
  } else {
    const none = document.createDocumentFragment();
    none.append(fill('doccheck.found.none', { to: blockRef(s, headBlock) }), ' ', notes);
    if (batchUnchecked.length) found.set('warn', none, 'unchecked');
    else found.set('fail', none);
  }

  if (!citations.length) {
    skipRest('doccheck.skip.nothing');
    if (batchUnchecked.length) finish('warn', 'doccheck.verdict.unchecked', { reason: batchUnchecked.join('; ') }, 'unchecked');
    else if (batchFailed) finish('fail', 'doccheck.verdict.notProven', { to: num(headBlock) });
    else finish('fail', 'doccheck.verdict.notFound', { to: num(headBlock) });
    return;
  }

  // Step 3: who cites it, with the commitment as on chain (title after amendments).
  const citedStates = [];
  for (const c of citations) {
    const info = m.commitments.get(c.commitmentId.toString());
    const title = info ? commitmentLink(c.commitmentId, info.title) : code(c.commitmentId.toString());
    const unit = info ? info.unit : '';
    c.problem = null;
    let node;
    if (c.kind === 'recorded') {
      node = fill('doccheck.cited.recorded', {
        number: num(c.deliveryId % 1000000n), id: c.deliveryId.toString(), cid: num(c.commitmentId), title,
        quantity: num(c.quantity), unit, date: day(c.deliveredAt), recorded: moment(c.recordedAt),
      });
    } else if (c.kind === 'batched') {
      node = fill('doccheck.cited.batched', {
        root: code(shortHash(c.root)), leaf: code(shortHash(c.leaf)), position: num(c.position), cid: num(c.commitmentId),
        title, quantity: num(c.quantity), unit, date: day(c.deliveredAt), recorded: moment(c.at.args.anchoredAt),
      });
      if (!info || !before(info.registered, c.at)) c.problem = 'unregistered';
      else if (info.municipalityId !== c.municipalityId) c.problem = 'otherMunicipality';
      else if (info.withdrawn && before(info.withdrawn, c.at)) c.problem = 'withdrawn';
    } else {
      node = fill('doccheck.cited.source', { cid: num(c.commitmentId), title, date: moment(c.at.args.registeredAt) });
    }
    if (c.problem) {
      node.append(' ', el('strong', null, C.t(`doccheck.cited.${c.problem}`, { cid: num(c.commitmentId) })));
    } else if (c.refusedReason) {
      node.append(' ', el('strong', null, C.t('doccheck.cited.refused', { reason: C.t(`doccheck.refused.${c.refusedReason}`) })));
    }
    if (info && info.withdrawn && !c.problem) {
      node.append(' ', fill('doccheck.cited.withdrawnNote', { date: day(info.withdrawn.args.withdrawnAt), reason: info.withdrawn.args.reason }));
    }
    const state = c.problem || c.refusedReason ? 'fail' : 'ok';
    citedStates.push(state);
    cited.item(state, node);
  }
  cited.set(worst(citedStates), fill(pluralKey('doccheck.cited.count', citations.length), { n: num(citations.length) }));

  // Step 4: revocations.
  const revokedStates = [];
  for (const c of citations) {
    const label = citationLabel(c);
    if (c.kind === 'source') {
      revoked.item('skip', fill('doccheck.revoked.source', { label }));
      continue;
    }
    const ev = c.revocation;
    if (ev || c.revokedOnChain) {
      c.revoked = true;
      revokedStates.push('fail');
      revoked.item('fail', ev
        ? fill('doccheck.revoked.yes', { label, date: moment(ev.args.revokedAt), reason: ev.args.reason,
          block: blockRef(s, ev.blockNumber), tx: txRef(s, ev.txHash) })
        : fill('doccheck.revoked.byCall', { label }));
    } else {
      revokedStates.push('ok');
      revoked.item('ok', fill(c.kind === 'batched' ? 'doccheck.revoked.noBatched' : 'doccheck.revoked.no',
        { label, to: num(headBlock) }));
    }
  }
  const anyRevoked = revokedStates.includes('fail');
  const allRevoked = revokedStates.length > 0 && revokedStates.every((st) => st === 'fail');
  revoked.set(revokedStates.length === 0 ? 'skip' : allRevoked ? 'fail' : anyRevoked ? 'warn' : 'ok',
    fill(revokedStates.length === 0 ? 'doccheck.revoked.none' : anyRevoked ? 'doccheck.revoked.some' : 'doccheck.revoked.all'));

  // Step 5: the signer's role at that log.
  const roleStates = [];
  for (const c of citations) {
    const label = citationLabel(c);
    const mid = c.municipalityId;
    const municipality = mid === undefined ? '?' : (m.municipalities.get(mid.toString()) || C.t('doccheck.role.municipality', { id: mid.toString() }));
    const where = { label, account: accountRef(s, c.signer), municipality, block: blockRef(s, c.at.blockNumber), log: num(c.at.logIndex) };
    const r = mid === undefined ? { held: false, last: null } : registrarAt(m.roles, mid, c.signer, c.at);
    c.roleHeld = r.held;
    roleStates.push(r.held ? 'ok' : 'fail');
    if (r.held) role.item('ok', fill('doccheck.role.held', { ...where, since: blockRef(s, r.last.blockNumber) }));
    else if (r.last) role.item('fail', fill('doccheck.role.removed', { ...where, since: blockRef(s, r.last.blockNumber) }));
    else role.item('fail', fill('doccheck.role.never', where));
  }
  role.set(worst(roleStates), fill('doccheck.role.how'));

  // Step 6: the verdict. A revoked citation is never green.
  const valid = citations.filter((c) => !c.revoked && c.roleHeld && !c.problem && !c.refusedReason);
  if (valid.length === citations.length && !batchUnchecked.length && !batchFailed) {
    finish('ok', pluralKey('doccheck.verdict.valid', valid.length), { n: num(valid.length) });
  } else if (valid.length) {
    finish('warn', 'doccheck.verdict.partly', { valid: num(valid.length), total: num(citations.length + batchUnchecked.length + batchFailed) });
  } else if (anyRevoked) {
    const texts = citations.filter((c) => c.revoked).map((c) => (c.revocation
      ? C.t('doccheck.verdict.revokedOne', { date: day(c.revocation.args.revokedAt), reason: c.revocation.args.reason })
      : C.t('doccheck.verdict.revokedByCall')));
    finish('fail', 'doccheck.verdict.revoked', { what: texts.join('; ') });
  } else if (citations.some((c) => c.refusedReason)) {
    const c = citations.find((x) => x.refusedReason);
    finish('fail', 'doccheck.verdict.refused', { reason: C.t(`doccheck.refused.${c.refusedReason}`) });
  } else if (citations.some((c) => c.problem)) {
    const c = citations.find((x) => x.problem);
    finish('fail', 'doccheck.verdict.refused', { reason: C.t(`doccheck.cited.${c.problem}`, { cid: num(c.commitmentId) }) });
  } else {
    finish('fail', 'doccheck.verdict.noRole');
  }
}

// ------------------------------------------------------------------ entry points

/** A fresh view in the region for one check: returns {view, list, isCurrent}. */
function newView() {
  generation += 1;
  const mine = generation;
  const view = el('div', 'dc');
  region.replaceChildren(view);
  return { view, isCurrent: () => mine === generation };
}

function stepsList(view) {
  view.append(el('h3', null, C.t('doccheck.stepsHeading')));
  const list = el('ol', 'dc-steps');
  list.id = 'doc-check-steps';
  view.append(list);
  return list;
}

async function checkFile(file) {
  const { view, isCurrent } = newView();
  const s = C.settings();
  const about = el('p', 'dc-file');
  about.append(fill('doccheck.file', { name: el('strong', 'dc-filename', file.name), size: num(file.size) }));
  view.append(about, el('p', 'dc-private', C.t('doccheck.private')));
  const working = el('p', null, C.t('doccheck.hashing'));
  view.append(working);
  if (!(globalThis.crypto && crypto.subtle)) {
    working.textContent = C.t('doccheck.noSubtle');
    return;
  }
  let hash;
  try {
    hash = await C.sha256Hex(await file.arrayBuffer());
  } catch (err) {
    if (isCurrent()) working.textContent = C.t('doccheck.readFailed');
    return;
  }
  if (!isCurrent()) return;
  working.remove();
  const hashInput = document.getElementById('check-hash');
  if (hashInput) hashInput.value = hash;
  const list = stepsList(view);
  step(list, 'doccheck.step.fingerprint').set('ok', fill('doccheck.fingerprint.file', { hash: code(hash) }));
  if (!s.rpcUrl) {
    const rest = step(list, 'doccheck.step.found');
    rest.set('skip', fill('doccheck.found.noRpc'));
    await indexFallback(view, hash, 'doccheck.index.noRpc', isCurrent);
    return;
  }
  await chainCheck(hash, list, view, isCurrent);
}

async function checkGivenHash(hash) {
  const { view, isCurrent } = newView();
  const list = stepsList(view);
  step(list, 'doccheck.step.fingerprintGiven').set('ok', fill('doccheck.fingerprint.given', { hash: code(hash) }));
  await chainCheck(hash, list, view, isCurrent);
}

function offerGivenHash(hash) {
  const box = el('div', 'dc');
  const p = el('p', 'dc-actions');
  const button = el('button', null, C.t('doccheck.checkGiven'));
  button.type = 'button';
  button.id = 'doc-check-chain-run';
  button.addEventListener('click', () => {
    checkGivenHash(hash).catch(reportBug);
  });
  p.append(button);
  box.append(fill('doccheck.offer', { hash: code(hash) }), p);
  region.replaceChildren(box);
}

function reportBug(err) {
  console.warn('document check stopped:', err); // eslint-disable-line no-console
  const view = region.querySelector('.dc') || region;
  view.append(el('p', 'field-error', C.t('doccheck.bug', { message: err && err.message ? err.message : String(err) })));
}

function main() {
  if (!region) return;
  const urls = readJsonBlock('asset-urls') || {};
  // Listeners first, so a file chosen while chain.js still loads is not missed.
  const ready = (urls.chain ? import(urls.chain) : Promise.reject(new Error('no chain.js URL'))).then((mod) => {
    C = mod;
  });
  const failed = () => {
    const texts = readJsonBlock('texts') || {};
    const template = texts['doccheck.error.asset'] || '{what}';
    region.textContent = template.replace('{what}', 'chain.js');
  };
  const form = document.getElementById('doc-check-file');
  if (form) form.addEventListener('submit', (event) => event.preventDefault());
  const input = document.getElementById('check-file');
  const run = () => {
    const file = input.files && input.files[0];
    if (file) ready.then(() => checkFile(file).catch(reportBug), failed);
  };
  if (input) input.addEventListener('change', run);
  ready.then(() => {
    if (input && input.files && input.files.length) {
      run(); // a file the browser kept in the form (back/forward navigation)
      return;
    }
    const own = readJsonBlock('doc-check-index');
    const given = own && typeof own.sha256 === 'string' ? own.sha256.toLowerCase() : '';
    if (HEX32.test(given) && C.settings().rpcUrl) offerGivenHash(given);
  }, failed);
}

main();
