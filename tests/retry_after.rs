//! The adaptive `Retry-After`: a 503 for a full queue tells the sender when the backlog ahead of
//! it should have run. Tokio's clock is paused (`start_paused`), so every handler takes exactly
//! its sleep and nothing here depends on how fast the machine is.

mod support;

use std::time::Duration;

use support::*;
use tower::ServiceExt;
use webhook_receiver::chirp::{self, MessageStatus};
use webhook_receiver::dispatch::RetryAfter;

/// Handlers that take `run_time` each, one at a time, with `queue` places.
fn slow_receiver(queue: usize, run_time: Duration, retry_after: RetryAfter) -> Stack {
    chirp::webhooks([SECRET])
        .unwrap()
        .on(
            chirp::SMS_DELIVERED,
            move |_: MessageStatus, _ctx| async move {
                tokio::time::sleep(run_time).await;
            },
        )
        .queue_capacity(queue)
        .concurrency_limit(1)
        .retry_after(retry_after)
        .spawn()
}

/// Posts `id`; the status and the `Retry-After` in seconds, if any.
async fn post(stack: &Stack, id: &str) -> (u16, Option<u64>) {
    let res = stack
        .clone()
        .oneshot(chirp_request(delivered(id)))
        .await
        .unwrap();
    let retry_after = res
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse().unwrap());
    (res.status().as_u16(), retry_after)
}

/// Fills the queue: one event running, `queue` waiting.
async fn fill(stack: &Stack, queue: usize) {
    let d = stack.dispatcher();
    assert_eq!(post(stack, "running").await, (200, None));
    while d.running() == 0 || d.queued() > 0 {
        tokio::task::yield_now().await;
    }
    for i in 0..queue {
        assert_eq!(post(stack, &format!("waiting-{i}")).await, (200, None));
    }
}

#[tokio::test(start_paused = true)]
async fn full_queue_retry_after_reflects_the_backlog_and_the_senders_refused_before() {
    let run_time = Duration::from_secs(2);
    let stack = slow_receiver(4, run_time, RetryAfter::default());
    // One event run to the end, so that the run time is known: 2 s, one at a time.
    assert_eq!(post(&stack, "first").await, (200, None));
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(stack.dispatcher().running(), 0);

    fill(&stack, 4).await;
    // 4 waiting × 2 s = 8 s ahead: the answer is drawn from [8, 16].
    let (status, first) = post(&stack, "refused-0").await;
    assert_eq!(status, 503);
    let first = first.expect("a 503 carries Retry-After");
    assert!((8..=16).contains(&first), "Retry-After {first}");
    // The refused sender is ahead of the next one: 5 × 2 s = 10 s, drawn from [10, 20].
    let (status, second) = post(&stack, "refused-1").await;
    assert_eq!(status, 503);
    let second = second.unwrap();
    assert!((10..=20).contains(&second), "Retry-After {second}");
    // Each further sender is put 2 s further back, up to the maximum (60 s), which every one
    // from refused-26 on (30 ahead, 60 s at least) gets.
    let mut last = 0;
    for i in 2..40 {
        let (status, retry_after) = post(&stack, &format!("refused-{i}")).await;
        assert_eq!(status, 503);
        let retry_after = retry_after.unwrap();
        let ahead = 4 + i as u64;
        assert!(
            retry_after >= (ahead * 2).min(60) && retry_after <= 60,
            "refused-{i}: Retry-After {retry_after} with {ahead} ahead"
        );
        last = retry_after;
    }
    assert_eq!(last, 60);
    stack.drain(Duration::from_secs(60)).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn full_queue_before_any_event_has_run_gets_the_maximum() {
    let max = Duration::from_secs(30);
    let stack = slow_receiver(2, Duration::from_secs(2), RetryAfter::adaptive(max));
    fill(&stack, 2).await;
    // Nothing has finished: there is no rate to go by.
    assert_eq!(post(&stack, "refused").await, (503, Some(30)));
    stack.drain(Duration::from_secs(60)).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn fixed_retry_after_ignores_the_backlog() {
    let stack = slow_receiver(2, Duration::from_secs(2), Duration::from_secs(7).into());
    assert_eq!(post(&stack, "first").await, (200, None));
    tokio::time::sleep(Duration::from_secs(3)).await;
    fill(&stack, 2).await;
    for i in 0..5 {
        assert_eq!(post(&stack, &format!("refused-{i}")).await, (503, Some(7)));
    }
    stack.drain(Duration::from_secs(60)).await.unwrap();
    // Shutting down: the same value.
    assert_eq!(post(&stack, "late").await, (503, Some(7)));
}

#[tokio::test(start_paused = true)]
async fn adaptive_shutting_down_gets_the_default() {
    let stack = slow_receiver(2, Duration::from_secs(2), RetryAfter::default());
    stack.drain(Duration::from_secs(1)).await.unwrap();
    assert_eq!(post(&stack, "late").await, (503, Some(5)));
}
