//! Configuration: layering, error messages that name the key and its origin, and the
//! documented defaults staying in step with the code.

use std::io::Write as _;
use std::path::PathBuf;

use zkbox_host::config::{Config, ConfigError, ConfigLoader, LogFormat, Origin};

fn file(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f
}

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn defaults_load_without_a_file() {
    let config = ConfigLoader::new().load().unwrap();
    assert_eq!(config, Config::default());
    assert_eq!(config.json_rpc.listen.to_string(), "127.0.0.1:8545");
    assert_eq!(config.grpc.listen.to_string(), "127.0.0.1:50051");
    assert_eq!(config.metrics.listen.to_string(), "127.0.0.1:9102");
}

#[test]
fn file_then_env_then_flag() {
    let f = file(
        "data_dir = \"/srv/zkbox\"\n[log]\nlevel = \"debug\"\nformat = \"json\"\n[metrics]\nlisten = \"127.0.0.1:9200\"\n",
    );
    let config = ConfigLoader::new()
        .file(f.path())
        .unwrap()
        .env(env(&[
            ("ZKBOX_METRICS__LISTEN", "127.0.0.1:9300"),
            ("ZKBOX_EXECUTOR__MAX_CYCLES", "1000"),
            ("PATH", "/bin"),
        ]))
        .flag("log.level", "warn".into(), "--log-level")
        .load()
        .unwrap();
    assert_eq!(config.data_dir, PathBuf::from("/srv/zkbox"));
    assert_eq!(config.log.format, LogFormat::Json);
    assert_eq!(config.log.level, "warn");
    assert_eq!(config.metrics.listen.to_string(), "127.0.0.1:9300");
    assert!(
        config.metrics.enabled,
        "keys the file does not set keep their defaults"
    );
    assert_eq!(config.executor.max_cycles, 1000);
}

#[test]
fn unknown_key_in_file_names_key_and_file() {
    let f = file("[metrics]\nlisten = \"127.0.0.1:9200\"\nlisen = \"x\"\n");
    let err = ConfigLoader::new()
        .file(f.path())
        .unwrap()
        .load()
        .unwrap_err();
    match &err {
        ConfigError::UnknownKey { key, origin } => {
            assert_eq!(key, "metrics.lisen");
            assert_eq!(origin, &Origin::File(f.path().to_owned()));
        }
        other => panic!("expected UnknownKey, got {other:?}"),
    }
    let text = err.to_string();
    assert!(
        text.contains("metrics.lisen") && text.contains(&f.path().display().to_string()),
        "{text}"
    );
}

#[test]
fn unknown_table_is_an_unknown_key() {
    let f = file("[sequencr]\nblock_ms = 5\n");
    let err = ConfigLoader::new()
        .file(f.path())
        .unwrap()
        .load()
        .unwrap_err();
    assert!(
        matches!(err, ConfigError::UnknownKey { ref key, .. } if key == "sequencr"),
        "{err}"
    );
}

#[test]
fn bad_value_names_key_and_origin() {
    let f = file("[grpc]\nlisten = \"not an address\"\n");
    let err = ConfigLoader::new()
        .file(f.path())
        .unwrap()
        .load()
        .unwrap_err();
    match err {
        ConfigError::BadValue { key, origin, .. } => {
            assert_eq!(key, "grpc.listen");
            assert_eq!(origin, Origin::File(f.path().to_owned()));
        }
        other => panic!("expected BadValue, got {other:?}"),
    }

    let err = ConfigLoader::new()
        .env(env(&[("ZKBOX_EXECUTOR__MAX_CYCLES", "lots")]))
        .load()
        .unwrap_err();
    match err {
        ConfigError::BadValue { key, origin, .. } => {
            assert_eq!(key, "executor.max_cycles");
            assert_eq!(origin, Origin::Env("ZKBOX_EXECUTOR__MAX_CYCLES".into()));
        }
        other => panic!("expected BadValue, got {other:?}"),
    }
}

#[test]
fn unknown_env_var_is_an_error() {
    let err = ConfigLoader::new()
        .env(env(&[("ZKBOX_METRIC__LISTEN", "127.0.0.1:1")]))
        .load()
        .unwrap_err();
    match err {
        ConfigError::UnknownKey { key, origin } => {
            assert_eq!(key, "metric");
            assert_eq!(origin, Origin::Env("ZKBOX_METRIC__LISTEN".into()));
        }
        other => panic!("expected UnknownKey, got {other:?}"),
    }
}

