// rules.js — the ledger's rules (docs/LEDGER.md "Two clocks", "Terms", "Status rules",
// "Batches", "Assets", "Ids") written for the reader's browser, from that text: a third
// implementation beside the server's (ledger/status.py) and the auditor's replay
// (scripts/audit/rules.py), so a citizen need not trust either. Pure: no DOM, no network; the
// two hash functions a batch file check needs are passed in (chaincheck.js gives ethers').
//
// Units: times are Unix seconds (Number; the ledger's MAX_DATE fits), quantities BigInt (a
// running total may pass 2**53). Events are chain.js DecodedEvents:
//   { name, args: {<input name>: value (uint → BigInt)}, blockNumber, logIndex, txHash }.
//
// API
//   STATUSES, RECORDED_LATE_AFTER_SECONDS, DELIVERY_ID_BASE, LEAF_ENCODING, UNVERIFIED_REASONS,
//   REFUSED_REASONS, LIMITS
//   statusOf(withdrawn, delivered: BigInt, metAt: number|null, dueDate, now) -> status
//   claimedMetAt([{deliveredAt, quantity}], target: BigInt) -> number|null
//   normaliseAssetRef(text) -> string   (NFC, trimmed, inner whitespace runs → ' ')
//   leafProblems(leaf) -> string[]      (recordDelivery's limits a leaf breaks; [] when none)
//   parseBatchFile(text) -> {leaves: [{valueIndex, treeIndex, commitmentId: BigInt, quantity: BigInt,
//        deliveredAt, evidenceHashes: string[], evidenceUri, note, externalRef, assetRef, values}]}
//        throws BatchFileError (not the standard-v1 dump of LEAF_ENCODING leaves)
//   encodeLeaf(values) -> Uint8Array   abi.encode(LEAF_ENCODING, values), written out for this one
//        tuple type (a generic ABI encoder takes a millisecond a leaf; a batch may hold 10,000)
//   leafHash(values, keccak256) -> '0x..'   keccak256(keccak256(encodeLeaf(values)))
//   nodeHash(a, b, keccak256) -> '0x..'     keccak256 of the two 32-byte hashes, smaller first
//   checkBatchFile(bytes: Uint8Array|null, anchor: {root, fileSha256, leafCount}, hashes, options)
//        -> Promise<{verified, reason: null|UNVERIFIED_REASONS[i], sha256, rebuiltRoot, leaves, error, skipped}>
//        hashes = { sha256Hex(bytes) -> Promise<'0x..'>, keccak256(bytes: Uint8Array) -> '0x..' };
//        options.onlyFor = a commitment id (BigInt): a file whose SHA-256 matches and that parses
//        but names no leaf of it is not hashed further ({verified: false, reason: null,
//        skipped: true}): it cannot change that commitment, whatever its tree.
//   project({commitmentId, events, batches}) -> Projection | null (null: no CommitmentRegistered)
//        events: every event of this commitment (and the BatchAnchored of batches that may name
//        it), any order; batches: Map root(lowercase) → checkBatchFile result.
//   evaluate(projection, now) -> fields in the shape of the page's #chain-check-expected "fields"
//   expectedDeliveries(projection) -> the page's "deliveries" shape
//   compareFields(pageFields, chainFields) -> [{field, page, chain}]
//   compareDeliveries(pageDeliveries, chainDeliveries, complete = true) -> [{key, kind, batchRoot, field, page, chain}]
//        field '(presence)' with page/chain true|false when one side lacks the delivery; when the page
//        shows one page of a longer list (complete false), deliveries only on chain are not differences.

