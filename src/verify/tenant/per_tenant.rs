//! [`PerTenant`]: any scheme, built per tenant from the secrets a resolver looks up, cached.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::Request;
use moka::future::Cache;

use super::{ResolveSecrets, Tenant};
use crate::error::{BoxError, Rejection, SecretsError};
use crate::verify::VerifyRequest;

/// How long a tenant's verifier is kept by default: also how long a secret removed from the
/// resolver's table keeps being accepted, at most.
const DEFAULT_TTL: Duration = Duration::from_secs(5 * 60);
/// How many tenants' verifiers are kept by default.
const DEFAULT_MAX_TENANTS: u64 = 10_000;
/// `Retry-After` of the 503 answered when the secrets could not be had, by default.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(5);

type Build<S, V> = Box<dyn Fn(S) -> Result<V, BoxError> + Send + Sync>;
type Verifying<B> = Pin<Box<dyn Future<Output = Result<Request<B>, Rejection>> + Send>>;

/// A verifier whose secrets are chosen per request: a [`ResolveSecrets`] names the request's
/// tenant and looks its secrets up; `build` makes the scheme from them (any [`VerifyRequest`]:
/// [`SharedSecret`](crate::verify::SharedSecret), `HmacSha256`, `StandardWebhooks`, your own),
/// and the scheme is kept per tenant in a bounded cache with a time to live.
///
/// Per request:
/// 1. [`tenant`](ResolveSecrets::tenant) names the tenant from the request's head; `None`:
///    401 `unknown_tenant`;
/// 2. the tenant's scheme comes from the cache, or is built from a lookup
///    ([`secrets`](ResolveSecrets::secrets)): concurrent requests of one uncached tenant wait
///    for one lookup. `Ok(None)`: 401 `unknown_tenant`; `Err`, or secrets `build` refuses:
///    503 `secrets_unavailable` with `Retry-After` (logged at `error`); none of these is
///    cached, so the next request looks again;
/// 3. the scheme verifies the request (401 for a bad signature, as without tenants);
/// 4. the [`Tenant`] is put in the request's extensions, beside
///    [`Verified`](crate::verify::Verified): the receiver scopes the event's dedup key with it,
///    so two tenants' events with the same id are both handled.
///
/// Nothing is remembered for a rejected request: no dedup claim, no stored event.
///
/// Secrets the scheme refuses (an empty secret in the tenant's row) answer 503, not 401: the
/// fault is the receiver's configuration, the sender retries, and the deliveries go through
/// once the row is fixed.
///
/// # Caching, revocation, and unknown tenants
///
/// A tenant's scheme is kept for [`ttl`](Self::ttl) (default 5 minutes) after its lookup: a
/// secret removed from the table (the end of a rotation, a leak) is still accepted for up to
/// that long, unless [`invalidate`](Self::invalidate) is called when it changes. At most
/// [`max_tenants`](Self::max_tenants) (default 10,000) are kept; past that the least useful are
/// dropped and looked up again when needed.
///
/// Unknown tenants are not cached, so that a tenant created a moment after its first delivery
/// failed is accepted at the retry. The cost: every request naming a made-up tenant reaches
/// the resolver (the cache cannot be filled with them, only known tenants enter it). Refuse
/// what cannot be a tenant in [`tenant`](ResolveSecrets::tenant), and put the
/// [IP allowlist](crate::allowlist) or a rate limit in front if the lookup is expensive.
///
/// # Example
///
/// ```
/// use std::collections::HashMap;
/// use http::{Request, StatusCode, request::Parts};
/// use tower::ServiceExt;
/// use webhook_receiver::BoxError;
/// use webhook_receiver::stack::VerifyWebhook;
/// use webhook_receiver::verify::{PerTenant, ResolveSecrets, SharedSecret, Tenant};
///
/// struct Table(HashMap<&'static str, &'static str>);
///
/// impl ResolveSecrets for Table {
///     type Secrets = &'static str;
///     fn tenant(&self, request: &Parts) -> Option<Tenant> {
///         request.uri.path().strip_prefix("/webhooks/").map(Tenant::from)
///     }
///     async fn secrets(&self, tenant: &Tenant) -> Result<Option<&'static str>, BoxError> {
///         Ok(self.0.get(tenant.as_str()).copied()) // a database query in real life
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// # use bytes::Bytes;
/// # use http_body_util::Full;
/// # let inner = tower::service_fn(|_req: Request<Full<Bytes>>| async {
/// #     Ok::<_, std::convert::Infallible>(http::Response::new(Full::<Bytes>::default()))
/// # });
/// let table = Table(HashMap::from([("acme", "s1"), ("globex", "s2")]));
/// let verifier = PerTenant::new(table, |secret| SharedSecret::new([secret]));
/// let svc = VerifyWebhook::new(inner, verifier);
/// let post = |path: &str, secret: &str| {
///     let req = Request::post(path).header("x-webhook-secret", secret);
///     req.body(Full::<Bytes>::default()).unwrap()
/// };
/// let status = |res: http::Response<Full<Bytes>>| res.status();
/// assert_eq!(status(svc.clone().oneshot(post("/webhooks/acme", "s1")).await.unwrap()), StatusCode::OK);
/// // Globex's secret is not Acme's.
/// assert_eq!(status(svc.clone().oneshot(post("/webhooks/acme", "s2")).await.unwrap()), StatusCode::UNAUTHORIZED);
/// assert_eq!(status(svc.clone().oneshot(post("/webhooks/initech", "s1")).await.unwrap()), StatusCode::UNAUTHORIZED);
/// # }
/// ```
pub struct PerTenant<R: ResolveSecrets, V> {
    resolver: R,
    build: Build<R::Secrets, V>,
    cache: Cache<Tenant, Arc<V>>,
    ttl: Duration,
    max_tenants: u64,
    retry_after: Duration,
}

