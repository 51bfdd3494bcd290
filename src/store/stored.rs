//! A kept event as a store hands it back: [`StoredRequest`], its handlers' [`RouteState`]s, and
//! the [`Pending`] that carries both to the dispatcher.

use std::fmt;
use std::time::SystemTime;

use bytes::Bytes;
use http::HeaderMap;

use super::Entry;
use crate::dedup::DedupKey;

/// Identifies a kept event in its store (a row, a stream entry): not the sender's event id.
///
/// ```
/// use webhook_receiver::store::StoredId;
/// let id = StoredId::new(42);
/// assert_eq!(id.get(), 42);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StoredId(u64);

impl StoredId {
    /// An id from the store's own number.
    ///
    /// ```
    /// # use webhook_receiver::store::StoredId;
    /// assert!(StoredId::new(1) < StoredId::new(2));
    /// ```
    #[must_use]
    pub const fn new(id: u64) -> Self {
        Self(id)
    }

    /// The id as a number.
    ///
    /// ```
    /// # use webhook_receiver::store::StoredId;
    /// assert_eq!(StoredId::new(7).get(), 7);
    /// ```
    #[must_use]
    pub const fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for StoredId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// An accepted event that is not done, read back from its store to run (again).
///
/// ```
/// use webhook_receiver::DedupKey;
/// use webhook_receiver::store::{RouteState, StoredRequest, StoredId};
///
/// let mut event = StoredRequest::new(
///     StoredId::new(1),
///     DedupKey::from_parts(&[b"evt_1"]),
///     bytes::Bytes::from_static(b"{}"),
///     http::HeaderMap::new(),
///     std::time::SystemTime::now(),
/// );
/// event.routes.push(RouteState::new(0, 2, None, false)); // handler 0 failed twice
/// assert_eq!(event.routes.len(), 1);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StoredRequest {
    /// Its id in the store.
    pub id: StoredId,
    /// Its dedup key.
    pub key: DedupKey,
    /// The raw body.
    pub body: Bytes,
    /// The kept headers.
    pub headers: HeaderMap,
    /// When it was received (stores may keep it to the millisecond).
    pub received_at: SystemTime,
    /// The state of each handler (route) that recorded an attempt or completed. Empty for an
    /// event no handler has run yet: every handler runs.
    pub routes: Vec<RouteState>,
    /// Only the handlers listed in [`routes`](Self::routes) and not done run; those not listed
    /// are skipped as if done. Set by a store for an operator's replay of dead letters
    /// ([`ReplayScope::Failed`](super::ReplayScope::Failed)), which runs the dead-lettered
    /// handlers and not those that succeeded. Default `false`: a handler not listed runs.
    pub listed_only: bool,
}

impl StoredRequest {
    /// An event read back, with no handler progress yet (push onto [`routes`](Self::routes)).
    ///
    /// ```
    /// # use webhook_receiver::{DedupKey, store::{StoredRequest, StoredId}};
    /// let event = StoredRequest::new(StoredId::new(1), DedupKey::from_parts(&[b"e"]),
    ///     bytes::Bytes::new(), http::HeaderMap::new(), std::time::SystemTime::now());
    /// assert!(event.routes.is_empty());
    /// ```
    #[must_use]
    pub const fn new(
        id: StoredId,
        key: DedupKey,
        body: Bytes,
        headers: HeaderMap,
        received_at: SystemTime,
    ) -> Self {
        Self {
            id,
            key,
            body,
            headers,
            received_at,
            routes: Vec::new(),
            listed_only: false,
        }
    }
}

/// Where one handler (route) of a kept event stands.
///
/// ```
/// use webhook_receiver::store::RouteState;
/// let state = RouteState::new(3, 1, None, true);
/// assert!(state.done && state.route == 3);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RouteState {
    /// The route, as the dispatcher numbers its handlers.
    pub route: u32,
    /// Attempts made so far.
    pub attempts: u32,
    /// When to try again, if a retry is scheduled.
    pub next_at: Option<SystemTime>,
    /// The handler is done with this event (succeeded or dead-lettered).
    pub done: bool,
}

