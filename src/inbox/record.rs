//! What the inbox stores for one event, and the byte encoding of an event record.
//!
//! An event record (the value of the events table) is written by hand, version byte first, so
//! that its layout is this crate's and not a serialization library's:
//!
//! ```text
//! v1: version = 1 (u8) | dedup key (16 bytes) | received_at (u64 LE, ms since the Unix epoch)
//!     | header count (u32 LE) | per header: name length (u32 LE), name, value length (u32 LE), value
//!     | body length (u32 LE) | body
//! ```
//!
//! Decoding checks every length against what is left and rejects trailing bytes, so a damaged
//! record is an [`InboxError::Corrupt`], never a panic or a silently short body.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};

use super::error::InboxError;
use crate::dedup::DedupKey;
use crate::store::{RouteState, StoredId, StoredRequest};

/// The layout version written in the first byte of every event record.
const RECORD_VERSION: u8 = 1;

/// The largest value redb stores (3 GiB).
const MAX_RECORD_LEN: usize = 3 * 1024 * 1024 * 1024;

/// An event to accept: what the receiver had in hand before answering 200.
#[cfg_attr(not(test), allow(dead_code))]
#[derive(Debug, Clone)]
pub(crate) struct NewEvent {
    /// The event's dedup key.
    pub(crate) key: DedupKey,
    /// The raw body, exactly as received.
    pub(crate) body: Bytes,
    /// The headers to keep. Pass only non-credential headers; values marked
    /// [sensitive](HeaderValue::is_sensitive) are dropped anyway.
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
    /// When the request was received (stored with millisecond precision).
    pub(crate) received_at: SystemTime,
}

impl NewEvent {
    /// What a store keeps of an incoming event: its key, body, receive time, and the headers
    /// that are not credentials ([`Incoming::kept_headers`](crate::store::Incoming::kept_headers)).
    pub(crate) fn from_incoming(event: &crate::store::Incoming<'_>) -> Self {
        Self {
            key: event.key(),
            body: event.body().clone(),
            headers: event
                .kept_headers()
                .map(|(name, value)| (name.clone(), value.clone()))
                .collect(),
            received_at: event.received(),
        }
    }
}

// ===== time =====

/// Milliseconds since the Unix epoch; times before it are 0.
pub(crate) fn to_millis(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The time `ms` milliseconds after the Unix epoch, if the platform can represent it.
pub(crate) fn from_millis(ms: u64) -> Option<SystemTime> {
    UNIX_EPOCH.checked_add(Duration::from_millis(ms))
}

/// `next_at` as stored in the route table: 0 for none, else at least 1 ms.
pub(crate) fn next_at_to_millis(next_at: Option<SystemTime>) -> u64 {
    next_at.map_or(0, |t| to_millis(t).max(1))
}

/// A route state from its table row: `(attempts, next_at ms or 0, done)`.
#[cfg_attr(not(feature = "durable"), allow(dead_code))]
pub(crate) fn route_from_row(
    id: StoredId,
    route: u32,
    (attempts, next_at_ms, done): (u32, u64, bool),
) -> Result<RouteState, InboxError> {
    let next_at = match next_at_ms {
        0 => None,
        ms => Some(
            from_millis(ms)
                .ok_or_else(|| InboxError::corrupt_event(id, "route retry time out of range"))?,
        ),
    };
    Ok(RouteState::new(route, attempts, next_at, done))
}

// ===== dead letters kept for operators =====

/// A dead letter as an inbox keeps it for operators (JSON, in the durable inbox's
/// `dead_letters` table and the Redis inbox's dead-event hash).
#[cfg_attr(not(any(feature = "durable", feature = "redis")), allow(dead_code))]
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct Letter {
    pub(crate) handler: Option<String>,
    pub(crate) reason: String,
    pub(crate) attempts: u32,
    pub(crate) error: Option<String>,
    pub(crate) at_ms: u64,
}

#[cfg_attr(not(any(feature = "durable", feature = "redis")), allow(dead_code))]
impl Letter {
    /// The letter of a handler's dead letter, written now.
    pub(crate) fn new(
        handler: Option<&str>,
        reason: &str,
        attempts: u32,
        error: Option<&str>,
    ) -> Self {
        Self {
            handler: handler.filter(|h| !h.is_empty()).map(str::to_owned),
            reason: reason.to_owned(),
            attempts,
            error: error.map(str::to_owned),
            at_ms: to_millis(SystemTime::now()),
        }
    }

    /// Its JSON (a struct of strings and numbers: cannot fail).
    pub(crate) fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Records it in the state of the handler it dead-lettered.
    pub(crate) fn mark(self, state: &mut crate::store::HandlerState) {
        state.attempts = state.attempts.max(self.attempts);
        state.done = true;
        state.dead = true;
        state.handler = self.handler;
        state.reason = Some(self.reason);
        state.last_error = self.error;
    }
}

/// What the operator API of the durable and Redis inboxes shows of one kept event (its state,
/// its summary, its handlers), from the stored request and whether it is dead.
#[cfg_attr(not(any(feature = "durable", feature = "redis")), allow(dead_code))]
pub(crate) struct KeptView<'a> {
    pub(crate) request: &'a StoredRequest,
    pub(crate) dead: bool,
}

