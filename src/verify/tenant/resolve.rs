//! What the user provides: which tenant a request is for, and that tenant's secrets.

use std::borrow::Borrow;
use std::fmt;
use std::future::Future;
use std::sync::Arc;

use http::request::Parts;

use crate::error::BoxError;

/// The header in which the receiver keeps the [`Tenant`] a request was verified for, with the
/// event: an inbox stores it like the other headers, so that the handlers see the tenant
/// ([`EventContext::tenant`](crate::dispatch::EventContext::tenant)) also when the event runs
/// again after a restart or on another replica. The receiver sets it itself for a request
/// verified per tenant and removes it from every other request: a sender cannot name a tenant.
///
/// ```
/// use webhook_receiver::verify::TENANT_HEADER;
/// assert_eq!(TENANT_HEADER, "webhook-receiver-tenant");
/// ```
pub const TENANT_HEADER: &str = "webhook-receiver-tenant";

/// The tenant a request was verified for, as [`ResolveSecrets::tenant`] named it.
///
/// [`PerTenant`](super::PerTenant) inserts it in the request's extensions once the signature
/// has been verified with that tenant's secrets; the receiver then scopes the event's dedup key
/// with it, so two tenants' events with the same id are two events, and the handlers see it
/// ([`EventContext::tenant`](crate::dispatch::EventContext::tenant)). Cheap to clone.
///
/// ```
/// use webhook_receiver::verify::Tenant;
///
/// let acme = Tenant::new("acme");
/// assert_eq!(acme.as_str(), "acme");
/// assert_eq!(acme.to_string(), "acme");
/// assert_eq!(acme, Tenant::from("acme"));
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tenant(Arc<str>);

impl Tenant {
    /// A tenant named `name` (a path segment, a header's value, an account id, ...).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use webhook_receiver::verify::Tenant;
    ///
    /// let name: Arc<str> = Arc::from("globex");
    /// assert_eq!(Tenant::new(name).as_str(), "globex");
    /// ```
    pub fn new(name: impl Into<Arc<str>>) -> Self {
        Self(name.into())
    }

    /// The tenant's name.
    ///
    /// ```
    /// use webhook_receiver::verify::Tenant;
    /// assert_eq!(Tenant::new(String::from("acme")).as_str(), "acme");
    /// ```
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Tenant {
    fn from(name: &str) -> Self {
        Self::new(name)
    }
}

impl From<String> for Tenant {
    fn from(name: String) -> Self {
        Self::new(name)
    }
}

impl AsRef<str> for Tenant {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for Tenant {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Tenant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Tenant").field(&&*self.0).finish()
    }
}

impl fmt::Display for Tenant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Finds a request's tenant and that tenant's secrets, for [`PerTenant`](super::PerTenant).
///
/// - [`tenant`](Self::tenant) is synchronous and cheap: it reads the request's head (a path
///   segment, a header) and names the tenant, or `None` (answered 401 `unknown_tenant`).
///   Refuse here what cannot be a tenant (too long, wrong characters): it saves a lookup.
/// - [`secrets`](Self::secrets) looks the tenant's secrets up (a database, a secrets manager):
///   `Ok(Some(secrets))`, `Ok(None)` for a tenant that does not exist (401 `unknown_tenant`),
///   or `Err` when the lookup itself failed (503 `secrets_unavailable` with `Retry-After`: the
///   sender retries). It runs once per tenant per cache lifetime, not per request. Its errors
///   are logged: do not put secrets in them.
///
/// `secrets` can be written as an `async fn` in the impl. The path is the one the service
/// sees: behind axum's `Router::route_service("/webhooks/{tenant}", ..)` it is the whole path;
/// under `Router::nest` the prefix is stripped.
///
/// ```
/// use std::collections::HashMap;
/// use http::request::Parts;
/// use webhook_receiver::BoxError;
/// use webhook_receiver::verify::{ResolveSecrets, Tenant};
///
/// /// `POST /webhooks/{tenant}`, secrets from a table (a database in real life).
/// struct Table(HashMap<String, Vec<String>>);
///
/// impl ResolveSecrets for Table {
///     type Secrets = Vec<String>;
///
///     fn tenant(&self, request: &Parts) -> Option<Tenant> {
///         let name = request.uri.path().strip_prefix("/webhooks/")?;
///         let valid = !name.is_empty() && name.len() <= 64
///             && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
///         valid.then(|| Tenant::from(name))
///     }
///
///     async fn secrets(&self, tenant: &Tenant) -> Result<Option<Vec<String>>, BoxError> {
///         Ok(self.0.get(tenant.as_str()).cloned())
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let table = Table(HashMap::from([("acme".to_owned(), vec!["s1".to_owned()])]));
/// let (parts, ()) = http::Request::post("/webhooks/acme").body(()).unwrap().into_parts();
/// let acme = table.tenant(&parts).unwrap();
/// assert_eq!(table.secrets(&acme).await.unwrap(), Some(vec!["s1".to_owned()]));
/// assert_eq!(table.secrets(&Tenant::from("initech")).await.unwrap(), None);
/// let (parts, ()) = http::Request::post("/webhooks/a%2Fb").body(()).unwrap().into_parts();
/// assert_eq!(table.tenant(&parts), None);
/// # }
/// ```
#[diagnostic::on_unimplemented(note = "implement `fn tenant` and `async fn secrets`")]
pub trait ResolveSecrets: Send + Sync + 'static {
    /// What a lookup returns, handed to the scheme's constructor (e.g. `Vec<String>` for
    /// `|secrets| HmacSha256::new(secrets)`).
    type Secrets: Send + 'static;

    /// The request's tenant, from its head; `None` if it names none (401 `unknown_tenant`).
    fn tenant(&self, request: &Parts) -> Option<Tenant>;

    /// The tenant's secrets: `Ok(None)` if there is no such tenant (401), `Err` if the lookup
    /// failed (503).
    ///
    /// # Errors
    ///
    /// The lookup failed; the request is answered 503 with `Retry-After` and nothing is
    /// remembered.
    fn secrets(
        &self,
        tenant: &Tenant,
    ) -> impl Future<Output = Result<Option<Self::Secrets>, BoxError>> + Send;
}
