//! The operator API of the [`PostgresInbox`]: [`InboxAdmin`] over its tables.
//!
//! A live event (waiting or retrying) is a row of `events`, with its handlers' progress in
//! `routes`. A dead event is the group of `dead_letters` rows of one `event_id` whose event is
//! no longer in `events` (every handler finished, one or more by giving up); its [`StoredId`]
//! stays the event's id. An event with a dead-lettered handler and another still retrying is
//! live until that one finishes. A replay is one transaction: the event goes back into
//! `events` under its own id (`OVERRIDING SYSTEM VALUE`), with `leases = 1` (a replay),
//! `replays` counted and timed and, unless every handler is to run, `listed_only` and a fresh
//! `routes` row per dead-lettered handler; its dead letters are deleted. The insert's trigger
//! notifies every replica, and whichever claims it runs it.

use std::time::SystemTime;

use bytes::Bytes;
use sqlx::Row;
use sqlx::postgres::PgRow;

use super::accept::decode_headers;
use super::{PostgresInbox, route_from_db};
use crate::dedup::DedupKey;
use crate::inbox::error::InboxError;
use crate::inbox::record::from_millis;
use crate::store::{
    AdminError, Cursor, EventDetail, EventFilter, EventPage, EventState, EventSummary,
    HandlerState, InboxAdmin, ReplayOutcome, ReplayScope, StoredId, event_type_of,
};

/// Rows read, at most, for one page (a sparse filter answers a short page and a cursor).
const SCAN_PER_PAGE: usize = 10_000;

/// Rows read per statement while listing.
const SCAN_BATCH: i64 = 512;

/// Milliseconds since the epoch of a `timestamptz` expression, as `int8`.
fn ms(expr: &str) -> String {
    format!("(extract(epoch FROM {expr}) * 1000)::int8")
}

/// The listing's statement: live events (if `$3`) and dead events (if `$4`) with an id after
/// `$1`, `$2` at most, by id. Columns: id, dead, body, received (ms), attempts, retrying,
/// replays, last replayed (ms or NULL).
fn list_sql(schema: &str) -> String {
    format!(
        "SELECT * FROM (
            SELECT e.id, false AS dead, e.body, {received} AS received_ms,
                coalesce((SELECT max(r.attempts) FROM {s}.routes r WHERE r.event_id = e.id), 0)
                    AS attempts,
                EXISTS (SELECT 1 FROM {s}.routes r
                    WHERE r.event_id = e.id AND r.attempts > 0 AND NOT r.done) AS retrying,
                e.replays, {replayed} AS replayed_ms
            FROM {s}.events e WHERE $3 AND e.id > $1
            UNION ALL
            SELECT d.event_id, true, (array_agg(d.body))[1], {d_received},
                max(d.attempts), false, max(d.replays), {d_replayed}
            FROM {s}.dead_letters d
            WHERE $4 AND d.event_id > $1
              AND NOT EXISTS (SELECT 1 FROM {s}.events e WHERE e.id = d.event_id)
            GROUP BY d.event_id
        ) t ORDER BY 1 LIMIT $2",
        s = format_args!("\"{schema}\""),
        received = ms("e.received_at"),
        replayed = ms("e.last_replayed_at"),
        d_received = ms("min(d.received_at)"),
        d_replayed = ms("max(d.last_replayed_at)"),
    )
}

fn storage(error: sqlx::Error) -> AdminError {
    AdminError::Store(InboxError::storage(error))
}

fn time(ms: Option<i64>) -> Option<SystemTime> {
    from_millis(u64::try_from(ms?).ok()?)
}

fn count(n: i32) -> u32 {
    u32::try_from(n).unwrap_or_default()
}

/// A row of the listing's statement.
fn summary(row: &PgRow) -> Result<EventSummary, sqlx::Error> {
    let id: i64 = row.try_get(0)?;
    let dead: bool = row.try_get(1)?;
    let body: Vec<u8> = row.try_get(2)?;
    let received: i64 = row.try_get(3)?;
    let retrying: bool = row.try_get(5)?;
    let state = if dead {
        EventState::Dead
    } else if retrying {
        EventState::Retrying
    } else {
        EventState::Waiting
    };
    let mut summary = EventSummary::new(
        StoredId::new(u64::try_from(id).unwrap_or_default()),
        state,
        time(Some(received)).unwrap_or(SystemTime::UNIX_EPOCH),
    );
    summary.event_type = event_type_of(&body);
    summary.attempts = count(row.try_get(4)?);
    summary.replays = count(row.try_get(6)?);
    summary.last_replayed_at = time(row.try_get(7)?);
    Ok(summary)
}

