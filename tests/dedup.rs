//! Dedup: redeliveries collapse, distinct events never do, concurrent duplicates dispatch once.

mod support;

use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;
use support::*;
use tower::ServiceExt;
use webhook_receiver::DedupKey;
use webhook_receiver::chirp::ChirpEvent;
use webhook_receiver::store::{Claim, DEFAULT_CAPACITY, DEFAULT_TTL, MokaStore};

#[tokio::test]
async fn redelivery_is_acknowledged_not_dispatched() {
    let rec = Recorder::default();
    let (stack, _d) = stack(&rec);
    let body = fixture("whatsapp_failed_enriched");
    let first = stack
        .clone()
        .oneshot(chirp_request(body.clone()))
        .await
        .unwrap();
    assert_eq!(
        json_body(first).await,
        serde_json::json!({"received": true})
    );
    // Same event, re-serialized with other whitespace and key order: still the same event.
    let value: serde_json::Value = serde_json::from_str(&body).unwrap();
    let again = serde_json::to_string_pretty(&value).unwrap();
    for body in [body, again] {
        let res = stack.clone().oneshot(chirp_request(body)).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(json_body(res).await["duplicate"], true);
    }
    rec.wait_for(1).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(rec.seen().len(), 1);
}

#[tokio::test]
async fn status_events_of_one_message_stay_distinct() {
    let rec = Recorder::default();
    let (stack, _d) = stack(&rec);
    for name in [
        "whatsapp_sent",
        "whatsapp_delivered",
        "whatsapp_read",
        "whatsapp_failed",
    ] {
        let res = stack
            .clone()
            .oneshot(chirp_request(fixture(name)))
            .await
            .unwrap();
        assert_eq!(
            json_body(res).await,
            serde_json::json!({"received": true}),
            "{name}"
        );
    }
    // Same message id, same event type, but a later failure (a new attempt): a new event.
    let second_failure =
        fixture("whatsapp_failed").replace("2024-01-15T12:00:05.000Z", "2024-01-15T12:07:00.000Z");
    let res = stack
        .clone()
        .oneshot(chirp_request(second_failure))
        .await
        .unwrap();
    assert_eq!(json_body(res).await, serde_json::json!({"received": true}));
    assert_eq!(rec.wait_for(5).await.len(), 5);
}

#[tokio::test]
async fn template_updates_with_different_content_are_two_events() {
    let rec = Recorder::default();
    let (stack, _d) = stack(&rec);
    let v1 = fixture("template_updated");
    let mut value: serde_json::Value = serde_json::from_str(&v1).unwrap();
    value["data"]["status"] = serde_json::json!("REJECTED");
    let v2 = value.to_string();
    assert_ne!(
        serde_json::from_str::<serde_json::Value>(&v1).unwrap(),
        value,
        "fixture must change"
    );
    for body in [&v1, &v2, &v1, &v2] {
        assert_eq!(
            stack
                .clone()
                .oneshot(chirp_request(body.clone()))
                .await
                .unwrap()
                .status(),
            StatusCode::OK
        );
    }
    rec.wait_for(2).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(rec.seen().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_identical_deliveries_dispatch_exactly_once() {
    let rec = Recorder::default();
    let (stack, _d) = stack_with(&rec, |b| b.queue_capacity(10_000));
    for round in 0..20 {
        let body = fixture("sms_delivered").replace("550e8400", &format!("round{round:03}"));
        let tasks: Vec<_> = (0..64)
            .map(|_| {
                let stack = stack.clone();
                let body = body.clone();
                tokio::spawn(async move { stack.oneshot(chirp_request(body)).await.unwrap() })
            })
            .collect();
        let mut new = 0;
        for t in tasks {
            let res = t.await.unwrap();
            assert_eq!(res.status(), StatusCode::OK);
            if json_body(res).await.get("duplicate").is_none() {
                new += 1;
            }
        }
        assert_eq!(new, 1, "round {round}: exactly one delivery is new");
    }
    rec.wait_for(20).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(rec.seen().len(), 20);
}

#[test]
fn store_claim_is_atomic_across_threads() {
    // moka documents `entry().or_insert_with()` as coalescing concurrent callers of one key:
    // exactly one of them gets a fresh entry.
    let store = moka_store(Duration::from_secs(3600), 1_000_000);
    for round in 0..200u32 {
        let key = DedupKey::from_parts(&[b"race", &round.to_le_bytes()]);
        let barrier = Arc::new(std::sync::Barrier::new(8));
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let store = store.clone();
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    barrier.wait();
                    store.claim_now(key)
                })
            })
            .collect();
        let new = handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .filter(|c| *c == Claim::New)
            .count();
        assert_eq!(new, 1, "round {round}");
    }
}

