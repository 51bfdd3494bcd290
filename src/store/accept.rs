//! What the receiver gives a store to accept, and what the store answers.

use std::fmt;
use std::time::SystemTime;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, header};

use super::{Claim, Entry};
use crate::dedup::DedupKey;

/// An authenticated, decoded event, as the receiver hands it to [`Store::accept`](super::Store::accept)
/// before answering: its dedup key, and the raw request a store that keeps events keeps.
///
/// Cheap to copy (it borrows the request). A store that only remembers keys reads
/// [`key`](Self::key) and nothing else.
///
/// ```
/// use webhook_receiver::DedupKey;
/// use webhook_receiver::store::Incoming;
///
/// let body = bytes::Bytes::from_static(br#"{"event":"messages.sms.delivered"}"#);
/// let mut headers = http::HeaderMap::new();
/// headers.insert("content-type", "application/json".parse().unwrap());
/// headers.insert("authorization", "Bearer s3cr3t".parse().unwrap());
/// let event = Incoming::new(DedupKey::from_parts(&[b"evt_1"]), &body, &headers);
/// assert_eq!(event.body(), &body);
/// // What a store may keep: never a credential.
/// let kept: Vec<_> = event.kept_headers().map(|(name, _)| name.as_str()).collect();
/// assert_eq!(kept, ["content-type"]);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Incoming<'a> {
    key: DedupKey,
    body: &'a Bytes,
    headers: &'a HeaderMap,
    received_at: SystemTime,
    local_slot: bool,
}

/// Headers that are credentials, whatever the scheme: never kept with an event. Values the
/// verifier marked [sensitive](HeaderValue::is_sensitive) (the shared-secret header) are not kept
/// either, nor the signature headers of the schemes this crate verifies.
const CREDENTIALS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "x-webhook-signature",
    "x-hub-signature",
    "x-hub-signature-256",
    "webhook-signature",
    "svix-signature",
    "stripe-signature",
    "x-slack-signature",
    "x-shopify-hmac-sha256",
];

impl<'a> Incoming<'a> {
    /// An event under `key`, with the request's raw `body` and `headers`, received now.
    ///
    /// ```
    /// # use webhook_receiver::{DedupKey, store::Incoming};
    /// let (body, headers) = (bytes::Bytes::new(), http::HeaderMap::new());
    /// let event = Incoming::new(DedupKey::from_parts(&[b"evt_1"]), &body, &headers);
    /// assert_eq!(event.key(), DedupKey::from_parts(&[b"evt_1"]));
    /// ```
    #[must_use]
    pub fn new(key: DedupKey, body: &'a Bytes, headers: &'a HeaderMap) -> Self {
        Self {
            key,
            body,
            headers,
            received_at: SystemTime::now(),
            local_slot: false,
        }
    }

    /// An event received at `received_at` (the receiver's constructor: one clock read per
    /// request, the one it made when the request arrived).
    pub(crate) const fn arrived(
        key: DedupKey,
        body: &'a Bytes,
        headers: &'a HeaderMap,
        received_at: SystemTime,
    ) -> Self {
        Self {
            key,
            body,
            headers,
            received_at,
            local_slot: false,
        }
    }

    /// The same event, received at `at` (the receiver passes the time the request arrived).
    ///
    /// ```
    /// # use webhook_receiver::{DedupKey, store::Incoming};
    /// # let (body, headers) = (bytes::Bytes::new(), http::HeaderMap::new());
    /// let at = std::time::UNIX_EPOCH;
    /// let event = Incoming::new(DedupKey::from_parts(&[b"e"]), &body, &headers).received_at(at);
    /// assert_eq!(event.received(), at);
    /// ```
    #[must_use]
    pub const fn received_at(mut self, at: SystemTime) -> Self {
        self.received_at = at;
        self
    }

