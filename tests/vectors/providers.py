"""Adds the Python-made vectors to the Node ones and writes tests/vectors/providers.json.

- Stripe: stripe-python's WebhookSignature.generate_signature_header, checked (with every Node
  vector) by stripe-python's WebhookSignature.verify_header.
- Slack: the documented example of "Verifying requests from Slack"
  (https://api.slack.com/authentication/verifying-requests-from-slack), recomputed, and
  Events API bodies signed by slack_sdk's SignatureVerifier.generate_signature, checked with
  SignatureVerifier.is_valid (a fixed clock).
- Shopify: the documented Python snippet (base64 of hmac.new(secret, body, sha256).digest()).

Usage: python3 providers.py node.json > providers.json (see generate.sh).
"""
import base64
import hashlib
import hmac
import json
import sys

import slack_sdk
import stripe
from slack_sdk.signature import Clock, SignatureVerifier
from stripe import WebhookSignature

vectors = json.load(open(sys.argv[1]))
STRIPE_PKG = f"stripe-python {stripe.VERSION}"
SLACK_PKG = f"slack_sdk {slack_sdk.version.__version__}"
T = 1700000000

# ---- Stripe (Python) ----
secret = "whsec_python_3c4d5e6f"
body = json.dumps({"id": "evt_1PyThOn0000000000000000", "object": "event", "type": "charge.refunded",
                   "created": T, "data": {"object": {"id": "ch_3PyThOn", "object": "charge", "amount_refunded": 500}}})
header = WebhookSignature.generate_signature_header(body, secret, timestamp=T)
vectors.append({"provider": "stripe", "name": "generate_signature_header", "source": f"{STRIPE_PKG}: WebhookSignature.generate_signature_header(payload, secret, timestamp); accepted by verify_header",
                "secrets": [secret], "now": T, "headers": {"stripe-signature": header}, "body": body, "valid": True, "secret_index": 0})

# Every Stripe vector, valid or not, through stripe-python too (signature only; the time is
# checked with tolerance when the vector's clock is off).
for v in vectors:
    if v["provider"] != "stripe":
        continue
    results = []
    for s in v["secrets"]:
        try:
            # tolerance=None: the signature only (stripe-python reads the system clock).
            WebhookSignature.verify_header(v["body"], v["headers"]["stripe-signature"], s, tolerance=None)
            results.append(True)
        except stripe.SignatureVerificationError:
            results.append(False)
    signature_ok = any(results)
    timely = abs(v["now"] - T) <= 300
    assert (signature_ok and timely) == v["valid"], (v["name"], results, timely)
    v["source"] += f"; {STRIPE_PKG} verify_header: signature {'accepted' if signature_ok else 'rejected'}"

# ---- Slack ----
doc_secret = "8f742231b10e8888abcd99yyyzzz85a5"
doc_ts = "1531420618"
doc_body = ("token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
            "&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
            "&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
            "&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c")
doc_sig = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"


class At(Clock):
    def __init__(self, t):
        self.t = t

    def now(self):
        return float(self.t)


assert SignatureVerifier(doc_secret).generate_signature(timestamp=doc_ts, body=doc_body) == doc_sig
assert SignatureVerifier(doc_secret, At(int(doc_ts))).is_valid(doc_body, doc_ts, doc_sig)
doc_headers = {"x-slack-signature": doc_sig, "x-slack-request-timestamp": doc_ts}
SLACK_DOC = ("https://api.slack.com/authentication/verifying-requests-from-slack (signing secret, timestamp, "
             f"slash-command body and signature as documented; the same by {SLACK_PKG} generate_signature)")
vectors.append({"provider": "slack", "name": "documented example", "source": SLACK_DOC, "secrets": [doc_secret],
                "now": int(doc_ts), "headers": doc_headers, "body": doc_body, "valid": True, "secret_index": 0})
for name, now in [("301 s old", int(doc_ts) + 301), ("301 s ahead", int(doc_ts) - 301)]:
    assert not SignatureVerifier(doc_secret, At(now)).is_valid(doc_body, doc_ts, doc_sig)
    vectors.append({"provider": "slack", "name": f"documented example, timestamp {name}", "source": SLACK_DOC + f"; rejected by SignatureVerifier.is_valid at {now}",
                    "secrets": [doc_secret], "now": now, "headers": doc_headers, "body": doc_body, "valid": False})
tampered = doc_body.replace("text=", "text=rm+-rf")
assert not SignatureVerifier(doc_secret, At(int(doc_ts))).is_valid(tampered, doc_ts, doc_sig)
vectors.append({"provider": "slack", "name": "documented example, tampered body", "source": SLACK_DOC + "; altered body rejected by SignatureVerifier.is_valid",
                "secrets": [doc_secret], "now": int(doc_ts), "headers": doc_headers, "body": tampered, "valid": False})

slack_secret = "e6b19c573432dcc6b075501d51b51bb8"
for name, payload in [
    ("event_callback app_mention", {"token": "XXYYZZ", "team_id": "T123ABC456", "api_app_id": "A123ABC456",
                                    "event": {"type": "app_mention", "user": "U123ABC456", "text": "<@U0LAN0Z89> is it everything a river should be?",
                                              "ts": "1515449522.000016", "channel": "C123ABC456", "event_ts": "1515449522000016"},
                                    "type": "event_callback", "event_id": "Ev123ABC456", "event_time": 1515449522000016,
                                    "authorizations": [{"team_id": "T123ABC456", "user_id": "U123ABC456", "is_bot": True}]}),
    ("url_verification", {"token": "Jhj5dZrVaK7ZwHHjRyZWjbDl", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
                          "type": "url_verification"}),
]:
    body = json.dumps(payload)
    ts = str(T)
    sig = SignatureVerifier(slack_secret).generate_signature(timestamp=ts, body=body)
    assert SignatureVerifier(slack_secret, At(T)).is_valid(body, ts, sig)
    vectors.append({"provider": "slack", "name": name, "source": f"{SLACK_PKG}: SignatureVerifier.generate_signature(timestamp, body), checked with is_valid",
                    "secrets": ["rotated-out", slack_secret], "now": T, "headers": {"x-slack-signature": sig, "x-slack-request-timestamp": ts},
                    "body": body, "valid": True, "secret_index": 1})

# ---- Shopify (Python snippet) ----
shop_secret = "shpss_python_9f8e7d6c"
product = json.dumps({"id": 788032119674292900, "title": "Example T-Shirt", "vendor": "Acme", "product_type": "Shirts", "status": "active"})
digest = hmac.new(shop_secret.encode("utf-8"), product.encode("utf-8"), digestmod=hashlib.sha256).digest()
shop_hmac = base64.b64encode(digest).decode()
vectors.append({"provider": "shopify", "name": "products/update (Python snippet)",
                "source": "https://shopify.dev/docs/apps/build/webhooks/verify-deliveries: Python base64.b64encode(hmac.new(secret, body, hashlib.sha256).digest())",
                "secrets": [shop_secret], "now": T, "headers": {"x-shopify-hmac-sha256": shop_hmac, "x-shopify-topic": "products/update",
                                                               "x-shopify-event-id": "7e5c2b1a-1d2e-4f3a-9b8c-0d1e2f3a4b5c",
                                                               "x-shopify-webhook-id": "0d6b2b9e-5a3c-4d1e-8f7a-6b5c4d3e2f1a",
                                                               "x-shopify-shop-domain": "example.myshopify.com"},
                "body": product, "valid": True, "secret_index": 0})

json.dump(vectors, sys.stdout, indent=1, ensure_ascii=False)
sys.stdout.write("\n")