#[test]
fn new_keys_are_always_admitted_under_a_full_store() {
    // A frequency-based admission policy (moka's default TinyLFU) may refuse a brand-new
    // one-time key when the cache is full, letting its redeliveries through. Every store here
    // must always admit a new key.
    let store = moka_store(Duration::from_secs(3600), 64);
    for i in 0..2_000u32 {
        let key = DedupKey::from_parts(&[&i.to_le_bytes()]);
        assert_eq!(store.claim_now(key), Claim::New);
        let _ = store.len(); // lets moka run its pending maintenance (admission, eviction)
        assert_eq!(
            store.claim_now(key),
            Claim::Duplicate,
            "key {i} was not admitted"
        );
    }
    assert!(store.len() <= 64);
    assert!(store.evicted_before_ttl() > 0);
}

#[test]
fn keys_expire_after_the_ttl() {
    let store = moka_store(Duration::from_millis(100), 1_000);
    let key = DedupKey::from_parts(&[b"k"]);
    assert_eq!(store.claim_now(key), Claim::New);
    assert_eq!(store.claim_now(key), Claim::Duplicate);
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(
        store.claim_now(key),
        Claim::New,
        "expired keys are forgotten"
    );
}

fn moka_store(ttl: Duration, capacity: u64) -> MokaStore {
    MokaStore::builder().ttl(ttl).capacity(capacity).build()
}

#[tokio::test]
async fn the_default_store_is_moka_with_the_default_ttl_and_capacity() {
    let rec = Recorder::default();
    let (stack, _d) = stack(&rec);
    let store: &MokaStore = stack.store();
    assert_eq!(store.ttl(), DEFAULT_TTL);
    assert_eq!(store.capacity(), DEFAULT_CAPACITY);
    // Its settings are the store's own, given with the store (one setter).
    let (stack, _d) = stack_with(&rec, |b| {
        b.store(
            MokaStore::builder()
                .ttl(Duration::from_secs(60))
                .capacity(10)
                .build(),
        )
    });
    assert_eq!(
        (stack.store().ttl(), stack.store().capacity()),
        (Duration::from_secs(60), 10)
    );
    let key = DedupKey::from_parts(&[b"k"]);
    assert_eq!(stack.store().claim_now(key), Claim::New);
    assert_eq!(stack.store().claim_now(key), Claim::Duplicate);
}

#[tokio::test]
async fn key_function_can_be_overridden() {
    let rec = Recorder::default();
    // Dedup by message id alone: sent and delivered of one message collapse (a user's choice).
    let (stack, _d) = stack_with(&rec, |b| {
        b.dedup_key(|e: &ChirpEvent, _| match e {
            ChirpEvent::WhatsappSent(s) | ChirpEvent::WhatsappDelivered(s) => {
                DedupKey::from_parts(&[s.id.as_bytes()])
            }
            other => other.dedup_key(),
        })
    });
    for name in ["whatsapp_sent", "whatsapp_delivered"] {
        assert_eq!(
            stack
                .clone()
                .oneshot(chirp_request(fixture(name)))
                .await
                .unwrap()
                .status(),
            StatusCode::OK
        );
    }
    let seen = rec.wait_for(1).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(rec.seen().len(), 1);
    assert_eq!(seen[0].kind, "messages.whatsapp.sent");
}

#[cfg(feature = "testing")]
#[tokio::test]
async fn moka_store_passes_the_store_conformance_suite() {
    webhook_receiver::store::conformance::check_dedup(&MokaStore::new()).await;
    // At its smallest capacity too: eviction may forget keys, never collapse them.
    webhook_receiver::store::conformance::check_dedup(
        &MokaStore::builder().capacity(2_000).build(),
    )
    .await;
}
