//! Shared fixtures for the marketplace tests: a configuration with short
//! periods, a standard request, and a chain wrapper that checks every
//! invariant after every operation and that a refusal changes nothing.
#![allow(dead_code, reason = "each test file uses a subset")]

use tally_market::marketplace::{CollateralConfig, ContractState, Event, MarketplaceConfig, Operation, Outcome};
use tally_market::periods::ProofConfig;
use tally_market::{
    Address, MarketError, Nonce, RequestId, SlotId, StorageAsk, StorageContent, StorageRequest, U256, slot_id,
};

pub(crate) const CLIENT: Address = Address([0xc1; 20]);
pub(crate) const CLIENT2: Address = Address([0xc2; 20]);
pub(crate) const HOST1: Address = Address([0xa1; 20]);
pub(crate) const HOST2: Address = Address([0xa2; 20]);
pub(crate) const HOST3: Address = Address([0xa3; 20]);
pub(crate) const HOST4: Address = Address([0xa4; 20]);
pub(crate) const VALIDATOR: Address = Address([0xee; 20]);

/// The chain starts at this time (period 100).
pub(crate) const START: u64 = 1_000;
pub(crate) const PERIOD: u64 = 10;
pub(crate) const TIMEOUT: u64 = 5;
/// What each account is minted.
pub(crate) const WEALTH: u64 = 10_000_000;

pub(crate) fn u(n: u64) -> U256 {
    U256::from(n)
}

/// Periods of 10 s, timeout 5 s, no downtime (so a proof probability of 1
/// requires a proof in every period after the fill); 3 reservations per
/// slot; 2 slashes of 20% free a slot; validators get 20% of a slash;
/// repairing hosts are spared 10% of the collateral.
pub(crate) fn config() -> MarketplaceConfig {
    MarketplaceConfig {
        collateral: CollateralConfig {
            repair_reward_percentage: 10,
            max_number_of_slashes: 2,
            slash_percentage: 20,
            validator_reward_percentage: 20,
        },
        proofs: ProofConfig {
            period_secs: PERIOD,
            timeout_secs: TIMEOUT,
            downtime: 0,
            downtime_product: 67,
        },
        max_reservations: 3,
        request_duration_limit_secs: 30 * 24 * 3_600,
        challenge_seed: [0; 32],
    }
}

/// 4 slots of 100 bytes for 1,000 s at 1 per byte-second (100 per slot-
/// second, 400,000 in all), collateral 10 per byte (1,000 per slot),
/// a proof every period, one slot may be lost.
pub(crate) fn ask() -> StorageAsk {
    StorageAsk {
        proof_probability: u(1),
        price_per_byte_per_second: u(1),
        collateral_per_byte: u(10),
        slots: 4,
        slot_size_bytes: 100,
        duration_secs: 1_000,
        max_slot_loss: 1,
    }
}

pub(crate) const PRICE_PER_SLOT_SECOND: u64 = 100;
pub(crate) const MAX_PRICE: u64 = 400_000;
pub(crate) const COLLATERAL: u64 = 1_000;

/// The standard request of `client`, told apart by `nonce`; expiry 300 s.
pub(crate) fn request_of(client: Address, nonce: u8) -> StorageRequest {
    StorageRequest {
        client,
        ask: ask(),
        content: StorageContent {
            cid: b"zb2rhheVmk3bLks5MgzTqyznLu1zqGH5jrfTA1eAZXrjx7Vob".to_vec(),
            merkle_root: [nonce; 32],
        },
        expiry_secs: 300,
        nonce: Nonce([nonce; 32]),
    }
}

pub(crate) fn request(nonce: u8) -> StorageRequest {
    request_of(CLIENT, nonce)
}

pub(crate) fn slot(request_id: &RequestId, index: u64) -> SlotId {
    slot_id(request_id, index)
}

/// A chain that checks every invariant after each operation.
pub(crate) struct Chain {
    pub(crate) state: ContractState,
}

impl Chain {
    /// Every party minted [`WEALTH`].
    pub(crate) fn new() -> Chain {
        Self::with(config())
    }

