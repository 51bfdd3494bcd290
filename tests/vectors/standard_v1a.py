#!/usr/bin/env python3
"""Test vectors for Standard Webhooks `v1a` (ed25519) signatures, for tests/standard_v1a.rs.

Made by an implementation independent of this crate: Python's `cryptography` (48.0, the OpenSSL
ed25519) signs, and the standard library's `hmac` computes the `v1` tags of the mixed headers.
Nothing here calls the crate. Regenerate (the output is deterministic: keys come from fixed
seeds and ed25519 signing is deterministic) with

    python3 tests/vectors/standard_v1a.py > tests/vectors/standard_v1a.json

Spec (standard-webhooks/standard-webhooks, spec/standard-webhooks.md, "Signature scheme"): the
signed content is `{webhook-id}.{webhook-timestamp}.{body}`; `webhook-signature` holds
space-separated `version,base64` entries, `v1a` for ed25519; public keys are `whpk_` + base64,
secret keys `whsk_` + base64. The spec says "standard ed25519 key pair" without fixing the secret
key's byte layout, so both forms in use are written: the 64-byte keypair (seed then public key,
as Go's `ed25519.PrivateKey` and libsodium lay it out) and the bare 32-byte seed.

`tests/vectors/standard_v1a_check.mjs` checks the output with a second verifier written apart
from this script and the crate, on Node's `crypto` (`node tests/vectors/standard_v1a_check.mjs`):
it must reach every case's expected outcome.

Each case gives the receiver's configuration (`secrets`, `public_keys`), its clock (`now`), the
headers and the body, and what must happen: `{"verified": index}` (secrets numbered first, then
public keys) or `{"rejected": "unauthorized" | "stale_timestamp" | "bad_header"}` (with `ahead`
for a stale timestamp: true when it is in the future).
"""

import base64
import hashlib
import hmac
import json
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

RAW = serialization.Encoding.Raw


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def seed(label: str) -> bytes:
    return hashlib.sha256(f"webhook-receiver standard_v1a {label}".encode()).digest()


class Key:
    def __init__(self, label: str):
        self.label = label
        self.seed = seed(label)
        self.private = Ed25519PrivateKey.from_private_bytes(self.seed)
        self.public = self.private.public_key().public_bytes(RAW, serialization.PublicFormat.Raw)

    @property
    def whpk(self) -> str:
        return "whpk_" + b64(self.public)

    @property
    def whsk(self) -> str:
        return "whsk_" + b64(self.seed + self.public)

    @property
    def whsk_seed(self) -> str:
        return "whsk_" + b64(self.seed)

    def sign(self, content: bytes) -> bytes:
        signature = self.private.sign(content)
        # OpenSSL verifies what it signed (a check of this script, not of the crate).
        self.private.public_key().verify(signature, content)
        return signature

    def v1a(self, msg_id: str, ts: str, body: str) -> str:
        return "v1a," + b64(self.sign(f"{msg_id}.{ts}.{body}".encode()))


def v1(secret: str, msg_id: str, ts: str, body: str) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    tag = hmac.new(key, f"{msg_id}.{ts}.{body}".encode(), hashlib.sha256).digest()
    return "v1," + b64(tag)


A, B, OUTSIDER = Key("key A"), Key("key B"), Key("outsider")
# The Standard Webhooks libraries' public test secret, and another.
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
OTHER_SECRET = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"

ID = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"
NOW = 1_700_000_000
TS = str(NOW)
BODY = '{"type":"contact.created","timestamp":"2022-11-03T20:26:10.344522Z","data":{"id":"1f81eb52-5198-4599-803e-771906343485"}}'

cases = []


def case(name, expect, signature, *, secrets=(), public_keys=(), now=NOW, msg_id=ID, ts=TS,
         body=BODY, svix=False):
    prefix = "svix" if svix else "webhook"
    cases.append({
        "name": name,
        "secrets": list(secrets),
        "public_keys": [k.whpk for k in public_keys],
        "now": now,
        "headers": {f"{prefix}-id": msg_id, f"{prefix}-timestamp": ts,
                    f"{prefix}-signature": signature},
        "body": body,
        "expect": expect,
    })


