//! The slot queue, scenario by scenario after Codex's `testslotqueue.nim`
//! (its worker and start/stop tests become `pop` and pause tests: the queue
//! is sans-IO).
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use proptest::prelude::*;
use tally_market::slot_queue::{Pushed, SlotQueue, SlotQueueItem};
use tally_market::{MarketError, RequestId, StorageAsk, U256};

fn ask(slots: u64) -> StorageAsk {
    StorageAsk {
        proof_probability: U256::from(4u8),
        price_per_byte_per_second: U256::from(10u8),
        collateral_per_byte: U256::from(2u8),
        slots,
        slot_size_bytes: 100,
        duration_secs: 60,
        max_slot_loss: 1,
    }
}

fn item(request: u8, slot: u16) -> SlotQueueItem {
    let ask = ask(4);
    let collateral = ask.collateral_per_slot().unwrap();
    SlotQueueItem::new(RequestId([request; 32]), slot, &ask, Some(1_000), collateral)
}

fn queue(max_size: u16) -> SlotQueue {
    SlotQueue::new(max_size, [7; 32]).unwrap()
}

fn popped(queue: &mut SlotQueue) -> Vec<(u8, u16)> {
    std::iter::from_fn(|| queue.pop())
        .map(|item| (item.request_id.0[0], item.slot_index))
        .collect()
}

#[test]
fn the_queue_starts_empty_and_paused() {
    let queue = queue(2);
    assert!(queue.is_empty() && queue.paused());
    assert_eq!(queue.max_size(), 2);
}

#[test]
fn a_queue_holds_at_least_one_item() {
    assert!(matches!(SlotQueue::new(0, [0; 32]), Err(MarketError::Invalid { .. })));
}

#[test]
fn items_compare_by_profitability_collateral_and_expiry() {
    // Codex's "correctly compares SlotQueueItems": B pays more and locks less.
    let mut a = item(1, 0);
    a.duration_secs = 1;
    a.price_per_byte_per_second = U256::one();
    a.collateral = U256::from(100_000u32) * U256::from(a.slot_size_bytes);
    a.expiry_secs = Some(1_001);
    let mut b = item(2, 0);
    b.duration_secs = 100;
    b.price_per_byte_per_second = U256::from(1_000u32);
    b.collateral = U256::from(b.slot_size_bytes);
    b.expiry_secs = Some(1_000);
    assert_eq!(b.priority_cmp(&a), std::cmp::Ordering::Less, "B first");
    assert_eq!(a.priority_cmp(&b), std::cmp::Ordering::Greater);
}

fn mock(price: u64, collateral: u64, expiry: u64, slot_size: u64, seen: bool) -> SlotQueueItem {
    let mut item = item(1, 0);
    item.slot_size_bytes = slot_size;
    item.duration_secs = 1;
    item.price_per_byte_per_second = U256::from(price);
    item.collateral = U256::from(collateral);
    item.expiry_secs = Some(expiry);
    item.seen = seen;
    item
}

#[test]
fn unseen_items_go_before_seen_ones_even_when_less_profitable() {
    let seen = mock(2, 1, 1, 1, true);
    let unseen = mock(1, 1, 1, 1, false);
    assert!(unseen.priority_cmp(&seen).is_lt());
}

#[test]
fn profitability_outweighs_collateral() {
    let cheap_low_collateral = mock(1, 1, 1, 1, false);
    let rich_high_collateral = mock(2, 2, 1, 1, false);
    assert!(rich_high_collateral.priority_cmp(&cheap_low_collateral).is_lt());
}

#[test]
fn lower_collateral_outweighs_longer_expiry() {
    let high_collateral = mock(1, 2, 2, 1, false);
    let low_collateral = mock(1, 1, 1, 1, false);
    assert!(low_collateral.priority_cmp(&high_collateral).is_lt());
}

#[test]
fn longer_expiry_goes_first_when_all_else_is_equal() {
    let short = mock(1, 1, 1, 1, false);
    let long = mock(1, 1, 2, 1, false);
    assert!(long.priority_cmp(&short).is_lt());
}

