//! The handler registry: which handlers run for which event type, and how one event's handlers
//! are run, retried and dead-lettered.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use tokio::time::Instant;

use super::attempt_timeout::AttemptTimeout;
use super::failure::{DeadLetter, DeadLetterReason, HandlerError, HandlerFailure, panic_message};
use super::handler::{BoxHandler, EventContext, HandlerOutput, Job, Target, erase};
use super::retry::RetryPolicy;
use crate::event::{Event, EventType, Received};

/// The handler registry: which handlers run for which event type.
///
/// - [`on`](Self::on): one event type, the handler gets that type's typed payload directly.
/// - [`on_group`](Self::on_group): a group of types by prefix (`messages.whatsapp.*`) or one
///   exact name (including names the event enum does not know); the handler gets the event.
/// - [`fallback`](Self::fallback): every event no other handler took, unknown types and
///   invalid payloads included.
///
/// Several handlers may match one event; they run one after the other, in registration order,
/// each isolated from the others' errors and panics. A handler that fails is retried on its own
/// (see [`RetryPolicy`]): the others are not run again. An event that will not be handled goes
/// to [`on_dead_letter`](Self::on_dead_letter), once. Handlers reach application state through
/// [`with_state`](Self::with_state) and [`EventContext::state`].
///
/// See the [module docs](crate::dispatch) for an example with a dispatcher.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use std::time::Duration;
/// use webhook_receiver::chirp::{self, ChirpEvent};
/// use webhook_receiver::stack::{Dispatcher, Handlers};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// # use webhook_receiver::Format;
/// # let event = |name: &str, status: &str| webhook_receiver::chirp::Chirp.decode(&http::HeaderMap::new(), format!(r#"{{"event":"{name}","data":{{"id":"msg_1","status":"{status}"}}}}"#).as_bytes()).unwrap();
/// let ran = Arc::new(Mutex::new(Vec::new()));
/// let handlers = Handlers::<ChirpEvent, _>::with_state(Arc::clone(&ran))
///     .on(chirp::SMS_DELIVERED, |_status, ctx| async move { ctx.state().lock().unwrap().push("on") })
///     .on_group("messages.*", |_event, ctx| async move { ctx.state().lock().unwrap().push("on_group") })
///     .fallback(|_item, ctx| async move { ctx.state().lock().unwrap().push("fallback") });
/// # let dispatcher = Dispatcher::builder(handlers).spawn();
/// # dispatcher.try_enqueue(event("messages.sms.delivered", "delivered")).unwrap();
/// # dispatcher.drain(Duration::from_secs(5)).await.unwrap();
/// // Both matching handlers ran, in registration order; the fallback was not needed.
/// assert_eq!(*ran.lock().unwrap(), ["on", "on_group"]);
/// # }
/// ```
pub struct Handlers<E, S = ()> {
    /// The state handlers registered from now on get.
    state: S,
    routes: Routes<E>,
}

/// The registered handlers, each with its state: what the dispatcher runs.
pub(crate) struct Routes<E> {
    /// Every handler, in registration order; the others refer to them by index.
    all: Vec<Route<E>>,
    exact: HashMap<Box<str>, Vec<usize>>,
    groups: Vec<(Box<str>, usize)>,
    fallback: Option<usize>,
    /// Policies by handler label ([`Handlers::retry_policy_for`]), for handlers registered
    /// before or after.
    by_label: HashMap<Box<str>, RetryPolicy>,
    policy: RetryPolicy,
    on_error: Option<Arc<dyn Fn(&HandlerError) + Send + Sync>>,
    on_dead_letter: Option<Arc<dyn Fn(DeadLetter<E>) + Send + Sync>>,
}

struct Route<E> {
    label: Arc<str>,
    /// A stable id, for the durable inbox's per-handler state: a hash of the label and of how
    /// many handlers with that label were registered before (so it survives registering other
    /// handlers between two runs).
    id: u32,
    handler: BoxHandler<E>,
    /// Its own policy, else the registry's.
    policy: Option<RetryPolicy>,
    /// Its metric handles, from its first attempt on.
    metrics: std::sync::OnceLock<crate::telemetry::HandlerMetrics>,
}

/// What became of one handler's attempt.
#[derive(Debug)]
pub(crate) enum RouteOutcome {
    /// It succeeded, or it was dead-lettered: the handler is done with the event.
    Done,
    /// It failed (so) and runs again after this long.
    Retry(Duration, HandlerFailure),
}

