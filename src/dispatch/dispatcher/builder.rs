//! Building a dispatcher: [`DispatcherBuilder`] with its limits (queue capacity, byte
//! budget, concurrency) and their defaults, and [`spawn`](DispatcherBuilder::spawn), which
//! starts it on the current runtime.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::super::backlog::Backlog;
use super::super::budget::ByteBudget;
use super::super::registry::Handlers;
use super::super::registry::Routes;
use super::handle::Dispatcher;
use super::queue::{Shared, Spawn, State};
use super::timer::{TimerGuard, timer};
use crate::event::Event;

/// Default number of accepted events that may wait for a handler: 1024.
///
/// ```
/// use std::time::Duration;
/// use webhook_receiver::chirp::ChirpEvent;
/// use webhook_receiver::dispatch::{DEFAULT_QUEUE_CAPACITY}; use webhook_receiver::stack::{Dispatcher, EnqueueError, Handlers};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// # use webhook_receiver::Format;
/// # let body = br#"{"event":"messages.sms.delivered","data":{"id":"msg_1","status":"delivered"}}"#;
/// # let event = || webhook_receiver::chirp::Chirp.decode(&http::HeaderMap::new(), body).unwrap();
/// let handlers = Handlers::<ChirpEvent>::new().fallback(|_, _| async {});
/// let dispatcher = Dispatcher::builder(handlers).concurrency_limit(1).spawn();
/// for _ in 0..=DEFAULT_QUEUE_CAPACITY {
///     dispatcher.try_enqueue(event()).unwrap(); // the first one runs, 1024 wait
/// }
/// assert_eq!(dispatcher.queued(), DEFAULT_QUEUE_CAPACITY);
/// assert_eq!(dispatcher.try_enqueue(event()), Err(EnqueueError::Full));
/// # dispatcher.drain(Duration::from_secs(5)).await.unwrap();
/// # }
/// ```
pub const DEFAULT_QUEUE_CAPACITY: usize = 1024;
/// Default byte budget of the queue: 64 MiB of request bodies held by accepted events that are
/// not done (queued, waiting for a retry, or running).
///
/// That is 64 bodies at the default [body limit](crate::stack::DEFAULT_BODY_LIMIT) of 1 MiB,
/// while 1024 typical events (a few kB each, the default [`DEFAULT_QUEUE_CAPACITY`]) take a
/// few MB: the budget does not bind under ordinary traffic, only when large bodies pile up,
/// where a count of events alone would let 1024 bodies of 1 MiB (1 GiB, more once decoded)
/// wait in memory. See [`DispatcherBuilder::queue_bytes`] for what is counted.
///
/// ```
/// use webhook_receiver::dispatch::DEFAULT_QUEUE_BYTES;
/// use webhook_receiver::stack::DEFAULT_BODY_LIMIT;
///
/// assert_eq!(DEFAULT_QUEUE_BYTES, 64 * 1024 * 1024);
/// assert_eq!(DEFAULT_QUEUE_BYTES / DEFAULT_BODY_LIMIT, 64);
/// ```
pub const DEFAULT_QUEUE_BYTES: usize = 64 * 1024 * 1024;
/// Default number of events handled at once: 64.
///
/// ```
/// use std::time::Duration;
/// use webhook_receiver::chirp::ChirpEvent;
/// use webhook_receiver::dispatch::{DEFAULT_CONCURRENCY}; use webhook_receiver::stack::{Dispatcher, Handlers};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// # use webhook_receiver::Format;
/// # let body = br#"{"event":"messages.sms.delivered","data":{"id":"msg_1","status":"delivered"}}"#;
/// # let event = || webhook_receiver::chirp::Chirp.decode(&http::HeaderMap::new(), body).unwrap();
/// let handlers = Handlers::<ChirpEvent>::new().fallback(|_, _| async {});
/// let dispatcher = Dispatcher::builder(handlers).spawn();
/// for _ in 0..DEFAULT_CONCURRENCY + 1 {
///     dispatcher.try_enqueue(event()).unwrap();
/// }
/// assert_eq!((dispatcher.running(), dispatcher.queued()), (DEFAULT_CONCURRENCY, 1));
/// # dispatcher.drain(Duration::from_secs(5)).await.unwrap();
/// # }
/// ```
pub const DEFAULT_CONCURRENCY: usize = 64;