#[test]
fn validation_catches_what_types_cannot() {
    let cases = [
        (
            "[executor]\nsegment_cycles = 1000\n",
            "executor.segment_cycles",
        ),
        (
            "[executor]\nsegment_cycles = 512\n",
            "executor.segment_cycles",
        ),
        ("[executor]\nmax_cycles = 0\n", "executor.max_cycles"),
        ("[executor]\nmax_cycles = -5\n", "executor.max_cycles"),
        ("[log]\nlevel = \"info,[[\"\n", "log.level"),
        ("[log]\nformat = \"xml\"\n", "log.format"),
        ("[grpc]\nlisten = \"127.0.0.1:8545\"\n", "grpc.listen"),
        ("data_dir = \"\"\n", "data_dir"),
        ("metrics = 3\n", "metrics"),
        (
            "[sequencer]\nblock_interval_ms = 49\n",
            "sequencer.block_interval_ms",
        ),
    ];
    for (text, expected_key) in cases {
        let f = file(text);
        let err = ConfigLoader::new()
            .file(f.path())
            .unwrap()
            .load()
            .unwrap_err();
        match err {
            ConfigError::BadValue { key, .. } => assert_eq!(key, expected_key, "for {text:?}"),
            other => panic!("{text:?}: expected BadValue for {expected_key}, got {other:?}"),
        }
    }
}

#[test]
fn missing_and_malformed_files_are_errors() {
    let missing = PathBuf::from("/nonexistent/zkbox.toml");
    let err = ConfigLoader::new().file(&missing).unwrap_err();
    assert!(matches!(err, ConfigError::Read { ref path, .. } if path == &missing));
    assert!(err.to_string().contains("/nonexistent/zkbox.toml"));

    let f = file("[metrics\nlisten = 1\n");
    let err = ConfigLoader::new().file(f.path()).unwrap_err();
    assert!(matches!(err, ConfigError::Syntax { .. }), "{err}");
    assert!(err.to_string().contains(&f.path().display().to_string()));
}

/// docs/configuration.md shows the full default file; it must parse to exactly the defaults,
/// and mention every key.
#[test]
fn documented_defaults_match_the_code() {
    let doc_path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/configuration.md");
    let doc = std::fs::read_to_string(doc_path).unwrap();
    let block = doc
        .split("```toml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("docs/configuration.md has a ```toml block with the defaults");
    let f = file(block);
    let from_doc = ConfigLoader::new().file(f.path()).unwrap().load().unwrap();
    assert_eq!(
        from_doc,
        Config::default(),
        "docs/configuration.md's defaults differ from the code"
    );
    let table: toml::Table = block.parse().unwrap();
    let defaults = toml::Value::try_from(Config::default()).unwrap();
    assert_eq!(
        toml::Value::Table(table),
        defaults,
        "the documented block must list every key"
    );
}

#[test]
fn env_values_parse_as_toml_or_strings() {
    let config = ConfigLoader::new()
        .env(env(&[
            ("ZKBOX_METRICS__ENABLED", "false"),
            ("ZKBOX_DATA_DIR", "/tmp/x y"),
            ("ZKBOX_LOG__FORMAT", "json"),
        ]))
        .load()
        .unwrap();
    assert!(!config.metrics.enabled);
    assert_eq!(config.data_dir, PathBuf::from("/tmp/x y"));
    assert_eq!(config.log.format, LogFormat::Json);
}

#[test]
fn the_shortest_block_interval_is_50_ms() {
    let ok = ConfigLoader::new()
        .env(env(&[("ZKBOX_SEQUENCER__BLOCK_INTERVAL_MS", "50")]))
        .load()
        .unwrap();
    assert_eq!(ok.sequencer.block_interval_ms, 50);
    assert!(!ok.sequencer.allow_unprotected_txs);
}

#[test]
fn recovery_threads_are_bounded() {
    let ok = ConfigLoader::new()
        .env(env(&[("ZKBOX_SEQUENCER__RECOVERY_THREADS", "3")]))
        .load()
        .unwrap();
    assert_eq!(ok.sequencer.recovery_threads, 3);
    let err = ConfigLoader::new()
        .env(env(&[("ZKBOX_SEQUENCER__RECOVERY_THREADS", "100000")]))
        .load()
        .unwrap_err();
    match err {
        ConfigError::BadValue { key, .. } => assert_eq!(key, "sequencer.recovery_threads"),
        other => panic!("expected BadValue, got {other:?}"),
    }
}
