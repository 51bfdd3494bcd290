//! Secrets per request: [`PerTenant`] wraps any scheme and builds it per tenant from the
//! secrets a [`ResolveSecrets`] looks up; the [`Tenant`] scopes the dedup key. See
//! [the module docs](crate::verify#secrets-per-request).

mod per_tenant;
mod resolve;

pub use per_tenant::{PerTenant, PerTenantFuture};
pub use resolve::{ResolveSecrets, TENANT_HEADER, Tenant};
