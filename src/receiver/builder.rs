use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderMap;

use super::WebhookService;
use super::service::{Inner, KeyFn};
use crate::dedup::{DEFAULT_CAPACITY, DEFAULT_TTL, DedupStore, MemoryStore};
use crate::dispatch::Dispatcher;
use crate::event::{DecodeEvent, DedupKey};

/// Default body limit: 1 MiB.
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;
/// Default `Retry-After` on 503: 5 seconds.
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(5);

/// Builder for [`WebhookService`]. See the [module docs](crate::receiver) for an example.
#[must_use]
pub struct WebhookServiceBuilder<F: DecodeEvent, St = MemoryStore> {
    format: F,
    dispatcher: Dispatcher<F::Event>,
    store: St,
    ttl: Duration,
    capacity: u64,
    body_limit: usize,
    retry_after: Duration,
    key_fn: Option<KeyFn<F::Event>>,
}

impl<F: DecodeEvent, St> fmt::Debug for WebhookServiceBuilder<F, St> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookServiceBuilder")
            .field("body_limit", &self.body_limit)
            .field("retry_after", &self.retry_after)
            .field("custom_key", &self.key_fn.is_some())
            .finish_non_exhaustive()
    }
}

impl<F: DecodeEvent> WebhookServiceBuilder<F, MemoryStore> {
    pub(crate) fn new(format: F, dispatcher: Dispatcher<F::Event>) -> Self {
        Self {
            format,
            dispatcher,
            store: MemoryStore::new(),
            ttl: DEFAULT_TTL,
            capacity: DEFAULT_CAPACITY,
            body_limit: DEFAULT_BODY_LIMIT,
            retry_after: DEFAULT_RETRY_AFTER,
            key_fn: None,
        }
    }

    /// How long an accepted event's key is remembered (default 24 h, see
    /// [`DEFAULT_TTL`](crate::dedup::DEFAULT_TTL)). Cover the sender's whole retry span.
    pub fn dedup_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self.store = MemoryStore::builder()
            .ttl(ttl)
            .capacity(self.capacity)
            .build();
        self
    }

    /// How many keys are remembered at most (default 1,000,000).
    pub fn dedup_capacity(mut self, capacity: u64) -> Self {
        self.capacity = capacity;
        self.store = MemoryStore::builder()
            .ttl(self.ttl)
            .capacity(capacity)
            .build();
        self
    }
}

impl<F: DecodeEvent, St: DedupStore> WebhookServiceBuilder<F, St> {
    /// Uses another dedup store (shared between replicas, durable, ...).
    pub fn dedup_store<St2: DedupStore>(self, store: St2) -> WebhookServiceBuilder<F, St2> {
        WebhookServiceBuilder {
            format: self.format,
            dispatcher: self.dispatcher,
            store,
            ttl: self.ttl,
            capacity: self.capacity,
            body_limit: self.body_limit,
            retry_after: self.retry_after,
            key_fn: self.key_fn,
        }
    }

    /// The largest body accepted (default 1 MiB); larger ones are answered 413 without being
    /// read past the limit.
    pub fn body_limit(mut self, limit: usize) -> Self {
        self.body_limit = limit;
        self
    }

    /// The `Retry-After` sent with 503 (default 5 s).
    pub fn retry_after(mut self, retry_after: Duration) -> Self {
        self.retry_after = retry_after;
        self
    }

    /// Overrides how an event's dedup key is derived (the format's rule is the default).
    /// Events whose payload did not fit their schema keep the format's key.
    ///
    /// ```
    /// # use webhook_receiver::{chirp::{Chirp, ChirpEvent}, dispatch::{Dispatcher, Handlers}, receiver::WebhookService, DedupKey, Event};
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # let dispatcher = Dispatcher::builder(Handlers::<ChirpEvent>::new()).spawn();
    /// // Dedup by a delivery-id header the sender adds, falling back to the default rule.
    /// let svc = WebhookService::builder(Chirp, dispatcher)
    ///     .dedup_key(|event: &ChirpEvent, headers| match headers.get("x-delivery-id") {
    ///         Some(id) => DedupKey::from_parts(&[event.event_name().as_bytes(), id.as_bytes()]),
    ///         None => event.dedup_key(),
    ///     })
    ///     .build();
    /// # let _ = svc;
    /// # }
    /// ```
    pub fn dedup_key(
        mut self,
        key: impl Fn(&F::Event, &HeaderMap) -> DedupKey + Send + Sync + 'static,
    ) -> Self {
        self.key_fn = Some(Arc::new(key));
        self
    }

    /// Builds the service.
    pub fn build(self) -> WebhookService<F, St> {
        WebhookService::from_inner(Inner {
            format: self.format,
            store: self.store,
            dispatcher: self.dispatcher,
            body_limit: self.body_limit,
            retry_after: self.retry_after,
            key_fn: self.key_fn,
        })
    }
}
