//! Hostile input at volume through the whole `Webhooks` stack (verify layer + receiver),
//! generated with proptest: 1,000 requests per class, each answered with the status the crate
//! docs' `# Status codes` table (src/lib.rs) documents, never a panic, never a 5xx; a rejected
//! request is neither dispatched nor remembered (afterwards a genuine delivery of the same id is
//! dispatched), an accepted one is dispatched exactly once. Every stack has a 16 KiB body limit,
//! so oversize cases are cheap.
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
const KNOWN: [&str; 12] = [
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
/// delivery of every rejected request's id is accepted (not a duplicate) and dispatched. Prints
/// the class's tally (sent, accepted, by status) for `--nocapture`.
#[allow(clippy::print_stderr)]
fn genuine_after<F, V>(h: &Harness<F, V>, tally: &Tally, genuine: impl Fn(&str) -> Request<Body>)
where
    F: webhook_receiver::Format,
    V: webhook_receiver::verify::VerifyRequest<Body> + Send + Sync + 'static,
{
    let before = h.count.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(h.remembered(), tally.accepted as u64, "remembered keys");
    for id in &tally.rejected_ids {
        let (status, duplicate) = h.send(genuine(id));
        assert_eq!(
            (status, duplicate),
            (200, false),
            "genuine delivery of {id}"
        );
    }
    h.settled(before + tally.rejected_ids.len());
    eprintln!(
        "{tally:?}",
        tally = (tally.sent, tally.accepted, &tally.by_status)
    );
}

/// [`genuine_after`] with a genuine Chirp delivery.
fn chirp_genuine_after(h: &ChirpHarness, tally: &Tally) {
    genuine_after(h, tally, |id| post(delivered(id, "")));
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
    chirp_genuine_after(&h, &tally);
}

#[test]
fn oversize_without_content_length_is_413() {
    let h = chirp_harness();
    let tally = h.class("oversize_no_cl", 1usize..4096, |h, over| {
        let id = h.id("onl");
        (post(oversize(&id, over)), expect(413, &id))
    });
    chirp_genuine_after(&h, &tally);
}

#[test]
fn lying_content_length_is_413() {
    let h = chirp_harness();
    // 0: declares at most the limit, sends more; 1: declares more than the limit, sends a small
    // valid body; 2: an unparsable Content-Length on an oversize body.
    let strategy = (
        0u8..3,
        1usize..4096,
        0u64..=LIMIT as u64,
        LIMIT as u64 + 1..u64::MAX,
    );
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
    chirp_genuine_after(&h, &tally);
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
    chirp_genuine_after(&h, &tally);
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
            0 => (
                post(delivered(&id, &format!(r#","n":{deep}"#))),
                expect(200, &id),
            ),
            1 => (
                post(format!(
                    r#"{{"event":"calls.voice.started","data":{{"id":"{id}","n":{deep}}}}}"#
                )),
                expect(200, &id),
            ),
            _ => (post(format!("[{deep}]")), expect(400, &id)),
        }
    });
    chirp_genuine_after(&h, &tally);
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
        (1u32..100_000, any::<bool>())
            .prop_map(|(e, neg)| format!("{}1.5e{e}", if neg { "-" } else { "" })),
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
    chirp_genuine_after(&h, &tally);
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
            0 => {
                body.windows(id.len())
                    .position(|w| w == id.as_bytes())
                    .unwrap()
                    + 1
            }
            1 => "{\"event\":\"messages.".len(),
            2 => body.len() - 3 - at,
            _ => 1,
        };
        body.splice(pos..pos, bad);
        (post(body), expect(400, &id))
    });
    chirp_genuine_after(&h, &tally);
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
    chirp_genuine_after(&h, &tally);
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
                    &format!(
                        r#","t":"{}""#,
                        escaped(&text.replace(['"', '\\'], ""), &mask)
                    ),
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
    let routed = h
        .names
        .lock()
        .unwrap()
        .get("messages.sms.delivered")
        .copied();
    assert!(routed.unwrap_or(0) > 0, "{:?}", h.names.lock().unwrap());
    chirp_genuine_after(&h, &tally);
}