/// Why a tenant has no scheme. Not cached (moka's `try_get_with` never caches an error).
enum Miss {
    Unknown,
    Unavailable(SecretsError),
}

impl<R: ResolveSecrets, V: Send + Sync + 'static> PerTenant<R, V> {
    /// Resolves tenants and their secrets with `resolver`, and builds each tenant's scheme with
    /// `build` (e.g. `|secrets| HmacSha256::new(secrets)`; an `Err` answers 503 and is logged).
    ///
    /// ```
    /// use http::request::Parts;
    /// use webhook_receiver::BoxError;
    /// use webhook_receiver::verify::{HmacSha256, PerTenant, ResolveSecrets, Tenant};
    ///
    /// /// One tenant per `X-Tenant` header value; its secrets, newest first, from a database.
    /// struct Db;
    ///
    /// impl ResolveSecrets for Db {
    ///     type Secrets = Vec<String>;
    ///     fn tenant(&self, request: &Parts) -> Option<Tenant> {
    ///         request.headers.get("x-tenant")?.to_str().ok().map(Tenant::from)
    ///     }
    ///     async fn secrets(&self, tenant: &Tenant) -> Result<Option<Vec<String>>, BoxError> {
    ///         let _ = tenant; // SELECT secret FROM webhook_secrets WHERE tenant = $1 ...
    ///         Ok(Some(vec!["secret-2025".into(), "secret-2024".into()]))
    ///     }
    /// }
    ///
    /// let verifier = PerTenant::new(Db, |secrets| HmacSha256::new(secrets));
    /// # let _ = verifier;
    /// ```
    pub fn new<F, E>(resolver: R, build: F) -> Self
    where
        F: Fn(R::Secrets) -> Result<V, E> + Send + Sync + 'static,
        E: Into<BoxError>,
    {
        Self {
            resolver,
            build: Box::new(move |secrets| build(secrets).map_err(Into::into)),
            cache: cache(DEFAULT_TTL, DEFAULT_MAX_TENANTS),
            ttl: DEFAULT_TTL,
            max_tenants: DEFAULT_MAX_TENANTS,
            retry_after: DEFAULT_RETRY_AFTER,
        }
    }

    /// How long a tenant's scheme is kept after its lookup (default 5 minutes): the longest a
    /// secret removed from the resolver's table is still accepted (see
    /// [`invalidate`](Self::invalidate)), and the longest between two lookups of a busy tenant.
    ///
    /// ```
    /// use std::time::Duration;
    /// # use webhook_receiver::verify::{PerTenant, ResolveSecrets, SharedSecret, Tenant};
    /// # struct Db;
    /// # impl ResolveSecrets for Db {
    /// #     type Secrets = String;
    /// #     fn tenant(&self, _: &http::request::Parts) -> Option<Tenant> { None }
    /// #     async fn secrets(&self, _: &Tenant) -> Result<Option<String>, webhook_receiver::BoxError> { Ok(None) }
    /// # }
    /// let verifier = PerTenant::new(Db, |s| SharedSecret::new([s])).ttl(Duration::from_secs(60));
    /// assert_eq!(verifier.time_to_live(), Duration::from_secs(60));
    /// ```
    ///
    /// # Panics
    ///
    /// If `ttl` is longer than 1,000 years (moka's limit).
    #[must_use]
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self.cache = cache(self.ttl, self.max_tenants);
        self
    }

    /// How many tenants' schemes are kept at most (default 10,000); past it the least useful
    /// are dropped, and looked up again on their next request.
    ///
    /// ```
    /// # use webhook_receiver::verify::{PerTenant, ResolveSecrets, SharedSecret, Tenant};
    /// # struct Db;
    /// # impl ResolveSecrets for Db {
    /// #     type Secrets = String;
    /// #     fn tenant(&self, _: &http::request::Parts) -> Option<Tenant> { None }
    /// #     async fn secrets(&self, _: &Tenant) -> Result<Option<String>, webhook_receiver::BoxError> { Ok(None) }
    /// # }
    /// let verifier = PerTenant::new(Db, |s| SharedSecret::new([s])).max_tenants(500);
    /// assert_eq!(verifier.tenant_capacity(), 500);
    /// ```
    #[must_use]
    pub fn max_tenants(mut self, max: u64) -> Self {
        self.max_tenants = max;
        self.cache = cache(self.ttl, self.max_tenants);
        self
    }

    /// The `Retry-After` of the 503 answered when a tenant's secrets could not be had
    /// (default 5 s).
    ///
    /// ```
    /// use std::time::Duration;
    /// # use webhook_receiver::verify::{PerTenant, ResolveSecrets, SharedSecret, Tenant};
    /// # struct Db;
    /// # impl ResolveSecrets for Db {
    /// #     type Secrets = String;
    /// #     fn tenant(&self, _: &http::request::Parts) -> Option<Tenant> { None }
    /// #     async fn secrets(&self, _: &Tenant) -> Result<Option<String>, webhook_receiver::BoxError> { Ok(None) }
    /// # }
    /// let verifier = PerTenant::new(Db, |s| SharedSecret::new([s])).retry_after(Duration::from_secs(30));
    /// assert_eq!(verifier.unavailable_retry_after(), Duration::from_secs(30));
    /// ```
    #[must_use]
    pub fn retry_after(mut self, retry_after: Duration) -> Self {
        self.retry_after = retry_after;
        self
    }

    /// The time to live of a cached scheme ([`ttl`](Self::ttl)).
    ///
    /// ```
    /// use std::time::Duration;
    /// # use webhook_receiver::verify::{PerTenant, ResolveSecrets, SharedSecret, Tenant};
    /// # struct Db;
    /// # impl ResolveSecrets for Db {
    /// #     type Secrets = String;
    /// #     fn tenant(&self, _: &http::request::Parts) -> Option<Tenant> { None }
    /// #     async fn secrets(&self, _: &Tenant) -> Result<Option<String>, webhook_receiver::BoxError> { Ok(None) }
    /// # }
    /// let verifier = PerTenant::new(Db, |s| SharedSecret::new([s]));
    /// assert_eq!(verifier.time_to_live(), Duration::from_secs(300));
    /// ```
    pub fn time_to_live(&self) -> Duration {
        self.ttl
    }

    /// How many tenants' schemes are kept at most ([`max_tenants`](Self::max_tenants)).
    ///
    /// ```
    /// # use webhook_receiver::verify::{PerTenant, ResolveSecrets, SharedSecret, Tenant};
    /// # struct Db;
    /// # impl ResolveSecrets for Db {
    /// #     type Secrets = String;
    /// #     fn tenant(&self, _: &http::request::Parts) -> Option<Tenant> { None }
    /// #     async fn secrets(&self, _: &Tenant) -> Result<Option<String>, webhook_receiver::BoxError> { Ok(None) }
    /// # }
    /// let verifier = PerTenant::new(Db, |s| SharedSecret::new([s]));
    /// assert_eq!(verifier.tenant_capacity(), 10_000);
    /// ```
    pub fn tenant_capacity(&self) -> u64 {
        self.max_tenants
    }

    /// The `Retry-After` sent when the secrets could not be had ([`retry_after`](Self::retry_after)).
    ///
    /// ```
    /// use std::time::Duration;
    /// # use webhook_receiver::verify::{PerTenant, ResolveSecrets, SharedSecret, Tenant};
    /// # struct Db;
    /// # impl ResolveSecrets for Db {
    /// #     type Secrets = String;
    /// #     fn tenant(&self, _: &http::request::Parts) -> Option<Tenant> { None }
    /// #     async fn secrets(&self, _: &Tenant) -> Result<Option<String>, webhook_receiver::BoxError> { Ok(None) }
    /// # }
    /// let verifier = PerTenant::new(Db, |s| SharedSecret::new([s]));
    /// assert_eq!(verifier.unavailable_retry_after(), Duration::from_secs(5));
    /// ```
    pub fn unavailable_retry_after(&self) -> Duration {
        self.retry_after
    }

    /// The resolver.
    ///
    /// ```
    /// # use webhook_receiver::verify::{PerTenant, ResolveSecrets, SharedSecret, Tenant};
    /// struct Db { url: &'static str }
    /// # impl ResolveSecrets for Db {
    /// #     type Secrets = String;
    /// #     fn tenant(&self, _: &http::request::Parts) -> Option<Tenant> { None }
    /// #     async fn secrets(&self, _: &Tenant) -> Result<Option<String>, webhook_receiver::BoxError> { Ok(None) }
    /// # }
    /// let verifier = PerTenant::new(Db { url: "postgres://db/app" }, |s| SharedSecret::new([s]));
    /// assert_eq!(verifier.resolver().url, "postgres://db/app");
    /// ```
    pub fn resolver(&self) -> &R {
        &self.resolver
    }

    /// Forgets `tenant`'s cached scheme: its next request looks its secrets up again. Call it
    /// when a tenant's secrets change, so that a revoked secret stops being accepted at once
    /// rather than within the [`ttl`](Self::ttl) (on this replica: each process has its own
    /// cache).
    ///
    /// ```
    /// # use webhook_receiver::verify::{PerTenant, ResolveSecrets, SharedSecret, Tenant};
    /// # struct Db;
    /// # impl ResolveSecrets for Db {
    /// #     type Secrets = String;
    /// #     fn tenant(&self, _: &http::request::Parts) -> Option<Tenant> { None }
    /// #     async fn secrets(&self, _: &Tenant) -> Result<Option<String>, webhook_receiver::BoxError> { Ok(None) }
    /// # }
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let verifier = PerTenant::new(Db, |s| SharedSecret::new([s]));
    /// // UPDATE webhook_secrets SET ... WHERE tenant = 'acme'; then:
    /// verifier.invalidate("acme").await;
    /// # }
    /// ```
    pub async fn invalidate(&self, tenant: &str) {
        self.cache.invalidate(tenant).await;
    }

    /// The tenant's scheme, from the cache or from one lookup (concurrent callers for one
    /// tenant share it); neither a miss nor a failure is cached.
    async fn scheme(&self, tenant: &Tenant) -> Result<Arc<V>, Rejection> {
        let lookup = async {
            match self.resolver.secrets(tenant).await {
                Ok(Some(secrets)) => (self.build)(secrets).map(Arc::new).map_err(|error| {
                    tracing::error!(%tenant, %error, "the tenant's webhook secrets do not make a valid verifier: answering 503");
                    Miss::Unavailable(SecretsError::invalid_config(error))
                }),
                Ok(None) => {
                    tracing::debug!(%tenant, "unknown tenant: answering 401");
                    Err(Miss::Unknown)
                }
                Err(error) => {
                    tracing::error!(%tenant, %error, "the webhook secrets lookup failed: answering 503");
                    Err(Miss::Unavailable(SecretsError::lookup(error)))
                }
            }
        };
        self.cache
            .try_get_with(tenant.clone(), lookup)
            .await
            .map_err(|miss| match &*miss {
                Miss::Unknown => Rejection::UnknownTenant,
                Miss::Unavailable(source) => Rejection::SecretsUnavailable {
                    retry_after: self.retry_after,
                    source: source.clone(),
                },
            })
    }
}

