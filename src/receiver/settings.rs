//! The receiver's settings, shared by [`WebhookServiceBuilder`](super::WebhookServiceBuilder)
//! and the [`Webhooks`](crate::Webhooks) facade's builder.

use std::fmt;
use std::sync::Arc;

use http::HeaderMap;

use super::service::{Inner, KeyFn};
use super::{DEFAULT_BODY_LIMIT, WebhookService};
use crate::dedup::{DedupKey, MokaStore};
use crate::dispatch::{Dispatcher, RetryAfter};
use crate::event::Format;
use crate::store::Store;

pub(crate) struct Settings<E, St> {
    store: St,
    pub(crate) body_limit: usize,
    retry_after: RetryAfter,
    key_fn: Option<KeyFn<E>>,
}

impl<E, St> fmt::Debug for Settings<E, St> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("store", &std::any::type_name::<St>())
            .field("body_limit", &self.body_limit)
            .field("retry_after", &self.retry_after)
            .field("custom_key", &self.key_fn.is_some())
            .finish()
    }
}

impl<E> Settings<E, MokaStore> {
    pub(crate) fn new() -> Self {
        Self {
            store: MokaStore::new(),
            body_limit: DEFAULT_BODY_LIMIT,
            retry_after: RetryAfter::default(),
            key_fn: None,
        }
    }
}

impl<E, St> Settings<E, St> {
    pub(crate) fn store<St2>(self, store: St2) -> Settings<E, St2> {
        Settings {
            store,
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
        F: Format<Event = E>,
        St: Store,
    {
        WebhookService::from_inner(Inner {
            format,
            store: self.store,
            dispatcher,
            body_limit: self.body_limit,
            retry_after: self.retry_after,
            key_fn: self.key_fn,
            deliveries: crate::telemetry::DeliveryMetrics::new(),
        })
    }
}
