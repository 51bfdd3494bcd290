use std::fmt;
use std::future::Future;

use http::HeaderMap;

use super::Webhooks;
use crate::dedup::{DedupKey, MokaStore};
use crate::dispatch::{
    DEFAULT_CONCURRENCY, DEFAULT_QUEUE_BYTES, DEFAULT_QUEUE_CAPACITY, DeadLetter, Dispatcher,
    EventContext, HandlerError, HandlerOutput, Handlers, RetryPolicy,
};
use crate::event::{EventType, Format, Received};
use crate::receiver::Settings;
use crate::store::Store;
use crate::verify::VerifyWebhook;

/// Builder for [`Webhooks`]: the verifier and the format it was started with, the handlers and
/// their state, the queue and concurrency limits, the dedup settings and the body limit. Every
/// setter takes and returns the builder by value; [`spawn`](Self::spawn) starts it.
///
/// See the [module docs](crate::webhooks) and [`chirp::webhooks`](crate::chirp::webhooks).
///
/// ```
/// use std::time::Duration;
/// use webhook_receiver::chirp::{self, ChirpEvent, MessageStatus};
/// use webhook_receiver::event::Received;
/// use webhook_receiver::store::MokaStore;
///
/// #[derive(Clone)]
/// struct App; // a database pool, an HTTP client, ...
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), webhook_receiver::BoxError> {
/// let webhooks = chirp::webhooks(["secret-2025", "secret-2024"])?
///     .state(App)
///     // One event type, its typed payload; several handlers per type run in order.
///     .on(chirp::SMS_DELIVERED, |status: MessageStatus, ctx| async move {
///         let _app: &App = ctx.state();
///         tracing::info!(message = %status.id, key = %ctx.key(), "delivered");
///         Ok::<_, std::io::Error>(())
///     })
///     // A group of types by prefix: the whole event.
///     .on_group("messages.whatsapp.*", |event: ChirpEvent, _ctx| async move {
///         tracing::info!(id = ?event.id(), "whatsapp");
///     })
///     // Everything else, unknown types and payloads that did not fit included.
///     .fallback(|received: Received<ChirpEvent>, ctx| async move {
///         tracing::info!(event = ctx.event_name(), invalid = matches!(received, Received::Invalid(_)));
///     })
///     .on_error(|e| tracing::error!(%e, "handler failed"))
///     .queue_capacity(4096)
///     .queue_bytes(32 * 1024 * 1024)
///     .concurrency_limit(32)
///     .store(MokaStore::builder().ttl(Duration::from_secs(6 * 3600)).capacity(250_000).build())
///     .body_limit(256 * 1024)
///     .retry_after(Duration::from_secs(10))
///     .spawn();
/// # webhooks.drain(Duration::from_secs(1)).await?;
/// # Ok(())
/// # }
/// ```
#[must_use]
pub struct WebhooksBuilder<F: Format, V, S = (), St = MokaStore> {
    format: F,
    verifier: V,
    handlers: Handlers<F::Event, S>,
    queue_capacity: usize,
    queue_bytes: usize,
    concurrency: usize,
    settings: Settings<F::Event, St>,
}

impl<F: Format + fmt::Debug, V: fmt::Debug, S, St> fmt::Debug for WebhooksBuilder<F, V, S, St> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhooksBuilder")
            .field("format", &self.format)
            .field("verifier", &self.verifier)
            .field("handlers", &self.handlers)
            .field("queue_capacity", &self.queue_capacity)
            .field("queue_bytes", &self.queue_bytes)
            .field("concurrency_limit", &self.concurrency)
            .field("receiver", &self.settings)
            .finish()
    }
}

impl<F: Format, V> WebhooksBuilder<F, V> {
    pub(super) fn new(format: F, verifier: V) -> Self {
        Self {
            format,
            verifier,
            handlers: Handlers::new(),
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
            queue_bytes: DEFAULT_QUEUE_BYTES,
            concurrency: DEFAULT_CONCURRENCY,
            settings: Settings::new(),
        }
    }
}

