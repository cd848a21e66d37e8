//! EC2 instances (`ec2_instance`): the hub agent host. An instance is found by its
//! `eksmgr-instance` tag (among those not terminated), launched with `RunInstances` and the
//! executor's client token (a launch retried after a crash returns the same instance), its
//! metadata options (IMDSv2 required), its instance profile (retried while IAM has not
//! propagated a new profile to EC2) and no key pair. Its security groups, metadata options and
//! tags change in place; the rest replaces it. The image as configured and the user data's
//! SHA-256 are kept as tags, which is how a read reports them.
//! <https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_RunInstances.html>

use async_trait::async_trait;
use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{
    Filter, HttpTokensState, IamInstanceProfileSpecification, Instance,
    InstanceMetadataEndpointState, InstanceMetadataOptionsRequest, InstanceStateName, InstanceType,
    ResourceType, Tag, TagSpecification,
};
use eksmgr_engine::model::{Attrs, ObservedResource, Value};
use eksmgr_engine::provider::{ErrorKind, ProviderError, ReadRequest};
use eksmgr_state::json;

use super::{Create, Cx, Delete, Done, Found, KindProvider, Made, Update};
use crate::error::map;
use crate::network::ctx;
use crate::propagation::Propagation;
use crate::sessions::Ctx;
use crate::{attr_map, attr_str, attr_strings, key};

/// The provider of EC2 instances (`ec2_instance`).
pub struct Ec2Instance;

/// The tag an instance is found by.
const NAME_TAG: &str = "eksmgr-instance";
/// The tag holding the image as configured (an AMI id or `resolve:ssm:...`).
const IMAGE_TAG: &str = "eksmgr-image";
/// The tag holding the SHA-256 of the user data.
const USER_DATA_TAG: &str = "eksmgr-user-data-sha256";
/// Tags eksmgr keeps on the instance for itself, not part of `tags`.
const OWN_TAGS: &[&str] = &[NAME_TAG, IMAGE_TAG, USER_DATA_TAG];

/// How a launch waits for a new instance profile to reach EC2.
const PROPAGATION: Propagation = Propagation::production();

/// How long a termination is waited for, and how often it is looked at.
const TERMINATION: (std::time::Duration, std::time::Duration) = (
    std::time::Duration::from_secs(600),
    std::time::Duration::from_secs(5),
);

