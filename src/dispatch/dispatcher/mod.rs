//! The dispatcher: a bounded queue of accepted events, the tasks that run their handlers, and
//! the timer queue of handlers waiting for a retry. One concept per file, lowest first (a file
//! uses only the ones above it in this list):
//!
//! - `deadline`: when a waiting retry is due, capped and without overflow;
//! - `queue`: the shared state (queued jobs, the timer queue, the counts) and reporting what
//!   will not run;
//! - `progress`: what a store that keeps events is told as their handlers run;
//! - `runner`: the runner tasks, handing jobs to them, and replacing one that panicked;
//! - `timer`: the task that moves due retries to the runners;
//! - `slot`: the reservation of a queue slot and of the body's bytes, and [`EnqueueError`];
//! - `handle`: [`Dispatcher`], the handle, its counts and the receiver's signals;
//! - `drain`: [`Dispatcher::drain`] and [`DrainTimeout`];
//! - `replay`: queueing again what a store hands back;
//! - `builder`: [`DispatcherBuilder`], its defaults, and `spawn`.
//!
//! There is no dispatcher task between the receiver and the handlers: the receiver's request
//! task reserves a slot and hands the event to a runner.

mod builder;
mod deadline;
mod drain;
mod handle;
mod progress;
mod queue;
mod replay;
mod runner;
mod slot;
mod timer;

pub use builder::{
    DEFAULT_CONCURRENCY, DEFAULT_QUEUE_BYTES, DEFAULT_QUEUE_CAPACITY, DispatcherBuilder,
};
pub use drain::DrainTimeout;
pub use handle::Dispatcher;
pub use slot::EnqueueError;
pub(crate) use slot::Slot;
