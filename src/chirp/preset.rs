//! The Chirp preset: a [`Webhooks`] receiver for Chirp's format and shared secret in one call.

use super::Chirp;
use crate::dedup::MokaStore;
use crate::verify::{ConfigError, SharedSecret};
use crate::webhooks::{Webhooks, WebhooksBuilder};

/// A Chirp receiver: the [`Chirp`] format behind a [`SharedSecret`] check of the
/// `X-Webhook-Secret` header, with the store `St` (the default [`MokaStore`]).
///
/// The type to name where the receiver is kept, e.g. in your application state:
///
/// ```
/// use webhook_receiver::chirp::{self, ChirpWebhooks};
///
/// #[derive(Clone)]
/// struct AppState {
///     webhooks: ChirpWebhooks,
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let state = AppState { webhooks: chirp::webhooks(["s3cr3t"]).unwrap().spawn() };
/// assert_eq!(state.webhooks.dispatcher().queued(), 0);
/// # }
/// ```
pub type ChirpWebhooks<St = MokaStore> = Webhooks<Chirp, SharedSecret, St>;

/// Configures a Chirp receiver that accepts any of `secrets` in the `X-Webhook-Secret`
/// header (several at once while rotating). Add handlers, then [`spawn`](WebhooksBuilder::spawn).
///
/// ```
/// use std::time::Duration;
/// use webhook_receiver::chirp::{self, MessageStatus};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), webhook_receiver::BoxError> {
/// let webhooks = chirp::webhooks(["secret-2025", "secret-2024"])?
///     .on(chirp::SMS_DELIVERED, |status: MessageStatus, ctx| async move {
///         tracing::info!(message = %status.id, key = %ctx.key(), "delivered");
///     })
///     .spawn();
/// let app: axum::Router = axum::Router::new().route_service("/webhooks/chirp", webhooks.clone());
/// # drop(app);
/// webhooks.drain(Duration::from_secs(30)).await?;
/// # Ok(())
/// # }
/// ```
///
/// For another header name, build the verifier yourself:
/// `Webhooks::builder(Chirp, SharedSecret::with_header("x-chirp-token", secrets)?)`.
///
/// # Errors
///
/// [`ConfigError`] if there is no secret or one of them is empty.
pub fn webhooks<I, T>(secrets: I) -> Result<WebhooksBuilder<Chirp, SharedSecret>, ConfigError>
where
    I: IntoIterator<Item = T>,
    T: AsRef<[u8]>,
{
    Ok(Webhooks::builder(Chirp, SharedSecret::new(secrets)?))
}
