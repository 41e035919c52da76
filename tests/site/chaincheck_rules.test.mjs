// Unit tests of frontend/static/js/rules.js, the browser's own copy of docs/LEDGER.md's rules
// (the chain check on a commitment page), on hand-made event lists shaped as chain.js's
// decodeLog gives them. Batch files are built with OpenZeppelin's own StandardMerkleTree, so
// rules.js's tree rebuild is checked against the reference, not against itself.
//
//   node --test tests/site/chaincheck_rules.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { StandardMerkleTree } from '@openzeppelin/merkle-tree';
import { AbiCoder, concat, keccak256 } from 'ethers';
import * as R from '../../frontend/static/js/rules.js';

const DAY = 86400;
const CID = 7n;
const MUNI = 1n;
const REGISTRAR = '0x14dC79964da2C08b23698B3D3cc7Ca32193d9955';
const T0 = 1_750_000_000; // block time of the registration
const DUE = T0 + 100 * DAY;
const NOW = T0 + 50 * DAY;
const EV = '0x' + 'ab'.repeat(32);
const EV2 = '0x' + 'cd'.repeat(32);

const coder = AbiCoder.defaultAbiCoder();
const hashes = {
  sha256Hex: async (bytes) => '0x' + createHash('sha256').update(bytes).digest('hex'),
  keccak256: (bytes) => keccak256(bytes),
};

// ------------------------------------------------------------------ event builders

let txCounter = 0;
function ev(name, block, args, logIndex = 0) {
  txCounter += 1;
  return { name, blockNumber: block, logIndex, txHash: '0x' + txCounter.toString(16).padStart(64, '0'), args };
}

function registered(block, { target = 100n, due = DUE, at = T0, id = CID, municipality = MUNI, title = 'Honderd laadpalen' } = {}) {
  return ev('CommitmentRegistered', block, {
    commitmentId: id, municipalityId: municipality, registrar: REGISTRAR, externalRef: 'ref-1', title,
    description: '', theme: '', targetQuantity: target, unit: 'laadpalen', promisedAt: BigInt(T0 - 365 * DAY),
    dueDate: BigInt(due), sourceDocumentHash: '0x' + '00'.repeat(32), sourceUri: '', parentId: 0n, weight: 0n,
    registeredAt: BigInt(at),
  });
}

function delivery(block, n, quantity, deliveredAt, recordedAt, { asset = '', ref = '', logIndex = 0 } = {}) {
  return ev('DeliveryRecorded', block, {
    deliveryId: CID * 1000000n + BigInt(n), commitmentId: CID, registrar: REGISTRAR, quantity: BigInt(quantity),
    deliveredAt: BigInt(deliveredAt), recordedAt: BigInt(recordedAt), evidenceHashes: [EV], evidenceUri: '', note: '',
    externalRef: ref, assetRef: asset,
  }, logIndex);
}

function revoked(block, n, at) {
  return ev('DeliveryRevoked', block, { deliveryId: CID * 1000000n + BigInt(n), commitmentId: CID, registrar: REGISTRAR, reason: 'dubbel', revokedAt: BigInt(at) });
}

function amended(block, number, at, { previousTarget, target, previousDue = DUE, due = previousDue, title = null }) {
  let fields = 0;
  if (title !== null) fields |= R.AMEND_TITLE;
  if (target !== previousTarget) fields |= R.AMEND_TARGET;
  if (due !== previousDue) fields |= R.AMEND_DUE_DATE;
  return ev('CommitmentAmended', block, {
    commitmentId: CID, municipalityId: MUNI, registrar: REGISTRAR, amendmentNumber: BigInt(number), fields: BigInt(fields),
    title: title || '', description: '', previousTargetQuantity: previousTarget, targetQuantity: target,
    previousDueDate: BigInt(previousDue), dueDate: BigInt(due), reason: 'Raadsbesluit', amendedAt: BigInt(at),
  });
}

function withdrawn(block, at) {
  return ev('CommitmentWithdrawn', block, { commitmentId: CID, municipalityId: MUNI, registrar: REGISTRAR, reason: 'Geen budget', withdrawnAt: BigInt(at) });
}

function leafValues({ cid = CID, quantity, deliveredAt, evidence = [EV], uri = '', note = '', ref = '', asset = '' }) {
  return [cid.toString(), String(quantity), String(deliveredAt), evidence, uri, note, ref, asset];
}

