//! PLACEHOLDER crate docs (rewritten below)
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod dedup;
pub mod dispatch;
pub mod error;
pub mod event;
pub mod json;
pub mod receiver;
pub mod verify;

#[cfg(feature = "chirp")]
#[cfg_attr(docsrs, doc(cfg(feature = "chirp")))]
pub mod chirp;

#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;

#[doc(inline)]
pub use error::{BoxError, PayloadError, Rejection, StoreError};
#[doc(inline)]
pub use event::{DecodeEvent, DedupKey, Event, EventType};
