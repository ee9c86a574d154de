//! The `zkbox` binary as users and scripts see it: version, devices, exit statuses, config
//! errors, and `serve` answering on the endpoint it prints.

use std::io::{BufRead, BufReader, Read, Write as _};
use std::net::TcpStream;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

fn zkbox(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_zkbox"))
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("zkbox runs")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn version_names_the_commit() {
    let out = zkbox(&["--version"]);
    assert!(out.status.success());
    let text = stdout(&out);
    assert!(
        text.starts_with(concat!("zkbox ", env!("CARGO_PKG_VERSION"), " (commit ")),
        "{text}"
    );
}

#[test]
fn devices_lists_the_cpu_as_table_and_json() {
    let out = zkbox(&["devices"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).lines().any(|l| l.starts_with("cpu ")));

    let out = zkbox(&["devices", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["devices"][0]["id"], "cpu");
    assert!(json["devices"][0]["memory_bytes"].as_u64().unwrap() > 0);
}

#[test]
fn devices_lists_opencl_when_an_icd_is_installed() {
    // The setup script installs PoCL; where an ICD is registered, it must show up.
    let has_icd = std::fs::read_dir("/etc/OpenCL/vendors").is_ok_and(|mut d| d.next().is_some());
    if !has_icd {
        eprintln!("no OpenCL ICD registered on this machine; skipping");
        return;
    }
    let out = zkbox(&["devices", "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids: Vec<&str> = json["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&"opencl:0"),
        "devices: {ids:?}; stderr: {}",
        stderr(&out)
    );
}

#[test]
fn unbuilt_subcommands_say_so_and_exit_2() {
    let cases: &[&[&str]] = &[
        &["bench", "ntt"],
        &["prove", "g.elf", "-o", "p.proof"],
        &["verify", "p.proof"],
        &["loadgen", "--rpc", "http://127.0.0.1:1"],
        &["client", "jobs", "list"],
    ];
    for args in cases {
        let out = zkbox(args);
        assert_eq!(out.status.code(), Some(2), "zkbox {args:?}");
        assert!(
            stderr(&out).contains("not built yet"),
            "zkbox {args:?}: {}",
            stderr(&out)
        );
        assert!(
            stdout(&out).is_empty(),
            "zkbox {args:?} printed a result: {}",
            stdout(&out)
        );
    }
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(zkbox(&["frobnicate"]).status.code(), Some(2));
    assert_eq!(zkbox(&["bench", "everything"]).status.code(), Some(2));
    assert_eq!(
        zkbox(&["prove", "g.elf"]).status.code(),
        Some(2),
        "-o is required"
    );
}

#[test]
fn config_errors_name_the_key_and_file_and_exit_78() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "[metrics]\nlisten = \"nowhere\"\n").unwrap();
    let out = zkbox(&["--config", path.to_str().unwrap(), "devices"]);
    assert_eq!(out.status.code(), Some(78));
    let err = stderr(&out);
    assert!(
        err.contains("metrics.listen") && err.contains(path.to_str().unwrap()),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");

    let out = zkbox(&["--config", "/nonexistent.toml", "devices"]);
    assert_eq!(out.status.code(), Some(78));
    assert!(stderr(&out).contains("/nonexistent.toml"));

    let out = Command::new(env!("CARGO_BIN_EXE_zkbox"))
        .arg("devices")
        .env("ZKBOX_LOG__LEVL", "debug")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    assert!(stderr(&out).contains("ZKBOX_LOG__LEVL"), "{}", stderr(&out));
}

/// Reads `name: url` lines from serve's stdout until `name` appears.
fn wait_for_endpoint(lines: &mut impl BufRead, name: &str) -> String {
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            lines.read_line(&mut line).unwrap() > 0,
            "serve exited before printing {name}"
        );
        if let Some(url) = line.trim().strip_prefix(&format!("{name}: ")) {
            return url.to_owned();
        }
    }
}

fn http_get(url: &str) -> String {
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_owned()), |(h, p)| (h, format!("/{p}")));
    let mut stream = TcpStream::connect(host).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

#[test]
fn serve_prints_its_endpoints_and_answers() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("zkbox.toml");
    std::fs::write(&config, "[metrics]\nlisten = \"127.0.0.1:0\"\n").unwrap();
    let data = dir.path().join("data");
    let mut child = Command::new(env!("CARGO_BIN_EXE_zkbox"))
        .args([
            "serve",
            "--config",
            config.to_str().unwrap(),
            "--data-dir",
            data.to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let url = wait_for_endpoint(&mut out, "metrics");
    assert!(
        url.starts_with("http://127.0.0.1:") && url.ends_with("/metrics"),
        "{url}"
    );
    assert!(data.is_dir(), "serve creates its data directory");

    let response = http_get(&url);
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("zkbox_build_info{"), "{response}");
    let health = http_get(&url.replace("/metrics", "/healthz"));
    assert!(
        health.starts_with("HTTP/1.1 200") && health.ends_with("ok\n"),
        "{health}"
    );

    // SIGTERM stops it cleanly.
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = child.wait().unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(status.success(), "serve exited with {status}: {err}");
    assert!(err.contains("json-rpc: not built yet"), "{err}");
}

#[test]
fn serve_reports_a_port_in_use() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_zkbox"))
        .args(["serve", "--data-dir", dir.path().to_str().unwrap()])
        .env("ZKBOX_METRICS__LISTEN", &addr)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains(&addr) && err.contains("cannot listen"),
        "{err}"
    );
}
