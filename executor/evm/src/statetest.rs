//! Runs Ethereum's filled GeneralStateTests (the consensus "state tests") through this
//! executor: for each post-state entry of a fork this executor runs, the entry's signed
//! transaction (`txbytes`) is executed as a one-transaction block on the test's `pre` state,
//! and the resulting state root and logs hash must equal the fixture's. Entries that expect
//! an exception must be refused, leaving the state unchanged.
//!
//! Each valid case is also run through the witness path ([`execute_block_with_witness`] then
//! [`verify_and_execute`] on the re-decoded witness), which must agree with native execution.

use std::format;
use std::string::{String, ToString};
use std::vec::Vec;

use alloy_primitives::{B256, Log, keccak256};
use serde_json::Value;

use crate::genesis::{parse_address, parse_bytes, parse_u256, state_from_alloc};
use crate::{
    Block, BlockEnv, BlockHashes, Error, SpecId, Witness, decode_transaction,
    execute_block_with_witness, verify_and_execute,
};

/// The result of one post-state entry of a state test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseResult {
    /// `test name / fork / entry index`.
    pub name: String,
    /// `None` when the case passed, else what went wrong.
    pub failure: Option<String>,
}

/// Runs every case of a state-test JSON file for the forks this executor supports (others
/// are skipped). Fails only if the file itself is malformed.
pub fn run_state_test_file(json: &str) -> Result<Vec<CaseResult>, Error> {
    let file: Value = serde_json::from_str(json).map_err(|e| Error::BadInput(e.to_string()))?;
    let tests = file
        .as_object()
        .ok_or_else(|| bad("a state-test file is an object"))?;
    let mut results = Vec::new();
    for (name, test) in tests {
        let env = test.get("env").ok_or_else(|| bad("test without env"))?;
        let pre = test.get("pre").ok_or_else(|| bad("test without pre"))?;
        let post = test
            .get("post")
            .and_then(Value::as_object)
            .ok_or_else(|| bad("test without post"))?;
        for (fork, entries) in post {
            let Some(spec) = fork_spec(fork) else {
                continue;
            };
            let entries = entries
                .as_array()
                .ok_or_else(|| bad("post entries are a list"))?;
            for (index, entry) in entries.iter().enumerate() {
                let failure = run_case(env, pre, spec, entry).err();
                results.push(CaseResult {
                    name: format!("{name}/{fork}/{index}"),
                    failure,
                });
            }
        }
    }
    Ok(results)
}

fn bad(why: &str) -> Error {
    Error::BadInput(why.to_string())
}

fn fork_spec(fork: &str) -> Option<SpecId> {
    match fork {
        "Cancun" => Some(SpecId::CANCUN),
        "Prague" => Some(SpecId::PRAGUE),
        "Osaka" => Some(SpecId::OSAKA),
        _ => None,
    }
}

fn field<'a>(v: &'a Value, key: &str) -> Result<&'a Value, String> {
    v.get(key).ok_or_else(|| format!("missing {key}"))
}

fn u64_field(v: &Value, key: &str) -> Result<u64, String> {
    let n = parse_u256(field(v, key)?).map_err(|e| e.to_string())?;
    u64::try_from(n).map_err(|_| format!("{key} does not fit 64 bits"))
}

fn b256_field(v: &Value, key: &str) -> Result<B256, String> {
    Ok(B256::from(
        parse_u256(field(v, key)?).map_err(|e| e.to_string())?,
    ))
}

fn run_case(env: &Value, pre: &Value, spec: SpecId, entry: &Value) -> Result<(), String> {
    let mut state = state_from_alloc(pre).map_err(|e| e.to_string())?;
    let pre_root = state.state_root();
    let beneficiary = field(env, "currentCoinbase")?
        .as_str()
        .ok_or("currentCoinbase is not a string")?;
    let block_env = BlockEnv {
        chain_id: 1,
        spec: spec as u8,
        parent_hash: B256::ZERO,
        number: u64_field(env, "currentNumber")?,
        timestamp: u64_field(env, "currentTimestamp")?,
        gas_limit: u64_field(env, "currentGasLimit")?,
        base_fee: u64_field(env, "currentBaseFee")?,
        beneficiary: parse_address(beneficiary).map_err(|e| e.to_string())?,
        prev_randao: b256_field(env, "currentRandom")?,
        excess_blob_gas: u64_field(env, "currentExcessBlobGas").unwrap_or(0),
    };
    let expected_root = b256_field(entry, "hash")?;
    let expected_logs = b256_field(entry, "logs")?;
    let expect_exception = entry.get("expectException").is_some();
    let txbytes = parse_bytes(field(entry, "txbytes")?).map_err(|e| e.to_string())?;
    let outcome = decode_transaction(&txbytes).and_then(|tx| {
        let block = Block {
            env: block_env,
            transactions: std::vec![tx],
        };
        execute_block_with_witness(&mut state, &block, &BlockHashes::new())
    });
    match (outcome, expect_exception) {
        (Err(_), true) => {
            let root = state.state_root();
            if root != pre_root || root != expected_root {
                return Err(format!(
                    "refused, but state root {root} != expected {expected_root}"
                ));
            }
            Ok(())
        }
        (Ok(_), true) => Err("expected an exception, the transaction was executed".into()),
        (Err(e), false) => Err(format!("execution failed: {e}")),
        (Ok((output, witness)), false) => {
            if output.post_state_root != expected_root {
                return Err(format!(
                    "state root {} != expected {expected_root}",
                    output.post_state_root
                ));
            }
            let logs: Vec<Log> = output
                .receipts
                .iter()
                .flat_map(|r| r.logs().iter().cloned())
                .collect();
            let logs_hash = keccak256(alloy_rlp::encode(&logs));
            if logs_hash != expected_logs {
                return Err(format!("logs hash {logs_hash} != expected {expected_logs}"));
            }
            let decoded = Witness::decode(&witness.encode())
                .map_err(|e| format!("witness round trip: {e}"))?;
            let verified =
                verify_and_execute(&decoded).map_err(|e| format!("witness verification: {e}"))?;
            if verified != output {
                return Err("witness-verified output differs from native output".into());
            }
            Ok(())
        }
    }
}
