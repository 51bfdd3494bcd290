//! Deduplication keys: a compact, fixed-size digest of what identifies one event, and the
//! canonical JSON hashing that keys content-addressed events.

use std::fmt;

use serde_json::Value;
use serde_json::value::RawValue;
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
    /// Numbers are hashed as `serde_json` holds them (a `u64`, `i64` or `f64`, written back in
    /// its shortest form): integers beyond 64 bits and decimals beyond `f64` precision are
    /// already rounded in a [`Value`], so two such numbers can share a key. To key the exact
    /// text a sender wrote, use [`from_raw_json`](Self::from_raw_json), which the built-in
    /// formats do; the two give the same key when every number is written in serde_json's
    /// form.
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
        let mut canon = Canonical::new(event_name);
        canon.value(value);
        canon.finish()
    }

    /// Digest of a type name and the canonical form of raw JSON text, numbers exactly as
    /// written.
    ///
    /// What is canonical: object key order (keys are sorted; of a key given twice, the last
    /// value counts, as in a [`Value`]), whitespace, and string escapes (`"\u0041"` is `"A"`),
    /// down to 128 levels of nesting (deeper containers, which no [`Value`] holds, are hashed
    /// as written).
    /// What is not: the spelling of numbers, which are hashed as written, so `1`, `1.0` and
    /// `1e0` are three keys, and so are `18446744073709551616` and `18446744073709551617` (one
    /// `f64` apart) or `0.1` and `0.10000000000000001` (one `f64`): distinct numbers as
    /// written never share a key. A string with an escape no Rust string can hold (a lone
    /// surrogate, `"\ud800"`) is hashed as written.
    ///
    /// ```
    /// use serde_json::value::RawValue;
    /// use webhook_receiver::DedupKey;
    ///
    /// let key = |text: &str| {
    ///     DedupKey::from_raw_json("t", &serde_json::from_str::<&RawValue>(text).unwrap())
    /// };
    /// assert_eq!(key(r#"{"a": 1, "b": [true, null]}"#), key(r#"{"b":[true,null],"a":1}"#));
    /// assert_ne!(key(r#"{"n": 18446744073709551616}"#), key(r#"{"n": 18446744073709551617}"#));
    /// assert_ne!(key(r#"{"n": 0.1}"#), key(r#"{"n": 0.10000000000000001}"#));
    /// assert_ne!(key(r#"{"n": 1}"#), key(r#"{"n": 1.0}"#)); // spelling counts
    /// // Written in serde_json's form, the text and the tree agree.
    /// let text = r#"{"n": 1.5, "s": "x"}"#;
    /// let value: serde_json::Value = serde_json::from_str(text).unwrap();
    /// assert_eq!(key(text), DedupKey::from_json("t", &value));
    /// ```
    pub fn from_raw_json(event_name: &str, json: &RawValue) -> Self {
        let mut canon = Canonical::new(event_name);
        canon.text(json.get());
        canon.finish()
    }

    /// This key within a tenant's scope: the same event id sent for two tenants gives two keys
    /// ([`PerTenant`](crate::verify::PerTenant) puts the tenant in the request, the receiver
    /// scopes the key with it).
    pub(crate) fn scoped(self, tenant: &str) -> Self {
        Self::from_parts(&[b"tenant", tenant.as_bytes(), &self.0])
    }

    fn finish(h: Sha256) -> Self {
        let digest = h.finalize();
        let mut out = [0u8; 16];
        out.copy_from_slice(&digest[..16]);
        Self(out)
    }
}

// ===== canonical JSON =====

/// Containers nested deeper than this in raw text are hashed as written: canonicalising copies
/// each container's text into its parent's, so the depth bounds that work (the body limit
/// bounds the rest). serde_json parses no deeper tree.
const MAX_CANONICAL_DEPTH: usize = 128;

/// Hashes the canonical form of a JSON value, fed as a stream of tokens (from a [`Value`] or
/// from raw text, both the same way): object keys sorted, no whitespace, strings as serde_json
/// writes them, numbers as given (serde_json's form for a [`Value`], the lexeme for text).
/// Object entries are buffered to be sorted; the stack lives on the heap.
struct Canonical {
    root: Sha256,
    stack: Vec<Frame>,
}

enum Frame {
    Array {
        out: Vec<u8>,
    },
    Object {
        entries: Vec<(Vec<u8>, Vec<u8>)>,
        key: Option<Vec<u8>>,
    },
}

impl Canonical {
    fn new(event_name: &str) -> Self {
        let mut root = Sha256::new();
        root.update((event_name.len() as u64).to_le_bytes());
        root.update(event_name.as_bytes());
        Self {
            root,
            stack: Vec::new(),
        }
    }

    fn finish(self) -> DedupKey {
        DedupKey::finish(self.root)
    }

