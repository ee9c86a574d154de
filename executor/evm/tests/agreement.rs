//! Native execution and witness verification agree on random blocks of ETH transfers,
//! ERC-20 transfers, contract deployments, storage writes (including deletions) and
//! reverting calls; tampered witnesses and bad transactions are refused with typed errors.

use alloy_consensus::{SignableTransaction, TxEip1559, TxEip2930, TxLegacy};
use alloy_primitives::{Address, B256, Bytes, Signature, TxKind, U256, keccak256};
use k256::ecdsa::SigningKey;
use zkbox_evm::{
    Block, BlockEnv, BlockHashes, BlockOutput, Error, OpenBlock, SpecId, State, StateTrie,
    TxEnvelope, Witness, decode_transaction, execute_block, execute_block_unapplied_with_senders,
    execute_block_with_witness, verify_and_execute,
};

const CHAIN_ID: u64 = 7777;
const BASE_FEE: u64 = 7;
const ERC20_CREATION: &str = include_str!("../../../tests/fixtures/erc20/Erc20.bin");
/// `SSTORE(calldata[32..64], calldata[0..32])`.
const STORE: &[u8] = &[0x60, 0x00, 0x35, 0x60, 0x20, 0x35, 0x55, 0x00];
/// `REVERT(0, 0)`.
const REVERTER: &[u8] = &[0x60, 0x00, 0x60, 0x00, 0xfd];
const STORE_ADDRESS: Address = Address::repeat_byte(0x51);
const REVERTER_ADDRESS: Address = Address::repeat_byte(0x52);
/// A distinctive pre-state value for tamper tests to find in the witness.
const MARKER: u64 = 0x1234_5678_9abc;

/// A tiny deterministic PRNG (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

struct Chain {
    state: State,
    /// The state's tries, kept across blocks as a sequencer keeps them.
    tries: StateTrie,
    keys: Vec<SigningKey>,
    addresses: Vec<Address>,
    nonces: Vec<u64>,
    number: u64,
    parent_hash: B256,
    token: Option<Address>,
    rng: Rng,
}

fn key(i: u8) -> SigningKey {
    SigningKey::from_slice(&[i + 1; 32]).unwrap()
}

fn sign<T: SignableTransaction<Signature>>(tx: T, key: &SigningKey) -> TxEnvelope
where
    TxEnvelope: From<alloy_consensus::Signed<T>>,
{
    let hash = tx.signature_hash();
    let (sig, recid) = key.sign_prehash_recoverable(hash.as_slice()).unwrap();
    let signature = Signature::from_signature_and_parity(sig, recid.is_y_odd());
    TxEnvelope::from(tx.into_signed(signature))
}

/// The recovered sender of each of the block's transactions.
fn senders_of(block: &Block) -> Vec<Address> {
    block
        .recover_senders()
        .unwrap()
        .into_iter()
        .map(|r| r.sender)
        .collect()
}

fn word(x: U256) -> [u8; 32] {
    x.to_be_bytes::<32>()
}

fn erc20_balance_slot(owner: Address) -> U256 {
    let mut preimage = [0u8; 64];
    preimage[12..32].copy_from_slice(owner.as_slice());
    preimage[63] = 1;
    U256::from_be_bytes(keccak256(preimage).0)
}

impl Chain {
    fn new(seed: u64) -> Self {
        let keys: Vec<SigningKey> = (0..8).map(key).collect();
        let addresses: Vec<Address> = keys
            .iter()
            .map(|k| Address::from_public_key(k.verifying_key()))
            .collect();
        let mut state = State::new();
        for a in &addresses {
            state.insert_account(*a, 0, U256::from(10u128.pow(21)), Bytes::new(), []);
        }
        let slots = (0..48u64).map(|i| (U256::from(i), U256::from(MARKER + i)));
        state.insert_account(
            STORE_ADDRESS,
            1,
            U256::ZERO,
            Bytes::from_static(STORE),
            slots,
        );
        state.insert_account(
            REVERTER_ADDRESS,
            1,
            U256::ZERO,
            Bytes::from_static(REVERTER),
            [],
        );
        Self {
            tries: StateTrie::from_state(&state),
            state,
            keys,
            nonces: vec![0; addresses.len()],
            addresses,
            number: 1,
            parent_hash: B256::repeat_byte(0xaa),
            token: None,
            rng: Rng(seed | 1),
        }
    }

