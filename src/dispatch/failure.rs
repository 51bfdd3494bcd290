//! What the user's hooks are told when a handler fails ([`HandlerError`], every failed attempt)
//! and when an accepted event ends without being handled ([`DeadLetter`], once).

use std::fmt;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use crate::dedup::DedupKey;
use crate::error::BoxError;
use crate::event::Received;

/// One failed attempt of a handler. Given to the [`on_error`](super::Handlers::on_error) hook,
/// for every failed attempt (after it is logged: at `warn` when it will be retried, at `error`
/// when it was the last).
///
/// ```
/// use webhook_receiver::dispatch::{HandlerError}; use webhook_receiver::stack::Handlers;
/// use webhook_receiver::chirp::ChirpEvent;
///
/// let handlers = Handlers::<ChirpEvent>::new().on_error(|err: &HandlerError| {
///     let retried = err.retry_in.is_some();
///     eprintln!("{} (attempt {}, retried: {retried})", err, err.attempt);
/// });
/// # let _ = handlers;
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub struct HandlerError {
    /// The event type name.
    pub event_name: String,
    /// The event's dedup key.
    pub key: DedupKey,
    /// Which handler: the event type or group pattern it was registered for, or `fallback`.
    pub handler: String,
    /// Which attempt failed (1 for the first).
    pub attempt: u32,
    /// When the next attempt runs; `None` if this was the last one (the event then goes to the
    /// dead-letter hook).
    pub retry_in: Option<Duration>,
    /// What happened.
    pub failure: HandlerFailure,
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "handler `{}` for `{}` ({}) failed on attempt {}: {}",
            self.handler, self.event_name, self.key, self.attempt, self.failure
        )
    }
}

/// How a handler attempt failed: [`HandlerError::failure`] and [`DeadLetter::last_error`].
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use std::time::Duration;
/// use webhook_receiver::chirp::ChirpEvent;
/// use webhook_receiver::dispatch::{HandlerError, RetryPolicy}; use webhook_receiver::stack::{Dispatcher, Handlers};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// # use webhook_receiver::Format;
/// # let body = br#"{"event":"messages.sms.delivered","data":{"id":"msg_1","status":"delivered"}}"#;
/// # let event = || webhook_receiver::chirp::Chirp.decode(&http::HeaderMap::new(), body).unwrap();
/// let failures = Arc::new(Mutex::new(Vec::new()));
/// let sink = Arc::clone(&failures);
/// let handlers = Handlers::<ChirpEvent>::new()
///     .retry_policy(RetryPolicy::never())
///     .fallback(|_, _| async { None::<()>.expect("no such row") }) // a bug
///     .on_error(move |err: &HandlerError| sink.lock().unwrap().push(err.failure.to_string()));
/// # let dispatcher = Dispatcher::builder(handlers).spawn();
/// # dispatcher.try_enqueue(event()).unwrap();
/// # dispatcher.drain(Duration::from_secs(5)).await.unwrap();
/// assert_eq!(*failures.lock().unwrap(), ["panicked: no such row"]); // caught, not propagated
/// # }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum HandlerFailure {
    /// It returned an error.
    Error(BoxError),
    /// It panicked (the message, if the payload was a string).
    Panic(String),
    /// It ran past the policy's attempt timeout, and its future was dropped.
    Timeout(Duration),
    /// The event had no payload for the handler (e.g. an `on(ty, ..)` handler given an event of
    /// that name whose enum variant is another one). Not retried: it would fail the same way.
    NoPayload,
}

impl HandlerFailure {
    /// Whether another attempt may succeed: every failure but [`NoPayload`](Self::NoPayload).
    ///
    /// ```
    /// use std::time::Duration;
    /// use webhook_receiver::dispatch::HandlerFailure;
    /// assert!(HandlerFailure::Timeout(Duration::from_secs(30)).is_retryable());
    /// assert!(!HandlerFailure::NoPayload.is_retryable());
    /// ```
    pub fn is_retryable(&self) -> bool {
        !matches!(self, Self::NoPayload)
    }
}

impl fmt::Display for HandlerFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // A user's error type: its `Display` may panic, and this runs in log lines on the
            // dispatcher's own path, where a panic would stop a runner.
            Self::Error(e) => match std::panic::catch_unwind(AssertUnwindSafe(|| e.to_string())) {
                Ok(text) => f.write_str(&text),
                Err(panic) => write!(
                    f,
                    "(the error's Display panicked: {})",
                    panic_message(&*panic)
                ),
            },
            Self::Panic(m) => write!(f, "panicked: {m}"),
            Self::Timeout(t) => write!(f, "timed out after {t:?}"),
            Self::NoPayload => f.write_str("the event has no payload for this handler"),
        }
    }
}

