//! Seeded transfer workloads: a state of funded accounts holding an ERC-20 token, and blocks
//! of signed ETH or ERC-20 transfers between them, for benchmarks (`zkbox bench evm`) and
//! tests. Everything is deterministic: the same account count gives the same keys, state,
//! transactions and witnesses.
//!
//! The token is the fixture compiled from `tests/fixtures/erc20/Erc20.sol` (its runtime code,
//! placed in the genesis state rather than deployed), at [`TOKEN_ADDRESS`]; every account
//! starts with [`INITIAL_ETH`] wei and [`INITIAL_TOKENS`] tokens. Transfers go round-robin:
//! the i-th transfer of the workload is sent by account `i mod n` to account `i + 1 mod n`,
//! so every block touches accounts and slots that already exist, as transfers between
//! active users do.

use std::vec;
use std::vec::Vec;

use alloy_consensus::{SignableTransaction, TxEip1559};
use alloy_primitives::{Address, B256, Bytes, Signature, TxKind, U256, keccak256};
use k256::ecdsa::SigningKey;

use crate::{
    Block, BlockEnv, BlockHashes, BlockOutput, Error, SpecId, State, TxEnvelope, Witness,
    execute_block, execute_block_with_witness,
};

/// The chain id workload transactions are signed for (anvil's and hardhat's default).
pub const CHAIN_ID: u64 = 31_337;
/// The base fee of every workload block (wei per gas).
pub const BASE_FEE: u64 = 7;
/// Where the ERC-20 token lives.
pub const TOKEN_ADDRESS: Address = Address::new([0x70; 20]);
/// Each account's starting balance: 1,000 ETH.
pub const INITIAL_ETH: u128 = 1_000 * 10u128.pow(18);
/// Each account's starting token balance (10^24 base units).
pub const INITIAL_TOKENS: u128 = 10u128.pow(24);
/// Gas limit of an ETH transfer (exactly its cost).
pub const ETH_TRANSFER_GAS: u64 = 21_000;
/// Gas limit given to an ERC-20 transfer (it uses about 35,000-52,000).
pub const ERC20_TRANSFER_GAS: u64 = 100_000;
/// The token's runtime code (hex).
const ERC20_RUNTIME: &str = include_str!("../../../tests/fixtures/erc20/Erc20.bin-runtime");
/// The selector of `transfer(address,uint256)`.
const TRANSFER_SELECTOR: [u8; 4] = [0xa9, 0x05, 0x9c, 0xbb];
/// The token's storage slot of `totalSupply`; `balanceOf` is the mapping at slot 1.
const TOTAL_SUPPLY_SLOT: u64 = 0;
const BALANCES_SLOT: u64 = 1;

/// Which kind of transfer a block holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransferKind {
    /// A plain value transfer between two accounts (21,000 gas).
    Eth,
    /// `transfer(to, amount)` on the ERC-20 token (two storage writes and a log).
    Erc20,
}

impl TransferKind {
    /// `"eth"` or `"erc20"`.
    pub const fn name(self) -> &'static str {
        match self {
            TransferKind::Eth => "eth",
            TransferKind::Erc20 => "erc20",
        }
    }
}

/// A chain of funded accounts that produces blocks of signed transfers (see the module docs).
#[derive(Debug, Clone)]
pub struct TransferWorkload {
    state: State,
    keys: Vec<SigningKey>,
    addresses: Vec<Address>,
    nonces: Vec<u64>,
    next_sender: usize,
    number: u64,
    parent_hash: B256,
}

impl TransferWorkload {
    /// A genesis state of `accounts` funded accounts (at least 2) and the token.
    pub fn new(accounts: usize) -> Self {
        let accounts = accounts.max(2);
        let keys: Vec<SigningKey> = (0..accounts as u64).map(account_key).collect();
        let addresses: Vec<Address> = keys
            .iter()
            .map(|k| Address::from_public_key(k.verifying_key()))
            .collect();
        let mut state = State::new();
        for address in &addresses {
            state.insert_account(*address, 0, U256::from(INITIAL_ETH), Bytes::new(), []);
        }
        let runtime = alloy_primitives::hex::decode(ERC20_RUNTIME.trim())
            .expect("the committed ERC-20 runtime code is hex");
        let supply = U256::from(INITIAL_TOKENS) * U256::from(accounts);
        let storage = core::iter::once((U256::from(TOTAL_SUPPLY_SLOT), supply)).chain(
            addresses
                .iter()
                .map(|a| (token_balance_slot(*a), U256::from(INITIAL_TOKENS))),
        );
        state.insert_account(TOKEN_ADDRESS, 1, U256::ZERO, runtime.into(), storage);
        Self {
            nonces: vec![0; accounts],
            state,
            keys,
            addresses,
            next_sender: 0,
            number: 1,
            parent_hash: B256::repeat_byte(0x42),
        }
    }