export const STATUSES = Object.freeze(['pending', 'in_progress', 'delivered', 'delivered_late', 'overdue', 'withdrawn']);
export const SECONDS_PER_DAY = 86400;
export const RECORDED_LATE_AFTER_SECONDS = 30 * SECONDS_PER_DAY;
export const DELIVERY_ID_BASE = 1000000n;
export const AMEND_TITLE = 1;
export const AMEND_TARGET = 4;
export const AMEND_DUE_DATE = 8;
export const LEAF_ENCODING = Object.freeze(['uint256', 'uint64', 'uint64', 'bytes32[]', 'string', 'string', 'string', 'string']);
export const UNVERIFIED_REASONS = Object.freeze(['missing', 'sha256_mismatch', 'unparseable', 'root_mismatch', 'leaf_count_mismatch']);
export const REFUSED_REASONS = Object.freeze([
  'unknown_commitment', 'other_municipality', 'commitment_withdrawn', 'invalid_leaf',
  'duplicate_external_ref', 'asset_already_counted',
]);
export const LIMITS = Object.freeze({
  maxQuantity: 10n ** 13n,
  maxEvidence: 16,
  textBytes: Object.freeze({ evidenceUri: 512, note: 1000, externalRef: 64, assetRef: 64 }),
});

const ZERO32 = '0x' + '0'.repeat(64);

// ------------------------------------------------------------------ the mapping, two clocks

export function statusOf(withdrawn, delivered, metAt, dueDate, now) {
  if (withdrawn) return 'withdrawn';
  if (metAt !== null && metAt !== undefined) return metAt <= dueDate ? 'delivered' : 'delivered_late';
  if (now > dueDate) return 'overdue';
  if (BigInt(delivered) > 0n) return 'in_progress';
  return 'pending';
}

export function claimedMetAt(deliveries, target) {
  const sorted = [...deliveries].sort((a, b) => a.deliveredAt - b.deliveredAt);
  let running = 0n;
  for (const d of sorted) {
    running += BigInt(d.quantity);
    if (running >= BigInt(target)) return d.deliveredAt;
  }
  return null;
}

// The on-record running state of one set of terms (docs/LEDGER.md "Status rules").
class Running {
  constructor() {
    this.total = 0n;
    this.metAt = null;
  }

  deliver(quantity, target, recordedAt) {
    this.total += quantity;
    if (this.metAt === null && this.total >= target) this.metAt = recordedAt;
  }

  revoke(quantity, target) {
    this.total -= quantity;
    if (this.total < target) this.metAt = null;
  }

  retarget(previousTarget, target, amendedAt) {
    if (this.total < target) this.metAt = null;
    else if (this.metAt === null || target > previousTarget) this.metAt = amendedAt;
  }
}

// ------------------------------------------------------------------ assets and leaf limits

// What Python's str.isspace() calls whitespace (docs: "Whitespace is what str.isspace says").
const WHITESPACE = '\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const INNER_WS = new RegExp(`[${WHITESPACE}]+`, 'g');
const EDGE_WS = new RegExp(`^[${WHITESPACE}]+|[${WHITESPACE}]+$`, 'g');

export function normaliseAssetRef(text) {
  return String(text).normalize('NFC').replace(EDGE_WS, '').replace(INNER_WS, ' ');
}

const encoder = new TextEncoder();
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

function wellFormed(text) {
  return text.replace(LONE_SURROGATE, '\uFFFD');
}

function utf8Length(text) {
  return encoder.encode(text).length;
}

export function leafProblems(leaf) {
  const found = [];
  if (leaf.quantity < 1n || leaf.quantity > LIMITS.maxQuantity) found.push('quantity_out_of_range');
  if (leaf.deliveredAt < 1) found.push('delivered_at_zero');
  const hashes = leaf.evidenceHashes;
  if (hashes.length < 1 || hashes.length > LIMITS.maxEvidence) found.push('evidence_count_out_of_range');
  if (hashes.includes(ZERO32)) found.push('evidence_hash_zero');
  if (new Set(hashes).size !== hashes.length) found.push('evidence_hash_repeated');
  for (const [name, max] of Object.entries(LIMITS.textBytes)) {
    if (utf8Length(leaf[name]) > max) found.push(`${name}_too_long`);
  }
  return found;
}

// ------------------------------------------------------------------ batch files

export class BatchFileError extends Error {
  /** @param {string} where JSON path of the problem  @param {string} expected what was expected */
  constructor(where, expected) {
    super(`batch file ${where}: expected ${expected}`);
    this.name = 'BatchFileError';
    this.where = where;
    this.expected = expected;
  }
}

const DECIMAL = /^(?:0|[1-9][0-9]{0,77})$/;
const HEX32 = /^0x[0-9a-f]{64}$/;
const UINT_BITS = [256n, 64n, 64n];