/// # Handlers and their state
impl<F: Format, V, St> WebhooksBuilder<F, V, (), St> {
    /// Gives the handlers registered after this call `state` (a database pool, a client, ...),
    /// which they reach through [`EventContext::state`]. Call it before [`on`](Self::on).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use webhook_receiver::chirp::{self, MessageStatus};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let delivered = Arc::new(AtomicUsize::new(0));
    /// let webhooks = chirp::webhooks(["s3cr3t"])
    ///     .unwrap()
    ///     .state(Arc::clone(&delivered))
    ///     .on(chirp::SMS_DELIVERED, |_status: MessageStatus, ctx| async move {
    ///         ctx.state().fetch_add(1, Ordering::Relaxed);
    ///     })
    ///     .spawn();
    /// # drop(webhooks);
    /// # }
    /// ```
    pub fn state<S2: Clone + Send + Sync + 'static>(
        self,
        state: S2,
    ) -> WebhooksBuilder<F, V, S2, St> {
        WebhooksBuilder {
            format: self.format,
            verifier: self.verifier,
            handlers: self.handlers.with_new_state(state),
            queue_capacity: self.queue_capacity,
            queue_bytes: self.queue_bytes,
            concurrency: self.concurrency,
            settings: self.settings,
        }
    }
}

impl<F: Format, V, S: Clone + Send + Sync + 'static, St> WebhooksBuilder<F, V, S, St> {
    #[doc = include_str!("../docs/on.md")]
    ///
    /// ```
    /// use tower::ServiceExt;
    /// use webhook_receiver::chirp::{self, MessageStatus};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # // A Chirp delivery, authenticated with the secret `s3cr3t`.
    /// # let post = |body: &str| http::Request::post("/").header("x-webhook-secret", "s3cr3t").header("content-type", "application/json").body(body.to_owned()).unwrap();
    /// # let delivered = r#"{"event":"messages.sms.delivered","data":{"id":"msg_1","status":"delivered"}}"#;
    /// let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    /// let webhooks = chirp::webhooks(["s3cr3t"]).unwrap()
    ///     .state(tx)
    ///     .on(chirp::SMS_DELIVERED, |status: MessageStatus, ctx| async move {
    ///         ctx.state().send(status.id).unwrap();
    ///     })
    ///     .spawn();
    /// webhooks.clone().oneshot(post(delivered)).await.unwrap(); // 200, then the handler runs
    /// assert_eq!(rx.recv().await.unwrap(), "msg_1");
    /// # webhooks.drain(std::time::Duration::from_secs(5)).await.unwrap();
    /// # }
    /// ```
    pub fn on<P, H, Fut>(mut self, ty: EventType<F::Event, P>, handler: H) -> Self
    where
        P: Clone + Send + 'static,
        H: Fn(P, EventContext<S>) -> Fut + Send + Sync + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: HandlerOutput,
    {
        self.handlers = self.handlers.on(ty, handler);
        self
    }

    #[doc = include_str!("../docs/on_group.md")]
    ///
    /// ```
    /// use tower::ServiceExt;
    /// use webhook_receiver::chirp::{self, ChirpEvent};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # // A Chirp delivery, authenticated with the secret `s3cr3t`.
    /// # let post = |body: &str| http::Request::post("/").header("x-webhook-secret", "s3cr3t").header("content-type", "application/json").body(body.to_owned()).unwrap();
    /// # let delivered = r#"{"event":"messages.sms.delivered","data":{"id":"msg_1","status":"delivered"}}"#;
    /// let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    /// let webhooks = chirp::webhooks(["s3cr3t"]).unwrap()
    ///     .state(tx)
    ///     .on_group("messages.sms.*", |_event: ChirpEvent, ctx| async move {
    ///         ctx.state().send(ctx.event_name().to_owned()).unwrap();
    ///     })
    ///     .spawn();
    /// webhooks.clone().oneshot(post(delivered)).await.unwrap();
    /// assert_eq!(rx.recv().await.unwrap(), "messages.sms.delivered");
    /// # webhooks.drain(std::time::Duration::from_secs(5)).await.unwrap();
    /// # }
    /// ```
    pub fn on_group<H, Fut>(mut self, pattern: &str, handler: H) -> Self
    where
        H: Fn(F::Event, EventContext<S>) -> Fut + Send + Sync + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: HandlerOutput,
    {
        self.handlers = self.handlers.on_group(pattern, handler);
        self
    }

    #[doc = include_str!("../docs/fallback.md")]
    ///
    /// ```
    /// use tower::ServiceExt;
    /// use webhook_receiver::chirp::{self, ChirpEvent};
    /// use webhook_receiver::event::Received;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # // A Chirp delivery, authenticated with the secret `s3cr3t`.
    /// # let post = |body: &str| http::Request::post("/").header("x-webhook-secret", "s3cr3t").header("content-type", "application/json").body(body.to_owned()).unwrap();
    /// # let delivered = r#"{"event":"messages.sms.delivered","data":{"id":"msg_1","status":"delivered"}}"#;
    /// let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    /// let webhooks = chirp::webhooks(["s3cr3t"]).unwrap()
    ///     .state(tx)
    ///     .fallback(|_received: Received<ChirpEvent>, ctx| async move {
    ///         ctx.state().send(ctx.event_name().to_owned()).unwrap();
    ///     })
    ///     .spawn();
    /// // An event type this version does not know.
    /// let unknown = r#"{"event":"calls.voice.started","data":{}}"#;
    /// webhooks.clone().oneshot(post(unknown)).await.unwrap();
    /// assert_eq!(rx.recv().await.unwrap(), "calls.voice.started");
    /// # webhooks.drain(std::time::Duration::from_secs(5)).await.unwrap();
    /// # }
    /// ```
    pub fn fallback<H, Fut>(mut self, handler: H) -> Self
    where
        H: Fn(Received<F::Event>, EventContext<S>) -> Fut + Send + Sync + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: HandlerOutput,
    {
        self.handlers = self.handlers.fallback(handler);
        self
    }

    #[doc = include_str!("../docs/on_error.md")]
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower::ServiceExt;
    /// use webhook_receiver::chirp;
    /// use webhook_receiver::dispatch::{HandlerError, RetryPolicy};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # // A Chirp delivery, authenticated with the secret `s3cr3t`.
    /// # let post = |body: &str| http::Request::post("/").header("x-webhook-secret", "s3cr3t").header("content-type", "application/json").body(body.to_owned()).unwrap();
    /// # let delivered = r#"{"event":"messages.sms.delivered","data":{"id":"msg_1","status":"delivered"}}"#;
    /// let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    /// let retry = RetryPolicy::default().max_attempts(2).initial_backoff(Duration::from_millis(10));
    /// let webhooks = chirp::webhooks(["s3cr3t"]).unwrap()
    ///     .retry_policy(retry)
    ///     .on(chirp::SMS_DELIVERED, |_, _| async { Err::<(), _>(std::io::Error::other("down")) })
    ///     .on_error(move |e: &HandlerError| tx.send((e.attempt, e.retry_in.is_some())).unwrap())
    ///     .spawn();
    /// webhooks.clone().oneshot(post(delivered)).await.unwrap();
    /// assert_eq!(rx.recv().await, Some((1, true))); // will be retried
    /// assert_eq!(rx.recv().await, Some((2, false))); // the last attempt
    /// # webhooks.drain(std::time::Duration::from_secs(5)).await.unwrap();
    /// # }
    /// ```
    pub fn on_error(mut self, hook: impl Fn(&HandlerError) + Send + Sync + 'static) -> Self {
        self.handlers = self.handlers.on_error(hook);
        self
    }

    #[doc = include_str!("../docs/on_dead_letter.md")]
    ///
    /// ```
    /// use std::time::Duration;
    /// use webhook_receiver::chirp;
    /// use webhook_receiver::dispatch::{DeadLetter, RetryPolicy};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), webhook_receiver::verify::ConfigError> {
    /// let (dead, mut letters) = tokio::sync::mpsc::unbounded_channel();
    /// let webhooks = chirp::webhooks(["secret"])?
    ///     .retry_policy(RetryPolicy::default().max_attempts(2).initial_backoff(Duration::from_millis(10)))
    ///     .on(chirp::SMS_DELIVERED, |_status, _ctx| async {
    ///         Err::<(), _>(std::io::Error::other("database down"))
    ///     })
    ///     .on_dead_letter(move |letter: DeadLetter<_>| {
    ///         let _ = dead.send(letter);
    ///     })
    ///     .spawn();
    /// # let body = br#"{"event":"messages.sms.delivered","data":{"id":"msg_1","status":"delivered"}}"#;
    /// # use webhook_receiver::Format;
    /// # webhooks.dispatcher().try_enqueue(chirp::Chirp.decode(&http::HeaderMap::new(), body).unwrap()).unwrap();
    /// // ... a delivery of `messages.sms.delivered` fails twice:
    /// let letter = letters.recv().await.unwrap();
    /// assert_eq!((letter.handler.as_deref(), letter.attempts), (Some("messages.sms.delivered"), 2));
    /// webhooks.drain(Duration::from_secs(5)).await.unwrap();
    /// # Ok(()) }
    /// ```
    pub fn on_dead_letter(
        mut self,
        hook: impl Fn(DeadLetter<F::Event>) + Send + Sync + 'static,
    ) -> Self {
        self.handlers = self.handlers.on_dead_letter(hook);
        self
    }

    #[doc = include_str!("../docs/retry_policy.md")]
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower::ServiceExt;
    /// use webhook_receiver::chirp;
    /// use webhook_receiver::dispatch::RetryPolicy;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # // A Chirp delivery, authenticated with the secret `s3cr3t`.
    /// # let post = |body: &str| http::Request::post("/").header("x-webhook-secret", "s3cr3t").header("content-type", "application/json").body(body.to_owned()).unwrap();
    /// # let delivered = r#"{"event":"messages.sms.delivered","data":{"id":"msg_1","status":"delivered"}}"#;
    /// let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<u32>();
    /// let retry = RetryPolicy::default().max_attempts(3).initial_backoff(Duration::from_millis(10));
    /// let webhooks = chirp::webhooks(["s3cr3t"]).unwrap()
    ///     .state(tx)
    ///     .retry_policy(retry)
    ///     .on(chirp::SMS_DELIVERED, |_, ctx| async move {
    ///         if ctx.attempt() == 1 {
    ///             return Err(std::io::Error::other("flaky"));
    ///         }
    ///         ctx.state().send(ctx.attempt()).unwrap();
    ///         Ok(())
    ///     })
    ///     .spawn();
    /// webhooks.clone().oneshot(post(delivered)).await.unwrap();
    /// assert_eq!(rx.recv().await, Some(2)); // the second attempt succeeded
    /// # webhooks.drain(std::time::Duration::from_secs(5)).await.unwrap();
    /// # }
    /// ```
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.handlers = self.handlers.retry_policy(policy);
        self
    }

    #[doc = include_str!("../docs/retry_policy_for.md")]
    ///
    /// ```
    /// use tower::ServiceExt;
    /// use webhook_receiver::chirp;
    /// use webhook_receiver::dispatch::{HandlerError, RetryPolicy};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # // A Chirp delivery, authenticated with the secret `s3cr3t`.
    /// # let post = |body: &str| http::Request::post("/").header("x-webhook-secret", "s3cr3t").header("content-type", "application/json").body(body.to_owned()).unwrap();
    /// # let delivered = r#"{"event":"messages.sms.delivered","data":{"id":"msg_1","status":"delivered"}}"#;
    /// let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    /// let webhooks = chirp::webhooks(["s3cr3t"]).unwrap()
    ///     .on(chirp::SMS_DELIVERED, |_, _| async { Err::<(), _>(std::io::Error::other("no")) })
    ///     .retry_policy_for("messages.sms.delivered", RetryPolicy::never()) // this handler only
    ///     .on_error(move |e: &HandlerError| tx.send((e.attempt, e.retry_in)).unwrap())
    ///     .spawn();
    /// webhooks.clone().oneshot(post(delivered)).await.unwrap();
    /// assert_eq!(rx.recv().await, Some((1, None))); // one attempt, no retry
    /// # webhooks.drain(std::time::Duration::from_secs(5)).await.unwrap();
    /// # }
    /// ```
    pub fn retry_policy_for(mut self, label: &str, policy: RetryPolicy) -> Self {
        self.handlers = self.handlers.retry_policy_for(label, policy);
        self
    }
}

