//! The world state: accounts (nonce, balance, code hash, storage) and the code they run,
//! committed by the Merkle-Patricia state root Ethereum uses.
//!
//! [`State`] is the complete, in-memory state native execution runs against (the sequencer's
//! and the tests'). Its root is computed with `alloy-trie`'s `HashBuilder` over the secure
//! tries: account leaves keyed by `keccak(address)` holding `rlp([nonce, balance,
//! storage_root, code_hash])`, storage leaves keyed by `keccak(slot)` holding `rlp(value)` for
//! every non-zero value.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use alloy_primitives::{Address, B256, Bytes, KECCAK256_EMPTY, U256, keccak256};
use alloy_trie::proof::ProofRetainer;
use alloy_trie::{EMPTY_ROOT_HASH, HashBuilder, Nibbles, TrieAccount};

/// One account: what the state trie commits to, plus its storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Transactions sent (or contracts created, for a contract).
    pub nonce: u64,
    /// Balance in wei.
    pub balance: U256,
    /// keccak of the account's code ([`KECCAK256_EMPTY`] when it has none).
    pub code_hash: B256,
    /// Non-zero storage slots.
    pub storage: BTreeMap<U256, U256>,
}

impl Default for Account {
    fn default() -> Self {
        Self {
            nonce: 0,
            balance: U256::ZERO,
            code_hash: KECCAK256_EMPTY,
            storage: BTreeMap::new(),
        }
    }
}

impl Account {
    /// The root of this account's storage trie.
    pub fn storage_root(&self) -> B256 {
        storage_root(&self.storage)
    }

    /// The account's leaf in the state trie.
    pub fn trie_account(&self) -> TrieAccount {
        TrieAccount {
            nonce: self.nonce,
            balance: self.balance,
            storage_root: self.storage_root(),
            code_hash: self.code_hash,
        }
    }
}

/// A complete world state: every account, and every contract code by hash.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct State {
    accounts: BTreeMap<Address, Account>,
    codes: BTreeMap<B256, Bytes>,
}

impl State {
    /// An empty state (root [`EMPTY_ROOT_HASH`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// Puts an account with this code (empty for none) into the state, replacing any other.
    /// Zero storage values are dropped: the trie does not hold them.
    pub fn insert_account(
        &mut self,
        address: Address,
        nonce: u64,
        balance: U256,
        code: Bytes,
        storage: impl IntoIterator<Item = (U256, U256)>,
    ) {
        let code_hash = self.insert_code(code);
        let storage = storage.into_iter().filter(|(_, v)| !v.is_zero()).collect();
        self.accounts.insert(
            address,
            Account {
                nonce,
                balance,
                code_hash,
                storage,
            },
        );
    }

    /// Puts a complete account into the state, replacing any other (its code, if any, is
    /// stored with [`State::insert_code`]).
    pub fn put_account(&mut self, address: Address, mut account: Account) {
        account.storage.retain(|_, v| !v.is_zero());
        self.accounts.insert(address, account);
    }

    /// Stores code by its hash and returns the hash.
    pub fn insert_code(&mut self, code: Bytes) -> B256 {
        if code.is_empty() {
            return KECCAK256_EMPTY;
        }
        let hash = keccak256(&code);
        self.codes.insert(hash, code);
        hash
    }

    /// The account at `address`, if it exists.
    pub fn account(&self, address: &Address) -> Option<&Account> {
        self.accounts.get(address)
    }

    /// The account at `address`, for changing it in place.
    pub fn account_mut(&mut self, address: &Address) -> Option<&mut Account> {
        self.accounts.get_mut(address)
    }

    /// Removes the account at `address` (with its storage).
    pub fn remove_account(&mut self, address: &Address) -> Option<Account> {
        self.accounts.remove(address)
    }

    /// Every account, by address.
    pub fn accounts(&self) -> impl Iterator<Item = (&Address, &Account)> {
        self.accounts.iter()
    }

    /// Every stored code, by hash.
    pub fn codes(&self) -> &BTreeMap<B256, Bytes> {
        &self.codes
    }

