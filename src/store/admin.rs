//! The operator API: [`InboxAdmin`], what a store that keeps events lets an operator see and do
//! (list, inspect, replay, delete, prune), with its filter, cursor, summary and detail types.
//!
//! A handler with a bug sends events to dead letters; the stores that keep events keep those
//! dead letters (not only pass them to the hook), so that once the handler is fixed and
//! deployed the operator can run them again:
//!
//! ```
//! use webhook_receiver::store::{DurableInbox, EventFilter, EventState, InboxAdmin, ReplayScope};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), webhook_receiver::BoxError> {
//! # let dir = std::env::temp_dir().join(format!("wr-doc-{}-admin-module", std::process::id()));
//! let inbox = DurableInbox::open(&dir)?;
//! let dead = EventFilter::new().state(EventState::Dead);
//! let matched = inbox.count(&dead).await?; // the dry run
//! let report = inbox.replay_matching(&dead, ReplayScope::Failed).await?;
//! assert_eq!((matched, report.matched, report.replayed), (0, 0, 0));
//! # drop(inbox); std::fs::remove_dir_all(&dir).ok();
//! # Ok(()) }
//! ```
//!
//! The same operations are served as JSON by `admin::router` (feature `admin`) and run from the
//! command line by the `webhook-receiver` tool (feature `cli`).
//!
//! # What a replay does
//!
//! A replayed event is not verified again (it was when it arrived). It runs the handlers that
//! had not succeeded ([`ReplayScope::Failed`]: its dead-lettered handlers start again from their
//! first attempt), or every handler ([`ReplayScope::All`]). The store records the replay with
//! the event (how many times, and when the last one was), and each replay is one atomic step in
//! the store: an event is replayed entirely or not at all, so stopping a long replay between
//! two events leaves none half done.

use std::fmt;
use std::future::Future;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::StoredId;

/// Events fetched per page by the provided methods of [`InboxAdmin`] that walk a filter.
const PAGE: usize = 256;

/// Where a kept event stands.
///
/// ```
/// use webhook_receiver::store::EventState;
/// assert_eq!("dead".parse::<EventState>(), Ok(EventState::Dead));
/// assert_eq!(EventState::Retrying.as_str(), "retrying");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum EventState {
    /// Accepted, and no handler has failed it yet: it runs (or is running).
    Waiting,
    /// A handler failed it and retries it later.
    Retrying,
    /// Every handler is done with it and at least one dead-lettered it: it waits for an
    /// operator (replay, delete, prune).
    Dead,
    /// Every handler succeeded. Only a store that keeps done events for a while lists them;
    /// `DurableInbox`, `RedisInbox` and `PostgresInbox` delete an event once it is done.
    Done,
}

impl EventState {
    /// Every state, in the order of their lifecycle.
    ///
    /// ```
    /// use webhook_receiver::store::EventState;
    /// assert_eq!(EventState::ALL.len(), 4);
    /// ```
    pub const ALL: [Self; 4] = [Self::Waiting, Self::Retrying, Self::Dead, Self::Done];

    /// Its name: `waiting`, `retrying`, `dead` or `done`.
    ///
    /// ```
    /// use webhook_receiver::store::EventState;
    /// assert_eq!(EventState::Waiting.as_str(), "waiting");
    /// ```
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Waiting => "waiting",
            Self::Retrying => "retrying",
            Self::Dead => "dead",
            Self::Done => "done",
        }
    }
}

impl fmt::Display for EventState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A state name that is not one of [`EventState`]'s.
///
/// ```
/// use webhook_receiver::store::EventState;
/// let err = "gone".parse::<EventState>().unwrap_err();
/// assert_eq!(err.to_string(), "unknown event state \"gone\" (waiting, retrying, dead or done)");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown event state {0:?} (waiting, retrying, dead or done)")]
pub struct UnknownState(String);

impl FromStr for EventState {
    type Err = UnknownState;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| UnknownState(s.to_owned()))
    }
}

