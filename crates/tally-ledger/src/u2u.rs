//! The commands of `examples/u2u.rs`, TiMPE's load tool `u2u_transactions`
//! grown up, as a library so that tests run them on every store.
//!
//! ```text
//! u2u [--store mem|redb:PATH|postgres:URL] seed
//! u2u [--store ...] run [-t N] [-c C] [-i] [--from A --to B]
//! u2u [--store ...] process
//! u2u [--store ...] report [--json]
//! ```
//!
//! - `seed` resets the users' data, then registers [`SEED_USERS`] with
//!   [`SEED_BALANCE`] each.
//! - `run` sends the amounts `1..=N` from `A` to `B` (default `elon_musk` to
//!   `nikola_tesla`, `N` = 200) on `C` threads (default 100), sharing
//!   commits through the group-commit front: phase one, then a `process`
//!   sweep; with `-i` each transfer immediately (both phases). It prints
//!   the expected total `N(N+1)/2`, what this run moved, the sender's and
//!   the recipient's balance changes, the pending count, the time taken and
//!   the transfers per second. Several `run`s may share one database at
//!   once (after one `seed`): each moves its own money, and the balance
//!   changes add up.
//! - `process` runs the sweep until nothing is pending.
//! - `report` prints every user's balance, their sum, the pending count and
//!   the audit; with `--json` one object,
//!   `{"users": [{"nickname": "...", "id": "...", "balance": "..."}, ...], "total": "...", "pending": N, "audit": "ok"}`
//!   (amounts as decimal strings; `audit` is `"ok"` or what differs).
//!
//! ```
//! use tally_ledger::u2u::{self, Command, RunOptions};
//! use tally_ledger::users::Users;
//! use tally_store::MemStore;
//!
//! let users = Users::new(MemStore::new());
//! let clock = || 1_700_000_000_000_000_000;
//! u2u::seed(&users, clock())?;
//! let options = RunOptions { transfers: 20, threads: 4, ..RunOptions::default() };
//! let ran = u2u::run(&users, &options, &clock, &|_| {})?;
//! assert_eq!((ran.expected_total, ran.moved, ran.pending), (210, 210, 0));
//! let json = u2u::report_json(&users.report()?);
//! assert!(json.ends_with(r#""total": "40000000", "pending": 0, "audit": "ok"}"#));
//! assert_eq!(u2u::parse_args(&["report".into(), "--json".into()])?.command, Command::Report { json: true });
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use tally_store::Store;

use crate::error::LedgerError;
use crate::status::CreateTransferStatus;
use crate::users::{Report, UserId, Users};

/// The users `seed` registers, as TiMPE's test data did.
pub const SEED_USERS: [&str; 4] = ["elon_musk", "albert_einstein", "nikola_tesla", "lovelace"];

/// What each seeded user starts with.
pub const SEED_BALANCE: u128 = 10_000_000;

/// The most transfers one `run` sends.
pub const TRANSFERS_MAX: u64 = 100_000_000;

/// The most threads one `run` starts.
pub const THREADS_MAX: usize = 1_024;

/// How often a transfer is retried (with its id) after a store error.
pub const RETRIES_MAX: u32 = 20;

/// Pending transfers one sweep call posts.
const SWEEP_LIMIT: usize = 100_000;

/// The usage line.
pub const USAGE: &str = "usage: u2u [--store mem|redb:PATH|postgres:URL|etcd:HOST:PORT,...] seed\n       \
    u2u [--store ...] run [-t N] [-c C] [-i] [--from A --to B]\n       \
    u2u [--store ...] process\n       \
    u2u [--store ...] report [--json]";

/// A parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// The store: `mem`, `redb:PATH`, `postgres:URL` or `etcd:HOST:PORT,...` (the caller opens it).
    pub store: String,
    /// What to do.
    pub command: Command,
}

/// A `u2u` subcommand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Reset, then register [`SEED_USERS`].
    Seed,
    /// Send transfers (see [`run`]).
    Run(RunOptions),
    /// Post everything pending.
    Process,
    /// Print the balances, the total, the pending count and the audit.
    Report {
        /// One JSON object instead of text.
        json: bool,
    },
}

