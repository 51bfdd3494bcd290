// Checks tests/vectors/standard_v1a.json with a second verifier written apart from both the
// generator (standard_v1a.py) and this crate: Node's `crypto` (ed25519 and HMAC-SHA256) and its
// own reading of the Standard Webhooks rules. Every case's expected outcome must be what this
// verifier decides, and every invalid public key must be refused by Node too, except the two
// kinds OpenSSL only finds out about when verifying (not a curve point, small order), which a
// receiver should refuse when it is configured.
//
//     node tests/vectors/standard_v1a_check.mjs    # Node 18 or newer; exit 1 on a disagreement
import { createHmac, createPublicKey, verify } from "node:crypto";
import { readFileSync } from "node:fs";

const vectors = JSON.parse(
  readFileSync(new URL("./standard_v1a.json", import.meta.url), "utf8"),
);
const TOLERANCE = vectors.tolerance_secs;
const MAX_V1A = 8;

function publicKey(whpk) {
  if (!whpk.startsWith("whpk_")) return null;
  const raw = Buffer.from(whpk.slice(5), "base64");
  // Node's base64 decoder skips junk; insist on a round trip.
  if (raw.toString("base64").replace(/=+$/, "") !== whpk.slice(5).replace(/=+$/, "")) return null;
  if (raw.length !== 32) return null;
  try {
    return createPublicKey({
      key: { kty: "OKP", crv: "Ed25519", x: raw.toString("base64url") },
      format: "jwk",
    });
  } catch {
    return null;
  }
}

function decode(b64, len) {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64)) return null;
  const raw = Buffer.from(b64, "base64");
  return raw.length === len ? raw : null;
}

function decide(c) {
  const h = (name) => c.headers[`webhook-${name}`] ?? c.headers[`svix-${name}`];
  const [id, ts, sig] = [h("id"), h("timestamp"), h("signature")];
  if (!id || !ts || !sig) return { rejected: "bad_header" };
  if (!/^-?\d+$/.test(ts)) return { rejected: "bad_header" };
  const skew = Number(ts) - c.now;
  if (Math.abs(skew) > TOLERANCE) return { rejected: "stale_timestamp", ahead: skew > 0 };
  const secrets = c.secrets.map((s) => Buffer.from(s.replace(/^whsec_/, ""), "base64"));
  const keys = c.public_keys.map(publicKey);
  const entries = sig.split(" ");
  const v1 = secrets.length
    ? entries.filter((e) => e.startsWith("v1,")).map((e) => decode(e.slice(3), 32)).filter(Boolean)
    : [];
  const v1a = keys.length
    ? entries.filter((e) => e.startsWith("v1a,")).map((e) => decode(e.slice(4), 64)).filter(Boolean)
    : [];
  if (v1a.length > MAX_V1A) return { rejected: "bad_header" };
  const content = Buffer.from(`${id}.${ts}.${c.body}`, "utf8");
  for (const [i, secret] of secrets.entries()) {
    const tag = createHmac("sha256", secret).update(content).digest();
    if (v1.some((t) => t.equals(tag))) return { verified: i };
  }
  for (const [i, key] of keys.entries()) {
    if (v1a.some((s) => verify(null, content, key, s))) return { verified: secrets.length + i };
  }
  return { rejected: "unauthorized" };
}

let failures = 0;
for (const c of vectors.cases) {
  const got = JSON.stringify(decide(c));
  const want = JSON.stringify(c.expect);
  if (got !== want) {
    failures += 1;
    console.error(`case ${c.name}: expected ${want}, Node decides ${got}`);
  }
}
for (const bad of vectors.invalid_public_keys) {
  // OpenSSL imports any 32 bytes: a non-point or a small-order key parses.
  if (publicKey(bad.key) && !["point", "weak"].includes(bad.problem)) {
    failures += 1;
    console.error(`invalid key ${bad.key} (${bad.problem}) parses in Node`);
  }
}
for (const k of vectors.keys) {
  if (!publicKey(k.whpk)) {
    failures += 1;
    console.error(`key ${k.name}: ${k.whpk} does not parse in Node`);
  }
}
console.log(
  `${vectors.cases.length} cases, ${vectors.invalid_public_keys.length} invalid keys: ` +
    (failures ? `${failures} disagreement(s)` : "Node agrees"),
);
process.exit(failures ? 1 : 0);