/// Every tag to launch with: the wanted ones and eksmgr's own.
fn all_tags(name: &str, attrs: &Attrs) -> Vec<Tag> {
    let mut pairs = attr_map(attrs, "tags");
    pairs.push((NAME_TAG.into(), name.into()));
    if let Some(image) = attr_str(attrs, "image_id") {
        pairs.push((IMAGE_TAG.into(), image.into()));
    }
    if let Some(sha) = attr_str(attrs, "user_data_sha256") {
        pairs.push((USER_DATA_TAG.into(), sha.into()));
    }
    pairs
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

fn metadata(attrs: &Attrs) -> InstanceMetadataOptionsRequest {
    InstanceMetadataOptionsRequest::builder()
        .http_tokens(HttpTokensState::from(
            attr_str(attrs, "metadata_http_tokens").unwrap_or("required"),
        ))
        .http_endpoint(InstanceMetadataEndpointState::Enabled)
        .http_put_response_hop_limit(hop_limit(attrs))
        .build()
}

fn hop_limit(attrs: &Attrs) -> i32 {
    attrs
        .get("metadata_hop_limit")
        .and_then(Value::as_i64)
        .and_then(|n| i32::try_from(n).ok())
        .unwrap_or(1)
}

/// The live (not terminated) instance tagged `name`.
async fn find(x: &Ctx<'_, Client>, name: &str) -> Result<Option<Instance>, ProviderError> {
    let out =
        x.c.describe_instances()
            .filters(
                Filter::builder()
                    .name(format!("tag:{NAME_TAG}"))
                    .values(name)
                    .build(),
            )
            .filters(
                Filter::builder()
                    .name("instance-state-name")
                    .set_values(Some(
                        ["pending", "running", "stopping", "stopped"]
                            .map(String::from)
                            .to_vec(),
                    ))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| map(x.call("ec2:DescribeInstances"), e))?;
    Ok(out
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .next()
        .cloned())
}

fn observe(name: &str, i: &Instance) -> ObservedResource {
    let tag = |k: &str| {
        i.tags()
            .iter()
            .find(|t| t.key() == Some(k))
            .and_then(|t| t.value())
            .map(str::to_string)
    };
    let tags: eksmgr_state::value::Map = i
        .tags()
        .iter()
        .filter(|t| !t.key().is_some_and(|k| OWN_TAGS.contains(&k)))
        .filter_map(|t| Some((t.key()?.to_string(), json!(t.value().unwrap_or_default()))))
        .collect();
    let mut groups: Vec<String> = i
        .security_groups()
        .iter()
        .filter_map(|g| g.group_id().map(str::to_string))
        .collect();
    groups.sort();
    let profile = i
        .iam_instance_profile()
        .and_then(|p| p.arn())
        .and_then(|arn| arn.rsplit('/').next())
        .map_or(Value::Null, |n| json!(n));
    let options = i.metadata_options();
    let mut attrs = Attrs::new();
    attrs.insert("name".into(), json!(name));
    attrs.insert(
        "image_id".into(),
        json!(tag(IMAGE_TAG).unwrap_or_else(|| i.image_id().unwrap_or_default().to_string())),
    );
    attrs.insert(
        "instance_type".into(),
        json!(i.instance_type().map(InstanceType::as_str)),
    );
    attrs.insert("subnet_id".into(), json!(i.subnet_id()));
    attrs.insert("security_group_ids".into(), json!(groups));
    attrs.insert("iam_instance_profile".into(), profile);
    attrs.insert(
        "metadata_http_tokens".into(),
        json!(
            options
                .and_then(|o| o.http_tokens())
                .map(HttpTokensState::as_str)
        ),
    );
    attrs.insert(
        "metadata_hop_limit".into(),
        json!(options.and_then(|o| o.http_put_response_hop_limit())),
    );
    attrs.insert("user_data_sha256".into(), json!(tag(USER_DATA_TAG)));
    attrs.insert("tags".into(), Value::Object(tags));
    attrs.insert("ami".into(), json!(i.image_id()));
    attrs.insert("private_ip".into(), json!(i.private_ip_address()));
    ObservedResource::new(i.instance_id().unwrap_or_default().to_string(), attrs)
}

async fn read_back(x: &Ctx<'_, Client>, name: &str) -> Made {
    let found = find(x, name)
        .await?
        .ok_or_else(|| x.call("ec2:DescribeInstances").vanished("instance"))?;
    Ok(observe(name, &found))
}

#[async_trait]
impl KindProvider for Ec2Instance {
    /// Reads the instance tagged with the name.
    async fn read(&self, cx: &Cx<'_>, req: &ReadRequest<'_>) -> Found {
        let x = ctx(cx.sessions, req.address).await?;
        let name = key(req, "name");
        Ok(find(&x, name).await?.map(|i| observe(name, &i)))
    }

    /// Launches the instance; one already running under the name is adopted.
    async fn create(&self, cx: &Cx<'_>, op: &Create<'_>) -> Made {
        let x = ctx(cx.sessions, op.address).await?;
        let a = op.attrs;
        let name = attr_str(a, "name").unwrap_or(&op.address.name);
        if find(&x, name).await?.is_some() {
            return read_back(&x, name).await;
        }
        let user_data = attr_str(a, "user_data").map(aws_smithy_types::base64::encode);
        let launch = || {
            x.c.run_instances()
                .image_id(attr_str(a, "image_id").unwrap_or_default())
                .instance_type(InstanceType::from(
                    attr_str(a, "instance_type").unwrap_or("t3.medium"),
                ))
                .subnet_id(attr_str(a, "subnet_id").unwrap_or_default())
                .set_security_group_ids(Some(attr_strings(a, "security_group_ids")))
                .iam_instance_profile(
                    IamInstanceProfileSpecification::builder()
                        .name(attr_str(a, "iam_instance_profile").unwrap_or_default())
                        .build(),
                )
                .metadata_options(metadata(a))
                .set_user_data(user_data.clone())
                .min_count(1)
                .max_count(1)
                .set_client_token(op.token.map(str::to_string))
                .tag_specifications(
                    TagSpecification::builder()
                        .resource_type(ResourceType::Instance)
                        .set_tags(Some(all_tags(name, a)))
                        .build(),
                )
                .send()
        };
        crate::propagation::retry(
            PROPAGATION,
            Some((&cx.progress, op.address)),
            "ec2:RunInstances",
            launch,
        )
        .await
        .map_err(|e| map(x.call("ec2:RunInstances"), e))?;
        read_back(&x, name).await
    }

    /// Changes its security groups, metadata options and tags.
    async fn update(&self, cx: &Cx<'_>, op: &Update<'_>) -> Made {
        let x = ctx(cx.sessions, op.address).await?;
        let name = attr_str(op.after, "name").unwrap_or(&op.address.name);
        let has = |n: &str| op.changed.iter().any(|c| c == n);
        if has("security_group_ids") {
            x.c.modify_instance_attribute()
                .instance_id(op.id)
                .set_groups(Some(attr_strings(op.after, "security_group_ids")))
                .send()
                .await
                .map_err(|e| map(x.call("ec2:ModifyInstanceAttribute"), e))?;
        }
        if has("metadata_http_tokens") || has("metadata_hop_limit") {
            x.c.modify_instance_metadata_options()
                .instance_id(op.id)
                .http_tokens(HttpTokensState::from(
                    attr_str(op.after, "metadata_http_tokens").unwrap_or("required"),
                ))
                .http_put_response_hop_limit(hop_limit(op.after))
                .send()
                .await
                .map_err(|e| map(x.call("ec2:ModifyInstanceMetadataOptions"), e))?;
        }
        if has("tags") {
            let present = attr_map(op.before, "tags").into_iter().map(|(k, _)| k);
            let wanted: Vec<Tag> = attr_map(op.after, "tags")
                .into_iter()
                .map(|(k, v)| Tag::builder().key(k).value(v).build())
                .collect();
            let untag = |keys: Vec<String>| {
                x.c.delete_tags()
                    .resources(op.id)
                    .set_tags(Some(
                        keys.into_iter()
                            .map(|k| Tag::builder().key(k).build())
                            .collect(),
                    ))
                    .send()
            };
            let tag = || {
                x.c.create_tags()
                    .resources(op.id)
                    .set_tags(Some(wanted))
                    .send()
            };
            crate::sync_tags(
                present,
                op.before,
                op.after,
                (x.call("ec2:DeleteTags"), untag),
                (x.call("ec2:CreateTags"), tag),
            )
            .await?;
        }
        read_back(&x, name).await
    }

    /// Terminates it and waits until it is gone; already gone is fine.
    async fn delete(&self, cx: &Cx<'_>, op: &Delete<'_>) -> Done {
        let x = ctx(cx.sessions, op.address).await?;
        let name = attr_str(op.before, "name").unwrap_or(&op.address.name);
        let Some(found) = find(&x, name).await? else {
            return Ok(());
        };
        let id = found.instance_id().unwrap_or(op.id).to_string();
        x.c.terminate_instances()
            .instance_ids(&id)
            .send()
            .await
            .map_err(|e| map(x.call("ec2:TerminateInstances"), e))?;
        let (limit, every) = TERMINATION;
        let started = tokio::time::Instant::now();
        loop {
            let now =
                x.c.describe_instances()
                    .instance_ids(&id)
                    .send()
                    .await
                    .map_err(|e| map(x.call("ec2:DescribeInstances"), e))?;
            let state = now
                .reservations()
                .iter()
                .flat_map(|r| r.instances())
                .find_map(|i| i.state().and_then(|s| s.name()).cloned());
            if matches!(state, None | Some(InstanceStateName::Terminated)) {
                return Ok(());
            }
            if started.elapsed() >= limit {
                return Err(x.call("ec2:TerminateInstances").error(
                    ErrorKind::Transient,
                    format!(
                        "instance {id} is still {state:?} after {}s",
                        limit.as_secs()
                    ),
                    Some("run `eksmgr apply` again to keep waiting"),
                ));
            }
            (cx.progress)(
                op.address,
                &format!("waiting for instance {id} to terminate"),
            );
            tokio::time::sleep(every).await;
        }
    }
}