#[test]
fn a_larger_slot_pays_more_and_goes_first() {
    // Codex: "sorts items by slot size descending (bigger dataset = higher
    // profitability = higher priority)"; a larger slot outweighs expiry.
    let large_short = mock(1, 1, 1, 2, false);
    let small_long = mock(1, 1, 2, 1, false);
    assert!(large_short.priority_cmp(&small_long).is_lt());
}

#[test]
fn higher_price_and_lower_collateral_sort_first() {
    let base = item(1, 0);
    let mut pricier = item(1, 1);
    pricier.price_per_byte_per_second += U256::one();
    assert!(pricier.priority_cmp(&base).is_lt());
    let mut costlier = item(1, 2);
    costlier.collateral += U256::one();
    assert!(costlier.priority_cmp(&base).is_gt());
}

#[test]
fn a_request_expands_into_one_item_per_slot() {
    let ask = ask(5);
    let items = SlotQueueItem::expand(RequestId([1; 32]), &ask, Some(10), U256::from(200u8)).unwrap();
    assert_eq!(items.len(), 5);
    for (index, item) in items.iter().enumerate() {
        assert_eq!(item.slot_index as usize, index);
        assert_eq!(item.collateral, U256::from(200u8));
        assert!(!item.seen);
    }
}

#[test]
fn a_request_may_have_up_to_u16_max_slots_and_no_more() {
    let items = SlotQueueItem::expand(RequestId([1; 32]), &ask(u64::from(u16::MAX)), None, U256::zero()).unwrap();
    assert_eq!(items.len(), usize::from(u16::MAX));
    assert!(matches!(
        SlotQueueItem::expand(RequestId([1; 32]), &ask(u64::from(u16::MAX) + 1), None, U256::zero()),
        Err(MarketError::SlotsOutOfRange { slots: 65_536 })
    ));
}

#[test]
fn a_slot_cannot_be_queued_twice() {
    let mut queue = queue(6);
    queue.push(item(1, 0)).unwrap();
    queue.push(item(1, 1)).unwrap();
    assert!(matches!(
        queue.push_all([item(2, 0), item(2, 0), item(2, 0)]),
        Err(MarketError::SlotQueueItemExists { slot_index: 0, .. })
    ));
    assert_eq!(queue.len(), 3);
}

#[test]
fn pushing_into_a_full_queue_drops_the_lowest_priority_item() {
    let mut queue = queue(2);
    let mut low = item(1, 0);
    low.collateral = U256::from(10_000u32);
    queue.push(low.clone()).unwrap();
    queue.push(item(1, 1)).unwrap();
    let outcome = queue.push(item(1, 2)).unwrap();
    assert_eq!(outcome, Pushed::Queued { dropped: Some(low) });
    let mut lower = item(1, 3);
    lower.collateral = U256::from(20_000u32);
    assert_eq!(queue.push(lower).unwrap(), Pushed::Dropped);
    assert_eq!(queue.len(), 2);
}

#[test]
fn items_can_be_deleted_by_slot_and_by_request() {
    let mut queue = queue(8);
    queue.push_all((0..3).map(|slot| item(1, slot))).unwrap();
    queue.push_all((0..3).map(|slot| item(2, slot))).unwrap();
    assert!(queue.contains(&RequestId([2; 32]), 2));
    assert!(queue.delete(&RequestId([2; 32]), 2));
    assert!(!queue.contains(&RequestId([2; 32]), 2));
    assert!(!queue.delete(&RequestId([2; 32]), 2), "deleting again finds nothing");
    assert_eq!(queue.delete_request(&RequestId([1; 32])), 3);
    let mut rest = popped(&mut queue);
    rest.sort();
    assert_eq!(rest, vec![(2, 0), (2, 1)]);
}

#[test]
fn each_item_is_popped_once() {
    let mut queue = queue(4);
    queue.push(item(1, 0)).unwrap();
    assert_eq!(popped(&mut queue), vec![(1, 0)]);
    assert!(queue.pop().is_none());
}