// A batch file as a JavaScript writer publishes it (tools/merkle-check.mjs: JSON.stringify of
// OZ's dump), its anchor event, and its check.
async function batch(block, anchoredAt, leaves, { municipality = MUNI, logIndex = 0 } = {}) {
  const tree = StandardMerkleTree.of(leaves.map(leafValues), [...R.LEAF_ENCODING]);
  const bytes = new TextEncoder().encode(JSON.stringify(tree.dump()));
  const fileSha256 = await hashes.sha256Hex(bytes);
  const anchor = ev('BatchAnchored', block, {
    root: tree.root, municipalityId: municipality, registrar: REGISTRAR, leafCount: BigInt(leaves.length),
    fileSha256, fileUri: '', anchoredAt: BigInt(anchoredAt),
  }, logIndex);
  const check = await R.checkBatchFile(bytes, { root: tree.root, fileSha256, leafCount: leaves.length }, hashes);
  const leafHash = (i) => tree.leafHash(leafValues(leaves[i]));
  return { tree, bytes, anchor, check, leafHash, root: tree.root };
}

function batchedRevoked(block, b, i, at) {
  return ev('BatchedDeliveryRevoked', block, { root: b.root, leafHash: b.leafHash(i), commitmentId: CID, registrar: REGISTRAR, reason: 'niet geplant', revokedAt: BigInt(at) });
}

function run(events, batches = []) {
  const map = new Map(batches.map((b) => [b.root.toLowerCase(), b.check]));
  const p = R.project({ commitmentId: CID, events, batches: map });
  return { p, f: R.evaluate(p, NOW), d: R.expectedDeliveries(p) };
}

// ------------------------------------------------------------------ the mapping

test('status mapping: every branch, in order', () => {
  assert.equal(R.statusOf(true, 100n, T0, DUE, NOW), 'withdrawn');
  assert.equal(R.statusOf(false, 100n, DUE, DUE, NOW), 'delivered'); // met exactly at the due date
  assert.equal(R.statusOf(false, 100n, DUE + 1, DUE, NOW), 'delivered_late');
  assert.equal(R.statusOf(false, 5n, null, DUE, DUE + 1), 'overdue');
  assert.equal(R.statusOf(false, 5n, null, DUE, DUE), 'in_progress'); // now == due date is not past it
  assert.equal(R.statusOf(false, 0n, null, DUE, NOW), 'pending');
  assert.equal(R.statusOf(false, 0n, null, DUE, DUE + 1), 'overdue');
});

test('claimed met_at is the earliest stated date by which the deliveries reach the target', () => {
  const rows = [{ deliveredAt: 30, quantity: 50n }, { deliveredAt: 10, quantity: 40n }, { deliveredAt: 20, quantity: 10n }];
  assert.equal(R.claimedMetAt(rows, 50n), 20);
  assert.equal(R.claimedMetAt(rows, 100n), 30);
  assert.equal(R.claimedMetAt(rows, 101n), null);
  assert.equal(R.claimedMetAt([], 1n), null);
});

test('no registration: nothing to project', () => {
  assert.equal(R.project({ commitmentId: CID, events: [delivery(3, 1, 5, T0, T0)] }), null);
});

// ------------------------------------------------------------------ two clocks

test('two deliveries meet the target: both clocks met, statuses delivered', () => {
  const { f, d } = run([
    registered(1),
    delivery(2, 1, 60, T0 + DAY, T0 + 2 * DAY),
    delivery(3, 2, 40, T0 + 3 * DAY, T0 + 4 * DAY),
  ]);
  assert.deepEqual(f, {
    title: 'Honderd laadpalen', target_quantity: '100', original_target_quantity: '100', unit: 'laadpalen',
    due_date: DUE, original_due_date: DUE, promised_at: T0 - 365 * DAY, delivered_quantity: '100',
    met_at: T0 + 3 * DAY, met_on_record_at: T0 + 4 * DAY, met_at_original_terms: T0 + 3 * DAY,
    met_on_record_at_original_terms: T0 + 4 * DAY, status: 'delivered', status_on_record: 'delivered',
    status_original_terms: 'delivered', status_on_record_original_terms: 'delivered', amendment_count: 0,
    withdrawn: false, registrar: REGISTRAR,
  });
  assert.deepEqual(d.map((x) => [x.key, x.kind, x.quantity, x.counted, x.revoked]), [
    ['7000001', 'recorded', '60', true, false], ['7000002', 'recorded', '40', true, false]]);
});

