//! Routing: which account to forward a payment to, at what rate, and the
//! quotes (ILQP) that follow from it. Pure.
//!
//! The [`RouteTable`] maps announced ILP address **prefixes** to the
//! accounts that announced them (the seed's `addressMapper`), each with a
//! [`LiquidityCurve`] (what arrives for what is sent) and counts of
//! successes and failures. A destination is routed by **longest-prefix
//! match** on whole address segments: `g.us.bank` matches `g.us.bank` and
//! `g.us.bank.alice` but not `g.us.banker`; a legacy prefix ending in `.`
//! (`test.crypto.xrp.`) matches what starts with it.
//!
//! When several accounts announce the same prefix, a [`RouteChoice`]
//! picks one: the seed leaves this open and names three candidates, all
//! provided, and a host may plug in its own ([`ChooseRoute`]):
//!
//! - [`RouteChoice::HighestBalance`]: the account we hold most with wins
//!   (it grows with its successes: a rich-get-richer policy);
//! - [`RouteChoice::LowestBalance`]: the account we hold least with, to
//!   rebalance;
//! - [`RouteChoice::BestSuccessRatio`]: the best `(successes + 1) /
//!   (successes + failures + 2)`; the +1/+2 (Laplace) keeps a new route
//!   from winning or losing everything on its first packet.
//!
//! Our default is `BestSuccessRatio` with ties broken by the higher
//! balance, then by account id, so the choice is deterministic.
//! Success counts can be gamed by a peer that fulfills cheap packets and
//! rejects dear ones, which is why the balance-based choices exist and the
//! choice is pluggable.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::account::AccountId;
use crate::error::ConnectorError;

/// The most prefixes a table holds.
pub const MAX_ROUTE_PREFIXES: usize = 100_000;
/// The most accounts announcing one prefix.
pub const MAX_ACCOUNTS_PER_PREFIX: usize = 64;
/// The most points in a liquidity curve.
pub const MAX_CURVE_POINTS: usize = 64;
/// The longest prefix, in bytes (an ILP address is at most 1023).
pub const MAX_PREFIX_BYTES: usize = 1023;

/// A liquidity curve: points `(sent, arrives)`, strictly increasing in
/// `sent` and never decreasing in `arrives`, interpolated linearly between
/// points and rounded down. An amount beyond the last point cannot be
/// carried (insufficient liquidity).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiquidityCurve {
    points: Vec<(u64, u64)>,
}

