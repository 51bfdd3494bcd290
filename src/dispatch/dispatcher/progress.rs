//! What a store that keeps events is told as their handlers run: the handlers done, the
//! retries to come (with when they are due), and the event's completion with its last job.

use std::time::Duration;

use super::super::failure::HandlerFailure;
use super::super::handler::Persisted;
use super::super::registry::Routes;
use super::deadline::system_due_in;
use crate::event::Event;

/// Records in the durable inbox what became of a stored event's job: the event is completed
/// when this was its last outstanding job and nothing is retried; otherwise the handlers done
/// and the retries to come are recorded, so that a restart runs only what is left.
pub(super) fn record_progress<E: Event>(
    routes: &Routes<E>,
    p: &Persisted,
    attempt: u32,
    done: &[usize],
    retries: &[(usize, Duration, HandlerFailure)],
) {
    use std::sync::atomic::Ordering;
    // One atomic step: this job ends, its retries begin.
    let left = match retries.len() {
        0 => p.outstanding.fetch_sub(1, Ordering::AcqRel) - 1,
        n => p.outstanding.fetch_add(n - 1, Ordering::AcqRel) + n - 1,
    };
    if left == 0 {
        p.entry.complete();
        return;
    }
    for &index in done {
        p.entry.complete_route(routes.route_id(index));
    }
    for (index, delay, _) in retries {
        p.entry.record_attempt(
            routes.route_id(*index),
            attempt,
            Some(system_due_in(*delay)),
        );
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;
    use std::sync::{Arc, Mutex};
    use std::time::SystemTime;

    use super::super::super::registry::Handlers;
    use super::super::deadline::MAX_WAIT;
    use super::*;

    #[derive(Debug, Clone)]
    struct Ping;

    impl Event for Ping {
        fn event_name(&self) -> &str {
            "ping"
        }
    }

    /// A store entry that keeps the due times of the retries recorded in it.
    #[derive(Debug)]
    struct DueTimes(Arc<Mutex<Vec<Option<SystemTime>>>>);

    impl crate::store::Entry for DueTimes {
        fn record_attempt(&self, _route: u32, _attempts: u32, next_at: Option<SystemTime>) {
            self.0.lock().unwrap().push(next_at);
        }
        fn complete_route(&self, _route: u32) {}
        fn complete(&self) {}
    }

    #[test]
    fn a_retry_recorded_past_the_clocks_range_is_due_at_the_longest_wait() {
        let routes = Handlers::<Ping>::new()
            .fallback(|_, _| async {})
            .into_routes();
        let due = Arc::new(Mutex::new(Vec::new()));
        let persisted = Persisted {
            entry: Box::new(DueTimes(Arc::clone(&due))),
            outstanding: AtomicUsize::new(1),
            replayed: false,
        };
        let failure = HandlerFailure::Timeout(Duration::from_secs(1));
        let before = SystemTime::now();
        record_progress(&routes, &persisted, 1, &[], &[(0, Duration::MAX, failure)]);
        let due = due.lock().unwrap()[0].expect("a due time");
        assert!(due >= before + MAX_WAIT && due <= SystemTime::now() + MAX_WAIT);
    }
}