    fn env(&self) -> BlockEnv {
        BlockEnv {
            chain_id: CHAIN_ID,
            spec: SpecId::PRAGUE as u8,
            parent_hash: self.parent_hash,
            number: self.number,
            timestamp: 1_700_000_000 + self.number * 2,
            gas_limit: 30_000_000,
            base_fee: BASE_FEE,
            beneficiary: Address::repeat_byte(0xfe),
            prev_randao: B256::repeat_byte(0x11),
            excess_blob_gas: 0,
        }
    }

    /// A signed transaction of a random type from account `from`.
    fn tx(
        &mut self,
        from: usize,
        to: TxKind,
        value: U256,
        input: Vec<u8>,
        gas_limit: u64,
    ) -> TxEnvelope {
        let nonce = self.nonces[from];
        self.nonces[from] += 1;
        let input = Bytes::from(input);
        let key = &self.keys[from];
        match self.rng.below(3) {
            0 => sign(
                TxLegacy {
                    chain_id: Some(CHAIN_ID),
                    nonce,
                    gas_price: u128::from(BASE_FEE) + 1,
                    gas_limit,
                    to,
                    value,
                    input,
                },
                key,
            ),
            1 => sign(
                TxEip2930 {
                    chain_id: CHAIN_ID,
                    nonce,
                    gas_price: u128::from(BASE_FEE) + 2,
                    gas_limit,
                    to,
                    value,
                    access_list: Default::default(),
                    input,
                },
                key,
            ),
            _ => sign(
                TxEip1559 {
                    chain_id: CHAIN_ID,
                    nonce,
                    gas_limit,
                    max_fee_per_gas: u128::from(BASE_FEE) * 3,
                    max_priority_fee_per_gas: 2,
                    to,
                    value,
                    access_list: Default::default(),
                    input,
                },
                key,
            ),
        }
    }

    fn deploy_token(&mut self) -> TxEnvelope {
        let mut code = alloy_primitives::hex::decode(ERC20_CREATION.trim()).unwrap();
        code.extend_from_slice(&word(U256::from(1_000_000u64)));
        self.token = Some(self.addresses[0].create(self.nonces[0]));
        self.tx(0, TxKind::Create, U256::ZERO, code, 2_000_000)
    }

    fn random_tx(&mut self) -> TxEnvelope {
        let from = self.rng.below(self.keys.len() as u64) as usize;
        match self.rng.below(6) {
            0 => {
                let to = if self.rng.below(3) == 0 {
                    Address::from_word(B256::from(U256::from(self.rng.next())))
                } else {
                    self.addresses[self.rng.below(8) as usize]
                };
                let value = U256::from(self.rng.below(1_000_000));
                self.tx(from, TxKind::Call(to), value, vec![], 21_000)
            }
            1 | 2 if self.token.is_some() => {
                // ERC-20 transfer; the deployer holds the supply, others may overdraw (revert).
                let to = self.addresses[self.rng.below(8) as usize];
                let amount = U256::from(self.rng.below(if from == 0 { 50_000 } else { 2_000 }));
                let mut input = vec![0xa9, 0x05, 0x9c, 0xbb];
                input.extend_from_slice(&[0u8; 12]);
                input.extend_from_slice(to.as_slice());
                input.extend_from_slice(&word(amount));
                let token = self.token.unwrap();
                self.tx(from, TxKind::Call(token), U256::ZERO, input, 120_000)
            }
            3 => {
                // Deploy a copy of STORE: init code copies the runtime and returns it.
                let mut init = vec![0x60, STORE.len() as u8, 0x60, 0x0c, 0x60, 0x00, 0x39];
                init.extend_from_slice(&[0x60, STORE.len() as u8, 0x60, 0x00, 0xf3]);
                init.extend_from_slice(STORE);
                self.tx(from, TxKind::Create, U256::ZERO, init, 200_000)
            }
            4 => self.tx(
                from,
                TxKind::Call(REVERTER_ADDRESS),
                U256::from(5),
                vec![],
                60_000,
            ),
            _ => {
                // Write or delete (value 0) one of the STORE contract's slots.
                let slot = U256::from(self.rng.below(64));
                let value = if self.rng.below(2) == 0 {
                    U256::ZERO
                } else {
                    U256::from(self.rng.next())
                };
                let mut input = word(value).to_vec();
                input.extend_from_slice(&word(slot));
                self.tx(from, TxKind::Call(STORE_ADDRESS), U256::ZERO, input, 60_000)
            }
        }
    }