fn parse_cursor(cursor: Option<&Cursor>) -> Result<i64, AdminError> {
    cursor.map_or(Ok(0), |c| {
        c.as_str()
            .parse::<i64>()
            .ok()
            .filter(|id| *id >= 0)
            .ok_or_else(|| AdminError::InvalidCursor(c.to_string()))
    })
}

fn db_id(id: StoredId) -> Result<i64, AdminError> {
    i64::try_from(id.get()).map_err(|_| AdminError::NotFound(id))
}

impl PostgresInbox {
    fn sql(&self, sql: &str) -> String {
        sql.replace("{s}", &format!("\"{}\"", self.schema()))
    }

    /// The state of live event `id`, if it is in `events`.
    async fn live_state(&self, id: i64) -> Result<Option<EventState>, AdminError> {
        let row = sqlx::query(&self.sql(
            "SELECT EXISTS (SELECT 1 FROM {s}.routes r
                WHERE r.event_id = e.id AND r.attempts > 0 AND NOT r.done)
             FROM {s}.events e WHERE e.id = $1",
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await
        .map_err(storage)?;
        Ok(row.map(|row| {
            if row.try_get(0).unwrap_or(false) {
                EventState::Retrying
            } else {
                EventState::Waiting
            }
        }))
    }
}

/// The operator API on the Postgres inbox: dead events are kept as rows of `dead_letters`
/// until replayed, deleted or pruned; done events are deleted, so a listing of
/// [`EventState::Done`] is empty. A replay puts the event back into `events`, where whichever
/// replica claims it runs it (with no replica running, the first one started does). The
/// cursor is the last event id listed.
///
/// ```no_run
/// use webhook_receiver::store::{EventFilter, EventState, InboxAdmin, PostgresInbox, ReplayScope};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), webhook_receiver::BoxError> {
/// let pool = sqlx::PgPool::connect("postgres://app@127.0.0.1/app").await?;
/// let inbox = PostgresInbox::builder(pool).connect().await?;
/// let dead = EventFilter::new().state(EventState::Dead);
/// println!("{} dead events", inbox.count(&dead).await?);
/// let report = inbox.replay_matching(&dead, ReplayScope::Failed).await?;
/// println!("replayed {} of {}", report.replayed, report.matched);
/// # Ok(()) }
/// ```
impl InboxAdmin for PostgresInbox {
    async fn list(
        &self,
        filter: &EventFilter,
        cursor: Option<&Cursor>,
        limit: usize,
    ) -> Result<EventPage, AdminError> {
        let mut after = parse_cursor(cursor)?;
        let limit = limit.max(1);
        let wants_live = matches!(
            filter.state,
            None | Some(EventState::Waiting | EventState::Retrying)
        );
        let wants_dead = matches!(filter.state, None | Some(EventState::Dead));
        if !wants_live && !wants_dead {
            return Ok(EventPage::default());
        }
        let sql = list_sql(self.schema());
        let mut out = Vec::new();
        let mut scanned = 0;
        loop {
            if out.len() >= limit || scanned >= SCAN_PER_PAGE {
                return Ok(EventPage::new(out, Some(Cursor::new(after.to_string()))));
            }
            let want = i64::try_from(limit - out.len())
                .unwrap_or(SCAN_BATCH)
                .clamp(1, SCAN_BATCH);
            let rows = sqlx::query(&sql)
                .bind(after)
                .bind(want)
                .bind(wants_live)
                .bind(wants_dead)
                .fetch_all(self.pool())
                .await
                .map_err(storage)?;
            scanned += rows.len();
            let Some(last) = rows.last() else {
                return Ok(EventPage::new(out, None));
            };
            after = last.try_get(0).map_err(storage)?;
            for row in &rows {
                let summary = summary(row).map_err(storage)?;
                if filter.matches(&summary) {
                    out.push(summary);
                }
            }
        }
    }