    /// The code with this hash (empty for [`KECCAK256_EMPTY`]), if the state holds it.
    pub fn code(&self, hash: &B256) -> Option<Bytes> {
        if *hash == KECCAK256_EMPTY {
            return Some(Bytes::new());
        }
        self.codes.get(hash).cloned()
    }

    /// The value of a storage slot (zero when unset or the account does not exist).
    pub fn storage(&self, address: &Address, slot: &U256) -> U256 {
        self.accounts
            .get(address)
            .and_then(|a| a.storage.get(slot).copied())
            .unwrap_or_default()
    }

    /// The state root: the root of the secure account trie.
    pub fn state_root(&self) -> B256 {
        trie_root(
            self.accounts
                .iter()
                .map(|(address, account)| account_leaf(address, account))
                .collect(),
        )
    }

    /// Every hashed node of the account trie and of the storage tries of `with_storage`, keyed
    /// by hash: what witness building fetches proofs from.
    pub(crate) fn trie_nodes(
        &self,
        with_storage: impl IntoIterator<Item = Address>,
    ) -> BTreeMap<B256, Bytes> {
        let mut nodes = BTreeMap::new();
        crate::trie::collect_nodes(
            self.accounts.iter().map(|(address, account)| {
                (
                    keccak256(address),
                    alloy_rlp::encode(account.trie_account()),
                )
            }),
            &mut nodes,
        );
        for address in with_storage {
            if let Some(account) = self.accounts.get(&address) {
                crate::trie::collect_nodes(storage_leaves(&account.storage), &mut nodes);
            }
        }
        nodes
    }
}

/// Merkle proofs of one account and some of its storage slots against a state root (the
/// shape of `eth_getProof`). Each proof lists the trie nodes from the root down to the key's
/// leaf, or to where the key is shown absent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountProof {
    /// The account.
    pub address: Address,
    /// The account's leaf, or `None` if it does not exist.
    pub account: Option<TrieAccount>,
    /// Nodes of the account trie on the path to `keccak(address)`.
    pub account_proof: Vec<Bytes>,
    /// Per requested slot: its value (zero when unset) and the storage-trie nodes on its path.
    pub storage_proofs: Vec<StorageProof>,
}

/// The proof of one storage slot, against its account's storage root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageProof {
    /// The slot.
    pub slot: U256,
    /// Its value (zero when unset).
    pub value: U256,
    /// Nodes of the storage trie on the path to `keccak(slot)`.
    pub proof: Vec<Bytes>,
}

impl State {
    /// Proofs of `address` and of `slots` in its storage, against [`State::state_root`].
    pub fn proof(&self, address: Address, slots: &[U256]) -> AccountProof {
        let account = self.accounts.get(&address);
        let leaves: Vec<(B256, Vec<u8>)> = self
            .accounts
            .iter()
            .map(|(a, acc)| (keccak256(a), alloy_rlp::encode(acc.trie_account())))
            .collect();
        let account_proof = trie_proof(leaves, keccak256(address));
        let storage = account
            .map(|a| storage_leaves(&a.storage))
            .unwrap_or_default();
        let storage_proofs = slots
            .iter()
            .map(|slot| StorageProof {
                slot: *slot,
                value: self.storage(&address, slot),
                proof: trie_proof(storage.clone(), keccak256(slot.to_be_bytes::<32>())),
            })
            .collect();
        AccountProof {
            address,
            account: account.map(Account::trie_account),
            account_proof,
            storage_proofs,
        }
    }
}

impl AccountProof {
    /// Checks every proof: the account against `state_root`, each slot against the account's
    /// storage root. Returns `false` if any does not prove its value.
    pub fn verify(&self, state_root: B256) -> bool {
        let leaf = self.account.map(alloy_rlp::encode);
        let key = Nibbles::unpack(keccak256(self.address));
        if alloy_trie::proof::verify_proof(state_root, key, leaf, &self.account_proof).is_err() {
            return false;
        }
        let storage_root = self.account.map_or(EMPTY_ROOT_HASH, |a| a.storage_root);
        self.storage_proofs.iter().all(|p| {
            let key = Nibbles::unpack(keccak256(p.slot.to_be_bytes::<32>()));
            let value = (!p.value.is_zero()).then(|| alloy_rlp::encode(p.value));
            alloy_trie::proof::verify_proof(storage_root, key, value, &p.proof).is_ok()
        })
    }
}