    /// Executes a block both ways, checks they agree, and advances the chain.
    fn run_block(&mut self, transactions: Vec<TxEnvelope>) -> (BlockOutput, Witness) {
        let block = Block {
            env: self.env(),
            transactions,
        };
        let hashes = BlockHashes::new();
        let mut native_state = self.state.clone();
        // The sequencer's path: senders recovered earlier, not again.
        let senders: Vec<Address> = block
            .recover_senders()
            .unwrap()
            .into_iter()
            .map(|r| r.sender)
            .collect();
        let mut recovered_state = self.state.clone();
        let pre_root = recovered_state.state_root();
        let recovered =
            execute_block_unapplied_with_senders(&recovered_state, &block, &senders, &hashes)
                .unwrap()
                .apply(&mut recovered_state, &block, pre_root);
        let native = execute_block(&mut native_state, &block, &hashes).unwrap();
        assert_eq!(recovered, native);
        assert_eq!(recovered_state, native_state);
        // The sequencer's sealing path: the root computed over the unchanged state and the
        // block's changes, which are applied afterwards.
        let mut sealed_state = self.state.clone();
        let (sealed, changes) =
            execute_block_unapplied_with_senders(&sealed_state, &block, &senders, &hashes)
                .unwrap()
                .seal(&sealed_state, &block, pre_root);
        assert_eq!(sealed_state, self.state, "sealing changes nothing");
        changes.apply(&mut sealed_state);
        assert_eq!(sealed, native);
        assert_eq!(sealed_state, native_state);
        // ... with the block executed a transaction at a time, as the sequencer's open
        // block executes them as they arrive.
        let mut open = OpenBlock::new(&self.state, block.env.clone(), &hashes);
        let mut pending = block.transactions.iter().zip(senders.iter().copied());
        let first_round = self.rng.below(block.transactions.len() as u64 + 1) as usize;
        open.push_all(pending.by_ref().take(first_round)).unwrap();
        open.push_all(pending).unwrap();
        assert_eq!(open.transaction_count(), block.transactions.len());
        let pushed_gas = open.gas_used();
        let (pushed, _) = open.finish().seal(&self.state, &block, pre_root);
        assert_eq!(pushed, native);
        assert_eq!(pushed_gas, native.gas_used);
        // ... with the root from the tries kept from block to block, updated in place.
        let (kept, _) =
            execute_block_unapplied_with_senders(&self.state, &block, &senders, &hashes)
                .unwrap()
                .seal_with(&self.state, &mut self.tries, &block, pre_root);
        assert_eq!(kept, native);
        assert_eq!(self.tries, StateTrie::from_state(&native_state));
        let (output, witness) =
            execute_block_with_witness(&mut self.state, &block, &hashes).unwrap();
        assert_eq!(output, native);
        assert_eq!(self.state, native_state);
        assert_eq!(native.post_state_root, self.state.state_root());
        let decoded = Witness::decode(&witness.encode()).unwrap();
        assert_eq!(decoded, witness);
        assert_eq!(verify_and_execute(&decoded).unwrap(), native);
        self.parent_hash = native.block_hash;
        self.number += 1;
        (native, witness)
    }
}