/// Which kept events an operation is about: by state, event type and receive time. Every part
/// left unset matches everything.
///
/// The event type is read from the raw body: its top-level `"type"` string, else its `"event"`
/// string (see [`event_type_of`]).
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use webhook_receiver::store::{EventFilter, EventState};
///
/// let filter = EventFilter::new()
///     .state(EventState::Dead)
///     .event_type("messages.sms.delivered")
///     .received_after(SystemTime::now() - Duration::from_secs(3600));
/// assert_eq!(filter.state, Some(EventState::Dead));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct EventFilter {
    /// Only events in this state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<EventState>,
    /// Only events of this type.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub event_type: Option<String>,
    /// Only events received at or after this time.
    #[serde(default, with = "opt_time", skip_serializing_if = "Option::is_none")]
    pub received_after: Option<SystemTime>,
    /// Only events received before this time.
    #[serde(default, with = "opt_time", skip_serializing_if = "Option::is_none")]
    pub received_before: Option<SystemTime>,
}

impl EventFilter {
    /// A filter that matches every kept event.
    ///
    /// ```
    /// use webhook_receiver::store::EventFilter;
    /// assert_eq!(EventFilter::new(), EventFilter::default());
    /// ```
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Only events in `state`.
    ///
    /// ```
    /// use webhook_receiver::store::{EventFilter, EventState};
    /// assert_eq!(EventFilter::new().state(EventState::Dead).state, Some(EventState::Dead));
    /// ```
    #[must_use]
    pub fn state(mut self, state: EventState) -> Self {
        self.state = Some(state);
        self
    }

    /// Only events of type `event_type` (see [`event_type_of`]).
    ///
    /// ```
    /// use webhook_receiver::store::EventFilter;
    /// let filter = EventFilter::new().event_type("invoice.paid");
    /// assert_eq!(filter.event_type.as_deref(), Some("invoice.paid"));
    /// ```
    #[must_use]
    pub fn event_type(mut self, event_type: impl Into<String>) -> Self {
        self.event_type = Some(event_type.into());
        self
    }

    /// Only events received at or after `time`.
    ///
    /// ```
    /// use std::time::SystemTime;
    /// use webhook_receiver::store::EventFilter;
    /// let now = SystemTime::now();
    /// assert_eq!(EventFilter::new().received_after(now).received_after, Some(now));
    /// ```
    #[must_use]
    pub const fn received_after(mut self, time: SystemTime) -> Self {
        self.received_after = Some(time);
        self
    }

    /// Only events received before `time`.
    ///
    /// ```
    /// use std::time::SystemTime;
    /// use webhook_receiver::store::EventFilter;
    /// let now = SystemTime::now();
    /// assert_eq!(EventFilter::new().received_before(now).received_before, Some(now));
    /// ```
    #[must_use]
    pub const fn received_before(mut self, time: SystemTime) -> Self {
        self.received_before = Some(time);
        self
    }

    /// Whether `event` matches this filter.
    ///
    /// ```
    /// use std::time::SystemTime;
    /// use webhook_receiver::store::{EventFilter, EventState, EventSummary, StoredId};
    ///
    /// let event = EventSummary::new(StoredId::new(1), EventState::Dead, SystemTime::now());
    /// assert!(EventFilter::new().state(EventState::Dead).matches(&event));
    /// assert!(!EventFilter::new().state(EventState::Waiting).matches(&event));
    /// ```
    #[must_use]
    pub fn matches(&self, event: &EventSummary) -> bool {
        self.state.is_none_or(|s| s == event.state)
            && self
                .event_type
                .as_deref()
                .is_none_or(|t| event.event_type.as_deref() == Some(t))
            && self.received_after.is_none_or(|t| event.received_at >= t)
            && self.received_before.is_none_or(|t| event.received_at < t)
    }
}

/// The type of a webhook event from its raw JSON body: the top-level `"type"` string (Standard
/// Webhooks, Stripe, the generic format), else the top-level `"event"` string (Chirp). `None`
/// for a body that is not a JSON object or has neither.
///
/// ```
/// use webhook_receiver::store::event_type_of;
/// assert_eq!(event_type_of(br#"{"type":"invoice.paid","id":"1"}"#).as_deref(), Some("invoice.paid"));
/// assert_eq!(event_type_of(br#"{"event":"messages.sms.sent"}"#).as_deref(), Some("messages.sms.sent"));
/// assert_eq!(event_type_of(b"not json"), None);
/// ```
#[must_use]
pub fn event_type_of(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Envelope {
        #[serde(rename = "type")]
        kind: Option<serde_json::Value>,
        event: Option<serde_json::Value>,
    }
    let envelope: Envelope = serde_json::from_slice(body).ok()?;
    let text = |v: Option<serde_json::Value>| match v {
        Some(serde_json::Value::String(s)) => Some(s),
        _ => None,
    };
    text(envelope.kind).or_else(|| text(envelope.event))
}

