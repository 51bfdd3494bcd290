//! The admin router's query strings.

use std::time::{Duration, SystemTime};

use serde::Deserialize;

use crate::store::{AdminError, Cursor, EventFilter, EventState, ReplayScope};

/// A filter in a query string: `state`, `type`, `received_after`, `received_before` (RFC 3339).
#[derive(Debug, Default, Deserialize)]
pub(super) struct FilterQuery {
    state: Option<String>,
    #[serde(rename = "type")]
    event_type: Option<String>,
    received_after: Option<String>,
    received_before: Option<String>,
}

fn time(name: &str, text: Option<&str>) -> Result<Option<SystemTime>, AdminError> {
    text.map(|t| {
        chrono::DateTime::parse_from_rfc3339(t)
            .map(SystemTime::from)
            .map_err(|e| {
                AdminError::Invalid(format!("{name}: {e} (RFC 3339, e.g. 2026-01-31T12:00:00Z)"))
            })
    })
    .transpose()
}

impl FilterQuery {
    pub(super) fn to_filter(&self) -> Result<EventFilter, AdminError> {
        let mut filter = EventFilter::new();
        if let Some(state) = &self.state {
            filter = filter.state(
                state
                    .parse()
                    .map_err(|e: crate::store::UnknownState| AdminError::Invalid(e.to_string()))?,
            );
        }
        filter.event_type.clone_from(&self.event_type);
        filter.received_after = time("received_after", self.received_after.as_deref())?;
        filter.received_before = time("received_before", self.received_before.as_deref())?;
        Ok(filter)
    }

    /// The events in `state` received more than `age` ago (what a prune deletes).
    pub(super) fn older_than(state: EventState, age: Duration) -> EventFilter {
        let before = SystemTime::now()
            .checked_sub(age)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        EventFilter::new().state(state).received_before(before)
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct ListQuery {
    #[serde(flatten)]
    pub(super) filter: FilterQuery,
    pub(super) cursor: Option<Cursor>,
    limit: Option<String>,
}

impl ListQuery {
    /// The page size asked for, if any.
    pub(super) fn limit(&self) -> Result<Option<usize>, AdminError> {
        self.limit
            .as_deref()
            .map(|l| {
                l.parse()
                    .map_err(|_| AdminError::Invalid(format!("invalid limit {l:?}")))
            })
            .transpose()
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct ReplayOneQuery {
    pub(super) scope: Option<ReplayScope>,
}

#[derive(Debug, Deserialize)]
pub(super) struct ReplayQuery {
    #[serde(flatten)]
    pub(super) filter: FilterQuery,
    pub(super) scope: Option<ReplayScope>,
    #[serde(default, deserialize_with = "flag")]
    pub(super) dry_run: bool,
}

#[derive(Debug, Deserialize)]
pub(super) struct PruneQuery {
    state: Option<String>,
    older_than_secs: Option<String>,
    #[serde(default, deserialize_with = "flag")]
    pub(super) dry_run: bool,
}

impl PruneQuery {
    pub(super) fn parse(&self) -> Result<(EventState, Duration), AdminError> {
        let state = self
            .state
            .as_deref()
            .ok_or_else(|| AdminError::Invalid("prune needs `state`".to_owned()))?
            .parse()
            .map_err(|e: crate::store::UnknownState| AdminError::Invalid(e.to_string()))?;
        let secs = self
            .older_than_secs
            .as_deref()
            .ok_or_else(|| AdminError::Invalid("prune needs `older_than_secs`".to_owned()))?
            .parse::<u64>()
            .map_err(|_| AdminError::Invalid("`older_than_secs`: whole seconds".to_owned()))?;
        Ok((state, Duration::from_secs(secs)))
    }
}

/// `true`, `1` or an empty value (`?dry_run`) are true; `false` and `0` false. (Query strings
/// inside `flatten` arrive as text.)
fn flag<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    let text = String::deserialize(d)?;
    match text.as_str() {
        "" | "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        other => Err(serde::de::Error::custom(format!(
            "expected true or false, not {other:?}"
        ))),
    }
}