    /// Adds `idle` accounts that hold ETH and the token but never send (addresses from
    /// keccak("zkbox idle account" ‖ index)): a larger state, as a long-running chain has,
    /// for measuring what grows with the state rather than with the block.
    pub fn with_idle_accounts(mut self, idle: usize) -> Self {
        let mut minted = U256::ZERO;
        let mut slots = Vec::with_capacity(idle);
        for index in 0..idle as u64 {
            let mut seed = b"zkbox idle account".to_vec();
            seed.extend_from_slice(&index.to_be_bytes());
            let address = Address::from_word(keccak256(&seed));
            self.state
                .insert_account(address, 0, U256::from(INITIAL_ETH), Bytes::new(), []);
            slots.push((token_balance_slot(address), U256::from(INITIAL_TOKENS)));
            minted += U256::from(INITIAL_TOKENS);
        }
        if let Some(token) = self.state.account_mut(&TOKEN_ADDRESS) {
            token.storage.extend(slots);
            *token
                .storage
                .entry(U256::from(TOTAL_SUPPLY_SLOT))
                .or_default() += minted;
        }
        self
    }

    /// The current state (genesis, then after each executed block).
    pub fn state(&self) -> &State {
        &self.state
    }

    /// The accounts' addresses, in sender order.
    pub fn addresses(&self) -> &[Address] {
        &self.addresses
    }

    /// The number of the next block.
    pub fn next_block_number(&self) -> u64 {
        self.number
    }

    /// The next `count` transfers of `kind`, signed (EIP-1559), continuing the round-robin
    /// and each sender's nonce sequence.
    pub fn transfers(&mut self, kind: TransferKind, count: usize) -> Vec<TxEnvelope> {
        (0..count).map(|_| self.transfer(kind)).collect()
    }

    fn transfer(&mut self, kind: TransferKind) -> TxEnvelope {
        let from = self.next_sender;
        let to = self.addresses[(from + 1) % self.addresses.len()];
        self.next_sender = (from + 1) % self.addresses.len();
        let nonce = self.nonces[from];
        self.nonces[from] += 1;
        let amount = U256::from(1 + nonce % 1_000);
        let (target, gas_limit, value, input) = match kind {
            TransferKind::Eth => (to, ETH_TRANSFER_GAS, amount, Bytes::new()),
            TransferKind::Erc20 => {
                let mut input = TRANSFER_SELECTOR.to_vec();
                input.extend_from_slice(B256::left_padding_from(to.as_slice()).as_slice());
                input.extend_from_slice(&amount.to_be_bytes::<32>());
                (TOKEN_ADDRESS, ERC20_TRANSFER_GAS, U256::ZERO, input.into())
            }
        };
        let tx = TxEip1559 {
            chain_id: CHAIN_ID,
            nonce,
            gas_limit,
            max_fee_per_gas: u128::from(BASE_FEE) * 2,
            max_priority_fee_per_gas: 1,
            to: TxKind::Call(target),
            value,
            input,
            ..Default::default()
        };
        let (signature, parity) = self.keys[from]
            .sign_prehash_recoverable(tx.signature_hash().as_slice())
            .expect("signing a 32-byte prehash with a valid key succeeds");
        let signature = Signature::from_signature_and_parity(signature, parity.is_y_odd());
        TxEnvelope::from(tx.into_signed(signature))
    }

    /// The next block holding `transactions` (Prague rules; its gas limit is at least
    /// 30 M and fits them all).
    pub fn block(&self, transactions: Vec<TxEnvelope>) -> Block {
        let gas: u64 = transactions
            .iter()
            .map(alloy_consensus::Transaction::gas_limit)
            .sum();
        Block {
            env: BlockEnv {
                chain_id: CHAIN_ID,
                spec: SpecId::PRAGUE as u8,
                parent_hash: self.parent_hash,
                number: self.number,
                timestamp: 1_800_000_000 + 2 * self.number,
                gas_limit: gas.max(30_000_000),
                base_fee: BASE_FEE,
                beneficiary: Address::repeat_byte(0xcb),
                prev_randao: B256::repeat_byte(0x07),
                excess_blob_gas: 0,
            },
            transactions,
        }
    }