/// Where a listing goes on: give it back to [`InboxAdmin::list`] for the next page. Opaque: a
/// store writes and reads its own.
///
/// ```
/// use webhook_receiver::store::Cursor;
/// let cursor = Cursor::new("42");
/// assert_eq!(cursor.as_str(), "42");
/// assert_eq!(cursor.to_string(), "42");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Cursor(String);

impl Cursor {
    /// A cursor from its text (as a store or an earlier page gave it).
    ///
    /// ```
    /// # use webhook_receiver::store::Cursor;
    /// assert_eq!(Cursor::new("1700000000000-0").as_str(), "1700000000000-0");
    /// ```
    pub fn new(text: impl Into<String>) -> Self {
        Self(text.into())
    }

    /// Its text.
    ///
    /// ```
    /// # use webhook_receiver::store::Cursor;
    /// assert_eq!(Cursor::new("7").as_str(), "7");
    /// ```
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One page of a listing: the events, oldest first, and where the next page starts (`None`
/// after the last).
///
/// ```
/// use webhook_receiver::store::EventPage;
/// let page = EventPage::default();
/// assert!(page.events.is_empty() && page.next.is_none());
/// ```
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct EventPage {
    /// The events of this page.
    pub events: Vec<EventSummary>,
    /// The cursor of the next page, if there may be one.
    pub next: Option<Cursor>,
}

impl EventPage {
    /// A page of `events`, followed by `next`.
    ///
    /// ```
    /// use webhook_receiver::store::{Cursor, EventPage};
    /// let page = EventPage::new(Vec::new(), Some(Cursor::new("9")));
    /// assert_eq!(page.next.unwrap().as_str(), "9");
    /// ```
    #[must_use]
    pub const fn new(events: Vec<EventSummary>, next: Option<Cursor>) -> Self {
        Self { events, next }
    }
}

/// A kept event in a listing.
///
/// ```
/// use std::time::SystemTime;
/// use webhook_receiver::store::{EventState, EventSummary, StoredId};
///
/// let event = EventSummary::new(StoredId::new(3), EventState::Waiting, SystemTime::now());
/// assert_eq!((event.replays, event.attempts), (0, 0));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct EventSummary {
    /// Its id in the store.
    #[serde(with = "stored_id")]
    pub id: StoredId,
    /// Where it stands.
    pub state: EventState,
    /// Its type, read from the body ([`event_type_of`]).
    #[serde(rename = "type")]
    pub event_type: Option<String>,
    /// When it was received.
    #[serde(with = "time")]
    pub received_at: SystemTime,
    /// The most attempts any of its handlers made.
    pub attempts: u32,
    /// How many times an operator replayed it.
    pub replays: u32,
    /// When it was last replayed.
    #[serde(default, with = "opt_time")]
    pub last_replayed_at: Option<SystemTime>,
}

impl EventSummary {
    /// An event `id` in `state`, received at `received_at`, with no attempt or replay yet.
    ///
    /// ```
    /// use std::time::SystemTime;
    /// use webhook_receiver::store::{EventState, EventSummary, StoredId};
    /// let event = EventSummary::new(StoredId::new(1), EventState::Dead, SystemTime::UNIX_EPOCH);
    /// assert_eq!(event.state, EventState::Dead);
    /// ```
    #[must_use]
    pub const fn new(id: StoredId, state: EventState, received_at: SystemTime) -> Self {
        Self {
            id,
            state,
            event_type: None,
            received_at,
            attempts: 0,
            replays: 0,
            last_replayed_at: None,
        }
    }
}

/// Where one handler of a kept event stands, as [`InboxAdmin::inspect`] shows it.
///
/// ```
/// use webhook_receiver::store::HandlerState;
/// let state = HandlerState::new(7, 3);
/// assert!(!state.done && !state.dead && state.last_error.is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct HandlerState {
    /// The route, as the dispatcher numbers its handlers (`None`: the event had no handler).
    pub route: Option<u32>,
    /// The handler's label, when the store knows it (from a dead letter).
    pub handler: Option<String>,
    /// Attempts made.
    pub attempts: u32,
    /// When it is tried again, if a retry is scheduled.
    #[serde(default, with = "opt_time")]
    pub next_at: Option<SystemTime>,
    /// Done with the event (succeeded, or dead-lettered).
    pub done: bool,
    /// Dead-lettered.
    pub dead: bool,
    /// Why it was dead-lettered (`exhausted`, `no_payload`, `no_handler`, ...).
    pub reason: Option<String>,
    /// Its last error, as the dead letter recorded it.
    pub last_error: Option<String>,
}