/// An accepted event (or one handler's share of it) that will not be handled: given once to the
/// [`on_dead_letter`](super::Handlers::on_dead_letter) hook, with everything needed to store it
/// and replay it later (e.g. with [`Dispatcher::try_enqueue`](super::Dispatcher::try_enqueue)).
///
/// It is also logged at `error`, with the event's type and key, whether or not a hook is set.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use webhook_receiver::chirp::ChirpEvent;
/// use webhook_receiver::dispatch::{DeadLetter, DeadLetterReason}; use webhook_receiver::stack::Handlers;
///
/// let dead = Arc::new(Mutex::new(Vec::new()));
/// let sink = Arc::clone(&dead);
/// let handlers = Handlers::<ChirpEvent>::new().on_dead_letter(move |letter: DeadLetter<ChirpEvent>| {
///     let retried_out = letter.reason == DeadLetterReason::Exhausted;
///     sink.lock().unwrap().push((letter.key, letter.handler, letter.attempts, retried_out));
/// });
/// # let _ = handlers;
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub struct DeadLetter<E> {
    /// The event.
    pub event: Received<E>,
    /// The event's dedup key.
    pub key: DedupKey,
    /// The sender's id for the event, if the format knows one.
    pub id: Option<String>,
    /// The handler that will not run (its label, as in [`HandlerError::handler`]); `None` when
    /// the whole event is concerned (no handler matched it, or none of its handlers had run
    /// when the dispatcher stopped).
    pub handler: Option<String>,
    /// Attempts made by that handler (0 if it never ran).
    pub attempts: u32,
    /// The last attempt's failure, if an attempt failed.
    pub last_error: Option<HandlerFailure>,
    /// Why it ends here.
    pub reason: DeadLetterReason,
}

/// Why an accepted event ends without being handled: [`DeadLetter::reason`].
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use std::time::Duration;
/// use webhook_receiver::chirp::ChirpEvent;
/// use webhook_receiver::dispatch::{DeadLetter, DeadLetterReason, RetryPolicy}; use webhook_receiver::stack::{Dispatcher, Handlers};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// # use webhook_receiver::Format;
/// # let body = br#"{"event":"messages.sms.delivered","data":{"id":"msg_1","status":"delivered"}}"#;
/// # let event = || webhook_receiver::chirp::Chirp.decode(&http::HeaderMap::new(), body).unwrap();
/// let reasons = Arc::new(Mutex::new(Vec::new()));
/// let sink = Arc::clone(&reasons);
/// let handlers = Handlers::<ChirpEvent>::new()
///     .retry_policy(RetryPolicy::never())
///     .fallback(|_, _| async { Err::<(), _>(std::io::Error::other("db down")) })
///     .on_dead_letter(move |letter: DeadLetter<ChirpEvent>| sink.lock().unwrap().push(letter.reason));
/// # let dispatcher = Dispatcher::builder(handlers).spawn();
/// # dispatcher.try_enqueue(event()).unwrap();
/// # dispatcher.drain(Duration::from_secs(5)).await.unwrap();
/// assert_eq!(*reasons.lock().unwrap(), [DeadLetterReason::Exhausted]);
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeadLetterReason {
    /// Every attempt the retry policy allows failed.
    Exhausted,
    /// The handler cannot take this event ([`HandlerFailure::NoPayload`]).
    NoPayload,
    /// No handler matched the event and there is no fallback.
    NoHandler,
    /// The drain deadline passed before the event (or its retry) ran.
    Shutdown,
    /// The runtime the handlers run on was shut down while the event was queued or running.
    RuntimeDropped,
    /// A panic outside the handlers' own catch (in the event type's code, such as its
    /// `event_name`, or in the dispatcher) stopped the event's run. The runner is replaced and
    /// the other events run as usual.
    Panicked,
}

impl DeadLetterReason {
    /// A short name for logs and metrics: `exhausted`, `no_payload`, `no_handler`, `shutdown`,
    /// `runtime_dropped`, `panicked`.
    ///
    /// ```
    /// use webhook_receiver::dispatch::DeadLetterReason;
    /// assert_eq!(DeadLetterReason::NoHandler.as_str(), "no_handler");
    /// // `Display` is the sentence for people:
    /// assert_eq!(DeadLetterReason::NoHandler.to_string(), "no handler matched and there is no fallback");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Exhausted => "exhausted",
            Self::NoPayload => "no_payload",
            Self::NoHandler => "no_handler",
            Self::Shutdown => "shutdown",
            Self::RuntimeDropped => "runtime_dropped",
            Self::Panicked => "panicked",
        }
    }
}

impl fmt::Display for DeadLetterReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Exhausted => "every attempt failed",
            Self::NoPayload => "the handler cannot take the event",
            Self::NoHandler => "no handler matched and there is no fallback",
            Self::Shutdown => "shutdown: the drain deadline passed before it ran",
            Self::RuntimeDropped => "the handlers' runtime was shut down",
            Self::Panicked => "a panic outside the handlers stopped its run",
        })
    }
}

/// The message of a caught panic, if its payload is a string.
pub(super) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic with a non-string payload".to_owned())
}
