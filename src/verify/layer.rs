use std::fmt;
use std::sync::Arc;

use tower_layer::Layer;

use super::VerifyWebhook;

use crate::body::DEFAULT_BODY_LIMIT;

/// Layer that applies [`VerifyWebhook`]: authenticates every request with the verifier `V`.
///
/// See the [module docs](crate::verify) for an example.
pub struct VerifyWebhookLayer<V> {
    verifier: Arc<V>,
    body_limit: usize,
}

impl<V> VerifyWebhookLayer<V> {
    /// Verifies with `verifier`; signed bodies are read up to 1 MiB
    /// ([`DEFAULT_BODY_LIMIT`](crate::receiver::DEFAULT_BODY_LIMIT)).
    pub fn new(verifier: V) -> Self {
        Self {
            verifier: Arc::new(verifier),
            body_limit: DEFAULT_BODY_LIMIT,
        }
    }

    /// Sets the largest body a signature scheme will buffer (413 past it). Header-only schemes
    /// such as [`SharedSecret`](super::SharedSecret) never read the body.
    #[must_use]
    pub fn body_limit(mut self, limit: usize) -> Self {
        self.body_limit = limit;
        self
    }

    /// The verifier.
    pub fn verifier(&self) -> &V {
        &self.verifier
    }
}

impl<V> Clone for VerifyWebhookLayer<V> {
    fn clone(&self) -> Self {
        Self {
            verifier: Arc::clone(&self.verifier),
            body_limit: self.body_limit,
        }
    }
}

impl<V: fmt::Debug> fmt::Debug for VerifyWebhookLayer<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyWebhookLayer")
            .field("verifier", &self.verifier)
            .field("body_limit", &self.body_limit)
            .finish()
    }
}

impl<S, V> Layer<S> for VerifyWebhookLayer<V> {
    type Service = VerifyWebhook<S, V>;

    fn layer(&self, inner: S) -> Self::Service {
        VerifyWebhook::from_parts(inner, Arc::clone(&self.verifier), self.body_limit)
    }
}