impl HandlerState {
    /// Route `route` after `attempts` attempts, not done.
    ///
    /// ```
    /// use webhook_receiver::store::HandlerState;
    /// assert_eq!(HandlerState::new(1, 2).route, Some(1));
    /// ```
    #[must_use]
    pub const fn new(route: u32, attempts: u32) -> Self {
        Self {
            route: Some(route),
            handler: None,
            attempts,
            next_at: None,
            done: false,
            dead: false,
            reason: None,
            last_error: None,
        }
    }
}

/// One kept event in full: [`InboxAdmin::inspect`].
///
/// The headers are those the store kept: never credentials (see
/// [`Incoming::kept_headers`](super::Incoming::kept_headers)). In JSON the body is `body` (text)
/// when it is UTF-8, else `body_hex`.
///
/// ```
/// use std::time::SystemTime;
/// use webhook_receiver::store::{EventDetail, EventState, EventSummary, StoredId};
///
/// let summary = EventSummary::new(StoredId::new(1), EventState::Dead, SystemTime::UNIX_EPOCH);
/// let event = EventDetail::new(summary, bytes::Bytes::from_static(b"{}"));
/// let json = serde_json::to_value(&event).unwrap();
/// assert_eq!(json["body"], "{}");
/// let back: EventDetail = serde_json::from_value(json).unwrap();
/// assert_eq!(back.body, event.body);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct EventDetail {
    /// What a listing shows of it.
    #[serde(flatten)]
    pub summary: EventSummary,
    /// Its dedup key (hex).
    pub key: Option<String>,
    /// The kept headers, in order (a name can repeat).
    pub headers: Vec<(String, String)>,
    /// The raw body, exactly as received.
    #[serde(flatten, with = "body")]
    pub body: Bytes,
    /// Its handlers' states, as the store recorded them (a handler that has not run or failed
    /// yet may be absent).
    pub handlers: Vec<HandlerState>,
}

impl EventDetail {
    /// An event as `summary` describes it, with its raw `body`, no headers and no handler state.
    ///
    /// ```
    /// use std::time::SystemTime;
    /// use webhook_receiver::store::{EventDetail, EventState, EventSummary, StoredId};
    /// let summary = EventSummary::new(StoredId::new(1), EventState::Waiting, SystemTime::now());
    /// assert!(EventDetail::new(summary, bytes::Bytes::new()).headers.is_empty());
    /// ```
    #[must_use]
    pub const fn new(summary: EventSummary, body: Bytes) -> Self {
        Self {
            summary,
            key: None,
            headers: Vec::new(),
            body,
            handlers: Vec::new(),
        }
    }
}

/// Which handlers a replay runs.
///
/// ```
/// use webhook_receiver::store::ReplayScope;
/// assert_eq!(ReplayScope::default(), ReplayScope::Failed);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum ReplayScope {
    /// The handlers that had not succeeded (the dead-lettered ones), each from its first
    /// attempt. An event dead-lettered for having no handler runs every handler.
    #[default]
    Failed,
    /// Every handler of the event, those that succeeded too.
    All,
}

/// What became of one replay: [`InboxAdmin::replay`].
///
/// ```
/// use webhook_receiver::store::{EventState, ReplayOutcome};
/// assert!(ReplayOutcome::Replayed.is_replayed());
/// assert!(!ReplayOutcome::NotDead(EventState::Waiting).is_replayed());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReplayOutcome {
    /// Marked to run again, and handed to the running receiver when there is one (else it
    /// runs at the next start).
    Replayed,
    /// The event is not dead (it is waiting or retrying, so it runs anyway): nothing changed.
    NotDead(EventState),
}

