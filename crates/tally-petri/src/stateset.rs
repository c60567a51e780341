//! A compact, exact set of state vectors, for exploring large state spaces.
//!
//! Each state is stored once, packed by its largest count (one bit per
//! place when no place holds more than 1, so a 1-safe net of 15 places takes
//! 3 bytes, not the 60 of a `Vec<u32>`; one byte per place below 256;
//! LEB128 varints beyond), concatenated in one arena in insertion order. An
//! open-addressing table of `u32` state indices finds duplicates; the stored
//! bytes are compared, so no state is ever lost to a hash collision. States
//! are numbered in insertion order, which makes the set its own
//! breadth-first queue.

/// The most states one set holds (indices are `u32`, 0 is "empty").
pub(crate) const MAX_STATES: usize = (u32::MAX - 1) as usize;
/// The most bytes the arena holds (offsets are `u32`).
pub(crate) const MAX_ARENA_BYTES: usize = u32::MAX as usize;

pub(crate) struct StateSet {
    arena: Vec<u8>,
    /// `starts[i]..starts[i + 1]` is state `i`'s encoding.
    starts: Vec<u32>,
    /// Slot -> state index + 1; 0 = empty. Length is a power of two.
    table: Vec<u32>,
}

/// The encodings, by the largest count in the state (the first byte of
/// every encoding says which; one state has exactly one encoding, so equal
/// encodings mean equal states).
const BITS: u8 = 0;
const BYTES: u8 = 1;
const VARINTS: u8 = 2;

/// Appends `state`'s encoding: one bit per place when every place holds 0
/// or 1 (the common, "1-safe" case), one byte per place when all hold less
/// than 256, else LEB128 varints.
pub(crate) fn encode(state: &[u32], out: &mut Vec<u8>) {
    let max = state.iter().copied().max().unwrap_or(0);
    if max <= 1 {
        out.push(BITS);
        for chunk in state.chunks(8) {
            let mut byte = 0u8;
            for (bit, &tokens) in chunk.iter().enumerate() {
                byte |= (tokens as u8) << bit;
            }
            out.push(byte);
        }
    } else if max <= 0xff {
        out.push(BYTES);
        out.extend(state.iter().map(|&tokens| tokens as u8));
    } else {
        out.push(VARINTS);
        for &tokens in state {
            let mut value = tokens;
            while value >= 0x80 {
                out.push((value as u8) | 0x80);
                value >>= 7;
            }
            out.push(value as u8);
        }
    }
}

/// Decodes `bytes` (written by [`encode`]) into `out`, which has the
/// state's length.
fn decode(bytes: &[u8], out: &mut [u32]) {
    let Some((&tag, mut bytes)) = bytes.split_first() else {
        debug_assert!(false, "empty state encoding");
        return;
    };
    match tag {
        BITS => {
            for (chunk, &byte) in out.chunks_mut(8).zip(bytes) {
                for (bit, slot) in chunk.iter_mut().enumerate() {
                    *slot = u32::from((byte >> bit) & 1);
                }
            }
        }
        BYTES => {
            for (slot, &byte) in out.iter_mut().zip(bytes) {
                *slot = u32::from(byte);
            }
        }
        _ => {
            for slot in out.iter_mut() {
                let mut value = 0u32;
                let mut shift = 0;
                loop {
                    let Some((&byte, rest)) = bytes.split_first() else {
                        debug_assert!(false, "truncated state encoding");
                        return;
                    };
                    bytes = rest;
                    value |= u32::from(byte & 0x7f) << shift;
                    if byte < 0x80 {
                        break;
                    }
                    shift += 7;
                }
                *slot = value;
            }
            debug_assert!(bytes.is_empty());
        }
    }
}

/// A fast 64-bit hash of a short byte string (multiply-rotate over 8-byte
/// words, then a final avalanche). Not for adversaries: states come from
/// the net, not from an attacker choosing collisions.
fn hash(bytes: &[u8]) -> u64 {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut h = (bytes.len() as u64).wrapping_mul(K);
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        h = (h.rotate_left(23) ^ u64::from_le_bytes(word)).wrapping_mul(K);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut word = [0u8; 8];
        word[..rest.len()].copy_from_slice(rest);
        h = (h.rotate_left(23) ^ u64::from_le_bytes(word)).wrapping_mul(K);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
    h ^ (h >> 33)
}