function exactKeys(obj, keys, where) {
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) {
    throw new BatchFileError(where || '(top level)', `an object with keys ${keys.join(', ')}`);
  }
  for (const key of keys) if (!Object.prototype.hasOwnProperty.call(obj, key)) throw new BatchFileError(`${where}.${key}`, 'present');
  for (const key of Object.keys(obj)) if (!keys.includes(key)) throw new BatchFileError(`${where}.${key}`, 'no such key');
}

function parseLeafValue(value, valueIndex) {
  const where = `values[${valueIndex}].value`;
  if (!Array.isArray(value) || value.length !== LEAF_ENCODING.length) throw new BatchFileError(where, 'an array of 8 values');
  const uints = value.slice(0, 3).map((v, i) => {
    if (typeof v !== 'string' || !DECIMAL.test(v) || BigInt(v) >= (1n << UINT_BITS[i])) {
      throw new BatchFileError(`${where}[${i}]`, `a decimal string of uint${UINT_BITS[i]}`);
    }
    return BigInt(v);
  });
  const hashes = value[3];
  if (!Array.isArray(hashes) || !hashes.every((h) => typeof h === 'string' && HEX32.test(h))) {
    throw new BatchFileError(`${where}[3]`, 'an array of 0x + 64 lowercase hex strings');
  }
  const texts = value.slice(4).map((v, i) => {
    if (typeof v !== 'string') throw new BatchFileError(`${where}[${4 + i}]`, 'a string');
    return wellFormed(v);
  });
  return {
    commitmentId: uints[0], quantity: uints[1], deliveredAt: Number(uints[2]), evidenceHashes: hashes,
    evidenceUri: texts[0], note: texts[1], externalRef: texts[2], assetRef: texts[3],
    // the values as abi.encode takes them (texts as hashed: a lone surrogate is U+FFFD, as TextEncoder does)
    values: [value[0], value[1], value[2], hashes, ...texts],
  };
}

export function parseBatchFile(text) {
  if (text.charCodeAt(0) === 0xfeff) throw new BatchFileError('(top level)', 'JSON without a byte order mark');
  // JSON.parse reads 1.0 and 1e0 as the integer 1; a dump writes integers only.
  if (/"treeIndex"\s*:\s*-?[0-9]+[.eE]/.test(text)) throw new BatchFileError('values[].treeIndex', 'an integer');
  let doc;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new BatchFileError('(top level)', 'JSON text');
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw new BatchFileError('(top level)', 'an object');
  if (doc.format !== 'standard-v1') throw new BatchFileError('format', '"standard-v1"');
  if (!Array.isArray(doc.leafEncoding) || doc.leafEncoding.join(',') !== LEAF_ENCODING.join(',')) {
    throw new BatchFileError('leafEncoding', JSON.stringify(LEAF_ENCODING));
  }
  exactKeys(doc, ['format', 'leafEncoding', 'tree', 'values'], '');
  if (!Array.isArray(doc.tree)) throw new BatchFileError('tree', 'an array of 0x hashes');
  if (!Array.isArray(doc.values) || doc.values.length === 0) throw new BatchFileError('values', 'a non-empty array');
  const leaves = doc.values.map((entry, valueIndex) => {
    exactKeys(entry, ['value', 'treeIndex'], `values[${valueIndex}]`);
    if (!Number.isInteger(entry.treeIndex)) throw new BatchFileError(`values[${valueIndex}].treeIndex`, 'an integer');
    return { valueIndex, treeIndex: entry.treeIndex, ...parseLeafValue(entry.value, valueIndex) };
  });
  return { tree: doc.tree, leaves };
}

const HEX_VALUE = new Map(Array.from({ length: 256 }, (_, i) => [i.toString(16).padStart(2, '0'), i]));

function hexToBytes(hex) {
  const text = hex.toLowerCase();
  const out = new Uint8Array((text.length - 2) / 2);
  for (let i = 0; i < out.length; i += 1) out[i] = HEX_VALUE.get(text.substr(2 + 2 * i, 2));
  return out;
}