impl<E: Event> Dispatcher<E> {
    /// Configures a dispatcher for `handlers`; [`spawn`](DispatcherBuilder::spawn) starts it.
    ///
    /// ```
    /// use std::time::Duration;
    /// use webhook_receiver::chirp::ChirpEvent;
    /// use webhook_receiver::stack::{Dispatcher, Handlers};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let handlers = Handlers::<ChirpEvent>::new().fallback(|_, _| async {});
    /// let dispatcher = Dispatcher::builder(handlers).queue_capacity(10_000).spawn();
    /// assert_eq!((dispatcher.queued(), dispatcher.running()), (0, 0));
    /// # dispatcher.drain(Duration::from_secs(5)).await.unwrap();
    /// # }
    /// ```
    pub fn builder<S>(handlers: Handlers<E, S>) -> DispatcherBuilder<E> {
        DispatcherBuilder {
            routes: handlers.into_routes(),
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
            queue_bytes: DEFAULT_QUEUE_BYTES,
            concurrency: DEFAULT_CONCURRENCY,
        }
    }
}

/// Builder for [`Dispatcher`]: [`Dispatcher::builder`].
///
/// ```
/// use std::time::Duration;
/// use webhook_receiver::chirp::ChirpEvent;
/// use webhook_receiver::stack::{Dispatcher, DispatcherBuilder, Handlers};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let builder: DispatcherBuilder<ChirpEvent> = Dispatcher::builder(Handlers::new());
/// let dispatcher = builder.queue_capacity(256).concurrency_limit(4).spawn();
/// assert!(!dispatcher.is_closing());
/// # dispatcher.drain(Duration::from_secs(5)).await.unwrap();
/// # }
/// ```
#[must_use]
pub struct DispatcherBuilder<E> {
    routes: Routes<E>,
    queue_capacity: usize,
    queue_bytes: usize,
    concurrency: usize,
}

impl<E> fmt::Debug for DispatcherBuilder<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DispatcherBuilder")
            .field("handlers", &self.routes)
            .field("queue_capacity", &self.queue_capacity)
            .field("queue_bytes", &self.queue_bytes)
            .field("concurrency", &self.concurrency)
            .finish()
    }
}

impl<E: Event> DispatcherBuilder<E> {
    #[doc = include_str!("../../docs/queue_capacity.md")]
    ///
    /// ```
    /// use std::time::Duration;
    /// use webhook_receiver::chirp::ChirpEvent;
    /// use webhook_receiver::stack::{Dispatcher, EnqueueError, Handlers};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # use webhook_receiver::Format;
    /// # let body = br#"{"event":"messages.sms.delivered","data":{"id":"msg_1","status":"delivered"}}"#;
    /// # let event = || webhook_receiver::chirp::Chirp.decode(&http::HeaderMap::new(), body).unwrap();
    /// let handlers = Handlers::<ChirpEvent>::new().fallback(|_, _| async {});
    /// let dispatcher = Dispatcher::builder(handlers).queue_capacity(2).concurrency_limit(1).spawn();
    /// let results: Vec<_> = (0..4).map(|_| dispatcher.try_enqueue(event())).collect();
    /// // One runs, two wait, and the fourth is refused.
    /// assert_eq!(results, [Ok(()), Ok(()), Ok(()), Err(EnqueueError::Full)]);
    /// # dispatcher.drain(Duration::from_secs(5)).await.unwrap();
    /// # }
    /// ```
    pub fn queue_capacity(mut self, capacity: usize) -> Self {
        self.queue_capacity = capacity.max(1);
        self
    }

    #[doc = include_str!("../../docs/queue_bytes.md")]
    ///
    /// ```
    /// use http::StatusCode;
    /// use tower::ServiceExt;
    /// use webhook_receiver::chirp::{Chirp, ChirpEvent};
    /// use webhook_receiver::stack::{Dispatcher, Handlers};
    /// use webhook_receiver::stack::WebhookService;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # let post = |body: &str| http::Request::post("/").header("content-type", "application/json").body(body.to_owned()).unwrap();
    /// let handlers = Handlers::<ChirpEvent>::new().fallback(|_, _| std::future::pending::<()>());
    /// let dispatcher = Dispatcher::builder(handlers).queue_bytes(100).spawn();
    /// let svc = WebhookService::builder(Chirp, dispatcher.clone()).build();
    /// let event = |id: &str| format!(r#"{{"event":"calls.voice.started","data":{{"id":"{id}"}}}}"#);
    /// let first = svc.clone().oneshot(post(&event("call_1"))).await.unwrap();
    /// assert_eq!(first.status(), StatusCode::OK); // 54 bytes held while its handler runs
    /// let second = svc.clone().oneshot(post(&event("call_2"))).await.unwrap();
    /// assert_eq!(second.status(), StatusCode::SERVICE_UNAVAILABLE); // 108 > 100
    /// assert!(second.headers().contains_key("retry-after"));
    /// # dispatcher.drain(std::time::Duration::from_millis(10)).await.unwrap_err();
    /// # }
    /// ```
    pub fn queue_bytes(mut self, bytes: usize) -> Self {
        self.queue_bytes = bytes.max(1);
        self
    }

