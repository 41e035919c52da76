// chain.js — the site's shared, low-level access to the ledger's chain, for the in-browser
// checks (chain check on a commitment page, document check). No page logic, no DOM beyond
// reading the page contract's data blocks and building link elements.
//
// The page contract (every page):
//   <body data-rpc-url data-chain-id data-network-name data-contract data-deploy-block
//         data-explorer-url data-api data-lang>
//   <script type="application/json" id="asset-urls">{"ethers": url, "abi": url, "chain": url}</script>
//   <script type="application/json" id="texts">{"<feature>.<key>": "template {name}", ...}</script>
// A page script loads this module with `await import(assetUrls().chain)`.
//
// API (all block numbers are plain JS numbers, inclusive ranges; all times Unix seconds;
// uint values decoded from logs are BigInt):
//
//   readJson(id, doc = document) -> any | null
//       Parsed JSON of <script type="application/json" id=id>, or null when absent/empty.
//   settings(doc = document) -> Settings
//       { rpcUrl: string ('' = no in-browser check), chainId: bigint|null, networkName: string,
//         contract: string (0x address, '' if unset), deployBlock: number (0 if unset),
//         explorerUrl: string (no trailing '/', '' = no explorer), api: string ('/api/v1'),
//         lang: 'nl'|'en' }
//   assetUrls(doc = document) -> { ethers, abi, chain, ... } (the #asset-urls block, {} if absent)
//   t(key, params = {}, doc = document) -> string
//       Text `key` of #texts with each `{name}` replaced by String(params[name]); a missing key
//       gives the key itself (so a gap is visible, never blank). Params are plain text: insert
//       the result with textContent.
//   formatNumber(value, lang) -> string     (Intl nl-NL / en-GB; value number|bigint|decimal string)
//   formatDate(unixSeconds, lang, withTime = true) -> string (UTC is not forced; the reader's zone)
//   loadEthers(doc = document) -> Promise<ethers namespace>   (dynamic import, cached)
//   loadAbi(doc = document) -> Promise<Array>                 (fetch of the ABI JSON, cached)
//   connect(doc = document) -> Promise<Chain>
//       Chain = { ethers, provider (JsonRpcProvider, static network data-chain-id, no batching,
//                 REQUEST_TIMEOUT_MS per request),
//                 iface (ethers.Interface of the ABI), contract (ethers.Contract, read-only),
//                 settings }
//       Throws ChainError 'no-rpc' when data-rpc-url is empty, 'asset' when ethers or the ABI
//       cannot be loaded.
//   chainId(chain) -> Promise<bigint>            eth_chainId as answered by the node
//   checkChainId(chain) -> Promise<bigint>       throws ChainError 'wrong-chain' {expected, actual}
//   contractVersion(chain) -> Promise<string>    version() of data-contract; throws 'no-contract'
//                                                 when the address holds no code
//   head(chain) -> Promise<{number, hash, timestamp}>   the latest block
//   eventTopic(chain, name) -> string             topic0 of event `name`
//   idTopic(value) -> string                      a uint as a 32-byte topic (0x + 64 hex)
//   getLogs(chain, {topics, fromBlock, toBlock, onProgress}) -> Promise<Array<ethers.Log>>
//       eth_getLogs of data-contract over fromBlock..toBlock (inclusive; fromBlock defaults to
//       data-deploy-block), in chunks of CHUNK_BLOCKS blocks; a chunk the provider refuses as too
//       large is halved (down to one block) and the smaller size kept (also for the next
//       getLogs on the same Chain: chain.logSpan). Logs come back in
//       ascending (block, log index) order. onProgress(doneToBlock, toBlock) after each chunk.
//       Throws ChainError 'range' (refused even one block), 'no-history' (the node has pruned
//       the blocks), 'rpc' (other node error), 'unreachable'.
//   decodeLog(chain, log) -> DecodedEvent | null
//       { name, args: {<input name>: value} (uint → BigInt, bytes32 → 0x hex, arrays → Array),
//         blockNumber, txHash, logIndex }; null for a log of no ledger event.
//   sha256Hex(bytes: ArrayBuffer|Uint8Array) -> Promise<string>   '0x' + 64 lowercase hex
//   explorerUrl(settings, kind: 'tx'|'block'|'address', value) -> string | null
//   chainRef(settings, kind, value, text = String(value), doc = document) -> HTMLElement
//       <a href=explorer/kind/value> when data-explorer-url is set, else <code>; text via textContent.
//   classify(error) -> ChainError        an ethers/fetch error turned into a typed ChainError
//
//   class ChainError extends Error { code, params }
//       code ∈ ERROR_CODES; params are plain values for the text template `<feature>.error.<code>`.

