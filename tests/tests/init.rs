//! End-to-end tests of `eksmgr init`, `eksmgr whoami` and the global `--profile` and
//! `--region` flags: the real binary against moto, with an organization seeded with an `eks`
//! OU of two spokes (plus, here, an OU nested in it) and a `shared` OU holding the hub.
//!
//! * init writes a file that `eksmgr validate` accepts and `eksmgr plan` runs on, finding the
//!   OU's accounts as spokes; it refuses to overwrite a file without `--force`; without a
//!   terminal and without the flags it fails and lists the choices;
//! * whoami prints every tier, and a spoke whose admin role cannot be assumed (moto lets every
//!   AssumeRole succeed, so a proxy in front of it answers `AccessDenied` for that spoke) is
//!   reported alone, with a hint, the other tiers still shown;
//! * `--profile` takes the credentials of a named profile (here one that assumes a role in the
//!   hub), over the access keys in the environment;
//! * whoami tells an endpoint it cannot reach (a closed port of the loopback) from credentials
//!   STS rejects (the proxy answers `InvalidClientTokenId` to a key, as STS does to a key it
//!   does not know): each failure has its own hint, and the tiers not tried say why.

use std::time::Duration;

use eksmgr_e2e::check::{ensure, err, sdk_err};
use eksmgr_e2e::estate::Estate;
use eksmgr_e2e::proxy::Proxy;
use eksmgr_e2e::{Eksmgr, MotoServer, Output, sdk_config};
use serde_json::Value;

use eksmgr_e2e::R;

/// The name of the OU the tests nest under the `eks` OU.
const NESTED_OU: &str = "sandbox";

/// The spoke lines of a whoami report say where the admin role was assumed.
const SPOKE_ADMIN_ROLE: &str = "EKSManagerAdmin";

/// A config with spoke discovery on (the estate's own turns it off).
fn discovering_config(estate: &Estate) -> String {
    format!(
        "[organization]\neks_ou_id = \"{}\"\n\n[hub]\naccount_id = \"{}\"\n",
        estate.seed.eks_ou_id, estate.seed.hub_account_id
    )
}

/// Adds an OU named [`NESTED_OU`] under the `eks` OU with one account in it; returns (OU id,
/// account id).
async fn nest_an_ou(estate: &Estate) -> R<(String, String)> {
    let org = aws_sdk_organizations::Client::new(&sdk_config(estate.moto.endpoint()));
    let ou = org
        .create_organizational_unit()
        .parent_id(&estate.seed.eks_ou_id)
        .name(NESTED_OU)
        .send()
        .await
        .map_err(sdk_err("organizations:CreateOrganizationalUnit"))?;
    let ou_id = ou
        .organizational_unit()
        .and_then(|u| u.id())
        .ok_or("CreateOrganizationalUnit returned no id")?
        .to_string();
    let created = org
        .create_account()
        .account_name("play")
        .email("play@example.com")
        .send()
        .await
        .map_err(sdk_err("organizations:CreateAccount"))?;
    let account = created
        .create_account_status()
        .and_then(|s| s.account_id())
        .ok_or("CreateAccount returned no account id")?
        .to_string();
    org.move_account()
        .account_id(&account)
        .source_parent_id(&estate.seed.root_id)
        .destination_parent_id(&ou_id)
        .send()
        .await
        .map_err(sdk_err("organizations:MoveAccount"))?;
    Ok((ou_id, account))
}

