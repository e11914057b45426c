//! Output files and folders, the same way for every command.

use std::path::Path;

use anyhow::{Context, Result, bail};
use serde::Serialize;

/// True when `out` is a folder that holds anything; an error when it is a file.
pub fn folder_in_use(out: &Path) -> Result<bool> {
    if out.exists() && !out.is_dir() {
        bail!("--out {} is a file, not a folder", out.display());
    }
    Ok(out.is_dir()
        && std::fs::read_dir(out)
            .with_context(|| format!("cannot read {}", out.display()))?
            .next()
            .is_some())
}

/// Writes `value` as pretty JSON with a final newline.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    std::fs::write(path, serde_json::to_string_pretty(value)? + "\n")
        .with_context(|| format!("cannot write {}", path.display()))
}