    /// Executes `block` (from [`TransferWorkload::block`]) on the state and advances the
    /// chain.
    pub fn execute(&mut self, block: &Block) -> Result<BlockOutput, Error> {
        let output = execute_block(&mut self.state, block, &BlockHashes::new())?;
        self.advance(&output);
        Ok(output)
    }

    /// Executes `block` on the state with its witness ([`execute_block_with_witness`]) and
    /// advances the chain.
    pub fn execute_with_witness(&mut self, block: &Block) -> Result<(BlockOutput, Witness), Error> {
        let (output, witness) =
            execute_block_with_witness(&mut self.state, block, &BlockHashes::new())?;
        self.advance(&output);
        Ok((output, witness))
    }

    fn advance(&mut self, output: &BlockOutput) {
        self.parent_hash = output.block_hash;
        self.number += 1;
    }
}

/// The key of account `index`: keccak("zkbox workload account" ‖ index ‖ attempt), the
/// first attempt that is a valid secp256k1 scalar (practically always the first).
fn account_key(index: u64) -> SigningKey {
    (0u64..)
        .find_map(|attempt| {
            let mut seed = b"zkbox workload account".to_vec();
            seed.extend_from_slice(&index.to_be_bytes());
            seed.extend_from_slice(&attempt.to_be_bytes());
            SigningKey::from_slice(keccak256(&seed).as_slice()).ok()
        })
        .expect("some attempt gives a valid scalar")
}

/// The token's storage slot holding `owner`'s balance: keccak(owner ‖ 1), Solidity's layout.
pub fn token_balance_slot(owner: Address) -> U256 {
    let mut preimage = [0u8; 64];
    preimage[12..32].copy_from_slice(owner.as_slice());
    preimage[56..].copy_from_slice(&BALANCES_SLOT.to_be_bytes());
    U256::from_be_bytes(keccak256(preimage).0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify_and_execute;

    #[test]
    fn transfers_move_eth_and_tokens_and_witnesses_verify() {
        let mut workload = TransferWorkload::new(4);
        let [a, b] = [workload.addresses()[0], workload.addresses()[1]];
        let transactions = workload.transfers(TransferKind::Erc20, 5);
        let block = workload.block(transactions);
        let (output, witness) = workload.execute_with_witness(&block).unwrap();
        assert!(output.receipts.iter().all(|r| r.status()), "all succeed");
        assert_eq!(verify_and_execute(&witness).unwrap(), output);
        // Round-robin over a, b, c, d: a sends 1 (nonce 0) and 2 (nonce 1) to b, b sends 1 to
        // c, d sends 1 to a.
        let state = workload.state();
        let tokens = |owner| state.storage(&TOKEN_ADDRESS, &token_balance_slot(owner));
        assert_eq!(tokens(a), U256::from(INITIAL_TOKENS - 3 + 1));
        assert_eq!(tokens(b), U256::from(INITIAL_TOKENS + 3 - 1));

        let transactions = workload.transfers(TransferKind::Eth, 3);
        let block = workload.block(transactions);
        assert_eq!(block.env.number, 2);
        let output = workload.execute(&block).unwrap();
        assert_eq!(output.gas_used, 3 * ETH_TRANSFER_GAS);
        for address in workload.addresses() {
            assert_eq!(
                workload.state().account(address).unwrap().nonce,
                2,
                "8 txs, 4 senders"
            );
        }
    }

    #[test]
    fn the_same_size_gives_the_same_chain() {
        let mut one = TransferWorkload::new(3);
        let mut two = TransferWorkload::new(3);
        assert_eq!(one.state().state_root(), two.state().state_root());
        assert_eq!(
            one.transfers(TransferKind::Erc20, 2),
            two.transfers(TransferKind::Erc20, 2)
        );
        let addresses = TransferWorkload::new(50).addresses().to_vec();
        let distinct: std::collections::BTreeSet<_> = addresses.iter().collect();
        assert_eq!(distinct.len(), 50);
    }
}
