//! [`Entry`]: where the dispatcher records what becomes of one kept event.

use std::fmt;
use std::time::SystemTime;

/// One event kept by a store, as the dispatcher sees it: where its handlers' progress is
/// recorded. A store that keeps events returns one with [`Accepted::New`](super::Accepted::New)
/// and with every [`Pending`](super::Pending) it hands back.
///
/// Handlers are numbered by route (`route`: stable across restarts for the same registration
/// order). Every method is bookkeeping: it must not block, and may be lost in a crash, in which
/// case the event (or the handlers not recorded done) runs again: delivery is at least once.
///
/// An entry dropped before [`complete`](Self::complete) was called belongs to an event that is
/// not done (left at a drain deadline, or at shutdown): the store keeps it for the next start
/// or another replica.
///
/// ```
/// use std::sync::Mutex;
/// use std::time::SystemTime;
/// use webhook_receiver::store::Entry;
///
/// /// Prints what happens, for a test.
/// #[derive(Debug, Default)]
/// struct Log(Mutex<Vec<String>>);
///
/// impl Entry for Log {
///     fn record_attempt(&self, route: u32, attempts: u32, next_at: Option<SystemTime>) {
///         self.0.lock().unwrap().push(format!("route {route}: {attempts} attempt(s)"));
///     }
///     fn complete_route(&self, route: u32) {
///         self.0.lock().unwrap().push(format!("route {route} done"));
///     }
///     fn complete(&self) {
///         self.0.lock().unwrap().push("done".into());
///     }
/// }
///
/// let log = Log::default();
/// log.record_attempt(0, 1, None);
/// log.complete();
/// assert_eq!(log.0.lock().unwrap().len(), 2);
/// ```
pub trait Entry: Send + Sync + fmt::Debug + 'static {
    /// Handler `route` made `attempts` attempts and, if `next_at` is set, runs again then.
    fn record_attempt(&self, route: u32, attempts: u32, next_at: Option<SystemTime>);

    /// Handler `route` is done with the event (it succeeded or was dead-lettered), while others
    /// are not yet.
    fn complete_route(&self, route: u32);

    /// Every handler is done: the event leaves the store's backlog (its dedup key stays until
    /// it expires). Called once.
    fn complete(&self);

    /// A handler will not handle the event (a dead letter), for a store that keeps dead
    /// letters. Called before [`complete_route`](Self::complete_route) or
    /// [`complete`](Self::complete). Default: nothing (the dead-letter hook still sees it).
    ///
    /// A store that implements the operator API ([`InboxAdmin`](super::InboxAdmin)) keeps the
    /// letter (its [`route`](DeadLetterRecord::route), reason, attempts and error) and, at
    /// [`complete`](Self::complete), keeps the event as dead instead of deleting it; it does not
    /// hand it back through [`Store::feed`](super::Store::feed) until an operator replays it
    /// (`store::conformance::check_dead_letters` checks this).
    fn dead_letter(&self, letter: &DeadLetterRecord<'_>) {
        let _ = letter;
    }

    /// The kept event no longer decodes (the format changed since it was accepted), with the
    /// decoder's error. Default: nothing (it stays kept, for an operator); a shared store moves
    /// it aside so that no replica takes it again.
    fn undecodable(&self, error: &str) {
        let _ = error;
    }
}

/// A dead letter as a store may keep it: [`Entry::dead_letter`].
///
/// ```
/// use webhook_receiver::store::DeadLetterRecord;
/// fn line(letter: &DeadLetterRecord<'_>) -> String {
///     format!("{} after {} attempt(s): {}", letter.reason, letter.attempts, letter.error.unwrap_or("-"))
/// }
/// ```
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct DeadLetterRecord<'a> {
    /// The handler's label (none when the event had no handler at all).
    pub handler: Option<&'a str>,
    /// The handler's route, as [`Entry`] numbers them (none when the event had no handler at
    /// all): a store that keeps dead letters replays that route.
    pub route: Option<u32>,
    /// Why: [`DeadLetterReason::as_str`](crate::dispatch::DeadLetterReason::as_str).
    pub reason: &'static str,
    /// Attempts made.
    pub attempts: u32,
    /// The last attempt's error, if any.
    pub error: Option<&'a str>,
}

impl<'a> DeadLetterRecord<'a> {
    pub(crate) const fn new(
        handler: Option<&'a str>,
        route: Option<u32>,
        reason: &'static str,
        attempts: u32,
        error: Option<&'a str>,
    ) -> Self {
        Self {
            handler,
            route,
            reason,
            attempts,
            error,
        }
    }
}