impl<E, S> Handlers<E, S> {
    /// The handlers registered so far, keeping their state, and `state` for the ones to come.
    pub(crate) fn with_new_state<S2>(self, state: S2) -> Handlers<E, S2> {
        Handlers {
            state,
            routes: self.routes,
        }
    }

    /// The registered handlers, for the dispatcher.
    pub(crate) fn into_routes(self) -> Routes<E> {
        self.routes
    }
}

impl<E: Event> Handlers<E, ()> {
    /// An empty registry without application state: handlers get an [`EventContext`] (of `()`).
    ///
    /// ```
    /// use webhook_receiver::chirp::{self, ChirpEvent, MessageStatus};
    /// use webhook_receiver::dispatch::{EventContext}; use webhook_receiver::stack::Handlers;
    ///
    /// let handlers = Handlers::<ChirpEvent>::new()
    ///     .on(chirp::SMS_DELIVERED, |status: MessageStatus, ctx: EventContext| async move {
    ///         tracing::info!(message = %status.id, key = %ctx.key(), "delivered");
    ///     });
    /// assert!(format!("{handlers:?}").contains("messages.sms.delivered"));
    /// ```
    pub fn new() -> Self {
        Self::with_state(())
    }
}

impl<E: Event> Default for Handlers<E, ()> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E: Event, S: Clone + Send + Sync + 'static> Handlers<E, S> {
    /// An empty registry whose handlers get `state` (a database pool, a client, ...) through
    /// [`EventContext::state`].
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use std::time::Duration;
    /// use webhook_receiver::chirp::{self, MessageStatus};
    /// use webhook_receiver::stack::{Dispatcher, Handlers};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # use webhook_receiver::Format;
    /// # let event = |name: &str, status: &str| webhook_receiver::chirp::Chirp.decode(&http::HeaderMap::new(), format!(r#"{{"event":"{name}","data":{{"id":"msg_1","status":"{status}"}}}}"#).as_bytes()).unwrap();
    /// let db = Arc::new(Mutex::new(Vec::new())); // stands for a connection pool
    /// let handlers = Handlers::with_state(Arc::clone(&db))
    ///     .on(chirp::SMS_DELIVERED, |status: MessageStatus, ctx| async move {
    ///         ctx.state().lock().unwrap().push(status.id);
    ///     });
    /// # let dispatcher = Dispatcher::builder(handlers).spawn();
    /// # dispatcher.try_enqueue(event("messages.sms.delivered", "delivered")).unwrap();
    /// # dispatcher.drain(Duration::from_secs(5)).await.unwrap();
    /// assert_eq!(*db.lock().unwrap(), ["msg_1"]);
    /// # }
    /// ```
    pub fn with_state(state: S) -> Self {
        Self {
            state,
            routes: Routes {
                all: Vec::new(),
                exact: HashMap::new(),
                groups: Vec::new(),
                fallback: None,
                by_label: HashMap::new(),
                policy: RetryPolicy::default(),
                on_error: None,
                on_dead_letter: None,
            },
        }
    }

    fn push(&mut self, label: &str, handler: BoxHandler<E>) -> usize {
        let index = self.routes.all.len();
        let ordinal = self
            .routes
            .all
            .iter()
            .filter(|r| &*r.label == label)
            .count();
        self.routes.all.push(Route {
            label: label.into(),
            id: route_id(label, ordinal),
            handler,
            policy: self.routes.by_label.get(label).copied(),
            metrics: std::sync::OnceLock::new(),
        });
        index
    }

    #[doc = include_str!("../docs/on.md")]
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use std::time::Duration;
    /// use webhook_receiver::chirp::{self, ChirpEvent, MessageStatus};
    /// use webhook_receiver::stack::{Dispatcher, Handlers};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # use webhook_receiver::Format;
    /// # let event = |name: &str, status: &str| webhook_receiver::chirp::Chirp.decode(&http::HeaderMap::new(), format!(r#"{{"event":"{name}","data":{{"id":"msg_1","status":"{status}"}}}}"#).as_bytes()).unwrap();
    /// let delivered = Arc::new(Mutex::new(Vec::new()));
    /// let handlers = Handlers::<ChirpEvent, _>::with_state(Arc::clone(&delivered))
    ///     .on(chirp::SMS_DELIVERED, |status: MessageStatus, ctx| async move {
    ///         ctx.state().lock().unwrap().push(status.status); // typed: a `MessageState`
    ///     })
    ///     .fallback(|_, _| async {}); // the other types
    /// # let dispatcher = Dispatcher::builder(handlers).spawn();
    /// dispatcher.try_enqueue(event("messages.sms.sent", "sent")).unwrap();
    /// dispatcher.try_enqueue(event("messages.sms.delivered", "delivered")).unwrap();
    /// # dispatcher.drain(Duration::from_secs(5)).await.unwrap();
    /// assert_eq!(*delivered.lock().unwrap(), [chirp::MessageState::Delivered]);
    /// # }
    /// ```
    #[must_use]
    pub fn on<P, F, Fut>(mut self, ty: EventType<E, P>, handler: F) -> Self
    where
        P: Clone + Send + 'static,
        F: Fn(P, EventContext<S>) -> Fut + Send + Sync + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: HandlerOutput,
    {
        let extract = move |item: &Received<E>| match item {
            Received::Event(e) => ty.payload(e).cloned(),
            Received::Invalid(_) => None,
        };
        let index = self.push(ty.name(), erase(extract, handler, self.state.clone()));
        self.routes
            .exact
            .entry(ty.name().into())
            .or_default()
            .push(index);
        self
    }

    #[doc = include_str!("../docs/on_group.md")]
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use std::time::Duration;
    /// use webhook_receiver::Event;
    /// use webhook_receiver::chirp::ChirpEvent;
    /// use webhook_receiver::stack::{Dispatcher, Handlers};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # use webhook_receiver::Format;
    /// # let event = |name: &str, status: &str| webhook_receiver::chirp::Chirp.decode(&http::HeaderMap::new(), format!(r#"{{"event":"{name}","data":{{"id":"msg_1","status":"{status}"}}}}"#).as_bytes()).unwrap();
    /// let whatsapp = Arc::new(Mutex::new(Vec::new()));
    /// let handlers = Handlers::<ChirpEvent, _>::with_state(Arc::clone(&whatsapp))
    ///     .on_group("messages.whatsapp.*", |event: ChirpEvent, ctx| async move {
    ///         ctx.state().lock().unwrap().push(event.event_name().to_owned());
    ///     })
    ///     .fallback(|_, _| async {});
    /// # let dispatcher = Dispatcher::builder(handlers).spawn();
    /// dispatcher.try_enqueue(event("messages.sms.delivered", "delivered")).unwrap();
    /// dispatcher.try_enqueue(event("messages.whatsapp.read", "read")).unwrap();
    /// # dispatcher.drain(Duration::from_secs(5)).await.unwrap();
    /// assert_eq!(*whatsapp.lock().unwrap(), ["messages.whatsapp.read"]);
    /// # }
    /// ```
    #[must_use]
    pub fn on_group<F, Fut>(mut self, pattern: &str, handler: F) -> Self
    where
        F: Fn(E, EventContext<S>) -> Fut + Send + Sync + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: HandlerOutput,
    {
        let extract = |item: &Received<E>| match item {
            Received::Event(e) => Some(e.clone()),
            Received::Invalid(_) => None,
        };
        let index = self.push(pattern, erase(extract, handler, self.state.clone()));
        match pattern.strip_suffix('*') {
            Some(prefix) => self.routes.groups.push((prefix.into(), index)),
            None => self
                .routes
                .exact
                .entry(pattern.into())
                .or_default()
                .push(index),
        }
        self
    }

    #[doc = include_str!("../docs/fallback.md")]
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use std::time::Duration;
    /// use webhook_receiver::chirp::{self, ChirpEvent};
    /// use webhook_receiver::stack::{Dispatcher, Handlers};
    /// use webhook_receiver::event::Received;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # use webhook_receiver::Format;
    /// # let event = |name: &str, status: &str| webhook_receiver::chirp::Chirp.decode(&http::HeaderMap::new(), format!(r#"{{"event":"{name}","data":{{"id":"msg_1","status":"{status}"}}}}"#).as_bytes()).unwrap();
    /// let unhandled = Arc::new(Mutex::new(Vec::new()));
    /// let handlers = Handlers::<ChirpEvent, _>::with_state(Arc::clone(&unhandled))
    ///     .on(chirp::SMS_DELIVERED, |_status, _ctx| async {})
    ///     .fallback(|item: Received<ChirpEvent>, ctx| async move {
    ///         let invalid = matches!(item, Received::Invalid(_));
    ///         ctx.state().lock().unwrap().push((item.event_name().to_owned(), invalid));
    ///     });
    /// # let dispatcher = Dispatcher::builder(handlers).spawn();
    /// # let body = br#"{"event":"messages.sms.delivered","data":{"id":5,"status":"delivered"}}"#;
    /// # let invalid = webhook_receiver::chirp::Chirp.decode(&http::HeaderMap::new(), body).unwrap();
    /// dispatcher.try_enqueue(event("messages.sms.delivered", "delivered")).unwrap(); // taken by `on`
    /// dispatcher.try_enqueue(invalid).unwrap(); // `"id": 5`: the payload does not fit
    /// dispatcher.try_enqueue(event("calls.voice.started", "ringing")).unwrap(); // unknown type
    /// # dispatcher.drain(Duration::from_secs(5)).await.unwrap();
    /// assert_eq!(*unhandled.lock().unwrap(), [
    ///     ("messages.sms.delivered".to_owned(), true),
    ///     ("calls.voice.started".to_owned(), false),
    /// ]);
    /// # }
    /// ```
    #[must_use]
    pub fn fallback<F, Fut>(mut self, handler: F) -> Self
    where
        F: Fn(Received<E>, EventContext<S>) -> Fut + Send + Sync + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: HandlerOutput,
    {
        let handler = erase(
            |item: &Received<E>| Some(item.clone()),
            handler,
            self.state.clone(),
        );
        match self.routes.fallback {
            Some(index) => {
                self.routes.all[index].handler = handler;
            }
            None => self.routes.fallback = Some(self.push("fallback", handler)),
        }
        self
    }

    #[doc = include_str!("../docs/retry_policy.md")]
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use std::time::Duration;
    /// use webhook_receiver::chirp::ChirpEvent;
    /// use webhook_receiver::dispatch::{HandlerError, RetryPolicy}; use webhook_receiver::stack::{Dispatcher, Handlers};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # use webhook_receiver::Format;
    /// # let event = |name: &str, status: &str| webhook_receiver::chirp::Chirp.decode(&http::HeaderMap::new(), format!(r#"{{"event":"{name}","data":{{"id":"msg_1","status":"{status}"}}}}"#).as_bytes()).unwrap();
    /// let errors = Arc::new(Mutex::new(Vec::new()));
    /// let sink = Arc::clone(&errors);
    /// let handlers = Handlers::<ChirpEvent>::new()
    ///     .retry_policy(RetryPolicy::default().max_attempts(3).initial_backoff(Duration::ZERO))
    ///     .fallback(|_, _| async { Err::<(), _>(std::io::Error::other("db down")) })
    ///     .on_error(move |err: &HandlerError| sink.lock().unwrap().push((err.attempt, err.retry_in.is_some())));
    /// # let dispatcher = Dispatcher::builder(handlers).spawn();
    /// # dispatcher.try_enqueue(event("messages.sms.delivered", "delivered")).unwrap();
    /// # dispatcher.drain(Duration::from_secs(5)).await.unwrap();
    /// // Three attempts; the last one is not retried.
    /// assert_eq!(*errors.lock().unwrap(), [(1, true), (2, true), (3, false)]);
    /// # }
    /// ```
    #[must_use]
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.routes.policy = policy;
        self
    }

    #[doc = include_str!("../docs/retry_policy_for.md")]
    ///
    /// ```
    /// use std::time::Duration;
    /// use webhook_receiver::chirp::{self, ChirpEvent};
    /// use webhook_receiver::dispatch::{RetryPolicy}; use webhook_receiver::stack::Handlers;
    ///
    /// let handlers = Handlers::<ChirpEvent>::new()
    ///     .retry_policy(RetryPolicy::default().max_attempts(3))
    ///     // Only the analytics handler gives up at once.
    ///     .retry_policy_for("messages.*", RetryPolicy::never())
    ///     .on(chirp::SMS_DELIVERED, |_status, _ctx| async {})
    ///     .on_group("messages.*", |_event, _ctx| async {});
    /// # let _ = handlers;
    /// ```
    #[must_use]
    pub fn retry_policy_for(mut self, label: &str, policy: RetryPolicy) -> Self {
        for route in self.routes.all.iter_mut().filter(|r| &*r.label == label) {
            route.policy = Some(policy);
        }
        self.routes.by_label.insert(label.into(), policy);
        self
    }

    #[doc = include_str!("../docs/on_error.md")]
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use std::time::Duration;
    /// use webhook_receiver::chirp::{self, ChirpEvent};
    /// use webhook_receiver::dispatch::{HandlerError, RetryPolicy}; use webhook_receiver::stack::{Dispatcher, Handlers};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # use webhook_receiver::Format;
    /// # let event = |name: &str, status: &str| webhook_receiver::chirp::Chirp.decode(&http::HeaderMap::new(), format!(r#"{{"event":"{name}","data":{{"id":"msg_1","status":"{status}"}}}}"#).as_bytes()).unwrap();
    /// let errors = Arc::new(Mutex::new(Vec::new()));
    /// let sink = Arc::clone(&errors);
    /// let handlers = Handlers::<ChirpEvent>::new()
    ///     .retry_policy(RetryPolicy::never())
    ///     .on(chirp::SMS_DELIVERED, |_status, _ctx| async { Err::<(), _>(std::io::Error::other("db down")) })
    ///     .on_error(move |err: &HandlerError| sink.lock().unwrap().push(err.to_string()));
    /// # let dispatcher = Dispatcher::builder(handlers).spawn();
    /// # dispatcher.try_enqueue(event("messages.sms.delivered", "delivered")).unwrap();
    /// # dispatcher.drain(Duration::from_secs(5)).await.unwrap();
    /// let message = &errors.lock().unwrap()[0];
    /// assert!(message.starts_with("handler `messages.sms.delivered` for `messages.sms.delivered`"));
    /// assert!(message.ends_with("failed on attempt 1: db down"));
    /// # }
    /// ```
    #[must_use]
    pub fn on_error(mut self, hook: impl Fn(&HandlerError) + Send + Sync + 'static) -> Self {
        self.routes.on_error = Some(Arc::new(hook));
        self
    }

    #[doc = include_str!("../docs/on_dead_letter.md")]
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use std::time::Duration;
    /// use webhook_receiver::chirp::{self, ChirpEvent};
    /// use webhook_receiver::dispatch::{DeadLetter, RetryPolicy}; use webhook_receiver::stack::{Dispatcher, Handlers};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # use webhook_receiver::Format;
    /// # let event = |name: &str, status: &str| webhook_receiver::chirp::Chirp.decode(&http::HeaderMap::new(), format!(r#"{{"event":"{name}","data":{{"id":"msg_1","status":"{status}"}}}}"#).as_bytes()).unwrap();
    /// let letters = Arc::new(Mutex::new(Vec::new()));
    /// let sink = Arc::clone(&letters);
    /// let handlers = Handlers::<ChirpEvent>::new()
    ///     .retry_policy(RetryPolicy::default().max_attempts(2).initial_backoff(Duration::ZERO))
    ///     .on(chirp::SMS_DELIVERED, |_status, _ctx| async { Err::<(), _>(std::io::Error::other("db down")) })
    ///     .on_dead_letter(move |letter: DeadLetter<ChirpEvent>| {
    ///         sink.lock().unwrap().push((letter.handler, letter.attempts, letter.id));
    ///     });
    /// # let dispatcher = Dispatcher::builder(handlers).spawn();
    /// # dispatcher.try_enqueue(event("messages.sms.delivered", "delivered")).unwrap();
    /// # dispatcher.drain(Duration::from_secs(5)).await.unwrap();
    /// let handler = Some("messages.sms.delivered".to_owned());
    /// assert_eq!(*letters.lock().unwrap(), [(handler, 2, Some("msg_1".to_owned()))]);
    /// # }
    /// ```
    #[must_use]
    pub fn on_dead_letter(mut self, hook: impl Fn(DeadLetter<E>) + Send + Sync + 'static) -> Self {
        self.routes.on_dead_letter = Some(Arc::new(hook));
        self
    }
}