test('recorded late: delivered before the due date as claimed, on record after it', () => {
  const { p, f } = run([
    registered(1),
    delivery(2, 1, 100, DUE - DAY, DUE + 40 * DAY),
  ]);
  assert.equal(f.met_at, DUE - DAY);
  assert.equal(f.met_on_record_at, DUE + 40 * DAY);
  assert.equal(f.status, 'delivered');
  assert.equal(f.status_on_record, 'delivered_late');
  assert.equal(f.status_original_terms, 'delivered');
  assert.equal(f.status_on_record_original_terms, 'delivered_late');
  assert.equal(p.deliveries[0].recordedLate, true);
});

test('recorded late is more than 30 days, exclusive', () => {
  const { p } = run([registered(1), delivery(2, 1, 1, T0, T0 + 30 * DAY), delivery(3, 2, 1, T0, T0 + 30 * DAY + 1)]);
  assert.deepEqual(p.deliveries.map((d) => d.recordedLate), [false, true]);
});

test('a revocation clears met on record and counts retroactively on the claimed clock', () => {
  const { f, d } = run([
    registered(1),
    delivery(2, 1, 60, T0 + DAY, T0 + DAY),
    delivery(3, 2, 40, T0 + 2 * DAY, T0 + 2 * DAY),
    revoked(4, 1, T0 + 3 * DAY),
    delivery(5, 3, 70, T0 + 4 * DAY, T0 + 5 * DAY),
  ]);
  assert.equal(f.delivered_quantity, '110');
  assert.equal(f.met_at, T0 + 4 * DAY); // 40 + 70, the 60 never happened
  assert.equal(f.met_on_record_at, T0 + 5 * DAY); // met at block 3, cleared at 4, met again at 5
  assert.equal(f.status, 'delivered');
  assert.deepEqual(d.map((x) => [x.key, x.revoked, x.counted]), [
    ['7000001', true, false], ['7000002', false, true], ['7000003', false, true]]);
});

test('a revocation leaving nothing: in progress becomes pending, then overdue after the due date', () => {
  const events = [registered(1), delivery(2, 1, 10, T0, T0), revoked(3, 1, T0 + DAY)];
  const { p, f } = run(events);
  assert.equal(f.delivered_quantity, '0');
  assert.equal(f.status, 'pending');
  assert.equal(R.evaluate(p, DUE + 1).status_on_record, 'overdue');
});

// ------------------------------------------------------------------ terms

test('amendment lowering the target after it was met keeps met on record; original terms not met', () => {
  const { f } = run([
    registered(1, { target: 100n }),
    delivery(2, 1, 100, T0 + DAY, T0 + 2 * DAY),
    amended(3, 1, T0 + 3 * DAY, { previousTarget: 100n, target: 80n }),
    revoked(4, 1, T0 + 4 * DAY),
    delivery(5, 2, 85, T0 + 5 * DAY, T0 + 6 * DAY),
  ]);
  // after the revocation only 85 count: met under 80 (claimed and on record), not under 100
  assert.equal(f.target_quantity, '80');
  assert.equal(f.original_target_quantity, '100');
  assert.equal(f.delivered_quantity, '85');
  assert.equal(f.met_at, T0 + 5 * DAY);
  assert.equal(f.met_on_record_at, T0 + 6 * DAY);
  assert.equal(f.met_at_original_terms, null);
  assert.equal(f.met_on_record_at_original_terms, null);
  assert.equal(f.status, 'delivered');
  assert.equal(f.status_original_terms, 'in_progress');
  assert.equal(f.amendment_count, 1);
});

test('amendment lowering the target when already met keeps the first met time', () => {
  const { f } = run([
    registered(1, { target: 100n }),
    delivery(2, 1, 100, T0 + DAY, T0 + 2 * DAY),
    amended(3, 1, T0 + 3 * DAY, { previousTarget: 100n, target: 80n }),
  ]);
  assert.equal(f.met_on_record_at, T0 + 2 * DAY);
  assert.equal(f.met_on_record_at_original_terms, T0 + 2 * DAY);
});

