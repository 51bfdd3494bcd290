//! The receiver's settings, shared by [`WebhookServiceBuilder`](super::WebhookServiceBuilder)
//! and the [`Webhooks`](crate::Webhooks) facade's builder.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderMap;

use super::service::Inner;
use super::{DEFAULT_BODY_LIMIT, WebhookService};
use crate::dedup::{DEFAULT_CAPACITY, DEFAULT_TTL, DedupKey, DedupStore, MokaStore};
use crate::dispatch::{Dispatcher, RetryAfter};
use crate::event::DecodeEvent;

/// A user-supplied dedup key function.
pub(crate) type KeyFn<E> = Arc<dyn Fn(&E, &HeaderMap) -> DedupKey + Send + Sync>;

/// Which dedup store the receiver gets: the default one, built from its settings when the
/// receiver is built, or one the user gave.
enum StoreSlot<St> {
    Default {
        ttl: Duration,
        capacity: u64,
        build: fn(Duration, u64) -> St,
    },
    Given(St),
}

pub(crate) struct Settings<E, St> {
    store: StoreSlot<St>,
    /// With a durable inbox, it deduplicates, and the store is not used.
    #[cfg(feature = "inbox")]
    pub(crate) inbox: Option<std::sync::Arc<dyn crate::inbox::Inbox>>,
    pub(crate) body_limit: usize,
    retry_after: RetryAfter,
    key_fn: Option<KeyFn<E>>,
}

impl<E, St> fmt::Debug for Settings<E, St> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Settings");
        if let StoreSlot::Default { ttl, capacity, .. } = &self.store {
            d.field("dedup_ttl", ttl).field("dedup_capacity", capacity);
        } else {
            d.field("dedup_store", &"(given)");
        }
        d.field("body_limit", &self.body_limit)
            .field("retry_after", &self.retry_after)
            .field("custom_key", &self.key_fn.is_some())
            .finish()
    }
}

fn moka(ttl: Duration, capacity: u64) -> MokaStore {
    MokaStore::builder().ttl(ttl).capacity(capacity).build()
}

impl<E> Settings<E, MokaStore> {
    pub(crate) fn new() -> Self {
        Self {
            store: StoreSlot::Default {
                ttl: DEFAULT_TTL,
                capacity: DEFAULT_CAPACITY,
                build: moka,
            },
            #[cfg(feature = "inbox")]
            inbox: None,
            body_limit: DEFAULT_BODY_LIMIT,
            retry_after: RetryAfter::default(),
            key_fn: None,
        }
    }

    /// The default store's TTL and capacity (what it has now if it was given).
    fn dedup_settings(&self) -> (Duration, u64) {
        match &self.store {
            StoreSlot::Default { ttl, capacity, .. } => (*ttl, *capacity),
            StoreSlot::Given(store) => (store.ttl(), store.capacity()),
        }
    }

    /// Panics if a store was given: its TTL and capacity are its own (they used to be dropped
    /// silently, with the given store replaced by a new default one).
    fn assert_default_store(&self, setting: &str) {
        assert!(
            matches!(self.store, StoreSlot::Default { .. }),
            "{setting} configures the default dedup store, but this builder was given one with \
             dedup_store: set it on that store (MokaStore::builder().{setting}(..)) instead"
        );
    }

    pub(crate) fn dedup_ttl(mut self, ttl: Duration) -> Self {
        self.assert_default_store("ttl");
        let (_, capacity) = self.dedup_settings();
        self.store = StoreSlot::Default {
            ttl,
            capacity,
            build: moka,
        };
        self
    }

    pub(crate) fn dedup_capacity(mut self, capacity: u64) -> Self {
        self.assert_default_store("capacity");
        let (ttl, _) = self.dedup_settings();
        self.store = StoreSlot::Default {
            ttl,
            capacity,
            build: moka,
        };
        self
    }
}

impl<E, St> Settings<E, St> {
    pub(crate) fn dedup_store<St2>(self, store: St2) -> Settings<E, St2> {
        Settings {
            store: StoreSlot::Given(store),
            #[cfg(feature = "inbox")]
            inbox: self.inbox,
            body_limit: self.body_limit,
            retry_after: self.retry_after,
            key_fn: self.key_fn,
        }
    }

    pub(crate) fn body_limit(mut self, limit: usize) -> Self {
        self.body_limit = limit;
        self
    }

    pub(crate) fn retry_after(mut self, retry_after: RetryAfter) -> Self {
        self.retry_after = retry_after;
        self
    }

    pub(crate) fn dedup_key(
        mut self,
        key: impl Fn(&E, &HeaderMap) -> DedupKey + Send + Sync + 'static,
    ) -> Self {
        self.key_fn = Some(Arc::new(key));
        self
    }

    pub(crate) fn build<F>(self, format: F, dispatcher: Dispatcher<E>) -> WebhookService<F, St>
    where
        F: DecodeEvent<Event = E>,
        St: DedupStore,
    {
        #[cfg(feature = "inbox")]
        let unused = self.inbox.is_some();
        #[cfg(not(feature = "inbox"))]
        let unused = false;
        let store = match self.store {
            // The inbox deduplicates: the default store is not used, and takes no memory.
            StoreSlot::Default { ttl, build, .. } if unused => build(ttl, 0),
            StoreSlot::Default {
                ttl,
                capacity,
                build,
            } => build(ttl, capacity),
            StoreSlot::Given(store) => store,
        };
        WebhookService::from_inner(Inner {
            format,
            store,
            #[cfg(feature = "inbox")]
            inbox: self.inbox,
            dispatcher,
            body_limit: self.body_limit,
            retry_after: self.retry_after,
            key_fn: self.key_fn,
        })
    }
}
