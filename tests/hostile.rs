//! Hostile input at volume through the whole `Webhooks` stack (verify layer + receiver),
//! generated with proptest: 1,000 requests per class, each answered with the status README's
//! table documents, never a panic, never a 5xx; a rejected request is neither dispatched nor
//! remembered (afterwards a genuine delivery of the same id is dispatched), an accepted one is
//! dispatched exactly once. Every stack has a 16 KiB body limit, so oversize cases are cheap.
#![cfg(all(feature = "chirp", feature = "hmac", feature = "standard-webhooks"))]

#[path = "support/hostile.rs"]
mod hostile;

use std::convert::Infallible;

use axum::body::Body;
use bytes::Bytes;
use futures_util::StreamExt;
use hmac::{Hmac, Mac};
use hostile::{Expect, Harness, LIMIT, Tally};
use http::{HeaderName, HeaderValue, Request};
use proptest::prelude::*;
use sha2::Sha256;
use webhook_receiver::chirp::{self, Chirp};
use webhook_receiver::json::JsonFormat;
use webhook_receiver::verify::{HmacSha256, SharedSecret, StandardWebhooks};

const SECRET: &str = "hostile-secret-0123456789";
const URI: &str = "/webhooks/chirp";
const HMAC_SECRET: &str = "hostile-hmac-secret-0123456789";
const SW_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// Every Chirp event type this version knows.
const KNOWN: [&str; 13] = [
    "messages.sms.received",
    "messages.sms.sent",
    "messages.sms.delivered",
    "messages.sms.failed",
    "messages.whatsapp.received",
    "messages.whatsapp.sent",
    "messages.whatsapp.delivered",
    "messages.whatsapp.read",
    "messages.whatsapp.failed",
    "templates.whatsapp.updated",
    "contacts.whatsapp.created",
    "whatsapp.account.connected",
    "messages.sms.delivered",
];

type ChirpHarness = Harness<Chirp, SharedSecret>;

fn chirp_harness() -> ChirpHarness {
    Harness::new(|| chirp::webhooks([SECRET]).unwrap())
}

/// A minimal `messages.sms.delivered` body for message `id`, with `extra` fields in `data`.
fn delivered(id: &str, extra: &str) -> String {
    format!(
        r#"{{"event":"messages.sms.delivered","data":{{"id":"{id}","status":"delivered"{extra}}}}}"#
    )
}

/// A POST with the secret and a JSON content type (and no `Content-Length`).
fn post(body: impl Into<Body>) -> Request<Body> {
    Request::post(URI)
        .header("content-type", "application/json")
        .header("x-webhook-secret", SECRET)
        .body(body.into())
        .unwrap()
}

fn expect(status: u16, id: &str) -> Expect {
    Expect {
        status,
        id: id.to_owned(),
    }
}

/// After a class: the accepted requests (and nothing else) are remembered; then a genuine
/// delivery of every rejected request's id is accepted (not a duplicate) and dispatched.
fn genuine_after(h: &ChirpHarness, tally: &Tally) {
    let before = h.count.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(h.remembered(), tally.accepted as u64, "remembered keys");
    for id in &tally.rejected_ids {
        let (status, duplicate) = h.send(post(delivered(id, "")));
        assert_eq!((status, duplicate), (200, false), "genuine delivery of {id}");
    }
    h.settled(before + tally.rejected_ids.len());
    eprintln!("{tally:?}", tally = (tally.sent, tally.accepted, &tally.by_status));
}

/// `len` bytes of padding for a JSON string.
fn pad(len: usize) -> String {
    "x".repeat(len)
}

