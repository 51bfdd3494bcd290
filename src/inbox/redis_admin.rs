//! The operator API of the [`RedisInbox`]: [`InboxAdmin`] over its stream, its handlers'
//! progress hashes and the dead events it keeps.
//!
//! | key | what |
//! |---|---|
//! | `<prefix>stream` | events not done (waiting, retrying); a replayed event has a `replay` field |
//! | `<prefix>state:<entry>` | its handlers' progress |
//! | `<prefix>deadev:<entry>` | a dead event: its record `r`, `replay`, `idx`, and per dead handler `l:<route>` |
//! | `<prefix>deadidx` | one entry per dead event (`entry`), in the order they died: the listing |
//! | `<prefix>dead` | every dead letter (capped), as before: for tools that read it |
//!
//! A dead event's [`StoredId`] is its stream entry's (`ms-seq` as `ms << 20 | seq`). A replay
//! is one script: it appends the event to the stream again (a new entry, with a `replay` field
//! naming the handlers to run and counting the replays) and removes the dead event, so any
//! replica's consumer runs it.

use std::time::SystemTime;

use redis::streams::StreamId;
use redis::{RedisResult, Value};

use super::error::InboxError;
use super::record::{self, KeptView, Letter, from_millis, to_millis};
use super::redis::{Inner, RedisInbox, event_id, parse_route};
use crate::store::{
    AdminError, Cursor, EventDetail, EventFilter, EventPage, EventState, EventSummary,
    HandlerState, InboxAdmin, ReplayOutcome, ReplayScope, RouteState, StoredId, StoredRequest,
};

/// The route of a dead letter for an event that had no handler.
pub(super) const NO_ROUTE: &str = "none";

/// Entries read, at most, for one page (a sparse filter answers a short page and a cursor).
const SCAN_PER_PAGE: usize = 10_000;

/// Replays dead event `KEYS[1]` (its hash): appends its record to stream `KEYS[3]` with a
/// `replay` field (`count:at_ms:routes`, routes `*` for every handler), removes its index entry
/// from `KEYS[2]` and the hash. `ARGV[1]` `1` for every handler, `ARGV[2]` now (ms). Returns
/// the new entry's id, or nil if the dead event is not there.
const REPLAY: &str = r"
local r = redis.call('HGET', KEYS[1], 'r')
if not r then return false end
local h = redis.call('HGETALL', KEYS[1])
local routes, all, count, idx = {}, ARGV[1] == '1', 0, nil
for i = 1, #h, 2 do
  local k = h[i]
  if string.sub(k, 1, 2) == 'l:' then
    local route = string.sub(k, 3)
    if route == 'none' then all = true else routes[#routes + 1] = route end
  elseif k == 'replay' then
    count = tonumber(string.match(h[i + 1], '^(%d+)')) or 0
  elseif k == 'idx' then
    idx = h[i + 1]
  end
end
local listed = '*'
if not all then listed = table.concat(routes, ',') end
local id = redis.call('XADD', KEYS[3], '*', 'r', r, 'replay', (count + 1) .. ':' .. ARGV[2] .. ':' .. listed)
if idx then redis.call('XDEL', KEYS[2], idx) end
redis.call('DEL', KEYS[1])
return id
";

/// Deletes event `ARGV[1]`: from stream `KEYS[1]` (with its group's pending entry, group
/// `ARGV[2]`, and its progress hash `KEYS[2]`), or as a dead event (hash `KEYS[3]`, index
/// `KEYS[4]`). Returns how many were deleted.
const DELETE: &str = r"
local n = redis.call('XDEL', KEYS[1], ARGV[1])
if n > 0 then
  redis.call('XACK', KEYS[1], ARGV[2], ARGV[1])
  redis.call('DEL', KEYS[2])
end
local idx = redis.call('HGET', KEYS[3], 'idx')
if idx then
  redis.call('XDEL', KEYS[4], idx)
  redis.call('DEL', KEYS[3])
  n = n + 1
end
return n
";

/// A dead letter's JSON, as the dead-event hash keeps it.
pub(super) fn letter_json(
    handler: Option<&str>,
    reason: &str,
    attempts: u32,
    error: Option<&str>,
) -> String {
    String::from_utf8(Letter::new(handler, reason, attempts, error).to_json()).unwrap_or_default()
}

/// The stream entry id of a [`StoredId`] (the inverse of `event_id`).
fn stream_id(id: StoredId) -> String {
    format!("{}-{}", id.get() >> 20, id.get() & 0xf_ffff)
}

/// An operator's replay, as a stream entry's `replay` field records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ReplayField {
    count: u32,
    at_ms: u64,
    /// The handlers to run; `None`: every handler.
    routes: Option<Vec<u32>>,
}

