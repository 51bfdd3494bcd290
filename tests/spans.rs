//! The spans of one delivery and its handler attempts, as a subscriber sees them. A test binary
//! of its own: `tracing` caches each callsite's interest when it is first hit, so a test
//! running beside it without a subscriber could leave the crate's spans disabled.

mod support;

use std::time::Duration;

use support::*;
use webhook_receiver::chirp::{self, MessageStatus};
use webhook_receiver::dispatch::RetryPolicy;

#[tokio::test(flavor = "current_thread")]
async fn a_delivery_span_carries_its_outcome_and_is_the_parent_of_its_handler_attempts() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::DEBUG)
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let webhooks = chirp::webhooks(["other", SECRET])
        .unwrap()
        .retry_policy(RetryPolicy::default().initial_backoff(Duration::from_millis(5)))
        .on(chirp::SMS_DELIVERED, |_s: MessageStatus, ctx| async move {
            tracing::info!("handler body runs");
            if ctx.attempt() == 1 {
                return Err(std::io::Error::other("first fails"));
            }
            Ok(())
        })
        .spawn();
    assert_accepted(&webhooks, delivered("span1")).await;
    webhooks.drain(Duration::from_secs(10)).await.unwrap();
    let text = logs.text();
    let delivery = text
        .lines()
        .find(|l| l.contains("webhook_delivery{") && l.contains("close"))
        .unwrap_or_else(|| panic!("no delivery span: {text}"));
    for field in [
        "event=messages.sms.delivered",
        "secret=1",
        "outcome=\"accepted\"",
        "status=200",
        "key=",
    ] {
        assert!(delivery.contains(field), "{field} in {delivery}");
    }
    // The handler's own event is inside both spans: the attempt's span is the delivery's child.
    let inside: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("handler body runs"))
        .collect();
    assert_eq!(inside.len(), 2, "{text}");
    for (line, attempt) in inside.iter().zip(1..) {
        assert!(
            line.contains("webhook_delivery{")
                && line.contains(&format!(
                    "webhook_handler{{handler=messages.sms.delivered attempt={attempt}"
                )),
            "{line}"
        );
    }
    let closed: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("webhook_handler{") && l.contains("close"))
        .collect();
    assert_eq!(closed.len(), 2, "{text}");
    assert!(
        closed[0].contains("error=first fails") && closed[0].contains("duration_ms="),
        "{}",
        closed[0]
    );
}