    async fn inspect(&self, id: StoredId) -> Result<EventDetail, AdminError> {
        let db = db_id(id)?;
        let pool = self.pool();
        let live = sqlx::query(&self.sql(&format!(
            "SELECT key, body, headers, {}, replays, {} FROM {{s}}.events WHERE id = $1",
            ms("received_at"),
            ms("last_replayed_at")
        )))
        .bind(db)
        .fetch_optional(pool)
        .await
        .map_err(storage)?;
        let letters = sqlx::query(&self.sql(&format!(
            "SELECT key, body, headers, {}, replays, {}, route, handler, reason, attempts, error
             FROM {{s}}.dead_letters WHERE event_id = $1 ORDER BY id",
            ms("received_at"),
            ms("last_replayed_at")
        )))
        .bind(db)
        .fetch_all(pool)
        .await
        .map_err(storage)?;
        let mut handlers = Vec::new();
        let (row, event_state) = match &live {
            Some(row) => {
                let routes = sqlx::query(&self.sql(&format!(
                    "SELECT route, attempts, {}, done FROM {{s}}.routes
                     WHERE event_id = $1 ORDER BY route",
                    ms("next_at")
                )))
                .bind(db)
                .fetch_all(pool)
                .await
                .map_err(storage)?;
                let mut retrying = false;
                for route in &routes {
                    let number: i32 = route.try_get(0).map_err(storage)?;
                    let mut state = HandlerState::new(
                        route_from_db(number),
                        count(route.try_get(1).map_err(storage)?),
                    );
                    state.next_at = time(route.try_get(2).map_err(storage)?);
                    state.done = route.try_get(3).map_err(storage)?;
                    retrying |= state.attempts > 0 && !state.done;
                    handlers.push(state);
                }
                let state = if retrying {
                    EventState::Retrying
                } else {
                    EventState::Waiting
                };
                (row, state)
            }
            None => match letters.first() {
                Some(row) => (row, EventState::Dead),
                None => return Err(AdminError::NotFound(id)),
            },
        };
        let mut attempts = handlers.iter().map(|h| h.attempts).max().unwrap_or(0);
        let (mut replays, mut replayed) = (
            count(row.try_get(4).map_err(storage)?),
            time(row.try_get(5).map_err(storage)?),
        );
        for letter in &letters {
            let route: Option<i32> = letter.try_get(6).map_err(storage)?;
            let handler: String = letter.try_get(7).map_err(storage)?;
            let error: String = letter.try_get(10).map_err(storage)?;
            let mut state = HandlerState::new(
                route.map_or(u32::MAX, route_from_db),
                count(letter.try_get(9).map_err(storage)?),
            );
            state.route = route.map(route_from_db);
            state.handler = (!handler.is_empty()).then_some(handler);
            state.reason = Some(letter.try_get(8).map_err(storage)?);
            state.last_error = (!error.is_empty()).then_some(error);
            state.done = true;
            state.dead = true;
            attempts = attempts.max(state.attempts);
            if event_state == EventState::Dead {
                replays = replays.max(count(letter.try_get(4).map_err(storage)?));
                replayed = replayed.max(time(letter.try_get(5).map_err(storage)?));
            }
            // A live event's dead handler: its letter stands for its progress row.
            handlers.retain(|h| h.dead || state.route.is_none() || h.route != state.route);
            handlers.push(state);
        }
        let key: Vec<u8> = row.try_get(0).map_err(storage)?;
        let body: Vec<u8> = row.try_get(1).map_err(storage)?;
        let headers: Vec<u8> = row.try_get(2).map_err(storage)?;
        let received: i64 = row.try_get(3).map_err(storage)?;
        let mut summary = EventSummary::new(
            id,
            event_state,
            time(Some(received)).unwrap_or(SystemTime::UNIX_EPOCH),
        );
        summary.event_type = event_type_of(&body);
        summary.attempts = attempts;
        summary.replays = replays;
        summary.last_replayed_at = replayed;
        let mut detail = EventDetail::new(summary, Bytes::from(body));
        detail.key = <[u8; 16]>::try_from(key.as_slice())
            .ok()
            .map(|k| DedupKey::from_bytes(k).to_string());
        detail.headers = decode_headers(&headers)
            .unwrap_or_default()
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect();
        detail.handlers = handlers;
        Ok(detail)
    }