/// An oversize `delivered` body: over the limit by `over` bytes (at least 1).
fn oversize(id: &str, over: usize) -> String {
    let base = delivered(id, r#","pad":"""#).len();
    let body = delivered(id, &format!(r#","pad":"{}""#, pad(LIMIT + over - base)));
    assert_eq!(body.len(), LIMIT + over);
    body
}

#[test]
fn oversize_with_content_length_is_413() {
    let h = chirp_harness();
    let tally = h.class("oversize_cl", 1usize..4096, |h, over| {
        let id = h.id("ocl");
        let body = oversize(&id, over);
        let mut req = post(body.clone());
        req.headers_mut()
            .insert("content-length", body.len().to_string().parse().unwrap());
        (req, expect(413, &id))
    });
    genuine_after(&h, &tally);
}

#[test]
fn oversize_without_content_length_is_413() {
    let h = chirp_harness();
    let tally = h.class("oversize_no_cl", 1usize..4096, |h, over| {
        let id = h.id("onl");
        (post(oversize(&id, over)), expect(413, &id))
    });
    genuine_after(&h, &tally);
}

#[test]
fn lying_content_length_is_413() {
    let h = chirp_harness();
    // 0: declares at most the limit, sends more; 1: declares more than the limit, sends a small
    // valid body; 2: an unparsable Content-Length on an oversize body.
    let strategy = (0u8..3, 1usize..4096, 0u64..=LIMIT as u64, LIMIT as u64 + 1..u64::MAX);
    let tally = h.class("lying_cl", strategy, |h, (kind, over, small, big)| {
        let id = h.id("lcl");
        let (body, declared) = match kind {
            0 => (oversize(&id, over), small.to_string()),
            1 => (delivered(&id, ""), big.to_string()),
            _ => (oversize(&id, over), format!("{small}x")),
        };
        let mut req = post(body);
        req.headers_mut()
            .insert("content-length", declared.parse().unwrap());
        (req, expect(413, &id))
    });
    genuine_after(&h, &tally);
}

#[test]
fn chunked_oversize_is_413() {
    let h = chirp_harness();
    // A streaming body with no Content-Length: chunks of 1..2048 bytes, over the limit by
    // `over`, or endless.
    let strategy = (1usize..2048, 1usize..4096, any::<bool>());
    let tally = h.class("chunked_oversize", strategy, |h, (chunk, over, endless)| {
        let id = h.id("chk");
        let bytes = Bytes::from(oversize(&id, over));
        let body = if endless {
            let head = bytes.slice(..LIMIT / 2);
            let filler = Bytes::from(pad(chunk));
            let stream = futures_util::stream::iter([Ok::<_, Infallible>(head)])
                .chain(futures_util::stream::repeat(Ok(filler)));
            Body::from_stream(stream)
        } else {
            let chunks: Vec<Result<Bytes, Infallible>> = (0..bytes.len())
                .step_by(chunk)
                .map(|i| Ok(bytes.slice(i..(i + chunk).min(bytes.len()))))
                .collect();
            Body::from_stream(futures_util::stream::iter(chunks))
        };
        (post(body), expect(413, &id))
    });
    genuine_after(&h, &tally);
}

/// `depth` nested arrays or objects around `1`.
fn nested(depth: usize, objects: bool) -> String {
    if objects {
        format!("{}1{}", r#"{"a":"#.repeat(depth), "}".repeat(depth))
    } else {
        format!("{}1{}", "[".repeat(depth), "]".repeat(depth))
    }
}

#[test]
fn deep_nesting() {
    let h = chirp_harness();
    // In `data` (of a known or an unknown type), any depth: 200 (beyond 128 the fallback gets
    // the raw text). As the whole body: not an object, 400.
    let strategy = (1usize..600, any::<bool>(), 0u8..3);
    let tally = h.class("deep_nesting", strategy, |h, (depth, objects, place)| {
        let id = h.id("deep");
        let deep = nested(depth, objects);
        match place {
            0 => (post(delivered(&id, &format!(r#","n":{deep}"#))), expect(200, &id)),
            1 => (
                post(format!(
                    r#"{{"event":"calls.voice.started","data":{{"id":"{id}","n":{deep}}}}}"#
                )),
                expect(200, &id),
            ),
            _ => (post(format!("[{deep}]")), expect(400, &id)),
        }
    });
    genuine_after(&h, &tally);
}

#[test]
fn huge_numbers() {
    let h = chirp_harness();
    // Anywhere in `data`: 200 (a number beyond f64 makes `data` unrepresentable: the fallback
    // gets the raw text). As `event` (or `data`): the wrong type, 400.
    let number = prop_oneof![
        Just("1e400".to_owned()),
        Just("-1e400".to_owned()),
        Just("1e-400".to_owned()),
        Just("18446744073709551616".to_owned()),
        Just("-9223372036854775809".to_owned()),
        (1usize..500).prop_map(|n| "9".repeat(n)),
        (1u32..100_000, any::<bool>()).prop_map(|(e, neg)| format!(
            "{}1.5e{e}",
            if neg { "-" } else { "" }
        )),
        (1usize..400).prop_map(|n| format!("0.{}1", "0".repeat(n))),
    ];
    let strategy = (number, 0u8..4);
    let tally = h.class("huge_numbers", strategy, |h, (number, place)| {
        let id = h.id("num");
        match place {
            0 => (post(delivered(&id, &format!(r#","n":{number}"#))), expect(200, &id)),
            1 => (
                post(format!(
                    r#"{{"event":"messages.sms.delivered","data":{{"id":"{id}","status":"delivered","deliveredAt":{number}}}}}"#
                )),
                expect(200, &id),
            ),
            2 => (
                post(format!(
                    r#"{{"event":"templates.whatsapp.updated","data":{{"id":"{id}","n":[{number},{number}]}}}}"#
                )),
                expect(200, &id),
            ),
            _ => (
                post(format!(r#"{{"event":{number},"data":{{"id":"{id}"}}}}"#)),
                expect(400, &id),
            ),
        }
    });
    genuine_after(&h, &tally);
}

#[test]
fn invalid_utf8_is_400() {
    let h = chirp_harness();
    // One invalid sequence inserted in the id, in the event name, in a padding string, or
    // between tokens.
    let bad = prop_oneof![
        Just(vec![0x80u8]),
        Just(vec![0xffu8]),
        Just(vec![0xc0u8, 0xaf]),
        Just(vec![0xe2u8, 0x82]),
        Just(vec![0xedu8, 0xa0, 0x80]),
        Just(vec![0xf4u8, 0x90, 0x80, 0x80]),
        proptest::collection::vec(0x80u8..=0xbf, 1..8),
    ];
    let strategy = (bad, 0u8..4, 0usize..64);
    let tally = h.class("invalid_utf8", strategy, |h, (bad, place, at)| {
        let id = h.id("utf");
        let mut body = delivered(&id, &format!(r#","pad":"{}""#, pad(64))).into_bytes();
        let pos = match place {
            0 => body.windows(id.len()).position(|w| w == id.as_bytes()).unwrap() + 1,
            1 => "{\"event\":\"messages.".len(),
            2 => body.len() - 3 - at,
            _ => 1,
        };
        body.splice(pos..pos, bad);
        (post(body), expect(400, &id))
    });
    genuine_after(&h, &tally);
}

#[test]
fn duplicate_json_keys() {
    let h = chirp_harness();
    // `event` or `data` twice: 400 ("duplicate envelope field"). A key twice in `data` or an
    // unknown envelope key twice: 200.
    let strategy = (0u8..5, any::<bool>());
    let tally = h.class("duplicate_keys", strategy, |h, (kind, same)| {
        let id = h.id("dup");
        let other = if same { id.clone() } else { h.id("dupo") };
        let data = format!(r#"{{"id":"{id}","status":"delivered"}}"#);
        let (body, status) = match kind {
            0 => (
                format!(
                    r#"{{"event":"messages.sms.delivered","event":"messages.sms.sent","data":{data}}}"#
                ),
                400,
            ),
            1 => (
                format!(
                    r#"{{"event":"messages.sms.delivered","data":{data},"data":{{"id":"{other}","status":"delivered"}}}}"#
                ),
                400,
            ),
            2 => (
                format!(
                    r#"{{"event":"messages.sms.delivered","data":{{"id":"{other}","id":"{id}","status":"delivered"}}}}"#
                ),
                200,
            ),
            3 => (
                format!(
                    r#"{{"event":"templates.whatsapp.updated","data":{{"id":"{id}","name":"a","name":"b"}}}}"#
                ),
                200,
            ),
            _ => (
                format!(
                    r#"{{"x":1,"event":"messages.sms.delivered","x":2,"data":{data}}}"#
                ),
                200,
            ),
        };
        (post(body), expect(status, &id))
    });
    genuine_after(&h, &tally);
}

/// `s` with the characters where `mask` is set written as `\uXXXX` escapes.
fn escaped(s: &str, mask: &[bool]) -> String {
    s.chars()
        .zip(mask.iter().cycle())
        .map(|(c, &esc)| {
            if esc {
                let mut buf = [0u16; 2];
                c.encode_utf16(&mut buf)
                    .iter()
                    .map(|u| format!("\\u{u:04x}"))
                    .collect()
            } else {
                c.to_string()
            }
        })
        .collect()
}

#[test]
fn unicode_escapes() {
    let h = chirp_harness();
    // An escaped event name is the name: 200, routed as that event. Escapes in `data`, lone
    // surrogates included: 200. A lone surrogate in the event name: 400.
    let strategy = (
        proptest::collection::vec(any::<bool>(), 1..32),
        0u8..4,
        "\\PC{0,8}",
        0xd800u32..0xe000,
    );
    let tally = h.class("unicode_escapes", strategy, |h, (mask, kind, text, sur)| {
        let id = h.id("uni");
        match kind {
            0 => (
                post(format!(
                    r#"{{"event":"{}","data":{{"id":"{}","status":"delivered"}}}}"#,
                    escaped("messages.sms.delivered", &mask),
                    escaped(&id, &mask)
                )),
                expect(200, &id),
            ),
            1 => (
                post(delivered(
                    &id,
                    &format!(r#","t":"{}""#, escaped(&text.replace(['"', '\\'], ""), &mask)),
                )),
                expect(200, &id),
            ),
            2 => (
                post(delivered(&id, &format!(r#","t":"\u{sur:04x}""#))),
                expect(200, &id),
            ),
            _ => (
                post(format!(
                    r#"{{"event":"messages.\u{sur:04x}","data":{{"id":"{id}"}}}}"#
                )),
                expect(400, &id),
            ),
        }
    });
    let routed = h.names.lock().unwrap().get("messages.sms.delivered").copied();
    assert!(routed.unwrap_or(0) > 0, "{:?}", h.names.lock().unwrap());
    genuine_after(&h, &tally);
}
