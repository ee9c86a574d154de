//! Genesis state from a JSON allocation (geth's and anvil's `genesis.json`, or a bare
//! `alloc` object): `{"alloc": {"0xADDRESS": {"balance", "nonce", "code", "storage"}}}`.
//! Numbers may be `0x` hex or decimal, as strings or JSON numbers.

use std::format;
use std::string::{String, ToString};
use std::vec::Vec;

use alloy_primitives::{Address, Bytes, U256};
use serde_json::Value;

use crate::{Error, State};

/// Builds the state a genesis file allocates.
pub fn state_from_genesis_json(json: &str) -> Result<State, Error> {
    let value: Value = serde_json::from_str(json).map_err(|e| Error::BadInput(e.to_string()))?;
    let alloc = match value.get("alloc") {
        Some(alloc) => alloc,
        None => &value,
    };
    state_from_alloc(alloc)
}

/// Builds a state from an `alloc`-shaped JSON object (address → account).
pub fn state_from_alloc(alloc: &Value) -> Result<State, Error> {
    let alloc = alloc
        .as_object()
        .ok_or_else(|| bad("alloc is not an object"))?;
    let mut state = State::new();
    for (address, account) in alloc {
        let address = parse_address(address)?;
        let balance = account
            .get("balance")
            .map(parse_u256)
            .transpose()?
            .unwrap_or_default();
        let nonce = match account.get("nonce") {
            Some(n) => u64::try_from(parse_u256(n)?).map_err(|_| bad("nonce too large"))?,
            None => 0,
        };
        let code = match account.get("code") {
            Some(c) => parse_bytes(c)?,
            None => Bytes::new(),
        };
        let mut storage = Vec::new();
        if let Some(slots) = account.get("storage") {
            let slots = slots
                .as_object()
                .ok_or_else(|| bad("storage is not an object"))?;
            for (slot, value) in slots {
                storage.push((
                    parse_u256(&Value::String(slot.clone()))?,
                    parse_u256(value)?,
                ));
            }
        }
        state.insert_account(address, nonce, balance, code, storage);
    }
    Ok(state)
}

fn bad(why: &str) -> Error {
    Error::BadInput(why.to_string())
}

/// An address, with or without `0x`.
pub(crate) fn parse_address(s: &str) -> Result<Address, Error> {
    let hex = s.strip_prefix("0x").unwrap_or(s);
    let mut out = [0u8; 20];
    alloy_primitives::hex::decode_to_slice(hex, &mut out)
        .map_err(|_| Error::BadInput(format!("bad address {s}")))?;
    Ok(Address::from(out))
}

/// A 256-bit number: `0x` hex or decimal string, or a JSON number.
pub(crate) fn parse_u256(v: &Value) -> Result<U256, Error> {
    match v {
        Value::Number(n) => n
            .as_u64()
            .map(U256::from)
            .ok_or_else(|| Error::BadInput(format!("bad number {n}"))),
        Value::String(s) => parse_u256_str(s),
        other => Err(Error::BadInput(format!("expected a number, found {other}"))),
    }
}

pub(crate) fn parse_u256_str(s: &str) -> Result<U256, Error> {
    let parsed = match s.strip_prefix("0x") {
        Some("") => Ok(U256::ZERO),
        Some(hex) => U256::from_str_radix(hex, 16),
        None => U256::from_str_radix(s, 10),
    };
    parsed.map_err(|_| Error::BadInput(format!("bad number {s}")))
}

/// `0x`-prefixed (or bare) hex bytes.
pub(crate) fn parse_bytes(v: &Value) -> Result<Bytes, Error> {
    let s: &String = match v {
        Value::String(s) => s,
        other => {
            return Err(Error::BadInput(format!(
                "expected hex bytes, found {other}"
            )));
        }
    };
    let hex = s.strip_prefix("0x").unwrap_or(s);
    alloy_primitives::hex::decode(hex)
        .map(Bytes::from)
        .map_err(|_| Error::BadInput(format!("bad hex {s}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geth_and_bare_alloc_forms_give_the_same_state() {
        let geth = r#"{"config": {"chainId": 1}, "alloc": {
            "0x0000000000000000000000000000000000000001": {"balance": "1000", "nonce": "0x1"},
            "0000000000000000000000000000000000000002": {"balance": "0x10", "code": "0x6000",
                "storage": {"0x01": "0x02", "0x03": "0x0"}}}}"#;
        let a = state_from_genesis_json(geth).unwrap();
        let inner: Value = serde_json::from_str(geth).unwrap();
        let b = state_from_genesis_json(&inner["alloc"].to_string()).unwrap();
        assert_eq!(a, b);
        let one = a.account(&Address::with_last_byte(1)).unwrap();
        assert_eq!((one.nonce, one.balance), (1, U256::from(1000)));
        let two = a.account(&Address::with_last_byte(2)).unwrap();
        assert_eq!(two.storage.len(), 1);
    }

    #[test]
    fn malformed_delegation_code_is_an_error_when_run_not_a_panic() {
        use crate::{Block, BlockEnv, BlockHashes, SpecId, execute_block};
        let json = r#"{"0x00000000000000000000000000000000000000aa": {"code": "0xef0100"}}"#;
        let mut state = state_from_genesis_json(json).unwrap();
        let block = Block {
            env: BlockEnv {
                chain_id: 1,
                spec: SpecId::PRAGUE as u8,
                parent_hash: Default::default(),
                number: 1,
                timestamp: 1,
                gas_limit: 1_000_000,
                base_fee: 0,
                beneficiary: Address::ZERO,
                prev_randao: Default::default(),
                excess_blob_gas: 0,
            },
            transactions: Vec::new(),
        };
        // An empty block does not load the code; the overlay's loader is what refuses it.
        assert!(execute_block(&mut state, &block, &BlockHashes::new()).is_ok());
        let hashes = BlockHashes::new();
        let mut overlay = crate::Overlay::new(crate::NativeReader::new(&state, &hashes));
        let hash = state
            .account(&Address::with_last_byte(0xaa))
            .unwrap()
            .code_hash;
        let loaded = revm::Database::code_by_hash(&mut overlay, hash);
        assert!(matches!(loaded, Err(Error::BadInput(_))));
    }

    #[test]
    fn malformed_genesis_is_an_error() {
        for bad in [
            "",
            "[]",
            r#"{"alloc": {"0xzz": {}}}"#,
            r#"{"alloc": {"0x01": {"balance": "0xg"}}}"#,
        ] {
            assert!(state_from_genesis_json(bad).is_err(), "{bad}");
        }
    }
}