impl ReplayOutcome {
    /// Whether the event was replayed.
    ///
    /// ```
    /// use webhook_receiver::store::ReplayOutcome;
    /// assert!(ReplayOutcome::Replayed.is_replayed());
    /// ```
    #[must_use]
    pub const fn is_replayed(self) -> bool {
        matches!(self, Self::Replayed)
    }
}

/// How many events a filter matched and how many of them were replayed:
/// [`InboxAdmin::replay_matching`]. Its JSON is `{"matched": N, "replayed": N}`.
///
/// ```
/// use webhook_receiver::store::ReplayReport;
/// let report = ReplayReport::new(3, 2);
/// assert_eq!(serde_json::to_string(&report).unwrap(), r#"{"matched":3,"replayed":2}"#);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ReplayReport {
    /// Events the filter matched.
    pub matched: u64,
    /// Events replayed.
    pub replayed: u64,
}

impl ReplayReport {
    /// `matched` events, `replayed` of them replayed.
    ///
    /// ```
    /// # use webhook_receiver::store::ReplayReport;
    /// assert_eq!(ReplayReport::new(1, 1).replayed, 1);
    /// ```
    #[must_use]
    pub const fn new(matched: u64, replayed: u64) -> Self {
        Self { matched, replayed }
    }
}

/// How long events of each state are kept before [`InboxAdmin::prune`] deletes them (by
/// receive time). A state left `None` is not pruned.
///
/// ```
/// use std::time::Duration;
/// use webhook_receiver::store::{EventState, Retention};
///
/// let retention = Retention::new().dead(Duration::from_secs(30 * 86_400));
/// assert_eq!(retention.for_state(EventState::Dead), Some(Duration::from_secs(2_592_000)));
/// assert_eq!(retention.for_state(EventState::Waiting), None);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Retention {
    /// How long waiting events are kept (they have not run: usually `None`).
    pub waiting: Option<Duration>,
    /// How long retrying events are kept.
    pub retrying: Option<Duration>,
    /// How long dead events are kept.
    pub dead: Option<Duration>,
    /// How long done events are kept (for a store that keeps them).
    pub done: Option<Duration>,
}

impl Retention {
    /// No retention: nothing is pruned.
    ///
    /// ```
    /// # use webhook_receiver::store::Retention;
    /// assert_eq!(Retention::new(), Retention::default());
    /// ```
    #[must_use]
    pub const fn new() -> Self {
        Self {
            waiting: None,
            retrying: None,
            dead: None,
            done: None,
        }
    }

    /// Keeps dead events for `age`.
    ///
    /// ```
    /// # use webhook_receiver::store::Retention;
    /// # use std::time::Duration;
    /// assert!(Retention::new().dead(Duration::from_secs(60)).dead.is_some());
    /// ```
    #[must_use]
    pub const fn dead(mut self, age: Duration) -> Self {
        self.dead = Some(age);
        self
    }

    /// Keeps done events for `age`.
    ///
    /// ```
    /// # use webhook_receiver::store::Retention;
    /// # use std::time::Duration;
    /// assert!(Retention::new().done(Duration::from_secs(60)).done.is_some());
    /// ```
    #[must_use]
    pub const fn done(mut self, age: Duration) -> Self {
        self.done = Some(age);
        self
    }

    /// Keeps retrying events for `age`.
    ///
    /// ```
    /// # use webhook_receiver::store::Retention;
    /// # use std::time::Duration;
    /// assert!(Retention::new().retrying(Duration::from_secs(60)).retrying.is_some());
    /// ```
    #[must_use]
    pub const fn retrying(mut self, age: Duration) -> Self {
        self.retrying = Some(age);
        self
    }

    /// Keeps waiting events for `age`.
    ///
    /// ```
    /// # use webhook_receiver::store::Retention;
    /// # use std::time::Duration;
    /// assert!(Retention::new().waiting(Duration::from_secs(60)).waiting.is_some());
    /// ```
    #[must_use]
    pub const fn waiting(mut self, age: Duration) -> Self {
        self.waiting = Some(age);
        self
    }

