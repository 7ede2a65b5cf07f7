//! The release `.wasm` of every component of the app's manifest against its size budget, and
//! the fixtures' for reference.

use crate::app::{APP_MANIFEST, WASM_DIR};
use crate::report::SizeRow;
use anyhow::Context;
use spin_test_host::manifest::Manifest;
use std::path::Path;

/// verify-key's budget, bytes (300 KB, KB = 1,000 bytes: the stricter reading).
pub const VERIFY_KEY_BUDGET: u64 = 300_000;
/// Every other component's budget, bytes (400 KB).
pub const COMPONENT_BUDGET: u64 = 400_000;
/// The component held to [`VERIFY_KEY_BUDGET`].
const VERIFY_KEY: &str = "verify-key";
/// The fixtures' files and how the table names them.
const FIXTURES: &[(&str, &str)] = &[
    ("baseline.wasm", "noop (fixture)"),
    ("one_read.wasm", "one-read (fixture)"),
];

/// The budget of component `id`.
pub fn budget(id: &str) -> u64 {
    match id {
        VERIFY_KEY => VERIFY_KEY_BUDGET,
        _ => COMPONENT_BUDGET,
    }
}

/// The size of every component of the manifest under `root` (in its order, by id), then of
/// the fixtures.
pub fn measure(root: &Path) -> anyhow::Result<Vec<SizeRow>> {
    let manifest = Manifest::load(&root.join(APP_MANIFEST))?;
    let size = |path: &Path| {
        std::fs::metadata(path).map(|m| m.len()).with_context(|| {
            format!(
                "not built (scripts/build-components.sh): {}",
                path.display()
            )
        })
    };
    let mut rows = Vec::new();
    for (id, component) in &manifest.components {
        rows.push(SizeRow {
            component: id.clone(),
            bytes: size(&component.source)?,
            budget: Some(budget(id)),
        });
    }
    for (file, name) in FIXTURES {
        rows.push(SizeRow {
            component: (*name).to_owned(),
            bytes: size(&root.join(WASM_DIR).join(file))?,
            budget: None,
        });
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_key_is_held_to_300_kb_and_every_other_component_to_400_kb() {
        assert_eq!(budget("verify-key"), 300_000);
        for id in ["manage-keys", "kv-proxy", "identity", "admin-ui"] {
            assert_eq!(budget(id), 400_000, "{id}");
        }
    }

    #[test]
    fn the_budget_applies_to_a_component_the_manifest_declares() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let manifest = Manifest::load(&root.join(APP_MANIFEST)).unwrap();
        assert!(manifest.components.contains_key(VERIFY_KEY));
    }
}
