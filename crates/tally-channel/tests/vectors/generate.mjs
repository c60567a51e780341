// Generates channel_signatures.json: payment signatures made with ethers 6,
// signing each digest exactly as the Machinomy contracts check it.
//
//   npm install --prefix /tmp/chvec ethers@6
//   NODE_PATH=/tmp/chvec/node_modules node crates/tally-channel/tests/vectors/generate.mjs
//
// Every vector is one channel-verify input line plus the expected verdict
// (default policy: high s accepted) and the verdict under a strict low-s
// policy. The digest passed to ecrecover is recorded too, so the Rust tests
// check our digest bytes, not only the final verdict.
import { createRequire } from "node:module";
import { writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const ethers = require("ethers");
const {
  Wallet, SigningKey, keccak256, sha256, solidityPacked, solidityPackedKeccak256,
  hashMessage, getBytes, toUtf8Bytes, getAddress, zeroPadValue, hexlify, concat, toBeHex,
} = ethers;

const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
const P = 0xfffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2fn;

// Deterministic material: everything derives from labelled keccak hashes.
const seed = (label) => keccak256(toUtf8Bytes("tally-channel vectors: " + label));
const sender = new Wallet(seed("sender key"));
const stranger = new Wallet(seed("stranger key"));
const contracts = {
  1: getAddress("0x08e4f70109ccc5135f50cc359d24cb7686247df4"), // deployed Unidirectional, mainnet
  42: getAddress("0x" + seed("kovan contract").slice(26)),
};
const token = getAddress("0x" + seed("token").slice(26));
// machinomy ChannelId.random(): a 16-byte uuid right-padded to bytes32.
const uuidChannel = hexlify(getBytes(seed("uuid channel")).slice(0, 16)) + "00".repeat(16);
const fullChannel = seed("full channel");

function digestOf(scheme, chainId, contract, tokenContract, channelId, amount) {
  switch (scheme) {
    case "unidirectional":
      return hashMessage(getBytes(solidityPackedKeccak256(["address", "bytes32", "uint256"], [contract, channelId, amount])));
    case "token_unidirectional":
      return hashMessage(getBytes(solidityPackedKeccak256(
        ["address", "bytes32", "uint256", "address"], [contract, channelId, amount, tokenContract])));
    case "broker_v2":
      return hashMessage(getBytes(solidityPackedKeccak256(
        ["bytes32", "uint256", "address", "uint32"], [channelId, amount, contract, chainId])));
    case "broker_state_update":
      return sha256(solidityPacked(["uint32", "address", "bytes32", "uint256"], [chainId, contract, channelId, amount]));
  }
  throw new Error("unknown scheme " + scheme);
}

// How the client produces the signature: eth_sign (signMessage) for the
// prefixed schemes, a raw digest signature for broker_state_update.
function signWith(wallet, scheme, chainId, contract, tokenContract, channelId, amount) {
  if (scheme === "broker_state_update") {
    const digest = digestOf(scheme, chainId, contract, tokenContract, channelId, amount);
    return wallet.signingKey.sign(digest).serialized;
  }
  const inner = {
    unidirectional: () => solidityPackedKeccak256(["address", "bytes32", "uint256"], [contract, channelId, amount]),
    token_unidirectional: () => solidityPackedKeccak256(
      ["address", "bytes32", "uint256", "address"], [contract, channelId, amount, tokenContract]),
    broker_v2: () => solidityPackedKeccak256(["bytes32", "uint256", "address", "uint32"], [channelId, amount, contract, chainId]),
  }[scheme]();
  return wallet.signMessageSync(getBytes(inner));
}

const hex32 = (n) => toBeHex(n, 32);
function parts(sig) {
  const bytes = getBytes(sig);
  return { r: BigInt(hexlify(bytes.slice(0, 32))), s: BigInt(hexlify(bytes.slice(32, 64))), v: bytes[64] };
}
const join65 = (r, s, v) => concat([hex32(r), hex32(s), toBeHex(v, 1)]);

function modpow(base, exp, mod) {
  let result = 1n; base %= mod;
  while (exp > 0n) { if (exp & 1n) result = (result * base) % mod; base = (base * base) % mod; exp >>= 1n; }
  return result;
}
// The smallest r >= 1 that is not the x coordinate of a curve point.
let offCurveR = 1n;
while (modpow((offCurveR ** 3n + 7n) % P, (P - 1n) / 2n, P) === 1n) offCurveR++;

const vectors = [];
function add(name, scheme, { chainId = 1, contract = contracts[1], tokenContract = token, channelId = uuidChannel,
  amount, signature, channelSender = sender.address, expected, strictReason, digest, omitToken = false, rawAmount }) {
  const input = {
    scheme, chain_id: chainId, contract_address: contract, channel_id: channelId,
    amount: rawAmount !== undefined ? rawAmount : amount.toString(), signature, channel_sender: channelSender,
  };
  if (scheme === "token_unidirectional" && !omitToken) input.token_contract = tokenContract;
  const strict = strictReason === undefined ? expected : { valid: false, signer: null, reason: strictReason };
  vectors.push({ name, input, digest: digest ?? null, expected, expected_strict: strict });
}

const schemes = ["unidirectional", "token_unidirectional", "broker_v2", "broker_state_update"];
const amounts = [0n, 1n, 10n ** 18n, 10n ** 21n, 2n ** 255n, 2n ** 256n - 1n];
const ok = (signer) => ({ valid: true, signer, reason: null });
const fail = (reason, signer = null) => ({ valid: false, signer, reason });

for (const scheme of schemes) {
  const raw = scheme.startsWith("broker");
  for (const chainId of [1, 42]) {
    const contract = contracts[chainId];
    for (const [label, channelId] of [["uuid", uuidChannel], ["full", fullChannel]]) {
      for (const amount of amounts) {
        const common = { chainId, contract, channelId, amount };
        const digest = digestOf(scheme, chainId, contract, token, channelId, amount);
        const sig = signWith(sender, scheme, chainId, contract, token, channelId, amount);
        // Cross-check: ethers recovers the sender from the digest.
        if (SigningKey.recoverPublicKey(digest, sig) !== sender.signingKey.publicKey) throw new Error("self-check");
        const name = `${scheme}/chain${chainId}/${label}/amount=${amount}`;
        add(`${name}/v27`, scheme, { ...common, signature: sig, digest, expected: ok(sender.address) });
        const { r, s, v } = parts(sig);
        add(`${name}/v01`, scheme, {
          ...common, signature: join65(r, s, v - 27), digest,
          expected: raw ? fail("bad_v") : ok(sender.address),
        });
        // The malleated twin: (r, n - s) with the other recovery id.
        add(`${name}/high_s`, scheme, {
          ...common, signature: join65(r, N - s, v === 27 ? 28 : 27), digest,
          expected: ok(sender.address), strictReason: "invalid_signature",
        });
      }
    }
  }
  const amount = 123456789n;
  const common = { amount };
  const sig = signWith(sender, scheme, 1, contracts[1], token, uuidChannel, amount);
  const { r, s, v } = parts(sig);
  const strangerSig = signWith(stranger, scheme, 1, contracts[1], token, uuidChannel, amount);
  add(`${scheme}/stranger_signed`, scheme, { ...common, signature: strangerSig, expected: fail("wrong_signer", stranger.address) });
  // The same signature claimed for another amount recovers some other key.
  const tamperedDigest = digestOf(scheme, 1, contracts[1], token, uuidChannel, amount + 1n);
  const tamperedSigner = ethers.recoverAddress(tamperedDigest, sig);
  add(`${scheme}/amount_changed`, scheme, { amount: amount + 1n, signature: sig, expected: fail("wrong_signer", tamperedSigner) });
  // Replayed on another contract / chain.
  const otherContract = digestOf(scheme, 1, contracts[42], token, uuidChannel, amount);
  add(`${scheme}/other_contract`, scheme, {
    amount, contract: contracts[42], signature: sig,
    expected: fail("wrong_signer", ethers.recoverAddress(otherContract, sig)),
  });
  const otherChain = digestOf(scheme, 3, contracts[1], token, uuidChannel, amount);
  add(`${scheme}/other_chain`, scheme, {
    amount, chainId: 3, signature: sig,
    expected: raw ? fail("wrong_signer", ethers.recoverAddress(otherChain, sig)) : ok(sender.address),
  });
  add(`${scheme}/length_64`, scheme, { ...common, signature: hexlify(getBytes(sig).slice(0, 64)), expected: fail("bad_signature_length") });
  add(`${scheme}/length_66`, scheme, { ...common, signature: concat([sig, "0x00"]), expected: fail("bad_signature_length") });
  add(`${scheme}/length_0`, scheme, { ...common, signature: "0x", expected: fail("bad_signature_length") });
  for (const badV of [2, 26, 29, 255]) {
    add(`${scheme}/v=${badV}`, scheme, { ...common, signature: join65(r, s, badV), expected: fail("bad_v") });
  }
  add(`${scheme}/r=0`, scheme, { ...common, signature: join65(0n, s, v), expected: fail("invalid_signature") });
  add(`${scheme}/s=0`, scheme, { ...common, signature: join65(r, 0n, v), expected: fail("invalid_signature") });
  add(`${scheme}/r=n`, scheme, { ...common, signature: join65(N, s, v), expected: fail("invalid_signature") });
  add(`${scheme}/s=n`, scheme, { ...common, signature: join65(r, N, v), expected: fail("invalid_signature") });
  add(`${scheme}/s=2^256-1`, scheme, { ...common, signature: join65(r, 2n ** 256n - 1n, v), expected: fail("invalid_signature") });
  add(`${scheme}/r_off_curve`, scheme, { ...common, signature: join65(offCurveR, s, v), expected: fail("invalid_signature") });
  for (const [label, rawAmount] of [["exponent", "1e21"], ["negative", "-1"], ["fraction", "1.5"], ["hex", "0x10"],
    ["2^256", (2n ** 256n).toString()], ["number", 5], ["empty", ""]]) {
    add(`${scheme}/amount_${label}`, scheme, { ...common, rawAmount, signature: sig, expected: fail("invalid_amount") });
  }
  add(`${scheme}/signature_not_hex`, scheme, { ...common, signature: "0x" + "zz".repeat(65), expected: fail("invalid_input") });
  if (raw) {
    add(`${scheme}/chain_id_above_uint32`, scheme, { ...common, chainId: 2 ** 32, signature: sig, expected: fail("invalid_input") });
  }
  if (scheme === "token_unidirectional") {
    add(`${scheme}/missing_token`, scheme, { ...common, signature: sig, omitToken: true, expected: fail("invalid_input") });
    const otherToken = digestOf(scheme, 1, contracts[1], contracts[42], uuidChannel, amount);
    add(`${scheme}/other_token`, scheme, {
      ...common, tokenContract: contracts[42], signature: sig,
      expected: fail("wrong_signer", ethers.recoverAddress(otherToken, sig)),
    });
  }
}
// Addresses in any case parse; a broken checksum does not.
{
  const amount = 5n;
  const sig = signWith(sender, "unidirectional", 1, contracts[1], token, uuidChannel, amount);
  add("unidirectional/lowercase_addresses", "unidirectional", {
    amount, signature: sig, contract: contracts[1].toLowerCase(), channelSender: sender.address.toLowerCase(),
    expected: ok(sender.address),
  });
  const broken = sender.address.slice(0, 2) + [...sender.address.slice(2)].map((c) =>
    /[a-f]/.test(c) ? c.toUpperCase() : /[A-F]/.test(c) ? c.toLowerCase() : c).join("");
  add("unidirectional/bad_checksum_sender", "unidirectional", {
    amount, signature: sig, channelSender: broken, expected: fail("invalid_input"),
  });
  add("unknown_scheme", "bidirectional", { amount, signature: sig, expected: fail("invalid_input") });
}

const out = {
  generator: "crates/tally-channel/tests/vectors/generate.mjs",
  tool: `ethers ${ethers.version}`,
  sender: sender.address,
  stranger: stranger.address,
  count: vectors.length,
  vectors,
};
const path = join(dirname(fileURLToPath(import.meta.url)), "channel_signatures.json");
writeFileSync(path, JSON.stringify(out, null, 1) + "\n");
console.log(`wrote ${vectors.length} vectors to ${path}`);
