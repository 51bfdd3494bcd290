//! Handlers: what users register, type-erased for the registry.

use std::future::Future;
use std::sync::Arc;
use std::time::SystemTime;

use futures_util::future::BoxFuture;

use super::failure::HandlerFailure;
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
    attempt: u32,
    state: S,
}

impl<S: Clone> Clone for EventContext<S> {
    fn clone(&self) -> Self {
        Self {
            meta: Arc::clone(&self.meta),
            attempt: self.attempt,
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
    /// The tenant the request was verified for ([`PerTenant`](crate::verify::PerTenant)).
    pub(crate) tenant: Option<crate::verify::Tenant>,
    /// The delivery's span (disabled unless `debug` is on): the parent of the attempts' spans.
    pub(crate) span: tracing::Span,
    /// Where the event is stored, when the receiver has a durable inbox.
    pub(crate) persisted: Option<Persisted>,
}

impl Meta {
    pub(crate) fn new(
        event_name: &str,
        key: DedupKey,
        id: Option<Box<str>>,
        received_at: SystemTime,
    ) -> Self {
        Self {
            event_name: event_name.into(),
            key,
            id,
            received_at,
            tenant: None,
            span: tracing::Span::current(),
            persisted: None,
        }
    }

    /// Whether the event came back from the durable inbox at startup.
    fn replayed(&self) -> bool {
        if let Some(p) = &self.persisted {
            return p.replayed;
        }
        false
    }
}

/// A stored event: its inbox entry, and how many of its jobs (its first run, then one per
/// waiting retry) are not finished; at zero it is completed in the inbox.
#[derive(Debug)]
pub(crate) struct Persisted {
    pub(crate) entry: Box<dyn crate::store::Entry>,
    pub(crate) outstanding: std::sync::atomic::AtomicUsize,
    /// Handed back by the inbox (left by an earlier run, or taken over from another replica),
    /// rather than accepted by this process just now.
    pub(crate) replayed: bool,
}

impl<S> EventContext<S> {
    pub(crate) fn new(meta: Arc<Meta>, attempt: u32, state: S) -> Self {
        Self {
            meta,
            attempt,
            state,
        }
    }

    /// Which attempt of this handler this is: 1 for the first, 2 for the first retry, and so on.
    ///
    /// Delivery is at least once (a retry after a timeout, or with the durable inbox a restart
    /// after a crash, may run a handler whose earlier attempt had done part of its work): make
    /// handlers idempotent, e.g. keyed by [`key`](Self::key), and use the attempt number to log
    /// or to skip work already done.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use std::time::Duration;
    /// use webhook_receiver::chirp::ChirpEvent;
    /// use webhook_receiver::dispatch::{RetryPolicy}; use webhook_receiver::stack::{Dispatcher, Handlers};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # use webhook_receiver::Format;
    /// # let body = br#"{"event":"messages.sms.delivered","data":{"id":"msg_1","status":"delivered"}}"#;
    /// # let event = || webhook_receiver::chirp::Chirp.decode(&http::HeaderMap::new(), body).unwrap();
    /// let attempts = Arc::new(Mutex::new(Vec::new()));
    /// let handlers = Handlers::<ChirpEvent, _>::with_state(Arc::clone(&attempts))
    ///     .retry_policy(RetryPolicy::default().initial_backoff(Duration::ZERO))
    ///     .fallback(|_, ctx| async move {
    ///         ctx.state().lock().unwrap().push(ctx.attempt());
    ///         if ctx.attempt() == 1 { Err(std::io::Error::other("flaky")) } else { Ok(()) }
    ///     });
    /// # let dispatcher = Dispatcher::builder(handlers).spawn();
    /// # dispatcher.try_enqueue(event()).unwrap();
    /// # dispatcher.drain(Duration::from_secs(5)).await.unwrap();
    /// assert_eq!(*attempts.lock().unwrap(), [1, 2]); // failed once, then succeeded
    /// # }
    /// ```
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The event type name.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use std::time::Duration;
    /// use webhook_receiver::chirp::ChirpEvent;
    /// use webhook_receiver::stack::{Dispatcher, Handlers};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # use webhook_receiver::Format;
    /// # let body = br#"{"event":"messages.sms.delivered","data":{"id":"msg_1","status":"delivered"}}"#;
    /// # let event = || webhook_receiver::chirp::Chirp.decode(&http::HeaderMap::new(), body).unwrap();
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let handlers = Handlers::<ChirpEvent, _>::with_state(Arc::clone(&seen))
    ///     .on_group("messages.sms.*", |_event, ctx| async move {
    ///         ctx.state().lock().unwrap().push(ctx.event_name().to_owned());
    ///     });
    /// # let dispatcher = Dispatcher::builder(handlers).spawn();
    /// # dispatcher.try_enqueue(event()).unwrap();
    /// # dispatcher.drain(Duration::from_secs(5)).await.unwrap();
    /// assert_eq!(*seen.lock().unwrap(), ["messages.sms.delivered"]);
    /// # }
    /// ```
    pub fn event_name(&self) -> &str {
        &self.meta.event_name
    }

    /// The tenant the request was verified for, when the receiver verifies per tenant
    /// ([`PerTenant`](crate::verify::PerTenant)); `None` otherwise. An inbox keeps it with the
    /// event (as the header [`TENANT_HEADER`](crate::verify::TENANT_HEADER), which the receiver
    /// sets itself and strips from requests not verified per tenant), so an event run again
    /// after a restart or by another replica has it too.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use std::time::Duration;
    /// use webhook_receiver::chirp::ChirpEvent;
    /// use webhook_receiver::stack::{Dispatcher, Handlers};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # use webhook_receiver::Format;
    /// # let body = br#"{"event":"messages.sms.delivered","data":{"id":"msg_1","status":"delivered"}}"#;
    /// # let event = || webhook_receiver::chirp::Chirp.decode(&http::HeaderMap::new(), body).unwrap();
    /// let tenants = Arc::new(Mutex::new(Vec::new()));
    /// let handlers = Handlers::<ChirpEvent, _>::with_state(Arc::clone(&tenants)).fallback(
    ///     |_, ctx| async move { ctx.state().lock().unwrap().push(ctx.tenant().map(str::to_owned)) },
    /// );
    /// # let dispatcher = Dispatcher::builder(handlers).spawn();
    /// dispatcher.try_enqueue(event()).unwrap(); // not verified per tenant
    /// # dispatcher.drain(Duration::from_secs(5)).await.unwrap();
    /// assert_eq!(*tenants.lock().unwrap(), [None]);
    /// # }
    /// ```
    #[must_use]
    pub fn tenant(&self) -> Option<&str> {
        self.meta.tenant.as_ref().map(crate::verify::Tenant::as_str)
    }

    /// The event's dedup key (the same for every redelivery of the event).
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use std::time::Duration;
    /// use webhook_receiver::chirp::ChirpEvent;
    /// use webhook_receiver::stack::{Dispatcher, Handlers};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # use webhook_receiver::Format;
    /// # let body = br#"{"event":"messages.sms.delivered","data":{"id":"msg_1","status":"delivered"}}"#;
    /// # let event = || webhook_receiver::chirp::Chirp.decode(&http::HeaderMap::new(), body).unwrap();
    /// let keys = Arc::new(Mutex::new(Vec::new()));
    /// let handlers = Handlers::<ChirpEvent, _>::with_state(Arc::clone(&keys))
    ///     .fallback(|_, ctx| async move { ctx.state().lock().unwrap().push(ctx.key()) });
    /// # let dispatcher = Dispatcher::builder(handlers).spawn();
    /// let decoded = event(); // as the receiver decoded it
    /// let key = decoded.key();
    /// dispatcher.try_enqueue(decoded).unwrap();
    /// # dispatcher.drain(Duration::from_secs(5)).await.unwrap();
    /// assert_eq!(*keys.lock().unwrap(), [key]);
    /// # }
    /// ```
    pub fn key(&self) -> DedupKey {
        self.meta.key
    }

    /// The sender's id for the event, if the format knows one (Chirp's `data.id`, the generic
    /// format's top-level `id`, Standard Webhooks' `webhook-id`).
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use std::time::Duration;
    /// use webhook_receiver::chirp::ChirpEvent;
    /// use webhook_receiver::stack::{Dispatcher, Handlers};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # use webhook_receiver::Format;
    /// # let body = br#"{"event":"messages.sms.delivered","data":{"id":"msg_1","status":"delivered"}}"#;
    /// # let event = || webhook_receiver::chirp::Chirp.decode(&http::HeaderMap::new(), body).unwrap();
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let handlers = Handlers::<ChirpEvent, _>::with_state(Arc::clone(&seen))
    ///     .fallback(|_, ctx| async move {
    ///         ctx.state().lock().unwrap().push(ctx.id().map(str::to_owned));
    ///     });
    /// # let dispatcher = Dispatcher::builder(handlers).spawn();
    /// # dispatcher.try_enqueue(event()).unwrap();
    /// # dispatcher.drain(Duration::from_secs(5)).await.unwrap();
    /// assert_eq!(*seen.lock().unwrap(), [Some("msg_1".to_owned())]); // Chirp's `data.id`
    /// # }
    /// ```
    pub fn id(&self) -> Option<&str> {
        self.meta.id.as_deref()
    }

    /// When the request carrying the event arrived (for an event given to
    /// [`Dispatcher::try_enqueue`](super::Dispatcher::try_enqueue), when it was queued).
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use std::time::{Duration, SystemTime};
    /// use webhook_receiver::chirp::ChirpEvent;
    /// use webhook_receiver::stack::{Dispatcher, Handlers};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # use webhook_receiver::Format;
    /// # let body = br#"{"event":"messages.sms.delivered","data":{"id":"msg_1","status":"delivered"}}"#;
    /// # let event = || webhook_receiver::chirp::Chirp.decode(&http::HeaderMap::new(), body).unwrap();
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let handlers = Handlers::<ChirpEvent, _>::with_state(Arc::clone(&seen))
    ///     .fallback(|_, ctx| async move { ctx.state().lock().unwrap().push(ctx.received_at()) });
    /// let before = SystemTime::now();
    /// # let dispatcher = Dispatcher::builder(handlers).spawn();
    /// # dispatcher.try_enqueue(event()).unwrap();
    /// # dispatcher.drain(Duration::from_secs(5)).await.unwrap();
    /// let received = seen.lock().unwrap()[0];
    /// assert!(before <= received && received <= SystemTime::now());
    /// # }
    /// ```
    pub fn received_at(&self) -> SystemTime {
        self.meta.received_at
    }

    /// Whether the event was accepted by an earlier run of the process and read back from the
    /// [durable inbox](crate::store) at startup: its handlers may have run, in part or in full,
    /// before that process stopped (delivery is at least once). Always `false` without one.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use std::time::Duration;
    /// use webhook_receiver::chirp::ChirpEvent;
    /// use webhook_receiver::stack::{Dispatcher, Handlers};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # use webhook_receiver::Format;
    /// # let body = br#"{"event":"messages.sms.delivered","data":{"id":"msg_1","status":"delivered"}}"#;
    /// # let event = || webhook_receiver::chirp::Chirp.decode(&http::HeaderMap::new(), body).unwrap();
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let handlers = Handlers::<ChirpEvent, _>::with_state(Arc::clone(&seen))
    ///     .fallback(|_, ctx| async move {
    ///         if !ctx.is_replay() { ctx.state().lock().unwrap().push("first run") }
    ///     });
    /// # let dispatcher = Dispatcher::builder(handlers).spawn();
    /// # dispatcher.try_enqueue(event()).unwrap();
    /// # dispatcher.drain(Duration::from_secs(5)).await.unwrap();
    /// assert_eq!(*seen.lock().unwrap(), ["first run"]); // no durable inbox here
    /// # }
    /// ```
    pub fn is_replay(&self) -> bool {
        self.meta.replayed()
    }

    /// The application state given to [`Handlers::with_state`](super::Handlers::with_state).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::time::Duration;
    /// use webhook_receiver::chirp::ChirpEvent;
    /// use webhook_receiver::stack::{Dispatcher, Handlers};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # use webhook_receiver::Format;
    /// # let body = br#"{"event":"messages.sms.delivered","data":{"id":"msg_1","status":"delivered"}}"#;
    /// # let event = || webhook_receiver::chirp::Chirp.decode(&http::HeaderMap::new(), body).unwrap();
    /// #[derive(Clone, Default)]
    /// struct App { handled: Arc<AtomicUsize> } // a pool, a client, ...
    ///
    /// let app = App::default();
    /// let handlers = Handlers::<ChirpEvent, _>::with_state(app.clone())
    ///     .fallback(|_, ctx| async move { ctx.state().handled.fetch_add(1, Ordering::SeqCst); });
    /// # let dispatcher = Dispatcher::builder(handlers).spawn();
    /// # dispatcher.try_enqueue(event()).unwrap();
    /// # dispatcher.drain(Duration::from_secs(5)).await.unwrap();
    /// assert_eq!(app.handled.load(Ordering::SeqCst), 1);
    /// # }
    /// ```
    pub fn state(&self) -> &S {
        &self.state
    }
}

/// A queued event: the item, its metadata, and which of its handlers to run.
#[derive(Debug)]
pub(crate) struct Job<E> {
    pub(crate) item: Received<E>,
    pub(crate) meta: Arc<Meta>,
    /// The event's bytes in the queue's budget, shared by its jobs (first run and retries) and
    /// given back with the last of them.
    pub(crate) bytes: Arc<super::budget::QueueBytes>,
    pub(crate) target: Target,
    /// The attempt this run is (1 for the first run of the event).
    pub(crate) attempt: u32,
    /// A retry's previous failure, for the dead-letter hook if the retry never runs.
    pub(crate) last_error: Option<HandlerFailure>,
    /// When it became ready to run (queued, or its retry due), for the queue-wait histogram.
    pub(crate) ready_at: tokio::time::Instant,
}

/// Which handlers of an event a job runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    /// Every handler the event matches: its first run.
    All,
    /// One handler (by registration index): a retry.
    Route(usize),
}

impl<E> Job<E> {
    /// The first run of an event.
    pub(crate) fn first(
        item: Received<E>,
        meta: Arc<Meta>,
        bytes: Arc<super::budget::QueueBytes>,
    ) -> Self {
        Self {
            item,
            meta,
            bytes,
            target: Target::All,
            attempt: 1,
            last_error: None,
            ready_at: tokio::time::Instant::now(),
        }
    }
}

/// A type-erased handler with its state: gets the event, its metadata and the attempt number,
/// returns the handler's future (`None` if the event has no payload for it). The event stays
/// with the dispatcher, for a retry or the dead-letter hook; the handler gets a clone of what it
/// takes.
pub(crate) type BoxHandler<E> = Arc<
    dyn Fn(&Received<E>, &Arc<Meta>, u32) -> Option<BoxFuture<'static, Result<(), BoxError>>>
        + Send
        + Sync,
>;

/// Type-erases `handler`, which takes the `P` that `extract` gets out of the event and `state`
/// through its context.
pub(crate) fn erase<E, S, P, F, Fut>(
    extract: impl Fn(&Received<E>) -> Option<P> + Send + Sync + 'static,
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
    Arc::new(move |item: &Received<E>, meta: &Arc<Meta>, attempt: u32| {
        let payload = extract(item)?;
        let fut = handler(
            payload,
            EventContext::new(Arc::clone(meta), attempt, state.clone()),
        );
        Some(Box::pin(async move { fut.await.into_result() }) as BoxFuture<'static, _>)
    })
}