    /// The retention of `state`.
    ///
    /// ```
    /// # use webhook_receiver::store::{EventState, Retention};
    /// assert_eq!(Retention::new().for_state(EventState::Done), None);
    /// ```
    #[must_use]
    pub const fn for_state(&self, state: EventState) -> Option<Duration> {
        match state {
            EventState::Waiting => self.waiting,
            EventState::Retrying => self.retrying,
            EventState::Dead => self.dead,
            EventState::Done => self.done,
        }
    }
}

/// Why an operator operation failed.
///
/// ```
/// use webhook_receiver::store::{AdminError, StoredId};
/// let err = AdminError::NotFound(StoredId::new(9));
/// assert_eq!((err.kind(), err.status()), ("not_found", http::StatusCode::NOT_FOUND));
/// assert_eq!(err.to_string(), "no kept event 9");
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    /// No event with this id is kept (it is done, deleted, or never was).
    #[error("no kept event {0}")]
    NotFound(StoredId),
    /// The cursor was not written by this store.
    #[error("invalid cursor {0:?}")]
    InvalidCursor(String),
    /// The request is not valid (a bad filter or parameter), with why.
    #[error("invalid request: {0}")]
    Invalid(String),
    /// The store failed (unreachable, an I/O error, a damaged record).
    #[cfg(feature = "inbox")]
    #[cfg_attr(docsrs, doc(cfg(any(feature = "durable", feature = "redis"))))]
    #[error(transparent)]
    Store(#[from] crate::inbox::InboxError),
    /// The store failed, with why (a store outside this crate, or a remote admin router).
    #[error("store error: {0}")]
    Other(String),
}