test('a relaxed target counts as met from the amendment; a raised one met again from it or cleared', () => {
  const lowered = run([
    registered(1, { target: 100n }),
    delivery(2, 1, 60, T0 + DAY, T0 + 2 * DAY),
    amended(3, 1, T0 + 3 * DAY, { previousTarget: 100n, target: 60n }),
  ]).f;
  assert.equal(lowered.met_on_record_at, T0 + 3 * DAY);
  assert.equal(lowered.met_at, T0 + DAY); // claimed clock: the delivery's own date
  assert.equal(lowered.status_on_record_original_terms, 'in_progress');

  const raised = run([
    registered(1, { target: 100n }),
    delivery(2, 1, 130, T0 + DAY, T0 + 2 * DAY),
    amended(3, 1, T0 + 3 * DAY, { previousTarget: 100n, target: 120n }),
    amended(4, 2, T0 + 4 * DAY, { previousTarget: 120n, target: 150n }),
  ]).f;
  assert.equal(raised.met_on_record_at, null);
  assert.equal(raised.met_on_record_at_original_terms, T0 + 2 * DAY);
  assert.equal(raised.status_on_record, 'in_progress');
  assert.equal(raised.amendment_count, 2);

  const raisedStillMet = run([
    registered(1, { target: 100n }),
    delivery(2, 1, 130, T0 + DAY, T0 + 2 * DAY),
    amended(3, 1, T0 + 3 * DAY, { previousTarget: 100n, target: 120n }),
  ]).f;
  assert.equal(raisedStillMet.met_on_record_at, T0 + 3 * DAY);
});

test('an amendment moving the due date and the title changes the current terms only', () => {
  const later = DUE + 200 * DAY;
  const { f } = run([
    registered(1),
    amended(2, 1, DUE + DAY, { previousTarget: 100n, target: 100n, due: later, title: 'Honderd laadpalen, later' }),
    delivery(3, 1, 100, DUE + 10 * DAY, DUE + 10 * DAY),
  ]);
  assert.equal(f.title, 'Honderd laadpalen, later');
  assert.equal(f.due_date, later);
  assert.equal(f.original_due_date, DUE);
  assert.equal(f.status, 'delivered');
  assert.equal(f.status_original_terms, 'delivered_late');
  assert.equal(f.status_on_record_original_terms, 'delivered_late');
});

test('withdrawn: all four statuses withdrawn, the deliveries still summed', () => {
  const { f } = run([registered(1), delivery(2, 1, 30, T0, T0), withdrawn(3, T0 + DAY)]);
  assert.equal(f.withdrawn, true);
  assert.equal(f.delivered_quantity, '30');
  assert.deepEqual([f.status, f.status_on_record, f.status_original_terms, f.status_on_record_original_terms],
    ['withdrawn', 'withdrawn', 'withdrawn', 'withdrawn']);
});

// ------------------------------------------------------------------ batches and assets

test('a verified batch counts from its anchor, leaves in file order; a revoked leaf counts nothing', async () => {
  const anchoredAt = T0 + 10 * DAY;
  const b = await batch(3, anchoredAt, [
    { quantity: 30, deliveredAt: T0 + 2 * DAY, note: 'eerste' },
    { quantity: 70, deliveredAt: T0 + 3 * DAY, note: 'tweede' },
    { cid: 99n, quantity: 5, deliveredAt: T0, note: 'een andere belofte' },
  ]);
  assert.equal(b.check.verified, true);
  assert.equal(b.check.leaves.length, 3);
  const base = [registered(1), b.anchor];
  const met = run(base, [b]);
  assert.equal(met.f.delivered_quantity, '100');
  assert.equal(met.f.met_at, T0 + 3 * DAY);
  assert.equal(met.f.met_on_record_at, anchoredAt);
  assert.deepEqual(met.d.map((x) => [x.key, x.kind, x.batch_root, x.recorded_at, x.counted]), [
    [b.leafHash(0), 'batched', b.root, anchoredAt, true], [b.leafHash(1), 'batched', b.root, anchoredAt, true]]);
  assert.equal(met.d[0].tx_hash, b.anchor.txHash);

  const revokedLeaf = run([...base, batchedRevoked(4, b, 1, anchoredAt + DAY)], [b]);
  assert.equal(revokedLeaf.f.delivered_quantity, '30');
  assert.equal(revokedLeaf.f.met_on_record_at, null);
  assert.deepEqual(revokedLeaf.d.map((x) => [x.revoked, x.counted]), [[false, true], [true, false]]);
});