impl LiquidityCurve {
    /// A curve through `points`.
    ///
    /// # Errors
    /// [`ConnectorError::InvalidConfig`] for fewer than 2 or more than
    /// [`MAX_CURVE_POINTS`] points, `sent` not strictly increasing or
    /// `arrives` decreasing.
    pub fn new(points: Vec<(u64, u64)>) -> Result<Self, ConnectorError> {
        if points.len() < 2 || points.len() > MAX_CURVE_POINTS {
            return Err(ConnectorError::InvalidConfig {
                reason: "a liquidity curve has 2..=64 points",
            });
        }
        if !points.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1) {
            return Err(ConnectorError::InvalidConfig {
                reason: "curve points must increase in x and not decrease in y",
            });
        }
        Ok(LiquidityCurve { points })
    }

    /// One to one, for every amount.
    pub fn identity() -> Self {
        LiquidityCurve {
            points: vec![(0, 0), (u64::MAX, u64::MAX)],
        }
    }

    /// `arrives = sent × numerator / denominator` (rounded down), for every
    /// amount for which the result fits.
    ///
    /// # Errors
    /// [`ConnectorError::InvalidConfig`] when `denominator` is 0.
    pub fn rate(numerator: u64, denominator: u64) -> Result<Self, ConnectorError> {
        if denominator == 0 {
            return Err(ConnectorError::InvalidConfig {
                reason: "rate denominator is 0",
            });
        }
        // The largest multiple of the denominator whose y still fits a u64,
        // so the segment is exactly the rate (no rounding along it).
        let (numerator, denominator) = (u128::from(numerator), u128::from(denominator));
        let limit = if numerator <= denominator {
            u128::from(u64::MAX)
        } else {
            u128::from(u64::MAX) * denominator / numerator
        };
        let steps = limit / denominator;
        let max_x = u64::try_from(steps * denominator).unwrap_or(u64::MAX);
        let max_y = u64::try_from(steps * numerator).unwrap_or(u64::MAX);
        if max_x == 0 {
            return Err(ConnectorError::InvalidConfig {
                reason: "rate too large for any amount",
            });
        }
        LiquidityCurve::new(vec![(0, 0), (max_x, max_y)])
    }

    /// The points.
    pub fn points(&self) -> &[(u64, u64)] {
        &self.points
    }

    /// What arrives when `sent` is sent, or `None` beyond the curve.
    pub fn amount_at(&self, sent: u64) -> Option<u64> {
        let first = self.points.first()?;
        if sent < first.0 {
            return Some(0);
        }
        let segment = self.points.windows(2).find(|w| sent <= w[1].0)?;
        let ((x0, y0), (x1, y1)) = (segment[0], segment[1]);
        debug_assert!(x0 <= sent && sent <= x1 && x0 < x1);
        let rise = u128::from(y1 - y0) * u128::from(sent - x0) / u128::from(x1 - x0);
        u64::try_from(u128::from(y0) + rise).ok()
    }

    /// The least that must be sent for at least `arrives` to arrive, or
    /// `None` if the curve never reaches it.
    pub fn amount_needed_for(&self, arrives: u64) -> Option<u64> {
        let first = self.points.first()?;
        if arrives <= first.1 {
            return Some(if arrives == 0 { 0 } else { first.0 });
        }
        let segment = self.points.windows(2).find(|w| arrives <= w[1].1 && w[0].1 < w[1].1)?;
        let ((x0, y0), (x1, y1)) = (segment[0], segment[1]);
        let over = u128::from(arrives - y0) * u128::from(x1 - x0);
        let span = u128::from(y1 - y0);
        let sent = u128::from(x0) + over.div_ceil(span);
        let sent = u64::try_from(sent).ok()?;
        debug_assert!(self.amount_at(sent).is_some_and(|y| y >= arrives));
        Some(sent)
    }
}

/// One account's route to a prefix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteEntry {
    /// What arrives at the next hop for what we send it.
    pub curve: LiquidityCurve,
    /// Payments through it that were fulfilled.
    pub successes: u64,
    /// Payments through it that were rejected or timed out.
    pub failures: u64,
}

/// What a [`ChooseRoute`] sees of each candidate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate<'a> {
    /// The account that announced the prefix.
    pub account: &'a AccountId,
    /// Its route.
    pub entry: &'a RouteEntry,
    /// Our balance with it, if the caller looked it up.
    pub balance: Option<i128>,
}

/// A policy picking one of several accounts that announce the same prefix.
pub trait ChooseRoute {
    /// The index in `candidates` (never empty, ordered by account id) of
    /// the account to use.
    fn choose(&self, candidates: &[Candidate<'_>]) -> usize;
}

/// The built-in choices (see the [module docs](self)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum RouteChoice {
    /// The highest balance.
    HighestBalance,
    /// The lowest balance.
    LowestBalance,
    /// The best smoothed success ratio, then the highest balance.
    #[default]
    BestSuccessRatio,
}

fn ratio_beats(a: &RouteEntry, b: &RouteEntry) -> std::cmp::Ordering {
    // (sa+1)/(sa+fa+2) vs (sb+1)/(sb+fb+2), compared exactly in u128.
    let lhs = (u128::from(a.successes) + 1) * (u128::from(b.successes) + u128::from(b.failures) + 2);
    let rhs = (u128::from(b.successes) + 1) * (u128::from(a.successes) + u128::from(a.failures) + 2);
    lhs.cmp(&rhs)
}

impl ChooseRoute for RouteChoice {
    fn choose(&self, candidates: &[Candidate<'_>]) -> usize {
        debug_assert!(!candidates.is_empty());
        let balance = |c: &Candidate<'_>| c.balance.unwrap_or(i128::MIN);
        let mut best = 0;
        for (index, candidate) in candidates.iter().enumerate().skip(1) {
            let current = &candidates[best];
            let better = match self {
                RouteChoice::HighestBalance => balance(candidate) > balance(current),
                RouteChoice::LowestBalance => {
                    candidate.balance.unwrap_or(i128::MAX) < current.balance.unwrap_or(i128::MAX)
                }
                RouteChoice::BestSuccessRatio => match ratio_beats(candidate.entry, current.entry) {
                    std::cmp::Ordering::Greater => true,
                    std::cmp::Ordering::Less => false,
                    std::cmp::Ordering::Equal => balance(candidate) > balance(current),
                },
            };
            // Strictly better only: ties keep the lower account id.
            if better {
                best = index;
            }
        }
        best
    }
}

/// The route a destination resolved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chosen {
    /// The prefix that matched.
    pub prefix: Vec<u8>,
    /// The account to forward to.
    pub account: AccountId,
    /// Its curve.
    pub curve: LiquidityCurve,
}

/// Announced prefixes and the accounts behind them. See the [module docs](self).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteTable {
    routes: BTreeMap<Vec<u8>, BTreeMap<AccountId, RouteEntry>>,
}

