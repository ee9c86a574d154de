//! The EVM state-transition guest (`target/guests/evm-stf`, built by scripts/build-guests.sh)
//! run in zkbox's emulator agrees with native execution: for small seeded blocks (ETH
//! transfers, an ERC-20 deployment and transfers, a reverting call) its public output is the
//! native block output's commitment. Tampered witnesses and garbage input end the guest with a
//! non-zero exit code (not a panic) and a reason in its debug log.
//!
//! Cycles per block and per transaction are printed (`cargo test -- --nocapture`). The guest's
//! cycle markers split its cycles into the verifier's phases (`zkbox_evm::Phase`): every
//! phase appears, in order, and recovery scales with the number of transactions.

use alloy_consensus::{SignableTransaction, TxEip1559};
use alloy_primitives::{Address, B256, Bytes, Signature, TxKind, U256};
use k256::ecdsa::SigningKey;
use zkbox_e2e::workspace_root;
use zkbox_evm::Phase;
use zkbox_evm::workload::{TransferKind, TransferWorkload};
use zkbox_evm::{
    Block, BlockEnv, BlockHashes, BlockOutput, SpecId, State, TxEnvelope, Witness,
    execute_block_with_witness,
};
use zkbox_executor::markers::BEFORE_FIRST_MARKER;
use zkbox_executor::{Executor, Program, TagCycles, attribute_cycles, load_elf};

const CHAIN_ID: u64 = 31_337;
const BASE_FEE: u64 = 10;
/// Far above what a block of a few transactions needs (about 6 M cycles per transaction).
const MAX_CYCLES: u64 = 2_000_000_000;
const ERC20_CREATION: &str = include_str!("../fixtures/erc20/Erc20.bin");
/// The selector of `transfer(address,uint256)`.
const TRANSFER: [u8; 4] = [0xa9, 0x05, 0x9c, 0xbb];

/// What one guest run ended with.
struct GuestRun {
    exit: u32,
    output: Vec<u8>,
    log: String,
    cycles: u64,
    phases: Vec<TagCycles>,
}

fn run_guest(program: &Program, input: Vec<u8>) -> GuestRun {
    let mut exec = Executor::new(program, input);
    let exit = exec
        .run(MAX_CYCLES)
        .unwrap_or_else(|e| panic!("the guest fails in the emulator: {e}"));
    GuestRun {
        exit,
        output: exec.public_output().to_vec(),
        log: String::from_utf8_lossy(exec.debug_output()).into_owned(),
        cycles: exec.cycles(),
        phases: attribute_cycles(exec.cycle_markers(), exec.cycles()),
    }
}

fn guest() -> Program {
    let path = workspace_root().join("target/guests/evm-stf");
    let elf = std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (build the guests: scripts/build-guests.sh)",
            path.display()
        )
    });
    load_elf(&elf).expect("evm-stf is a valid guest ELF")
}

/// A chain of funded externally owned accounts, advanced one block at a time.
struct Chain {
    state: State,
    keys: Vec<SigningKey>,
    nonces: Vec<u64>,
    number: u64,
    parent_hash: B256,
    seed: u64,
}

impl Chain {
    fn new(seed: u64) -> Self {
        let keys: Vec<SigningKey> = (1..=4u8)
            .map(|i| SigningKey::from_slice(&[i; 32]).unwrap())
            .collect();
        let mut state = State::new();
        for key in &keys {
            let address = Address::from_public_key(key.verifying_key());
            state.insert_account(address, 0, U256::from(10u128.pow(20)), Bytes::new(), []);
        }
        Self {
            state,
            nonces: vec![0; keys.len()],
            keys,
            number: 1,
            parent_hash: B256::repeat_byte(0x42),
            seed: seed | 1,
        }
    }

    /// A seeded pseudo-random number (xorshift64).
    fn random(&mut self, below: u64) -> u64 {
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        self.seed % below
    }

    fn address(&self, account: usize) -> Address {
        Address::from_public_key(self.keys[account].verifying_key())
    }

    fn random_address(&mut self) -> Address {
        let account = self.random(self.keys.len() as u64) as usize;
        self.address(account)
    }

    /// A signed EIP-1559 transaction from `account`.
    fn tx(&mut self, account: usize, to: TxKind, value: u64, input: Vec<u8>) -> TxEnvelope {
        let tx = TxEip1559 {
            chain_id: CHAIN_ID,
            nonce: self.nonces[account],
            gas_limit: 1_000_000,
            max_fee_per_gas: u128::from(BASE_FEE) * 2,
            max_priority_fee_per_gas: 1,
            to,
            value: U256::from(value),
            input: input.into(),
            ..Default::default()
        };
        self.nonces[account] += 1;
        let (signature, recovery) = self.keys[account]
            .sign_prehash_recoverable(tx.signature_hash().as_slice())
            .unwrap();
        let signature = Signature::from_signature_and_parity(signature, recovery.is_y_odd());
        TxEnvelope::from(tx.into_signed(signature))
    }