export const CHUNK_BLOCKS = 50000;
export const REQUEST_TIMEOUT_MS = 30000;  // one JSON-RPC request; then 'unreachable' (or a halved range)

export const ERROR_CODES = Object.freeze([
  'no-rpc',       // data-rpc-url empty: the operator configured no public RPC URL
  'asset',        // ethers or the ABI could not be loaded from this site {what}
  'unreachable',  // the RPC URL did not answer (offline, blocked by CORS or CSP, timeout) {url}
  'wrong-chain',  // the node is another chain {expected, actual}
  'no-contract',  // no code at data-contract on this chain {address}
  'rpc',          // the node answered with an error {message}
  'range',        // the node refuses eth_getLogs even for one block {message}
  'no-history',   // the node has no logs/state for the blocks asked (pruned) {message}
]);

export class ChainError extends Error {
  /** @param {string} code one of ERROR_CODES  @param {object} params text parameters */
  constructor(code, params = {}, cause = undefined) {
    super(`${code}: ${JSON.stringify(params, (k, v) => (typeof v === 'bigint' ? v.toString() : v))}`);
    this.name = 'ChainError';
    this.code = code;
    this.params = params;
    if (cause !== undefined) this.cause = cause;
  }
}

export function readJson(id, doc = document) {
  const el = doc.getElementById(id);
  if (!el || !el.textContent.trim()) return null;
  return JSON.parse(el.textContent);
}

export function settings(doc = document) {
  const d = doc.body ? doc.body.dataset : {};
  const chainIdText = (d.chainId || '').trim();
  return {
    rpcUrl: (d.rpcUrl || '').trim(),
    chainId: /^[0-9]+$/.test(chainIdText) ? BigInt(chainIdText) : null,
    networkName: d.networkName || '',
    contract: (d.contract || '').trim(),
    deployBlock: Number.parseInt(d.deployBlock || '0', 10) || 0,
    explorerUrl: (d.explorerUrl || '').trim().replace(/\/+$/, ''),
    api: (d.api || '/api/v1').replace(/\/+$/, ''),
    lang: d.lang === 'en' ? 'en' : 'nl',
  };
}

export function assetUrls(doc = document) {
  return readJson('asset-urls', doc) || {};
}

const textCache = new WeakMap();

export function t(key, params = {}, doc = document) {
  let texts = textCache.get(doc);
  if (!texts) {
    texts = readJson('texts', doc) || {};
    textCache.set(doc, texts);
  }
  const template = Object.prototype.hasOwnProperty.call(texts, key) ? texts[key] : key;
  return template.replace(/\{([A-Za-z0-9_]+)\}/g, (whole, name) =>
    Object.prototype.hasOwnProperty.call(params, name) ? String(params[name]) : whole);
}

function locale(lang) {
  return lang === 'en' ? 'en-GB' : 'nl-NL';
}

export function formatNumber(value, lang) {
  const fmt = new Intl.NumberFormat(locale(lang), { maximumFractionDigits: 0 });
  if (typeof value === 'string' && /^-?[0-9]+$/.test(value)) value = BigInt(value);
  return fmt.format(value);
}

export function formatDate(unixSeconds, lang, withTime = true) {
  if (unixSeconds === null || unixSeconds === undefined) return '';
  const opts = withTime
    ? { year: 'numeric', month: 'long', day: 'numeric', hour: '2-digit', minute: '2-digit' }
    : { year: 'numeric', month: 'long', day: 'numeric' };
  return new Intl.DateTimeFormat(locale(lang), opts).format(new Date(Number(unixSeconds) * 1000));
}

