//! The handler registry: which handlers run for which event type, and how one event's handlers
//! are run.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures_util::FutureExt;

use super::handler::{BoxHandler, EventContext, Given, HandlerOutput, Job, Meta, erase};
use crate::dedup::DedupKey;
use crate::error::BoxError;
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
/// each isolated from the others' errors and panics. Handlers reach application state through
/// [`with_state`](Self::with_state) and [`EventContext::state`].
///
/// See the [module docs](crate::dispatch) for an example.
pub struct Handlers<E, S = ()> {
    /// The state handlers registered from now on get.
    state: S,
    routes: Routes<E>,
}

/// The registered handlers, each with its state: what the dispatcher runs.
pub(crate) struct Routes<E> {
    exact: HashMap<Box<str>, Vec<Route<E>>>,
    groups: Vec<(Box<str>, Route<E>)>,
    fallback: Option<Route<E>>,
    on_error: Option<Arc<dyn Fn(&HandlerError) + Send + Sync>>,
}

struct Route<E> {
    label: Arc<str>,
    handler: BoxHandler<E>,
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
    /// An empty registry without application state.
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
    pub fn with_state(state: S) -> Self {
        Self {
            state,
            routes: Routes {
                exact: HashMap::new(),
                groups: Vec::new(),
                fallback: None,
                on_error: None,
            },
        }
    }

    /// Runs `handler` for every event of type `ty`, with its typed payload.
    #[must_use]
    pub fn on<P, F, Fut>(mut self, ty: EventType<E, P>, handler: F) -> Self
    where
        P: Clone + Send + 'static,
        F: Fn(P, EventContext<S>) -> Fut + Send + Sync + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: HandlerOutput,
    {
        let extract = move |given: Given<'_, E>| match given {
            Given::Shared(Received::Event(e)) => ty.payload(e).cloned(),
            Given::Owned(Received::Event(e)) => ty.take(e),
            Given::Shared(Received::Invalid(_)) | Given::Owned(Received::Invalid(_)) => None,
        };
        let route = Route {
            label: ty.name().into(),
            handler: erase(extract, handler, self.state.clone()),
        };
        self.routes
            .exact
            .entry(ty.name().into())
            .or_default()
            .push(route);
        self
    }

    /// Runs `handler` for every event whose type matches `pattern`: an exact name
    /// (`messages.sms.delivered`, or a name the event enum does not know), or a prefix ending in
    /// `*` (`messages.whatsapp.*`; `*` alone matches every event). The handler gets the event.
    #[must_use]
    pub fn on_group<F, Fut>(mut self, pattern: &str, handler: F) -> Self
    where
        F: Fn(E, EventContext<S>) -> Fut + Send + Sync + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: HandlerOutput,
    {
        let extract = |given: Given<'_, E>| match given {
            Given::Shared(Received::Event(e)) => Some(e.clone()),
            Given::Owned(Received::Event(e)) => Some(e),
            Given::Shared(Received::Invalid(_)) | Given::Owned(Received::Invalid(_)) => None,
        };
        let route = Route {
            label: pattern.into(),
            handler: erase(extract, handler, self.state.clone()),
        };
        match pattern.strip_suffix('*') {
            Some(prefix) => self.routes.groups.push((prefix.into(), route)),
            None => self
                .routes
                .exact
                .entry(pattern.into())
                .or_default()
                .push(route),
        }
        self
    }

    /// Runs `handler` for every event that no other handler matched: unhandled and unknown
    /// types, and known types whose payload did not fit its schema ([`Received::Invalid`], with the
    /// raw data and the error). Replaces an earlier fallback.
    #[must_use]
    pub fn fallback<F, Fut>(mut self, handler: F) -> Self
    where
        F: Fn(Received<E>, EventContext<S>) -> Fut + Send + Sync + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: HandlerOutput,
    {
        self.routes.fallback = Some(Route {
            label: "fallback".into(),
            handler: erase(
                |given: Given<'_, E>| match given {
                    Given::Shared(item) => Some(item.clone()),
                    Given::Owned(item) => Some(item),
                },
                handler,
                self.state.clone(),
            ),
        });
        self
    }

    /// Called for every handler error or panic, with the event's type and key (after it is
    /// logged at `error`). Use it for metrics, alerts, or a dead-letter table.
    #[must_use]
    pub fn on_error(mut self, hook: impl Fn(&HandlerError) + Send + Sync + 'static) -> Self {
        self.routes.on_error = Some(Arc::new(hook));
        self
    }
}

