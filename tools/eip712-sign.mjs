#!/usr/bin/env node
// An EIP-712 signer independent of the Python code (ethers 6), so the tests can check that
// ledger/signing.py hashes and signs typed data as a wallet does
// (https://eips.ethereum.org/EIPS/eip-712, https://docs.ethers.org/v6/api/hashing/#TypedDataEncoder).
//
// stdin:  one request {privateKey, domain, primaryType, types, message}, or an array of them.
//         `types` may include EIP712Domain (eth_signTypedData_v4 form); it is dropped, since
//         ethers derives the domain type from `domain`. Integers may be JSON numbers or decimal
//         strings, bytes32 values 0x-hex.
// stdout: {signature, digest} for each request (an array for an array): the 65-byte signature
//         r || s || v (v = 27 or 28) of Wallet.signTypedData and TypedDataEncoder.hash, both
//         0x-hex.
// Exit 1 with the reason on stderr when a request is malformed, or when `primaryType` is not
// the type ethers finds at the root of `types`.
//
// Usage: node tools/eip712-sign.mjs < request.json

import { readFileSync } from "node:fs";
import { TypedDataEncoder, Wallet } from "ethers";

async function signOne(request) {
  const { privateKey, domain, primaryType, message } = request;
  const types = { ...request.types };
  delete types.EIP712Domain;
  const encoder = TypedDataEncoder.from(types);
  if (encoder.primaryType !== primaryType) {
    throw new Error(`primaryType ${primaryType} is not the root of types (ethers finds ${encoder.primaryType})`);
  }
  const signature = await new Wallet(privateKey).signTypedData(domain, types, message);
  return { signature, digest: TypedDataEncoder.hash(domain, types, message) };
}

try {
  const input = JSON.parse(readFileSync(0, "utf8"));
  const output = Array.isArray(input) ? await Promise.all(input.map(signOne)) : await signOne(input);
  process.stdout.write(JSON.stringify(output) + "\n");
} catch (error) {
  process.stderr.write(`eip712-sign: ${error.message}\n`);
  process.exit(1);
}