    pub(crate) fn with(config: MarketplaceConfig) -> Chain {
        let mut chain = Chain {
            state: ContractState::new(config, START).expect("valid config"),
        };
        for account in [CLIENT, CLIENT2, HOST1, HOST2, HOST3, HOST4] {
            chain.ok(Operation::Mint {
                account,
                amount: u(WEALTH),
            });
        }
        chain
    }

    /// Applies `op`, which must succeed; checks every invariant.
    pub(crate) fn ok(&mut self, op: Operation) -> Outcome {
        let name = op.name();
        let outcome = self
            .state
            .apply(&op)
            .unwrap_or_else(|error| panic!("{name} refused: {error}"));
        self.state
            .check()
            .unwrap_or_else(|error| panic!("after {name}: {error}"));
        outcome
    }

    /// Applies `op`, which must be refused without changing anything;
    /// returns the refusal.
    pub(crate) fn err(&mut self, op: Operation) -> MarketError {
        let before = self.state.clone();
        let name = op.name();
        let error = match self.state.apply(&op) {
            Ok(outcome) => panic!("{name} applied: {outcome:?}"),
            Err(error) => error,
        };
        assert_eq!(self.state, before, "a refused {name} changed something");
        error
    }

    /// The snake_case kind of `op`'s refusal.
    pub(crate) fn kind(&mut self, op: Operation) -> &'static str {
        self.err(op).kind()
    }

    pub(crate) fn advance(&mut self, seconds: u64) {
        self.ok(Operation::Advance { seconds });
    }

    /// Moves the clock to `at_secs` (forward only).
    pub(crate) fn advance_to(&mut self, at_secs: u64) {
        let now = self.state.now_secs();
        assert!(at_secs >= now, "time moves forward");
        self.advance(at_secs - now);
    }

    pub(crate) fn now(&self) -> u64 {
        self.state.now_secs()
    }

    pub(crate) fn period(&self) -> u64 {
        self.now() / PERIOD
    }

    pub(crate) fn balance(&self, account: &Address) -> U256 {
        self.state.balance(account)
    }

    /// Stores `request`; returns its id.
    pub(crate) fn request_storage(&mut self, request: StorageRequest) -> RequestId {
        let id = request.id().expect("encodes");
        let outcome = self.ok(Operation::RequestStorage { request });
        assert!(matches!(outcome.events[..], [Event::StorageRequested { request_id, .. }] if request_id == id));
        id
    }

    pub(crate) fn reserve(&mut self, host: Address, request_id: RequestId, slot_index: u64) -> Outcome {
        self.ok(Operation::ReserveSlot {
            host,
            request_id,
            slot_index,
        })
    }

    pub(crate) fn fill_op(host: Address, request_id: RequestId, slot_index: u64) -> Operation {
        Operation::FillSlot {
            host,
            request_id,
            slot_index,
            proof: vec![0xab; 8],
        }
    }

    /// Reserves and fills the slot.
    pub(crate) fn fill(&mut self, host: Address, request_id: RequestId, slot_index: u64) -> Outcome {
        self.reserve(host, request_id, slot_index);
        self.ok(Self::fill_op(host, request_id, slot_index))
    }

    /// Fills every slot of the request, host `hosts[i % len]` for slot `i`.
    pub(crate) fn fill_all(&mut self, request_id: RequestId, hosts: &[Address]) {
        let slots = self.state.request(&request_id).expect("known").request.ask.slots;
        for index in 0..slots {
            self.fill(hosts[index as usize % hosts.len()], request_id, index);
        }
    }

    pub(crate) fn prove(&mut self, host: Address, slot_id: SlotId) -> Outcome {
        self.ok(Operation::SubmitProof {
            host,
            slot_id,
            proof: vec![1],
        })
    }

    pub(crate) fn mark(&mut self, slot_id: SlotId, period: u64) -> Outcome {
        self.ok(Operation::MarkProofAsMissing {
            validator: VALIDATOR,
            slot_id,
            period,
        })
    }

    /// Moves into the validation window of the current period (1 s after
    /// its end) and marks its proof missing.
    pub(crate) fn miss_current_period(&mut self, slot_id: SlotId) -> Outcome {
        let period = self.period();
        self.advance_to((period + 1) * PERIOD + 1);
        self.mark(slot_id, period)
    }
}

pub(crate) mod ops;