#[test]
fn random_blocks_agree_natively_and_through_witnesses() {
    let mut chain = Chain::new(0x5eed);
    let deploy = chain.deploy_token();
    let first = (0..5).map(|_| chain.random_tx()).collect::<Vec<_>>();
    let (out, _) = chain.run_block([vec![deploy], first].concat());
    assert!(out.receipts[0].status(), "ERC-20 deployment succeeds");
    let token = chain.token.unwrap();
    assert!(chain.state.account(&token).unwrap().code_hash != alloy_primitives::KECCAK256_EMPTY);

    let (mut reverted, mut succeeded) = (0, 0);
    for _ in 0..8 {
        let count = 5 + chain.rng.below(20) as usize;
        let txs = (0..count).map(|_| chain.random_tx()).collect();
        let (out, witness) = chain.run_block(txs);
        assert_eq!(out.receipts.len(), count);
        assert!(out.gas_used > 0);
        assert!(witness.encode().starts_with(b"ZKBW\x00\x01"));
        for r in &out.receipts {
            if r.status() {
                succeeded += 1
            } else {
                reverted += 1
            }
        }
    }
    assert!(
        reverted > 0 && succeeded > 0,
        "{reverted} reverted, {succeeded} succeeded"
    );
    let supply: U256 = chain
        .addresses
        .iter()
        .map(|a| chain.state.storage(&token, &erc20_balance_slot(*a)))
        .sum();
    assert_eq!(
        supply,
        U256::from(1_000_000u64),
        "ERC-20 balances are conserved"
    );
    assert!(
        chain
            .state
            .storage(&token, &erc20_balance_slot(chain.addresses[0]))
            < U256::from(1_000_000u64),
        "tokens moved"
    );
}

/// `STORE`'s calldata for writing `value` to `slot`.
fn store_input(value: u64, slot: u64) -> Vec<u8> {
    let mut input = word(U256::from(value)).to_vec();
    input.extend_from_slice(&word(U256::from(slot)));
    input
}

/// Transactions whose later ones see what the earlier ones did to the same accounts and
/// slots: a contract paid before it is created, created, then written, overwritten and
/// cleared; a pre-state slot cleared and set again; a paid address where a contract is
/// created and destroyed in one transaction, then called and paid again; an empty account
/// touched (EIP-161), funded and touched again. All of them succeed.
fn dependent_txs(chain: &mut Chain) -> Vec<TxEnvelope> {
    let mut txs = Vec::new();
    let created = chain.addresses[1].create(chain.nonces[1]);
    txs.push(chain.tx(0, TxKind::Call(created), U256::from(50), vec![], 21_000));
    let mut init = vec![0x60, STORE.len() as u8, 0x60, 0x0c, 0x60, 0x00, 0x39];
    init.extend_from_slice(&[0x60, STORE.len() as u8, 0x60, 0x00, 0xf3]);
    init.extend_from_slice(STORE);
    txs.push(chain.tx(1, TxKind::Create, U256::ZERO, init, 200_000));
    for value in [7, 9, 0, 3] {
        let input = store_input(value, 5);
        txs.push(chain.tx(2, TxKind::Call(created), U256::ZERO, input, 60_000));
    }
    for value in [0, 1, 1] {
        let input = store_input(value, 3);
        txs.push(chain.tx(3, TxKind::Call(STORE_ADDRESS), U256::ZERO, input, 60_000));
    }
    // Init code `SELFDESTRUCT(addresses[5])`, run where a payment arrived first.
    let doomed = chain.addresses[4].create(chain.nonces[4]);
    txs.push(chain.tx(5, TxKind::Call(doomed), U256::from(40), vec![], 21_000));
    let mut init = vec![0x73];
    init.extend_from_slice(chain.addresses[5].as_slice());
    init.push(0xff);
    txs.push(chain.tx(4, TxKind::Create, U256::from(1_000), init, 100_000));
    let input = store_input(1, 1);
    txs.push(chain.tx(5, TxKind::Call(doomed), U256::ZERO, input, 60_000));
    txs.push(chain.tx(5, TxKind::Call(doomed), U256::from(3), vec![], 60_000));
    let fresh = Address::repeat_byte(0x77);
    txs.push(chain.tx(6, TxKind::Call(fresh), U256::ZERO, vec![], 21_000));
    txs.push(chain.tx(6, TxKind::Call(fresh), U256::from(5), vec![], 21_000));
    txs.push(chain.tx(7, TxKind::Call(fresh), U256::ZERO, vec![], 21_000));
    txs
}