impl<E: Event> Routes<E> {
    /// The handlers of `item`, by index: its exact routes then the matching groups, or else the
    /// fallback.
    fn matching<'s, 'i>(
        &'s self,
        item: &'i Received<E>,
    ) -> impl Iterator<Item = usize> + Send + use<'s, 'i, E> {
        let event_name = match item {
            Received::Event(e) => Some(e.event_name()),
            Received::Invalid(_) => None,
        };
        let exact = event_name
            .and_then(|event_name| self.exact.get(event_name))
            .map_or(&[][..], Vec::as_slice);
        let groups = self.groups.iter().filter_map(move |(prefix, index)| {
            event_name
                .is_some_and(|event_name| event_name.starts_with(&**prefix))
                .then_some(*index)
        });
        let mut matched = exact.iter().copied().chain(groups).peekable();
        let fallback = if matched.peek().is_none() {
            self.fallback
        } else {
            None
        };
        matched.chain(fallback)
    }

    /// The label of the handler at `index`.
    pub(crate) fn label(&self, index: usize) -> &str {
        &self.all[index].label
    }

    /// The stable id of the handler at `index`.
    pub(crate) fn route_id(&self, index: usize) -> u32 {
        self.all[index].id
    }

    /// The handlers of `item` by index, as on its first run.
    pub(crate) fn indices(&self, item: &Received<E>) -> Vec<usize> {
        self.matching(item).collect()
    }