    /// The same event, with [`local_slot`](Self::local_slot) set: the receiver passes `true`
    /// when it reserved a place in this process's dispatcher for the event.
    ///
    /// ```
    /// # use webhook_receiver::{DedupKey, store::Incoming};
    /// # let (body, headers) = (bytes::Bytes::new(), http::HeaderMap::new());
    /// let event = Incoming::new(DedupKey::from_parts(&[b"e"]), &body, &headers);
    /// assert!(!event.local_slot());
    /// assert!(event.with_local_slot(true).local_slot());
    /// ```
    #[must_use]
    pub const fn with_local_slot(mut self, reserved: bool) -> Self {
        self.local_slot = reserved;
        self
    }

    /// Whether this process's dispatcher has a place reserved for the event. A shared store
    /// ([`Store::is_shared`](super::Store::is_shared)) may then take the event for this process
    /// in the same step as it accepts it and answer [`Accepted::New`] with its entry: the
    /// receiver runs it at once, from the request it already decoded, instead of waiting for
    /// a feed to claim it. Without a place (the dispatcher is full, or the receiver does not
    /// offer one) a shared store answers [`Accepted::Stored`]. A store that is not shared
    /// can ignore it: the receiver always reserves a place for those.
    ///
    /// ```
    /// # use webhook_receiver::{DedupKey, store::Incoming};
    /// # let (body, headers) = (bytes::Bytes::new(), http::HeaderMap::new());
    /// let event = Incoming::new(DedupKey::from_parts(&[b"e"]), &body, &headers);
    /// assert!(!event.local_slot()); // by default, no place: a shared store stores it
    /// ```
    #[must_use]
    pub const fn local_slot(&self) -> bool {
        self.local_slot
    }

    /// The dedup key to claim.
    ///
    /// ```
    /// # use webhook_receiver::{DedupKey, store::Incoming};
    /// # let (body, headers) = (bytes::Bytes::new(), http::HeaderMap::new());
    /// let key = DedupKey::from_parts(&[b"evt_1"]);
    /// assert_eq!(Incoming::new(key, &body, &headers).key(), key);
    /// ```
    #[must_use]
    pub const fn key(&self) -> DedupKey {
        self.key
    }

    /// The raw body, exactly as received (cloning it is cheap: it is reference counted).
    ///
    /// ```
    /// # use webhook_receiver::{DedupKey, store::Incoming};
    /// let (body, headers) = (bytes::Bytes::from_static(b"{}"), http::HeaderMap::new());
    /// assert_eq!(Incoming::new(DedupKey::from_parts(&[b"e"]), &body, &headers).body().as_ref(), b"{}");
    /// ```
    #[must_use]
    pub const fn body(&self) -> &'a Bytes {
        self.body
    }

    /// Every header of the request, credentials included: keep
    /// [`kept_headers`](Self::kept_headers) instead.
    ///
    /// ```
    /// # use webhook_receiver::{DedupKey, store::Incoming};
    /// # let (body, mut headers) = (bytes::Bytes::new(), http::HeaderMap::new());
    /// headers.insert("x-chirp-event", "messages.sms.delivered".parse().unwrap());
    /// let event = Incoming::new(DedupKey::from_parts(&[b"e"]), &body, &headers);
    /// assert!(event.headers().contains_key("x-chirp-event"));
    /// ```
    #[must_use]
    pub const fn headers(&self) -> &'a HeaderMap {
        self.headers
    }

    /// The headers a store may keep with the event, to decode it again: all but credentials
    /// (`Authorization`, `Proxy-Authorization`, `Cookie`, values marked
    /// [sensitive](HeaderValue::is_sensitive) as the shared-secret verifier marks its header,
    /// and the signature headers of the schemes this crate verifies). A stored signature would
    /// be a replayable credential.
    ///
    /// ```
    /// # use webhook_receiver::{DedupKey, store::Incoming};
    /// # let (body, mut headers) = (bytes::Bytes::new(), http::HeaderMap::new());
    /// headers.insert("webhook-signature", "v1,abc=".parse().unwrap());
    /// headers.insert("webhook-id", "msg_1".parse().unwrap());
    /// let event = Incoming::new(DedupKey::from_parts(&[b"e"]), &body, &headers);
    /// assert_eq!(event.kept_headers().count(), 1); // webhook-id
    /// ```
    pub fn kept_headers(&self) -> impl Iterator<Item = (&'a HeaderName, &'a HeaderValue)> + 'a {
        self.headers
            .iter()
            .filter(|(name, value)| !value.is_sensitive() && !is_credential(name))
    }

    /// When the request was received.
    ///
    /// ```
    /// # use webhook_receiver::{DedupKey, store::Incoming};
    /// # let (body, headers) = (bytes::Bytes::new(), http::HeaderMap::new());
    /// let event = Incoming::new(DedupKey::from_parts(&[b"e"]), &body, &headers);
    /// assert!(event.received() <= std::time::SystemTime::now());
    /// ```
    #[must_use]
    pub const fn received(&self) -> SystemTime {
        self.received_at
    }
}