let ethersPromise = null;
let abiPromise = null;

export function loadEthers(doc = document) {
  if (!ethersPromise) {
    const url = assetUrls(doc).ethers;
    ethersPromise = (url ? import(url) : Promise.reject(new Error('no ethers URL')))
      .then((mod) => mod.ethers || mod)
      .catch((err) => {
        ethersPromise = null;
        throw new ChainError('asset', { what: 'ethers' }, err);
      });
  }
  return ethersPromise;
}

export function loadAbi(doc = document) {
  if (!abiPromise) {
    const url = assetUrls(doc).abi;
    abiPromise = (url ? fetch(url, { credentials: 'same-origin' }) : Promise.reject(new Error('no ABI URL')))
      .then((resp) => {
        if (!resp.ok) throw new Error(`HTTP ${resp.status}`);
        return resp.json();
      })
      .catch((err) => {
        abiPromise = null;
        throw new ChainError('asset', { what: 'ABI' }, err);
      });
  }
  return abiPromise;
}

export async function connect(doc = document) {
  const s = settings(doc);
  if (!s.rpcUrl) throw new ChainError('no-rpc');
  const [ethers, abi] = await Promise.all([loadEthers(doc), loadAbi(doc)]);
  const network = s.chainId === null ? null : new ethers.Network(s.networkName || 'ledger', s.chainId);
  const request = new ethers.FetchRequest(s.rpcUrl);
  request.timeout = REQUEST_TIMEOUT_MS;
  const provider = new ethers.JsonRpcProvider(request, network || undefined, {
    staticNetwork: network || true,
    batchMaxCount: 1,
  });
  const iface = new ethers.Interface(abi);
  const contract = s.contract ? new ethers.Contract(s.contract, iface, provider) : null;
  return { ethers, provider, iface, contract, settings: s };
}

function rpcMessage(err) {
  const inner = (err && (err.error || (err.info && err.info.error))) || null;
  if (inner && typeof inner.message === 'string') return inner.message;
  if (err && typeof err.shortMessage === 'string') return err.shortMessage;
  return err && err.message ? String(err.message) : String(err);
}

const RANGE_HINTS = /range|too many|limit|exceed|size|10000|timeout|too large/i;
const HISTORY_HINTS = /prun|missing trie|header not found|history|not available|unknown block|archive/i;

export function classify(err, url = '') {
  if (err instanceof ChainError) return err;
  const code = err && err.code;
  const inner = err && (err.error || (err.info && err.info.error));
  if (err instanceof TypeError || code === 'NETWORK_ERROR' || code === 'TIMEOUT'
      || (code === 'SERVER_ERROR' && !inner)) {
    return new ChainError('unreachable', { url }, err);
  }
  const message = rpcMessage(err);
  if (HISTORY_HINTS.test(message)) return new ChainError('no-history', { message }, err);
  return new ChainError('rpc', { message }, err);
}

async function rpc(chain, method, params) {
  try {
    return await chain.provider.send(method, params);
  } catch (err) {
    throw classify(err, chain.settings.rpcUrl);
  }
}

export async function chainId(chain) {
  return BigInt(await rpc(chain, 'eth_chainId', []));
}

export async function checkChainId(chain) {
  const actual = await chainId(chain);
  const expected = chain.settings.chainId;
  if (expected !== null && actual !== expected) {
    throw new ChainError('wrong-chain', { expected: expected.toString(), actual: actual.toString() });
  }
  return actual;
}

export async function contractVersion(chain) {
  const address = chain.settings.contract;
  const code = await rpc(chain, 'eth_getCode', [address, 'latest']);
  if (!code || code === '0x') throw new ChainError('no-contract', { address });
  const data = chain.iface.encodeFunctionData('version', []);
  const raw = await rpc(chain, 'eth_call', [{ to: address, data }, 'latest']);
  try {
    return String(chain.iface.decodeFunctionResult('version', raw)[0]);
  } catch (err) {
    throw new ChainError('rpc', { message: 'version() answer not decodable' }, err);
  }
}