test('an unverifiable batch counts nothing and lists no leaves', async () => {
  const b = await batch(3, T0 + DAY, [{ quantity: 100, deliveredAt: T0 }]);
  const missing = { ...b, check: await R.checkBatchFile(null, { root: b.root, fileSha256: b.anchor.args.fileSha256, leafCount: 1 }, hashes) };
  assert.equal(missing.check.reason, 'missing');
  const { f, d } = run([registered(1), b.anchor], [missing]);
  assert.equal(f.delivered_quantity, '0');
  assert.deepEqual(d, []);
});

test('a batched leaf naming an asset already counted is refused asset_already_counted, also after the first is revoked', async () => {
  const anchoredAt = T0 + 5 * DAY;
  const b = await batch(3, anchoredAt, [
    { quantity: 1, deliveredAt: T0 + DAY, asset: ' Lantaarnpaal\u00a0 12 ' }, // the same asset after normalising
    { quantity: 2, deliveredAt: T0 + DAY, asset: 'Lantaarnpaal 13' },
  ]);
  const events = [registered(1, { target: 3n }), delivery(2, 1, 1, T0, T0 + DAY, { asset: 'Lantaarnpaal 12' }), b.anchor];
  const { p, f, d } = run(events, [b]);
  assert.equal(f.delivered_quantity, '3');
  assert.deepEqual(p.deliveries.map((x) => [x.kind, x.refusedReason, x.counted]), [
    ['recorded', null, true], ['batched', 'asset_already_counted', false], ['batched', null, true]]);
  assert.deepEqual(d.map((x) => x.counted), [true, false, true]);

  // a later revocation of the first does not make the refused leaf count
  const after = run([...events, revoked(4, 1, anchoredAt + DAY)], [b]);
  assert.equal(after.f.delivered_quantity, '2');
  assert.deepEqual(after.p.deliveries.map((x) => [x.refusedReason, x.counted]), [[null, false], ['asset_already_counted', false], [null, true]]);

  // a revoked first delivery frees the asset for one recorded later
  const freed = run([...events, revoked(4, 1, anchoredAt + DAY),
    delivery(5, 2, 1, anchoredAt, anchoredAt + 2 * DAY, { asset: 'Lantaarnpaal 12' })], [b]);
  assert.deepEqual(freed.p.deliveries.map((x) => x.counted), [false, false, true, true]);
  assert.equal(freed.f.delivered_quantity, '3');
});

test('two leaves of one batch naming the same asset: the second is refused', async () => {
  const b = await batch(2, T0 + DAY, [
    { quantity: 1, deliveredAt: T0, asset: 'Boom 9', note: 'a' },
    { quantity: 1, deliveredAt: T0, asset: 'Boom\u30009', note: 'b' },
  ]);
  const { p } = run([registered(1), b.anchor], [b]);
  assert.deepEqual(p.deliveries.map((x) => [x.leafIndex, x.refusedReason]), [[0, null], [1, 'asset_already_counted']]);
});

test('a recorded delivery whose asset a batched leaf already counts is double counted', async () => {
  const b = await batch(2, T0 + DAY, [{ quantity: 4, deliveredAt: T0, asset: 'BAG 0308010000012345' }]);
  const { p, f, d } = run([registered(1, { target: 10n }), b.anchor,
    delivery(3, 1, 4, T0, T0 + 2 * DAY, { asset: 'BAG 0308010000012345' })], [b]);
  assert.equal(f.delivered_quantity, '4');
  assert.deepEqual(p.deliveries.map((x) => [x.kind, x.doubleCounted, x.counted]), [['batched', false, true], ['recorded', true, false]]);
  assert.equal(d[1].counted, false);
});