/// The options of `run`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOptions {
    /// `-t`: send the amounts `1..=transfers` (default 200).
    pub transfers: u64,
    /// `-c`: on this many threads (default 100).
    pub threads: usize,
    /// `-i`: each transfer immediately (both phases) instead of phase one
    /// and a sweep.
    pub immediately: bool,
    /// `--from`: the sender's nickname (default `elon_musk`).
    pub from: String,
    /// `--to`: the recipient's nickname (default `nikola_tesla`).
    pub to: String,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            transfers: 200,
            threads: 100,
            immediately: false,
            from: "elon_musk".to_owned(),
            to: "nikola_tesla".to_owned(),
        }
    }
}

/// Parses the arguments after the program name.
///
/// # Errors
/// A message (followed by [`USAGE`] when the caller prints it) for anything
/// that is not a command line of the form above.
pub fn parse_args(args: &[String]) -> Result<Invocation, String> {
    let mut store = "mem".to_owned();
    let mut rest = args;
    while let [flag, value, tail @ ..] = rest
        && flag == "--store"
    {
        store.clone_from(value);
        rest = tail;
    }
    let (name, options) = rest.split_first().ok_or("no command given")?;
    let command = match name.as_str() {
        "seed" | "process" if !options.is_empty() => {
            return Err(format!("{name} takes no options, got {options:?}"));
        }
        "seed" => Command::Seed,
        "process" => Command::Process,
        "report" => match options {
            [] => Command::Report { json: false },
            [json] if json == "--json" => Command::Report { json: true },
            _ => return Err(format!("report takes only --json, got {options:?}")),
        },
        "run" => Command::Run(parse_run(options)?),
        other => return Err(format!("unknown command {other:?}")),
    };
    Ok(Invocation { store, command })
}