/// A block gives what its transactions give executed one block each: what execution keeps
/// for a whole block (accounts and slots read or written, analysed code, the hashes behind
/// log blooms) never changes what a later transaction sees of an earlier one.
#[test]
fn a_block_executes_as_its_transactions_one_by_one() {
    let mut chain = Chain::new(0xb10c);
    let deploy = chain.deploy_token();
    let first = (0..5).map(|_| chain.random_tx()).collect::<Vec<_>>();
    chain.run_block([vec![deploy], first].concat());
    let mut blocks = vec![dependent_txs(&mut chain)];
    for _ in 0..4 {
        let count = 20 + chain.rng.below(30) as usize;
        blocks.push((0..count).map(|_| chain.random_tx()).collect());
    }
    for (i, transactions) in blocks.into_iter().enumerate() {
        let env = chain.env();
        let mut one_by_one = chain.state.clone();
        let singles: Vec<_> = transactions
            .iter()
            .map(|tx| {
                let block = Block {
                    env: env.clone(),
                    transactions: vec![tx.clone()],
                };
                let out = execute_block(&mut one_by_one, &block, &BlockHashes::new()).unwrap();
                out.receipts[0].clone()
            })
            .collect();
        let (whole, _) = chain.run_block(transactions);
        assert_eq!(chain.state, one_by_one, "block {i}: the states differ");
        let mut before = 0;
        for (n, (receipt, single)) in whole.receipts.iter().zip(&singles).enumerate() {
            assert_eq!(receipt.status(), single.status(), "block {i}, tx {n}");
            assert!(i > 0 || receipt.status(), "dependent tx {n} failed");
            assert_eq!(receipt.logs(), single.logs(), "block {i}, tx {n}");
            assert_eq!(
                receipt.logs_bloom(),
                single.logs_bloom(),
                "block {i}, tx {n}"
            );
            let slow = receipt.as_receipt().unwrap().bloom_slow();
            assert_eq!(*receipt.logs_bloom(), slow, "block {i}, tx {n}");
            let gas = receipt.cumulative_gas_used() - before;
            assert_eq!(gas, single.cumulative_gas_used(), "block {i}, tx {n}");
            before = receipt.cumulative_gas_used();
        }
    }
}

/// A block over the STORE contract, whose witness tamper tests edit.
fn tamper_fixture() -> (Chain, Witness, BlockOutput) {
    let mut chain = Chain::new(42);
    let mut txs = Vec::new();
    for i in 0..6u64 {
        // Read-modify slots (one deleted) and move ETH, so the witness has account and
        // storage proofs and a branch collapse.
        let mut input = word(if i == 0 { U256::ZERO } else { U256::from(i) }).to_vec();
        input.extend_from_slice(&word(U256::from(i * 7)));
        txs.push(chain.tx(
            i as usize,
            TxKind::Call(STORE_ADDRESS),
            U256::ZERO,
            input,
            60_000,
        ));
    }
    txs.push(chain.tx(
        7,
        TxKind::Call(chain.addresses[6]),
        U256::from(99),
        vec![],
        21_000,
    ));
    let (out, witness) = chain.run_block(txs);
    (chain, witness, out)
}

#[test]
fn every_witness_node_and_code_is_needed_and_checked() {
    let (_, witness, out) = tamper_fixture();
    assert_eq!(verify_and_execute(&witness).unwrap(), out);
    assert!(witness.nodes.len() > 5);
    for i in 0..witness.nodes.len() {
        let mut omitted = witness.clone();
        omitted.nodes.remove(i);
        assert!(
            matches!(verify_and_execute(&omitted), Err(Error::Trie(_))),
            "node {i} omitted"
        );

        let mut forged = witness.clone();
        let mut node = forged.nodes[i].to_vec();
        let last = node.len() - 1;
        node[last] ^= 1;
        forged.nodes[i] = node.into();
        assert!(verify_and_execute(&forged).is_err(), "node {i} forged");
    }
    for i in 0..witness.codes.len() {
        let mut omitted = witness.clone();
        omitted.codes.remove(i);
        assert!(matches!(
            verify_and_execute(&omitted),
            Err(Error::MissingCode(_))
        ));
    }
    let mut other_root = witness.clone();
    other_root.pre_state_root = B256::repeat_byte(3);
    assert!(matches!(
        verify_and_execute(&other_root),
        Err(Error::Trie(_))
    ));
}