test('a leaf repeating an external ref of the commitment is refused duplicate_external_ref', async () => {
  const b = await batch(3, T0 + 2 * DAY, [{ quantity: 5, deliveredAt: T0, ref: 'lev-1' }, { quantity: 6, deliveredAt: T0, ref: 'lev-2' }]);
  const { p } = run([registered(1), delivery(2, 1, 1, T0, T0 + DAY, { ref: 'lev-1' }), revoked(2, 1, T0 + DAY), b.anchor], [b]);
  // the revoked delivery's ref stays taken
  assert.deepEqual(p.deliveries.map((x) => x.refusedReason), [null, 'duplicate_external_ref', null]);
});

test('leaf refusals that need no running state, in their order', async () => {
  const anchoredAt = T0 + 2 * DAY;
  const early = await batch(1, T0 - DAY, [{ quantity: 1, deliveredAt: T0 - 2 * DAY }], { logIndex: 0 });
  const foreign = await batch(3, anchoredAt, [{ quantity: 1, deliveredAt: T0, note: 'x' }], { municipality: 2n });
  const invalid = await batch(4, anchoredAt, [
    { quantity: 1, deliveredAt: anchoredAt + 1, note: 'na het anker' },
    { quantity: 1, deliveredAt: T0, evidence: ['0x' + '00'.repeat(32)], note: 'nul-hash' },
    { quantity: 1, deliveredAt: T0, evidence: [], note: 'geen bewijs' },
    { quantity: 0, deliveredAt: T0, note: 'nul' },
    { quantity: 1, deliveredAt: T0, evidence: [EV, EV2], note: 'n'.repeat(1001) },
    { quantity: 1, deliveredAt: T0, evidence: [EV, EV2], note: 'goed' },
  ]);
  const afterWithdrawal = await batch(6, anchoredAt + DAY, [{ quantity: 1, deliveredAt: T0, note: 'te laat' }]);
  const { p } = run([early.anchor, registered(2), foreign.anchor, invalid.anchor, withdrawn(5, anchoredAt), afterWithdrawal.anchor],
    [early, foreign, invalid, afterWithdrawal]);
  assert.deepEqual(p.deliveries.map((x) => x.refusedReason), [
    'unknown_commitment', 'other_municipality',
    'invalid_leaf', 'invalid_leaf', 'invalid_leaf', 'invalid_leaf', 'invalid_leaf', null,
    'commitment_withdrawn']);
  assert.equal(R.evaluate(p, NOW).delivered_quantity, '1');
});

test('leaf limits, one problem each', () => {
  const ok = { quantity: 1n, deliveredAt: 1, evidenceHashes: [EV], evidenceUri: 'u', note: 'n', externalRef: 'r', assetRef: 'a' };
  assert.deepEqual(R.leafProblems(ok), []);
  assert.deepEqual(R.leafProblems({ ...ok, quantity: 10n ** 13n }), []);
  assert.deepEqual(R.leafProblems({ ...ok, quantity: 10n ** 13n + 1n }), ['quantity_out_of_range']);
  assert.deepEqual(R.leafProblems({ ...ok, deliveredAt: 0 }), ['delivered_at_zero']);
  assert.deepEqual(R.leafProblems({ ...ok, evidenceHashes: Array.from({ length: 17 }, (_, i) => '0x' + (i + 1).toString(16).padStart(64, '0')) }), ['evidence_count_out_of_range']);
  assert.deepEqual(R.leafProblems({ ...ok, evidenceHashes: [EV, EV] }), ['evidence_hash_repeated']);
  assert.deepEqual(R.leafProblems({ ...ok, assetRef: 'é'.repeat(32) }), []); // 64 bytes
  assert.deepEqual(R.leafProblems({ ...ok, assetRef: 'é'.repeat(32) + 'x' }), ['assetRef_too_long']);
  assert.deepEqual(R.leafProblems({ ...ok, evidenceUri: 'u'.repeat(513) }), ['evidenceUri_too_long']);
  assert.deepEqual(R.leafProblems({ ...ok, externalRef: 'r'.repeat(65) }), ['externalRef_too_long']);
});

