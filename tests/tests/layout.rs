//! The workspace keeps ARCHITECTURE.md's layout: each folder's crate depends only on the
//! crates the "may depend on" column allows, and every third-party version is pinned once
//! in `[workspace.dependencies]`.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use serde_json::Value;
use zkbox_e2e::workspace_root;

/// In-tree dependencies each crate may have (ARCHITECTURE.md, "Layout").
fn allowed() -> BTreeMap<&'static str, BTreeSet<&'static str>> {
    let all = [
        "zkbox-kernels",
        "zkbox-accel",
        "zkbox-executor",
        "zkbox-evm",
        "zkbox-prover",
        "zkbox-sequencer",
        "zkbox-firmware",
    ];
    BTreeMap::from([
        ("zkbox-kernels", BTreeSet::new()),
        ("zkbox-accel", BTreeSet::from(["zkbox-kernels"])),
        ("zkbox-evm", BTreeSet::new()),
        ("zkbox-executor", BTreeSet::from(["zkbox-evm"])),
        (
            "zkbox-prover",
            BTreeSet::from([
                "zkbox-kernels",
                "zkbox-accel",
                "zkbox-executor",
                "zkbox-evm",
            ]),
        ),
        (
            "zkbox-sequencer",
            BTreeSet::from(["zkbox-executor", "zkbox-evm"]),
        ),
        ("zkbox-firmware", BTreeSet::new()),
        ("zkbox-host", BTreeSet::from(all)),
        (
            "zkbox-e2e",
            BTreeSet::from(all)
                .into_iter()
                .chain(["zkbox-host"])
                .collect(),
        ),
    ])
}

fn metadata() -> Value {
    let out = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(workspace_root())
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("cargo metadata prints JSON")
}

#[test]
fn crates_depend_only_downwards() {
    let meta = metadata();
    let allowed = allowed();
    let packages = meta["packages"].as_array().unwrap();
    let mut seen = BTreeSet::new();
    for package in packages {
        let name = package["name"].as_str().unwrap();
        seen.insert(name.to_owned());
        let allowed_here = allowed
            .get(name)
            .unwrap_or_else(|| panic!("crate {name} is not in the layout table of this test"));
        for dep in package["dependencies"].as_array().unwrap() {
            let dep_name = dep["name"].as_str().unwrap();
            if dep_name.starts_with("zkbox-") && dep["kind"].is_null() {
                assert!(
                    allowed_here.contains(dep_name),
                    "{name} must not depend on {dep_name}"
                );
            }
        }
    }
    for name in allowed.keys() {
        assert!(
            seen.contains(*name),
            "crate {name} is missing from the workspace"
        );
    }
}

#[test]
fn every_dependency_comes_from_the_workspace_table() {
    let root = workspace_root();
    for package in metadata()["packages"].as_array().unwrap() {
        let manifest = package["manifest_path"].as_str().unwrap();
        let text = std::fs::read_to_string(manifest).unwrap();
        let doc: toml_lite::Doc = toml_lite::parse(&text);
        for (section, key, line) in doc.dependency_lines() {
            assert!(
                line.contains("workspace = true") || line.contains(".workspace = true"),
                "{} [{section}] {key}: pin the version in the root [workspace.dependencies] and write `{key}.workspace = true`",
                manifest
                    .strip_prefix(root.to_str().unwrap())
                    .unwrap_or(manifest),
            );
        }
    }
}

#[test]
fn workspace_versions_are_exact_pins() {
    let text = std::fs::read_to_string(workspace_root().join("Cargo.toml")).unwrap();
    let doc = toml_lite::parse(&text);
    for (section, key, line) in doc.dependency_lines() {
        if section != "workspace.dependencies" || line.contains("path = ") {
            continue;
        }
        assert!(
            line.contains("\"="),
            "{key} in [workspace.dependencies] is not pinned with `=`: {line}"
        );
    }
}

/// Just enough TOML reading for dependency tables: section headers and `key = ...` lines.
mod toml_lite {
    /// A manifest's lines, each tagged with the section it sits in.
    pub struct Doc(Vec<(String, String)>);

    pub fn parse(text: &str) -> Doc {
        let mut section = String::new();
        let mut lines = Vec::new();
        for line in text.lines().map(str::trim) {
            if line.starts_with('[') {
                section = line.trim_matches(|c| c == '[' || c == ']').to_owned();
            } else if !line.is_empty() && !line.starts_with('#') {
                lines.push((section.clone(), line.to_owned()));
            }
        }
        Doc(lines)
    }

    impl Doc {
        /// `(section, key, line)` for every entry of a dependency table.
        pub fn dependency_lines(&self) -> impl Iterator<Item = (&str, &str, &str)> {
            self.0.iter().filter_map(|(section, line)| {
                let is_deps = section.ends_with("dependencies");
                let key = line.split(['=', '.']).next()?.trim();
                (is_deps && !key.is_empty()).then_some((section.as_str(), key, line.as_str()))
            })
        }
    }
}
