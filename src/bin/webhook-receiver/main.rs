//! `webhook-receiver`: see what a webhook inbox holds, replay it and prune it, from the command
//! line.
//!
//! Install with `cargo install webhook-receiver --features cli`. It works on a durable inbox
//! file of a stopped receiver (`--inbox DIR`: replays run at its next start), on a Redis inbox
//! (`--redis URL`: replays go back on the stream, where the running replicas take them), on a
//! Postgres inbox (`--postgres URL`, `--schema NAME`: replays go back into its `events` table,
//! where the running replicas claim them), or on a running receiver through its admin router
//! (`--admin-url URL --token TOKEN`, or the token in `WEBHOOK_ADMIN_TOKEN`).
//!
//! ```text
//! webhook-receiver --admin-url http://127.0.0.1:9100 dead
//! webhook-receiver --admin-url http://127.0.0.1:9100 inspect 42
//! webhook-receiver --admin-url http://127.0.0.1:9100 replay --state dead --dry-run --json   # {"matched": 100}
//! webhook-receiver --admin-url http://127.0.0.1:9100 replay --state dead --json             # {"matched": 100, "replayed": 100}
//! webhook-receiver --inbox /var/lib/chirp/inbox prune --state dead --older-than 30d
//! webhook-receiver --redis redis://127.0.0.1:6379 export --state dead > dead.jsonl
//! webhook-receiver --postgres postgres://ops@db/app --schema chirp_inbox replay --state dead
//! webhook-receiver replay-file dead.jsonl --url http://127.0.0.1:3000/webhooks/chirp --secret dev-secret
//! ```
//!
//! Every command has `--json`. Long operations (replay, prune, export, replay-file) show their
//! progress on stderr (not with `--json`), and Ctrl-C stops them between two events: each
//! replay or deletion is one atomic step in the store, so none is left half done; what was done
//! is reported, and the exit status is 130.

// A command-line tool prints its answers on stdout and its progress and errors on stderr.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod remote;
mod send;
mod target;

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use webhook_receiver::BoxError;
use webhook_receiver::store::{
    Cursor, EventDetail, EventFilter, EventState, EventSummary, InboxAdmin, ReplayOutcome,
    ReplayScope, StoredId,
};

use target::{Target, TargetArgs};

/// See what a webhook inbox holds, replay it and prune it.
#[derive(Debug, Parser)]
#[command(name = "webhook-receiver", version)]
struct Cli {
    #[command(flatten)]
    target: TargetArgs,
    /// Answer in JSON on stdout (and no progress bar).
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

/// Which events: by state, type and receive time.
#[derive(Debug, Clone, clap::Args)]
struct FilterArgs {
    /// waiting, retrying, dead or done.
    #[arg(long)]
    state: Option<EventState>,
    /// The event type (the body's top-level `type`, else `event`).
    #[arg(long = "type", value_name = "TYPE")]
    event_type: Option<String>,
    /// Received at or after (RFC 3339, e.g. 2026-01-31T12:00:00Z).
    #[arg(long, value_parser = parse_time, value_name = "TIME")]
    since: Option<SystemTime>,
    /// Received before (RFC 3339).
    #[arg(long, value_parser = parse_time, value_name = "TIME")]
    until: Option<SystemTime>,
}

impl FilterArgs {
    fn filter(&self) -> EventFilter {
        let mut filter = EventFilter::new();
        filter.state = self.state;
        filter.event_type.clone_from(&self.event_type);
        filter.received_after = self.since;
        filter.received_before = self.until;
        filter
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// One page of the events matching a filter, oldest first.
    List {
        #[command(flatten)]
        filter: FilterArgs,
        /// Events per page.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Where the page starts (the `next` of the previous page).
        #[arg(long)]
        cursor: Option<String>,
    },
    /// The dead events (every handler done, one or more dead-lettered): `list --state dead`.
    Dead {
        /// Events per page.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Where the page starts.
        #[arg(long)]
        cursor: Option<String>,
    },
    /// One event in full: headers (never credentials), body, handlers' attempts and last errors.
    Inspect {
        /// The event's id.
        id: u64,
    },
    /// Runs dead events again: one by id, or every one a filter matches.
    Replay {
        /// The event's id (else the filter's matches).
        id: Option<u64>,
        #[command(flatten)]
        filter: FilterArgs,
        /// Run every handler, those that succeeded too (default: those that failed).
        #[arg(long)]
        all_handlers: bool,
        /// Only count the matches.
        #[arg(long)]
        dry_run: bool,
    },
    /// Deletes the events of a state received more than an age ago.
    Prune {
        /// waiting, retrying, dead or done.
        #[arg(long)]
        state: EventState,
        /// The age: `30d`, `12h`, `15m`, `45s` (or seconds).
        #[arg(long, value_parser = parse_age, value_name = "AGE")]
        older_than: Duration,
        /// Only count the matches.
        #[arg(long)]
        dry_run: bool,
    },
    /// The events a filter matches, in full, as JSON lines.
    Export {
        #[command(flatten)]
        filter: FilterArgs,
        /// Write to this file instead of stdout.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Posts the events of an exported file (JSON lines) to a receiver, signed.
    ReplayFile {
        /// The file `export` wrote (`-`: stdin).
        file: PathBuf,
        /// The receiver's webhook URL (http://).
        #[arg(long)]
        url: String,
        /// The secret to sign with.
        #[arg(long, env = "WEBHOOK_SECRET", hide_env_values = true)]
        secret: String,
        /// How to sign.
        #[arg(long, value_enum, default_value = "shared-secret")]
        scheme: send::Scheme,
        /// The header of the secret or signature (default: the scheme's).
        #[arg(long)]
        header: Option<String>,
    },
}

fn parse_time(text: &str) -> Result<SystemTime, String> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(SystemTime::from)
        .map_err(|e| format!("{e} (RFC 3339, e.g. 2026-01-31T12:00:00Z)"))
}

fn parse_age(text: &str) -> Result<Duration, String> {
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?}: a number and a unit (30d, 12h, 15m, 45s)"))?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n.saturating_mul(60),
        "h" => n.saturating_mul(3600),
        "d" => n.saturating_mul(86_400),
        _ => return Err(format!("{text:?}: the unit is d, h, m or s")),
    };
    Ok(Duration::from_secs(secs))
}

