//! The seam every inbox implements ([`DurableInbox`](super::DurableInbox) on a redb file,
//! [`RedisInbox`](super::RedisInbox) on a Redis Stream): the receiver accepts through it before
//! the 200, the dispatcher records each handler's progress through an [`Entry`], and the events
//! an inbox hands back (left by an earlier run, or given to this replica by a consumer group)
//! come in through its feed and run as replays. One pipeline for both.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::SystemTime;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::error::InboxError;
use super::record::{NewEvent, StoredEvent};

/// A boxed, sendable future.
pub(crate) type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// What an accept did.
pub(crate) enum Accepted {
    /// Claimed and stored; this process dispatches it now and records its progress in the entry.
    #[cfg_attr(not(feature = "durable"), allow(dead_code))]
    Local(Box<dyn Entry>),
    /// Claimed and stored in a shared inbox; whichever replica's consumer takes it runs it.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    Shared,
    /// The key is remembered: a redelivery. Nothing was written.
    Duplicate,
}

impl fmt::Debug for Accepted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Local(entry) => f.debug_tuple("Local").field(entry).finish(),
            Self::Shared => f.write_str("Shared"),
            Self::Duplicate => f.write_str("Duplicate"),
        }
    }
}

/// One stored event, as the dispatcher sees it: where its handlers' progress is recorded.
///
/// Every method is bookkeeping: it must not block and may be lost in a crash, in which case the
/// event (or the handlers not recorded done) runs again: delivery is at least once.
pub(crate) trait Entry: Send + Sync + fmt::Debug + 'static {
    /// Handler `route` made `attempts` attempts and, if `next_at` is set, runs again then.
    fn record_attempt(&self, route: u32, attempts: u32, next_at: Option<SystemTime>);
    /// Handler `route` is done with the event (it succeeded or was dead-lettered).
    fn complete_route(&self, route: u32);
    /// Every handler is done: the event leaves the inbox (its dedup key stays until it expires).
    fn complete(&self);
    /// Handler `handler` (route `route`) will not handle the event (a dead letter), for an
    /// inbox that keeps dead letters itself. Called before `complete_route` or `complete`.
    fn dead_letter(&self, letter: &DeadLetterRecord<'_>) {
        let _ = letter;
    }
    /// The stored event no longer decodes (the format changed since it was accepted). The
    /// default leaves it stored, for an operator; an inbox shared by replicas moves it aside.
    fn undecodable(&self, error: &str) {
        let _ = error;
    }
}

/// A dead letter as an inbox may store it.
#[derive(Debug)]
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
pub(crate) struct DeadLetterRecord<'a> {
    /// The handler's label (none when the event had no handler at all).
    pub(crate) handler: Option<&'a str>,
    /// Why: [`DeadLetterReason::as_str`](crate::dispatch::DeadLetterReason::as_str).
    pub(crate) reason: &'static str,
    /// Attempts made.
    pub(crate) attempts: u32,
    /// The last attempt's error, if any.
    pub(crate) error: Option<String>,
}

/// An event an inbox hands to the dispatcher to run.
#[derive(Debug)]
pub(crate) struct Pending {
    /// The event as stored, with its handlers' progress.
    pub(crate) event: StoredEvent,
    /// Where to record what becomes of it.
    pub(crate) entry: Box<dyn Entry>,
    /// Handed back rather than just accepted: left by an earlier run, or taken over from a
    /// replica that stopped ([`EventContext::is_replay`](crate::dispatch::EventContext::is_replay)).
    pub(crate) replayed: bool,
}

/// An inbox: accepted events and their dedup claims stored together before the 200.
pub(crate) trait Inbox: Send + Sync + fmt::Debug + 'static {
    /// Claims `event.key` and stores the event in one atomic step, resolving once it is
    /// durable. If the caller drops the future, the step may still happen (at least once).
    fn accept(&self, event: NewEvent) -> BoxFuture<Result<Accepted, InboxError>>;

    /// Whether accepted events are run by whichever replica takes them ([`Accepted::Shared`]),
    /// rather than by the process that accepted them: the receiver then reserves no local
    /// queue slot, the inbox bounds its own backlog.
    fn is_shared(&self) -> bool;

    /// Starts handing over the events this process is to run: what an earlier run left, and,
    /// for a shared inbox, what its consumer takes, until `stop` is cancelled. The receiver
    /// takes one only when its dispatcher has room.
    fn feed(&self, stop: CancellationToken) -> mpsc::Receiver<Pending>;

    /// Resolves once the bookkeeping sent before it is durable (awaited at shutdown).
    fn flush(&self) -> BoxFuture<Result<(), InboxError>>;

    /// Where it is, for log lines (a directory, a Redis stream).
    fn location(&self) -> String;

    /// For [`Webhooks::inbox`](crate::Webhooks::inbox) and friends.
    fn as_any(&self) -> &dyn Any;
}
