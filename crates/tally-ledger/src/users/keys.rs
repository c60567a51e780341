//! The key layout of the users' registry, in a namespace of its own beside
//! the ledger's (`<namespace>.users`; the ledger's keys are in
//! `<namespace>`, laid out as the ledger lays them out).
//!
//! | tag | key parts | value | written |
//! |---|---|---|---|
//! | `N` | account id | [`UserRecord`](super::UserRecord) | once, when a nickname is registered |
//! | `S` | (none) | sweep cursor: `u64`, a journal sequence number | after a sweep posted everything before it; only ever raised |
//! | `I` | (none) | next transaction block: `u64` | when a [`Users`](super::Users) takes a block of transaction ids |

use tally_store::key::KeyBuilder;

const USER: u8 = b'N';
const SWEEP_CURSOR: u8 = b'S';
const NEXT_BLOCK: u8 = b'I';

/// Builds the registry's keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UserKeys {
    namespace: Vec<u8>,
}

impl UserKeys {
    /// The registry beside the ledger in `ledger_namespace`.
    pub(crate) fn new(ledger_namespace: &str) -> Self {
        UserKeys {
            namespace: KeyBuilder::new(&format!("{ledger_namespace}.users")).build(),
        }
    }

    fn key(&self, tag: u8) -> Vec<u8> {
        let mut key = Vec::with_capacity(self.namespace.len() + 17);
        key.extend_from_slice(&self.namespace);
        key.push(tag);
        key
    }

    /// Every key of the registry starts with this.
    pub(crate) fn namespace(&self) -> &[u8] {
        &self.namespace
    }

    pub(crate) fn user(&self, account_id: u128) -> Vec<u8> {
        let mut key = self.key(USER);
        key.extend_from_slice(&account_id.to_be_bytes());
        key
    }

    pub(crate) fn users_prefix(&self) -> Vec<u8> {
        self.key(USER)
    }

    pub(crate) fn sweep_cursor(&self) -> Vec<u8> {
        self.key(SWEEP_CURSOR)
    }

    pub(crate) fn next_block(&self) -> Vec<u8> {
        self.key(NEXT_BLOCK)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registry_is_laid_out_as_key_builder_lays_it_out_beside_the_ledger() {
        let keys = UserKeys::new("u2u");
        assert_eq!(keys.user(7), KeyBuilder::new("u2u.users").u8(b'N').u128(7).build());
        assert!(keys.user(7).starts_with(&keys.users_prefix()));
        assert_eq!(keys.sweep_cursor(), KeyBuilder::new("u2u.users").u8(b'S').build());
        let ledger = KeyBuilder::new("u2u").build();
        assert!(!keys.namespace().starts_with(&ledger));
        assert!(!ledger.starts_with(keys.namespace()));
    }
}