fn cache<V: Send + Sync + 'static>(ttl: Duration, max_tenants: u64) -> Cache<Tenant, Arc<V>> {
    Cache::builder()
        .max_capacity(max_tenants)
        .time_to_live(ttl)
        .build()
}

impl<R: ResolveSecrets + fmt::Debug, V> fmt::Debug for PerTenant<R, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The cached schemes are not shown: they hold (digests of) secrets.
        f.debug_struct("PerTenant")
            .field("resolver", &self.resolver)
            .field("ttl", &self.ttl)
            .field("max_tenants", &self.max_tenants)
            .field("retry_after", &self.retry_after)
            .finish_non_exhaustive()
    }
}

impl<B, R, V> VerifyRequest<B> for PerTenant<R, V>
where
    B: Send + 'static,
    R: ResolveSecrets,
    V: VerifyRequest<B>,
{
    type Future = PerTenantFuture<B>;

    fn verify(self: Arc<Self>, request: Request<B>, body_limit: usize) -> Self::Future {
        PerTenantFuture {
            inner: Box::pin(async move {
                let (parts, body) = request.into_parts();
                let Some(tenant) = self.resolver.tenant(&parts) else {
                    tracing::debug!("the request names no tenant: answering 401");
                    return Err(Rejection::UnknownTenant);
                };
                let scheme = self.scheme(&tenant).await?;
                let request = Request::from_parts(parts, body);
                let mut request = scheme.verify(request, body_limit).await?;
                tracing::debug!(%tenant, "webhook verified for tenant");
                request.extensions_mut().insert(tenant);
                Ok(request)
            }),
        }
    }
}