test('asset refs: NFC, trimmed, inner whitespace runs as one space (str.isspace), case kept', () => {
  assert.equal(R.normaliseAssetRef(' Lantaarnpaal\u00a0 12 '), 'Lantaarnpaal 12');
  assert.equal(R.normaliseAssetRef('Cafe\u0301\u3000\t9'), 'Caf\u00e9 9');
  assert.equal(R.normaliseAssetRef('a\x1cb\x85c'), 'a b c'); // Python whitespace JS's \s lacks
  assert.equal(R.normaliseAssetRef('a\u200bb'), 'a\u200bb'); // zero-width space is not whitespace
  assert.equal(R.normaliseAssetRef('\ufeffa'), '\ufeffa'); // nor is a BOM (JS's \s says it is)
  assert.equal(R.normaliseAssetRef('Lamp 1') === R.normaliseAssetRef('lamp 1'), false);
  assert.equal(R.normaliseAssetRef(' \t '), '');
});

// ------------------------------------------------------------------ batch files

test('batch file check: OZ file verified; missing, edited, wrong root, wrong count, not a dump refused with the reason', async () => {
  const b = await batch(2, T0, [{ quantity: 2, deliveredAt: T0, note: 'één' }, { quantity: 3, deliveredAt: T0, note: 'twee 🌳' }]);
  const anchor = { root: b.root, fileSha256: b.anchor.args.fileSha256, leafCount: 2 };
  assert.equal(b.check.verified, true);
  assert.equal(b.check.rebuiltRoot, b.root);
  assert.deepEqual(b.check.leaves.map((l) => l.leafHash), [b.leafHash(0), b.leafHash(1)]);

  const text = new TextDecoder().decode(b.bytes);
  const edited = new TextEncoder().encode(text.replace('"3"', '"4"'));
  assert.equal((await R.checkBatchFile(null, anchor, hashes)).reason, 'missing');
  assert.equal((await R.checkBatchFile(edited, anchor, hashes)).reason, 'sha256_mismatch');
  const editedSha = await hashes.sha256Hex(edited);
  // the same edit anchored under its own SHA-256: its values no longer give the root
  assert.equal((await R.checkBatchFile(edited, { ...anchor, fileSha256: editedSha }, hashes)).reason, 'root_mismatch');
  // another batch's file, anchored with its SHA-256 under this root
  const other = await batch(2, T0, [{ quantity: 9, deliveredAt: T0 }]);
  assert.equal((await R.checkBatchFile(other.bytes, { ...anchor, fileSha256: other.anchor.args.fileSha256 }, hashes)).reason, 'root_mismatch');
  assert.equal((await R.checkBatchFile(b.bytes, { ...anchor, leafCount: 3 }, hashes)).reason, 'leaf_count_mismatch');
  for (const bad of ['not json', JSON.stringify({ ...JSON.parse(text), format: 'simple-v1' }),
    JSON.stringify({ ...JSON.parse(text), extra: 1 }), text.replace('"2"', '"02"'), '\ufeff' + text,
    text.replace(/"treeIndex":([0-9]+)/, '"treeIndex":$1.0')]) {
    const bytes = new TextEncoder().encode(bad);
    const check = await R.checkBatchFile(bytes, { ...anchor, fileSha256: await hashes.sha256Hex(bytes) }, hashes);
    assert.equal(check.reason, 'unparseable', bad.slice(0, 40));
    assert.equal(check.leaves.length, 0);
  }
  // tree array edited but values intact: they still give the anchored root, the file is not a valid dump
  const dump = JSON.parse(text);
  dump.tree[1] = '0x' + '11'.repeat(32);
  const treeEdited = new TextEncoder().encode(JSON.stringify(dump));
  assert.equal((await R.checkBatchFile(treeEdited, { ...anchor, fileSha256: await hashes.sha256Hex(treeEdited) }, hashes)).reason, 'unparseable');
});

