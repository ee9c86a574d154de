//! The world state's Merkle-Patricia tries as one structure that blocks update in place.
//!
//! A [`StateTrie`] is the secure account trie plus the storage trie of each account. The
//! witness verifier builds one from a pre-state root and resolves nodes from the witness as
//! the block reads them; native code builds a complete one from a [`State`] and keeps it
//! between blocks. Either way a block's changes are applied with [`StateTrie::apply`], and
//! because every trie node remembers its hash, the new root costs hashing the paths the block
//! changed, not the whole state (a sequencer with a million accounts could not re-hash them
//! every 250 ms).

use alloc::collections::BTreeMap;

use alloy_primitives::{Address, B256, U256, keccak256};
use alloy_rlp::Decodable;
use alloy_trie::TrieAccount;

use crate::Error;
use crate::exec::AccountChange;
use crate::state::State;
use crate::trie::{NodeSource, PartialTrie};

/// The account trie and the storage tries of a world state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StateTrie {
    accounts: PartialTrie,
    /// Storage tries by account. An account without an entry has not been read yet (witness)
    /// or has no storage (a trie built from a complete state); its leaf's storage root says
    /// which.
    storage: BTreeMap<Address, PartialTrie>,
}

/// keccak(address) and keccak(slot), the tries' keys, remembered while one block runs: it
/// reads before it writes, and the writes need the same keys again.
#[derive(Debug, Default)]
pub(crate) struct TrieKeys {
    accounts: BTreeMap<Address, B256>,
    slots: BTreeMap<U256, B256>,
}

impl TrieKeys {
    /// keccak(address).
    pub(crate) fn account(&mut self, address: Address) -> B256 {
        *self
            .accounts
            .entry(address)
            .or_insert_with(|| keccak256(address))
    }

    /// keccak(slot as 32 big-endian bytes).
    pub(crate) fn slot(&mut self, slot: U256) -> B256 {
        *self
            .slots
            .entry(slot)
            .or_insert_with(|| keccak256(slot.to_be_bytes::<32>()))
    }
}

/// The node source of a complete trie: it never needs one.
struct NoNodes;

impl NodeSource for NoNodes {
    fn node(&mut self, _: &B256) -> Option<alloy_primitives::Bytes> {
        None
    }
}

impl StateTrie {
    /// The tries of a state known only by its root; nodes are resolved as they are read.
    pub(crate) fn from_root(root: B256) -> Self {
        Self {
            accounts: PartialTrie::from_root(root),
            storage: BTreeMap::new(),
        }
    }

    /// The complete tries of `state`, every node in memory (its root is
    /// [`State::state_root`]).
    pub fn from_state(state: &State) -> Self {
        let mut trie = Self::default();
        for (address, account) in state.accounts() {
            let mut storage = PartialTrie::new();
            for (slot, value) in account.storage.iter().filter(|(_, v)| !v.is_zero()) {
                let key = keccak256(slot.to_be_bytes::<32>());
                insert_complete(&mut storage, &key, alloy_rlp::encode(value));
            }
            let leaf = TrieAccount {
                nonce: account.nonce,
                balance: account.balance,
                storage_root: storage.root(),
                code_hash: account.code_hash,
            };
            insert_complete(
                &mut trie.accounts,
                &keccak256(address),
                alloy_rlp::encode(leaf),
            );
            if !account.storage.is_empty() {
                trie.storage.insert(*address, storage);
            }
        }
        // Hash everything now, so that the first block's root (and every copy's) hashes only
        // what that block changed.
        trie.root();
        trie
    }

    /// The state root. Hashes only what changed since the last call.
    pub fn root(&mut self) -> B256 {
        self.accounts.root()
    }

    /// The account whose key is `key` (keccak of its address), read out of the account trie.
    pub(crate) fn account(
        &mut self,
        key: &B256,
        src: &mut dyn NodeSource,
    ) -> Result<Option<TrieAccount>, Error> {
        let Some(leaf) = self.accounts.get(key.as_slice(), src)? else {
            return Ok(None);
        };
        let mut buf = leaf.as_slice();
        let account = TrieAccount::decode(&mut buf).map_err(|_| Error::MalformedStateValue)?;
        if !buf.is_empty() {
            return Err(Error::MalformedStateValue);
        }
        Ok(Some(account))
    }

    /// The storage trie of `address`, created from `storage_root` (its account's) the
    /// first time it is asked for.
    pub(crate) fn storage(&mut self, address: Address, storage_root: B256) -> &mut PartialTrie {
        self.storage
            .entry(address)
            .or_insert_with(|| PartialTrie::from_root(storage_root))
    }

    /// The storage trie of `address` if one was created.
    pub(crate) fn storage_if_known(&mut self, address: &Address) -> Option<&mut PartialTrie> {
        self.storage.get_mut(address)
    }