/// What [`StateSet::insert`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Inserted {
    /// The state is new, with this index.
    New(usize),
    /// The state was there already.
    Present,
    /// The set is full (over [`MAX_STATES`] or [`MAX_ARENA_BYTES`]).
    Full,
}

impl StateSet {
    pub(crate) fn new() -> Self {
        StateSet {
            arena: Vec::new(),
            starts: vec![0],
            table: vec![0; 1024],
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.starts.len() - 1
    }

    /// Bytes of memory the set holds (arena, offsets and table).
    pub(crate) fn memory_bytes(&self) -> usize {
        self.arena.capacity() + 4 * self.starts.capacity() + 4 * self.table.capacity()
    }

    fn bytes_of(&self, index: usize) -> &[u8] {
        &self.arena[self.starts[index] as usize..self.starts[index + 1] as usize]
    }

    /// Decodes state `index` into `out` (of the state's length).
    pub(crate) fn get(&self, index: usize, out: &mut [u32]) {
        decode(self.bytes_of(index), out);
    }

    /// Whether the state whose encoding is `encoded` is in the set.
    pub(crate) fn contains(&self, encoded: &[u8]) -> bool {
        let mask = self.table.len() - 1;
        let mut slot = hash(encoded) as usize & mask;
        loop {
            match self.table[slot] {
                0 => return false,
                entry if self.bytes_of(entry as usize - 1) == encoded => return true,
                _ => slot = (slot + 1) & mask,
            }
        }
    }

    /// Inserts the state whose encoding is `encoded`.
    pub(crate) fn insert(&mut self, encoded: &[u8]) -> Inserted {
        let mask = self.table.len() - 1;
        let mut slot = hash(encoded) as usize & mask;
        // The table is at most half full, so the probe ends.
        loop {
            match self.table[slot] {
                0 => break,
                entry => {
                    if self.bytes_of(entry as usize - 1) == encoded {
                        return Inserted::Present;
                    }
                    slot = (slot + 1) & mask;
                }
            }
        }
        let index = self.len();
        if index >= MAX_STATES || self.arena.len() + encoded.len() > MAX_ARENA_BYTES {
            return Inserted::Full;
        }
        self.arena.extend_from_slice(encoded);
        self.starts.push(self.arena.len() as u32);
        self.table[slot] = index as u32 + 1;
        if 2 * self.len() > self.table.len() {
            self.grow();
        }
        debug_assert!(2 * self.len() <= self.table.len());
        Inserted::New(index)
    }

    fn grow(&mut self) {
        let size = self.table.len() * 2;
        let mask = size - 1;
        let mut table = vec![0u32; size];
        for index in 0..self.len() {
            let mut slot = hash(self.bytes_of(index)) as usize & mask;
            while table[slot] != 0 {
                slot = (slot + 1) & mask;
            }
            table[slot] = index as u32 + 1;
        }
        self.table = table;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        #[test]
        fn the_set_holds_each_state_once_and_gives_it_back(
            // One set holds states of one length, as a net's do.
            states in (0usize..20).prop_flat_map(|places| proptest::collection::vec(prop_oneof![
                proptest::collection::vec(0u32..2, places),
                proptest::collection::vec(0u32..300, places),
                proptest::collection::vec(prop_oneof![0u32..3, any::<u32>()], places),
            ], 0..2000))
        ) {
            let mut set = StateSet::new();
            let mut model = std::collections::HashMap::new();
            let mut buffer = Vec::new();
            for state in &states {
                buffer.clear();
                encode(state, &mut buffer);
                let inserted = set.insert(&buffer);
                match model.get(state) {
                    Some(_) => prop_assert_eq!(inserted, Inserted::Present),
                    None => {
                        prop_assert_eq!(inserted, Inserted::New(model.len()));
                        model.insert(state.clone(), model.len());
                    }
                }
            }
            prop_assert_eq!(set.len(), model.len());
            for (state, &index) in &model {
                let mut out = vec![7u32; state.len()];
                set.get(index, &mut out);
                prop_assert_eq!(&out, state);
            }
        }
    }
}