/// Whether route prefix `prefix` covers `destination` on segment bounds.
pub fn prefix_matches(prefix: &[u8], destination: &[u8]) -> bool {
    if !destination.starts_with(prefix) {
        return false;
    }
    destination.len() == prefix.len() || prefix.ends_with(b".") || destination[prefix.len()] == b'.'
}

impl RouteTable {
    /// An empty table.
    pub fn new() -> Self {
        RouteTable::default()
    }

    /// Records that `account` announces `prefix` with `curve` (replacing
    /// its earlier curve for it; the counts are kept).
    ///
    /// # Errors
    /// [`ConnectorError::InvalidConfig`] for an empty or over-long prefix;
    /// [`ConnectorError::Limit`] beyond [`MAX_ROUTE_PREFIXES`] or
    /// [`MAX_ACCOUNTS_PER_PREFIX`].
    pub fn announce(&mut self, prefix: &[u8], account: AccountId, curve: LiquidityCurve) -> Result<(), ConnectorError> {
        if prefix.is_empty() || prefix.len() > MAX_PREFIX_BYTES {
            return Err(ConnectorError::InvalidConfig {
                reason: "a route prefix has 1..=1023 bytes",
            });
        }
        if !self.routes.contains_key(prefix) && self.routes.len() >= MAX_ROUTE_PREFIXES {
            return Err(ConnectorError::Limit {
                what: "route prefixes",
                max: MAX_ROUTE_PREFIXES as u64,
            });
        }
        let accounts = self.routes.entry(prefix.to_vec()).or_default();
        if !accounts.contains_key(&account) && accounts.len() >= MAX_ACCOUNTS_PER_PREFIX {
            return Err(ConnectorError::Limit {
                what: "accounts per prefix",
                max: MAX_ACCOUNTS_PER_PREFIX as u64,
            });
        }
        accounts
            .entry(account)
            .and_modify(|entry| entry.curve = curve.clone())
            .or_insert(RouteEntry {
                curve,
                successes: 0,
                failures: 0,
            });
        Ok(())
    }

    /// Forgets `account`'s route to `prefix`; true if there was one.
    pub fn withdraw(&mut self, prefix: &[u8], account: &AccountId) -> bool {
        let Some(accounts) = self.routes.get_mut(prefix) else {
            return false;
        };
        let removed = accounts.remove(account).is_some();
        if accounts.is_empty() {
            self.routes.remove(prefix);
        }
        removed
    }

