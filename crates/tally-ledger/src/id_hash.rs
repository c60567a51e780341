//! A fast, per-process-seeded hasher for the `u128` ids the rules look up
//! thousands of times per batch (SipHash costs more than the lookup).
//!
//! Ids come from clients, so the hash is keyed: a folded 64x64->128
//! multiply of the id's halves with two secret words drawn once per process
//! from the standard library's random keys, so colliding ids cannot be
//! chosen in advance.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::OnceLock;

/// A `HashMap` keyed by id, with [`IdHasher`].
pub type IdMap<V> = HashMap<u128, V, IdHasher>;

/// Builds [`IdHash`] hashers with this process's secret seed.
#[derive(Debug, Clone, Copy)]
pub struct IdHasher {
    seed: [u64; 2],
}

impl Default for IdHasher {
    fn default() -> Self {
        static SEED: OnceLock<[u64; 2]> = OnceLock::new();
        let seed = *SEED.get_or_init(|| {
            let random = std::collections::hash_map::RandomState::new();
            [random.hash_one(0x5eed_u64) | 1, random.hash_one(0xfeed_u64)]
        });
        IdHasher { seed }
    }
}

impl BuildHasher for IdHasher {
    type Hasher = IdHash;
    fn build_hasher(&self) -> IdHash {
        IdHash {
            state: self.seed[1],
            multiplier: self.seed[0],
        }
    }
}

/// The hasher [`IdHasher`] builds.
#[derive(Debug, Clone, Copy)]
pub struct IdHash {
    state: u64,
    multiplier: u64,
}

fn fold(a: u64, b: u64) -> u64 {
    let product = u128::from(a).wrapping_mul(u128::from(b));
    (product as u64) ^ ((product >> 64) as u64)
}

impl Hasher for IdHash {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.state = fold(self.state ^ value, self.multiplier);
    }

    fn write_u128(&mut self, value: u128) {
        self.state = fold(self.state ^ (value as u64), ((value >> 64) as u64) ^ self.multiplier);
    }

    fn finish(&self) -> u64 {
        fold(self.state, self.multiplier ^ 0x9E37_79B9_7F4A_7C15)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequential_ids_spread_over_the_buckets() {
        let hasher = IdHasher::default();
        let mut buckets = [0u32; 64];
        for id in 0u128..64_000 {
            buckets[(hasher.hash_one(id) % 64) as usize] += 1;
        }
        assert!(buckets.iter().all(|&count| (800..1200).contains(&count)), "{buckets:?}");
        let high = (1u128 << 64..(1u128 << 64) + 64_000).map(|id| hasher.hash_one(id) % 64);
        let mut buckets = [0u32; 64];
        high.for_each(|b| buckets[b as usize] += 1);
        assert!(buckets.iter().all(|&count| (800..1200).contains(&count)), "{buckets:?}");
    }
}
