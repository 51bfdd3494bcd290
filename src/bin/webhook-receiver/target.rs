//! What the tool operates on: a durable inbox file, a Redis inbox, a Postgres inbox, or a
//! running receiver's admin router. One type, itself an [`InboxAdmin`].

use std::path::PathBuf;

use webhook_receiver::BoxError;
use webhook_receiver::store::{
    AdminError, Cursor, DurableInbox, EventDetail, EventFilter, EventPage, InboxAdmin, InboxError,
    PostgresInbox, RedisInbox, ReplayOutcome, ReplayScope, StoredId,
};

use crate::remote::Remote;

/// Where the events are.
#[derive(Debug, clap::Args)]
pub(crate) struct TargetArgs {
    /// A durable inbox directory (its `inbox.redb`), of a stopped receiver: a running one holds
    /// the file, so go through its admin router (`--admin-url`). Replays are marked and run at
    /// its next start.
    #[arg(long, global = true, value_name = "DIR")]
    inbox: Option<PathBuf>,
    /// A Redis inbox's server (`redis://host:6379/0`). Replays are put back on the stream, where
    /// the running replicas take them.
    #[arg(long, global = true, value_name = "URL")]
    redis: Option<String>,
    /// The Redis inbox's key prefix.
    #[arg(long, global = true, default_value = RedisInbox::DEFAULT_PREFIX)]
    prefix: String,
    /// The Redis inbox's consumer group.
    #[arg(long, global = true, default_value = "webhook-receiver")]
    group: String,
    /// A Postgres inbox's database (`postgres://user:password@host/db`). Replays are put back
    /// into its `events` table, where the running replicas claim them. Its schema is created
    /// or migrated if it is not there yet (as a receiver does).
    #[arg(long, global = true, value_name = "URL")]
    postgres: Option<String>,
    /// The Postgres inbox's schema.
    #[arg(long, global = true, default_value = PostgresInbox::DEFAULT_SCHEMA)]
    schema: String,
    /// A running receiver's admin router (`http://127.0.0.1:9100`, plus the path it is nested
    /// under, if any).
    #[arg(long, global = true, value_name = "URL")]
    admin_url: Option<String>,
    /// The admin router's bearer token (`Authorization: Bearer <token>`).
    #[arg(
        long,
        global = true,
        env = "WEBHOOK_ADMIN_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    token: Option<String>,
}

/// An open target.
#[derive(Debug)]
pub(crate) enum Target {
    Durable(DurableInbox),
    Redis(RedisInbox),
    Postgres(PostgresInbox),
    Remote(Box<Remote>),
}

impl TargetArgs {
    /// Opens the one target given.
    pub(crate) async fn open(&self) -> Result<Target, BoxError> {
        let given = [
            self.inbox.is_some(),
            self.redis.is_some(),
            self.postgres.is_some(),
            self.admin_url.is_some(),
        ];
        if given.iter().filter(|g| **g).count() != 1 {
            return Err(
                "give exactly one of --inbox DIR, --redis URL, --postgres URL or --admin-url URL"
                    .into(),
            );
        }
        if let Some(url) = &self.postgres {
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(4)
                .acquire_timeout(std::time::Duration::from_secs(10))
                .connect(url)
                .await?;
            return Ok(Target::Postgres(
                PostgresInbox::builder(pool)
                    .schema(self.schema.as_str())
                    .connect()
                    .await?,
            ));
        }
        match (&self.inbox, &self.redis, &self.admin_url) {
            (Some(dir), None, None) => match DurableInbox::open(dir) {
                Ok(inbox) => Ok(Target::Durable(inbox)),
                Err(InboxError::AlreadyOpen { path }) => Err(format!(
                    "the durable inbox in {} is open (a receiver is running on it): go through its admin router with --admin-url and --token",
                    path.display()
                )
                .into()),
                Err(error) => Err(error.into()),
            },
            (None, Some(url), None) => Ok(Target::Redis(
                RedisInbox::builder(url.as_str())
                    .prefix(self.prefix.as_str())
                    .group(self.group.as_str())
                    .connect()
                    .await?,
            )),
            (None, None, Some(url)) => Ok(Target::Remote(Box::new(Remote::new(
                url,
                self.token.as_deref(),
            )?))),
            _ => Err(
                "give exactly one of --inbox DIR, --redis URL, --postgres URL or --admin-url URL"
                    .into(),
            ),
        }
    }
}

impl InboxAdmin for Target {
    async fn list(
        &self,
        filter: &EventFilter,
        cursor: Option<&Cursor>,
        limit: usize,
    ) -> Result<EventPage, AdminError> {
        match self {
            Self::Durable(t) => t.list(filter, cursor, limit).await,
            Self::Redis(t) => t.list(filter, cursor, limit).await,
            Self::Postgres(t) => t.list(filter, cursor, limit).await,
            Self::Remote(t) => t.list(filter, cursor, limit).await,
        }
    }

    async fn inspect(&self, id: StoredId) -> Result<EventDetail, AdminError> {
        match self {
            Self::Durable(t) => t.inspect(id).await,
            Self::Redis(t) => t.inspect(id).await,
            Self::Postgres(t) => t.inspect(id).await,
            Self::Remote(t) => t.inspect(id).await,
        }
    }

    async fn replay(&self, id: StoredId, scope: ReplayScope) -> Result<ReplayOutcome, AdminError> {
        match self {
            Self::Durable(t) => t.replay(id, scope).await,
            Self::Redis(t) => t.replay(id, scope).await,
            Self::Postgres(t) => t.replay(id, scope).await,
            Self::Remote(t) => t.replay(id, scope).await,
        }
    }

    async fn delete(&self, id: StoredId) -> Result<(), AdminError> {
        match self {
            Self::Durable(t) => t.delete(id).await,
            Self::Redis(t) => t.delete(id).await,
            Self::Postgres(t) => t.delete(id).await,
            Self::Remote(t) => t.delete(id).await,
        }
    }
}
