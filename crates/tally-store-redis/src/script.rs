//! The key layout, the two Lua scripts, and how a batch becomes a script's
//! arguments and a reply becomes a result.

use std::collections::BTreeMap;

use tally_store::{Batch, Op};

/// The commit: checks every precondition, then applies every write and
/// hands out versions, in one script run (Redis runs a script to the end
/// before it serves any other command).
///
/// Phase 1 only reads, and refuses the whole batch (conflict, a key of the
/// wrong type, a malformed version) before anything is written. Phase 2
/// only writes, with commands that cannot fail on keys phase 1 checked, and
/// under `maxmemory` Redis refuses only a script's *first* write, so a
/// script that started writing finishes.
pub(crate) const COMMIT_LUA: &str = r#"
-- tally-store-redis commit, layout 1.
-- KEYS[1]: the index (sorted set of present keys, score 0).
-- KEYS[2]: the version counter (the highest version handed out).
-- KEYS[3..]: the data hashes of the batch's keys (n = version, v = value),
--            sorted and unique.
-- ARGV[1]: the byte length of the data-key prefix; then for each data key:
--   the op ('-' check only, 'p' put, 'd' delete), c = how many
--   preconditions, c expected versions (decimal, '0' = absent), and the
--   value when the op is 'p'.
local strip = tonumber(ARGV[1]) + 1
local pos = 2
local ops, values, present = {}, {}, {}
local writes = 0
local counter = redis.pcall('GET', KEYS[2])
if type(counter) == 'table' and counter.err then
  return {'corrupt', -1, 'the version counter: ' .. counter.err}
end
local top = 0
if counter then
  top = tonumber(counter)
  if not top then return {'corrupt', -1, 'the version counter is not a number'} end
end
for j = 3, #KEYS do
  local op = ARGV[pos]
  local checks = tonumber(ARGV[pos + 1])
  pos = pos + 2
  local actual = redis.pcall('HGET', KEYS[j], 'n')
  if type(actual) == 'table' and actual.err then
    return {'corrupt', j - 3, actual.err}
  end
  local actual_text = '0'
  if actual then
    local number = tonumber(actual)
    if not number then return {'corrupt', j - 3, 'its version is not a number'} end
    actual_text = actual
    present[j] = true
    if number > top then top = number end
  end
  for _ = 1, checks do
    if ARGV[pos] ~= actual_text then
      return {'conflict', j - 3, ARGV[pos], actual_text}
    end
    pos = pos + 1
  end
  ops[j] = op
  if op == 'p' then
    values[j] = ARGV[pos]
    pos = pos + 1
    writes = writes + 1
  elseif op == 'd' then
    writes = writes + 1
  end
end
if writes == 0 then return {'ok'} end
local index_type = redis.call('TYPE', KEYS[1]).ok
if index_type ~= 'zset' and index_type ~= 'none' then
  return {'corrupt', -1, 'the index is a ' .. index_type .. ', not a sorted set'}
end
-- Lua numbers are doubles: integers are exact up to 2^53 - 1.
if top + writes > 9007199254740991 then
  return {'corrupt', -1, 'the version counter ' .. string.format('%d', top) .. ' leaves no room for ' .. writes .. ' versions'}
end
local version = top
for j = 3, #KEYS do
  local op = ops[j]
  if op == 'p' then
    version = version + 1
    redis.call('HSET', KEYS[j], 'n', string.format('%d', version), 'v', values[j])
    if not present[j] then
      redis.call('ZADD', KEYS[1], 0, string.sub(KEYS[j], strip))
    end
  elseif op == 'd' and present[j] then
    redis.call('DEL', KEYS[j])
    redis.call('ZREM', KEYS[1], string.sub(KEYS[j], strip))
  end
end
redis.call('SET', KEYS[2], string.format('%d', version))
return {'ok'}
"#;