def ok(index):
    return {"verified": index}


def rejected(why, **more):
    return {"rejected": why, **more}


sig_a, sig_b, sig_out = (k.v1a(ID, TS, BODY) for k in (A, B, OUTSIDER))
hmac_s = v1(SECRET, ID, TS, BODY)

# Valid signatures, and rotation.
case("one_key", ok(0), sig_a, public_keys=[A])
case("second_of_two_keys", ok(1), sig_b, public_keys=[A, B])
case("two_entries_new_key_listed_first", ok(0), f"{sig_b} {sig_a}", public_keys=[A, B])
case("two_entries_one_configured_key", ok(0), f"{sig_a} {sig_b}", public_keys=[B])
case("other_versions_and_junk_skipped", ok(0), f"v2,bm90IHlldA== v1a,!!! {sig_a}",
     public_keys=[A])
case("svix_branded_headers", ok(0), sig_a, public_keys=[A], svix=True)
case("empty_body", ok(0), A.v1a(ID, TS, ""), public_keys=[A], body="")
case("non_ascii_body", ok(0), A.v1a(ID, TS, '{"name":"Zoë ☃"}'), public_keys=[A],
     body='{"name":"Zoë ☃"}')

# Mixed `v1` / `v1a` headers: secrets are indexes 0.., public keys follow.
case("mixed_secret_matches", ok(0), f"{hmac_s} {sig_a}", secrets=[SECRET], public_keys=[A])
case("mixed_public_key_matches", ok(1), f"{hmac_s} {sig_a}", secrets=[OTHER_SECRET],
     public_keys=[A])
case("mixed_second_public_key_after_two_secrets", ok(3), f"{sig_b} {v1(SECRET, ID, TS, 'x')}",
     secrets=[OTHER_SECRET, SECRET], public_keys=[A, B])
case("mixed_config_v1a_only_header", ok(1), sig_a, secrets=[SECRET], public_keys=[A])
case("mixed_config_v1_only_header", ok(0), hmac_s, secrets=[SECRET], public_keys=[A])
case("public_keys_only_skip_v1", rejected("unauthorized"), hmac_s, public_keys=[A])
case("secrets_only_skip_v1a", rejected("unauthorized"), sig_a, secrets=[SECRET])

# Wrong key, tampering.
case("wrong_key", rejected("unauthorized"), sig_out, public_keys=[A, B])
case("tampered_body", rejected("unauthorized"), sig_a, public_keys=[A],
     body=BODY.replace("contact.created", "contact.deleted"))
case("body_with_trailing_newline", rejected("unauthorized"), sig_a, public_keys=[A],
     body=BODY + "\n")
case("tampered_id", rejected("unauthorized"), sig_a, public_keys=[A],
     msg_id="msg_2KWPBgLlAfxdpx2AI54pPJ85f4X")
case("tampered_timestamp", rejected("unauthorized"), sig_a, public_keys=[A], ts=str(NOW + 1))
case("signed_without_separators", rejected("unauthorized"),
     "v1a," + b64(A.sign(f"{ID}{TS}{BODY}".encode())), public_keys=[A])
case("signature_under_v1_label", rejected("unauthorized"), "v1," + sig_a[4:],
     secrets=[SECRET], public_keys=[A])
case("v1_tag_under_v1a_label", rejected("unauthorized"), "v1a," + hmac_s[3:],
     secrets=[SECRET], public_keys=[A])
case("signature_of_other_message", rejected("unauthorized"), A.v1a("msg_other", TS, BODY),
     public_keys=[A])

# Malleability: S + L is the same signature to a lax verifier; OpenSSL and strict RFC 8032
# verifiers refuse it.
L = 2**252 + 27742317777372353535851937790883648493
raw = base64.b64decode(sig_a[4:])
s_plus_l = (int.from_bytes(raw[32:], "little") + L).to_bytes(32, "little")
try:
    A.private.public_key().verify(raw[:32] + s_plus_l, f"{ID}.{TS}.{BODY}".encode())
    raise SystemExit("OpenSSL accepted a non-canonical S")
