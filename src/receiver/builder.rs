use std::fmt;

use http::HeaderMap;

use super::WebhookService;
use super::settings::Settings;
use crate::dedup::{DedupKey, MokaStore};
use crate::dispatch::{Dispatcher, RetryAfter};
use crate::event::Format;
use crate::store::Store;

#[doc(inline)]
pub use crate::body::DEFAULT_BODY_LIMIT;

/// Builder for [`WebhookService`]. See the [module docs](crate::stack) for an example.
///
/// Most users want the [`Webhooks`](crate::Webhooks) facade, whose builder has the same
/// settings and builds the dispatcher and the verify layer too.
///
/// ```
/// use std::time::Duration;
/// use webhook_receiver::stack::{WebhookService, WebhookServiceBuilder};
///
/// # use webhook_receiver::chirp::{Chirp, ChirpEvent};
/// # use webhook_receiver::stack::{Dispatcher, Handlers};
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// # let dispatcher = Dispatcher::builder(Handlers::<ChirpEvent>::new()).spawn();
/// let builder: WebhookServiceBuilder<Chirp> = WebhookService::builder(Chirp, dispatcher)
///     .body_limit(256 * 1024);
/// let svc = builder.build();
/// assert_eq!(svc.store().ttl(), Duration::from_secs(24 * 3600));
/// # }
/// ```
#[must_use]
pub struct WebhookServiceBuilder<F: Format, St = MokaStore> {
    format: F,
    dispatcher: Dispatcher<F::Event>,
    settings: Settings<F::Event, St>,
}

impl<F: Format, St> fmt::Debug for WebhookServiceBuilder<F, St> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookServiceBuilder")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl<F: Format> WebhookServiceBuilder<F, MokaStore> {
    pub(crate) fn new(format: F, dispatcher: Dispatcher<F::Event>) -> Self {
        Self {
            format,
            dispatcher,
            settings: Settings::new(),
        }
    }
}

impl<F: Format, St: Store> WebhookServiceBuilder<F, St> {
    #[doc = include_str!("../docs/store.md")]
    ///
    /// ```
    /// use tower::ServiceExt;
    /// use webhook_receiver::store::MokaStore;
    /// use webhook_receiver::stack::WebhookService;
    ///
    /// # use webhook_receiver::chirp::{Chirp, ChirpEvent};
    /// # use webhook_receiver::stack::{Dispatcher, Handlers};
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # let dispatcher = Dispatcher::builder(Handlers::<ChirpEvent>::new()).spawn();
    /// # let post = |body: &str| http::Request::post("/").header("content-type", "application/json").body(body.to_owned()).unwrap();
    /// # let delivered = r#"{"event":"messages.sms.delivered","data":{"id":"msg_1","status":"delivered"}}"#;
    /// let store = MokaStore::builder().capacity(10_000).build(); // clones share one cache
    /// let svc = WebhookService::builder(Chirp, dispatcher).store(store.clone()).build();
    /// svc.oneshot(post(delivered)).await.unwrap();
    /// assert_eq!(store.len(), 1);
    /// # }
    /// ```
    pub fn store<St2: Store>(self, store: St2) -> WebhookServiceBuilder<F, St2> {
        WebhookServiceBuilder {
            format: self.format,
            dispatcher: self.dispatcher,
            settings: self.settings.store(store),
        }
    }

    #[doc = include_str!("../docs/body_limit.md")]
    ///
    /// ```
    /// use http::StatusCode;
    /// use tower::ServiceExt;
    /// use webhook_receiver::stack::WebhookService;
    ///
    /// # use webhook_receiver::chirp::{Chirp, ChirpEvent};
    /// # use webhook_receiver::stack::{Dispatcher, Handlers};
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # let dispatcher = Dispatcher::builder(Handlers::<ChirpEvent>::new()).spawn();
    /// # let post = |body: &str| http::Request::post("/").header("content-type", "application/json").body(body.to_owned()).unwrap();
    /// # let delivered = r#"{"event":"messages.sms.delivered","data":{"id":"msg_1","status":"delivered"}}"#;
    /// let svc = WebhookService::builder(Chirp, dispatcher).body_limit(32).build();
    /// let res = svc.oneshot(post(delivered)).await.unwrap(); // 77 bytes
    /// assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    /// # }
    /// ```
    pub fn body_limit(mut self, limit: usize) -> Self {
        self.settings = self.settings.body_limit(limit);
        self
    }

