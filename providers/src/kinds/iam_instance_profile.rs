//! IAM instance profiles (`iam_instance_profile`): found by name; created with their tags and
//! their one role; the role changes in place (the old one removed, the new one added); deleted
//! after their role is removed (IAM refuses to delete a profile that holds one).
//! <https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_use_switch-role-ec2_instance-profiles.html>

use async_trait::async_trait;
use aws_sdk_iam::Client;
use aws_sdk_iam::types::Tag;
use eksmgr_engine::model::{Attrs, ObservedResource, Value};
use eksmgr_engine::provider::ProviderError;
use eksmgr_state::json;

use super::iam_role::ctx;
use super::{Create, Cx, Delete, Done, Found, KindProvider, Made, Update};
use crate::error::{code, map};
use crate::sessions::Ctx;
use crate::{attr_map, attr_str, key};

/// The provider of instance profiles (`iam_instance_profile`).
pub struct IamInstanceProfile;

fn tags(attrs: &Attrs) -> Vec<Tag> {
    attr_map(attrs, "tags")
        .into_iter()
        .filter_map(|(k, v)| Tag::builder().key(k).value(v).build().ok())
        .collect()
}

async fn get(x: &Ctx<'_, Client>, name: &str) -> Result<Option<ObservedResource>, ProviderError> {
    let out = match x
        .c
        .get_instance_profile()
        .instance_profile_name(name)
        .send()
        .await
    {
        Ok(o) => o,
        Err(e) if code(&e) == Some("NoSuchEntity") => return Ok(None),
        Err(e) => return Err(map(x.call("iam:GetInstanceProfile"), e)),
    };
    let Some(p) = out.instance_profile() else {
        return Ok(None);
    };
    let role = p
        .roles()
        .first()
        .map_or(Value::Null, |r| json!(r.role_name()));
    let tags: eksmgr_state::value::Map = p
        .tags()
        .iter()
        .map(|t| (t.key().to_string(), json!(t.value())))
        .collect();
    let mut attrs = Attrs::new();
    attrs.insert("name".into(), json!(p.instance_profile_name()));
    attrs.insert("path".into(), json!(p.path()));
    attrs.insert("role_name".into(), role);
    attrs.insert("tags".into(), Value::Object(tags));
    attrs.insert("arn".into(), json!(p.arn()));
    Ok(Some(ObservedResource::new(name.to_string(), attrs)))
}

async fn read_back(x: &Ctx<'_, Client>, name: &str) -> Made {
    get(x, name).await?.ok_or_else(|| {
        x.call("iam:GetInstanceProfile")
            .vanished("instance profile")
    })
}

/// Removes `role` from the profile (already removed is fine).
async fn remove_role(x: &Ctx<'_, Client>, name: &str, role: &str) -> Result<(), ProviderError> {
    match x
        .c
        .remove_role_from_instance_profile()
        .instance_profile_name(name)
        .role_name(role)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if code(&e) == Some("NoSuchEntity") => Ok(()),
        Err(e) => Err(map(x.call("iam:RemoveRoleFromInstanceProfile"), e)),
    }
}

/// Adds `role` to the profile (a profile holds one role: adding it twice is refused with
/// `LimitExceeded`, which here means it is there already).
async fn add_role(x: &Ctx<'_, Client>, name: &str, role: &str) -> Result<(), ProviderError> {
    match x
        .c
        .add_role_to_instance_profile()
        .instance_profile_name(name)
        .role_name(role)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if code(&e) == Some("LimitExceeded") => Ok(()),
        Err(e) => Err(map(x.call("iam:AddRoleToInstanceProfile"), e)),
    }
}

#[async_trait]
impl KindProvider for IamInstanceProfile {
    /// Reads a profile by name.
    async fn read(&self, cx: &Cx<'_>, req: &eksmgr_engine::provider::ReadRequest<'_>) -> Found {
        let x = ctx(cx.sessions, req.address).await?;
        get(&x, key(req, "name")).await
    }

    /// Creates the profile with its tags and adds its role; one that exists is adopted and
    /// given its role.
    async fn create(&self, cx: &Cx<'_>, op: &Create<'_>) -> Made {
        let x = ctx(cx.sessions, op.address).await?;
        let name = attr_str(op.attrs, "name").unwrap_or(&op.address.name);
        match x
            .c
            .create_instance_profile()
            .instance_profile_name(name)
            .path(attr_str(op.attrs, "path").unwrap_or("/"))
            .set_tags(Some(tags(op.attrs)).filter(|t| !t.is_empty()))
            .send()
            .await
        {
            Ok(_) => {}
            Err(e) if code(&e) == Some("EntityAlreadyExists") => {}
            Err(e) => return Err(map(x.call("iam:CreateInstanceProfile"), e)),
        }
        if let Some(role) = attr_str(op.attrs, "role_name") {
            add_role(&x, name, role).await?;
        }
        read_back(&x, name).await
    }

    /// Swaps the role, and syncs the tags.
    async fn update(&self, cx: &Cx<'_>, op: &Update<'_>) -> Made {
        let x = ctx(cx.sessions, op.address).await?;
        let name = attr_str(op.after, "name").unwrap_or(&op.address.name);
        let has = |n: &str| op.changed.iter().any(|c| c == n);
        if has("role_name") {
            if let Some(old) = attr_str(op.before, "role_name") {
                remove_role(&x, name, old).await?;
            }
            if let Some(new) = attr_str(op.after, "role_name") {
                add_role(&x, name, new).await?;
            }
        }
        if has("tags") {
            let present = attr_map(op.before, "tags").into_iter().map(|(k, _)| k);
            let untag = |keys| {
                x.c.untag_instance_profile()
                    .instance_profile_name(name)
                    .set_tag_keys(Some(keys))
                    .send()
            };
            let tag = || {
                x.c.tag_instance_profile()
                    .instance_profile_name(name)
                    .set_tags(Some(tags(op.after)))
                    .send()
            };
            crate::sync_tags(
                present,
                op.before,
                op.after,
                (x.call("iam:UntagInstanceProfile"), untag),
                (x.call("iam:TagInstanceProfile"), tag),
            )
            .await?;
        }
        read_back(&x, name).await
    }

    /// Removes its role, then deletes it; already gone is fine.
    async fn delete(&self, cx: &Cx<'_>, op: &Delete<'_>) -> Done {
        let x = ctx(cx.sessions, op.address).await?;
        let name = attr_str(op.before, "name").unwrap_or(&op.address.name);
        if let Some(role) = attr_str(op.before, "role_name") {
            remove_role(&x, name, role).await?;
        }
        match x
            .c
            .delete_instance_profile()
            .instance_profile_name(name)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if code(&e) == Some("NoSuchEntity") => Ok(()),
            Err(e) => Err(map(x.call("iam:DeleteInstanceProfile"), e)),
        }
    }
}
