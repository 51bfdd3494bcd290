//! The operator API of the [`DurableInbox`]: [`InboxAdmin`] over its redb tables, and the dead
//! letters it keeps.
//!
//! Reads run in a read transaction on a blocking thread, beside the committer; a replay and a
//! deletion are commands to the committer, each one durable write transaction. A replay the
//! committer applied is handed to the running receiver's feed, which runs it at once; when no
//! receiver has the inbox open (the command-line tool on a stopped receiver's file), the next
//! start runs it.

use std::collections::BTreeMap;

use redb::{ReadableDatabase, ReadableTable};
use tokio::sync::oneshot;

use super::committer::Command;
use super::durable::{DurableInbox, read_request};
use super::error::InboxError;
use super::record::{KeptView, Letter, from_millis};
use super::schema::{ADMIN, DEAD, EVENTS, ROUTES};
use crate::store::{
    AdminError, Cursor, DeadLetterRecord, EventDetail, EventFilter, EventPage, EventState,
    EventSummary, HandlerState, InboxAdmin, ReplayOutcome, ReplayScope, StoredId, StoredRequest,
};

/// The route key of a dead letter for an event that had no handler.
const NO_ROUTE: u32 = u32::MAX;

/// Rows looked at, at most, for one page (a sparse filter answers a short page and a cursor).
const SCAN_PER_PAGE: usize = 10_000;

/// An event's `event_admin` row.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct AdminRow {
    dead_at_ms: u64,
    pub(super) replays: u32,
    last_replay_ms: u64,
    listed_only: bool,
}

impl AdminRow {
    pub(super) fn read(
        table: &impl ReadableTable<u64, (u64, u32, u64, bool)>,
        id: StoredId,
    ) -> Result<Self, InboxError> {
        Ok(table
            .get(id.get())
            .map_err(InboxError::storage)?
            .map(|v| {
                let (dead_at_ms, replays, last_replay_ms, listed_only) = v.value();
                Self {
                    dead_at_ms,
                    replays,
                    last_replay_ms,
                    listed_only,
                }
            })
            .unwrap_or_default())
    }

    pub(super) const fn is_dead(&self) -> bool {
        self.dead_at_ms > 0
    }

    /// The request as the dispatcher is to run it (an operator's replay of dead letters runs
    /// only the listed handlers).
    pub(super) fn apply(&self, mut request: StoredRequest) -> StoredRequest {
        request.listed_only = self.listed_only;
        request
    }
}

/// The committer's command that keeps `letter` with event `id`.
pub(super) fn dead_letter_command(id: StoredId, letter: &DeadLetterRecord<'_>) -> Command {
    let kept = Letter::new(letter.handler, letter.reason, letter.attempts, letter.error);
    Command::DeadLetter {
        id,
        route: letter.route.unwrap_or(NO_ROUTE),
        letter: kept.to_json(),
    }
}

/// Everything kept of one event, read in one transaction.
struct Kept {
    request: StoredRequest,
    row: AdminRow,
    letters: BTreeMap<u32, Letter>,
}

impl Kept {
    fn view(&self) -> KeptView<'_> {
        KeptView {
            request: &self.request,
            dead: self.row.is_dead(),
        }
    }

    fn summary(&self) -> EventSummary {
        let mut summary = self
            .view()
            .summary(self.letters.values().map(|l| l.attempts));
        summary.replays = self.row.replays;
        summary.last_replayed_at = (self.row.last_replay_ms > 0)
            .then(|| from_millis(self.row.last_replay_ms))
            .flatten();
        summary
    }

    fn detail(self) -> EventDetail {
        let summary = self.summary();
        let mut handlers: Vec<HandlerState> = self.view().handlers();
        let Self {
            request, letters, ..
        } = self;
        for (route, letter) in letters {
            let state = match handlers.iter_mut().find(|h| h.route == Some(route)) {
                Some(state) => state,
                None => {
                    let mut state = HandlerState::new(route, letter.attempts);
                    state.route = (route != NO_ROUTE).then_some(route);
                    handlers.push(state);
                    handlers.last_mut().expect("pushed")
                }
            };
            letter.mark(state);
        }
        let mut detail = EventDetail::new(summary, request.body);
        detail.key = Some(request.key.to_string());
        detail.headers = request
            .headers
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect();
        detail.handlers = handlers;
        detail
    }
}

/// Reads event `id` (`bytes` its record) with its routes, admin row and dead letters.
fn read_kept(
    routes: &impl ReadableTable<(u64, u32), (u32, u64, bool)>,
    admin: &impl ReadableTable<u64, (u64, u32, u64, bool)>,
    dead: &impl ReadableTable<(u64, u32), &'static [u8]>,
    id: StoredId,
    bytes: &[u8],
) -> Result<Kept, InboxError> {
    let request = read_request(routes, id, bytes)?;
    let row = AdminRow::read(admin, id)?;
    let mut letters = BTreeMap::new();
    for entry in dead
        .range((id.get(), 0)..=(id.get(), u32::MAX))
        .map_err(InboxError::storage)?
    {
        let (k, v) = entry.map_err(InboxError::storage)?;
        let letter: Letter = serde_json::from_slice(v.value())
            .map_err(|_| InboxError::corrupt_event(id, "invalid dead letter"))?;
        letters.insert(k.value().1, letter);
    }
    Ok(Kept {
        request,
        row,
        letters,
    })
}