    /// Every prefix with its accounts, in prefix order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &BTreeMap<AccountId, RouteEntry>)> {
        self.routes
            .iter()
            .map(|(prefix, accounts)| (prefix.as_slice(), accounts))
    }

    /// The longest announced prefix covering `destination`, with its accounts.
    pub fn longest_match(&self, destination: &[u8]) -> Option<(&[u8], &BTreeMap<AccountId, RouteEntry>)> {
        // Candidate prefixes end at a segment boundary: before a '.', after
        // it (legacy prefixes end in '.'), or at the end of the address.
        let mut cut = destination.len();
        loop {
            for end in [cut + 1, cut] {
                if end <= destination.len()
                    && let Some((prefix, accounts)) = self.routes.get_key_value(&destination[..end])
                    && prefix_matches(prefix, destination)
                {
                    return Some((prefix.as_slice(), accounts));
                }
            }
            cut = destination[..cut].iter().rposition(|&b| b == b'.')?;
        }
    }

    /// The route for `destination`, skipping `exclude` (the account the
    /// payment came from), chosen by `choice` among the accounts of the
    /// longest matching prefix. `balance_of` supplies balances for the
    /// balance-based choices.
    pub fn route(
        &self,
        destination: &[u8],
        exclude: Option<&AccountId>,
        choice: &dyn ChooseRoute,
        balance_of: &mut dyn FnMut(&AccountId) -> Option<i128>,
    ) -> Option<Chosen> {
        let (prefix, accounts) = self.longest_match(destination)?;
        let mut candidates: Vec<Candidate<'_>> = accounts
            .iter()
            .filter(|(account, _)| Some(*account) != exclude)
            .map(|(account, entry)| Candidate {
                account,
                entry,
                balance: None,
            })
            .collect();
        // Balances are looked up only when there is a choice to make.
        if candidates.len() > 1 {
            for candidate in &mut candidates {
                candidate.balance = balance_of(candidate.account);
            }
        }
        if candidates.is_empty() {
            return None;
        }
        let index = choice.choose(&candidates).min(candidates.len() - 1);
        let picked = &candidates[index];
        Some(Chosen {
            prefix: prefix.to_vec(),
            account: picked.account.clone(),
            curve: picked.entry.curve.clone(),
        })
    }

    /// Copies the success and failure counts of every route `other` shares
    /// with this table (a reloaded table keeps what a worker has learned).
    pub fn keep_counts_from(&mut self, other: &RouteTable) {
        for (prefix, accounts) in &mut self.routes {
            let Some(old) = other.routes.get(prefix) else { continue };
            for (account, entry) in accounts.iter_mut() {
                if let Some(previous) = old.get(account) {
                    entry.successes = previous.successes;
                    entry.failures = previous.failures;
                }
            }
        }
    }

    /// Counts a fulfilled (`success`) or failed payment through `account`'s
    /// route to `prefix`. Saturates; unknown routes are ignored.
    pub fn record(&mut self, prefix: &[u8], account: &AccountId, success: bool) {
        if let Some(entry) = self.routes.get_mut(prefix).and_then(|a| a.get_mut(account)) {
            if success {
                entry.successes = entry.successes.saturating_add(1);
            } else {
                entry.failures = entry.failures.saturating_add(1);
            }
        }
    }
}

/// Answers to the three ILQP quote requests, from the table.
pub mod quote {
    use bytes::Bytes;
    use tally_ilp::legacy::{self, IlqpByDestinationResponse, IlqpBySourceResponse, IlqpLiquidityResponse};
    use tally_ilp::{ErrorCode, Timestamp};

    use super::{RouteChoice, RouteTable};

