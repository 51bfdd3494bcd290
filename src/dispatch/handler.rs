//! Handlers: what users register, type-erased for the registry.

use std::future::Future;
use std::sync::Arc;
use std::time::SystemTime;

use futures_util::future::BoxFuture;

use crate::dedup::DedupKey;
use crate::error::BoxError;
use crate::event::{Event, Received};

/// What a handler returns: `()` or `Result<(), E>` with any error convertible to [`BoxError`].
///
/// ```
/// use webhook_receiver::dispatch::HandlerOutput;
/// assert!(().into_result().is_ok());
/// assert!(Err::<(), _>(std::io::Error::other("db down")).into_result().is_err());
/// ```
pub trait HandlerOutput: Send + 'static {
    /// Converts to a result.
    ///
    /// # Errors
    ///
    /// The handler's error.
    fn into_result(self) -> Result<(), BoxError>;
}

impl HandlerOutput for () {
    fn into_result(self) -> Result<(), BoxError> {
        Ok(())
    }
}

impl<E: Into<BoxError> + Send + 'static> HandlerOutput for Result<(), E> {
    fn into_result(self) -> Result<(), BoxError> {
        self.map_err(Into::into)
    }
}

/// Metadata of one dispatched event, and the application state, given to every handler.
///
/// Cheap to clone.
///
/// ```
/// use webhook_receiver::dispatch::EventContext;
/// fn uses(ctx: &EventContext<String>) -> (&str, &String) {
///     (ctx.event_name(), ctx.state())
/// }
/// ```
#[derive(Debug)]
pub struct EventContext<S = ()> {
    meta: Arc<Meta>,
    state: S,
}

impl<S: Clone> Clone for EventContext<S> {
    fn clone(&self) -> Self {
        Self {
            meta: Arc::clone(&self.meta),
            state: self.state.clone(),
        }
    }
}

#[derive(Debug)]
pub(crate) struct Meta {
    pub(crate) event_name: Box<str>,
    pub(crate) key: DedupKey,
    pub(crate) id: Option<Box<str>>,
    pub(crate) received_at: SystemTime,
}

impl<S> EventContext<S> {
    pub(crate) fn new(meta: Arc<Meta>, state: S) -> Self {
        Self { meta, state }
    }

    /// The event type name.
    pub fn event_name(&self) -> &str {
        &self.meta.event_name
    }

    /// The event's dedup key (the same for every redelivery of the event).
    pub fn key(&self) -> DedupKey {
        self.meta.key
    }

    /// The sender's id for the event, if the format knows one (Chirp's `data.id`, the generic
    /// format's top-level `id`, Standard Webhooks' `webhook-id`).
    pub fn id(&self) -> Option<&str> {
        self.meta.id.as_deref()
    }

    /// When the request carrying the event arrived.
    pub fn received_at(&self) -> SystemTime {
        self.meta.received_at
    }

    /// The application state given to [`Handlers::with_state`](super::Handlers::with_state).
    pub fn state(&self) -> &S {
        &self.state
    }
}

/// A queued event: the item and its metadata.
#[derive(Debug)]
pub(crate) struct Job<E> {
    pub(crate) item: Received<E>,
    pub(crate) meta: Arc<Meta>,
}

/// What a handler is given: the event shared with the handlers still to come, or owned by the
/// last one (which then takes its payload without a clone).
pub(crate) enum Given<'a, E> {
    Shared(&'a Received<E>),
    Owned(Received<E>),
}

/// A type-erased handler with its state: gets the event and its metadata, returns the
/// handler's future (`None` if the event has no payload for it).
pub(crate) type BoxHandler<E> = Arc<
    dyn Fn(Given<'_, E>, &Arc<Meta>) -> Option<BoxFuture<'static, Result<(), BoxError>>>
        + Send
        + Sync,
>;

/// Type-erases `handler`, which takes the `P` that `extract` gets out of the event and `state`
/// through its context.
pub(crate) fn erase<E, S, P, F, Fut>(
    extract: impl Fn(Given<'_, E>) -> Option<P> + Send + Sync + 'static,
    handler: F,
    state: S,
) -> BoxHandler<E>
where
    E: Event,
    S: Clone + Send + Sync + 'static,
    F: Fn(P, EventContext<S>) -> Fut + Send + Sync + 'static,
    Fut: Future + Send + 'static,
    Fut::Output: HandlerOutput,
{
    Arc::new(move |given: Given<'_, E>, meta: &Arc<Meta>| {
        let payload = extract(given)?;
        let fut = handler(payload, EventContext::new(Arc::clone(meta), state.clone()));
        Some(Box::pin(async move { fut.await.into_result() }) as BoxFuture<'static, _>)
    })
}