/// A header value made of `bytes` (only what `HeaderValue::from_bytes` accepts is generated).
fn value(bytes: &[u8]) -> HeaderValue {
    HeaderValue::from_bytes(bytes).unwrap()
}

/// Bytes that `HeaderValue` accepts: visible ASCII, space, tab and obs-text, at least one
/// obs-text byte.
fn obs_text() -> impl Strategy<Value = Vec<u8>> {
    (
        proptest::collection::vec(prop_oneof![0x20u8..0x7f, Just(b'\t'), 0x80u8..=0xff], 0..24),
        0x80u8..=0xff,
        0usize..24,
    )
        .prop_map(|(mut v, obs, at)| {
            let at = at.min(v.len());
            v.insert(at, obs);
            v
        })
}

#[test]
fn wrong_or_missing_content_type_is_415() {
    let h = chirp_harness();
    let lookalike = prop_oneof![
        Just(None),
        Just(Some(b"".to_vec())),
        Just(Some(b"text/plain".to_vec())),
        Just(Some(b"text/json".to_vec())),
        Just(Some(b"application/x-www-form-urlencoded".to_vec())),
        Just(Some(b"multipart/form-data; boundary=x".to_vec())),
        Just(Some(b"application/jsonx".to_vec())),
        Just(Some(b"application/json5".to_vec())),
        Just(Some(b"application/+json".to_vec())),
        Just(Some(b"application/ json".to_vec())),
        Just(Some(b"application /json".to_vec())),
        Just(Some(b"application".to_vec())),
        Just(Some(b"json".to_vec())),
        Just(Some(b"*/*".to_vec())),
        Just(Some(b"application/*".to_vec())),
        Just(Some(b"application/json-seq".to_vec())),
        Just(Some(b"application/xml; x=application/json".to_vec())),
        Just(Some(b"application/json\xff".to_vec())),
        Just(Some(b"application/\xc3\xa9json".to_vec())),
        // Random types that do not mention json.
        "[a-z]{1,12}/[a-z0-9.+-]{0,16}(; [a-z]{1,8}=[a-z0-9]{0,8})?"
            .prop_filter("not JSON", |s| !s.contains("json"))
            .prop_map(|s| Some(s.into_bytes())),
        obs_text().prop_map(Some),
    ];
    let tally = h.class("content_type", lookalike, |h, ct| {
        let id = h.id("ct");
        let mut req = post(delivered(&id, ""));
        req.headers_mut().remove("content-type");
        if let Some(ct) = ct {
            req.headers_mut().insert("content-type", value(&ct));
        }
        (req, expect(415, &id))
    });
    chirp_genuine_after(&h, &tally);
}

/// A secret header that does not authenticate: missing, empty, twice, or not ASCII.
fn bad_secret(real: &'static [u8]) -> impl Strategy<Value = (&'static str, Vec<Vec<u8>>)> {
    prop_oneof![
        Just(("missing", vec![])),
        Just(("empty", vec![b"".to_vec()])),
        Just(("twice_genuine", vec![real.to_vec(), real.to_vec()])),
        Just(("genuine_then_empty", vec![real.to_vec(), b"".to_vec()])),
        obs_text().prop_map(move |junk| ("twice_with_junk", vec![real.to_vec(), junk])),
        obs_text().prop_map(|v| ("non_ascii", vec![v])),
        (obs_text(), any::<bool>()).prop_map(move |(junk, before)| {
            let v = if before {
                [&junk[..], real].concat()
            } else {
                [real, &junk[..]].concat()
            };
            ("genuine_plus_obs_text", vec![v])
        }),
        "[ \t]{1,3}".prop_map(move |ws| (
            "genuine_plus_whitespace_inside",
            vec![
                [
                    &real[..real.len() / 2],
                    ws.as_bytes(),
                    &real[real.len() / 2..]
                ]
                .concat()
            ]
        )),
    ]
}

