//! Amazon ECR: hub repositories (`ecr_repository`) with their tag mutability, scan-on-push
//! setting, repository policy and tags. Repositories are found by name (which may contain
//! `/`); a repository that exists but is missing from state is adopted.
//!
//! The `policy` attribute is a JSON object, or JSON `null` for "no repository policy": reads
//! report `null` when the repository has none, and writes delete the policy for `null`.

use aws_sdk_ecr::Client;
use aws_sdk_ecr::types::{ImageScanningConfiguration, ImageTagMutability, Repository, Tag};
use eksmgr_engine::model::Value;
use eksmgr_engine::model::{Attrs, ObservedResource};
use eksmgr_engine::policy;
use eksmgr_engine::provider::{ErrorKind, ProviderError, ReadRequest};
use eksmgr_state::ResourceAddress;
use eksmgr_state::json;

use super::{Create, Cx, Delete, Done, Found, KindProvider, Made, Update};
use crate::error::{Call, code, map};
use crate::propagation::Propagation;
use crate::sessions::Ctx;
use crate::{attr_map, attr_str, key};
use async_trait::async_trait;

/// The provider of ECR repositories (`ecr_repository`).
pub struct EcrRepository;

crate::service_client!(aws_sdk_ecr, "ecr");

/// How `SetRepositoryPolicy` waits for a principal it names to become visible to ECR.
const PROPAGATION: Propagation = Propagation::production();

/// Sets repository `name`'s policy through `c`, retrying while ECR cannot see a principal the
/// policy names yet (a role created moments before: "Principal not found"), as `wait` says.
pub async fn set_policy_with_client(
    c: &Client,
    call: Call<'_>,
    name: &str,
    doc: &str,
    wait: Propagation,
) -> Result<(), ProviderError> {
    crate::propagation::retry(wait, None, call.api, || {
        c.set_repository_policy()
            .repository_name(name)
            .policy_text(doc)
            .send()
    })
    .await
    .map(|_| ())
    .map_err(|e| map(call, e))
}

/// The repository name: the `name` attribute, else the address name.
fn name_of<'a>(attrs: &'a Attrs, address: &'a ResourceAddress) -> &'a str {
    attr_str(attrs, "name").unwrap_or(&address.name)
}

/// The policy document to set, or `None` for "no repository policy".
fn policy_text(attrs: &Attrs) -> Option<String> {
    match attrs.get("policy") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.to_string()),
        Some(v) => serde_json::to_string(v).ok(),
    }
}

fn mutability(attrs: &Attrs) -> ImageTagMutability {
    ImageTagMutability::from(attr_str(attrs, "image_tag_mutability").unwrap_or("MUTABLE"))
}

fn scanning(attrs: &Attrs) -> ImageScanningConfiguration {
    ImageScanningConfiguration::builder()
        .scan_on_push(
            attrs
                .get("scan_on_push")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        )
        .build()
}

fn tags(attrs: &Attrs) -> Vec<Tag> {
    attr_map(attrs, "tags")
        .into_iter()
        .filter_map(|(k, v)| Tag::builder().key(k).value(v).build().ok())
        .collect()
}

async fn describe(x: &Ctx<'_, Client>, name: &str) -> Result<Option<Repository>, ProviderError> {
    match x
        .c
        .describe_repositories()
        .repository_names(name)
        .send()
        .await
    {
        Ok(o) => Ok(o
            .repositories()
            .iter()
            .find(|r| r.repository_name() == Some(name))
            .cloned()),
        Err(e) if code(&e) == Some("RepositoryNotFoundException") => Ok(None),
        Err(e) => Err(map(x.call("ecr:DescribeRepositories"), e)),
    }
}

async fn list_tags(
    x: &Ctx<'_, Client>,
    arn: &str,
) -> Result<eksmgr_state::value::Map, ProviderError> {
    let out =
        x.c.list_tags_for_resource()
            .resource_arn(arn)
            .send()
            .await
            .map_err(|e| map(x.call("ecr:ListTagsForResource"), e))?;
    Ok(out
        .tags()
        .iter()
        .map(|t| (t.key().to_string(), json!(t.value())))
        .collect())
}

