//! End-to-end test of `plan --format markdown` through the real binary against moto: a
//! resource edited out of band shows in the comment's drift details, with the per-account
//! table, and the exit codes are those of the human plan.

use eksmgr_e2e::assume;
use eksmgr_e2e::check::{ensure, sdk_err};
use eksmgr_e2e::estate::Estate;

use eksmgr_e2e::R;

#[tokio::test(flavor = "multi_thread")]
async fn drift_shows_in_the_markdown_plan() -> R {
    let estate = Estate::start("eksmgr-e2e-markdown-", 1)?;
    let (moto, eksmgr, hub) = (&estate.moto, &estate.eksmgr, estate.hub());
    let first = eksmgr.run(&["plan", "--format", "markdown", "--detailed-exitcode"])?;
    ensure(first.code == Some(2), || {
        format!("changes: exit 2\n{first}")
    })?;
    ensure(
        first.stdout.starts_with("### eksmgr plan")
            && first.stdout.contains("**changes the SCP**")
            && first.stdout.contains("<details>"),
        || format!("a first plan labels the SCP change\n{first}"),
    )?;
    let applied = eksmgr.run(&["apply", "--auto-approve"])?;
    ensure(applied.code == Some(0), || format!("{applied}"))?;

    // Out of band: the repository's tags become mutable.
    let ecr = aws_sdk_ecr::Client::new(
        &assume(moto.endpoint(), hub, "OrganizationAccountAccessRole").await?,
    );
    ecr.put_image_tag_mutability()
        .repository_name("platform/api")
        .image_tag_mutability(aws_sdk_ecr::types::ImageTagMutability::Immutable)
        .send()
        .await
        .map_err(sdk_err("PutImageTagMutability"))?;
    let md = eksmgr.run(&["plan", "--format", "markdown", "--detailed-exitcode"])?;
    ensure(md.code == Some(2), || {
        format!("drift to undo: exit 2\n{md}")
    })?;
    let addr = format!("ecr_repository.platform/api[{hub}/us-east-1]");
    ensure(
        md.stdout.contains(&format!(
            "<summary>Drift: `{addr}` changed outside eksmgr</summary>"
        )) && md
            .stdout
            .contains("~ image_tag_mutability: \"MUTABLE\" -> \"IMMUTABLE\"")
            && md
                .stdout
                .contains(&format!("| {hub} | 0 | 1 | 0 | 0 | 1 |")),
        || format!("the drift is in the comment, attribute by attribute\n{md}"),
    )?;
    Ok(())
}