    /// One transaction: the dead letters are locked and deleted, the event goes back into
    /// `events` under its id (counted and timed as a replay) with, unless every handler is to
    /// run, a fresh `routes` row per dead-lettered handler and `listed_only`.
    async fn replay(&self, id: StoredId, scope: ReplayScope) -> Result<ReplayOutcome, AdminError> {
        let db = db_id(id)?;
        let mut tx = self.pool().begin().await.map_err(storage)?;
        let letters = sqlx::query(
            &self.sql("SELECT route, replays FROM {s}.dead_letters WHERE event_id = $1 FOR UPDATE"),
        )
        .bind(db)
        .fetch_all(&mut *tx)
        .await
        .map_err(storage)?;
        let live = self.live_state(db).await?;
        if letters.is_empty() || live.is_some() {
            drop(tx);
            return match live {
                Some(state) => Ok(ReplayOutcome::NotDead(state)),
                None => Err(AdminError::NotFound(id)),
            };
        }
        let mut routes = Vec::new();
        let mut all = scope == ReplayScope::All;
        let mut replays = 0;
        for letter in &letters {
            let route: Option<i32> = letter.try_get(0).map_err(storage)?;
            replays = replays.max(letter.try_get::<i32, _>(1).map_err(storage)?);
            match route {
                Some(route) => routes.push(route),
                // No handler (or undecodable): every handler runs.
                None => all = true,
            }
        }
        let inserted = sqlx::query(&self.sql(
            "INSERT INTO {s}.events (id, key, body, headers, received_at, leases, replays,
                 last_replayed_at, listed_only)
             OVERRIDING SYSTEM VALUE
             SELECT event_id, key, body, headers, received_at, 1, $2, now(), $3
             FROM {s}.dead_letters WHERE event_id = $1 ORDER BY id LIMIT 1",
        ))
        .bind(db)
        .bind(replays.saturating_add(1))
        .bind(!all)
        .execute(&mut *tx)
        .await
        .map_err(storage)?;
        if inserted.rows_affected() != 1 {
            return Err(AdminError::NotFound(id));
        }
        sqlx::query(&self.sql("DELETE FROM {s}.routes WHERE event_id = $1"))
            .bind(db)
            .execute(&mut *tx)
            .await
            .map_err(storage)?;
        if !all {
            sqlx::query(&self.sql(
                "INSERT INTO {s}.routes (event_id, route, attempts, next_at, done)
                 SELECT DISTINCT $1::int8, r, 0, NULL::timestamptz, false FROM unnest($2::int4[]) r",
            ))
            .bind(db)
            .bind(&routes)
            .execute(&mut *tx)
            .await
            .map_err(storage)?;
        }
        sqlx::query(&self.sql("DELETE FROM {s}.dead_letters WHERE event_id = $1"))
            .bind(db)
            .execute(&mut *tx)
            .await
            .map_err(storage)?;
        tx.commit().await.map_err(storage)?;
        Ok(ReplayOutcome::Replayed)
    }

    /// One transaction: its row of `events`, its `routes` and its dead letters. A replica
    /// running it drops its bookkeeping (it no longer holds it).
    async fn delete(&self, id: StoredId) -> Result<(), AdminError> {
        let db = db_id(id)?;
        let mut tx = self.pool().begin().await.map_err(storage)?;
        let mut deleted = 0;
        for table in [
            "events WHERE id",
            "routes WHERE event_id",
            "dead_letters WHERE event_id",
        ] {
            let n = sqlx::query(&self.sql(&format!("DELETE FROM {{s}}.{table} = $1")))
                .bind(db)
                .execute(&mut *tx)
                .await
                .map_err(storage)?
                .rows_affected();
            if !table.starts_with("routes") {
                deleted += n;
            }
        }
        tx.commit().await.map_err(storage)?;
        if deleted > 0 {
            Ok(())
        } else {
            Err(AdminError::NotFound(id))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_are_checked() {
        assert_eq!(parse_cursor(None).unwrap(), 0);
        assert_eq!(parse_cursor(Some(&Cursor::new("42"))).unwrap(), 42);
        for bad in ["", "-1", "s:1-0", "x"] {
            assert!(matches!(
                parse_cursor(Some(&Cursor::new(bad))),
                Err(AdminError::InvalidCursor(_))
            ));
        }
    }
}