    #[doc = include_str!("../../docs/concurrency_limit.md")]
    ///
    /// ```
    /// use std::time::Duration;
    /// use webhook_receiver::chirp::ChirpEvent;
    /// use webhook_receiver::stack::{Dispatcher, Handlers};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # use webhook_receiver::Format;
    /// # let body = br#"{"event":"messages.sms.delivered","data":{"id":"msg_1","status":"delivered"}}"#;
    /// # let event = || webhook_receiver::chirp::Chirp.decode(&http::HeaderMap::new(), body).unwrap();
    /// let handlers = Handlers::<ChirpEvent>::new().fallback(|_, _| async {});
    /// let dispatcher = Dispatcher::builder(handlers).concurrency_limit(2).spawn();
    /// for _ in 0..3 {
    ///     dispatcher.try_enqueue(event()).unwrap();
    /// }
    /// assert_eq!((dispatcher.running(), dispatcher.queued()), (2, 1)); // two at once
    /// # dispatcher.drain(Duration::from_secs(5)).await.unwrap();
    /// # }
    /// ```
    pub fn concurrency_limit(mut self, limit: usize) -> Self {
        self.concurrency = limit.max(1);
        self
    }

    /// Builds the dispatcher on the current Tokio runtime: handlers run on it, in runner tasks
    /// spawned as the load needs them (none before the first event, at most the concurrency
    /// limit); up to 64 of them stay parked between events, until the shutdown.
    ///
    /// To run the handlers on another runtime, call `spawn` inside that runtime's
    /// [`enter`](tokio::runtime::Runtime::enter) guard. With cores to spare, a runtime of its own
    /// keeps handler work (timers firing, replies parsed) off the server's workers. On a single
    /// core it costs more than it saves: every event then wakes another thread.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use std::time::Duration;
    /// use webhook_receiver::chirp::ChirpEvent;
    /// use webhook_receiver::stack::{Dispatcher, Handlers};
    ///
    /// let handler_runtime = tokio::runtime::Builder::new_multi_thread()
    ///     .worker_threads(1)
    ///     .thread_name("webhook-handlers")
    ///     .enable_all()
    ///     .build()
    ///     .unwrap();
    /// // Each handler call records the name of the thread it ran on.
    /// let ran_on = Arc::new(Mutex::new(Vec::new()));
    /// let handlers = Handlers::<ChirpEvent, _>::with_state(Arc::clone(&ran_on)).fallback(
    ///     |_, ctx| async move {
    ///         let thread = std::thread::current().name().map(str::to_owned);
    ///         ctx.state().lock().unwrap().push(thread);
    ///     },
    /// );
    /// let dispatcher = {
    ///     let _on_handler_runtime = handler_runtime.enter();
    ///     Dispatcher::builder(handlers).spawn()
    /// };
    ///
    /// // The server's runtime: receivers enqueue here, handlers run on the other one.
    /// # let server = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    /// # server.block_on(async {
    /// # let body = br#"{"event":"messages.sms.delivered","data":{"id":"msg_1","status":"delivered"}}"#;
    /// # use webhook_receiver::Format;
    /// # let decoded = webhook_receiver::chirp::Chirp.decode(&http::HeaderMap::new(), body).unwrap();
    /// # dispatcher.try_enqueue(decoded).unwrap();
    /// // At shutdown the drain waits for handlers on either runtime.
    /// dispatcher.drain(Duration::from_secs(5)).await.unwrap();
    /// # });
    /// assert_eq!(*ran_on.lock().unwrap(), [Some("webhook-handlers".to_owned())]);
    /// ```
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime.
    pub fn spawn(self) -> Dispatcher<E> {
        let runtime = tokio::runtime::Handle::current();
        let spawn: Spawn = Box::new(move |task| {
            // A runtime that has shut down drops the task unpolled; its guard reports it.
            drop(runtime.spawn(task));
        });
        let shared = Arc::new(Shared {
            capacity: self.queue_capacity,
            bytes: ByteBudget::new(self.queue_bytes),
            limit: self.concurrency,
            routes: Arc::new(self.routes),
            state: Mutex::new(State {
                queue: VecDeque::new(),
                delayed: BTreeMap::new(),
                seq: 0,
                reserved: 0,
                running: 0,
                runners: 0,
                idle: 0,
                closing: false,
                holds: 0,
                abandoned: false,
                metrics: crate::telemetry::DispatcherMetrics::new(),
            }),
            spawn,
            runners: TaskTracker::new(),
            wake: Notify::new(),
            timer: Notify::new(),
            drained: CancellationToken::new(),
            closed: CancellationToken::new(),
            backlog: Backlog::new(),
            queue_wait: crate::telemetry::queue_wait(),
        });
        let guard = TimerGuard {
            shared: Arc::clone(&shared),
            finished: false,
        };
        (shared.spawn)(Box::pin(timer(guard)));
        Dispatcher::new(shared)
    }
}