    /// Runs the job: every handler of the event on its first run, one handler on a retry. Tells
    /// `outcome` what became of each handler. An event with no handler is dead-lettered (and
    /// `outcome` is not called).
    ///
    /// `started` is when the job started; it returns when its last attempt ended. Handlers run
    /// one after the other, so each attempt starts when the one before it ended: one clock
    /// read per attempt (at its end) times them all.
    pub(super) async fn run<O>(&self, job: &Job<E>, started: Instant, mut outcome: O) -> Instant
    where
        O: FnMut(usize, RouteOutcome) + Send,
    {
        match job.target {
            Target::All => {
                let mut at = started;
                let mut any = false;
                for index in self.matching(&job.item) {
                    any = true;
                    let (result, ended) = self.attempt(index, job, at).await;
                    at = ended;
                    outcome(index, result);
                }
                if !any {
                    self.dead_letter(job, None, 0, None, DeadLetterReason::NoHandler);
                }
                at
            }
            Target::Route(index) => {
                let (result, ended) = self.attempt(index, job, started).await;
                outcome(index, result);
                ended
            }
        }
    }

    /// Runs one attempt of one handler; reports its failure, and dead-letters the event when
    /// the attempt was the handler's last.
    /// It started at `started_at`; it returns its outcome and when it ended.
    async fn attempt(
        &self,
        index: usize,
        job: &Job<E>,
        started_at: Instant,
    ) -> (RouteOutcome, Instant) {
        let route = &self.all[index];
        let policy = route.policy.unwrap_or(self.policy);
        // A child of the delivery's span: disabled (and skipped) unless `debug` is on.
        let span = tracing::debug_span!(
            parent: &job.meta.span,
            "webhook_handler",
            handler = %route.label,
            attempt = job.attempt,
            event = %job.meta.event_name,
            key = %job.meta.key,
            duration_ms = tracing::field::Empty,
            error = tracing::field::Empty,
        );
        let started = {
            let _entered = (!span.is_disabled()).then(|| span.enter());
            std::panic::catch_unwind(AssertUnwindSafe(|| {
                (route.handler)(&job.item, &job.meta, job.attempt)
            }))
        };
        let failure = match started {
            Ok(Some(fut)) => {
                let run = AttemptTimeout::new(
                    AssertUnwindSafe(fut).catch_unwind(),
                    started_at,
                    policy.get_attempt_timeout(),
                );
                let ended = if span.is_disabled() {
                    run.await
                } else {
                    tracing::Instrument::instrument(run, span.clone()).await
                };
                match ended {
                    Ok(Ok(Ok(()))) => None,
                    Ok(Ok(Err(e))) => Some(HandlerFailure::Error(e)),
                    Ok(Err(panic)) => Some(HandlerFailure::Panic(panic_message(&*panic))),
                    Err(_) => Some(HandlerFailure::Timeout(policy.get_attempt_timeout())),
                }
            }
            Ok(None) => Some(HandlerFailure::NoPayload),
            Err(panic) => Some(HandlerFailure::Panic(panic_message(&*panic))),
        };
        let ended_at = Instant::now();
        let took = ended_at.saturating_duration_since(started_at);
        // An index into `telemetry::RESULTS`.
        let result = match &failure {
            None => 0,
            Some(HandlerFailure::Error(_)) => 1,
            Some(HandlerFailure::Panic(_)) => 2,
            Some(HandlerFailure::Timeout(_)) => 3,
            Some(HandlerFailure::NoPayload) => 4,
        };
        let metrics = route
            .metrics
            .get_or_init(|| crate::telemetry::HandlerMetrics::new(&route.label));
        metrics.attempt(result, took);
        if !span.is_disabled() {
            span.record("duration_ms", took.as_secs_f64() * 1000.0);
            if let Some(failure) = &failure {
                span.record("error", tracing::field::display(failure));
            }
        }
        let Some(failure) = failure else {
            return (RouteOutcome::Done, ended_at);
        };
        let retry_in = (failure.is_retryable() && job.attempt < policy.get_max_attempts())
            .then(|| policy.backoff(job.attempt));
        let err = HandlerError {
            event_name: job.meta.event_name.to_string(),
            key: job.meta.key,
            handler: route.label.to_string(),
            attempt: job.attempt,
            retry_in,
            failure,
        };
        if let Some(delay) = retry_in {
            metrics.retried();
            tracing::warn!(
                event = %err.event_name,
                key = %err.key,
                handler = %err.handler,
                attempt = err.attempt,
                retry_in = ?delay,
                error = %err.failure,
                "webhook handler failed; it will be retried"
            );
        } else {
            tracing::error!(
                event = %err.event_name,
                key = %err.key,
                handler = %err.handler,
                attempt = err.attempt,
                error = %err.failure,
                "webhook handler failed on its last attempt"
            );
        }
        if let Some(hook) = &self.on_error {
            if std::panic::catch_unwind(AssertUnwindSafe(|| hook(&err))).is_err() {
                tracing::error!("webhook error hook panicked");
            }
        }
        let outcome = match retry_in {
            Some(delay) => RouteOutcome::Retry(delay, err.failure),
            None => {
                let reason = if err.failure.is_retryable() {
                    DeadLetterReason::Exhausted
                } else {
                    DeadLetterReason::NoPayload
                };
                self.dead_letter(job, Some(index), job.attempt, Some(err.failure), reason);
                RouteOutcome::Done
            }
        };
        (outcome, ended_at)
    }