/// Set by Ctrl-C: long operations stop before their next event.
#[derive(Debug, Clone, Default)]
struct Stop(Arc<AtomicBool>);

impl Stop {
    fn listen() -> Self {
        let stop = Self::default();
        let flag = Arc::clone(&stop.0);
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                flag.store(true, Ordering::SeqCst);
            }
        });
        stop
    }

    fn requested(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// A progress bar on stderr, hidden with `--json` (and when stderr is not a terminal).
fn progress(json: bool, len: u64, what: &'static str) -> ProgressBar {
    if json {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(what);
    bar
}

/// Calls `each` on every event `filter` matches, page by page, until done or stopped. Returns
/// whether it was stopped.
async fn walk(
    target: &Target,
    filter: &EventFilter,
    stop: &Stop,
    mut each: impl AsyncFnMut(&EventSummary) -> Result<(), BoxError>,
) -> Result<bool, BoxError> {
    let mut cursor: Option<Cursor> = None;
    loop {
        let page = target.list(filter, cursor.as_ref(), 256).await?;
        for event in &page.events {
            if stop.requested() {
                return Ok(true);
            }
            each(event).await?;
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => return Ok(false),
        }
    }
}

fn when(t: Option<SystemTime>) -> String {
    t.map_or_else(
        || "-".to_owned(),
        |t| {
            chrono::DateTime::<chrono::Utc>::from(t)
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        },
    )
}

fn print_page(json: bool, page: &webhook_receiver::store::EventPage) -> Result<(), BoxError> {
    if json {
        println!("{}", serde_json::to_string(page)?);
        return Ok(());
    }
    println!(
        "{:<20} {:<9} {:<32} {:<21} {:>8} {:>7}",
        "ID", "STATE", "TYPE", "RECEIVED", "ATTEMPTS", "REPLAYS"
    );
    for e in &page.events {
        println!(
            "{:<20} {:<9} {:<32} {:<21} {:>8} {:>7}",
            e.id,
            e.state,
            e.event_type.as_deref().unwrap_or("-"),
            when(Some(e.received_at)),
            e.attempts,
            e.replays
        );
    }
    match &page.next {
        Some(next) => eprintln!("more: --cursor {next}"),
        None => eprintln!("{} event(s)", page.events.len()),
    }
    Ok(())
}

fn print_detail(event: &EventDetail) {
    let s = &event.summary;
    println!("id        {}", s.id);
    println!("state     {}", s.state);
    println!("type      {}", s.event_type.as_deref().unwrap_or("-"));
    println!("received  {}", when(Some(s.received_at)));
    println!("key       {}", event.key.as_deref().unwrap_or("-"));
    println!(
        "replays   {} (last {})",
        s.replays,
        when(s.last_replayed_at)
    );
    println!("headers");
    for (name, value) in &event.headers {
        println!("  {name}: {value}");
    }
    println!("handlers");
    for h in &event.handlers {
        println!(
            "  route {} {}: {} attempt(s){}{}{}",
            h.route.map_or_else(|| "-".to_owned(), |r| r.to_string()),
            h.handler.as_deref().unwrap_or(""),
            h.attempts,
            if h.dead {
                " dead"
            } else if h.done {
                " done"
            } else {
                ""
            },
            h.reason
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default(),
            h.last_error
                .as_deref()
                .map(|e| format!(": {e}"))
                .unwrap_or_default(),
        );
    }
    println!("body");
    println!("{}", String::from_utf8_lossy(&event.body));
}

/// The outcome line of a long operation, and its exit status.
fn finish(json: bool, stopped: bool, mut answer: serde_json::Value, human: &str) -> ExitCode {
    if stopped {
        answer["interrupted"] = json!(true);
    }
    if json {
        println!("{answer}");
    } else {
        println!("{human}{}", if stopped { " (interrupted)" } else { "" });
    }
    if stopped {
        ExitCode::from(130)
    } else {
        ExitCode::SUCCESS
    }
}

async fn run(cli: Cli) -> Result<ExitCode, BoxError> {
    let json = cli.json;
    if let Command::ReplayFile {
        file,
        url,
        secret,
        scheme,
        header,
    } = cli.command
    {
        return replay_file(json, &file, url, secret, scheme, header).await;
    }
    let target = cli.target.open().await?;
    let stop = Stop::listen();
    match cli.command {
        Command::List {
            filter,
            limit,
            cursor,
        } => {
            let page = target
                .list(&filter.filter(), cursor.map(Cursor::new).as_ref(), limit)
                .await?;
            print_page(json, &page)?;
        }
        Command::Dead { limit, cursor } => {
            let filter = EventFilter::new().state(EventState::Dead);
            let page = target
                .list(&filter, cursor.map(Cursor::new).as_ref(), limit)
                .await?;
            print_page(json, &page)?;
        }
        Command::Inspect { id } => {
            let event = target.inspect(StoredId::new(id)).await?;
            if json {
                println!("{}", serde_json::to_string(&event)?);
            } else {
                print_detail(&event);
            }
        }
        Command::Replay {
            id,
            filter,
            all_handlers,
            dry_run,
        } => {
            let scope = if all_handlers {
                ReplayScope::All
            } else {
                ReplayScope::Failed
            };
            if let Some(id) = id {
                let id = StoredId::new(id);
                if dry_run {
                    let event = target.inspect(id).await?;
                    let matched = u64::from(event.summary.state == EventState::Dead);
                    return Ok(finish(
                        json,
                        false,
                        json!({"matched": matched}),
                        &format!("matched {matched}"),
                    ));
                }
                let outcome = target.replay(id, scope).await?;
                let replayed = u64::from(outcome == ReplayOutcome::Replayed);
                let human = match outcome {
                    ReplayOutcome::NotDead(state) => format!("event {id} is {state}: not replayed"),
                    _ => format!("event {id} replayed"),
                };
                return Ok(finish(
                    json,
                    false,
                    json!({"matched": 1, "replayed": replayed}),
                    &human,
                ));
            }
            let filter = filter.filter();
            let matched = target.count(&filter).await?;
            if dry_run {
                return Ok(finish(
                    json,
                    false,
                    json!({"matched": matched}),
                    &format!("matched {matched}"),
                ));
            }
            let bar = progress(json, matched, "replaying");
            let (mut seen, mut replayed) = (0u64, 0u64);
            let stopped = walk(&target, &filter, &stop, async |event| {
                seen += 1;
                if target.replay(event.id, scope).await? == ReplayOutcome::Replayed {
                    replayed += 1;
                }
                bar.inc(1);
                Ok(())
            })
            .await?;
            bar.finish_and_clear();
            return Ok(finish(
                json,
                stopped,
                json!({"matched": seen, "replayed": replayed}),
                &format!("matched {seen}, replayed {replayed}"),
            ));
        }
        Command::Prune {
            state,
            older_than,
            dry_run,
        } => {
            let before = SystemTime::now()
                .checked_sub(older_than)
                .unwrap_or(SystemTime::UNIX_EPOCH);
            let filter = EventFilter::new().state(state).received_before(before);
            let matched = target.count(&filter).await?;
            if dry_run {
                return Ok(finish(
                    json,
                    false,
                    json!({"matched": matched}),
                    &format!("matched {matched}"),
                ));
            }
            let bar = progress(json, matched, "pruning");
            let (mut seen, mut deleted) = (0u64, 0u64);
            let stopped = walk(&target, &filter, &stop, async |event| {
                seen += 1;
                match target.delete(event.id).await {
                    Ok(()) => deleted += 1,
                    Err(webhook_receiver::store::AdminError::NotFound(_)) => {}
                    Err(error) => return Err(error.into()),
                }
                bar.inc(1);
                Ok(())
            })
            .await?;
            bar.finish_and_clear();
            return Ok(finish(
                json,
                stopped,
                json!({"matched": seen, "deleted": deleted}),
                &format!("matched {seen}, deleted {deleted}"),
            ));
        }
        Command::Export { filter, output } => {
            let filter = filter.filter();
            let matched = target.count(&filter).await?;
            let mut out: Box<dyn Write> = match &output {
                Some(path) => Box::new(std::io::BufWriter::new(std::fs::File::create(path)?)),
                None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
            };
            // On stdout the lines are the answer: no bar over them unless they go to a file.
            let bar = progress(json || output.is_none(), matched, "exporting");
            let mut exported = 0u64;
            let stopped = walk(&target, &filter, &stop, async |event| {
                match target.inspect(event.id).await {
                    Ok(detail) => {
                        serde_json::to_writer(&mut out, &detail)?;
                        out.write_all(b"\n")?;
                        exported += 1;
                    }
                    Err(webhook_receiver::store::AdminError::NotFound(_)) => {}
                    Err(error) => return Err(error.into()),
                }
                bar.inc(1);
                Ok(())
            })
            .await?;
            out.flush()?;
            drop(out);
            bar.finish_and_clear();
            if output.is_some() {
                return Ok(finish(
                    json,
                    stopped,
                    json!({"exported": exported}),
                    &format!("exported {exported}"),
                ));
            }
            eprintln!(
                "exported {exported}{}",
                if stopped { " (interrupted)" } else { "" }
            );
            return Ok(if stopped {
                ExitCode::from(130)
            } else {
                ExitCode::SUCCESS
            });
        }
        Command::ReplayFile { .. } => unreachable!("handled above"),
    }
    Ok(ExitCode::SUCCESS)
}

async fn replay_file(
    json: bool,
    file: &std::path::Path,
    url: String,
    secret: String,
    scheme: send::Scheme,
    header: Option<String>,
) -> Result<ExitCode, BoxError> {
    let reader: Box<dyn BufRead> = if file.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(std::io::BufReader::new(std::fs::File::open(file)?))
    };
    let mut events = Vec::new();
    for (n, line) in reader.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let event: EventDetail = serde_json::from_str(&line)
            .map_err(|e| format!("{}:{}: {e}", file.display(), n + 1))?;
        events.push(event);
    }
    let sender = send::Sender::new(url, scheme, header, secret);
    let stop = Stop::listen();
    let bar = progress(json, events.len() as u64, "sending");
    let (mut accepted, mut duplicates) = (0u64, 0u64);
    let mut stopped = false;
    for event in &events {
        if stop.requested() {
            stopped = true;
            break;
        }
        match sender.send(event).await? {
            send::Sent::Accepted => accepted += 1,
            send::Sent::Duplicate => duplicates += 1,
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(finish(
        json,
        stopped,
        json!({"sent": accepted + duplicates, "accepted": accepted, "duplicates": duplicates}),
        &format!(
            "sent {}: {accepted} accepted, {duplicates} duplicate(s)",
            accepted + duplicates
        ),
    ))
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("webhook-receiver: {error}");
            ExitCode::FAILURE
        }
    }
}
