//! [`PostgresInbox::transactional`]: a handler that gets the inbox's transaction; its writes
//! and the mark that it ran for the event commit together.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::future::BoxFuture;
use sqlx::PgConnection;

use super::PostgresInbox;
use crate::dispatch::EventContext;
use crate::error::BoxError;

/// The future of a [transactional](PostgresInbox::transactional) handler run: begin, mark,
/// run, commit.
///
/// ```no_run
/// # use webhook_receiver::store::{PostgresInbox, TxFuture};
/// # use webhook_receiver::dispatch::EventContext;
/// fn run(handler: impl Fn(String, EventContext) -> TxFuture, ctx: EventContext) -> TxFuture {
///     handler("payload".to_owned(), ctx)
/// }
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct TxFuture(BoxFuture<'static, Result<(), BoxError>>);

impl fmt::Debug for TxFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TxFuture")
    }
}

impl Future for TxFuture {
    type Output = Result<(), BoxError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.0.as_mut().poll(cx)
    }
}

impl PostgresInbox {
    /// Makes `handler` a handler whose database writes happen exactly once per event: register
    /// what this returns like any handler (`.on(..)`, `.on_group(..)`, `.fallback(..)`).
    ///
    /// Each run of it, on whichever replica, in one transaction on the inbox's pool:
    ///
    /// 1. marks the handler `name` done for the event (`INSERT INTO effects (key, handler) ..
    ///    ON CONFLICT DO NOTHING`). If the mark exists, an earlier run committed: it returns
    ///    `Ok` without running `handler`. If another run holds the mark uncommitted, it waits
    ///    for that run's transaction to end;
    /// 2. runs `handler` with the transaction's connection (`&mut PgConnection`);
    /// 3. commits, if `handler` returned `Ok`; otherwise rolls back (the mark with it) and the
    ///    dispatcher retries it as usual (or dead-letters it).
    ///
    /// # What is exactly once
    ///
    /// What `handler` writes through the connection it is given, per event (dedup key) and
    /// `name`: the commit is the one point where its writes and its mark become true together.
    /// If the process dies, the connection drops or PostgreSQL restarts before the commit,
    /// both roll back and the handler runs again (here after a retry, or on another replica
    /// once the event's lease expires); after the commit, no replay, redelivery or take-over
    /// runs it again for that event, while the dedup key is remembered.
    ///
    /// What stays at least once: anything the handler does outside that connection (an HTTP
    /// call, a message sent, a write through another pool, a log line, a counter in memory)
    /// happens again when a run rolls back and runs again. Do such things after the commit
    /// (from a plain handler, or another event), or make them idempotent.
    ///
    /// `name` must be unique among the handlers of receivers that share the inbox's schema,
    /// and stable across deploys (it is the mark's key). The handler should be short: its
    /// transaction holds a pool connection and its row locks while it runs.
    ///
    /// ```no_run
    /// use webhook_receiver::chirp::{self, MessageStatus};
    /// use webhook_receiver::store::PostgresInbox;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), webhook_receiver::BoxError> {
    /// let pool = sqlx::PgPool::connect("postgres://app@127.0.0.1/app").await?;
    /// let inbox = PostgresInbox::builder(pool).connect().await?;
    /// let record = inbox.transactional("record-delivery", |status: MessageStatus, _ctx, conn| {
    ///     Box::pin(async move {
    ///         sqlx::query("UPDATE messages SET delivered = true WHERE id = $1")
    ///             .bind(&status.id)
    ///             .execute(conn)
    ///             .await?;
    ///         Ok::<_, sqlx::Error>(())
    ///     })
    /// });
    /// let webhooks = chirp::webhooks(["a-long-enough-secret"])?
    ///     .on(chirp::SMS_DELIVERED, record)
    ///     .store(inbox)
    ///     .spawn();
    /// # drop(webhooks); Ok(()) }
    /// ```
    pub fn transactional<P, S, E, F>(
        &self,
        name: impl Into<String>,
        handler: F,
    ) -> impl Fn(P, EventContext<S>) -> TxFuture + Clone + Send + Sync + 'static
    where
        P: Send + 'static,
        S: Send + 'static,
        E: Into<BoxError> + 'static,
        F: for<'c> Fn(
                P,
                EventContext<S>,
                &'c mut PgConnection,
            ) -> Pin<Box<dyn Future<Output = Result<(), E>> + Send + 'c>>
            + Send
            + Sync
            + 'static,
    {
        let name: Arc<str> = name.into().into();
        let handler = Arc::new(handler);
        let shared = Arc::clone(&self.inner.shared);
        move |payload: P, ctx: EventContext<S>| {
            let (name, handler, shared) =
                (Arc::clone(&name), Arc::clone(&handler), Arc::clone(&shared));
            TxFuture(Box::pin(async move {
                let key = ctx.key();
                let mut tx = shared.pool.begin().await?;
                let marked = sqlx::query(&shared.sql.effect)
                    .bind(key.as_bytes().as_slice())
                    .bind(&*name)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if marked == 0 {
                    tracing::debug!(%key, handler = %name, "transactional handler already committed for this event: not run again");
                    return Ok(());
                }
                handler(payload, ctx, &mut tx).await.map_err(Into::into)?;
                tx.commit().await?;
                Ok(())
            }))
        }
    }
}