impl<E: Event> Routes<E> {
    /// The routes of `item`: its exact routes then the matching groups, or else the fallback.
    fn routes<'s, 'i>(
        &'s self,
        item: &'i Received<E>,
    ) -> impl Iterator<Item = &'s Route<E>> + use<'s, 'i, E> {
        let event_name = match item {
            Received::Event(e) => Some(e.event_name()),
            Received::Invalid(_) => None,
        };
        let exact = event_name
            .and_then(|event_name| self.exact.get(event_name))
            .map_or(&[][..], Vec::as_slice);
        let groups = self.groups.iter().filter_map(move |(prefix, route)| {
            event_name
                .is_some_and(|event_name| event_name.starts_with(&**prefix))
                .then_some(route)
        });
        let mut matched = exact.iter().chain(groups).peekable();
        let fallback = if matched.peek().is_none() {
            self.fallback.as_ref()
        } else {
            None
        };
        matched.chain(fallback)
    }

    /// Runs every route of the job's event in turn. Every route but the last gets the event
    /// shared (its payload cloned); the last one owns it.
    pub(super) async fn run(&self, job: Job<E>) {
        let Job { item, meta } = job;
        let mut routes = self.routes(&item);
        let Some(mut pending) = routes.next() else {
            tracing::debug!("no handler for event");
            return;
        };
        for next in routes {
            self.call(pending, Given::Shared(&item), &meta).await;
            pending = next;
        }
        self.call(pending, Given::Owned(item), &meta).await;
    }

    /// Runs one handler; reports its error or panic.
    async fn call(&self, route: &Route<E>, given: Given<'_, E>, meta: &Arc<Meta>) {
        let failure = match std::panic::catch_unwind(AssertUnwindSafe(|| {
            (route.handler)(given, meta)
        })) {
            Ok(Some(fut)) => match AssertUnwindSafe(fut).catch_unwind().await {
                Ok(Ok(())) => return,
                Ok(Err(e)) => HandlerFailure::Error(e),
                Err(panic) => HandlerFailure::Panic(panic_message(&*panic)),
            },
            Ok(None) => {
                tracing::error!(handler = %route.label, "handler registered for a type whose payload it cannot take");
                return;
            }
            Err(panic) => HandlerFailure::Panic(panic_message(&*panic)),
        };
        let err = HandlerError {
            event_name: meta.event_name.to_string(),
            key: meta.key,
            handler: route.label.to_string(),
            failure,
        };
        tracing::error!(
            event = %err.event_name,
            key = %err.key,
            handler = %err.handler,
            error = %err.failure,
            "webhook handler failed"
        );
        if let Some(hook) = &self.on_error {
            if std::panic::catch_unwind(AssertUnwindSafe(|| hook(&err))).is_err() {
                tracing::error!("webhook error hook panicked");
            }
        }
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic with a non-string payload".to_owned())
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
            .finish_non_exhaustive()
    }
}

/// A handler failed or panicked. Given to the [`Handlers::on_error`] hook.
#[derive(Debug)]
#[non_exhaustive]
pub struct HandlerError {
    /// The event type name.
    pub event_name: String,
    /// The event's dedup key.
    pub key: DedupKey,
    /// Which handler: the event type or group pattern it was registered for, or `fallback`.
    pub handler: String,
    /// What happened.
    pub failure: HandlerFailure,
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "handler `{}` for `{}` ({}) failed: {}",
            self.handler, self.event_name, self.key, self.failure
        )
    }
}

/// How a handler failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum HandlerFailure {
    /// It returned an error.
    Error(BoxError),
    /// It panicked (the message, if the payload was a string).
    Panic(String),
}

impl fmt::Display for HandlerFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Error(e) => write!(f, "{e}"),
            Self::Panic(m) => write!(f, "panicked: {m}"),
        }
    }
}