    fn eth_transfer(&mut self) -> TxEnvelope {
        let from = self.random(4) as usize;
        let to = self.random_address();
        let value = 1 + self.random(1_000_000);
        self.tx(from, TxKind::Call(to), value, Vec::new())
    }

    /// Deploys the ERC-20 fixture from account 0 with a supply of 1,000,000; returns the
    /// transaction and the token's address.
    fn deploy_erc20(&mut self) -> (TxEnvelope, Address) {
        let mut code = alloy_primitives::hex::decode(ERC20_CREATION.trim()).unwrap();
        code.extend_from_slice(&U256::from(1_000_000u64).to_be_bytes::<32>());
        let token = self.address(0).create(self.nonces[0]);
        (self.tx(0, TxKind::Create, 0, code), token)
    }

    /// `token.transfer(to, amount)` from `account`; it reverts when the balance is short.
    fn erc20_transfer(&mut self, token: Address, account: usize, amount: u64) -> TxEnvelope {
        let to = self.random_address();
        let mut input = TRANSFER.to_vec();
        input.extend_from_slice(B256::left_padding_from(to.as_slice()).as_slice());
        input.extend_from_slice(&U256::from(amount).to_be_bytes::<32>());
        self.tx(account, TxKind::Call(token), 0, input)
    }

    /// Executes a block natively with its witness and advances the chain.
    fn block(&mut self, transactions: Vec<TxEnvelope>) -> (BlockOutput, Witness) {
        let block = Block {
            env: BlockEnv {
                chain_id: CHAIN_ID,
                spec: SpecId::PRAGUE as u8,
                parent_hash: self.parent_hash,
                number: self.number,
                timestamp: 1_800_000_000 + 12 * self.number,
                gas_limit: 30_000_000,
                base_fee: BASE_FEE,
                beneficiary: Address::repeat_byte(0xcb),
                prev_randao: B256::repeat_byte(0x07),
                excess_blob_gas: 0,
            },
            transactions,
        };
        let (output, witness) =
            execute_block_with_witness(&mut self.state, &block, &BlockHashes::new()).unwrap();
        self.parent_hash = output.block_hash;
        self.number += 1;
        (output, witness)
    }
}

/// Runs `witness` in the guest and checks it commits `native`'s commitment; returns cycles.
fn agrees(program: &Program, what: &str, native: &BlockOutput, witness: &Witness) -> u64 {
    let run = run_guest(program, witness.encode());
    assert_eq!(run.exit, 0, "{what}: guest exit code; log:\n{}", run.log);
    assert_eq!(run.output, native.commitment(), "{what}: public output");
    let txs = witness.transactions.len() as u64;
    eprintln!(
        "evm-stf: {what}: {txs} txs, {} bytes of witness, {} cycles, {} cycles per tx",
        witness.encode().len(),
        run.cycles,
        run.cycles / txs.max(1)
    );
    run.cycles
}

#[test]
fn the_guest_commits_what_native_execution_computes() {
    let program = guest();
    let mut chain = Chain::new(0x05ee_de2e);
    let (mut cycles, mut txs) = (0, 0);

    let transfers = (0..3).map(|_| chain.eth_transfer()).collect();
    let (native, witness) = chain.block(transfers);
    cycles += agrees(&program, "ETH transfers", &native, &witness);
    txs += 3;

    let (deploy, token) = chain.deploy_erc20();
    let amounts = [1 + chain.random(50_000), 1 + chain.random(50_000)];
    let first = chain.erc20_transfer(token, 0, amounts[0]);
    let second = chain.erc20_transfer(token, 0, amounts[1]);
    let (native, witness) = chain.block(vec![deploy, first, second]);
    assert!(native.receipts.iter().all(|r| r.status()), "ERC-20 block");
    cycles += agrees(&program, "ERC-20 deploy + 2 transfers", &native, &witness);
    txs += 3;

    // Account 3 holds no tokens: its transfer reverts; the ETH transfer beside it succeeds.
    let overdraft = chain.erc20_transfer(token, 3, 10);
    let transfer = chain.eth_transfer();
    let (native, witness) = chain.block(vec![overdraft, transfer]);
    assert!(!native.receipts[0].status(), "the overdraft reverts");
    assert!(native.receipts[1].status());
    cycles += agrees(&program, "reverting call + transfer", &native, &witness);
    txs += 2;

    eprintln!(
        "evm-stf: {txs} transactions in 3 blocks, {cycles} cycles, {} cycles per tx",
        cycles / txs
    );
}