fn parse_run(mut options: &[String]) -> Result<RunOptions, String> {
    let mut run = RunOptions::default();
    let mut from = None;
    let mut to = None;
    while let Some((flag, rest)) = options.split_first() {
        options = rest;
        if flag == "-i" {
            run.immediately = true;
            continue;
        }
        let (value, rest) = options.split_first().ok_or_else(|| format!("{flag} needs a value"))?;
        options = rest;
        match flag.as_str() {
            "-t" => {
                run.transfers = value
                    .parse()
                    .ok()
                    .filter(|count| (1..=TRANSFERS_MAX).contains(count))
                    .ok_or_else(|| format!("-t takes a count in 1..={TRANSFERS_MAX}, got {value:?}"))?;
            }
            "-c" => {
                run.threads = value
                    .parse()
                    .ok()
                    .filter(|count| (1..=THREADS_MAX).contains(count))
                    .ok_or_else(|| format!("-c takes a count in 1..={THREADS_MAX}, got {value:?}"))?;
            }
            "--from" => from = Some(value.clone()),
            "--to" => to = Some(value.clone()),
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    match (from, to) {
        (None, None) => {}
        (Some(from), Some(to)) => (run.from, run.to) = (from, to),
        _ => return Err("--from and --to go together".to_owned()),
    }
    if run.from == run.to {
        return Err("--from and --to must name two users".to_owned());
    }
    Ok(run)
}

/// `seed`: resets the users' data, then registers [`SEED_USERS`] with
/// [`SEED_BALANCE`] each. Returns what to print.
///
/// # Errors
/// Store and ledger errors.
pub fn seed<S: Store>(users: &Users<S>, now_ns: u64) -> Result<String, LedgerError> {
    users.reset()?;
    let mut out = String::new();
    for nickname in SEED_USERS {
        let user = users.register(nickname, SEED_BALANCE, now_ns)?;
        out.push_str(&format!("registered {nickname} ({}) with {SEED_BALANCE}\n", user.id));
    }
    Ok(out)
}

/// What one [`run`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct RunReport {
    /// The options it ran with.
    pub options: RunOptions,
    /// `N(N+1)/2`: what all the transfers add up to.
    pub expected_total: u128,
    /// What this run's accepted transfers add up to.
    pub moved: u128,
    /// Transfers accepted.
    pub accepted: u64,
    /// Transfers refused because the sender could not cover them.
    pub refused: u64,
    /// The sender's balance change while it ran (other processes' transfers
    /// included).
    pub sender_change: i128,
    /// The recipient's balance change.
    pub recipient_change: i128,
    /// Pending user transfers afterwards.
    pub pending: u64,
    /// From the first transfer to the end of the sweep.
    pub elapsed: Duration,
}

impl RunReport {
    /// Transfers sent per second of [`elapsed`](Self::elapsed).
    pub fn transfers_per_second(&self) -> f64 {
        self.options.transfers as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

impl fmt::Display for RunReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = &self.options;
        let how = if o.immediately {
            "each immediately"
        } else {
            "phase one, then process"
        };
        writeln!(
            f,
            "sent amounts 1..={} from {} to {} on {} threads ({how})",
            o.transfers, o.from, o.to, o.threads
        )?;
        writeln!(f, "expected total: {}", self.expected_total)?;
        writeln!(
            f,
            "moved by this run: {} ({} accepted, {} refused: insufficient balance)",
            self.moved, self.accepted, self.refused
        )?;
        writeln!(f, "{}: {:+}", o.from, self.sender_change)?;
        writeln!(f, "{}: {:+}", o.to, self.recipient_change)?;
        writeln!(f, "pending: {}", self.pending)?;
        writeln!(f, "elapsed: {:.3} s", self.elapsed.as_secs_f64())?;
        write!(f, "transfers/s: {:.0}", self.transfers_per_second())
    }
}

/// `run`: sends the amounts `1..=N` from one user to another on the given
/// threads, then sweeps (unless `immediately`). `now_ns` is the clock;
/// `progress` is called with 1 after each transfer is answered.
///
/// Each transfer has its id before it is sent and is retried with it (up
/// to [`RETRIES_MAX`] times) after a store error, so a lost acknowledgement
/// neither loses nor doubles it.
///
/// # Errors
/// [`LedgerError::UnknownUser`] when a nickname is not registered; store
/// and ledger errors that outlast the retries.
pub fn run<S: Store>(
    users: &Users<S>,
    options: &RunOptions,
    now_ns: &(dyn Fn() -> u64 + Sync),
    progress: &(dyn Fn(u64) + Sync),
) -> Result<RunReport, LedgerError> {
    let registered = |nickname: &str| -> Result<UserId, LedgerError> {
        users
            .user(nickname)?
            .map(|user| user.id)
            .ok_or(LedgerError::UnknownUser {
                user: UserId::of_nickname(nickname),
            })
    };
    let from = registered(&options.from)?;
    let to = registered(&options.to)?;
    let balance_of = |balances: &[crate::users::UserBalance], id: UserId| {
        balances
            .iter()
            .find(|user| user.id == id)
            .map_or(0, |user| user.balance)
    };
    let before = users.users()?;
    let started = Instant::now();
    let next_amount = AtomicU64::new(1);
    let threads = options.threads.clamp(1, THREADS_MAX);
    let outcomes: Vec<Result<(u128, u64, u64), LedgerError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut tally = (0u128, 0u64, 0u64);
                    loop {
                        let amount = next_amount.fetch_add(1, Ordering::Relaxed);
                        if amount > options.transfers {
                            return Ok(tally);
                        }
                        let moved = send(users, options.immediately, &from, &to, u128::from(amount), now_ns)?;
                        if moved {
                            tally.0 += u128::from(amount);
                            tally.1 += 1;
                        } else {
                            tally.2 += 1;
                        }
                        progress(1);
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().unwrap_or(Err(LedgerError::Abandoned)))
            .collect()
    });
    let (mut moved, mut accepted, mut refused) = (0u128, 0u64, 0u64);
    for outcome in outcomes {
        let (amount, yes, no) = outcome?;
        moved += amount;
        accepted += yes;
        refused += no;
    }
    if !options.immediately {
        process_all(users, now_ns())?;
    }
    let elapsed = started.elapsed();
    let after = users.users()?;
    let change = |id| balance_of(&after, id) as i128 - balance_of(&before, id) as i128;
    let transfers = u128::from(options.transfers);
    Ok(RunReport {
        options: options.clone(),
        expected_total: transfers * (transfers + 1) / 2,
        moved,
        accepted,
        refused,
        sender_change: change(from),
        recipient_change: change(to),
        pending: users.pending()?,
        elapsed,
    })
}

