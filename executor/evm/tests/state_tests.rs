//! The pinned sample of Ethereum GeneralStateTests in tests/fixtures/ethereum-tests passes
//! through the native executor and, for every valid case, through the witness verifier.
#![cfg(feature = "std")]

use std::path::{Path, PathBuf};

use zkbox_evm::statetest::run_state_test_file;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/ethereum-tests/GeneralStateTests")
}

fn json_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("fixture folder exists") {
        let path = entry.unwrap().path();
        if path.is_dir() {
            json_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
}

#[test]
fn general_state_tests_pass() {
    let mut files = Vec::new();
    json_files(&fixtures(), &mut files);
    files.sort();
    assert!(
        files.len() >= 30,
        "expected the pinned sample, found {} files",
        files.len()
    );
    let mut cases = 0;
    let mut failures = Vec::new();
    for file in &files {
        let json = std::fs::read_to_string(file).unwrap();
        let results =
            run_state_test_file(&json).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        for result in results {
            cases += 1;
            if let Some(why) = result.failure {
                failures.push(format!("{}: {}: {why}", file.display(), result.name));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {cases} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(cases >= 80, "only {cases} cases ran");
    println!("{cases} state-test cases passed from {} files", files.len());
}

/// A state test whose transaction is invalid leaves the state as it was, so its expected
/// post-state root is the root of its `pre` allocation: a known root for the state model.
#[test]
fn genesis_root_matches_a_consensus_test_pre_state() {
    let json = std::fs::read_to_string(fixtures().join("stExample/invalidTr.json")).unwrap();
    let file: serde_json::Value = serde_json::from_str(&json).unwrap();
    let test = &file["invalidTr"];
    let expected: alloy_primitives::B256 = test["post"]["Cancun"][0]["hash"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let state = zkbox_evm::genesis::state_from_alloc(&test["pre"]).unwrap();
    assert_eq!(state.state_root(), expected);
    assert_eq!(
        expected,
        "0x4c9c6cf002e6a88a5444662ca9ceb6a116b7b69ced38c470bf6e4a12a6313967"
            .parse::<alloy_primitives::B256>()
            .unwrap()
    );
    // The same allocation through the geth-style genesis loader.
    let genesis = serde_json::json!({ "config": {}, "alloc": test["pre"] }).to_string();
    assert_eq!(
        zkbox_evm::genesis::state_from_genesis_json(&genesis)
            .unwrap()
            .state_root(),
        expected
    );
}
