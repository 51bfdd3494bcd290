//! Replay: an event a store hands back (left by an earlier run, or taken from a shared
//! store) is queued again, with the handlers it had not finished; its bytes count against the
//! budget but it is not refused, and a waiting retry waits for the rest of its backoff.

use std::sync::Arc;
use std::time::SystemTime;

use tokio::time::Instant;

use super::super::handler::{Job, Meta, Persisted, Target};
use super::handle::Dispatcher;
use crate::event::{Event, Received};

impl<E: Event> Dispatcher<E> {
    /// Queues an event an inbox handed back (left by an earlier run, or taken from a shared
    /// inbox), decoded again as `item`: the handlers it had not finished run (a waiting retry
    /// when it is due, with its attempt number); the capacity is not checked, the event was
    /// accepted already.
    pub(crate) fn replay(
        &self,
        stored: &crate::store::StoredRequest,
        entry: Box<dyn crate::store::Entry>,
        replayed: bool,
        item: Received<E>,
        id: Option<Box<str>>,
    ) {
        let shared = self.shared();
        let mut meta = Meta::new(item.event_name(), stored.key, id, stored.received_at);
        // Set by the receiver when it was verified per tenant (and stripped otherwise).
        meta.tenant = stored
            .headers
            .get(crate::verify::TENANT_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(crate::verify::Tenant::from);
        // Its body counts against the byte budget, as a new event's does; it is not refused (it
        // was accepted before this start), so new requests wait until the replay has drained.
        let bytes = Arc::new(shared.bytes.reserve_over(stored.body.len()));
        let mut jobs: Vec<(Job<E>, Option<SystemTime>)> = Vec::new();
        if stored.routes.is_empty() && !stored.listed_only {
            jobs.push((
                Job::first(
                    item,
                    Arc::new(Meta::new("", stored.key, None, stored.received_at)),
                    Arc::clone(&bytes),
                ),
                None,
            ));
        } else {
            for index in shared.routes.indices(&item) {
                let state = stored
                    .routes
                    .iter()
                    .find(|r| r.route == shared.routes.route_id(index));
                let (attempt, due) = match state {
                    Some(state) if state.done => continue,
                    Some(state) => (state.attempts + 1, state.next_at),
                    // An operator's replay of dead letters: only the listed handlers run.
                    None if stored.listed_only => continue,
                    None => (1, None),
                };
                let job = Job {
                    item: item.clone(),
                    meta: Arc::new(Meta::new("", stored.key, None, stored.received_at)),
                    bytes: Arc::clone(&bytes),
                    target: Target::Route(index),
                    attempt,
                    last_error: None,
                    ready_at: Instant::now(),
                };
                jobs.push((job, due));
            }
        }
        if jobs.is_empty() {
            if stored.listed_only && stored.routes.iter().any(|r| !r.done) {
                tracing::warn!(
                    key = %stored.key,
                    routes = ?stored.routes.iter().filter(|r| !r.done).map(|r| r.route).collect::<Vec<_>>(),
                    "a replayed event's handlers to run are not registered any more (renamed or removed?): nothing ran, and the event is done"
                );
            }
            entry.complete();
            return;
        }
        meta.persisted = Some(Persisted {
            entry,
            outstanding: std::sync::atomic::AtomicUsize::new(jobs.len()),
            replayed,
        });
        let meta = Arc::new(meta);
        let now = SystemTime::now();
        for (mut job, due) in jobs {
            job.meta = Arc::clone(&meta);
            match due.and_then(|due| due.duration_since(now).ok()) {
                Some(wait) if !wait.is_zero() => shared.delay(job, wait),
                _ => shared.submit(job, false),
            }
        }
    }
}