    /// Logs at `error` that the job's event (or its handler `index`) will not be handled, and
    /// gives it to the dead-letter hook.
    pub(crate) fn dead_letter(
        &self,
        job: &Job<E>,
        index: Option<usize>,
        attempts: u32,
        last_error: Option<HandlerFailure>,
        reason: DeadLetterReason,
    ) {
        let handler = index.map(|i| self.label(i));
        crate::telemetry::dead_letter(reason.as_str());
        if let Some(p) = &job.meta.persisted {
            let error = last_error.as_ref().map(ToString::to_string);
            p.entry.dead_letter(&crate::store::DeadLetterRecord::new(
                handler,
                index.map(|i| self.route_id(i)),
                reason.as_str(),
                attempts,
                error.as_deref(),
            ));
        }
        tracing::error!(
            event = %job.meta.event_name,
            key = %job.meta.key,
            id = job.meta.id.as_deref(),
            handler,
            attempts,
            reason = reason.as_str(),
            "accepted webhook event will not be handled: {reason}"
        );
        if let Some(hook) = &self.on_dead_letter {
            // The letter's copy of the event runs the event type's `Clone`: caught with the hook.
            let deliver = || {
                hook(DeadLetter {
                    event: job.item.clone(),
                    key: job.meta.key,
                    id: job.meta.id.as_deref().map(str::to_owned),
                    handler: handler.map(str::to_owned),
                    attempts,
                    last_error,
                    reason,
                });
            };
            if std::panic::catch_unwind(AssertUnwindSafe(deliver)).is_err() {
                tracing::error!("webhook dead-letter hook panicked");
            }
        }
    }
}

/// FNV-1a (32 bits) of `label`, a NUL, and `ordinal`: stable across builds and platforms.
fn route_id(label: &str, ordinal: usize) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in label
        .bytes()
        .chain([0])
        .chain((ordinal as u64).to_le_bytes())
    {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash
}

impl<E, S> fmt::Debug for Handlers<E, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.routes, f)
    }
}

impl<E> fmt::Debug for Routes<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut exact: Vec<_> = self.exact.keys().collect();
        exact.sort();
        f.debug_struct("Handlers")
            .field("exact", &exact)
            .field(
                "groups",
                &self.groups.iter().map(|(p, _)| p).collect::<Vec<_>>(),
            )
            .field("fallback", &self.fallback.is_some())
            .field("retry_policy", &self.policy)
            .finish_non_exhaustive()
    }
}
