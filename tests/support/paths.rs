//! Where things are: the repository root, the emulator's virtualenv and scripts, and the
//! compiled `eksmgr` binary.

use std::env;
use std::path::{Path, PathBuf};

/// The repository root: the parent of this crate's manifest directory.
pub fn repo_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// The `moto_server` executable: `$EKSMGR_MOTO_SERVER`, else `<repo>/.venv/bin/moto_server`.
///
/// The harness does not run it: it only marks the virtualenv whose `python` runs
/// [`emulator_script`] (see [`venv_python`]).
pub(crate) fn moto_server_binary() -> Result<PathBuf, String> {
    let (path, origin) = match env::var_os("EKSMGR_MOTO_SERVER") {
        Some(path) if !path.is_empty() => (PathBuf::from(path), "$EKSMGR_MOTO_SERVER"),
        _ => (
            repo_root().join(".venv").join("bin").join("moto_server"),
            "the default location",
        ),
    };
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "moto_server not found at {} ({origin}); run `bash scripts/setup-emulator.sh` \
             from the repository root (or point EKSMGR_MOTO_SERVER at a moto_server executable)",
            path.display()
        ))
    }
}

/// The Python interpreter of the virtualenv holding `moto_server` (its sibling `python`),
/// falling back to `python3` on `PATH`.
pub(crate) fn venv_python(moto_server: &Path) -> PathBuf {
    moto_server
        .parent()
        .map(|bin| bin.join("python"))
        .filter(|python| python.exists())
        .unwrap_or_else(|| PathBuf::from("python3"))
}

/// The emulator: moto's server with the EKS APIs moto lacks added,
/// `<repo>/scripts/emulator/eksmgr_moto.py`. It takes `moto_server`'s arguments.
pub(crate) fn emulator_script() -> PathBuf {
    repo_root()
        .join("scripts")
        .join("emulator")
        .join("eksmgr_moto.py")
}

/// The seed script, `<repo>/scripts/seed_emulator.py`.
pub(crate) fn seed_script() -> PathBuf {
    repo_root().join("scripts").join("seed_emulator.py")
}

/// The compiled `eksmgr` binary.
///
/// Looks, in order, at `$CARGO_BIN_EXE_eksmgr`, `$CARGO_TARGET_DIR/debug/eksmgr`, the
/// `debug` directory this test executable was built into, and `<repo>/target/debug/eksmgr`;
/// the first that exists wins.
pub fn eksmgr_binary() -> Result<PathBuf, String> {
    let exe = format!("eksmgr{}", env::consts::EXE_SUFFIX);
    let mut candidates = Vec::new();
    if let Some(path) = env::var_os("CARGO_BIN_EXE_eksmgr").filter(|p| !p.is_empty()) {
        candidates.push(PathBuf::from(path));
    }
    if let Some(dir) = env::var_os("CARGO_TARGET_DIR").filter(|p| !p.is_empty()) {
        let dir = PathBuf::from(dir);
        let dir = if dir.is_absolute() {
            dir
        } else {
            repo_root().join(dir)
        };
        candidates.push(dir.join("debug").join(&exe));
    }
    // A test executable lives in <target>/<profile>/deps/; the binary in <target>/<profile>/.
    if let Ok(current) = env::current_exe()
        && let Some(profile_dir) = current.parent().and_then(Path::parent)
    {
        candidates.push(profile_dir.join(&exe));
    }
    candidates.push(repo_root().join("target").join("debug").join(&exe));

    if let Some(found) = candidates.iter().find(|path| path.is_file()) {
        return Ok(found.clone());
    }
    let tried: Vec<String> = candidates.iter().map(|p| p.display().to_string()).collect();
    Err(format!(
        "the eksmgr binary was not found (tried {}); run `cargo build -p eksmgr` first",
        tried.join(", ")
    ))
}