/// One page of a scan, read in one script run: a consistent snapshot of
/// the page.
pub(crate) const SCAN_LUA: &str = r#"
-- tally-store-redis scan, layout 1.
-- KEYS[1]: the index. ARGV[1], ARGV[2]: the ZRANGEBYLEX bounds.
-- ARGV[3]: the most entries to return. ARGV[4]: the data-key prefix.
-- Returns key, version, value for each entry, flat.
local members = redis.call('ZRANGEBYLEX', KEYS[1], ARGV[1], ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for i = 1, #members do
  local fields = redis.call('HMGET', ARGV[4] .. members[i], 'n', 'v')
  out[3 * i - 2] = members[i]
  out[3 * i - 1] = fields[1]
  out[3 * i] = fields[2]
end
return out
"#;

/// The Redis keys of one store. Every key starts with `{PREFIX}:`: the
/// braces make the prefix the key's hash tag (one cluster slot for the whole
/// store), and the prefix has no `}` or `:`, so no two prefixes share a key.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    /// `{PREFIX}:layout`: the layout version, [`crate::LAYOUT_VERSION`].
    pub(crate) layout_key: Vec<u8>,
    /// `{PREFIX}:version`: the highest version handed out.
    pub(crate) counter_key: Vec<u8>,
    /// `{PREFIX}:index`: a sorted set of every present key, score 0.
    pub(crate) index_key: Vec<u8>,
    /// `{PREFIX}:k:`, followed by a tally key: the hash holding its value
    /// and version.
    pub(crate) data_prefix: Vec<u8>,
    /// `{PREFIX}:*`: matches every key of the store.
    pub(crate) match_all: Vec<u8>,
}

impl Layout {
    pub(crate) fn new(prefix: &str) -> Self {
        let base = format!("{{{prefix}}}:");
        let key = |suffix: &str| format!("{base}{suffix}").into_bytes();
        Layout {
            layout_key: key("layout"),
            counter_key: key("version"),
            index_key: key("index"),
            data_prefix: key("k:"),
            match_all: key("*"),
        }
    }

    pub(crate) fn data_key(&self, key: &[u8]) -> Vec<u8> {
        let mut data_key = Vec::with_capacity(self.data_prefix.len() + key.len());
        data_key.extend_from_slice(&self.data_prefix);
        data_key.extend_from_slice(key);
        data_key
    }
}

/// What a batch does to one key: the versions it requires, and its final
/// write (a later write of a key wins).
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct KeyPlan<'a> {
    pub(crate) checks: Vec<u64>,
    pub(crate) write: Option<Option<&'a [u8]>>,
}

/// A batch grouped by key, in key order.
#[derive(Debug)]
pub(crate) struct Plan<'a> {
    pub(crate) keys: Vec<&'a [u8]>,
    pub(crate) per_key: Vec<KeyPlan<'a>>,
}

impl<'a> Plan<'a> {
    pub(crate) fn new(batch: &'a Batch) -> Self {
        let mut grouped: BTreeMap<&'a [u8], KeyPlan<'a>> = BTreeMap::new();
        for op in batch.ops() {
            let write = match op {
                Op::Put { value, .. } => Some(&value[..]),
                Op::Delete { .. } => None,
            };
            grouped.entry(op.key()).or_default().write = Some(write);
        }
        for precondition in batch.preconditions() {
            grouped
                .entry(precondition.key.as_slice())
                .or_default()
                .checks
                .push(precondition.version);
        }
        let (keys, per_key) = grouped.into_iter().unzip();
        Plan { keys, per_key }
    }

    /// True when the batch writes something; false for a batch of
    /// preconditions only, which reads and can be retried.
    pub(crate) fn has_writes(&self) -> bool {
        self.per_key.iter().any(|plan| plan.write.is_some())
    }

    /// The commit script's call: `EVALSHA sha` (or `EVAL body` when
    /// `script` is the body) with the keys and arguments [`COMMIT_LUA`]
    /// reads.
    pub(crate) fn command(&self, layout: &Layout, verb: &str, script: &str) -> redis::Cmd {
        let mut command = redis::cmd(verb);
        command
            .arg(script)
            .arg(2 + self.keys.len())
            .arg(&layout.index_key)
            .arg(&layout.counter_key);
        for key in &self.keys {
            command.arg(layout.data_key(key));
        }
        command.arg(layout.data_prefix.len());
        for plan in &self.per_key {
            let op = match plan.write {
                None => "-",
                Some(Some(_)) => "p",
                Some(None) => "d",
            };
            command.arg(op).arg(plan.checks.len());
            for version in &plan.checks {
                command.arg(*version);
            }
            if let Some(Some(value)) = plan.write {
                command.arg(value);
            }
        }
        command
    }
}

/// The smallest byte string greater than every string starting with
/// `prefix`, or `None` when there is none (empty or all-0xFF prefix).
pub(crate) fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let last = prefix.iter().rposition(|&b| b != 0xFF)?;
    let mut successor = prefix[..=last].to_vec();
    successor[last] += 1;
    Some(successor)
}