#[test]
fn missing_duplicated_empty_or_non_ascii_secret_is_401() {
    let h = chirp_harness();
    let tally = h.class(
        "secret_header",
        bad_secret(SECRET.as_bytes()),
        |h, (_, values)| {
            let id = h.id("sec");
            let mut req = post(delivered(&id, ""));
            req.headers_mut().remove("x-webhook-secret");
            for v in values {
                req.headers_mut().append("x-webhook-secret", value(&v));
            }
            (req, expect(401, &id))
        },
    );
    chirp_genuine_after(&h, &tally);
}

fn hmac_hex(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

fn generic_body(id: &str) -> String {
    format!(r#"{{"type":"user.created","id":"{id}","data":{{"n":1}}}}"#)
}

fn hmac_request(body: String, signatures: &[Vec<u8>]) -> Request<Body> {
    let mut req = Request::post("/webhook")
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap();
    for s in signatures {
        req.headers_mut().append("x-webhook-signature", value(s));
    }
    req
}

#[test]
fn missing_duplicated_empty_or_non_ascii_hmac_signature_is_401() {
    let h = Harness::new(|| {
        webhook_receiver::Webhooks::builder(
            JsonFormat::<serde_json::Value>::new(),
            HmacSha256::new([HMAC_SECRET]).unwrap(),
        )
    });
    // The genuine signature depends on the body: `REAL` is replaced per case.
    const REAL: &[u8] = b"REAL";
    let tally = h.class("hmac_signature", bad_secret(REAL), |h, (_, values)| {
        let id = h.id("hm");
        let body = generic_body(&id);
        let real = hmac_hex(HMAC_SECRET.as_bytes(), body.as_bytes());
        let values: Vec<Vec<u8>> = values
            .iter()
            .map(|v| replace(v, REAL, real.as_bytes()))
            .collect();
        (hmac_request(body, &values), expect(401, &id))
    });
    genuine_after(&h, &tally, |id| {
        let body = generic_body(id);
        let sig = hmac_hex(HMAC_SECRET.as_bytes(), body.as_bytes());
        hmac_request(body, &[sig.into_bytes()])
    });
}

/// `haystack` with every `from` replaced by `to`.
fn replace(haystack: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < haystack.len() {
        if haystack[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(haystack[i]);
            i += 1;
        }
    }
    out
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn sw_request(body: String, headers: &[(&str, Vec<u8>)]) -> Request<Body> {
    let mut req = Request::post("/webhook")
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap();
    for (name, v) in headers {
        req.headers_mut()
            .append(HeaderName::from_bytes(name.as_bytes()).unwrap(), value(v));
    }
    req
}

/// The three Standard Webhooks headers of a genuine delivery of `body` as `id`.
fn sw_headers(scheme: &StandardWebhooks, id: &str, body: &str) -> Vec<(&'static str, Vec<u8>)> {
    let now = unix_now();
    vec![
        ("webhook-id", id.as_bytes().to_vec()),
        ("webhook-timestamp", now.to_string().into_bytes()),
        (
            "webhook-signature",
            scheme.sign(id, now, body.as_bytes()).into_bytes(),
        ),
    ]
}

#[test]
fn missing_duplicated_empty_or_non_ascii_standard_webhooks_headers() {
    let scheme = StandardWebhooks::new([SW_SECRET]).unwrap();
    let h = Harness::new(|| {
        webhook_receiver::Webhooks::builder(
            JsonFormat::<serde_json::Value>::new(),
            StandardWebhooks::new([SW_SECRET]).unwrap(),
        )
    });
    // Which header (id, timestamp, signature), what is done to it. Documented: a missing
    // header, or an empty, duplicated or malformed id or timestamp, 400; a signature header
    // with no matching `v1` entry, 401.
    let strategy = (0usize..3, 0u8..4, obs_text());
    let tally = h.class("standard_headers", strategy, |h, (which, what, junk)| {
        let id = h.id("sw");
        let body = generic_body(&id);
        let mut headers = sw_headers(&scheme, &id, &body);
        let (name, real) = headers[which].clone();
        let status = match (which, what) {
            (_, 0) => {
                headers.remove(which);
                400
            }
            (2, 1) => {
                headers[which].1 = Vec::new();
                401
            }
            (_, 1) => {
                headers[which].1 = Vec::new();
                400
            }
            (2, 2) => {
                // A second signature header with junk: the genuine entry still matches.
                headers.push((name, junk));
                200
            }
            (_, 2) => {
                headers.push((name, real));
                400
            }
            (2, _) => {
                headers[which].1 = junk;
                401
            }
            (1, _) => {
                headers[which].1 = [&real[..], &junk[..]].concat();
                400
            }
            _ => {
                // A non-ASCII id, signed as sent: authentic, 200.
                let new_id = [&real[..], &junk[..]].concat();
                let now = unix_now();
                headers[0].1 = new_id;
                headers[2].1 = sw_sign_bytes(&headers[0].1, now, body.as_bytes());
                headers[1].1 = now.to_string().into_bytes();
                200
            }
        };
        (sw_request(body, &headers), expect(status, &id))
    });
    genuine_after(&h, &tally, |id| {
        let body = generic_body(id);
        let headers = sw_headers(&scheme, id, &body);
        sw_request(body, &headers)
    });
}

/// A `v1,` signature of `{id}.{ts}.{body}` where the id may be any bytes.
fn sw_sign_bytes(id: &[u8], ts: i64, body: &[u8]) -> Vec<u8> {
    use base64::Engine;
    let key = base64::engine::general_purpose::STANDARD
        .decode(SW_SECRET.strip_prefix("whsec_").unwrap())
        .unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(id);
    mac.update(format!(".{ts}.").as_bytes());
    mac.update(body);
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    )
    .into_bytes()
}

#[test]
fn header_injection_attempts() {
    let h = chirp_harness();
    // What `http` lets through (obs-text, tabs; CR and LF are refused by `HeaderValue`):
    // in the secret, 401; in the content type, 415; in an unrelated header of a genuine
    // request, 200.
    let strategy = (0u8..4, obs_text(), "[A-Za-z-]{1,16}");
    let tally = h.class("header_injection", strategy, |h, (place, junk, name)| {
        let id = h.id("inj");
        let mut req = post(delivered(&id, ""));
        let injected = [b"\tX-Webhook-Secret: ".as_slice(), SECRET.as_bytes(), &junk].concat();
        let status = match place {
            0 => {
                req.headers_mut().insert(
                    "x-webhook-secret",
                    value(&[SECRET.as_bytes(), &injected].concat()),
                );
                401
            }
            1 => {
                req.headers_mut().insert("x-webhook-secret", value(&junk));
                401
            }
            2 => {
                req.headers_mut().insert(
                    "content-type",
                    value(&[b"text/plain".as_slice(), &injected].concat()),
                );
                415
            }
            _ => {
                let name =
                    HeaderName::from_bytes(format!("x-{name}").to_lowercase().as_bytes()).unwrap();
                if name == "x-webhook-secret" {
                    return (req, expect(200, &id));
                }
                req.headers_mut().append(name, value(&injected));
                200
            }
        };
        (req, expect(status, &id))
    });
    chirp_genuine_after(&h, &tally);
}

/// Every Chirp fixture, compact (no trailing whitespace).
fn fixtures() -> Vec<String> {
    let dir = format!("{}/tests/fixtures/chirp", env!("CARGO_MANIFEST_DIR"));
    let mut all: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .map(|s| s.trim_end().to_owned())
        .collect();
    all.sort();
    assert!(all.len() >= 14, "{dir}");
    all
}

#[test]
fn truncated_json_is_400() {
    let h = chirp_harness();
    let fixtures = fixtures();
    // A strict prefix of a fixture, of a compact delivery, or of a body with nested data.
    let strategy = (0..fixtures.len() + 2, any::<prop::sample::Index>());
    let tally = h.class("truncated_json", strategy, |h, (which, cut)| {
        let id = h.id("tr");
        let body = match which.checked_sub(fixtures.len()) {
            None => fixtures[which].clone(),
            Some(0) => delivered(&id, ""),
            Some(_) => delivered(&id, r#","n":{"a":[1,2.5,"\u00e9",{"b":null}],"c":true}"#),
        };
        let at = cut.index(body.len());
        let prefix = body.as_bytes()[..at].to_vec();
        (post(prefix), expect(400, &id))
    });
    chirp_genuine_after(&h, &tally);
}

#[test]
fn unknown_events_are_200_for_the_fallback() {
    let h = chirp_harness();
    let name = prop_oneof![
        "\\PC{0,40}",
        "(messages|templates|contacts|whatsapp|calls)\\.[a-z*]{0,10}\\.[a-z*]{0,10}",
        prop::sample::select(KNOWN.to_vec()).prop_map(|k| k.to_uppercase()),
        prop::sample::select(KNOWN.to_vec()).prop_map(|k| format!("{k} ")),
        prop::sample::select(KNOWN.to_vec()).prop_map(|k| format!("{k}.x")),
    ]
    .prop_filter("unknown", |n| !KNOWN.contains(&n.as_str()));
    let data = prop_oneof![
        Just(String::new()),
        Just(r#","status":"delivered""#.to_owned()),
        Just(r#","n":[1,{"a":null}]"#.to_owned()),
    ];
    let tally = h.class("unknown_events", (name, data), |h, (name, data)| {
        let id = h.id("unk");
        let body = format!(
            r#"{{"event":{},"data":{{"id":"{id}"{data}}}}}"#,
            serde_json::to_string(&name).unwrap()
        );
        // An empty name is refused (`Chirp::decode_body`'s docs: "`event` ... empty"): 400.
        let status = if name.is_empty() { 400 } else { 200 };
        (post(body), expect(status, &id))
    });
    let names = h.names.lock().unwrap().clone();
    assert!(
        KNOWN.iter().all(|k| !names.contains_key(*k)),
        "an unknown event was routed as a known one: {names:?}"
    );
    chirp_genuine_after(&h, &tally);
}

#[test]
fn schema_drift() {
    let h = chirp_harness();
    // A known type whose `data` does not fit (missing or mistyped fields, unknown statuses,
    // bad timestamps, extra fields): 200, for the fallback. An envelope that does not fit
    // (`event` or `data` missing or of the wrong type, not an object): 400.
    let strategy = (prop::sample::select(KNOWN.to_vec()), 0u8..14, any::<i64>());
    let tally = h.class("schema_drift", strategy, |h, (event, kind, n)| {
        let id = h.id("drift");
        let (body, status) = match kind {
            0 => (format!(r#"{{"event":"{event}","data":{{"nonce":"{id}"}}}}"#), 200),
            1 => (format!(r#"{{"event":"{event}","data":{{"id":{n},"nonce":"{id}"}}}}"#), 200),
            2 => (
                format!(r#"{{"event":"{event}","data":{{"id":"{id}","status":"queued","extra":{{"n":{n}}}}}}}"#),
                200,
            ),
            3 => (
                format!(
                    r#"{{"event":"{event}","data":{{"id":"{id}","status":null,"from":{n},"deliveredAt":"not a date","sentAt":{n}}}}}"#
                ),
                200,
            ),
            4 => (
                format!(r#"{{"event":"{event}","data":{{"id":"{id}","to":["+1"],"body":{{}},"name":[]}}}}"#),
                200,
            ),
            5 => (
                format!(r#"{{"event":"{event}","data":{{"id":"{id}"}},"id":{n},"extra":[null]}}"#),
                200,
            ),
            6 => (format!(r#"{{"event":"{event}"}}"#), 400),
            7 => (format!(r#"{{"data":{{"id":"{id}"}}}}"#), 400),
            8 => (format!(r#"{{"event":"{event}","data":null}}"#), 400),
            9 => (format!(r#"{{"event":"{event}","data":[{{"id":"{id}"}}]}}"#), 400),
            10 => (format!(r#"{{"event":"{event}","data":"{id}"}}"#), 400),
            11 => (format!(r#"{{"event":{n},"data":{{"id":"{id}"}}}}"#), 400),
            12 => (format!(r#"{{"event":null,"data":{{"id":"{id}"}}}}"#), 400),
            _ => (
                [r#"[]"#, r#""event""#, "null", "1", "true", ""][n.unsigned_abs() as usize % 6]
                    .to_owned(),
                400,
            ),
        };
        (post(body), expect(status, &id))
    });
    chirp_genuine_after(&h, &tally);
}

/// The HMAC-signed generic-format stack (`JsonFormat`, type from `/type`, key from `/id`).
fn hmac_harness() -> Harness<JsonFormat<serde_json::Value>, HmacSha256> {
    Harness::new(|| {
        webhook_receiver::Webhooks::builder(
            JsonFormat::<serde_json::Value>::new(),
            HmacSha256::new([HMAC_SECRET]).unwrap(),
        )
    })
}

fn signed(body: Vec<u8>) -> Request<Body> {
    let sig = hmac_hex(HMAC_SECRET.as_bytes(), &body);
    Request::post("/webhook")
        .header("content-type", "application/json")
        .header("x-webhook-signature", sig)
        .body(Body::from(body))
        .unwrap()
}

#[test]
fn generic_format_unrepresentable_truncated_and_invalid_utf8() {
    let h = hmac_harness();
    // Correctly signed, so every case reaches the format. The crate docs (src/lib.rs, "JSON
    // that `serde_json::Value` cannot hold"): a number beyond f64, a lone surrogate or nesting
    // deeper than 128 in `data` is 200 (the fallback gets the raw text); in the envelope
    // (`type`, `id`, any other top-level field) 400. Truncated or not UTF-8: 400.
    let bad = prop_oneof![
        Just("1e400".to_owned()),
        Just("-1e400".to_owned()),
        (310usize..500).prop_map(|n| "9".repeat(n)),
        Just(r#""\ud800""#.to_owned()),
        Just(r#""a\udc00b""#.to_owned()),
        (129usize..400, any::<bool>()).prop_map(|(d, o)| nested(d, o)),
    ];
    let strategy = (bad, 0u8..6, any::<prop::sample::Index>(), 0x80u8..=0xff);
    let tally = h.class("generic_format", strategy, |h, (bad, place, cut, byte)| {
        let id = h.id("gen");
        let (body, status) = match place {
            0 => (
                format!(r#"{{"type":"user.created","id":"{id}","data":{{"n":{bad}}}}}"#),
                200,
            ),
            1 => (format!(r#"{{"type":{bad},"id":"{id}","data":{{}}}}"#), 400),
            2 => (
                format!(r#"{{"type":"user.created","id":{bad},"data":{{}}}}"#),
                400,
            ),
            3 => (
                format!(r#"{{"type":"user.created","id":"{id}","x":{bad},"data":{{}}}}"#),
                400,
            ),
            4 => {
                let body = generic_body(&id);
                let at = cut.index(body.len());
                (body[..at].to_owned(), 400)
            }
            _ => {
                let mut body = generic_body(&id).into_bytes();
                let at = 1 + cut.index(body.len() - 1);
                body.insert(at, byte);
                return (signed(body), expect(400, &id));
            }
        };
        (signed(body.into_bytes()), expect(status, &id))
    });
    genuine_after(&h, &tally, |id| signed(generic_body(id).into_bytes()));
}