/// Replaces `from` by `to` (same length) in the first witness node that holds it.
fn patch_nodes(witness: &Witness, from: &[u8], to: &[u8]) -> Witness {
    assert_eq!(from.len(), to.len());
    let mut patched = witness.clone();
    let mut hits = 0;
    for node in &mut patched.nodes {
        if let Some(at) = node.windows(from.len()).position(|w| w == from) {
            let mut bytes = node.to_vec();
            bytes[at..at + to.len()].copy_from_slice(to);
            *node = bytes.into();
            hits += 1;
            break;
        }
    }
    assert_eq!(hits, 1, "the value sits in a node");
    patched
}

#[test]
fn a_witness_lying_about_a_balance_or_a_slot_is_refused() {
    let (chain, witness, _) = tamper_fixture();
    let pre = Chain::new(42).state;
    // The sender's balance, as the account leaf encodes it, bumped by one wei.
    let sender = chain.addresses[7];
    let account = pre.account(&sender).unwrap();
    let honest = alloy_rlp::encode(account.trie_account());
    let mut richer = account.clone();
    richer.balance += U256::from(1);
    let lying = alloy_rlp::encode(richer.trie_account());
    let tampered = patch_nodes(&witness, &honest, &lying);
    assert!(matches!(verify_and_execute(&tampered), Err(Error::Trie(_))));

    // A storage slot the block rewrites (slot 7 holds MARKER + 7), claimed to hold another value.
    let honest = alloy_rlp::encode(U256::from(MARKER + 7));
    let lying = alloy_rlp::encode(U256::from(MARKER + 8));
    let tampered = patch_nodes(&witness, &honest, &lying);
    assert!(matches!(verify_and_execute(&tampered), Err(Error::Trie(_))));
}

#[test]
fn bad_transactions_are_typed_errors_and_leave_the_state_alone() {
    let mut chain = Chain::new(9);
    let before = chain.state.clone();
    let env = chain.env();

    let wrong_chain = sign(
        TxEip1559 {
            chain_id: CHAIN_ID + 1,
            gas_limit: 21_000,
            max_fee_per_gas: 100,
            to: TxKind::Call(Address::ZERO),
            ..Default::default()
        },
        &chain.keys[0],
    );
    let block = Block {
        env: env.clone(),
        transactions: vec![wrong_chain],
    };
    let err = execute_block(&mut chain.state, &block, &BlockHashes::new()).unwrap_err();
    assert!(matches!(err, Error::WrongChainId { index: 0, found, .. } if found == CHAIN_ID + 1));

    // A high-s signature (EIP-2) recovers to no sender.
    let tx = TxLegacy {
        chain_id: Some(CHAIN_ID),
        gas_limit: 21_000,
        gas_price: 10,
        to: TxKind::Call(Address::ZERO),
        ..Default::default()
    };
    let n_minus_one = U256::from_str_radix(
        "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364140",
        16,
    )
    .unwrap();
    let bad_sig =
        TxEnvelope::from(tx.into_signed(Signature::new(U256::from(1), n_minus_one, false)));
    let block = Block {
        env: env.clone(),
        transactions: vec![bad_sig],
    };
    let err = execute_block(&mut chain.state, &block, &BlockHashes::new()).unwrap_err();
    assert_eq!(err, Error::InvalidSignature { index: 0 });

    // Nonce too high: revm refuses the transaction.
    chain.nonces[1] = 5;
    let tx = chain.tx(1, TxKind::Call(Address::ZERO), U256::ZERO, vec![], 21_000);
    let block = Block {
        env: env.clone(),
        transactions: vec![tx],
    };
    let err = execute_block(&mut chain.state, &block, &BlockHashes::new()).unwrap_err();
    assert!(
        matches!(err, Error::InvalidTransaction { index: 0, .. }),
        "{err}"
    );

    // More gas than the block has.
    chain.nonces[1] = 0;
    // Gas used so far (21 000) plus the next transaction's limit must fit the block's 30M.
    let txs = [21_000, 29_990_000]
        .map(|gas| chain.tx(1, TxKind::Call(Address::ZERO), U256::ZERO, vec![], gas))
        .to_vec();
    let block = Block {
        env,
        transactions: txs,
    };
    let err = execute_block(&mut chain.state, &block, &BlockHashes::new()).unwrap_err();
    assert_eq!(err, Error::BlockGasLimitExceeded { index: 1 });

    assert_eq!(chain.state, before);
}