test('the leaf encoding written out equals ethers\' generic abi.encode, hashes equal OZ\'s leaf hash', () => {
  const leaves = [
    leafValues({ quantity: 1, deliveredAt: 1 }),
    leafValues({ cid: 2n ** 256n - 1n, quantity: '18446744073709551615', deliveredAt: '18446744073709551615', evidence: [] }),
    leafValues({ quantity: 10, deliveredAt: T0, evidence: Array.from({ length: 16 }, (_, i) => '0x' + (i + 1).toString(16).padStart(64, 'e')),
      uri: 'https://bewijs.example/' + 'x'.repeat(600), note: 'Straße 🌳 ' + 'é'.repeat(40), ref: 'a'.repeat(32), asset: 'b'.repeat(33) }),
    leafValues({ quantity: 3, deliveredAt: T0, note: '\ud800 lone' }),
  ];
  for (const values of leaves) {
    const clean = values.map((v) => (typeof v === 'string' ? v.toWellFormed() : v)); // as TextEncoder encodes it
    assert.equal('0x' + Buffer.from(R.encodeLeaf(values)).toString('hex'), coder.encode(R.LEAF_ENCODING, clean));
    assert.equal(R.leafHash(values, keccak256), StandardMerkleTree.of([clean], [...R.LEAF_ENCODING]).leafHash(clean));
  }
  const a = '0x' + '01'.repeat(32);
  const b = '0x' + 'ff'.repeat(32);
  assert.equal(R.nodeHash(a, b, keccak256), keccak256(concat([a, b])));
  assert.equal(R.nodeHash(b, a, keccak256), keccak256(concat([a, b])));
});

test('a file naming no leaf of the commitment asked about is not hashed further', async () => {
  const b = await batch(2, T0, [{ cid: 99n, quantity: 1, deliveredAt: T0 }]);
  const anchor = { root: b.root, fileSha256: b.anchor.args.fileSha256, leafCount: 1 };
  const counting = { ...hashes, keccak256: (bytes) => { counting.calls += 1; return keccak256(bytes); }, calls: 0 };
  const skipped = await R.checkBatchFile(b.bytes, anchor, counting, { onlyFor: CID });
  assert.deepEqual([skipped.verified, skipped.reason, skipped.skipped, counting.calls], [false, null, true, 0]);
  const full = await R.checkBatchFile(b.bytes, anchor, counting, { onlyFor: 99n });
  assert.deepEqual([full.verified, full.skipped], [true, false]);
  // an edited file is reported, whatever it names
  const edited = await R.checkBatchFile(new TextEncoder().encode(' ' + new TextDecoder().decode(b.bytes)), anchor, hashes, { onlyFor: CID });
  assert.equal(edited.reason, 'sha256_mismatch');
});

test('batch file check agrees with OZ on a larger tree (odd count, every tree index)', async () => {
  const leaves = Array.from({ length: 37 }, (_, i) => ({ quantity: i + 1, deliveredAt: T0 - i, note: `rij ${i}`, asset: `Boom ${i}` }));
  const b = await batch(2, T0, leaves);
  assert.equal(b.check.verified, true);
  const dump = b.tree.dump();
  assert.deepEqual(b.check.leaves.map((l) => l.treeIndex), dump.values.map((v) => v.treeIndex));
});

// ------------------------------------------------------------------ comparison

test('compare: equal fields give nothing; a tampered delivered quantity names both values', () => {
  const { f, d } = run([registered(1), delivery(2, 1, 60, T0, T0)]);
  const page = { ...f, registrar: REGISTRAR.toLowerCase(), delivered_quantity: '60', target_quantity: '100' };
  assert.deepEqual(R.compareFields(page, f), []);
  assert.deepEqual(R.compareFields({ ...page, delivered_quantity: '999', status: 'delivered' }, f), [
    { field: 'delivered_quantity', page: '999', chain: '60' },
    { field: 'status', page: 'delivered', chain: 'in_progress' },
  ]);
  assert.deepEqual(R.compareDeliveries(d, d), []);
  const pageDeliveries = [{ ...d[0], quantity: '61', evidence: [EV.toUpperCase().replace('0X', '0x')] },
    { ...d[0], key: '7000009' }];
  assert.deepEqual(R.compareDeliveries(pageDeliveries, d), [
    { key: '7000001', kind: 'recorded', batchRoot: null, field: 'quantity', page: '61', chain: '60' },
    { key: '7000009', kind: 'recorded', batchRoot: null, field: '(presence)', page: true, chain: false },
  ]);
  assert.deepEqual(R.compareDeliveries([], d), [
    { key: '7000001', kind: 'recorded', batchRoot: null, field: '(presence)', page: false, chain: true }]);
  // a page of a longer list: deliveries only on chain are on other pages, not differences
  assert.deepEqual(R.compareDeliveries([], d, false), []);
  assert.deepEqual(R.compareDeliveries(pageDeliveries, d, false), R.compareDeliveries(pageDeliveries, d));
});