fn contains_all(text: &str, needles: &[&str], what: &str, out: &Output) -> R {
    for n in needles {
        ensure(text.contains(n), || {
            format!("{what} should contain {n:?}\n{out}")
        })?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn init_writes_a_config_that_validates_and_plans() -> R {
    let estate = Estate::start("eksmgr-e2e-init-", 2)?;
    let (nested_ou, nested_account) = nest_an_ou(&estate).await?;
    let seed = &estate.seed;
    let out = estate.path("new/eksmgr.toml");

    let written = estate.expect(
        &[
            "init",
            "--eks-ou",
            "eks",
            "--hub-account",
            &seed.hub_account_id,
            "--region",
            "eu-west-1",
            "--out",
            &out,
        ],
        0,
    )?;
    let text = std::fs::read_to_string(&out).map_err(err(format!("read {out}")))?;
    let mut needles = vec![
        format!("eks_ou_id = \"{}\"", seed.eks_ou_id),
        format!("account_id = \"{}\"", seed.hub_account_id),
        format!("management_account_id = \"{}\"", seed.management_account_id),
        "home_region = \"eu-west-1\"".to_string(),
        "include_nested_ous = false".to_string(),
        "# [[clusters]]".to_string(),
        format!("/eks/{NESTED_OU}"),
        nested_ou.clone(),
        nested_account.clone(),
        seed.shared_ou_id.clone(),
    ];
    needles.extend(seed.spoke_account_ids.iter().cloned());
    let needles: Vec<&str> = needles.iter().map(String::as_str).collect();
    contains_all(&text, &needles, "the written file", &written)?;
    contains_all(
        &written.stdout,
        &["Wrote", "eksmgr -c", "eksmgr.schema.json"],
        "init's stdout",
        &written,
    )?;
    // Editor support from the first minute: the schema beside the file, named by its first line.
    ensure(text.starts_with("#:schema ./eksmgr.schema.json\n"), || {
        format!("the file names its schema first:\n{text}")
    })?;
    let schema = std::fs::read_to_string(estate.path("new/eksmgr.schema.json"))
        .map_err(err("read new/eksmgr.schema.json"))?;
    let printed = estate.expect(&["schema"], 0)?;
    ensure(schema == printed.stdout, || {
        "init writes the schema `eksmgr schema` prints".to_owned()
    })?;

    let config_flag = ["-c", out.as_str()];
    let valid = estate.expect(&[&config_flag[..], &["validate"]].concat(), 0)?;
    contains_all(&valid.stdout, &["is valid"], "validate's stdout", &valid)?;

    let plan = estate
        .eksmgr
        .run(&[&config_flag[..], &["plan", "--detailed-exitcode"]].concat())?;
    ensure(matches!(plan.code, Some(0 | 2)), || {
        format!(
            "the plan of the written file should run (exit 0 or 2)\n{plan}\n--- moto log ---\n{}",
            estate.moto.log_tail()
        )
    })?;
    let spokes_line = plan
        .stderr
        .lines()
        .find(|l| l.starts_with("Spokes:"))
        .unwrap_or_default();
    let mut spokes = vec!["2 account(s)", seed.eks_ou_id.as_str()];
    spokes.extend(seed.spoke_account_ids.iter().map(String::as_str));
    contains_all(spokes_line, &spokes, "the plan's Spokes line", &plan)?;
    ensure(!spokes_line.contains(&nested_account), || {
        format!("the nested OU's account is no spoke without include_nested_ous\n{plan}")
    })?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn init_refuses_to_overwrite_without_force() -> R {
    let estate = Estate::start("eksmgr-e2e-init-force-", 1)?;
    let seed = &estate.seed;
    let existing = estate.eksmgr.config_path();
    let before = std::fs::read_to_string(&existing).map_err(err("read eksmgr.toml"))?;
    let args = [
        "init",
        "--eks-ou",
        seed.eks_ou_id.as_str(),
        "--hub-account",
        seed.hub_account_id.as_str(),
    ];
    let refused = estate.expect(&args, 1)?;
    contains_all(
        &refused.stderr,
        &["eksmgr.toml exists already", "--force"],
        "the refusal",
        &refused,
    )?;
    let after = std::fs::read_to_string(&existing).map_err(err("read eksmgr.toml"))?;
    ensure(after == before, || {
        format!("eksmgr.toml changed without --force\n{refused}")
    })?;

    estate.expect(&[&args[..], &["--force"]].concat(), 0)?;
    let forced = std::fs::read_to_string(&existing).map_err(err("read eksmgr.toml"))?;
    ensure(forced.contains("written by `eksmgr init`"), || {
        format!("--force should overwrite eksmgr.toml:\n{forced}")
    })?;
    estate.expect(&["validate"], 0)?;
    let leftovers: Vec<String> = std::fs::read_dir(estate.dir.path())
        .map_err(err("read the work directory"))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".init-"))
        .collect();
    ensure(leftovers.is_empty(), || {
        format!("temporary files left: {leftovers:?}")
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn init_without_a_terminal_or_flags_lists_the_choices() -> R {
    let estate = Estate::start("eksmgr-e2e-init-choices-", 2)?;
    let seed = &estate.seed;
    let out = estate.path("choices.toml");

    let failed = estate.expect(&["init", "--out", &out], 1)?;
    let mut needles = vec![
        "--eks-ou OU_ID_OR_NAME",
        "--hub-account ID",
        "/eks",
        "/shared",
        seed.eks_ou_id.as_str(),
        seed.shared_ou_id.as_str(),
        seed.hub_account_id.as_str(),
        "e.g. eksmgr init --eks-ou",
    ];
    needles.extend(seed.spoke_account_ids.iter().map(String::as_str));
    contains_all(&failed.stderr, &needles, "the error", &failed)?;
    ensure(!std::path::Path::new(&out).exists(), || {
        format!("nothing should be written\n{failed}")
    })?;

    // Only the hub given: only the OU is asked for.
    let half = estate.expect(
        &["init", "--hub-account", &seed.hub_account_id, "--out", &out],
        1,
    )?;
    ensure(
        half.stderr.contains("--eks-ou") && !half.stderr.contains("--hub-account ID,"),
        || format!("only --eks-ou should be missing\n{half}"),
    )?;

    // A wrong OU is named with the choices.
    let wrong = estate.expect(
        &[
            "init",
            "--eks-ou",
            "no-such-ou",
            "--hub-account",
            &seed.hub_account_id,
            "--out",
            &out,
        ],
        1,
    )?;
    contains_all(
        &wrong.stderr,
        &["--eks-ou no-such-ou", seed.eks_ou_id.as_str()],
        "the error",
        &wrong,
    )?;
    ensure(!std::path::Path::new(&out).exists(), || {
        format!("nothing should be written\n{wrong}")
    })
}

/// The tiers of `whoami --json`, by tier and account: (tier, account, status, arn or error).
fn tiers(out: &Output) -> R<Vec<(String, String, String, String)>> {
    let doc: Value =
        serde_json::from_str(&out.stdout).map_err(err(format!("whoami --json\n{out}")))?;
    let tiers = doc["tiers"]
        .as_array()
        .ok_or_else(|| format!("no tiers\n{out}"))?;
    Ok(tiers
        .iter()
        .map(|t| {
            let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
            let detail = if t["status"] == "ok" {
                s(&t["identity"]["arn"])
            } else {
                format!("{} {}", s(&t["error"]["message"]), s(&t["error"]["hint"]))
            };
            (s(&t["tier"]), s(&t["account"]), s(&t["status"]), detail)
        })
        .collect())
}

#[tokio::test(flavor = "multi_thread")]
async fn whoami_shows_every_tier_and_an_unreachable_spoke_alone() -> R {
    let estate = Estate::start("eksmgr-e2e-whoami-", 2)?;
    estate.eksmgr.write_config(&discovering_config(&estate))?;
    let seed = &estate.seed;
    let (hub, spoke1, spoke2) = (
        seed.hub_account_id.as_str(),
        seed.spoke_account_ids[0].as_str(),
        seed.spoke_account_ids[1].as_str(),
    );

    let all = estate.expect(&["whoami"], 0)?;
    let caller = format!(":{}:", seed.management_account_id);
    let hub_access = format!("arn:aws:sts::{hub}:assumed-role/OrganizationAccountAccessRole/");
    let hub_agent = format!("arn:aws:sts::{hub}:assumed-role/EKSManagerAgentRole/");
    let s1 = format!("arn:aws:sts::{spoke1}:assumed-role/{SPOKE_ADMIN_ROLE}/");
    let s2 = format!("arn:aws:sts::{spoke2}:assumed-role/{SPOKE_ADMIN_ROLE}/");
    contains_all(
        &all.stdout,
        &[
            "caller",
            "management",
            caller.as_str(),
            "hub agent",
            hub_access.as_str(),
            hub_agent.as_str(),
            "spokes: 2 account(s)",
            s1.as_str(),
            s2.as_str(),
        ],
        "whoami",
        &all,
    )?;

    // moto lets every AssumeRole succeed: a proxy refuses spoke 1's.
    let proxy = Proxy::start(estate.moto.endpoint())?;
    proxy.deny_assume_role(spoke1);
    let via_proxy =
        Eksmgr::new(estate.dir.path(), proxy.endpoint())?.timeout(Duration::from_secs(120));
    let denied = via_proxy.run(&["whoami"])?;
    ensure(denied.code == Some(1), || {
        format!("whoami should exit 1 when a spoke cannot be reached\n{denied}")
    })?;
    contains_all(
        &denied.stdout,
        &[
            hub_agent.as_str(),
            s2.as_str(),
            "FAILED",
            "sts:AssumeRole",
            "AccessDenied",
            "hint:",
        ],
        "whoami with a refused spoke",
        &denied,
    )?;

    let json = via_proxy.run(&["whoami", "--json"])?;
    ensure(json.code == Some(1), || format!("exit 1\n{json}"))?;
    let tiers = tiers(&json)?;
    let status = |tier: &str, account: &str| {
        tiers
            .iter()
            .find(|t| t.0 == tier && t.1 == account)
            .map(|t| (t.2.clone(), t.3.clone()))
            .unwrap_or_default()
    };
    for (tier, account) in [
        ("caller", seed.management_account_id.as_str()),
        ("management", seed.management_account_id.as_str()),
        ("hub", hub),
        ("hub_agent", hub),
        ("spoke", spoke2),
    ] {
        ensure(status(tier, account).0 == "ok", || {
            format!("{tier} {account} should be ok: {tiers:?}")
        })?;
    }
    let (s, detail) = status("spoke", spoke1);
    ensure(
        s == "failed" && detail.contains("AccessDenied") && detail.contains(SPOKE_ADMIN_ROLE),
        || format!("spoke {spoke1} should fail with AccessDenied and a hint: {tiers:?}"),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn profile_credentials_win_over_the_environment() -> R {
    let estate = Estate::start("eksmgr-e2e-profile-", 1)?;
    let hub = estate.seed.hub_account_id.clone();
    let credentials = estate.eksmgr.write_file(
        "aws/credentials",
        "[base]\naws_access_key_id = testing\naws_secret_access_key = testing\n",
    )?;
    let config = estate.eksmgr.write_file(
        "aws/config",
        &format!(
            "[profile hub-admin]\nrole_arn = arn:aws:iam::{hub}:role/OrganizationAccountAccessRole\nsource_profile = base\nregion = us-east-1\n"
        ),
    )?;
    let eksmgr = estate
        .eksmgr
        .clone()
        .env("AWS_CONFIG_FILE", config.display().to_string())
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            credentials.display().to_string(),
        );

    // The environment's keys are the management account's; the profile assumes a hub role.
    let out = eksmgr.run(&["whoami", "--json", "--profile", "hub-admin"])?;
    let tiers = tiers(&out)?;
    let caller = tiers
        .iter()
        .find(|t| t.0 == "caller")
        .ok_or_else(|| format!("no caller tier\n{out}"))?;
    let expected = format!("arn:aws:sts::{hub}:assumed-role/OrganizationAccountAccessRole/");
    ensure(caller.2 == "ok" && caller.3.starts_with(&expected), || {
        format!("the caller should be the profile's role in the hub, {expected}...\n{out}")
    })?;

    // An unknown profile: the caller tier fails with a hint, the others are not tried.
    let missing = eksmgr.run(&["whoami", "--profile", "no-such-profile"])?;
    ensure(missing.code == Some(1), || format!("exit 1\n{missing}"))?;
    contains_all(
        &missing.stdout,
        &[
            "caller",
            "FAILED",
            "no-such-profile",
            "hint:",
            "--profile",
            "skipped",
        ],
        "whoami with an unknown profile",
        &missing,
    )
}

/// A configuration whoami can start from (no AWS call is needed to read it).
const WHOAMI_CONFIG: &str =
    "[organization]\neks_ou_id = \"ou-ab12-cdef3456\"\n\n[hub]\naccount_id = \"222222222222\"\n";

#[tokio::test(flavor = "multi_thread")]
async fn whoami_tells_an_unreachable_endpoint_from_rejected_credentials() -> R {
    let dir = tempfile::Builder::new()
        .prefix("eksmgr-e2e-whoami-failures-")
        .tempdir()
        .map_err(err("tempdir"))?;

    // A port of the loopback nothing listens on any more: the connection is refused.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(err("bind"))?;
        let port = listener.local_addr().map_err(err("local address"))?.port();
        format!("http://127.0.0.1:{port}")
    };
    let unreachable = Eksmgr::new(dir.path(), &closed)?.timeout(Duration::from_secs(120));
    unreachable.write_config(WHOAMI_CONFIG)?;
    let out = unreachable.run(&["whoami"])?;
    ensure(out.code == Some(1), || format!("exit 1\n{out}"))?;
    contains_all(
        &out.stdout,
        &[
            "sts:GetCallerIdentity failed",
            &format!("hint: cannot reach {closed}: check the network"),
            "AWS_ENDPOINT_URL",
            "not tried: AWS could not be reached",
        ],
        "whoami against a closed port",
        &out,
    )?;
    ensure(!out.stdout.contains("credentials"), || {
        format!("a network failure is not blamed on the credentials\n{out}")
    })?;

    // STS refusing the key (the test proxy answers for it, as STS does for a key it does not
    // know).
    let moto = MotoServer::start()?;
    let proxy = Proxy::start(moto.endpoint())?;
    proxy.reject_credentials("AKIAEKSMGRREJECTED01");
    let rejected = Eksmgr::new(dir.path(), proxy.endpoint())?
        .timeout(Duration::from_secs(120))
        .env("AWS_ACCESS_KEY_ID", "AKIAEKSMGRREJECTED01");
    let out = rejected.run(&["whoami"])?;
    ensure(out.code == Some(1), || format!("exit 1\n{out}"))?;
    contains_all(
        &out.stdout,
        &[
            "InvalidClientTokenId",
            &format!(
                "hint: credentials rejected by {} (InvalidClientTokenId)",
                proxy.endpoint()
            ),
            "AWS_PROFILE",
            "aws sso login",
            "not tried: the caller's credentials do not work",
        ],
        "whoami with credentials STS rejects",
        &out,
    )?;
    ensure(!out.stdout.contains("cannot reach"), || {
        format!("rejected credentials are not blamed on the network\n{out}")
    })?;
    Ok(())
}