#[test]
fn items_pop_in_priority_order() {
    let mut queue = queue(4);
    for slot in 0..4u16 {
        let mut next = item(1, slot);
        next.price_per_byte_per_second += U256::from(slot);
        queue.push(next).unwrap();
    }
    assert_eq!(popped(&mut queue), vec![(1, 3), (1, 2), (1, 1), (1, 0)]);
}

#[test]
fn pushing_an_unseen_item_unpauses_the_queue() {
    let mut queue = queue(4);
    queue.pause();
    queue.push(item(1, 0)).unwrap();
    assert!(!queue.paused());
    assert_eq!(popped(&mut queue), vec![(1, 0)]);
}

#[test]
fn pushing_a_seen_item_leaves_the_queue_paused() {
    let mut queue = queue(4);
    let mut seen = item(1, 0);
    seen.seen = true;
    queue.push(seen).unwrap();
    assert!(queue.paused());
    assert!(queue.pop().is_none(), "a paused queue gives nothing");
}

#[test]
fn reaching_a_seen_item_pauses_the_queue_and_keeps_the_item() {
    let mut queue = queue(4);
    queue.push(item(1, 0)).unwrap();
    assert_eq!(popped(&mut queue), vec![(1, 0)]);
    let mut seen = item(1, 1);
    seen.seen = true;
    queue.push(seen).unwrap();
    queue.unpause();
    assert!(queue.pop().is_none());
    assert!(queue.paused());
    assert_eq!(queue.len(), 1);
}

#[test]
fn clearing_seen_flags_makes_items_poppable_again() {
    let mut queue = queue(4);
    for slot in 0..2 {
        let mut seen = item(1, slot);
        seen.seen = true;
        queue.push(seen).unwrap();
    }
    assert!(queue.items().all(|item| item.seen));
    queue.clear_seen_flags();
    assert!(queue.items().all(|item| !item.seen));
    queue.unpause();
    assert_eq!(popped(&mut queue).len(), 2);
}

#[test]
fn equal_items_are_spread_by_a_per_host_tie_break() {
    let order = |salt: [u8; 32]| {
        let mut queue = SlotQueue::new(16, salt).unwrap();
        queue.push_all((0..8).map(|slot| item(1, slot))).unwrap();
        popped(&mut queue)
    };
    assert_eq!(order([1; 32]), order([1; 32]), "deterministic for one host");
    assert_ne!(order([1; 32]), order([2; 32]), "different for another");
}

proptest! {
    /// Whatever is pushed, popped and deleted, the queue never exceeds its
    /// size, never holds a slot twice, and pops in priority order.
    #[test]
    fn the_queue_stays_bounded_unique_and_ordered(
        ops in prop::collection::vec((0u8..4, 0u8..3, 0u16..6, 0u64..5, any::<bool>()), 1..80),
    ) {
        let mut queue = SlotQueue::new(5, [3; 32]).unwrap();
        for (kind, request, slot, price, seen) in ops {
            match kind {
                0 | 1 => {
                    let mut next = item(request, slot);
                    next.price_per_byte_per_second = U256::from(price);
                    next.seen = seen;
                    let _ = queue.push(next);
                }
                2 => {
                    queue.delete(&RequestId([request; 32]), slot);
                }
                _ => {
                    let before: Vec<SlotQueueItem> = queue.items().cloned().collect();
                    if let Some(top) = queue.pop() {
                        prop_assert!(before.iter().all(|other| top.priority_cmp(other).is_le()));
                    }
                }
            }
            prop_assert!(queue.len() <= 5);
            let mut slots: Vec<_> = queue.items().map(|item| (item.request_id, item.slot_index)).collect();
            let count = slots.len();
            slots.sort();
            slots.dedup();
            prop_assert_eq!(slots.len(), count);
            let items: Vec<&SlotQueueItem> = queue.items().collect();
            for pair in items.windows(2) {
                prop_assert!(pair[0].priority_cmp(pair[1]).is_le());
            }
        }
    }
}