#[test]
fn unknown_types_and_malformed_bytes_do_not_decode() {
    assert_eq!(
        decode_transaction(&[0x03, 0xc0]),
        Err(Error::UnsupportedTxType(3))
    );
    assert_eq!(
        decode_transaction(&[0x04, 0xc0]),
        Err(Error::UnsupportedTxType(4))
    );
    assert_eq!(
        decode_transaction(&[0x05, 0xc0]),
        Err(Error::UnsupportedTxType(5))
    );
    assert!(decode_transaction(&[]).is_err());
    let mut chain = Chain::new(1);
    let good = alloy_eips::eip2718::Encodable2718::encoded_2718(&chain.tx(
        0,
        TxKind::Call(Address::ZERO),
        U256::ZERO,
        vec![1, 2, 3],
        30_000,
    ));
    assert!(decode_transaction(&good).is_ok());
    for len in 0..good.len() {
        assert!(
            decode_transaction(&good[..len]).is_err(),
            "prefix of {len} bytes"
        );
    }
    let mut long = good.clone();
    long.push(0);
    assert_eq!(decode_transaction(&long), Err(Error::TrailingBytes));
}

#[test]
fn malformed_witness_bytes_are_errors_never_panics() {
    let (_, witness, out) = tamper_fixture();
    let bytes = witness.encode();
    assert_eq!(Witness::decode(b"ZKBX\x00\x01"), Err(Error::BadMagic));
    assert_eq!(
        Witness::decode(b"ZKBW\x00\x02\xc0"),
        Err(Error::UnsupportedVersion(2))
    );
    for len in 0..bytes.len() {
        assert!(
            Witness::decode(&bytes[..len]).is_err(),
            "prefix of {len} bytes"
        );
    }
    let mut long = bytes.clone();
    long.push(0x80);
    assert_eq!(Witness::decode(&long), Err(Error::TrailingBytes));
    // Random single-byte corruptions: decoding and verification return, whatever they return,
    // and a corrupted witness never verifies to the honest block's output with another root.
    let mut rng = Rng(77);
    for _ in 0..400 {
        let mut corrupt = bytes.clone();
        let at = rng.below(corrupt.len() as u64) as usize;
        corrupt[at] ^= 1 + rng.below(255) as u8;
        if let Ok(w) = Witness::decode(&corrupt)
            && let Ok(o) = verify_and_execute(&w)
        {
            assert!(
                o.pre_state_root != out.pre_state_root
                    || o.block_hash != out.block_hash
                    || o == out
            );
        }
    }
}

#[test]
fn an_empty_block_keeps_the_root_and_needs_no_nodes() {
    let mut chain = Chain::new(3);
    let root = chain.state.state_root();
    let (out, witness) = chain.run_block(vec![]);
    assert_eq!(
        (out.pre_state_root, out.post_state_root, out.gas_used),
        (root, root, 0)
    );
    assert!(witness.nodes.is_empty() && witness.codes.is_empty());
    assert_eq!(out.commitment().len(), zkbox_evm::COMMITMENT_LEN);
    assert_eq!(&out.commitment()[32..64], root.as_slice());
}