except InvalidSignature:
    pass
case("non_canonical_s", rejected("unauthorized"), "v1a," + b64(raw[:32] + s_plus_l),
     public_keys=[A])

# Malformed entries alone (a valid one beside them is `other_versions_and_junk_skipped`).
for name, entry in [
    ("entry_not_base64", "v1a,!!!!"),
    ("entry_truncated", sig_a[:-4]),
    ("entry_too_long", sig_a + "AAAA"),
    ("entry_empty", "v1a,"),
    ("entry_space_instead_of_comma", "v1a " + sig_a[4:]),
    ("entry_upper_case_version", "V1A," + sig_a[4:]),
]:
    case(name, rejected("unauthorized"), entry, public_keys=[A])
case("nine_v1a_entries", rejected("bad_header"), " ".join([sig_out] * 8 + [sig_a]),
     public_keys=[A])
case("eight_v1a_entries", ok(0), " ".join([sig_out] * 7 + [sig_a]), public_keys=[A])

# Timestamps: the tolerance is 300 s, inclusive, in both directions; the signature is valid.
case("five_minutes_old", ok(0), sig_a, public_keys=[A], now=NOW + 300)
case("too_old", rejected("stale_timestamp", ahead=False), sig_a, public_keys=[A], now=NOW + 301)
case("five_minutes_ahead", ok(0), sig_a, public_keys=[A], now=NOW - 300)
case("too_new", rejected("stale_timestamp", ahead=True), sig_a, public_keys=[A], now=NOW - 301)
case("timestamp_not_integer", rejected("bad_header"), A.v1a(ID, "1700000000.0", BODY),
     public_keys=[A], ts="1700000000.0")


def not_a_point() -> bytes:
    """The smallest y for which no x exists: 32 bytes that are not an ed25519 point."""
    p = 2**255 - 19
    d = (-121665 * pow(121666, -1, p)) % p
    for y in range(2, 1000):
        u, v = (y * y - 1) % p, (d * y * y + 1) % p
        x2 = u * pow(v, -1, p) % p
        if x2 != 0 and pow(x2, (p - 1) // 2, p) != 1:
            return y.to_bytes(32, "little")
    raise SystemExit("no non-point found")


identity = (1).to_bytes(32, "little")  # y = 1: the neutral element, order 1
invalid_public_keys = [
    {"key": b64(A.public), "problem": "prefix"},
    {"key": SECRET, "problem": "prefix"},
    {"key": A.whsk, "problem": "prefix"},
    {"key": "whpk_", "problem": "32 bytes"},
    {"key": "whpk_" + b64(A.public)[:-2] + "!=", "problem": "base64"},
    {"key": "whpk_" + b64(A.public[:31]), "problem": "32 bytes"},
    {"key": "whpk_" + b64(A.public + b"\0"), "problem": "32 bytes"},
    {"key": "whpk_" + b64(A.seed + A.public), "problem": "32 bytes"},
    {"key": "whpk_" + b64(not_a_point()), "problem": "point"},
    {"key": "whpk_" + b64(identity), "problem": "weak"},
]

json.dump({
    "about": "Standard Webhooks v1a vectors made by tests/vectors/standard_v1a.py with Python "
             "cryptography (OpenSSL ed25519) and hmac; see the script's docstring.",
    "keys": [{"name": k.label, "seed_hex": k.seed.hex(), "whsk": k.whsk,
              "whsk_seed": k.whsk_seed, "whpk": k.whpk} for k in (A, B, OUTSIDER)],
    "signing": {"key": A.label, "id": ID, "timestamp": NOW, "body": BODY, "signature": sig_a},
    "tolerance_secs": 300,
    "cases": cases,
    "invalid_public_keys": invalid_public_keys,
}, sys.stdout, indent=2, ensure_ascii=False)
sys.stdout.write("\n")