export async function head(chain) {
  const block = await rpc(chain, 'eth_getBlockByNumber', ['latest', false]);
  if (!block) throw new ChainError('rpc', { message: 'no latest block' });
  return { number: Number(BigInt(block.number)), hash: block.hash, timestamp: Number(BigInt(block.timestamp)) };
}

export function eventTopic(chain, name) {
  return chain.iface.getEvent(name).topicHash;
}

export function idTopic(value) {
  const hex = BigInt(value).toString(16);
  return '0x' + hex.padStart(64, '0');
}

function hexBlock(n) {
  return '0x' + n.toString(16);
}

function compareLogs(a, b) {
  return (a.blockNumber - b.blockNumber) || (a.logIndex - b.logIndex);
}

export async function getLogs(chain, { topics = [], fromBlock, toBlock, onProgress } = {}) {
  const start0 = fromBlock === undefined ? chain.settings.deployBlock : fromBlock;
  if (toBlock < start0) return [];
  const out = [];
  let span = chain.logSpan || CHUNK_BLOCKS;
  let start = start0;
  while (start <= toBlock) {
    const end = Math.min(start + span - 1, toBlock);
    let part;
    try {
      part = await chain.provider.send('eth_getLogs', [{
        address: chain.settings.contract, topics, fromBlock: hexBlock(start), toBlock: hexBlock(end),
      }]);
    } catch (err) {
      const typed = classify(err, chain.settings.rpcUrl);
      if (typed.code === 'rpc' && RANGE_HINTS.test(typed.params.message)) {
        if (start === end) throw new ChainError('range', typed.params, err);
        span = Math.max(1, Math.floor((end - start + 1) / 2));
        chain.logSpan = span;
        continue;
      }
      if (typed.code === 'unreachable' && err && err.code === 'TIMEOUT' && start !== end) {
        span = Math.max(1, Math.floor((end - start + 1) / 2));
        chain.logSpan = span;
        continue;
      }
      throw typed;
    }
    for (const raw of part) {
      out.push({
        address: raw.address,
        topics: raw.topics,
        data: raw.data,
        blockNumber: Number(BigInt(raw.blockNumber)),
        blockHash: raw.blockHash,
        transactionHash: raw.transactionHash,
        logIndex: Number(BigInt(raw.logIndex)),
        removed: Boolean(raw.removed),
      });
    }
    if (onProgress) onProgress(end, toBlock);
    start = end + 1;
  }
  return out.filter((log) => !log.removed).sort(compareLogs);
}

function plain(value) {
  if (value && typeof value === 'object' && typeof value.toArray === 'function') {
    return value.toArray().map(plain);
  }
  if (Array.isArray(value)) return value.map(plain);
  return value;
}

export function decodeLog(chain, log) {
  let parsed;
  try {
    parsed = chain.iface.parseLog({ topics: log.topics, data: log.data });
  } catch (err) {
    return null;
  }
  if (!parsed) return null;
  const args = {};
  parsed.fragment.inputs.forEach((input, i) => {
    args[input.name] = plain(parsed.args[i]);
  });
  return {
    name: parsed.name,
    args,
    blockNumber: log.blockNumber,
    txHash: log.transactionHash,
    logIndex: log.logIndex,
  };
}

export async function sha256Hex(bytes) {
  const digest = await crypto.subtle.digest('SHA-256', bytes);
  return '0x' + Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

export function explorerUrl(s, kind, value) {
  if (!s.explorerUrl) return null;
  return `${s.explorerUrl}/${kind}/${value}`;
}

export function chainRef(s, kind, value, text = String(value), doc = document) {
  const href = explorerUrl(s, kind, value);
  let el;
  if (href) {
    el = doc.createElement('a');
    el.href = href;
    el.rel = 'noopener noreferrer';
  } else {
    el = doc.createElement('code');
  }
  el.textContent = text;
  return el;
}
