//! Binary keys: Redis compares index members with `memcmp`, and the scan
//! bounds are built from raw key bytes, so every byte (0x00, 0xff, the
//! bytes `ZRANGEBYLEX` gives meaning to, the hash-tag braces and the layout's
//! `:`) must order and bound exactly as the contract says. Checked against
//! `MemStore` as the model.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod support;

use tally_store::{Batch, MemStore, Store, scan_all};

/// Bytes that mean something to Redis or to the layout, and the edges of a byte.
const ALPHABET: &[u8] = &[
    0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff, b'[', b'(', b'+', b'-', b'{', b'}', b':', b'*', b'a',
];

/// A deterministic generator (an LCG), so a failure replays.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn key(&mut self, max_len: u64) -> Vec<u8> {
        let len = self.next() % (max_len + 1);
        (0..len)
            .map(|_| ALPHABET[(self.next() % ALPHABET.len() as u64) as usize])
            .collect()
    }
}

fn keys_of(page: &tally_store::Page) -> Vec<Vec<u8>> {
    page.entries.iter().map(|entry| entry.key.clone()).collect()
}

#[test]
fn binary_keys_scan_exactly_like_the_model() {
    let Some(url) = support::url("binary_keys_scan_exactly_like_the_model") else {
        return;
    };
    let redis = support::TempRedis::new(&url, "binary");
    let model = MemStore::new();
    let mut random = Lcg(0x7a11_7e57);
    let mut batch = Batch::new();
    for _ in 0..400 {
        let key = random.key(4);
        batch.put(key.clone(), key);
    }
    redis.commit(batch.clone()).unwrap();
    model.commit(batch).unwrap();
    // Delete some, so the index loses members too.
    let mut deletes = Batch::new();
    for _ in 0..60 {
        deletes.delete(random.key(4));
    }
    redis.commit(deletes.clone()).unwrap();
    model.commit(deletes).unwrap();

    let everything: Vec<_> = scan_all(&model, b"", 1_000).map(|e| e.unwrap().key).collect();
    let scanned: Vec<_> = scan_all(&redis, b"", 7).map(|e| e.unwrap().key).collect();
    assert_eq!(scanned, everything, "the whole store, seven keys a page");

    for round in 0..300 {
        let prefix = random.key(2);
        let after = match round % 3 {
            0 => None,
            _ => Some(random.key(3)),
        };
        let limit = 1 + (random.next() % 12) as usize;
        let expected = model.scan(&prefix, after.as_deref(), limit).unwrap();
        let found = redis.scan(&prefix, after.as_deref(), limit).unwrap();
        assert_eq!(
            (keys_of(&found), found.more),
            (keys_of(&expected), expected.more),
            "scan({prefix:02x?}, after {after:02x?}, limit {limit})"
        );
    }
    for key in &everything {
        assert_eq!(
            redis.get(key).unwrap().map(|found| found.value),
            model.get(key).unwrap().map(|found| found.value)
        );
    }
}

#[test]
fn prefixes_of_0xff_and_cursors_of_0x00_are_bounded_exactly() {
    let Some(url) = support::url("prefixes_of_0xff_and_cursors_of_0x00_are_bounded_exactly") else {
        return;
    };
    let store = support::TempRedis::new(&url, "edges");
    let keys: Vec<Vec<u8>> = vec![
        vec![],
        vec![0x00],
        vec![0x00, 0x00],
        vec![0x00, 0xff],
        vec![0x01],
        vec![0xfe, 0xff],
        vec![0xff],
        vec![0xff, 0x00],
        vec![0xff, 0xff],
        vec![0xff, 0xff, 0xff],
    ];
    let mut batch = Batch::new();
    for key in &keys {
        batch.put(key.clone(), b"v".to_vec());
    }
    store.commit(batch).unwrap();
    let scan = |prefix: &[u8], after: Option<&[u8]>| keys_of(&store.scan(prefix, after, 100).unwrap());
    // A prefix of 0xff bytes has no successor: its scan runs to the end.
    assert_eq!(scan(&[0xff], None), keys[6..].to_vec());
    assert_eq!(scan(&[0xff, 0xff], None), keys[8..].to_vec());
    assert_eq!(scan(&[0xfe], None), vec![vec![0xfe, 0xff]]);
    // 0x00 is a byte like any other: a cursor of [0x00] excludes exactly it.
    assert_eq!(scan(&[0x00], None), keys[1..4].to_vec());
    assert_eq!(scan(&[0x00], Some(&[0x00])), keys[2..4].to_vec());
    assert_eq!(scan(b"", Some(&[])), keys[1..].to_vec());
    assert_eq!(scan(b"", Some(&[0xff, 0xff, 0xff])), Vec::<Vec<u8>>::new());
    // The empty key sorts first and is a key like the others.
    assert_eq!(scan(b"", None).first(), Some(&vec![]));
}

#[test]
fn keys_that_look_like_redis_syntax_are_plain_keys() {
    let Some(url) = support::url("keys_that_look_like_redis_syntax_are_plain_keys") else {
        return;
    };
    let store = support::TempRedis::new(&url, "syntax");
    let keys: [&[u8]; 8] = [b"+", b"-", b"[a", b"(a", b"{x}", b"}:k:", b"*", b"a\r\nPING\r\n"];
    let mut batch = Batch::new();
    for key in keys {
        batch.expect_absent(key).put(key, key.to_vec());
    }
    store.commit(batch).unwrap();
    for key in keys {
        assert_eq!(&store.get(key).unwrap().unwrap().value[..], key);
        assert_eq!(keys_of(&store.scan(key, None, 10).unwrap()), vec![key.to_vec()]);
    }
    let mut sorted: Vec<Vec<u8>> = keys.iter().map(|key| key.to_vec()).collect();
    sorted.sort();
    assert_eq!(keys_of(&store.scan(b"", None, 100).unwrap()), sorted);
}