    /// How we quote.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct QuotePolicy {
        /// How much longer than the destination's hold we ask the source to
        /// hold a transfer, ms (our own margin to forward and fulfill).
        pub hold_margin_ms: u32,
        /// How long a liquidity quote stays valid, ms.
        pub quote_expiry_ms: u64,
        /// How to pick among accounts announcing the same prefix.
        pub choice: RouteChoice,
    }

    impl Default for QuotePolicy {
        /// 1 s margin, 60 s quote expiry, best success ratio.
        fn default() -> Self {
            QuotePolicy {
                hold_margin_ms: 1_000,
                quote_expiry_ms: 60_000,
                choice: RouteChoice::BestSuccessRatio,
            }
        }
    }

    /// Why a quote cannot be given, as the legacy error code to send.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct QuoteRefusal {
        /// `F02` no route, `T04` beyond the curve, `F01` not a quote request.
        pub code: ErrorCode,
        /// A short reason.
        pub message: &'static str,
    }

    /// The answer to an ILQP request: the response packet.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum QuoteAnswer {
        /// Answer to an IlqpLiquidityRequest.
        Liquidity(IlqpLiquidityResponse<Bytes>),
        /// Answer to an IlqpBySourceRequest.
        BySource(IlqpBySourceResponse),
        /// Answer to an IlqpByDestinationRequest.
        ByDestination(IlqpByDestinationResponse),
    }

    fn hold(policy: &QuotePolicy, destination_hold_ms: u32) -> Result<u32, QuoteRefusal> {
        destination_hold_ms
            .checked_add(policy.hold_margin_ms)
            .ok_or(QuoteRefusal {
                code: ErrorCode::R02_INSUFFICIENT_TIMEOUT,
                message: "hold duration overflows",
            })
    }

    const NO_ROUTE: QuoteRefusal = QuoteRefusal {
        code: ErrorCode::F02_UNREACHABLE,
        message: "no route to the destination",
    };
    const NO_LIQUIDITY: QuoteRefusal = QuoteRefusal {
        code: ErrorCode::T04_INSUFFICIENT_LIQUIDITY,
        message: "amount beyond the route's liquidity",
    };

    /// Answers a decoded legacy ILQP request from `table` at `now_ms`.
    /// `balance_of` feeds the balance-based route choices.
    pub fn answer(
        table: &RouteTable,
        request: &legacy::Packet<&[u8]>,
        policy: &QuotePolicy,
        now_ms: u64,
        balance_of: &mut dyn FnMut(&crate::AccountId) -> Option<i128>,
    ) -> Result<QuoteAnswer, QuoteRefusal> {
        let mut route = |destination: &[u8]| {
            table
                .route(destination, None, &policy.choice, balance_of)
                .ok_or(NO_ROUTE)
        };
        match request {
            legacy::Packet::IlqpLiquidityRequest(request) => {
                let chosen = route(request.destination_account)?;
                let expires_ms = now_ms.saturating_add(policy.quote_expiry_ms);
                let expires_at = i64::try_from(expires_ms)
                    .ok()
                    .and_then(Timestamp::from_unix_ms)
                    .unwrap_or(Timestamp::MAX);
                Ok(QuoteAnswer::Liquidity(IlqpLiquidityResponse {
                    liquidity_curve: legacy::LiquidityCurve::from_points(chosen.curve.points().iter().copied()),
                    applies_to_prefix: Bytes::from(chosen.prefix),
                    source_hold_duration_ms: hold(policy, request.destination_hold_duration_ms)?,
                    expires_at,
                }))
            }
            legacy::Packet::IlqpBySourceRequest(request) => {
                let chosen = route(request.destination_account)?;
                Ok(QuoteAnswer::BySource(IlqpBySourceResponse {
                    destination_amount: chosen.curve.amount_at(request.source_amount).ok_or(NO_LIQUIDITY)?,
                    source_hold_duration_ms: hold(policy, request.destination_hold_duration_ms)?,
                }))
            }
            legacy::Packet::IlqpByDestinationRequest(request) => {
                let chosen = route(request.destination_account)?;
                Ok(QuoteAnswer::ByDestination(IlqpByDestinationResponse {
                    source_amount: chosen
                        .curve
                        .amount_needed_for(request.destination_amount)
                        .ok_or(NO_LIQUIDITY)?,
                    source_hold_duration_ms: hold(policy, request.destination_hold_duration_ms)?,
                }))
            }
            _ => Err(QuoteRefusal {
                code: ErrorCode::F01_INVALID_PACKET,
                message: "not an ILQP request",
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> AccountId {
        AccountId::new(s).unwrap()
    }

    #[test]
    fn longest_prefix_wins_on_segment_bounds() {
        let mut table = RouteTable::new();
        table.announce(b"g.us", id("wide"), LiquidityCurve::identity()).unwrap();
        table
            .announce(b"g.us.bank", id("narrow"), LiquidityCurve::identity())
            .unwrap();
        table
            .announce(b"test.crypto.xrp.", id("legacy"), LiquidityCurve::identity())
            .unwrap();
        let pick = |d: &[u8]| {
            table
                .route(d, None, &RouteChoice::default(), &mut |_| None)
                .map(|c| c.account.to_string())
        };
        assert_eq!(pick(b"g.us.bank.alice").as_deref(), Some("narrow"));
        assert_eq!(pick(b"g.us.bank").as_deref(), Some("narrow"));
        assert_eq!(pick(b"g.us.banker").as_deref(), Some("wide"));
        assert_eq!(pick(b"g.usa"), None);
        assert_eq!(pick(b"test.crypto.xrp.bob").as_deref(), Some("legacy"));
        assert_eq!(pick(b"g.eu.x"), None);
    }

    #[test]
    fn the_choice_among_equal_prefixes_is_pluggable() {
        let mut table = RouteTable::new();
        for name in ["a", "b", "c"] {
            table.announce(b"g.x", id(name), LiquidityCurve::identity()).unwrap();
        }
        let balances = |account: &AccountId| match account.as_str() {
            "a" => Some(5),
            "b" => Some(50),
            _ => Some(-3),
        };
        let pick = |table: &RouteTable, choice: RouteChoice| {
            table
                .route(b"g.x.y", None, &choice, &mut |a| balances(a))
                .unwrap()
                .account
                .to_string()
        };
        assert_eq!(pick(&table, RouteChoice::HighestBalance), "b");
        assert_eq!(pick(&table, RouteChoice::LowestBalance), "c");
        // All ratios equal: the higher balance breaks the tie.
        assert_eq!(pick(&table, RouteChoice::BestSuccessRatio), "b");
        table.record(b"g.x", &id("b"), false);
        table.record(b"g.x", &id("a"), true);
        assert_eq!(pick(&table, RouteChoice::BestSuccessRatio), "a");
        // The sender is never routed back to itself.
        let routed = table.route(b"g.x.y", Some(&id("a")), &RouteChoice::BestSuccessRatio, &mut |a| {
            balances(a)
        });
        assert_eq!(routed.unwrap().account.as_str(), "c");

        struct Last;
        impl ChooseRoute for Last {
            fn choose(&self, candidates: &[Candidate<'_>]) -> usize {
                candidates.len() - 1
            }
        }
        assert_eq!(
            table
                .route(b"g.x", None, &Last, &mut |_| None)
                .unwrap()
                .account
                .as_str(),
            "c"
        );
    }

    #[test]
    fn curves_interpolate_and_invert() {
        let curve = LiquidityCurve::new(vec![(0, 0), (100, 50), (200, 60)]).unwrap();
        assert_eq!(curve.amount_at(50), Some(25));
        assert_eq!(curve.amount_at(150), Some(55));
        assert_eq!(curve.amount_at(201), None);
        assert_eq!(curve.amount_needed_for(25), Some(50));
        assert_eq!(curve.amount_needed_for(26), Some(52));
        assert_eq!(curve.amount_needed_for(61), None);
        let half = LiquidityCurve::rate(1, 2).unwrap();
        assert_eq!(half.amount_at(u64::MAX - 1), Some(u64::MAX / 2));
        assert_eq!(half.amount_at(1_001), Some(500));
        let double = LiquidityCurve::rate(2, 1).unwrap();
        assert_eq!(double.amount_at(10), Some(20));
        assert_eq!(double.amount_at(u64::MAX), None);
        assert!(LiquidityCurve::new(vec![(0, 0), (0, 1)]).is_err());
    }

    #[test]
    fn quotes_come_from_the_table() {
        use tally_ilp::legacy;
        let mut table = RouteTable::new();
        table
            .announce(b"test.b.", id("b"), LiquidityCurve::rate(1, 2).unwrap())
            .unwrap();
        let policy = quote::QuotePolicy::default();
        let request = legacy::Packet::IlqpBySourceRequest(legacy::IlqpBySourceRequest {
            destination_account: &b"test.b.bob"[..],
            source_amount: 1_000,
            destination_hold_duration_ms: 3_000,
        });
        let answer = quote::answer(&table, &request, &policy, 0, &mut |_| None).unwrap();
        assert_eq!(
            answer,
            quote::QuoteAnswer::BySource(legacy::IlqpBySourceResponse {
                destination_amount: 500,
                source_hold_duration_ms: 4_000
            })
        );
        let unreachable = legacy::Packet::IlqpByDestinationRequest(legacy::IlqpByDestinationRequest {
            destination_account: &b"test.c.carl"[..],
            destination_amount: 1,
            destination_hold_duration_ms: 0,
        });
        let refusal = quote::answer(&table, &unreachable, &policy, 0, &mut |_| None).unwrap_err();
        assert_eq!(refusal.code, tally_ilp::ErrorCode::F02_UNREACHABLE);
    }
}