impl ReplayField {
    fn parse(text: &str) -> Option<Self> {
        let mut parts = text.splitn(3, ':');
        let count = parts.next()?.parse().ok()?;
        let at_ms = parts.next()?.parse().ok()?;
        let routes = match parts.next()? {
            "*" => None,
            "" => Some(Vec::new()),
            list => Some(
                list.split(',')
                    .map(str::parse)
                    .collect::<Result<_, _>>()
                    .ok()?,
            ),
        };
        Some(Self {
            count,
            at_ms,
            routes,
        })
    }

    /// The `replay` field of a stream entry, if it has one.
    pub(super) fn of(entry: &StreamId) -> Option<Self> {
        match entry.map.get("replay") {
            Some(Value::BulkString(bytes)) => Self::parse(std::str::from_utf8(bytes).ok()?),
            _ => None,
        }
    }

    /// The handlers the replayed event runs: only those listed, from their first attempt.
    pub(super) fn apply(&self, event: &mut StoredRequest) {
        if let Some(routes) = &self.routes {
            event.listed_only = true;
            event.routes = routes
                .iter()
                .map(|&r| RouteState::new(r, 0, None, false))
                .collect();
        }
    }

    fn record(&self, summary: &mut EventSummary) {
        summary.replays = self.count;
        summary.last_replayed_at = from_millis(self.at_ms);
    }
}

/// Puts the recorded handler states `states` over the event's (those a replay listed).
pub(super) fn merge_routes(event: &mut StoredRequest, states: Vec<RouteState>) {
    for state in states {
        match event.routes.iter_mut().find(|r| r.route == state.route) {
            Some(slot) => *slot = state,
            None => event.routes.push(state),
        }
    }
}

/// Which part of the inbox a cursor points into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    /// The stream (waiting and retrying events).
    Stream,
    /// The dead index.
    Dead,
}

fn parse_cursor(cursor: Option<&Cursor>) -> Result<Option<(Part, String)>, AdminError> {
    let Some(cursor) = cursor else {
        return Ok(None);
    };
    let invalid = || AdminError::InvalidCursor(cursor.to_string());
    let (part, id) = cursor.as_str().split_once(':').ok_or_else(invalid)?;
    let part = match part {
        "s" => Part::Stream,
        "d" => Part::Dead,
        _ => return Err(invalid()),
    };
    let valid = id
        .split_once('-')
        .is_some_and(|(ms, seq)| ms.parse::<u64>().is_ok() && seq.parse::<u64>().is_ok());
    if !valid {
        return Err(invalid());
    }
    Ok(Some((part, id.to_owned())))
}

fn cursor(part: Part, id: &str) -> Cursor {
    Cursor::new(format!(
        "{}:{id}",
        match part {
            Part::Stream => "s",
            Part::Dead => "d",
        }
    ))
}

/// A field of a Redis hash read as `HGETALL` pairs.
type Fields = Vec<(String, Vec<u8>)>;

fn field<'a>(fields: &'a Fields, name: &str) -> Option<&'a [u8]> {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_slice())
}