async fn get(x: &Ctx<'_, Client>, name: &str) -> Result<Option<ObservedResource>, ProviderError> {
    let Some(repo) = describe(x, name).await? else {
        return Ok(None);
    };
    let policy = match x
        .c
        .get_repository_policy()
        .repository_name(name)
        .send()
        .await
    {
        Ok(o) => o
            .policy_text()
            .map(|t| policy::parse_str(t).unwrap_or_else(|_| Value::from(t)))
            .unwrap_or(Value::Null),
        Err(e) if code(&e) == Some("RepositoryPolicyNotFoundException") => Value::Null,
        // The repository went away between the two calls.
        Err(e) if code(&e) == Some("RepositoryNotFoundException") => return Ok(None),
        Err(e) => return Err(map(x.call("ecr:GetRepositoryPolicy"), e)),
    };
    let arn = repo.repository_arn().unwrap_or_default();
    let tags = if arn.is_empty() {
        eksmgr_state::value::Map::new()
    } else {
        list_tags(x, arn).await?
    };
    let mut attrs = Attrs::new();
    attrs.insert("name".into(), json!(name));
    attrs.insert(
        "image_tag_mutability".into(),
        json!(
            repo.image_tag_mutability()
                .map(ImageTagMutability::as_str)
                .unwrap_or("MUTABLE")
        ),
    );
    attrs.insert(
        "scan_on_push".into(),
        json!(
            repo.image_scanning_configuration()
                .is_some_and(ImageScanningConfiguration::scan_on_push)
        ),
    );
    attrs.insert("policy".into(), policy);
    attrs.insert("tags".into(), Value::Object(tags));
    attrs.insert("arn".into(), json!(arn));
    attrs.insert(
        "registry_id".into(),
        json!(repo.registry_id().unwrap_or_default()),
    );
    attrs.insert(
        "uri".into(),
        json!(repo.repository_uri().unwrap_or_default()),
    );
    Ok(Some(ObservedResource::new(name.to_string(), attrs)))
}

async fn read_back(x: &Ctx<'_, Client>, name: &str) -> Result<ObservedResource, ProviderError> {
    get(x, name)
        .await?
        .ok_or_else(|| x.call("ecr:DescribeRepositories").vanished("repository"))
}

/// Applies the `changed` attributes of `after` to repository `name`, then reads it back.
async fn sync(
    x: &Ctx<'_, Client>,
    name: &str,
    before: &Attrs,
    after: &Attrs,
    changed: &[String],
) -> Result<ObservedResource, ProviderError> {
    let has = |n: &str| changed.iter().any(|c| c == n);
    if has("image_tag_mutability") {
        x.c.put_image_tag_mutability()
            .repository_name(name)
            .image_tag_mutability(mutability(after))
            .send()
            .await
            .map_err(|e| map(x.call("ecr:PutImageTagMutability"), e))?;
    }
    if has("scan_on_push") {
        x.c.put_image_scanning_configuration()
            .repository_name(name)
            .image_scanning_configuration(scanning(after))
            .send()
            .await
            .map_err(|e| map(x.call("ecr:PutImageScanningConfiguration"), e))?;
    }
    if has("policy") {
        match policy_text(after) {
            Some(doc) => {
                set_policy_with_client(
                    &x.c,
                    x.call("ecr:SetRepositoryPolicy"),
                    name,
                    &doc,
                    PROPAGATION,
                )
                .await?;
            }
            None => match x
                .c
                .delete_repository_policy()
                .repository_name(name)
                .send()
                .await
            {
                Ok(_) => {}
                Err(e) if code(&e) == Some("RepositoryPolicyNotFoundException") => {}
                Err(e) => return Err(map(x.call("ecr:DeleteRepositoryPolicy"), e)),
            },
        }
    }
    if has("tags") {
        let Some(repo) = describe(x, name).await? else {
            return read_back(x, name).await;
        };
        let arn = repo.repository_arn().unwrap_or_default();
        let present = list_tags(x, arn)
            .await?
            .into_iter()
            .map(|(k, _)| String::from(k));
        let untag = |keys| {
            x.c.untag_resource()
                .resource_arn(arn)
                .set_tag_keys(Some(keys))
                .send()
        };
        let tag = || {
            x.c.tag_resource()
                .resource_arn(arn)
                .set_tags(Some(tags(after)))
                .send()
        };
        crate::sync_tags(
            present,
            before,
            after,
            (x.call("ecr:UntagResource"), untag),
            (x.call("ecr:TagResource"), tag),
        )
        .await?;
    }
    read_back(x, name).await
}