impl DurableInbox {
    /// One page of kept events matching `filter`, after id `after`.
    fn list_blocking(
        &self,
        filter: &EventFilter,
        after: u64,
        limit: usize,
    ) -> Result<EventPage, InboxError> {
        let mut out = Vec::new();
        if filter.state == Some(EventState::Done) {
            // Done events are deleted.
            return Ok(EventPage::new(out, None));
        }
        let db = self.read_db();
        let txn = db.begin_read().map_err(InboxError::storage)?;
        let events = txn.open_table(EVENTS).map_err(InboxError::storage)?;
        let routes = txn.open_table(ROUTES).map_err(InboxError::storage)?;
        let admin = txn.open_table(ADMIN).map_err(InboxError::storage)?;
        let dead = txn.open_table(DEAD).map_err(InboxError::storage)?;
        let mut last = None;
        let Some(start) = after.checked_add(1) else {
            return Ok(EventPage::new(out, None));
        };
        let rows = events.range(start..).map_err(InboxError::storage)?;
        for (scanned, entry) in rows.enumerate() {
            if out.len() >= limit || scanned >= SCAN_PER_PAGE {
                return Ok(EventPage::new(
                    out,
                    last.map(|id: u64| Cursor::new(id.to_string())),
                ));
            }
            let (id, bytes) = entry.map_err(InboxError::storage)?;
            let id = id.value();
            last = Some(id);
            let kept = read_kept(&routes, &admin, &dead, StoredId::new(id), bytes.value())?;
            let summary = kept.summary();
            if filter.matches(&summary) {
                out.push(summary);
            }
        }
        Ok(EventPage::new(out, None))
    }

    fn inspect_blocking(&self, id: StoredId) -> Result<Option<EventDetail>, InboxError> {
        let db = self.read_db();
        let txn = db.begin_read().map_err(InboxError::storage)?;
        let events = txn.open_table(EVENTS).map_err(InboxError::storage)?;
        let routes = txn.open_table(ROUTES).map_err(InboxError::storage)?;
        let admin = txn.open_table(ADMIN).map_err(InboxError::storage)?;
        let dead = txn.open_table(DEAD).map_err(InboxError::storage)?;
        let Some(bytes) = events.get(id.get()).map_err(InboxError::storage)? else {
            return Ok(None);
        };
        read_kept(&routes, &admin, &dead, id, bytes.value()).map(|kept| Some(kept.detail()))
    }

    /// Runs `read` on a blocking thread (redb reads block).
    async fn blocking<T: Send + 'static>(
        &self,
        read: impl FnOnce(&Self) -> Result<T, InboxError> + Send + 'static,
    ) -> Result<T, AdminError> {
        let inbox = self.clone();
        match tokio::task::spawn_blocking(move || read(&inbox)).await {
            Ok(result) => result.map_err(AdminError::from),
            Err(join) => Err(AdminError::Other(format!("the read failed: {join}"))),
        }
    }
}

/// The operator API on the redb file: dead letters are kept in it (with each handler's reason,
/// attempts and last error) until replayed, deleted or pruned; done events are deleted, so a
/// listing of [`EventState::Done`] is empty. A replay on a running receiver's inbox runs at
/// once; on a file no receiver has open (the `webhook-receiver` tool), at the next start.
///
/// ```
/// use webhook_receiver::store::{DurableInbox, EventFilter, EventState, InboxAdmin, StoredId};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), webhook_receiver::BoxError> {
/// # let dir = std::env::temp_dir().join(format!("wr-doc-{}-durable-admin", std::process::id()));
/// let inbox = DurableInbox::open(&dir)?;
/// let page = inbox.list(&EventFilter::new().state(EventState::Dead), None, 50).await?;
/// assert!(page.events.is_empty() && page.next.is_none());
/// assert!(inbox.inspect(StoredId::new(1)).await.is_err()); // not found
/// # drop(inbox); std::fs::remove_dir_all(&dir).ok();
/// # Ok(()) }
/// ```
impl InboxAdmin for DurableInbox {
    async fn list(
        &self,
        filter: &EventFilter,
        cursor: Option<&Cursor>,
        limit: usize,
    ) -> Result<EventPage, AdminError> {
        let after = match cursor {
            None => 0,
            Some(c) => c
                .as_str()
                .parse::<u64>()
                .map_err(|_| AdminError::InvalidCursor(c.to_string()))?,
        };
        let filter = filter.clone();
        let limit = limit.max(1);
        self.blocking(move |inbox| inbox.list_blocking(&filter, after, limit))
            .await
    }

    async fn inspect(&self, id: StoredId) -> Result<EventDetail, AdminError> {
        self.blocking(move |inbox| inbox.inspect_blocking(id))
            .await?
            .ok_or(AdminError::NotFound(id))
    }

    /// One durable write transaction: the dead letters' handlers are reset (to their first
    /// attempt), the others marked to be skipped ([`ReplayScope::Failed`]) or every handler's
    /// state cleared ([`ReplayScope::All`]); the dead letters are removed; the replay count
    /// and time recorded.
    async fn replay(&self, id: StoredId, scope: ReplayScope) -> Result<ReplayOutcome, AdminError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Replay {
            id,
            all: scope == ReplayScope::All,
            reply,
        })?;
        rx.await
            .map_err(|_| InboxError::Closed)??
            .ok_or(AdminError::NotFound(id))
    }

    async fn delete(&self, id: StoredId) -> Result<(), AdminError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Delete { id, reply })?;
        if rx.await.map_err(|_| InboxError::Closed)?? {
            Ok(())
        } else {
            Err(AdminError::NotFound(id))
        }
    }
}