/// # Queue, store and body settings
impl<F: Format, V, S, St> WebhooksBuilder<F, V, S, St> {
    #[doc = include_str!("../docs/queue_capacity.md")]
    ///
    /// ```
    /// use http::StatusCode;
    /// use tower::ServiceExt;
    /// use webhook_receiver::chirp;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # // A Chirp delivery, authenticated with the secret `s3cr3t`.
    /// # let post = |body: &str| http::Request::post("/").header("x-webhook-secret", "s3cr3t").header("content-type", "application/json").body(body.to_owned()).unwrap();
    /// # let delivered = r#"{"event":"messages.sms.delivered","data":{"id":"msg_1","status":"delivered"}}"#;
    /// # let sent = r#"{"event":"messages.sms.sent","data":{"id":"msg_1","status":"sent"}}"#;
    /// # let other = delivered.replace("msg_1", "msg_2");
    /// let webhooks = chirp::webhooks(["s3cr3t"]).unwrap()
    ///     .concurrency_limit(1)
    ///     .queue_capacity(1)
    ///     .spawn();
    /// webhooks.clone().oneshot(post(delivered)).await.unwrap(); // 200: handled now
    /// webhooks.clone().oneshot(post(sent)).await.unwrap(); // 200: waits in the queue
    /// let res = webhooks.clone().oneshot(post(&other)).await.unwrap();
    /// assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE); // nothing remembered
    /// // No handler has finished yet, so there is no rate to estimate from: the adaptive maximum.
    /// assert_eq!(res.headers()["retry-after"], "60");
    /// # webhooks.drain(std::time::Duration::from_secs(5)).await.unwrap();
    /// # }
    /// ```
    pub fn queue_capacity(mut self, capacity: usize) -> Self {
        self.queue_capacity = capacity; // raised to 1 by the dispatcher's builder
        self
    }