#[async_trait]
impl KindProvider for EcrRepository {
    /// Reads a repository by name.
    async fn read(&self, cx: &Cx<'_>, req: &ReadRequest<'_>) -> Found {
        let s = cx.sessions;
        let x = ctx(s, req.address).await?;
        get(&x, key(req, "name")).await
    }

    /// Creates a repository with its policy; one that exists already is adopted and updated.
    async fn create(&self, cx: &Cx<'_>, op: &Create<'_>) -> Made {
        let (address, attrs) = (op.address, op.attrs);
        let s = cx.sessions;
        let x = ctx(s, address).await?;
        let name = name_of(attrs, address);
        let created =
            x.c.create_repository()
                .repository_name(name)
                .image_tag_mutability(mutability(attrs))
                .image_scanning_configuration(scanning(attrs))
                .set_tags(Some(tags(attrs)).filter(|t| !t.is_empty()))
                .send()
                .await;
        match created {
            Ok(_) => {}
            Err(e) if code(&e) == Some("RepositoryAlreadyExistsException") => {
                let all: Vec<String> = attrs.keys().map(ToString::to_string).collect();
                return sync(&x, name, &Attrs::new(), attrs, &all).await;
            }
            Err(e) => return Err(map(x.call("ecr:CreateRepository"), e)),
        }
        if let Some(doc) = policy_text(attrs) {
            set_policy_with_client(
                &x.c,
                x.call("ecr:SetRepositoryPolicy"),
                name,
                &doc,
                PROPAGATION,
            )
            .await?;
        }
        read_back(&x, name).await
    }

    /// Updates the changed attributes of a repository.
    async fn update(&self, cx: &Cx<'_>, op: &Update<'_>) -> Made {
        let (address, before, after, changed) = (op.address, op.before, op.after, op.changed);
        let s = cx.sessions;
        let x = ctx(s, address).await?;
        sync(&x, name_of(after, address), before, after, changed).await
    }

    /// Deletes a repository (never its images: a repository holding images is an error).
    async fn delete(&self, cx: &Cx<'_>, op: &Delete<'_>) -> Done {
        let address = op.address;
        let s = cx.sessions;
        let x = ctx(s, address).await?;
        let name = address.name.as_str();
        match x
            .c
            .delete_repository()
            .repository_name(name)
            .force(false)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if code(&e) == Some("RepositoryNotFoundException") => Ok(()),
            Err(e) if code(&e) == Some("RepositoryNotEmptyException") => {
                let mut err = map(x.call("ecr:DeleteRepository"), e);
                err.kind = ErrorKind::Conflict;
                err.hint = Some(format!(
                    "repository {name} still holds images and eksmgr never deletes images; remove them \
                     first (`aws ecr list-images --repository-name {name}` then \
                     `aws ecr batch-delete-image --repository-name {name} --image-ids ...`, \
                     or `aws ecr delete-repository --repository-name {name} --force`), then run \
                     `eksmgr apply` again"
                ));
                Err(err)
            }
            Err(e) => Err(map(x.call("ecr:DeleteRepository"), e)),
        }
    }
}