#[cfg_attr(not(any(feature = "durable", feature = "redis")), allow(dead_code))]
impl KeptView<'_> {
    /// Dead; retrying (a handler tried and not done); or waiting.
    pub(crate) fn state(&self) -> crate::store::EventState {
        use crate::store::EventState;
        if self.dead {
            EventState::Dead
        } else if self
            .request
            .routes
            .iter()
            .any(|r| r.attempts > 0 && !r.done)
        {
            EventState::Retrying
        } else {
            EventState::Waiting
        }
    }

    /// The summary without its replay record: id, state, arrival, event type, and the most
    /// attempts any handler made (`letter_attempts`: the dead letters').
    pub(crate) fn summary(
        &self,
        letter_attempts: impl Iterator<Item = u32>,
    ) -> crate::store::EventSummary {
        let request = self.request;
        let mut summary =
            crate::store::EventSummary::new(request.id, self.state(), request.received_at);
        summary.event_type = crate::store::event_type_of(&request.body);
        summary.attempts = request
            .routes
            .iter()
            .map(|r| r.attempts)
            .chain(letter_attempts)
            .max()
            .unwrap_or(0);
        summary
    }

    /// Each recorded handler's state.
    pub(crate) fn handlers(&self) -> Vec<crate::store::HandlerState> {
        self.request
            .routes
            .iter()
            .map(|r| {
                let mut state = crate::store::HandlerState::new(r.route, r.attempts);
                state.next_at = r.next_at;
                state.done = r.done;
                state
            })
            .collect()
    }
}

// ===== encoding =====

/// Encodes an event record (see the module docs for the layout). Header values marked
/// sensitive are left out.
pub(crate) fn encode(event: &NewEvent) -> Result<Vec<u8>, InboxError> {
    let kept = || event.headers.iter().filter(|(_, v)| !v.is_sensitive());
    let headers_len: usize = kept().map(|(n, v)| 8 + n.as_str().len() + v.len()).sum();
    let size = 1 + 16 + 8 + 4 + headers_len + 4 + event.body.len();
    if size > MAX_RECORD_LEN {
        return Err(InboxError::TooLarge { size });
    }
    // Every length below is at most `size`, so it fits in a u32.
    let len32 = |n: usize| u32::try_from(n).map_err(|_| InboxError::TooLarge { size });

    let mut out = Vec::with_capacity(size);
    out.push(RECORD_VERSION);
    out.extend_from_slice(event.key.as_bytes());
    out.extend_from_slice(&to_millis(event.received_at).to_le_bytes());
    out.extend_from_slice(&len32(kept().count())?.to_le_bytes());
    for (name, value) in kept() {
        out.extend_from_slice(&len32(name.as_str().len())?.to_le_bytes());
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(&len32(value.len())?.to_le_bytes());
        out.extend_from_slice(value.as_bytes());
    }
    out.extend_from_slice(&len32(event.body.len())?.to_le_bytes());
    out.extend_from_slice(&event.body);
    debug_assert_eq!(out.len(), size);
    Ok(out)
}

/// Decodes the record of event `id`, with no route states yet.
pub(crate) fn decode(id: StoredId, bytes: &[u8]) -> Result<StoredRequest, InboxError> {
    let mut r = Reader { bytes, id };
    match r.take(1)? {
        [RECORD_VERSION] => {}
        _ => return Err(InboxError::corrupt_event(id, "unknown record version")),
    }
    let key = DedupKey::from_bytes(r.array()?);
    let received_at = from_millis(u64::from_le_bytes(r.array()?))
        .ok_or_else(|| InboxError::corrupt_event(id, "receive time out of range"))?;
    let count = r.u32()?;
    let mut headers = HeaderMap::new();
    for _ in 0..count {
        let len = r.len()?;
        let name = HeaderName::from_bytes(r.take(len)?)
            .map_err(|_| InboxError::corrupt_event(id, "invalid header name"))?;
        let len = r.len()?;
        let value = HeaderValue::from_bytes(r.take(len)?)
            .map_err(|_| InboxError::corrupt_event(id, "invalid header value"))?;
        headers.append(name, value);
    }
    let len = r.len()?;
    let body = Bytes::copy_from_slice(r.take(len)?);
    if !r.bytes.is_empty() {
        return Err(InboxError::corrupt_event(
            id,
            "trailing bytes after the body",
        ));
    }
    Ok(StoredRequest {
        id,
        key,
        body,
        headers,
        received_at,
        routes: Vec::new(),
        listed_only: false,
    })
}