/// A live event (in the stream) or a dead one, as read back.
struct Read {
    request: StoredRequest,
    dead: bool,
    replay: Option<ReplayField>,
    letters: Vec<(Option<u32>, Letter)>,
}

impl Read {
    fn view(&self) -> KeptView<'_> {
        KeptView {
            request: &self.request,
            dead: self.dead,
        }
    }

    fn state(&self) -> EventState {
        self.view().state()
    }

    fn summary(&self) -> EventSummary {
        let mut summary = self
            .view()
            .summary(self.letters.iter().map(|(_, l)| l.attempts));
        if let Some(replay) = &self.replay {
            replay.record(&mut summary);
        }
        summary
    }

    fn detail(self) -> EventDetail {
        let summary = self.summary();
        // A dead event's letters say it all.
        let mut handlers: Vec<HandlerState> = if self.dead {
            Vec::new()
        } else {
            self.view().handlers()
        };
        for (route, letter) in self.letters {
            let mut state = HandlerState::new(route.unwrap_or(u32::MAX), 0);
            state.route = route;
            letter.mark(&mut state);
            handlers.push(state);
        }
        let request = self.request;
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

impl Inner {
    /// Live stream entries `entries` with their progress (one round trip for the hashes).
    async fn read_live(&self, entries: &[StreamId]) -> Result<Vec<Read>, InboxError> {
        let mut pipe = redis::pipe();
        for entry in entries {
            pipe.cmd("HGETALL").arg(self.keys.state(&entry.id));
        }
        let mut conn = self.conn.clone();
        let states: Vec<Vec<(String, String)>> = if entries.is_empty() {
            Vec::new()
        } else {
            pipe.query_async(&mut conn)
                .await
                .map_err(InboxError::storage)?
        };
        let mut out = Vec::with_capacity(entries.len());
        for (entry, state) in entries.iter().zip(states) {
            let Some(Value::BulkString(bytes)) = entry.map.get("r") else {
                continue;
            };
            let Ok(mut request) = record::decode(event_id(&entry.id), bytes) else {
                continue;
            };
            let replay = ReplayField::of(entry);
            if let Some(replay) = &replay {
                replay.apply(&mut request);
            }
            let routes = state
                .into_iter()
                .filter_map(|(route, value)| parse_route(route.parse().ok()?, &value))
                .collect();
            merge_routes(&mut request, routes);
            out.push(Read {
                request,
                dead: false,
                replay,
                letters: Vec::new(),
            });
        }
        Ok(out)
    }

    /// Dead event `entry` from its hash's fields.
    fn read_dead(entry: &str, fields: &Fields) -> Option<Read> {
        let request = record::decode(event_id(entry), field(fields, "r")?).ok()?;
        let replay = field(fields, "replay")
            .and_then(|v| std::str::from_utf8(v).ok())
            .and_then(ReplayField::parse);
        let mut letters = Vec::new();
        for (name, value) in fields {
            let Some(route) = name.strip_prefix("l:") else {
                continue;
            };
            let Ok(letter) = serde_json::from_slice::<Letter>(value) else {
                continue;
            };
            letters.push((route.parse().ok(), letter));
        }
        Some(Read {
            request,
            dead: true,
            replay,
            letters,
        })
    }

    /// Dead events named by index entries `index` (one round trip for their hashes).
    async fn read_dead_many(&self, index: &[StreamId]) -> Result<Vec<Read>, InboxError> {
        let names: Vec<String> = index
            .iter()
            .filter_map(|e| match e.map.get("entry") {
                Some(Value::BulkString(b)) => String::from_utf8(b.clone()).ok(),
                _ => None,
            })
            .collect();
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for name in &names {
            pipe.cmd("HGETALL").arg(self.keys.dead_event(name));
        }
        let mut conn = self.conn.clone();
        let all: Vec<Fields> = pipe
            .query_async(&mut conn)
            .await
            .map_err(InboxError::storage)?;
        Ok(names
            .iter()
            .zip(all)
            .filter_map(|(name, fields)| Self::read_dead(name, &fields))
            .collect())
    }

    /// Up to `count` entries of stream `key` after `after` (exclusive; from the start if none).
    async fn range(
        &self,
        key: &[u8],
        after: Option<&str>,
        count: usize,
    ) -> Result<Vec<StreamId>, InboxError> {
        let mut conn = self.conn.clone();
        let start = after.map_or_else(|| "-".to_owned(), |id| format!("({id}"));
        let reply: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
            .arg(key)
            .arg(start)
            .arg("+")
            .arg("COUNT")
            .arg(count)
            .query_async(&mut conn)
            .await
            .map_err(InboxError::storage)?;
        Ok(reply.ids)
    }

    async fn list(
        &self,
        filter: &EventFilter,
        mut at: Option<(Part, String)>,
        limit: usize,
    ) -> Result<EventPage, InboxError> {
        let wants_live = matches!(
            filter.state,
            None | Some(EventState::Waiting | EventState::Retrying)
        );
        let wants_dead = matches!(filter.state, None | Some(EventState::Dead));
        if at.is_none() {
            at = match (wants_live, wants_dead) {
                (true, _) => Some((Part::Stream, String::new())),
                (false, true) => Some((Part::Dead, String::new())),
                (false, false) => None,
            };
        }
        let mut out = Vec::new();
        let mut scanned = 0;
        while let Some((part, after)) = at.clone() {
            if out.len() >= limit || scanned >= SCAN_PER_PAGE {
                return Ok(EventPage::new(out, Some(cursor(part, &after))));
            }
            let after_id = (!after.is_empty()).then_some(after.as_str());
            let want = (limit - out.len()).clamp(1, 512);
            let (key, read) = match part {
                Part::Stream => (&self.keys.stream, None),
                Part::Dead => (&self.keys.dead_index, Some(())),
            };
            let entries = self.range(key, after_id, want).await?;
            scanned += entries.len();
            let Some(last) = entries.last().map(|e| e.id.clone()) else {
                // This part is done: the dead events follow the live ones.
                at = (part == Part::Stream && wants_dead).then(|| (Part::Dead, String::new()));
                continue;
            };
            let events = match read {
                None => self.read_live(&entries).await?,
                Some(()) => self.read_dead_many(&entries).await?,
            };
            out.extend(
                events
                    .iter()
                    .map(Read::summary)
                    .filter(|s| filter.matches(s)),
            );
            at = Some((part, last));
        }
        Ok(EventPage::new(out, None))
    }

    /// Event `id`, live or dead.
    async fn read_one(&self, id: StoredId) -> Result<Option<Read>, InboxError> {
        let entry = stream_id(id);
        let mut conn = self.conn.clone();
        let reply: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
            .arg(&self.keys.stream)
            .arg(&entry)
            .arg(&entry)
            .query_async(&mut conn)
            .await
            .map_err(InboxError::storage)?;
        if !reply.ids.is_empty() {
            return Ok(self.read_live(&reply.ids).await?.pop());
        }
        let fields: Fields = redis::cmd("HGETALL")
            .arg(self.keys.dead_event(&entry))
            .query_async(&mut conn)
            .await
            .map_err(InboxError::storage)?;
        Ok(Self::read_dead(&entry, &fields))
    }
}

/// The operator API on the Redis inbox: dead events are kept (`<prefix>deadev:<entry>`,
/// listed by `<prefix>deadidx`) until replayed, deleted or pruned; done events are deleted, so
/// a listing of [`EventState::Done`] is empty. A replay puts the event back on the stream,
/// where whichever replica's consumer takes it runs it (with no replica running, the first one
/// started does).
///
/// ```no_run
/// use webhook_receiver::store::{EventFilter, EventState, InboxAdmin, RedisInbox, ReplayScope};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), webhook_receiver::BoxError> {
/// let inbox = RedisInbox::builder("redis://127.0.0.1:6379").connect().await?;
/// let dead = EventFilter::new().state(EventState::Dead);
/// println!("{} dead events", inbox.count(&dead).await?);
/// let report = inbox.replay_matching(&dead, ReplayScope::Failed).await?;
/// println!("replayed {} of {}", report.replayed, report.matched);
/// # Ok(()) }
/// ```
impl InboxAdmin for RedisInbox {
    async fn list(
        &self,
        filter: &EventFilter,
        cursor: Option<&Cursor>,
        limit: usize,
    ) -> Result<EventPage, AdminError> {
        let at = parse_cursor(cursor)?;
        if filter.state == Some(EventState::Done) {
            return Ok(EventPage::default());
        }
        Ok(self.inner.list(filter, at, limit.max(1)).await?)
    }

    async fn inspect(&self, id: StoredId) -> Result<EventDetail, AdminError> {
        self.inner
            .read_one(id)
            .await?
            .map(Read::detail)
            .ok_or(AdminError::NotFound(id))
    }

    /// One script: the event goes back on the stream as a new entry (its `replay` field names
    /// the dead-lettered handlers, or every handler, and counts the replays) and its dead
    /// event is removed.
    async fn replay(&self, id: StoredId, scope: ReplayScope) -> Result<ReplayOutcome, AdminError> {
        let inner = &self.inner;
        let entry = stream_id(id);
        let mut conn = inner.conn.clone();
        let now = to_millis(SystemTime::now());
        let replayed: RedisResult<Option<String>> = redis::cmd("EVAL")
            .arg(REPLAY)
            .arg(3)
            .arg(inner.keys.dead_event(&entry))
            .arg(&inner.keys.dead_index)
            .arg(&inner.keys.stream)
            .arg(if scope == ReplayScope::All { "1" } else { "0" })
            .arg(now)
            .query_async(&mut conn)
            .await;
        match replayed.map_err(InboxError::storage)? {
            Some(_) => Ok(ReplayOutcome::Replayed),
            None => match inner.read_one(id).await? {
                Some(live) => Ok(ReplayOutcome::NotDead(live.state())),
                None => Err(AdminError::NotFound(id)),
            },
        }
    }

    async fn delete(&self, id: StoredId) -> Result<(), AdminError> {
        let inner = &self.inner;
        let entry = stream_id(id);
        let mut conn = inner.conn.clone();
        let deleted: u64 = redis::cmd("EVAL")
            .arg(DELETE)
            .arg(4)
            .arg(&inner.keys.stream)
            .arg(inner.keys.state(&entry))
            .arg(inner.keys.dead_event(&entry))
            .arg(&inner.keys.dead_index)
            .arg(&entry)
            .arg(&inner.group)
            .query_async(&mut conn)
            .await
            .map_err(InboxError::storage)?;
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
    fn stream_ids_round_trip() {
        for id in ["1700000000000-0", "1700000000000-7", "1-1048575"] {
            assert_eq!(stream_id(event_id(id)), id);
        }
    }

    #[test]
    fn replay_fields_parse() {
        assert_eq!(
            ReplayField::parse("2:1700:*"),
            Some(ReplayField {
                count: 2,
                at_ms: 1700,
                routes: None
            })
        );
        assert_eq!(
            ReplayField::parse("1:5:3,4").unwrap().routes,
            Some(vec![3, 4])
        );
        assert_eq!(ReplayField::parse("x:5:*"), None);
    }

    #[test]
    fn cursors_are_checked() {
        assert!(parse_cursor(Some(&Cursor::new("s:1-0"))).is_ok());
        assert!(matches!(
            parse_cursor(Some(&Cursor::new("zz"))),
            Err(AdminError::InvalidCursor(_))
        ));
        assert!(matches!(
            parse_cursor(Some(&Cursor::new("d:abc"))),
            Err(AdminError::InvalidCursor(_))
        ));
    }
}
