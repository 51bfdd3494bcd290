//! Deduplication keys: a compact, fixed-size digest of what identifies one event, and the
//! canonical JSON hashing that keys content-addressed events.

use std::fmt;

use serde_json::Value;
use sha2::{Digest, Sha256};

/// A compact, fixed-size deduplication key: 128 bits of SHA-256 over the key material.
///
/// Fixed size keeps memory per remembered id small and constant whatever the id's length, and the
/// digest never holds the payload itself. Build it from the parts that identify one event
/// ([`from_parts`](Self::from_parts)) or from a canonical form of the whole payload
/// ([`from_json`](Self::from_json)).
///
/// ```
/// use webhook_receiver::DedupKey;
/// // parts are length-prefixed: ("ab", "c") and ("a", "bc") differ
/// assert_ne!(DedupKey::from_parts(&[b"ab", b"c"]), DedupKey::from_parts(&[b"a", b"bc"]));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DedupKey([u8; 16]);

impl DedupKey {
    /// Wraps 16 raw bytes, e.g. a key read back from your own storage.
    ///
    /// ```
    /// use webhook_receiver::DedupKey;
    /// let key = DedupKey::from_bytes([0xab; 16]);
    /// assert_eq!(key.as_bytes(), &[0xab; 16]);
    /// assert_eq!(key.to_string(), "ab".repeat(16)); // `Display`: 32 hex digits
    /// ```
    pub const fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }

    /// The raw bytes.
    ///
    /// ```
    /// use webhook_receiver::DedupKey;
    /// let key = DedupKey::from_parts(&[b"messages.sms.delivered", b"msg_1"]);
    /// let stored: [u8; 16] = *key.as_bytes(); // e.g. a 16-byte column
    /// assert_eq!(DedupKey::from_bytes(stored), key);
    /// ```
    pub const fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// Digest of several parts, each length-prefixed so that boundaries cannot shift.
    ///
    /// ```
    /// use webhook_receiver::DedupKey;
    /// let delivered = DedupKey::from_parts(&[b"messages.sms.delivered", b"msg_1"]);
    /// // The same parts give the same key: a redelivery is recognised.
    /// assert_eq!(delivered, DedupKey::from_parts(&[b"messages.sms.delivered", b"msg_1"]));
    /// // Another event about the same message is another key.
    /// assert_ne!(delivered, DedupKey::from_parts(&[b"messages.sms.sent", b"msg_1"]));
    /// ```
    pub fn from_parts(parts: &[&[u8]]) -> Self {
        let mut h = Sha256::new();
        for p in parts {
            h.update((p.len() as u64).to_le_bytes());
            h.update(p);
        }
        Self::finish(h)
    }

    /// Digest of a type name and the canonical form of a JSON value (object keys sorted, no
    /// whitespace), so that two deliveries of the same content give the same key whatever their
    /// key order or spacing, and any change of content gives a different key.
    ///
    /// ```
    /// use serde_json::json;
    /// use webhook_receiver::DedupKey;
    /// let a = DedupKey::from_json("t", &json!({"a": 1, "b": 2}));
    /// let b: serde_json::Value = serde_json::from_str(r#"{ "b": 2, "a": 1 }"#).unwrap();
    /// assert_eq!(a, DedupKey::from_json("t", &b));
    /// assert_ne!(a, DedupKey::from_json("t", &json!({"a": 1, "b": 3})));
    /// ```
    pub fn from_json(event_name: &str, value: &Value) -> Self {
        let mut h = Sha256::new();
        h.update((event_name.len() as u64).to_le_bytes());
        h.update(event_name.as_bytes());
        canonical(value, &mut h);
        Self::finish(h)
    }

    fn finish(h: Sha256) -> Self {
        let digest = h.finalize();
        let mut out = [0u8; 16];
        out.copy_from_slice(&digest[..16]);
        Self(out)
    }
}

/// Feeds the canonical form of `value` to the hasher: object keys sorted (whatever
/// serde_json's `preserve_order` feature says), no whitespace, strings and numbers as serde_json
/// writes them.
fn canonical(value: &Value, h: &mut Sha256) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            h.update(b"{");
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    h.update(b",");
                }
                h.update(
                    serde_json::to_string(k.as_str())
                        .unwrap_or_default()
                        .as_bytes(),
                );
                h.update(b":");
                canonical(v, h);
            }
            h.update(b"}");
        }
        Value::Array(items) => {
            h.update(b"[");
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    h.update(b",");
                }
                canonical(v, h);
            }
            h.update(b"]");
        }
        scalar => h.update(serde_json::to_string(scalar).unwrap_or_default().as_bytes()),
    }
}

impl fmt::Display for DedupKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // One write of 32 hex digits: this runs for every dispatched event (the dispatch span,
        // handlers' logs), where 16 formatted writes showed in profiles.
        let mut hex = [0u8; 32];
        hex::encode_to_slice(self.0, &mut hex).map_err(|_| fmt::Error)?;
        f.write_str(std::str::from_utf8(&hex).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for DedupKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DedupKey({self})")
    }
}