impl AdminError {
    /// A short, stable name for the error: `not_found`, `invalid_cursor`, `invalid_request` or
    /// `store_error`: the `type` of the admin router's JSON error.
    ///
    /// ```
    /// use webhook_receiver::store::AdminError;
    /// assert_eq!(AdminError::Other("down".into()).kind(), "store_error");
    /// ```
    #[must_use]
    pub const fn kind(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "not_found",
            Self::InvalidCursor(_) => "invalid_cursor",
            Self::Invalid(_) => "invalid_request",
            #[cfg(feature = "inbox")]
            Self::Store(_) => "store_error",
            Self::Other(_) => "store_error",
        }
    }

    /// The HTTP status the admin router answers it with: 404, 400, or 503 for a store error.
    ///
    /// ```
    /// use webhook_receiver::store::AdminError;
    /// assert_eq!(AdminError::InvalidCursor("x".into()).status(), http::StatusCode::BAD_REQUEST);
    /// ```
    #[must_use]
    pub const fn status(&self) -> http::StatusCode {
        match self {
            Self::NotFound(_) => http::StatusCode::NOT_FOUND,
            Self::InvalidCursor(_) | Self::Invalid(_) => http::StatusCode::BAD_REQUEST,
            #[cfg(feature = "inbox")]
            Self::Store(_) => http::StatusCode::SERVICE_UNAVAILABLE,
            Self::Other(_) => http::StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

#[diagnostic::on_unimplemented(
    note = "the operator API is implemented by the stores that keep events (`DurableInbox`, `RedisInbox`)"
)]
/// The operator API of a store that keeps events: list, inspect, replay, delete and prune.
///
/// A store implements the five required methods; the provided ones ([`count`](Self::count),
/// [`replay_matching`](Self::replay_matching), [`prune`](Self::prune),
/// [`prune_by`](Self::prune_by)) walk a filter page by page on top of them. The admin router
/// (`admin::router`, feature `admin`) serves them as JSON; the `webhook-receiver` tool
/// (feature `cli`) runs them from the command line.
///
/// # What a replay does
///
/// A handler with a bug sends events to dead letters; the stores that keep events keep those
/// dead letters (not only pass them to the hook), so that once the handler is fixed and
/// deployed the operator can run them again. A replayed event is not verified again (it was
/// when it arrived). It runs the handlers that had not succeeded ([`ReplayScope::Failed`]: its
/// dead-lettered handlers start again from their first attempt), or every handler
/// ([`ReplayScope::All`]), as a replay
/// ([`EventContext::is_replay`](crate::dispatch::EventContext::is_replay)). The store records
/// the replay with the event (how many times, and when the last one was), and each replay is
/// one atomic step in the store: an event is replayed entirely or not at all, so stopping a
/// long replay between two events leaves none half done.
///
/// # Contract
///
/// - [`list`](Self::list) answers the events matching the filter, oldest first, at most `limit`
///   per page, and a cursor while there may be more; an event replayed or deleted while a
///   listing runs is seen at most once.
/// - [`replay`](Self::replay) and [`delete`](Self::delete) are each one atomic step in the store.
/// - A store keeps the dead letters of its events (every handler done, one or more
///   dead-lettered) until they are replayed, deleted or pruned.
///
/// # Example
///
/// ```
/// use webhook_receiver::store::{DurableInbox, EventFilter, InboxAdmin};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), webhook_receiver::BoxError> {
/// # let dir = std::env::temp_dir().join(format!("wr-doc-{}-admin-trait", std::process::id()));
/// let inbox = DurableInbox::open(&dir)?;
/// let mut cursor = None;
/// loop {
///     let page = inbox.list(&EventFilter::new(), cursor.as_ref(), 100).await?;
///     for event in &page.events {
///         println!("{} {} {:?}", event.id, event.state, event.event_type);
///     }
///     match page.next {
///         Some(next) => cursor = Some(next),
///         None => break,
///     }
/// }
/// # drop(inbox); std::fs::remove_dir_all(&dir).ok();
/// # Ok(()) }
/// ```
pub trait InboxAdmin: Send + Sync + 'static {
    /// One page of the events matching `filter`, oldest first, starting after `cursor` (from
    /// the start when `None`), at most `limit` (at least 1) events.
    ///
    /// # Errors
    ///
    /// [`AdminError::InvalidCursor`] for a cursor this store did not write; a store error.
    fn list(
        &self,
        filter: &EventFilter,
        cursor: Option<&Cursor>,
        limit: usize,
    ) -> impl Future<Output = Result<EventPage, AdminError>> + Send;

    /// One kept event in full: its headers (never credentials), body and handlers' states.
    ///
    /// # Errors
    ///
    /// [`AdminError::NotFound`] if no event `id` is kept; a store error.
    fn inspect(&self, id: StoredId)
    -> impl Future<Output = Result<EventDetail, AdminError>> + Send;

    /// Runs dead event `id` again, with the handlers `scope` names, and records the replay.
    /// An event that is not dead is left as it is ([`ReplayOutcome::NotDead`]).
    ///
    /// # Errors
    ///
    /// [`AdminError::NotFound`] if no event `id` is kept; a store error.
    fn replay(
        &self,
        id: StoredId,
        scope: ReplayScope,
    ) -> impl Future<Output = Result<ReplayOutcome, AdminError>> + Send;

    /// Deletes kept event `id` (in any state: a waiting event deleted does not run, unless it
    /// is running already).
    ///
    /// # Errors
    ///
    /// [`AdminError::NotFound`] if no event `id` is kept; a store error.
    fn delete(&self, id: StoredId) -> impl Future<Output = Result<(), AdminError>> + Send;

    /// How many events match `filter`: the dry run of a replay or a prune.
    ///
    /// # Errors
    ///
    /// As [`list`](Self::list).
    fn count(&self, filter: &EventFilter) -> impl Future<Output = Result<u64, AdminError>> + Send {
        async move {
            let mut count = 0u64;
            let mut cursor = None;
            loop {
                let page = self.list(filter, cursor.as_ref(), PAGE).await?;
                count += page.events.len() as u64;
                match page.next {
                    Some(next) => cursor = Some(next),
                    None => return Ok(count),
                }
            }
        }
    }

    /// Replays every event matching `filter` (one at a time, each atomically): how many
    /// matched and how many were replayed (those that were dead).
    ///
    /// # Errors
    ///
    /// As [`list`](Self::list) and [`replay`](Self::replay); the events replayed before the
    /// error stay replayed. An event deleted meanwhile is skipped.
    fn replay_matching(
        &self,
        filter: &EventFilter,
        scope: ReplayScope,
    ) -> impl Future<Output = Result<ReplayReport, AdminError>> + Send {
        async move {
            let mut report = ReplayReport::default();
            let mut cursor = None;
            loop {
                let page = self.list(filter, cursor.as_ref(), PAGE).await?;
                for event in &page.events {
                    report.matched += 1;
                    match self.replay(event.id, scope).await {
                        Ok(ReplayOutcome::Replayed) => report.replayed += 1,
                        Ok(ReplayOutcome::NotDead(_)) | Err(AdminError::NotFound(_)) => {}
                        Err(error) => return Err(error),
                    }
                }
                match page.next {
                    Some(next) => cursor = Some(next),
                    None => return Ok(report),
                }
            }
        }
    }

    /// Deletes the events in `state` received more than `older_than` ago: how many.
    ///
    /// # Errors
    ///
    /// As [`list`](Self::list) and [`delete`](Self::delete).
    fn prune(
        &self,
        state: EventState,
        older_than: Duration,
    ) -> impl Future<Output = Result<u64, AdminError>> + Send {
        async move {
            let before = SystemTime::now()
                .checked_sub(older_than)
                .unwrap_or(SystemTime::UNIX_EPOCH);
            let filter = EventFilter::new().state(state).received_before(before);
            let mut deleted = 0u64;
            let mut cursor = None;
            loop {
                let page = self.list(&filter, cursor.as_ref(), PAGE).await?;
                for event in &page.events {
                    match self.delete(event.id).await {
                        Ok(()) => deleted += 1,
                        Err(AdminError::NotFound(_)) => {}
                        Err(error) => return Err(error),
                    }
                }
                match page.next {
                    Some(next) => cursor = Some(next),
                    None => return Ok(deleted),
                }
            }
        }
    }

    /// Prunes every state `retention` gives an age: how many events were deleted in all.
    ///
    /// # Errors
    ///
    /// As [`prune`](Self::prune).
    fn prune_by(
        &self,
        retention: &Retention,
    ) -> impl Future<Output = Result<u64, AdminError>> + Send {
        async move {
            let mut deleted = 0;
            for state in EventState::ALL {
                if let Some(age) = retention.for_state(state) {
                    deleted += self.prune(state, age).await?;
                }
            }
            Ok(deleted)
        }
    }
}