    #[doc = include_str!("../docs/retry_after.md")]
    ///
    /// ```
    /// use std::time::Duration;
    /// use http::StatusCode;
    /// use tower::ServiceExt;
    /// use webhook_receiver::stack::WebhookService;
    ///
    /// # use webhook_receiver::chirp::{Chirp, ChirpEvent};
    /// # use webhook_receiver::stack::{Dispatcher, Handlers};
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # let dispatcher = Dispatcher::builder(Handlers::<ChirpEvent>::new()).spawn();
    /// # let post = |body: &str| http::Request::post("/").header("content-type", "application/json").body(body.to_owned()).unwrap();
    /// # let delivered = r#"{"event":"messages.sms.delivered","data":{"id":"msg_1","status":"delivered"}}"#;
    /// let svc = WebhookService::builder(Chirp, dispatcher)
    ///     .retry_after(Duration::from_secs(30))
    ///     .build();
    /// svc.dispatcher().drain(Duration::from_secs(1)).await.unwrap(); // shutting down: 503
    /// let res = svc.oneshot(post(delivered)).await.unwrap();
    /// assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    /// assert_eq!(res.headers()["retry-after"], "30");
    /// # }
    /// ```
    pub fn retry_after(mut self, retry_after: impl Into<RetryAfter>) -> Self {
        self.settings = self.settings.retry_after(retry_after.into());
        self
    }

    #[doc = include_str!("../docs/dedup_key.md")]
    ///
    /// ```
    /// # use webhook_receiver::{chirp::{Chirp, ChirpEvent}, stack::{Dispatcher, Handlers, WebhookService}, DedupKey, Event};
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # let dispatcher = Dispatcher::builder(Handlers::<ChirpEvent>::new()).spawn();
    /// // Dedup by a delivery-id header the sender adds, falling back to the default rule.
    /// let svc = WebhookService::builder(Chirp, dispatcher)
    ///     .dedup_key(|event: &ChirpEvent, headers| match headers.get("x-delivery-id") {
    ///         Some(id) => DedupKey::from_parts(&[event.event_name().as_bytes(), id.as_bytes()]),
    ///         None => event.dedup_key(),
    ///     })
    ///     .build();
    /// # let _ = svc;
    /// # }
    /// ```
    pub fn dedup_key(
        mut self,
        key: impl Fn(&F::Event, &HeaderMap) -> DedupKey + Send + Sync + 'static,
    ) -> Self {
        self.settings = self.settings.dedup_key(key);
        self
    }

    /// Builds the service.
    ///
    /// ```
    /// use http::StatusCode;
    /// use tower::ServiceExt;
    /// use webhook_receiver::stack::WebhookService;
    ///
    /// # use webhook_receiver::chirp::{Chirp, ChirpEvent};
    /// # use webhook_receiver::stack::{Dispatcher, Handlers};
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # let dispatcher = Dispatcher::builder(Handlers::<ChirpEvent>::new()).spawn();
    /// # let post = |body: &str| http::Request::post("/").header("content-type", "application/json").body(body.to_owned()).unwrap();
    /// # let delivered = r#"{"event":"messages.sms.delivered","data":{"id":"msg_1","status":"delivered"}}"#;
    /// let svc = WebhookService::builder(Chirp, dispatcher).build();
    /// let res = svc.clone().oneshot(post(delivered)).await.unwrap();
    /// assert_eq!(res.status(), StatusCode::OK);
    /// let get = http::Request::get("/").body(String::new()).unwrap();
    /// assert_eq!(svc.oneshot(get).await.unwrap().status(), StatusCode::METHOD_NOT_ALLOWED);
    /// # }
    /// ```
    pub fn build(self) -> WebhookService<F, St> {
        self.settings.build(self.format, self.dispatcher)
    }
}