/// The nodes on the path to `target` in the secure trie with these leaves.
fn trie_proof(mut leaves: Vec<(B256, Vec<u8>)>, target: B256) -> Vec<Bytes> {
    leaves.sort_unstable_by_key(|l| l.0);
    let target = Nibbles::unpack(target);
    let retainer = ProofRetainer::new(alloc::vec![target]);
    let mut builder = HashBuilder::default().with_proof_retainer(retainer);
    for (key, value) in &leaves {
        builder.add_leaf(Nibbles::unpack(key), value);
    }
    builder.root();
    builder
        .take_proof_nodes()
        .matching_nodes_sorted(&target)
        .into_iter()
        .map(|(_, node)| node)
        .collect()
}

/// The root of a storage trie holding these slots (zero values are skipped).
pub fn storage_root(storage: &BTreeMap<U256, U256>) -> B256 {
    trie_root(storage_leaves(storage))
}

fn storage_leaves(storage: &BTreeMap<U256, U256>) -> Vec<(B256, Vec<u8>)> {
    storage
        .iter()
        .filter(|(_, v)| !v.is_zero())
        .map(|(slot, value)| {
            (
                keccak256(slot.to_be_bytes::<32>()),
                alloy_rlp::encode(value),
            )
        })
        .collect()
}

/// An account's leaf in the secure state trie: (keccak(address), rlp(account)).
pub(crate) fn account_leaf(address: &Address, account: &Account) -> (B256, Vec<u8>) {
    (
        keccak256(address),
        alloy_rlp::encode(account.trie_account()),
    )
}

/// The root of a secure trie with these (hashed key, value) leaves, in any order.
pub(crate) fn trie_root(mut leaves: Vec<(B256, Vec<u8>)>) -> B256 {
    if leaves.is_empty() {
        return EMPTY_ROOT_HASH;
    }
    leaves.sort_unstable_by_key(|a| a.0);
    let mut builder = HashBuilder::default();
    for (key, value) in &leaves {
        builder.add_leaf(Nibbles::unpack(key), value);
    }
    builder.root()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proofs_of_present_and_absent_accounts_and_slots_verify() {
        let mut state = State::new();
        for i in 1..=40u8 {
            let slots = (0..u64::from(i % 5)).map(|s| (U256::from(s), U256::from(s + 100)));
            state.insert_account(
                Address::with_last_byte(i),
                u64::from(i),
                U256::from(i),
                Bytes::new(),
                slots,
            );
        }
        let root = state.state_root();
        let slots = [U256::from(0), U256::from(3), U256::from(77)];
        for i in [3u8, 4, 40, 200] {
            let proof = state.proof(Address::with_last_byte(i), &slots);
            assert_eq!(proof.account.is_some(), i <= 40);
            assert!(proof.verify(root), "account {i}");
            let mut lie = proof.clone();
            lie.storage_proofs[0].value += U256::from(1);
            assert!(!lie.verify(root), "account {i}, lying slot");
            let mut lie = proof;
            lie.account = Some(TrieAccount::default());
            assert!(!lie.verify(root), "account {i}, lying account");
        }
        assert!(
            State::new()
                .proof(Address::ZERO, &[])
                .verify(EMPTY_ROOT_HASH)
        );
    }

    #[test]
    fn empty_state_has_the_empty_root() {
        assert_eq!(State::new().state_root(), EMPTY_ROOT_HASH);
    }

    #[test]
    fn one_funded_account_root_is_stable_and_zero_slots_do_not_count() {
        let mut a = State::new();
        a.insert_account(Address::repeat_byte(1), 0, U256::from(10), Bytes::new(), []);
        let mut b = a.clone();
        b.insert_account(
            Address::repeat_byte(1),
            0,
            U256::from(10),
            Bytes::new(),
            [(U256::from(3), U256::ZERO)],
        );
        assert_eq!(a.state_root(), b.state_root());
        assert_ne!(a.state_root(), EMPTY_ROOT_HASH);
    }
}
