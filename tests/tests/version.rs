//! `eksmgr --version` names the build: the package version, the commit of the checkout it was
//! built from (the tests run in one) and the target.

use eksmgr_e2e::check::{ensure, err};
use eksmgr_e2e::{eksmgr_binary, repo_root};

use eksmgr_e2e::R;

#[test]
fn the_version_names_the_commit_and_the_target() -> R {
    let out = std::process::Command::new(eksmgr_binary()?)
        .arg("--version")
        .output()
        .map_err(err("eksmgr --version"))?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let head = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(repo_root())
        .output()
        .map_err(err("git rev-parse (the tests run in a git checkout)"))?;
    ensure(head.status.success(), || {
        "the tests run in a git checkout: git rev-parse HEAD failed".into()
    })?;
    let head = String::from_utf8_lossy(&head.stdout).trim().to_owned();
    let expected = format!("eksmgr {} (commit {head}", env!("CARGO_PKG_VERSION"));
    ensure(out.status.success() && text.starts_with(&expected), || {
        format!("`eksmgr --version` printed {text:?}; expected it to start with {expected:?}")
    })?;
    ensure(
        text.ends_with("-linux-gnu)") || text.ends_with("-apple-darwin)"),
        || format!("the target is named: {text:?}"),
    )?;
    Ok(())
}