    #[doc = include_str!("../docs/queue_bytes.md")]
    ///
    /// ```
    /// use http::StatusCode;
    /// use tower::ServiceExt;
    /// use webhook_receiver::chirp;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # // A Chirp event, authenticated with the secret `s3cr3t`.
    /// # let post = |body: &str| http::Request::post("/").header("x-webhook-secret", "s3cr3t").header("content-type", "application/json").body(body.to_owned()).unwrap();
    /// let webhooks = chirp::webhooks(["s3cr3t"]).unwrap()
    ///     .fallback(|_, _| std::future::pending::<()>()) // handlers still busy
    ///     .queue_bytes(1000)
    ///     .spawn();
    /// let event = |id: &str, pad: usize| {
    ///     format!(r#"{{"event":"calls.voice.started","data":{{"id":"{id}","pad":"{}"}}}}"#, "x".repeat(pad))
    /// };
    /// let ok = webhooks.clone().oneshot(post(&event("call_1", 600))).await.unwrap();
    /// assert_eq!(ok.status(), StatusCode::OK);
    /// let full = webhooks.clone().oneshot(post(&event("call_2", 600))).await.unwrap();
    /// assert_eq!(full.status(), StatusCode::SERVICE_UNAVAILABLE); // nothing remembered
    /// // When the backlog will have run (no handler has finished yet: the adaptive maximum).
    /// assert_eq!(full.headers()["retry-after"], "60");
    /// # webhooks.drain(std::time::Duration::from_millis(10)).await.unwrap_err();
    /// # }
    /// ```
    pub fn queue_bytes(mut self, bytes: usize) -> Self {
        self.queue_bytes = bytes; // raised to 1 by the dispatcher's builder
        self
    }