    /// Applies a block's account changes (in address order) and returns the new root.
    pub(crate) fn apply(
        &mut self,
        changes: &BTreeMap<Address, AccountChange>,
        keys: &mut TrieKeys,
        src: &mut dyn NodeSource,
    ) -> Result<B256, Error> {
        for (address, change) in changes {
            let key = keys.account(*address);
            let Some(info) = change.info else {
                self.accounts.remove(key.as_slice(), src)?;
                self.storage.remove(address);
                continue;
            };
            let known = self.storage.remove(address);
            let mut storage = if change.storage_cleared {
                PartialTrie::new()
            } else {
                match known {
                    Some(trie) => trie,
                    None => match self.account(&key, src)? {
                        Some(account) => PartialTrie::from_root(account.storage_root),
                        None => PartialTrie::new(),
                    },
                }
            };
            for (slot, value) in &change.storage {
                let slot_key = keys.slot(*slot);
                if value.is_zero() {
                    storage.remove(slot_key.as_slice(), src)?;
                } else {
                    storage.insert(slot_key.as_slice(), alloy_rlp::encode(value), src)?;
                }
            }
            let storage_root = storage.root();
            let account = TrieAccount {
                nonce: info.nonce,
                balance: info.balance,
                storage_root,
                code_hash: info.code_hash,
            };
            self.accounts
                .insert(key.as_slice(), alloy_rlp::encode(account), src)?;
            if storage_root != alloy_trie::EMPTY_ROOT_HASH {
                self.storage.insert(*address, storage);
            }
        }
        Ok(self.accounts.root())
    }

    /// [`StateTrie::apply`] on a complete trie (one from [`StateTrie::from_state`], kept up
    /// to date), which holds every node it can need.
    pub(crate) fn apply_complete(
        &mut self,
        changes: &BTreeMap<Address, AccountChange>,
    ) -> Result<B256, Error> {
        self.apply(changes, &mut TrieKeys::default(), &mut NoNodes)
    }
}

/// Inserts into a trie that has every node (built by inserts alone), which cannot fail.
fn insert_complete(trie: &mut PartialTrie, key: &B256, value: alloc::vec::Vec<u8>) {
    let inserted = trie.insert(key.as_slice(), value, &mut NoNodes);
    debug_assert!(inserted.is_ok(), "a trie built by inserts has no stubs");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::AccountInfo;
    use alloy_primitives::Bytes;

    fn seeded(seed: u64) -> impl FnMut() -> u64 {
        let mut x = seed;
        move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        }
    }

    #[test]
    fn a_kept_trie_follows_random_blocks_like_a_rebuilt_state() {
        let mut next = seeded(0x5eed_1234_abcd_0001);
        let mut state = State::new();
        for i in 0..300u64 {
            let slots: alloc::vec::Vec<(U256, U256)> = (0..i % 7)
                .map(|s| (U256::from(s * 31 + i), U256::from(next() | 1)))
                .collect();
            let balance = U256::from(next());
            state.insert_account(
                Address::from_word(keccak256(i.to_be_bytes())),
                i,
                balance,
                if i % 50 == 0 {
                    Bytes::from(alloc::vec![0x60, i as u8])
                } else {
                    Bytes::new()
                },
                slots,
            );
        }
        let mut trie = StateTrie::from_state(&state);
        assert_eq!(trie.root(), state.state_root());
        let addresses: alloc::vec::Vec<Address> = state.accounts().map(|(a, _)| *a).collect();
        for block in 0..40u64 {
            let mut changes = BTreeMap::new();
            for _ in 0..(next() % 12 + 1) {
                let address = if next().is_multiple_of(5) {
                    // A new account.
                    Address::from_word(keccak256((1_000_000 + next()).to_be_bytes()))
                } else {
                    addresses[(next() % addresses.len() as u64) as usize]
                };
                let before = state.account(&address).cloned().unwrap_or_default();
                let deleted = next().is_multiple_of(17);
                let storage = (0..next() % 4)
                    .map(|_| {
                        let slot = U256::from(next() % 40);
                        // Zero deletes the slot.
                        let value = if next().is_multiple_of(3) {
                            U256::ZERO
                        } else {
                            U256::from(next())
                        };
                        (slot, value)
                    })
                    .collect();
                let change = AccountChange {
                    info: (!deleted).then(|| AccountInfo {
                        nonce: before.nonce + 1,
                        balance: U256::from(next()),
                        code_hash: before.code_hash,
                    }),
                    storage,
                    storage_cleared: next().is_multiple_of(23),
                };
                changes.insert(address, change);
            }
            let root = trie.apply_complete(&changes).unwrap();
            crate::native::apply_changes(&mut state, &changes, BTreeMap::new());
            assert_eq!(root, state.state_root(), "block {block}");
            // Same shape, not only the same root: a stale storage trie kept for an account
            // would give wrong roots only once the account is written again.
            let rebuilt = StateTrie::from_state(&state);
            assert!(
                trie == rebuilt,
                "block {block}: the kept tries differ from the state's"
            );
        }
    }

    #[test]
    fn an_empty_state_has_the_empty_root() {
        assert_eq!(
            StateTrie::from_state(&State::new()).root(),
            alloy_trie::EMPTY_ROOT_HASH
        );
    }
}
