//! Random operation sequences for the property tests: small universes of
//! accounts, request templates and slots, so that operations often succeed
//! and every path (fills, repairs, slashes, failures, cancellations,
//! payouts, refunds) comes up.

use proptest::prelude::*;
use tally_market::marketplace::{ContractState, Operation};
use tally_market::{Address, Nonce, RequestId, StorageAsk, StorageContent, StorageRequest, slot_id};

use super::{CLIENT, CLIENT2, HOST1, HOST2, HOST3, HOST4, PERIOD, VALIDATOR, u};

const CLIENTS: [Address; 2] = [CLIENT, CLIENT2];
const HOSTS: [Address; 4] = [HOST1, HOST2, HOST3, HOST4];

/// An operation over indexes into the universe; [`Op::resolve`] makes it real.
#[derive(Debug, Clone)]
pub(crate) enum Op {
    Mint {
        account: u8,
        amount: u64,
    },
    Request {
        client: u8,
        template: u8,
        nonce: u8,
    },
    Reserve {
        host: u8,
        request: u8,
        slot: u8,
    },
    Fill {
        host: u8,
        request: u8,
        slot: u8,
        empty_proof: bool,
    },
    /// A reservation and a fill by the same host, one after the other.
    ReserveFill {
        host: u8,
        request: u8,
        slot: u8,
    },
    /// By the slot's own host when `own` (the host index otherwise).
    Free {
        host: u8,
        request: u8,
        slot: u8,
        own: bool,
    },
    Submit {
        host: u8,
        request: u8,
        slot: u8,
    },
    /// Marks the current period's proof missing, first moving the clock
    /// into its validation window when `wait`.
    Mark {
        request: u8,
        slot: u8,
        wait: bool,
    },
    Withdraw {
        client: u8,
        request: u8,
    },
    Advance {
        seconds: u64,
    },
}

pub(crate) fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => (0u8..7, 0u64..2_000_000).prop_map(|(account, amount)| Op::Mint { account, amount }),
        3 => (0u8..2, 0u8..4, 0u8..3).prop_map(|(client, template, nonce)| Op::Request { client, template, nonce }),
        3 => (0u8..4, request(), 0u8..4).prop_map(|(host, request, slot)| Op::Reserve { host, request, slot }),
        3 => (0u8..4, request(), 0u8..4, prop::bool::weighted(0.05))
            .prop_map(|(host, request, slot, empty_proof)| Op::Fill { host, request, slot, empty_proof }),
        8 => (0u8..4, request(), 0u8..4).prop_map(|(host, request, slot)| Op::ReserveFill { host, request, slot }),
        3 => (0u8..4, request(), 0u8..4, prop::bool::weighted(0.8))
            .prop_map(|(host, request, slot, own)| Op::Free { host, request, slot, own }),
        4 => (0u8..4, request(), 0u8..4).prop_map(|(host, request, slot)| Op::Submit { host, request, slot }),
        6 => (request(), 0u8..4, prop::bool::weighted(0.8)).prop_map(|(request, slot, wait)| Op::Mark { request, slot, wait }),
        2 => (0u8..2, request()).prop_map(|(client, request)| Op::Withdraw { client, request }),
        5 => prop_oneof![9 => 0u64..25, 1 => 0u64..600].prop_map(|seconds| Op::Advance { seconds }),
    ]
}

/// Which request an operation names: mostly one of the last three made,
/// now and then an unknown one (`u8::MAX`).
fn request() -> impl Strategy<Value = u8> {
    prop_oneof![12 => 0u8..3, 1 => Just(u8::MAX)]
}

/// Four request templates: 1 to 4 slots, proofs every period or about
/// one in three, expiries of 40 to 200 s, durations of 100 to 500 s.
pub(crate) fn template(client: Address, template: u8, nonce: u8) -> StorageRequest {
    let (slots, probability, max_slot_loss, expiry, duration, size) = match template % 4 {
        0 => (1, 1, 0, 40, 100, 10),
        1 => (2, 3, 1, 60, 200, 50),
        2 => (3, 1, 1, 100, 300, 7),
        _ => (4, 2, 2, 200, 500, 20),
    };
    StorageRequest {
        client,
        ask: StorageAsk {
            proof_probability: u(probability),
            price_per_byte_per_second: u(1 + u64::from(template)),
            collateral_per_byte: u(3),
            slots,
            slot_size_bytes: size,
            duration_secs: duration,
            max_slot_loss,
        },
        content: StorageContent {
            cid: vec![template, nonce],
            merkle_root: [nonce; 32],
        },
        expiry_secs: expiry,
        nonce: Nonce([nonce; 32]),
    }
}