/// The verification future of [`PerTenant`]: names the tenant, gets its scheme (cached, or
/// looked up), verifies with it.
///
/// An opaque type: its internals (one allocation per request) may change.
///
/// ```
/// use std::sync::Arc;
/// use http::{Request, request::Parts};
/// use webhook_receiver::{BoxError, Rejection};
/// use webhook_receiver::verify::{PerTenant, PerTenantFuture, ResolveSecrets, SharedSecret, Tenant, VerifyRequest};
///
/// struct NoTenants;
/// impl ResolveSecrets for NoTenants {
///     type Secrets = String;
///     fn tenant(&self, _: &Parts) -> Option<Tenant> { None }
///     async fn secrets(&self, _: &Tenant) -> Result<Option<String>, BoxError> { Ok(None) }
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let verifier = Arc::new(PerTenant::new(NoTenants, |s| SharedSecret::new([s])));
/// let future: PerTenantFuture<()> = verifier.verify(Request::post("/").body(()).unwrap(), 1024);
/// assert!(matches!(future.await, Err(Rejection::UnknownTenant)));
/// # }
/// ```
pub struct PerTenantFuture<B> {
    inner: Verifying<B>,
}

impl<B> Future for PerTenantFuture<B> {
    type Output = Result<Request<B>, Rejection>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx)
    }
}

impl<B> fmt::Debug for PerTenantFuture<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PerTenantFuture").finish_non_exhaustive()
    }
}
