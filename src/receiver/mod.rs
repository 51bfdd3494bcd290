//! The terminal webhook service ([`WebhookService`]): what happens to an authenticated request.
//! Public through [`stack`](crate::stack), whose docs give the order of its checks.

mod builder;
mod future;
mod service;
mod settings;

pub use builder::{DEFAULT_BODY_LIMIT, WebhookServiceBuilder};
pub use future::ResponseFuture;
pub use service::WebhookService;
pub(crate) use settings::Settings;
