//! The pieces inside [`Webhooks`](crate::Webhooks), for tower users who assemble their own
//! stack: the verify layer ([`VerifyWebhookLayer`] / [`VerifyWebhook`]), the terminal service
//! ([`WebhookService`]) and the dispatcher that runs the handlers after the 200
//! ([`Dispatcher`], fed by a [`Handlers`] registry). The facade builds exactly this stack;
//! `examples/tower_stack.rs` in the repository serves one from hyper without axum.
//!
//! ```text
//!  Webhooks = VerifyWebhook<WebhookService<F, St>, V>    (VerifyWebhookLayer over WebhookService)
//!                                 └── Dispatcher<F::Event> (Handlers)
//! ```
//!
//! Every setting these pieces share with the facade's builder has the same name and the same
//! docs there; set the body limit on both the verify layer and the service.
//!
//! # The terminal service
//!
//! [`WebhookService`] handles one request in this order, and stops at the first failure:
//!
//! 1. method `POST`, else 405;
//! 2. `Content-Type` is JSON (`application/json` or `application/*+json`), else 415;
//! 3. the body is read up to the limit (default 1 MiB), else 413;
//! 4. the format decodes it (UTF-8, JSON, envelope), else 400 naming what is wrong; an unknown
//!    event type or a payload that does not fit its schema is *not* an error;
//! 5. a queue slot and the body's size in the queue's byte budget are reserved, else 503 with
//!    a `Retry-After` computed from the backlog (see
//!    [Retry-After](crate::dispatch#retry-after));
//! 6. the dedup key is claimed: a duplicate is answered 200 and not dispatched;
//! 7. the event is sent on the reserved slot and 200 is answered at once; handlers run later.
//!
//! Nothing is remembered for a request that stops before step 6, and nothing is remembered
//! without being queued (there is no await point between the claim and the send).
//!
//! The [`Webhooks`](crate::Webhooks) facade puts this service under the verify layer with the
//! same body limit, on its own dispatcher. To assemble another stack from the pieces, give the
//! verify layer and the receiver the same limit, as below.
//!
//! # Example
//!
//! ```
//! use axum::Router;
//! use tower::ServiceBuilder;
//! use webhook_receiver::chirp::{self, Chirp, MessageStatus};
//! use webhook_receiver::stack::{Dispatcher, Handlers};
//! use webhook_receiver::stack::WebhookService;
//! use webhook_receiver::verify::{SharedSecret}; use webhook_receiver::stack::VerifyWebhookLayer;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let handlers = Handlers::new().on(chirp::SMS_DELIVERED, |status: MessageStatus, _ctx| async move {
//!     println!("{} delivered", status.id);
//! });
//! let dispatcher = Dispatcher::builder(handlers).spawn();
//! const LIMIT: usize = 256 * 1024;
//! let webhooks = ServiceBuilder::new()
//!     .layer(VerifyWebhookLayer::new(SharedSecret::new(["s3cr3t"]).unwrap()).body_limit(LIMIT))
//!     .service(WebhookService::builder(Chirp, dispatcher.clone()).body_limit(LIMIT).build());
//! let app: Router = Router::new().route_service("/webhooks/chirp", webhooks);
//! # let _ = app;
//! # }
//! ```

pub use crate::dispatch::dispatcher::{Dispatcher, DispatcherBuilder, EnqueueError};
pub use crate::dispatch::registry::Handlers;
pub use crate::receiver::{
    DEFAULT_BODY_LIMIT, ResponseFuture as ServiceResponseFuture, WebhookService,
    WebhookServiceBuilder,
};
pub use crate::verify::future::ResponseFuture as VerifyResponseFuture;
pub use crate::verify::layer::VerifyWebhookLayer;
pub use crate::verify::service::VerifyWebhook;