impl Op {
    /// The operation, with `requests` the ids of requests made so far (an
    /// index past them names an unknown request) and `now_secs` the clock.
    pub(crate) fn resolve(&self, requests: &[RequestId], model: &ContractState) -> Vec<Operation> {
        let now_secs = model.now_secs();
        let request = |index: u8| {
            if index == u8::MAX || requests.is_empty() {
                return RequestId([0x77; 32]);
            }
            requests[requests.len() - 1 - usize::from(index) % requests.len()]
        };
        let host = |index: u8| HOSTS[usize::from(index) % HOSTS.len()];
        let one = match *self {
            Op::ReserveFill {
                host: h,
                request: r,
                slot,
            } => {
                return vec![
                    Operation::ReserveSlot {
                        host: host(h),
                        request_id: request(r),
                        slot_index: u64::from(slot),
                    },
                    Operation::FillSlot {
                        host: host(h),
                        request_id: request(r),
                        slot_index: u64::from(slot),
                        proof: vec![slot, 2],
                    },
                ];
            }
            Op::Mint { account, amount } => {
                let accounts = [CLIENT, CLIENT2, HOST1, HOST2, HOST3, HOST4, VALIDATOR];
                Operation::Mint {
                    account: accounts[usize::from(account) % accounts.len()],
                    amount: u(amount),
                }
            }
            Op::Request {
                client,
                template: t,
                nonce,
            } => Operation::RequestStorage {
                request: template(CLIENTS[usize::from(client) % 2], t, nonce),
            },
            Op::Reserve {
                host: h,
                request: r,
                slot,
            } => Operation::ReserveSlot {
                host: host(h),
                request_id: request(r),
                slot_index: u64::from(slot),
            },
            Op::Fill {
                host: h,
                request: r,
                slot,
                empty_proof,
            } => Operation::FillSlot {
                host: host(h),
                request_id: request(r),
                slot_index: u64::from(slot),
                proof: if empty_proof { Vec::new() } else { vec![slot, 1] },
            },
            Op::Free {
                host: h,
                request: r,
                slot,
                own,
            } => {
                let slot_id = slot_id(&request(r), u64::from(slot));
                let owner = model.slot(&slot_id).and_then(|record| record.host);
                Operation::FreeSlot {
                    host: owner.filter(|_| own).unwrap_or(host(h)),
                    slot_id,
                }
            }
            Op::Submit {
                host: h,
                request: r,
                slot,
            } => Operation::SubmitProof {
                host: host(h),
                slot_id: slot_id(&request(r), u64::from(slot)),
                proof: vec![9],
            },
            Op::Mark { request: r, slot, wait } => {
                let period = now_secs / PERIOD;
                let mark = Operation::MarkProofAsMissing {
                    validator: VALIDATOR,
                    slot_id: slot_id(&request(r), u64::from(slot)),
                    period,
                };
                if !wait {
                    return vec![mark];
                }
                let window = (period + 1) * PERIOD + 1;
                return vec![
                    Operation::Advance {
                        seconds: window - now_secs,
                    },
                    mark,
                ];
            }
            Op::Withdraw { client, request: r } => Operation::WithdrawFunds {
                client: CLIENTS[usize::from(client) % 2],
                request_id: request(r),
            },
            Op::Advance { seconds } => Operation::Advance { seconds },
        };
        vec![one]
    }
}

/// Remembers the id of a request an operation stored.
pub(crate) fn note_request(op: &Operation, requests: &mut Vec<RequestId>) {
    if let Operation::RequestStorage { request } = op
        && let Ok(id) = request.id()
        && !requests.contains(&id)
    {
        requests.push(id);
    }
}