fn is_credential(name: &HeaderName) -> bool {
    *name == header::AUTHORIZATION
        || *name == header::PROXY_AUTHORIZATION
        || *name == header::COOKIE
        || CREDENTIALS.contains(&name.as_str())
}

/// What [`Store::accept`](super::Store::accept) did.
///
/// How the receiver answers each:
///
/// | answer | response | dispatched |
/// |---|---|---|
/// | `New(entry)` | 200 `{"received":true}` | here, now; progress recorded in `entry` if `Some` |
/// | `Stored` | 200 `{"received":true}` | by whichever replica's feed takes it |
/// | `Duplicate` | 200 `{"received":true,"duplicate":true}` | no (already was) |
/// | `InFlight` | 503 `claim_in_flight`, `Retry-After: 1`, nothing remembered | no |
///
/// ```
/// use webhook_receiver::store::{Accepted, Claim};
///
/// assert_eq!(Accepted::New(None).claim(), Claim::New);
/// assert_eq!(Accepted::Stored.claim(), Claim::New);
/// assert_eq!(Accepted::Duplicate.claim(), Claim::Duplicate);
/// ```
#[non_exhaustive]
pub enum Accepted {
    /// The key was not remembered; it is now, with what the store keeps. This process runs the
    /// event now; its progress is recorded in the entry (`None`: the store keeps no progress).
    /// A shared store answers it only when [`Incoming::local_slot`] is set, having taken the
    /// event for this process (a lease) as it stored it.
    New(Option<Box<dyn Entry>>),
    /// The key was not remembered; it is now, and the event is stored in a shared store
    /// ([`Store::is_shared`](super::Store::is_shared)): whichever replica's feed takes it runs it.
    Stored,
    /// The key was remembered: a redelivery of an event that will run or ran. Nothing was kept.
    Duplicate,
    /// Another accept of the key is in flight elsewhere and not yet confirmed (a store whose
    /// claim takes more than one step). The receiver answers 503 with a short `Retry-After`,
    /// remembering nothing.
    InFlight,
}

impl Accepted {
    /// The answer as a dedup claim, without the entry.
    ///
    /// ```
    /// use webhook_receiver::store::{Accepted, Claim};
    /// assert_eq!(Accepted::InFlight.claim(), Claim::InFlight);
    /// ```
    #[must_use]
    pub const fn claim(&self) -> Claim {
        match self {
            Self::New(_) | Self::Stored => Claim::New,
            Self::Duplicate => Claim::Duplicate,
            Self::InFlight => Claim::InFlight,
        }
    }
}

impl From<Claim> for Accepted {
    /// The answer of a store that only remembers keys.
    ///
    /// ```
    /// use webhook_receiver::store::{Accepted, Claim};
    /// assert!(matches!(Accepted::from(Claim::New), Accepted::New(None)));
    /// ```
    fn from(claim: Claim) -> Self {
        match claim {
            Claim::New => Self::New(None),
            Claim::Duplicate => Self::Duplicate,
            Claim::InFlight => Self::InFlight,
        }
    }
}

impl fmt::Debug for Accepted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::New(entry) => f.debug_tuple("New").field(entry).finish(),
            Self::Stored => f.write_str("Stored"),
            Self::Duplicate => f.write_str("Duplicate"),
            Self::InFlight => f.write_str("InFlight"),
        }
    }
}