/// The `ZRANGEBYLEX` bounds of a scan: keys starting with `prefix` and,
/// when `after` is given, greater than it.
///
/// Redis compares sorted-set members of equal score with `memcmp`, a
/// shorter member first when one is a prefix of the other: exactly the
/// bytewise order of the contract, for any bytes, `0x00` and `0xFF`
/// included. `[` makes a bound inclusive, `(` exclusive, `+` is the end.
pub(crate) fn scan_bounds(prefix: &[u8], after: Option<&[u8]>) -> (Vec<u8>, Vec<u8>) {
    let min = match after {
        Some(after) if after >= prefix => [b"(".as_slice(), after].concat(),
        _ => [b"[".as_slice(), prefix].concat(),
    };
    let max = match prefix_successor(prefix) {
        Some(successor) => [b"(".as_slice(), &successor].concat(),
        None => b"+".to_vec(),
    };
    (min, max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_successor_is_the_first_key_past_the_prefix() {
        assert_eq!(prefix_successor(b""), None);
        assert_eq!(prefix_successor(&[0xFF, 0xFF]), None);
        assert_eq!(prefix_successor(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_successor(&[0x01, 0xFF]), Some(vec![0x02]));
        assert_eq!(prefix_successor(&[0x00]), Some(vec![0x01]));
    }

    #[test]
    fn scan_bounds_start_after_the_cursor_only_when_it_is_in_range() {
        assert_eq!(scan_bounds(b"", None), (b"[".to_vec(), b"+".to_vec()));
        assert_eq!(scan_bounds(b"ab", None), (b"[ab".to_vec(), b"(ac".to_vec()));
        assert_eq!(scan_bounds(b"ab", Some(b"abc")), (b"(abc".to_vec(), b"(ac".to_vec()));
        // A cursor below the prefix starts the scan at the prefix.
        assert_eq!(scan_bounds(b"ab", Some(b"aa")), (b"[ab".to_vec(), b"(ac".to_vec()));
        assert_eq!(
            scan_bounds(&[0xFF], Some(&[0xFF, 0x00])),
            (vec![b'(', 0xFF, 0x00], b"+".to_vec())
        );
    }

    #[test]
    fn every_key_of_a_store_carries_the_prefix_as_its_hash_tag() {
        let layout = Layout::new("app-1");
        for key in [
            &layout.layout_key,
            &layout.counter_key,
            &layout.index_key,
            &layout.data_key(b"\x00}{:"),
        ] {
            assert!(key.starts_with(b"{app-1}:"), "{key:?}");
        }
        assert_eq!(layout.match_all, b"{app-1}:*");
    }

    #[test]
    fn a_plan_groups_by_key_and_the_last_write_wins() {
        let mut batch = Batch::new();
        batch.put(b"b", b"1".to_vec());
        batch.delete(b"b");
        batch.delete(b"a");
        batch.put(b"a", b"2".to_vec());
        batch.expect_version(b"c", 3);
        batch.expect_absent(b"a");
        batch.expect_version(b"a", 4);
        let plan = Plan::new(&batch);
        assert_eq!(plan.keys, vec![&b"a"[..], &b"b"[..], &b"c"[..]]);
        assert_eq!(
            plan.per_key,
            vec![
                KeyPlan {
                    checks: vec![0, 4],
                    write: Some(Some(&b"2"[..]))
                },
                KeyPlan {
                    checks: vec![],
                    write: Some(None)
                },
                KeyPlan {
                    checks: vec![3],
                    write: None
                },
            ]
        );
        assert!(plan.has_writes());
        let mut read_only = Batch::new();
        read_only.expect_version(b"k", 1);
        assert!(!Plan::new(&read_only).has_writes());
    }

    #[test]
    fn the_commit_command_lists_every_key_and_argument() {
        let layout = Layout::new("p");
        let mut batch = Batch::new();
        batch.expect_version(b"k", 7).put(b"k", b"v".to_vec()).delete(b"j");
        let command = Plan::new(&batch).command(&layout, "EVALSHA", "sha");
        let args: Vec<Vec<u8>> = command
            .args_iter()
            .map(|arg| match arg {
                redis::Arg::Simple(bytes) => bytes.to_vec(),
                _ => Vec::new(),
            })
            .collect();
        let expected: Vec<&[u8]> = vec![
            b"EVALSHA",
            b"sha",
            b"4",
            b"{p}:index",
            b"{p}:version",
            b"{p}:k:j",
            b"{p}:k:k",
            b"6",
            b"d",
            b"0",
            b"p",
            b"1",
            b"7",
            b"v",
        ];
        assert_eq!(args, expected);
    }
}