/// Sends one transfer, retrying after store errors; true when it was
/// accepted, false when the sender could not cover it.
fn send<S: Store>(
    users: &Users<S>,
    immediately: bool,
    from: &UserId,
    to: &UserId,
    amount: u128,
    now_ns: &(dyn Fn() -> u64 + Sync),
) -> Result<bool, LedgerError> {
    let id = users.new_transaction_id()?;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let sent = if immediately {
            users.transfer_immediately_with_id(id, from, to, amount, now_ns())
        } else {
            users.transfer_with_id(id, from, to, amount, now_ns())
        };
        match sent {
            Ok(()) => return Ok(true),
            Err(LedgerError::InsufficientBalance { .. }) => return Ok(false),
            // A retry of a transfer that was refused before its answer was lost.
            Err(LedgerError::TransferRejected {
                status: CreateTransferStatus::IdAlreadyFailed,
                ..
            }) if attempt > 1 => return Ok(false),
            Err(error) if attempt < RETRIES_MAX && retryable(&error) => {}
            Err(error) => return Err(error),
        }
    }
}

/// Errors after which the same call may simply be made again.
fn retryable(error: &LedgerError) -> bool {
    error.store_error().is_some() || matches!(error.root(), LedgerError::Abandoned)
}

/// What [`process_all`] posted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProcessTotals {
    /// Transactions posted.
    pub posted: u64,
    /// Transactions found posted already.
    pub already_posted: u64,
    /// Transactions whose post the ledger refused.
    pub failed: u64,
    /// Pending afterwards.
    pub pending: u64,
}

impl fmt::Display for ProcessTotals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "posted: {}\nalready posted: {}\nfailed: {}\npending: {}",
            self.posted, self.already_posted, self.failed, self.pending
        )
    }
}

/// `process`: sweeps until nothing more is found (retrying store errors).
///
/// # Errors
/// Store and ledger errors that outlast [`RETRIES_MAX`] attempts.
pub fn process_all<S: Store>(users: &Users<S>, now_ns: u64) -> Result<ProcessTotals, LedgerError> {
    let mut totals = ProcessTotals::default();
    let mut failures = 0;
    loop {
        match users.process(now_ns, SWEEP_LIMIT) {
            Ok(swept) => {
                totals.posted += swept.posted;
                totals.already_posted += swept.already_posted;
                totals.failed += swept.failed.len() as u64;
                if !swept.more {
                    break;
                }
            }
            Err(error) if failures + 1 < RETRIES_MAX && retryable(&error) => failures += 1,
            Err(error) => return Err(error),
        }
    }
    totals.pending = users.pending()?;
    Ok(totals)
}

/// `report` as text: one line per user, then the total, the pending count
/// and the audit.
pub fn report_text(report: &Report) -> String {
    let width = report.users.iter().map(|u| u.nickname.len()).max().unwrap_or(0);
    let mut out = String::new();
    for user in &report.users {
        out.push_str(&format!("{:<width$}  {}  {}\n", user.nickname, user.id, user.balance));
    }
    out.push_str(&format!(
        "total: {}\npending: {}\naudit: {}",
        report.total,
        report.pending,
        report.audit_summary()
    ));
    out
}

#[derive(Serialize)]
struct JsonReport<'a> {
    users: Vec<JsonUser<'a>>,
    total: String,
    pending: u64,
    audit: String,
}

#[derive(Serialize)]
struct JsonUser<'a> {
    nickname: &'a str,
    id: String,
    balance: String,
}