    #[doc = include_str!("../docs/concurrency_limit.md")]
    ///
    /// ```
    /// use webhook_receiver::chirp;
    ///
    /// let builder = chirp::webhooks(["s3cr3t"]).unwrap().concurrency_limit(8);
    /// assert!(format!("{builder:?}").contains("concurrency_limit: 8"));
    /// ```
    pub fn concurrency_limit(mut self, limit: usize) -> Self {
        self.concurrency = limit; // raised to 1 by the dispatcher's builder
        self
    }

    #[doc = include_str!("../docs/store.md")]
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower::ServiceExt;
    /// use webhook_receiver::chirp;
    /// use webhook_receiver::store::MokaStore;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # // A Chirp delivery, authenticated with the secret `s3cr3t`.
    /// # let post = |body: &str| http::Request::post("/").header("x-webhook-secret", "s3cr3t").header("content-type", "application/json").body(body.to_owned()).unwrap();
    /// # let delivered = r#"{"event":"messages.sms.delivered","data":{"id":"msg_1","status":"delivered"}}"#;
    /// let store = MokaStore::builder().ttl(Duration::from_secs(6 * 3600)).capacity(10_000).build();
    /// let webhooks = chirp::webhooks(["s3cr3t"]).unwrap().store(store).spawn();
    /// webhooks.clone().oneshot(post(delivered)).await.unwrap();
    /// assert_eq!(webhooks.store().len(), 1);
    /// assert_eq!(webhooks.store().capacity(), 10_000);
    /// # webhooks.drain(std::time::Duration::from_secs(5)).await.unwrap();
    /// # }
    /// ```
    ///
    /// A durable inbox (feature `durable`):
    ///
    /// ```
    /// # #[cfg(feature = "durable")]
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), webhook_receiver::BoxError> {
    /// use std::time::Duration;
    /// use webhook_receiver::chirp;
    /// use webhook_receiver::store::DurableInbox;
    ///
    /// # let dir = std::env::temp_dir().join(format!("wr-doc-inbox-{}", std::process::id()));
    /// let inbox = DurableInbox::builder(&dir).dedup_ttl(Duration::from_secs(86_400)).open()?;
    /// let webhooks = chirp::webhooks(["secret"])?
    ///     .on(chirp::SMS_DELIVERED, |_status, _ctx| async {})
    ///     .store(inbox)
    ///     .spawn();
    /// assert_eq!(webhooks.store().pending_count()?, 0);
    /// webhooks.drain(Duration::from_secs(5)).await?;
    /// # drop(webhooks); std::fs::remove_dir_all(&dir)?;
    /// # Ok(()) }
    /// # #[cfg(not(feature = "durable"))] fn main() {}
    /// ```
    pub fn store<St2: Store>(self, store: St2) -> WebhooksBuilder<F, V, S, St2> {
        WebhooksBuilder {
            format: self.format,
            verifier: self.verifier,
            handlers: self.handlers,
            queue_capacity: self.queue_capacity,
            queue_bytes: self.queue_bytes,
            concurrency: self.concurrency,
            settings: self.settings.store(store),
        }
    }

    #[doc = include_str!("../docs/dedup_key.md")]
    ///
    /// ```
    /// use tower::ServiceExt;
    /// use webhook_receiver::DedupKey;
    /// use webhook_receiver::chirp::{self, ChirpEvent};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # // A Chirp delivery, authenticated with the secret `s3cr3t`.
    /// # let post = |body: &str| http::Request::post("/").header("x-webhook-secret", "s3cr3t").header("content-type", "application/json").body(body.to_owned()).unwrap();
    /// # let delivered = r#"{"event":"messages.sms.delivered","data":{"id":"msg_1","status":"delivered"}}"#;
    /// # let sent = r#"{"event":"messages.sms.sent","data":{"id":"msg_1","status":"sent"}}"#;
    /// // One key per message: a later status of a message counts as a redelivery.
    /// let webhooks = chirp::webhooks(["s3cr3t"]).unwrap()
    ///     .dedup_key(|event: &ChirpEvent, _headers| {
    ///         DedupKey::from_parts(&[event.id().unwrap_or("").as_bytes()])
    ///     })
    ///     .spawn();
    /// webhooks.clone().oneshot(post(sent)).await.unwrap();
    /// webhooks.clone().oneshot(post(delivered)).await.unwrap(); // msg_1 again: a duplicate
    /// assert_eq!(webhooks.store().len(), 1);
    /// # webhooks.drain(std::time::Duration::from_secs(5)).await.unwrap();
    /// # }
    /// ```
    pub fn dedup_key(
        mut self,
        key: impl Fn(&F::Event, &HeaderMap) -> DedupKey + Send + Sync + 'static,
    ) -> Self {
        self.settings = self.settings.dedup_key(key);
        self
    }

    #[doc = include_str!("../docs/body_limit.md")]
    ///
    /// ```
    /// use http::StatusCode;
    /// use tower::ServiceExt;
    /// use webhook_receiver::chirp;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # // A Chirp delivery, authenticated with the secret `s3cr3t`.
    /// # let post = |body: &str| http::Request::post("/").header("x-webhook-secret", "s3cr3t").header("content-type", "application/json").body(body.to_owned()).unwrap();
    /// # let delivered = r#"{"event":"messages.sms.delivered","data":{"id":"msg_1","status":"delivered"}}"#;
    /// let webhooks = chirp::webhooks(["s3cr3t"]).unwrap().body_limit(32).spawn();
    /// let res = webhooks.clone().oneshot(post(delivered)).await.unwrap(); // 77 bytes
    /// assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    /// # webhooks.drain(std::time::Duration::from_secs(5)).await.unwrap();
    /// # }
    /// ```
    pub fn body_limit(mut self, limit: usize) -> Self {
        self.settings = self.settings.body_limit(limit);
        self
    }

    #[doc = include_str!("../docs/retry_after.md")]
    ///
    /// ```
    /// use std::time::Duration;
    /// use http::StatusCode;
    /// use tower::ServiceExt;
    /// use webhook_receiver::chirp;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # // A Chirp delivery, authenticated with the secret `s3cr3t`.
    /// # let post = |body: &str| http::Request::post("/").header("x-webhook-secret", "s3cr3t").header("content-type", "application/json").body(body.to_owned()).unwrap();
    /// # let delivered = r#"{"event":"messages.sms.delivered","data":{"id":"msg_1","status":"delivered"}}"#;
    /// let webhooks = chirp::webhooks(["s3cr3t"]).unwrap()
    ///     .retry_after(Duration::from_secs(30))
    ///     .spawn();
    /// webhooks.drain(Duration::from_secs(5)).await.unwrap(); // shutting down: 503 from now on
    /// let res = webhooks.clone().oneshot(post(delivered)).await.unwrap();
    /// assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    /// assert_eq!(res.headers()["retry-after"], "30");
    /// # }
    /// ```
    pub fn retry_after(mut self, retry_after: impl Into<crate::dispatch::RetryAfter>) -> Self {
        self.settings = self.settings.retry_after(retry_after.into());
        self
    }

    /// Starts the dispatcher on the current Tokio runtime (handlers run there, after the
    /// response) and returns the receiver.
    ///
    /// With a store that keeps events, the events it hands back ([`Store::feed`]: left by an
    /// earlier run, or taken over from a replica that stopped) are decoded again and queued
    /// first, each handler from where it stopped.
    ///
    /// ```
    /// use std::time::Duration;
    /// use http::StatusCode;
    /// use tower::ServiceExt;
    /// use webhook_receiver::chirp;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # // A Chirp delivery, authenticated with the secret `s3cr3t`.
    /// # let post = |body: &str| http::Request::post("/").header("x-webhook-secret", "s3cr3t").header("content-type", "application/json").body(body.to_owned()).unwrap();
    /// # let delivered = r#"{"event":"messages.sms.delivered","data":{"id":"msg_1","status":"delivered"}}"#;
    /// let webhooks = chirp::webhooks(["s3cr3t"]).unwrap().spawn(); // inside a Tokio runtime
    /// let res = webhooks.clone().oneshot(post(delivered)).await.unwrap();
    /// assert_eq!(res.status(), StatusCode::OK);
    /// webhooks.drain(Duration::from_secs(5)).await.unwrap();
    /// # }
    /// ```
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime.
    pub fn spawn(self) -> Webhooks<F, V, St>
    where
        St: Store,
    {
        let dispatcher = Dispatcher::builder(self.handlers)
            .queue_capacity(self.queue_capacity)
            .queue_bytes(self.queue_bytes)
            .concurrency_limit(self.concurrency)
            .spawn();
        let body_limit = self.settings.body_limit;
        let receiver = self.settings.build(self.format, dispatcher);
        receiver.start_feed();
        Webhooks::from_service(VerifyWebhook::with_body_limit(
            receiver,
            self.verifier,
            body_limit,
        ))
    }
}