function word(value) {
  const out = new Uint8Array(32);
  if (typeof value === 'number' && value <= 0xffffffff) {
    out[28] = value >>> 24;
    out[29] = (value >>> 16) & 0xff;
    out[30] = (value >>> 8) & 0xff;
    out[31] = value & 0xff;
    return out;
  }
  let v = BigInt(value);
  for (let i = 31; i >= 0 && v > 0n; i -= 1) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

export function encodeLeaf(values) {
  const [commitmentId, quantity, deliveredAt, evidence, ...texts] = values;
  const tails = [];
  const hashes = new Uint8Array(32 + 32 * evidence.length);
  hashes.set(word(evidence.length), 0);
  evidence.forEach((h, i) => hashes.set(hexToBytes(h), 32 + 32 * i));
  tails.push(hashes);
  for (const text of texts) {
    const data = encoder.encode(wellFormed(text));
    const tail = new Uint8Array(32 + Math.ceil(data.length / 32) * 32);
    tail.set(word(data.length), 0);
    tail.set(data, 32);
    tails.push(tail);
  }
  const heads = [word(commitmentId), word(quantity), word(deliveredAt)];
  let offset = 32 * 8;
  for (const tail of tails) {
    heads.push(word(offset));
    offset += tail.length;
  }
  const out = new Uint8Array(offset);
  let at = 0;
  for (const part of [...heads, ...tails]) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

export function leafHash(values, keccak256) {
  return keccak256(hexToBytes(keccak256(encodeLeaf(values)))).toLowerCase();
}

export function nodeHash(a, b, keccak256) {
  const pair = new Uint8Array(64);
  pair.set(hexToBytes(a < b ? a : b), 0);
  pair.set(hexToBytes(a < b ? b : a), 32);
  return keccak256(pair).toLowerCase();
}

// OZ StandardMerkleTree.of: leaf hashes sorted ascending (stable), placed from the end of the
// array backwards, each inner node i the pair hash of nodes 2i+1 and 2i+2; root at 0.
function rebuildTree(leafHashes, nodeHash) {
  const order = leafHashes.map((h, i) => i).sort((a, b) => (leafHashes[a] < leafHashes[b] ? -1 : leafHashes[a] > leafHashes[b] ? 1 : a - b));
  const size = 2 * leafHashes.length - 1;
  const nodes = new Array(size);
  const treeIndices = new Array(leafHashes.length);
  order.forEach((valueIndex, sortedPosition) => {
    nodes[size - 1 - sortedPosition] = leafHashes[valueIndex];
    treeIndices[valueIndex] = size - 1 - sortedPosition;
  });
  for (let i = size - 1 - leafHashes.length; i >= 0; i -= 1) nodes[i] = nodeHash(nodes[2 * i + 1], nodes[2 * i + 2]);
  return { nodes, treeIndices };
}

export async function checkBatchFile(bytes, anchor, hashes, options = {}) {
  const root = String(anchor.root).toLowerCase();
  const result = { verified: false, reason: null, sha256: null, rebuiltRoot: null, leaves: [], error: null, skipped: false };
  if (bytes === null || bytes === undefined) return { ...result, reason: 'missing' };
  result.sha256 = (await hashes.sha256Hex(bytes)).toLowerCase();
  if (result.sha256 !== String(anchor.fileSha256).toLowerCase()) return { ...result, reason: 'sha256_mismatch' };
  let parsed;
  try {
    parsed = parseBatchFile(new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes));
  } catch (err) {
    return { ...result, reason: 'unparseable', error: err };
  }
  if (options.onlyFor !== undefined && !parsed.leaves.some((leaf) => leaf.commitmentId === BigInt(options.onlyFor))) {
    return { ...result, skipped: true };
  }
  const leafHashes = parsed.leaves.map((leaf) => leafHash(leaf.values, hashes.keccak256));
  if (new Set(leafHashes).size !== leafHashes.length) {
    return { ...result, reason: 'unparseable', error: new BatchFileError('values', 'no two values the same leaf') };
  }
  const { nodes, treeIndices } = rebuildTree(leafHashes, (a, b) => nodeHash(a, b, hashes.keccak256));
  result.rebuiltRoot = nodes[0];
  const treeMatches = parsed.tree.length === nodes.length && parsed.tree.every((h, i) => h === nodes[i]);
  const indicesMatch = parsed.leaves.every((leaf, i) => leaf.treeIndex === treeIndices[i]);
  if (!treeMatches || !indicesMatch) {
    return { ...result, reason: nodes[0] !== root ? 'root_mismatch' : 'unparseable',
      error: new BatchFileError(treeMatches ? 'values[].treeIndex' : 'tree', 'the tree rebuilt from the values') };
  }
  if (nodes[0] !== root) return { ...result, reason: 'root_mismatch' };
  if (parsed.leaves.length !== Number(anchor.leafCount)) return { ...result, reason: 'leaf_count_mismatch' };
  const leaves = parsed.leaves.map((leaf, i) => ({ ...leaf, leafHash: leafHashes[i] }));
  return { ...result, verified: true, leaves };
}

// ------------------------------------------------------------------ projection of one commitment

function before(a, b) {
  return a.blockNumber < b.blockNumber || (a.blockNumber === b.blockNumber && a.logIndex < b.logIndex);
}

function byPosition(a, b) {
  return (a.blockNumber - b.blockNumber) || (a.logIndex - b.logIndex) || ((a.leafIndex || 0) - (b.leafIndex || 0)) || (a.order - b.order);
}

function lower(x) {
  return String(x).toLowerCase();
}

export function project({ commitmentId, events, batches = new Map() }) {
  const id = BigInt(commitmentId);
  const sorted = [...events].sort(byPosition);
  const registered = sorted.find((e) => e.name === 'CommitmentRegistered' && e.args.commitmentId === id);
  if (!registered) return null;
  const r = registered.args;
  const c = {
    commitmentId: id,
    municipalityId: r.municipalityId,
    title: r.title,
    unit: r.unit,
    originalTarget: r.targetQuantity,
    target: r.targetQuantity,
    originalDueDate: Number(r.dueDate),
    dueDate: Number(r.dueDate),
    promisedAt: Number(r.promisedAt),
    registrar: r.registrar,
    registeredAt: Number(r.registeredAt),
    withdrawn: false,
    withdrawal: null,
    amendmentCount: 0,
  };

  // Facts in log order: amendments, deliveries (recorded; leaves at their anchor in file order),
  // revocations. `order` breaks ties of one position: change, delivery, revocation.
  const steps = [];
  const deliveries = new Map(); // key → delivery
  const batchedKey = (root, leafHash) => `${lower(root)}:${lower(leafHash)}`;
  for (const e of sorted) {
    const a = e.args;
    if (e.name === 'CommitmentAmended' && a.commitmentId === id) {
      steps.push({ ...e, order: 0, kind: 'amend' });
    } else if (e.name === 'CommitmentWithdrawn' && a.commitmentId === id) {
      c.withdrawn = true;
      c.withdrawal = e;
    } else if (e.name === 'DeliveryRecorded' && a.commitmentId === id) {
      const d = {
        key: a.deliveryId.toString(), kind: 'recorded', quantity: a.quantity, deliveredAt: Number(a.deliveredAt),
        recordedAt: Number(a.recordedAt), evidence: a.evidenceHashes.map(lower), externalRef: a.externalRef,
        assetKey: normaliseAssetRef(a.assetRef), txHash: e.txHash, blockNumber: e.blockNumber, logIndex: e.logIndex,
        batchRoot: null, leafIndex: null, deliveryNumber: Number(a.deliveryId % DELIVERY_ID_BASE),
        revoked: false, revocation: null, refusedReason: null, counted: false, doubleCounted: false,
      };
      deliveries.set(d.key, d);
      steps.push({ blockNumber: e.blockNumber, logIndex: e.logIndex, leafIndex: 0, order: 1, kind: 'deliver', delivery: d });
    } else if (e.name === 'DeliveryRevoked' && a.commitmentId === id) {
      steps.push({ ...e, leafIndex: 0, order: 2, kind: 'revoke', key: a.deliveryId.toString() });
    } else if (e.name === 'BatchedDeliveryRevoked' && a.commitmentId === id) {
      steps.push({ ...e, leafIndex: 0, order: 2, kind: 'revoke', key: batchedKey(a.root, a.leafHash) });
    } else if (e.name === 'BatchAnchored') {
      const check = batches.get(lower(a.root));
      if (!check || !check.verified) continue;
      const anchoredAt = Number(a.anchoredAt);
      for (const leaf of check.leaves) {
        if (leaf.commitmentId !== id) continue;
        let refused = null;
        if (!before(registered, e)) refused = 'unknown_commitment';
        else if (a.municipalityId !== c.municipalityId) refused = 'other_municipality';
        else if (c.withdrawal && before(c.withdrawal, e)) refused = 'commitment_withdrawn';
        else if (leafProblems(leaf).length || leaf.deliveredAt > anchoredAt) refused = 'invalid_leaf';
        const d = {
          key: leaf.leafHash, kind: 'batched', quantity: leaf.quantity, deliveredAt: leaf.deliveredAt,
          recordedAt: anchoredAt, evidence: leaf.evidenceHashes.map(lower), externalRef: leaf.externalRef,
          assetKey: normaliseAssetRef(leaf.assetRef), txHash: e.txHash, blockNumber: e.blockNumber, logIndex: e.logIndex,
          batchRoot: lower(a.root), leafIndex: leaf.valueIndex, deliveryNumber: null,
          revoked: false, revocation: null, refusedReason: refused, counted: false, doubleCounted: false,
        };
        deliveries.set(batchedKey(a.root, leaf.leafHash), d);
        steps.push({ blockNumber: e.blockNumber, logIndex: e.logIndex, leafIndex: leaf.valueIndex, order: 1, kind: 'deliver', delivery: d });
      }
    }
  }
  steps.sort(byPosition);

  const current = new Running();
  const original = new Running();
  const assets = new Map(); // normalised asset → key of the counted, not revoked delivery naming it
  const refs = new Set();
  const amendments = [];
  for (const step of steps) {
    if (step.kind === 'amend') {
      const a = step.args;
      const fields = Number(a.fields);
      c.amendmentCount += 1;
      if (fields & AMEND_TITLE) c.title = a.title;
      if (fields & AMEND_TARGET) {
        current.retarget(a.previousTargetQuantity, a.targetQuantity, Number(a.amendedAt));
        c.target = a.targetQuantity;
      }
      if (fields & AMEND_DUE_DATE) c.dueDate = Number(a.dueDate);
      amendments.push(step);
    } else if (step.kind === 'deliver') {
      const d = step.delivery;
      let reason = d.refusedReason;
      if (reason === null && d.kind === 'batched' && d.externalRef && refs.has(d.externalRef)) reason = 'duplicate_external_ref';
      if (reason === null && d.assetKey && assets.has(d.assetKey)) reason = 'asset_already_counted';
      if (d.externalRef && (reason === null || d.kind === 'recorded')) refs.add(d.externalRef);
      if (d.kind === 'batched') d.refusedReason = reason;
      else d.doubleCounted = reason !== null;
      d.counted = reason === null;
      if (d.counted) {
        current.deliver(d.quantity, c.target, d.recordedAt);
        original.deliver(d.quantity, c.originalTarget, d.recordedAt);
        if (d.assetKey) assets.set(d.assetKey, d.key);
      }
    } else if (step.kind === 'revoke') {
      const d = deliveries.get(step.key);
      if (!d || d.revoked) continue;
      d.revoked = true;
      d.revocation = step;
      if (d.counted) {
        current.revoke(d.quantity, c.target);
        original.revoke(d.quantity, c.originalTarget);
        const assetOwner = assets.get(d.assetKey);
        if (d.assetKey && assetOwner === d.key) assets.delete(d.assetKey);
      }
    }
  }
  const list = [...deliveries.values()].sort(byPosition);
  for (const d of list) {
    if (d.revoked) d.counted = false;
    d.recordedLate = d.recordedAt - d.deliveredAt > RECORDED_LATE_AFTER_SECONDS;
  }
  const counting = list.filter((d) => d.counted);
  return {
    commitment: c,
    amendments,
    deliveries: list,
    delivered: current.total,
    metAt: claimedMetAt(counting, c.target),
    metAtOriginalTerms: claimedMetAt(counting, c.originalTarget),
    metOnRecordAt: current.metAt,
    metOnRecordAtOriginalTerms: original.metAt,
  };
}

export function evaluate(p, now) {
  const c = p.commitment;
  return {
    title: c.title,
    target_quantity: c.target.toString(),
    original_target_quantity: c.originalTarget.toString(),
    unit: c.unit,
    due_date: c.dueDate,
    original_due_date: c.originalDueDate,
    promised_at: c.promisedAt,
    delivered_quantity: p.delivered.toString(),
    met_at: p.metAt,
    met_on_record_at: p.metOnRecordAt,
    met_at_original_terms: p.metAtOriginalTerms,
    met_on_record_at_original_terms: p.metOnRecordAtOriginalTerms,
    status: statusOf(c.withdrawn, p.delivered, p.metAt, c.dueDate, now),
    status_on_record: statusOf(c.withdrawn, p.delivered, p.metOnRecordAt, c.dueDate, now),
    status_original_terms: statusOf(c.withdrawn, p.delivered, p.metAtOriginalTerms, c.originalDueDate, now),
    status_on_record_original_terms: statusOf(c.withdrawn, p.delivered, p.metOnRecordAtOriginalTerms, c.originalDueDate, now),
    amendment_count: c.amendmentCount,
    withdrawn: c.withdrawn,
    registrar: c.registrar,
  };
}

export function expectedDeliveries(p) {
  return p.deliveries.map((d) => ({
    key: d.key, kind: d.kind, quantity: d.quantity.toString(), delivered_at: d.deliveredAt, recorded_at: d.recordedAt,
    revoked: d.revoked, counted: d.counted, evidence: d.evidence, tx_hash: d.txHash, batch_root: d.batchRoot,
  }));
}

// ------------------------------------------------------------------ comparison

const DECIMAL_FIELDS = new Set(['target_quantity', 'original_target_quantity', 'delivered_quantity', 'quantity']);
const CASELESS_FIELDS = new Set(['registrar', 'tx_hash', 'batch_root', 'key']);

function canonical(field, value) {
  if (value === undefined || value === null) return null;
  if (DECIMAL_FIELDS.has(field)) {
    try {
      return BigInt(String(value)).toString();
    } catch (err) {
      return String(value);
    }
  }
  if (CASELESS_FIELDS.has(field)) return lower(value);
  if (field === 'evidence') return (Array.isArray(value) ? value : [value]).map(lower).join(',');
  if (typeof value === 'bigint') return Number(value);
  return value;
}

export function compareFields(pageFields, chainFields) {
  const out = [];
  for (const field of Object.keys(pageFields)) {
    if (!Object.prototype.hasOwnProperty.call(chainFields, field)) continue;
    if (canonical(field, pageFields[field]) !== canonical(field, chainFields[field])) {
      out.push({ field, page: pageFields[field], chain: chainFields[field] });
    }
  }
  return out;
}

const DELIVERY_FIELDS = ['kind', 'quantity', 'delivered_at', 'recorded_at', 'revoked', 'counted', 'evidence', 'tx_hash', 'batch_root'];

function deliveryId(d) {
  return d.kind === 'batched' ? `${lower(d.batch_root)}:${lower(d.key)}` : lower(d.key);
}

export function compareDeliveries(pageDeliveries, chainDeliveries, complete = true) {
  const out = [];
  const chain = new Map(chainDeliveries.map((d) => [deliveryId(d), d]));
  const seen = new Set();
  for (const d of pageDeliveries) {
    const id = deliveryId(d);
    seen.add(id);
    const other = chain.get(id);
    const where = { key: d.key, kind: d.kind, batchRoot: d.batch_root || null };
    if (!other) {
      out.push({ ...where, field: '(presence)', page: true, chain: false });
      continue;
    }
    for (const field of DELIVERY_FIELDS) {
      if (!Object.prototype.hasOwnProperty.call(d, field)) continue;
      if (canonical(field, d[field]) !== canonical(field, other[field])) out.push({ ...where, field, page: d[field], chain: other[field] });
    }
  }
  if (!complete) return out; // a page of a long list: the chain's other deliveries are on other pages
  for (const [id, d] of chain) {
    if (!seen.has(id)) out.push({ key: d.key, kind: d.kind, batchRoot: d.batch_root || null, field: '(presence)', page: false, chain: true });
  }
  return out;
}
