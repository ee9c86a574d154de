//! `eth_call` and `eth_estimateGas`: a transaction request run with revm over the latest
//! state, through zkbox-evm's [`Overlay`] so nothing is written.
//!
//! Calls run with a base fee of zero (so a request without fees needs no balance for gas)
//! and the sender's current nonce; everything else is the next block's environment.

use alloy_primitives::{Address, Bytes, TxKind, U256};
use alloy_rpc_types_eth::TransactionRequest;
use revm::context::result::{EVMError, ExecutionResult};
use revm::context::{BlockEnv as RevmBlockEnv, CfgEnv, TxEnv};
use revm::context_interface::block::BlobExcessGasAndPrice;
use revm::{Context, ExecuteEvm, MainBuilder, MainContext};
use zkbox_evm::{NativeReader, Overlay};

use crate::chain::Chain;

/// How a call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallOutcome {
    /// Returned normally.
    Success {
        /// Return data.
        output: Bytes,
        /// Gas used.
        gas_used: u64,
    },
    /// Reverted (REVERT).
    Revert {
        /// Revert data.
        output: Bytes,
        /// Gas used.
        gas_used: u64,
    },
    /// Halted (out of gas, invalid opcode, ...).
    Halt {
        /// Why.
        reason: String,
        /// Gas used.
        gas_used: u64,
    },
}

/// Runs `request` with `gas` gas over the chain's latest state. `Err` when the request
/// cannot run at all (e.g. the sender cannot pay the value).
pub fn call(chain: &Chain, request: &TransactionRequest, gas: u64) -> Result<CallOutcome, String> {
    let genesis = chain.genesis();
    let spec = zkbox_evm::SUPPORTED_SPECS
        .into_iter()
        .find(|s| *s as u8 == genesis.spec)
        .ok_or("unsupported fork")?;
    let env = chain.next_env(chain.head().header.timestamp, Address::ZERO);
    let block = RevmBlockEnv {
        number: U256::from(env.number),
        beneficiary: env.beneficiary,
        timestamp: U256::from(env.timestamp),
        gas_limit: env.gas_limit,
        basefee: 0,
        difficulty: U256::ZERO,
        prevrandao: Some(env.prev_randao),
        blob_excess_gas_and_price: Some(BlobExcessGasAndPrice::new_with_spec(0, spec)),
        ..RevmBlockEnv::default()
    };
    let mut cfg = CfgEnv::new_with_spec(spec);
    cfg.chain_id = genesis.chain_id;
    let from = request.from.unwrap_or_default();
    let nonce = chain.state().account(&from).map_or(0, |a| a.nonce);
    let gas_price = request.max_fee_per_gas.or(request.gas_price).unwrap_or(0);
    let tx = TxEnv {
        tx_type: if request.max_fee_per_gas.is_some() {
            2
        } else {
            0
        },
        caller: from,
        gas_limit: gas.min(genesis.gas_limit),
        gas_price,
        gas_priority_fee: request.max_priority_fee_per_gas.map(|t| t.min(gas_price)),
        kind: request.to.unwrap_or(TxKind::Create),
        value: request.value.unwrap_or_default(),
        data: request.input.input().cloned().unwrap_or_default(),
        nonce,
        chain_id: Some(genesis.chain_id),
        access_list: request.access_list.clone().unwrap_or_default(),
        ..TxEnv::default()
    };
    let hashes = chain.block_hashes();
    let mut overlay = Overlay::new(NativeReader::new(chain.state(), &hashes));
    let mut evm = Context::mainnet()
        .with_db(&mut overlay)
        .with_block(block)
        .with_cfg(cfg)
        .build_mainnet();
    let result = evm.transact(tx).map_err(|e| match e {
        EVMError::Transaction(e) => e.to_string(),
        EVMError::Database(e) => e.to_string(),
        other => other.to_string(),
    })?;
    let gas_used = result.result.tx_gas_used();
    Ok(match result.result {
        ExecutionResult::Success { output, .. } => CallOutcome::Success {
            output: output.into_data(),
            gas_used,
        },
        ExecutionResult::Revert { output, .. } => CallOutcome::Revert { output, gas_used },
        ExecutionResult::Halt { reason, .. } => CallOutcome::Halt {
            reason: format!("{reason:?}"),
            gas_used,
        },
    })
}

/// Why a gas estimate failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EstimateError {
    /// The call reverts even with all the gas allowed (revert data).
    Revert(Bytes),
    /// It cannot run, or fails for another reason.
    Other(String),
}

/// The least gas with which `request` succeeds (binary search between the gas it used and
/// its cap: the request's `gas`, else the block gas limit).
pub fn estimate_gas(chain: &Chain, request: &TransactionRequest) -> Result<u64, EstimateError> {
    let cap = request
        .gas
        .unwrap_or(chain.genesis().gas_limit)
        .min(chain.genesis().gas_limit);
    let used = match call(chain, request, cap).map_err(EstimateError::Other)? {
        CallOutcome::Success { gas_used, .. } => gas_used,
        CallOutcome::Revert { output, .. } => return Err(EstimateError::Revert(output)),
        CallOutcome::Halt { reason, .. } => {
            return Err(EstimateError::Other(format!(
                "gas required exceeds allowance ({cap}): {reason}"
            )));
        }
    };
    let succeeds = |gas: u64| matches!(call(chain, request, gas), Ok(CallOutcome::Success { .. }));
    if succeeds(used) {
        return Ok(used);
    }
    // Refunds and the 63/64 rule can make the needed limit exceed the gas used.
    let (mut low, mut high) = (used, cap);
    while high - low > 1 && high - low > low / 1000 {
        let mid = low + (high - low) / 2;
        if succeeds(mid) {
            high = mid;
        } else {
            low = mid;
        }
    }
    Ok(high)
}