#[test]
fn tampered_witnesses_and_garbage_input_exit_non_zero() {
    let program = guest();
    let mut chain = Chain::new(7);
    let transfers = (0..2).map(|_| chain.eth_transfer()).collect();
    let (_, witness) = chain.block(transfers);
    assert!(witness.nodes.len() > 1);

    let refused = |what: &str, input: Vec<u8>, code: u32, reason: &str| {
        let run = run_guest(&program, input);
        assert_eq!(run.exit, code, "{what}: exit code; log:\n{}", run.log);
        assert!(run.output.is_empty(), "{what}: nothing is committed");
        assert!(run.log.contains(reason), "{what}: log:\n{}", run.log);
        eprintln!(
            "evm-stf: {what}: exit {code} after {} cycles: {}",
            run.cycles,
            run.log.trim_end()
        );
    };

    let mut forged = witness.clone();
    let mut node = forged.nodes[0].to_vec();
    let last = node.len() - 1;
    node[last] ^= 1;
    forged.nodes[0] = node.into();
    refused(
        "a forged trie node",
        forged.encode(),
        2,
        "evm-stf: invalid block:",
    );

    let mut dropped = witness.clone();
    dropped.nodes.pop();
    refused(
        "a dropped trie node",
        dropped.encode(),
        2,
        "evm-stf: invalid block:",
    );

    refused(
        "garbage",
        b"not a witness at all".to_vec(),
        1,
        "evm-stf: malformed witness:",
    );
    let mut truncated = witness.encode();
    truncated.truncate(truncated.len() / 2);
    refused(
        "a truncated witness",
        truncated,
        1,
        "evm-stf: malformed witness:",
    );
    refused("empty input", Vec::new(), 1, "evm-stf: malformed witness:");
}

/// Runs a block of `count` ERC-20 transfers through the guest; returns its phases by tag.
fn erc20_phases(program: &Program, count: usize) -> GuestRun {
    let mut workload = TransferWorkload::new(8);
    let transactions = workload.transfers(TransferKind::Erc20, count);
    let block = workload.block(transactions);
    let (native, witness) = workload.execute_with_witness(&block).unwrap();
    let run = run_guest(program, witness.encode());
    assert_eq!(run.exit, 0, "log:\n{}", run.log);
    assert_eq!(run.output, native.commitment());
    assert!(
        !run.log.contains("cycle-marker"),
        "markers stay out of the log"
    );
    run
}

#[test]
fn cycle_markers_split_the_guest_into_the_verifier_phases() {
    let program = guest();
    let one = erc20_phases(&program, 1);
    let three = erc20_phases(&program, 3);
    for run in [&one, &three] {
        let tags: Vec<&str> = run.phases.iter().map(|t| t.tag.as_str()).collect();
        let mut expected = vec![BEFORE_FIRST_MARKER];
        expected.extend(Phase::ALL.map(Phase::name));
        expected.push("commit");
        assert_eq!(tags, expected, "every phase, in the order first entered");
        assert_eq!(run.phases.iter().map(|t| t.cycles).sum::<u64>(), run.cycles);
        let entries = |tag: &str| run.phases.iter().find(|t| t.tag == tag).unwrap().entries;
        // Decode: once in the guest (the witness), once in the verifier (the transactions).
        assert_eq!(entries("decode"), 2);
        for once in [
            "witness-hashing",
            "recovery",
            "state-root",
            "seal",
            "commit",
        ] {
            assert_eq!(entries(once), 1, "{once}");
        }
        // Each state read is a span inside execution, which resumes after it.
        assert!(
            entries("state-reads") >= 3,
            "sender, token, recipient at least"
        );
        assert_eq!(entries("execution"), entries("state-reads") + 1);
    }
    let cycles =
        |run: &GuestRun, tag: &str| run.phases.iter().find(|t| t.tag == tag).unwrap().cycles as f64;
    // Recovery costs the same per signature, so its span triples with three transactions;
    // a marker in the wrong place would not.
    let ratio = cycles(&three, "recovery") / cycles(&one, "recovery");
    assert!(
        (2.9..3.1).contains(&ratio),
        "recovery 3 txs / 1 tx = {ratio}"
    );
    // Recovery runs on the field256 precompile (about 4,000 calls and the code around them):
    // under half a million cycles per signature, where k256 in software took 5.7 M.
    let recovery = cycles(&one, "recovery");
    assert!(
        (10_000.0..500_000.0).contains(&recovery),
        "recovery of one signature: {recovery} cycles"
    );
    for run in [&one, &three] {
        eprintln!("evm-stf phases, ERC-20 transfers, {} cycles:", run.cycles);
        for t in &run.phases {
            eprintln!("  {:<16} {:>11} cycles  x{}", t.tag, t.cycles, t.entries);
        }
    }
}