    /// Writes a finished scalar or container into the enclosing container.
    fn emit(&mut self, bytes: &[u8]) {
        match self.stack.last_mut() {
            None => self.root.update(bytes),
            Some(Frame::Array { out }) => {
                if out.len() > 1 {
                    out.push(b',');
                }
                out.extend_from_slice(bytes);
            }
            Some(Frame::Object { entries, key }) => {
                entries.push((key.take().unwrap_or_default(), bytes.to_vec()));
            }
        }
    }

    /// A string: an object key where one is due, else a value.
    fn string(&mut self, canonical: Vec<u8>) {
        match self.stack.last_mut() {
            Some(Frame::Object {
                key: key @ None, ..
            }) => *key = Some(canonical),
            _ => self.emit(&canonical),
        }
    }

    fn begin_array(&mut self) {
        self.stack.push(Frame::Array { out: vec![b'['] });
    }

    fn begin_object(&mut self) {
        self.stack.push(Frame::Object {
            entries: Vec::new(),
            key: None,
        });
    }

    fn end(&mut self) {
        let out = match self.stack.pop() {
            None => return,
            Some(Frame::Array { mut out }) => {
                out.push(b']');
                out
            }
            Some(Frame::Object { mut entries, .. }) => {
                // Stable: of a key given twice, the last value is kept, as in a `Value`.
                entries.sort_by(|a, b| a.0.cmp(&b.0));
                let mut out = vec![b'{'];
                for (i, (k, v)) in entries.iter().enumerate() {
                    if entries.get(i + 1).is_some_and(|next| next.0 == *k) {
                        continue;
                    }
                    if out.len() > 1 {
                        out.push(b',');
                    }
                    out.extend_from_slice(k);
                    out.push(b':');
                    out.extend_from_slice(v);
                }
                out.push(b'}');
                out
            }
        };
        self.emit(&out);
    }

    /// Feeds a tree.
    fn value(&mut self, value: &Value) {
        match value {
            Value::Object(map) => {
                self.begin_object();
                for (k, v) in map {
                    self.string(json_string(k));
                    self.value(v);
                }
                self.end();
            }
            Value::Array(items) => {
                self.begin_array();
                for v in items {
                    self.value(v);
                }
                self.end();
            }
            Value::String(s) => self.string(json_string(s)),
            Value::Number(n) => self.emit(n.to_string().as_bytes()),
            Value::Bool(true) => self.emit(b"true"),
            Value::Bool(false) => self.emit(b"false"),
            Value::Null => self.emit(b"null"),
        }
    }

    /// Feeds raw JSON text, which must be valid JSON (a [`RawValue`]'s): numbers keep their
    /// lexeme.
    fn text(&mut self, text: &str) {
        let bytes = text.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b' ' | b'\t' | b'\n' | b'\r' | b',' | b':' => i += 1,
                b'{' | b'[' if self.stack.len() >= MAX_CANONICAL_DEPTH => {
                    let end = container_end(bytes, i);
                    self.emit(&bytes[i..end]);
                    i = end;
                }
                b'{' => {
                    self.begin_object();
                    i += 1;
                }
                b'[' => {
                    self.begin_array();
                    i += 1;
                }
                b'}' | b']' => {
                    self.end();
                    i += 1;
                }
                b'"' => {
                    let end = string_end(bytes, i);
                    let literal = &text[i..end];
                    let canonical = if literal.contains('\\') {
                        // Unescape and write back as serde_json does; a lone surrogate, which
                        // no Rust string holds, is kept as written.
                        serde_json::from_str::<String>(literal)
                            .map_or_else(|_| literal.as_bytes().to_vec(), |s| json_string(&s))
                    } else {
                        // Without escapes, valid JSON is already written as serde_json
                        // writes it (no quote, backslash or control character inside).
                        literal.as_bytes().to_vec()
                    };
                    self.string(canonical);
                    i = end;
                }
                _ => {
                    // A number or a literal, up to the next delimiter.
                    let start = i;
                    while i < bytes.len()
                        && !matches!(bytes[i], b',' | b']' | b'}' | b' ' | b'\t' | b'\n' | b'\r')
                    {
                        i += 1;
                    }
                    self.emit(&bytes[start..i]);
                }
            }
        }
    }
}

/// The end (one past the closing bracket) of the container starting at `start`.
fn container_end(bytes: &[u8], start: usize) -> usize {
    let mut depth = 0usize;
    let mut i = start;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i = string_end(bytes, i);
                continue;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    bytes.len()
}

/// The end (one past the closing quote) of the string literal starting at `start`.
fn string_end(bytes: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    bytes.len()
}

/// `s` as a JSON string literal, as serde_json writes it.
fn json_string(s: &str) -> Vec<u8> {
    serde_json::to_vec(s).unwrap_or_default()
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
