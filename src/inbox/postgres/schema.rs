//! The Postgres inbox's tables, created and migrated by the library: versioned, idempotent, in
//! a schema of the user's choosing. The table-by-table description is on
//! [`PostgresInbox`](super::PostgresInbox).

use sqlx::{Executor, PgPool, Row};

use super::super::error::InboxError;

/// The schema version this crate writes and reads.
pub(super) const VERSION: i32 = 3;

/// The migrations, in order: `MIGRATIONS[n]` takes the schema from version `n` to `n + 1`.
/// `{s}` is the schema's (validated, quoted) name.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE {s}.keys (
    key bytea PRIMARY KEY,
    expires_at timestamptz NOT NULL
);
-- For the prune. (A BRIN index, tried instead, made 64 concurrent accepts about 15% slower in
-- benches/postgres_inbox.rs: benches/README.md.)
CREATE INDEX keys_expires_at ON {s}.keys (expires_at);

CREATE TABLE {s}.events (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key bytea NOT NULL,
    body bytea NOT NULL,
    headers bytea NOT NULL,
    received_at timestamptz NOT NULL,
    accepted_at timestamptz NOT NULL DEFAULT now(),
    lease_owner text,
    lease_until timestamptz,
    leases integer NOT NULL DEFAULT 0
) WITH (fillfactor = 70);

CREATE TABLE {s}.routes (
    -- No foreign key: a cascade fires a trigger per deleted event; the completion deletes an
    -- event's routes itself, in the same transaction.
    event_id bigint NOT NULL,
    route integer NOT NULL,
    attempts integer NOT NULL,
    next_at timestamptz,
    done boolean NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event_id, route)
);

CREATE TABLE {s}.dead_letters (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id bigint NOT NULL,
    key bytea NOT NULL,
    body bytea NOT NULL,
    headers bytea NOT NULL,
    received_at timestamptz NOT NULL,
    handler text NOT NULL,
    reason text NOT NULL,
    attempts integer NOT NULL,
    error text NOT NULL,
    dead_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE {s}.effects (
    key bytea NOT NULL,
    handler text NOT NULL,
    done_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (key, handler)
);

CREATE FUNCTION {s}.notify_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify({channel}, '');
    RETURN NULL;
END
$$;
CREATE TRIGGER events_notify AFTER INSERT ON {s}.events
    FOR EACH STATEMENT EXECUTE FUNCTION {s}.notify_events();
"#,
    r#"
-- Version 2: the operator API (issue 24). A dead letter names its handler's route (NULL: the
-- event had no handler, or could not be decoded) and carries its event's replays; an event
-- put back by an operator's replay counts them and may run only the routes listed in `routes`.
ALTER TABLE {s}.dead_letters
    ADD COLUMN route integer,
    ADD COLUMN replays integer NOT NULL DEFAULT 0,
    ADD COLUMN last_replayed_at timestamptz;
CREATE INDEX dead_letters_event_id ON {s}.dead_letters (event_id);
ALTER TABLE {s}.events
    ADD COLUMN replays integer NOT NULL DEFAULT 0,
    ADD COLUMN last_replayed_at timestamptz,
    ADD COLUMN listed_only boolean NOT NULL DEFAULT false;
"#,
    r#"
-- Version 3: an event accepted by a replica with room is stored leased to it and runs there at
-- once; only events stored without a lease wake the consumers.
CREATE OR REPLACE FUNCTION {s}.notify_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM new_events WHERE lease_owner IS NULL) THEN
        PERFORM pg_notify({channel}, '');
    END IF;
    RETURN NULL;
END
$$;
DROP TRIGGER events_notify ON {s}.events;
CREATE TRIGGER events_notify AFTER INSERT ON {s}.events REFERENCING NEW TABLE AS new_events
    FOR EACH STATEMENT EXECUTE FUNCTION {s}.notify_events();
"#,
];

/// Whether `name` may name the schema: a lowercase SQL identifier (`[a-z_][a-z0-9_]*`, at most
/// 40 bytes, leaving room for the channel suffix), so that it can be written into statements.
pub(super) fn valid_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z' | b'_'))
        && bytes.all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_'))
        && name.len() <= 40
}

/// The `LISTEN`/`NOTIFY` channel of the schema `schema`.
pub(super) fn channel(schema: &str) -> String {
    format!("{schema}_events")
}

/// Creates the schema and its tables, or migrates them to [`VERSION`], in one transaction under
/// an advisory lock (replicas starting together migrate once). Idempotent.
pub(super) async fn migrate(pool: &PgPool, schema: &str) -> Result<(), InboxError> {
    let mut tx = pool.begin().await.map_err(InboxError::storage)?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
        .bind(format!("webhook_receiver.migrate.{schema}"))
        .execute(&mut *tx)
        .await
        .map_err(InboxError::storage)?;
    let q = |sql: &str| {
        sql.replace("{s}", &format!("\"{schema}\""))
            .replace("{channel}", &format!("'{}'", channel(schema)))
    };
    tx.execute(
        q("CREATE SCHEMA IF NOT EXISTS {s};
           CREATE TABLE IF NOT EXISTS {s}.schema_version (
               one boolean PRIMARY KEY DEFAULT true CHECK (one),
               version integer NOT NULL
           );
           INSERT INTO {s}.schema_version (version) VALUES (0) ON CONFLICT DO NOTHING;")
        .as_str(),
    )
    .await
    .map_err(InboxError::storage)?;
    let found: i32 = sqlx::query(&q("SELECT version FROM {s}.schema_version"))
        .fetch_one(&mut *tx)
        .await
        .map_err(InboxError::storage)?
        .try_get(0)
        .map_err(InboxError::storage)?;
    if found > VERSION {
        return Err(InboxError::UnsupportedFormat {
            found: u64::try_from(found).unwrap_or_default(),
            supported: VERSION as u64,
        });
    }
    for (from, migration) in MIGRATIONS.iter().enumerate().skip(found.max(0) as usize) {
        tx.execute(q(migration).as_str())
            .await
            .map_err(InboxError::storage)?;
        tracing::info!(
            schema,
            version = from + 1,
            "Postgres inbox: schema migrated"
        );
    }
    sqlx::query(&q("UPDATE {s}.schema_version SET version = $1"))
        .bind(VERSION)
        .execute(&mut *tx)
        .await
        .map_err(InboxError::storage)?;
    tx.commit().await.map_err(InboxError::storage)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_are_plain_identifiers() {
        assert!(valid_name("webhook_inbox"));
        assert!(valid_name("_x1"));
        assert!(!valid_name(""));
        assert!(!valid_name("1abc"));
        assert!(!valid_name("Inbox"));
        assert!(!valid_name("a\"; DROP TABLE x; --"));
        assert!(!valid_name(&"a".repeat(41)));
        assert_eq!(MIGRATIONS.len(), VERSION as usize);
    }
}
