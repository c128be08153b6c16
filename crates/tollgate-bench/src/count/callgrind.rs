//! Driving callgrind: the command that starts a process under it with counting off, switching
//! counting on and off in a running process, and reading the totals of its dumps.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A process being counted: its pid and the start of its callgrind files' names.
pub struct Counter {
    pub pid: u32,
    pub files: String,
}

impl Counter {
    pub fn of(id: &str, pid: u32) -> Self {
        Self {
            pid,
            // Dumps are `<id>.<pid>.<n>` (the dot: pid 12 is not pid 123).
            files: format!("{id}.{pid}."),
        }
    }
}

/// `valgrind --tool=callgrind` with counting off, writing its files under `dir` as `<id>.<pid>`.
pub fn callgrind(dir: &Path, id: &str) -> Vec<String> {
    vec![
        "valgrind".into(),
        "--tool=callgrind".into(),
        "--instr-atstart=no".into(),
        format!("--callgrind-out-file={}/{id}.%p", dir.display()),
    ]
}

/// Runs `callgrind_control <args> <pid>`, off the async threads (the upstream runs on them).
pub async fn control(pid: u32, args: &[&str]) -> anyhow::Result<()> {
    let mut cmd = Command::new("callgrind_control");
    cmd.args(args).arg(pid.to_string());
    let what = format!("callgrind_control {}", args.join(" "));
    let out = tokio::task::spawn_blocking(move || cmd.output()).await??;
    anyhow::ensure!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(())
}

/// The event total of a callgrind file (its `totals:` line, or `summary:` in older versions).
pub fn total_of(text: &str) -> Option<u64> {
    text.lines().rev().find_map(|l| {
        l.strip_prefix("totals:")
            .or_else(|| l.strip_prefix("summary:"))
            .and_then(|n| n.split_whitespace().next())
            .and_then(|n| n.parse().ok())
    })
}

/// The files callgrind wrote whose names start with `prefix`.
pub fn dumps(dir: &Path, prefix: &str) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with(prefix) {
            out.push(path);
        }
    }
    Ok(out)
}

/// The total of the one dump written for `files` since `before` was listed.
pub fn new_total(dir: &Path, files: &str, before: &[PathBuf]) -> anyhow::Result<u64> {
    let new: Vec<PathBuf> = dumps(dir, files)?
        .into_iter()
        .filter(|p| !before.contains(p))
        .collect();
    let [file] = new.as_slice() else {
        anyhow::bail!("expected one new callgrind dump, found {}", new.len());
    };
    let text = std::fs::read_to_string(file)?;
    total_of(&text).ok_or_else(|| anyhow::anyhow!("no totals in {}", file.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_total_is_read_from_the_totals_line() {
        let file = "version: 1\ncreator: callgrind-3.19.0\nevents: Ir\n\nfn=(1) main\n3 12\n\
                    totals: 123456\n";
        assert_eq!(total_of(file), Some(123456));
        assert_eq!(total_of("events: Ir\nsummary: 77\n"), Some(77));
        assert_eq!(total_of("events: Ir\n"), None);
    }
}