impl RouteState {
    /// A route's state: `attempts` made, the next at `next_at`, or `done`.
    ///
    /// ```
    /// # use webhook_receiver::store::RouteState;
    /// assert_eq!(RouteState::new(0, 2, None, false).attempts, 2);
    /// ```
    #[must_use]
    pub const fn new(route: u32, attempts: u32, next_at: Option<SystemTime>, done: bool) -> Self {
        Self {
            route,
            attempts,
            next_at,
            done,
        }
    }
}

/// An event a store hands to the dispatcher through [`Store::feed`](super::Store::feed), with
/// the entry its progress is recorded in.
///
/// ```
/// use webhook_receiver::store::{Pending, StoredRequest};
/// fn describe(p: &Pending) -> String {
///     format!("event {} ({} handler states), replay: {}", p.request().id, p.request().routes.len(), p.is_replay())
/// }
/// ```
#[derive(Debug)]
pub struct Pending {
    pub(crate) request: StoredRequest,
    pub(crate) entry: Box<dyn Entry>,
    pub(crate) replayed: bool,
}

impl Pending {
    /// An event left by an earlier run or taken over from another replica:
    /// [`EventContext::is_replay`](crate::dispatch::EventContext::is_replay) is `true` for it.
    ///
    /// ```
    /// # use webhook_receiver::{DedupKey, store::{Entry, Pending, StoredRequest, StoredId}};
    /// # #[derive(Debug)] struct Nop;
    /// # impl Entry for Nop { fn record_attempt(&self, _: u32, _: u32, _: Option<std::time::SystemTime>) {} fn complete_route(&self, _: u32) {} fn complete(&self) {} }
    /// # let event = StoredRequest::new(StoredId::new(1), DedupKey::from_parts(&[b"e"]), bytes::Bytes::new(), http::HeaderMap::new(), std::time::SystemTime::now());
    /// assert!(Pending::replay(event, Box::new(Nop)).is_replay());
    /// ```
    #[must_use]
    pub fn replay(event: StoredRequest, entry: Box<dyn Entry>) -> Self {
        Self {
            request: event,
            entry,
            replayed: true,
        }
    }

    /// An event accepted (by any replica) and not run by anyone yet: a shared store's consumer
    /// hands it to the replica that took it.
    ///
    /// ```
    /// # use webhook_receiver::{DedupKey, store::{Entry, Pending, StoredRequest, StoredId}};
    /// # #[derive(Debug)] struct Nop;
    /// # impl Entry for Nop { fn record_attempt(&self, _: u32, _: u32, _: Option<std::time::SystemTime>) {} fn complete_route(&self, _: u32) {} fn complete(&self) {} }
    /// # let event = StoredRequest::new(StoredId::new(1), DedupKey::from_parts(&[b"e"]), bytes::Bytes::new(), http::HeaderMap::new(), std::time::SystemTime::now());
    /// assert!(!Pending::first_run(event, Box::new(Nop)).is_replay());
    /// ```
    #[must_use]
    pub fn first_run(event: StoredRequest, entry: Box<dyn Entry>) -> Self {
        Self {
            request: event,
            entry,
            replayed: false,
        }
    }

    /// The request as stored.
    ///
    /// ```
    /// # use webhook_receiver::store::Pending;
    /// fn key(p: &Pending) -> webhook_receiver::DedupKey { p.request().key }
    /// ```
    #[must_use]
    pub const fn request(&self) -> &StoredRequest {
        &self.request
    }

    /// Whether it runs as a replay.
    ///
    /// ```
    /// # use webhook_receiver::store::Pending;
    /// fn replays(p: &Pending) -> bool { p.is_replay() }
    /// ```
    #[must_use]
    pub const fn is_replay(&self) -> bool {
        self.replayed
    }

    /// The event and its entry, for a store's own tests (the conformance suite).
    ///
    /// ```
    /// # use webhook_receiver::store::Pending;
    /// fn complete(p: Pending) { let (_, entry) = p.into_parts(); entry.complete(); }
    /// ```
    #[must_use]
    pub fn into_parts(self) -> (StoredRequest, Box<dyn Entry>) {
        (self.request, self.entry)
    }
}