// ===== serde helpers =====

/// A `SystemTime` as an RFC 3339 string (UTC, milliseconds).
mod time {
    use std::time::SystemTime;

    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&DateTime::<Utc>::from(*t).to_rfc3339_opts(SecondsFormat::Millis, true))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SystemTime, D::Error> {
        let text = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&text)
            .map(SystemTime::from)
            .map_err(serde::de::Error::custom)
    }
}

/// An optional `SystemTime` as an RFC 3339 string or `null`.
mod opt_time {
    use std::time::SystemTime;

    use serde::{Deserialize, Deserializer, Serializer};

    #[allow(clippy::ref_option)] // serde's `with` passes `&Option<T>`
    pub(super) fn serialize<S: Serializer>(
        t: &Option<SystemTime>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => super::time::serialize(t, s),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<SystemTime>, D::Error> {
        #[derive(Deserialize)]
        struct Wrap(#[serde(with = "super::time")] SystemTime);
        Ok(Option::<Wrap>::deserialize(d)?.map(|Wrap(t)| t))
    }
}

/// A [`StoredId`] as its number.
mod stored_id {
    use serde::{Deserialize, Deserializer, Serializer};

    use super::StoredId;

    #[allow(clippy::trivially_copy_pass_by_ref)] // serde's `with` passes `&T`
    pub(super) fn serialize<S: Serializer>(id: &StoredId, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(id.get())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<StoredId, D::Error> {
        u64::deserialize(d).map(StoredId::new)
    }
}

/// The body as `body` (UTF-8 text) or `body_hex`.
mod body {
    use bytes::Bytes;
    use serde::ser::SerializeMap;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(body: &Bytes, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(1))?;
        match std::str::from_utf8(body) {
            Ok(text) => map.serialize_entry("body", text)?,
            Err(_) => map.serialize_entry("body_hex", &hex::encode(body))?,
        }
        map.end()
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Bytes, D::Error> {
        #[derive(Deserialize)]
        struct Body {
            body: Option<String>,
            body_hex: Option<String>,
        }
        match Body::deserialize(d)? {
            Body {
                body: Some(text), ..
            } => Ok(Bytes::from(text)),
            Body {
                body_hex: Some(hex),
                ..
            } => hex::decode(hex)
                .map(Bytes::from)
                .map_err(serde::de::Error::custom),
            _ => Err(serde::de::Error::missing_field("body")),
        }
    }
}
