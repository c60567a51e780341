//! The host driver: sales effects become contract operations exactly once,
//! and a host's later sale of the same slot is not mistaken for a repeat of
//! its earlier one.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use tally_market::marketplace::driver::{HostDriver, validate};
use tally_market::marketplace::{Event, Marketplace, MarketplaceConfig, Operation};
use tally_market::periods::ProofConfig;
use tally_market::sales::{Sales, SalesConfig, SalesOptions};
use tally_market::{
    Address, AvailabilityId, AvailabilitySpec, Nonce, Reservations, SlotState, StorageAsk, StorageContent,
    StorageRequest, TxId, U256, slot_id,
};
use tally_store::MemStore;

const FAULTY: Address = Address([0xa1; 20]);
const REPAIRER: Address = Address([0xa2; 20]);
const CLIENT: Address = Address([0xc1; 20]);

fn config() -> MarketplaceConfig {
    MarketplaceConfig {
        proofs: ProofConfig {
            period_secs: 60,
            timeout_secs: 30,
            downtime: 0,
            downtime_product: 67,
        },
        ..MarketplaceConfig::default()
    }
}

fn sales(host: Address, salt: u8) -> Sales<MemStore> {
    let reservations = Reservations::open(MemStore::new(), 1 << 20).unwrap();
    reservations
        .create_availability(&AvailabilitySpec::new(
            AvailabilityId([salt; 32]),
            1_024,
            7_200,
            U256::one(),
            U256::from(3_072u32),
        ))
        .unwrap();
    let sales_config = SalesConfig {
        host,
        proofs: config().proofs,
        repair_reward_percentage: 10,
    };
    Sales::new(reservations, sales_config, SalesOptions::default()).unwrap()
}

#[test]
fn a_host_that_lost_a_slot_can_repair_it_later_with_a_new_sale() {
    let chain = Marketplace::open(MemStore::new(), config(), 0).unwrap();
    for (n, account) in [CLIENT, FAULTY, REPAIRER].into_iter().enumerate() {
        let mint = Operation::Mint {
            account,
            amount: U256::from(100_000_000u64),
        };
        chain.apply(&TxId([n as u8; 32]), &mint).unwrap();
    }
    let request = StorageRequest {
        client: CLIENT,
        ask: StorageAsk {
            proof_probability: U256::one(),
            price_per_byte_per_second: U256::one(),
            collateral_per_byte: U256::from(3u8),
            slots: 1,
            slot_size_bytes: 1_024,
            duration_secs: 1_200,
            // Losing the one slot does not fail the request.
            max_slot_loss: 1,
        },
        content: StorageContent {
            cid: vec![1],
            merkle_root: [0; 32],
        },
        expiry_secs: 300,
        nonce: Nonce([1; 32]),
    };
    let id = request.id().unwrap();
    let slot = slot_id(&id, 0);
    chain
        .apply(&TxId([9; 32]), &Operation::RequestStorage { request })
        .unwrap();
    let (mut faulty, mut repairer) = (sales(FAULTY, 1), sales(REPAIRER, 2));
    let mut faulty_driver = HostDriver::new(FAULTY);
    faulty_driver.skip_proofs = true;
    let mut repairer_driver = HostDriver::new(REPAIRER);
    for step in 0..150u64 {
        validate(&chain, Address([0xee; 20])).unwrap();
        // The faulty host goes first: both reserve the slot, it fills it.
        faulty_driver.step(&chain, &mut faulty).unwrap();
        repairer_driver.step(&chain, &mut repairer).unwrap();
        chain
            .apply(
                &TxId::derive("clock", &[&step.to_be_bytes()]),
                &Operation::Advance { seconds: 10 },
            )
            .unwrap();
    }
    let events: Vec<Event> = chain
        .receipts_after(None, 1_000)
        .unwrap()
        .into_iter()
        .flat_map(|r| r.outcome.events)
        .collect();
    let filled = events.iter().filter(|e| matches!(e, Event::SlotFilled { .. })).count();
    assert_eq!(filled, 2, "filled by the faulty host, then repaired: {events:?}");
    assert!(events.iter().any(|e| matches!(e, Event::SlotFreed { .. })));
    let record = chain.slot(&slot).unwrap().unwrap();
    assert_eq!((record.host, record.frees), (Some(REPAIRER), 1));
    assert_eq!(chain.slot_state(&slot).unwrap(), SlotState::Paid);
    assert!(repairer.agents().unwrap().is_empty() && faulty.agents().unwrap().is_empty());
    chain.snapshot().unwrap().check().unwrap();
}
