//! Errors about a value of the configuration point at it: a value that looks right but names
//! nothing in AWS is reported at its `file:line:column` in `eksmgr.toml`, with the AWS call
//! that said so, instead of as a failure of something else.
//!
//! * `organization.eks_ou_id` naming no OU of the organization (`ou-zzzz-zzzzzzzz`, well formed):
//!   `plan` fails at the OU id, naming `organizations:ListParents` and its not-found answer, and
//!   not as "cannot find out who the caller is" (the caller was found); `whoami` gives the same
//!   hint where it says why the spokes could not be listed.
//! * a region no AWS partition has (`us-nowhere-9`, named like the aws partition's regions):
//!   `validate`, offline, fails at the region with the closest known regions, and so does
//!   `plan`, before any AWS call; a region named like the known ones (`us-east-3`, maybe newer
//!   than this build) validates with a warning at its position.

use eksmgr_e2e::check::{ensure, err};
use eksmgr_e2e::estate::{Estate, registry_config};
use eksmgr_e2e::{Eksmgr, Output};

use eksmgr_e2e::R;

/// The 1-based line and column of the first `needle` in `text`.
fn position(text: &str, needle: &str) -> R<(usize, usize)> {
    let at = text
        .find(needle)
        .ok_or_else(|| format!("{needle:?} is not in\n{text}"))?;
    let line = text[..at].matches('\n').count() + 1;
    let column = at - text[..at].rfind('\n').map_or(0, |n| n + 1) + 1;
    Ok((line, column))
}

#[tokio::test(flavor = "multi_thread")]
async fn an_eks_ou_that_does_not_exist_is_reported_at_its_line() -> R {
    const MISSING: &str = "ou-zzzz-zzzzzzzz";
    let estate = Estate::start("eksmgr-e2e-config-errors-ou-", 1)?;
    let config = registry_config(&estate.seed, &[]).replace(&estate.seed.eks_ou_id, MISSING);
    estate.eksmgr.write_config(&config)?;
    let (line, column) = position(&config, &format!("\"{MISSING}\""))?;

    for command in [&["plan"][..], &["apply", "--auto-approve"]] {
        let out: Output = estate.expect(command, 1)?;
        let what = command.join(" ");
        ensure(
            out.stderr
                .contains(&format!("eksmgr.toml:{line}:{column}: error: ")),
            || format!("{what}: the error points at eks_ou_id, line {line} column {column}\n{out}"),
        )?;
        ensure(
            out.stderr
                .contains(&format!("organizational unit {MISSING}"))
                && out.stderr.contains(&estate.seed.management_account_id),
            || {
                format!(
                    "{what}: the error names the OU and the organization's management account\n{out}"
                )
            },
        )?;
        // The AWS call and its answer: AWS says ChildNotFoundException, moto
        // OrganizationalUnitNotFoundException.
        ensure(
            out.stderr.contains("organizations:ListParents")
                && out.stderr.contains("NotFoundException"),
            || format!("{what}: the error names the Organizations call and its answer\n{out}"),
        )?;
        ensure(
            out.stderr
                .contains("set organization.eks_ou_id to the id of the OU")
                && out.stderr.contains("eksmgr init"),
            || format!("{what}: the error says what to do\n{out}"),
        )?;
        ensure(!out.stderr.contains("who the caller is"), || {
            format!("{what}: the caller was found; the error must not say otherwise\n{out}")
        })?;
    }
    // whoami reaches every tier it can and says why the spokes could not be listed.
    let out = estate.expect(&["whoami"], 1)?;
    ensure(
        out.stdout.contains("cannot list the spoke accounts")
            && out
                .stdout
                .contains(&format!("organization.eks_ou_id ({MISSING}) names no OU")),
        || format!("whoami: the spokes' failure names organization.eks_ou_id\n{out}"),
    )?;
    Ok(())
}

/// A configuration with `home_region` and one cluster in `cluster_region`.
fn regions_config(home_region: &str, cluster_region: &str) -> String {
    format!(
        r#"[organization]
eks_ou_id = "ou-ab12-cdef3456"
home_region = "{home_region}"

[hub]
account_id = "222222222222"

[[clusters]]
name = "workloads"
account = "333333333333"
region = "{cluster_region}"
version = "1.31"
subnet_ids = ["subnet-0a1b2c3d4e5f60718", "subnet-0a1b2c3d4e5f60719"]
"#
    )
}

#[test]
fn a_region_no_partition_has_fails_validation_at_its_line() -> R {
    let dir = tempfile::Builder::new()
        .prefix("eksmgr-e2e-config-errors-region-")
        .tempdir()
        .map_err(err("tempdir"))?;
    // Nothing listens on port 9 of the loopback: a command that called AWS would fail there,
    // differently.
    let eksmgr = Eksmgr::new(dir.path(), "http://127.0.0.1:9")?;

    let config = regions_config("us-nowhere-9", "eu-west-1");
    eksmgr.write_config(&config)?;
    let (line, column) = position(&config, "\"us-nowhere-9\"")?;
    for command in [&["validate"][..], &["plan"]] {
        let out = eksmgr.run(command)?;
        let what = command.join(" ");
        ensure(out.code == Some(1), || format!("{what} exits 1\n{out}"))?;
        ensure(
            out.stderr.contains(&format!(
                "eksmgr.toml:{line}:{column}: error: unknown region \"us-nowhere-9\""
            )) && out.stderr.contains("us-west-1"),
            || {
                format!(
                    "{what}: the error is at home_region (line {line}, column {column}) with the closest known regions\n{out}"
                )
            },
        )?;
    }

    // Named like the aws partition's regions: a region newer than this build, maybe.
    let config = regions_config("eu-west-1", "us-east-3");
    eksmgr.write_config(&config)?;
    let (line, column) = position(&config, "\"us-east-3\"")?;
    let out = eksmgr.run(&["validate"])?;
    ensure(out.code == Some(0), || {
        format!("a region newer than this build validates\n{out}")
    })?;
    ensure(
        out.stderr.contains(&format!(
            "eksmgr.toml:{line}:{column}: warning: region \"us-east-3\""
        )),
        || format!("validate warns at the cluster's region (line {line}, column {column})\n{out}"),
    )?;
    Ok(())
}