#[test]
fn an_open_block_refuses_a_transaction_without_a_trace() {
    let mut chain = Chain::new(0x0b10c);
    let good: Vec<TxEnvelope> = (0..12).map(|_| chain.random_tx()).collect();
    let hashes = BlockHashes::new();
    let env = chain.env();
    let senders: Vec<Address> = senders_of(&Block {
        env: env.clone(),
        transactions: good.clone(),
    });
    // Refused in the middle of the block: a nonce from the future, a sender who cannot pay,
    // another chain's transaction, and one over what is left of the block's gas.
    let transfer = |chain_id: u64, nonce: u64, gas_limit: u64, value: u64, key: &SigningKey| {
        sign(
            TxEip1559 {
                chain_id,
                nonce,
                gas_limit,
                max_fee_per_gas: u128::from(BASE_FEE) * 3,
                to: TxKind::Call(Address::repeat_byte(9)),
                value: U256::from(value),
                ..Default::default()
            },
            key,
        )
    };
    let pauper = SigningKey::from_slice(&[0x77; 32]).unwrap();
    let future_nonce = transfer(CHAIN_ID, 1_000, 21_000, 0, &key(0));
    let unfunded = transfer(CHAIN_ID, 0, 21_000, 1, &pauper);
    let other_chain = transfer(CHAIN_ID + 1, 0, 21_000, 0, &key(1));
    let too_big = transfer(CHAIN_ID, 0, 30_000_000, 0, &key(2));
    let pauper_address = Address::from_public_key(pauper.verifying_key());
    let mut open = OpenBlock::new(&chain.state, env.clone(), &hashes);
    for (i, (tx, sender)) in good.iter().zip(&senders).enumerate() {
        if i == 6 {
            continue; // pushed in the round below
        }
        open.push(tx, *sender).unwrap();
        if i == 5 {
            let before = (open.transaction_count(), open.gas_used());
            let nonce_before = open.nonce(&chain.addresses[0]);
            for (bad, from) in [
                (&future_nonce, chain.addresses[0]),
                (&unfunded, pauper_address),
                (&other_chain, chain.addresses[1]),
                (&too_big, chain.addresses[2]),
            ] {
                let refused = open.push(bad, from).unwrap_err();
                assert!(
                    matches!(
                        refused,
                        Error::InvalidTransaction { index: 6, .. }
                            | Error::WrongChainId { index: 6, .. }
                            | Error::BlockGasLimitExceeded { index: 6 }
                    ),
                    "{refused:?}"
                );
                assert_eq!((open.transaction_count(), open.gas_used()), before);
            }
            assert_eq!(open.nonce(&chain.addresses[0]), nonce_before);
            assert_eq!(open.nonce(&pauper_address), 0);
            // In a round of several, the refused one's position comes back; those before it
            // stay executed.
            let (position, _) = open
                .push_all([(&good[6], senders[6]), (&unfunded, pauper_address)])
                .unwrap_err();
            assert_eq!(position, 1);
            assert_eq!(open.transaction_count(), 7);
            let (position, _) = open
                .push_all([(&other_chain, chain.addresses[1])])
                .unwrap_err();
            assert_eq!(position, 0);
        }
    }
    // The refusals left nothing behind: the block equals the good transactions executed
    // as one block.
    let block = Block {
        env,
        transactions: good,
    };
    let pre_root = chain.state.state_root();
    let (pushed, _) = open.finish().seal(&chain.state, &block, pre_root);
    let mut state = chain.state.clone();
    assert_eq!(pushed, execute_block(&mut state, &block, &hashes).unwrap());
}

#[test]
fn an_open_block_of_hundreds_of_transfers_equals_the_block() {
    use zkbox_evm::workload::{TransferKind, TransferWorkload};
    // Past 128 transactions the trie keys of the transactions and receipts roots change
    // length (and item 0 sorts after item 127): the open block's streamed roots must agree.
    let mut workload = TransferWorkload::new(40);
    let transactions = workload.transfers(TransferKind::Erc20, 300);
    let block = workload.block(transactions);
    let senders: Vec<Address> = senders_of(&block);
    let hashes = BlockHashes::new();
    let state = workload.state();
    let mut open = OpenBlock::new(state, block.env.clone(), &hashes);
    let pairs: Vec<(&TxEnvelope, Address)> = block
        .transactions
        .iter()
        .zip(senders.iter().copied())
        .collect();
    for round in pairs.chunks(37) {
        open.push_all(round.iter().copied()).unwrap();
    }
    let (pushed, _) = open.finish().seal(state, &block, state.state_root());
    let mut executed = state.clone();
    assert_eq!(
        pushed,
        execute_block(&mut executed, &block, &hashes).unwrap()
    );
}