/// JSON with `", "` between items and `": "` after keys, on one line (the
/// spacing of the issue's format, and of Python's `json.dumps`).
struct Spaced;

impl serde_json::ser::Formatter for Spaced {
    fn begin_array_value<W: ?Sized + io::Write>(&mut self, writer: &mut W, first: bool) -> io::Result<()> {
        if first { Ok(()) } else { writer.write_all(b", ") }
    }

    fn begin_object_key<W: ?Sized + io::Write>(&mut self, writer: &mut W, first: bool) -> io::Result<()> {
        if first { Ok(()) } else { writer.write_all(b", ") }
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        writer.write_all(b": ")
    }
}

/// `report --json`: exactly
/// `{"users": [{"nickname": "...", "id": "...", "balance": "..."}, ...], "total": "...", "pending": N, "audit": "ok"}`,
/// amounts as decimal strings, `audit` `"ok"` or what differs.
pub fn report_json(report: &Report) -> String {
    let json = JsonReport {
        users: report
            .users
            .iter()
            .map(|user| JsonUser {
                nickname: &user.nickname,
                id: user.id.to_hex(),
                balance: user.balance.to_string(),
            })
            .collect(),
        total: report.total.to_string(),
        pending: report.pending,
        audit: report.audit_summary(),
    };
    let mut bytes = Vec::new();
    let mut serializer = serde_json::Serializer::with_formatter(&mut bytes, Spaced);
    // Strings, numbers and lists only: serializing into memory cannot fail.
    if json.serialize(&mut serializer).is_err() {
        return r#"{"error": "the report could not be written as JSON"}"#.to_owned();
    }
    String::from_utf8(bytes).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn command_lines_parse_as_the_issue_gives_them() {
        let run = parse_args(&args(
            "--store redb:/tmp/x run -t 200 -c 100 -i --from lovelace --to elon_musk",
        ))
        .unwrap();
        assert_eq!(run.store, "redb:/tmp/x");
        assert_eq!(
            run.command,
            Command::Run(RunOptions {
                transfers: 200,
                threads: 100,
                immediately: true,
                from: "lovelace".into(),
                to: "elon_musk".into(),
            })
        );
        assert_eq!(
            parse_args(&args("run")).unwrap().command,
            Command::Run(RunOptions::default())
        );
        assert_eq!(parse_args(&args("seed")).unwrap().command, Command::Seed);
        assert_eq!(parse_args(&args("seed")).unwrap().store, "mem");
        assert_eq!(parse_args(&args("process")).unwrap().command, Command::Process);
        assert_eq!(
            parse_args(&args("--store postgres:postgres://h/db report")).unwrap(),
            Invocation {
                store: "postgres:postgres://h/db".into(),
                command: Command::Report { json: false }
            }
        );
        for bad in [
            "",
            "fly",
            "seed now",
            "report --xml",
            "run -t",
            "run -t 0",
            "run -c many",
            "run --from a",
            "run --from a --to a",
            "run -x 1",
        ] {
            assert!(parse_args(&args(bad)).is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn the_json_report_has_the_issues_shape_and_spacing() {
        let id = UserId::of_nickname("elon_musk");
        let report = Report {
            users: vec![crate::users::UserBalance {
                nickname: "elon_musk".into(),
                id,
                account_id: id.account_id(),
                balance: 9_979_900,
                reserved: 0,
                incoming: 0,
            }],
            total: 9_979_900,
            issued: 9_979_900,
            pending: 3,
            audit: vec![],
        };
        assert_eq!(
            report_json(&report),
            format!(
                r#"{{"users": [{{"nickname": "elon_musk", "id": "{id}", "balance": "9979900"}}], "total": "9979900", "pending": 3, "audit": "ok"}}"#
            )
        );
        let empty = Report {
            users: vec![],
            total: 0,
            issued: 5,
            pending: 0,
            audit: vec!["the users hold 0 but 5 was issued".into()],
        };
        assert_eq!(
            report_json(&empty),
            r#"{"users": [], "total": "0", "pending": 0, "audit": "the users hold 0 but 5 was issued"}"#
        );
    }
}