/// A bounds-checked cursor over a record.
struct Reader<'a> {
    bytes: &'a [u8],
    id: StoredId,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], InboxError> {
        if n > self.bytes.len() {
            return Err(InboxError::corrupt_event(self.id, "truncated record"));
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], InboxError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn u32(&mut self) -> Result<u32, InboxError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn len(&mut self) -> Result<usize, InboxError> {
        usize::try_from(self.u32()?).map_err(|_| InboxError::corrupt_event(self.id, "length"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> NewEvent {
        NewEvent {
            key: DedupKey::from_parts(&[b"t", b"1"]),
            body: Bytes::from_static(br#"{"id":"1"}"#),
            headers: vec![
                (
                    HeaderName::from_static("content-type"),
                    HeaderValue::from_static("application/json"),
                ),
                (
                    HeaderName::from_static("x-multi"),
                    HeaderValue::from_static("a"),
                ),
                (
                    HeaderName::from_static("x-multi"),
                    HeaderValue::from_static("b"),
                ),
            ],
            received_at: UNIX_EPOCH + Duration::from_millis(1_750_000_000_123),
        }
    }

    #[test]
    fn round_trips() {
        let e = event();
        let bytes = encode(&e).unwrap();
        let d = decode(StoredId::new(7), &bytes).unwrap();
        assert_eq!(d.id, StoredId::new(7));
        assert_eq!(d.key, e.key);
        assert_eq!(d.body, e.body);
        assert_eq!(d.received_at, e.received_at);
        assert_eq!(d.headers["content-type"], "application/json");
        let multi: Vec<_> = d.headers.get_all("x-multi").iter().collect();
        assert_eq!(multi, ["a", "b"]);
    }

    #[test]
    fn sensitive_values_are_not_stored() {
        let mut e = event();
        let mut secret = HeaderValue::from_static("hunter2");
        secret.set_sensitive(true);
        e.headers
            .push((HeaderName::from_static("x-webhook-secret"), secret));
        let bytes = encode(&e).unwrap();
        assert!(!bytes.windows(7).any(|w| w == b"hunter2"));
        let d = decode(StoredId::new(1), &bytes).unwrap();
        assert!(!d.headers.contains_key("x-webhook-secret"));
        assert_eq!(d.headers.len(), 3);
    }

    #[test]
    fn every_truncation_and_bad_version_is_corrupt() {
        let bytes = encode(&event()).unwrap();
        for n in 0..bytes.len() {
            let err = decode(StoredId::new(3), &bytes[..n]).unwrap_err();
            assert!(
                matches!(err, InboxError::Corrupt { id: Some(_), .. }),
                "{n}: {err}"
            );
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(matches!(
            decode(StoredId::new(3), &longer),
            Err(InboxError::Corrupt { .. })
        ));
        let mut other = bytes;
        other[0] = 9;
        let err = decode(StoredId::new(3), &other).unwrap_err();
        assert_eq!(
            err.to_string(),
            "corrupt durable inbox data (event 3): unknown record version"
        );
    }

    #[test]
    fn invalid_header_name_is_corrupt() {
        let mut bytes = encode(&event()).unwrap();
        // The first header name starts after version, key, time, count and its length.
        bytes[1 + 16 + 8 + 4 + 4] = b' ';
        assert!(matches!(
            decode(StoredId::new(1), &bytes),
            Err(InboxError::Corrupt {
                what: "invalid header name",
                ..
            })
        ));
    }

    #[test]
    fn times_round_trip_to_the_millisecond() {
        assert_eq!(to_millis(UNIX_EPOCH - Duration::from_secs(1)), 0);
        assert_eq!(next_at_to_millis(None), 0);
        assert_eq!(next_at_to_millis(Some(UNIX_EPOCH)), 1);
        let t = UNIX_EPOCH + Duration::from_millis(42);
        assert_eq!(from_millis(to_millis(t)), Some(t));
    }
}
