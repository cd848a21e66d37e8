//! Build script: names the build for `eksmgr --version`. The commit is read with `git` when
//! the crate is built from a checkout (no network, nothing at run time), with `-dirty` when
//! tracked files differ from it; `EKSMGR_BUILD_COMMIT` set at build time wins (a build from a
//! source archive), and without either the commit is `unknown`. The target triple is Cargo's.

use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=EKSMGR_BUILD_COMMIT");
    let commit = match std::env::var("EKSMGR_BUILD_COMMIT") {
        Ok(c) if !c.trim().is_empty() => c.trim().to_string(),
        _ => from_git().unwrap_or_else(|| "unknown".to_string()),
    };
    println!("cargo:rustc-env=EKSMGR_BUILD_COMMIT={commit}");
    let target = std::env::var("TARGET").unwrap_or_else(|_| "unknown".to_string());
    println!("cargo:rustc-env=EKSMGR_BUILD_TARGET={target}");
}

/// `git` run in the crate's directory: its trimmed output, if it succeeded.
fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The checkout's commit, `-dirty` when tracked files were changed; watched so that a new
/// commit, a change of branch or an edited source file runs this script again.
fn from_git() -> Option<String> {
    let dir = git(&["rev-parse", "--absolute-git-dir"])?;
    let top = git(&["rev-parse", "--show-toplevel"])?;
    for watched in ["HEAD", "index", "packed-refs"] {
        println!("cargo:rerun-if-changed={dir}/{watched}");
    }
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        println!("cargo:rerun-if-changed={dir}/{branch}");
    }
    // The sources of the binary (a change makes the tree dirty).
    for member in [
        "Cargo.toml",
        "Cargo.lock",
        "state",
        "engine",
        "providers",
        "cli",
    ] {
        let path = Path::new(&top).join(member);
        if path.exists() {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
    let commit = git(&["rev-parse", "--short=12", "HEAD"])?;
    let dirty = !git(&["status", "--porcelain", "--untracked-files=no"])?.is_empty();
    Some(if dirty {
        format!("{commit}-dirty")
    } else {
        commit
    })
}
