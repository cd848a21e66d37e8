//! AWS IAM: roles (`iam_role`) with their trust policy, managed policy attachments, inline
//! policies and tags. IAM returns policy documents URL-encoded; they are decoded and parsed
//! here so state and plans hold JSON.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use aws_sdk_iam::Client;
use aws_sdk_iam::types::{EntityType, Role, RoleDetail, Tag};
use eksmgr_engine::model::Value;
use eksmgr_engine::model::{Attrs, ObservedResource};
use eksmgr_engine::policy;
use eksmgr_engine::provider::{ErrorKind, ProviderError, ReadRequest};
use eksmgr_state::json;

use super::{Create, Cx, Delete, Done, Found, KindProvider, Made, Update};
use crate::error::{Call, code, map};
use crate::sessions::Sessions;
use crate::{attr_map, attr_str, attr_strings, key};
use async_trait::async_trait;

/// The provider of IAM roles (`iam_role`).
pub struct IamRole;

crate::service_client!(aws_sdk_iam, "iam");

fn doc_string(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.to_string(),
        Some(v) => serde_json::to_string(v).unwrap_or_default(),
        None => String::new(),
    }
}

fn parse_doc(s: &str) -> Value {
    policy::parse_str(s).unwrap_or_else(|_| Value::from(s))
}

async fn get(
    c: &Client,
    account: &str,
    resource: &str,
    name: &str,
) -> Result<Option<ObservedResource>, ProviderError> {
    let role = match c.get_role().role_name(name).send().await {
        Ok(o) => o,
        Err(e) if code(&e) == Some("NoSuchEntity") => return Ok(None),
        Err(e) => return Err(map(Call::new(account, resource, "iam:GetRole"), e)),
    };
    let Some(role) = role.role() else {
        return Ok(None);
    };
    let mut managed = Vec::new();
    let mut pages = c
        .list_attached_role_policies()
        .role_name(name)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| {
            map(
                Call::new(account, resource, "iam:ListAttachedRolePolicies"),
                e,
            )
        })?;
        managed.extend(
            page.attached_policies()
                .iter()
                .filter_map(|p| p.policy_arn().map(str::to_string)),
        );
    }
    let mut inline_names = Vec::new();
    let mut pages = c
        .list_role_policies()
        .role_name(name)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page =
            page.map_err(|e| map(Call::new(account, resource, "iam:ListRolePolicies"), e))?;
        inline_names.extend(page.policy_names().iter().cloned());
    }
    let mut inline = eksmgr_state::value::Map::new();
    for pname in inline_names {
        let p = c
            .get_role_policy()
            .role_name(name)
            .policy_name(&pname)
            .send()
            .await
            .map_err(|e| map(Call::new(account, resource, "iam:GetRolePolicy"), e))?;
        inline.insert(pname.into(), parse_doc(p.policy_document()));
    }
    Ok(Some(observed(role, managed, inline, role.tags())))
}

/// A role as state and plans hold it, from its description (`GetRole` or `ListRoles`), its
/// managed policy ARNs, its inline policies and its tags.
fn observed(
    role: &Role,
    mut managed: Vec<String>,
    inline: eksmgr_state::value::Map,
    tags: &[Tag],
) -> ObservedResource {
    managed.sort();
    let tags: eksmgr_state::value::Map = tags
        .iter()
        .map(|t| (t.key().to_string(), json!(t.value())))
        .collect();
    let mut attrs = Attrs::new();
    attrs.insert("name".into(), json!(role.role_name()));
    attrs.insert("path".into(), json!(role.path()));
    attrs.insert(
        "description".into(),
        json!(role.description().unwrap_or_default()),
    );
    attrs.insert(
        "assume_role_policy".into(),
        parse_doc(role.assume_role_policy_document().unwrap_or_default()),
    );
    attrs.insert(
        "max_session_duration".into(),
        json!(role.max_session_duration().unwrap_or(3600)),
    );
    attrs.insert("managed_policy_arns".into(), json!(managed));
    attrs.insert("inline_policies".into(), Value::Object(inline));
    attrs.insert("tags".into(), Value::Object(tags));
    attrs.insert("arn".into(), json!(role.arn()));
    attrs.insert("role_id".into(), json!(role.role_id()));
    ObservedResource::new(role.role_name().to_string(), attrs)
}

/// Page size of the account-wide listings (the most IAM allows).
const PAGE: i32 = 1000;

fn listed_key(account: &str) -> String {
    format!("iam:ListRoles:{account}")
}

fn details_key(account: &str) -> String {
    format!("iam:GetAccountAuthorizationDetails:{account}")
}

/// Every role of an account (`ListRoles`: names, paths, descriptions, trust policies, session
/// durations; no tags, no policies), listed once per run and shared: by discovery, which
/// resolves principal patterns from it, and by [`read_role`].
pub(crate) async fn listed_roles(
    s: &Sessions,
    account: &str,
) -> Result<Arc<Vec<Role>>, ProviderError> {
    s.shared_read(account, &listed_key(account), move || async move {
        let c = client(s, account, None).await?;
        let call = Call::new(account, "the account's IAM roles", "iam:ListRoles");
        let mut out = Vec::new();
        let mut pages = c.list_roles().max_items(PAGE).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| map(call, e))?;
            out.extend(page.roles().iter().cloned());
        }
        // Kept until the account is read: without the room the vector grew into (a role is
        // about 400 bytes before its strings, and most accounts have a few).
        out.shrink_to_fit();
        Ok(out)
    })
    .await
}

/// The policies and tags of every role of an account (`GetAccountAuthorizationDetails`
/// filtered to roles), read once per run and shared; `None` when the caller may not make that
/// call, and each role is then read on its own.
async fn role_details(
    s: &Sessions,
    account: &str,
) -> Result<Arc<Option<HashMap<String, RoleDetail>>>, ProviderError> {
    s.shared_read(account, &details_key(account), move || async move {
        let c = client(s, account, None).await?;
        let call = Call::new(
            account,
            "the account's IAM roles",
            "iam:GetAccountAuthorizationDetails",
        );
        let mut out = HashMap::new();
        let mut pages = c
            .get_account_authorization_details()
            .filter(EntityType::Role)
            .max_items(PAGE)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = match page {
                Ok(p) => p,
                Err(e) if matches!(code(&e), Some("AccessDenied" | "AccessDeniedException")) => {
                    return Ok(None);
                }
                Err(e) => return Err(map(call, e)),
            };
            for r in page.role_detail_list() {
                if let Some(name) = r.role_name() {
                    out.insert(name.to_string(), r.clone());
                }
            }
        }
        Ok(Some(out))
    })
    .await
}

/// After a write in an account, its listings no longer describe it.
fn forget_listings(s: &Sessions, account: &str) {
    s.forget(account, &listed_key(account));
    s.forget(account, &details_key(account));
}

/// A role from the account-wide listings: two paginated calls per account serve every role
/// of it, instead of four calls per role. `None` when the listings cannot tell (the caller
/// may not list, or the role appeared between the two listings): read the role itself.
async fn from_listings(
    s: &Sessions,
    account: &str,
    name: &str,
) -> Result<Option<Option<ObservedResource>>, ProviderError> {
    let listed = match listed_roles(s, account).await {
        Ok(l) => l,
        Err(e) if e.kind == ErrorKind::AccessDenied => return Ok(None),
        Err(e) => return Err(e),
    };
    let Some(role) = listed.iter().find(|r| r.role_name() == name) else {
        return Ok(Some(None));
    };
    let details = role_details(s, account).await?;
    let Some(detail) = details.as_ref().as_ref().and_then(|d| d.get(name)) else {
        return Ok(None);
    };
    let managed = detail
        .attached_managed_policies()
        .iter()
        .filter_map(|p| p.policy_arn().map(str::to_string))
        .collect();
    let inline = detail
        .role_policy_list()
        .iter()
        .filter_map(|p| {
            let name = p.policy_name()?;
            Some((name.to_string(), parse_doc(p.policy_document()?)))
        })
        .collect();
    Ok(Some(Some(observed(role, managed, inline, detail.tags()))))
}

fn tags(attrs: &Attrs) -> Vec<Tag> {
    attr_map(attrs, "tags")
        .into_iter()
        .filter_map(|(k, v)| Tag::builder().key(k).value(v).build().ok())
        .collect()
}

async fn sync_policies(
    c: &Client,
    account: &str,
    resource: &str,
    name: &str,
    before: &Attrs,
    after: &Attrs,
) -> Result<(), ProviderError> {
    let want = attr_strings(after, "managed_policy_arns");
    let have = attr_strings(before, "managed_policy_arns");
    for arn in want.iter().filter(|a| !have.contains(a)) {
        c.attach_role_policy()
            .role_name(name)
            .policy_arn(arn)
            .send()
            .await
            .map_err(|e| map(Call::new(account, resource, "iam:AttachRolePolicy"), e))?;
    }
    for arn in have.iter().filter(|a| !want.contains(a)) {
        match c
            .detach_role_policy()
            .role_name(name)
            .policy_arn(arn)
            .send()
            .await
        {
            Ok(_) => {}
            Err(e) if code(&e) == Some("NoSuchEntity") => {}
            Err(e) => return Err(map(Call::new(account, resource, "iam:DetachRolePolicy"), e)),
        }
    }
    let docs = |a: &Attrs| -> BTreeMap<String, Value> {
        a.get("inline_policies")
            .and_then(Value::as_object)
            .map(|m| m.iter().map(|(k, v)| (k.to_string(), v.clone())).collect())
            .unwrap_or_default()
    };
    let (want, have) = (docs(after), docs(before));
    for (pname, doc) in &want {
        if have.get(pname).is_some_and(|h| policy::equivalent(h, doc)) {
            continue;
        }
        c.put_role_policy()
            .role_name(name)
            .policy_name(pname)
            .policy_document(doc_string(Some(doc)))
            .send()
            .await
            .map_err(|e| map(Call::new(account, resource, "iam:PutRolePolicy"), e))?;
    }
    for pname in have.keys().filter(|k| !want.contains_key(*k)) {
        match c
            .delete_role_policy()
            .role_name(name)
            .policy_name(pname)
            .send()
            .await
        {
            Ok(_) => {}
            Err(e) if code(&e) == Some("NoSuchEntity") => {}
            Err(e) => return Err(map(Call::new(account, resource, "iam:DeleteRolePolicy"), e)),
        }
    }
    Ok(())
}

#[async_trait]
impl KindProvider for IamRole {
    /// Reads a role by name.
    async fn read(&self, cx: &Cx<'_>, req: &ReadRequest<'_>) -> Found {
        let s = cx.sessions;
        let account = req.address.account.as_str();
        let resource = req.address.to_string();
        let name = key(req, "name");
        if let Some(found) = from_listings(s, account, name).await? {
            return Ok(found);
        }
        let c = client(s, account, None).await?;
        get(&c, account, &resource, name).await
    }

    /// Creates a role with its policies; a role left by an interrupted run is adopted and updated.
    async fn create(&self, cx: &Cx<'_>, op: &Create<'_>) -> Made {
        let (address, attrs) = (op.address, op.attrs);
        let s = cx.sessions;
        let x = ctx(s, address).await?;
        forget_listings(s, x.account);
        let name = attr_str(attrs, "name").unwrap_or(&address.name);
        let created =
            x.c.create_role()
                .role_name(name)
                .path(attr_str(attrs, "path").unwrap_or("/"))
                .description(attr_str(attrs, "description").unwrap_or_default())
                .assume_role_policy_document(doc_string(attrs.get("assume_role_policy")))
                .max_session_duration(
                    attrs
                        .get("max_session_duration")
                        .and_then(Value::as_i64)
                        .unwrap_or(3600) as i32,
                )
                .set_tags(Some(tags(attrs)))
                .send()
                .await;
        match created {
            Ok(_) => {}
            Err(e) if code(&e) == Some("EntityAlreadyExists") => {
                let before = get(&x.c, x.account, &x.resource, name)
                    .await?
                    .map(|o| o.attrs)
                    .unwrap_or_default();
                let all: Vec<String> = attrs.keys().map(ToString::to_string).collect();
                let u = Update {
                    address,
                    id: name,
                    before: &before,
                    after: attrs,
                    changed: &all,
                };
                return self.update(cx, &u).await;
            }
            Err(e) => return Err(map(x.call("iam:CreateRole"), e)),
        }
        sync_policies(&x.c, x.account, &x.resource, name, &Attrs::new(), attrs).await?;
        get(&x.c, x.account, &x.resource, name)
            .await?
            .ok_or_else(|| x.call("iam:GetRole").vanished("role"))
    }

    /// Updates what changed.
    async fn update(&self, cx: &Cx<'_>, op: &Update<'_>) -> Made {
        let (address, before, after, changed) = (op.address, op.before, op.after, op.changed);
        let s = cx.sessions;
        let x = ctx(s, address).await?;
        forget_listings(s, x.account);
        let name = attr_str(after, "name").unwrap_or(&address.name);
        let has = |n: &str| changed.iter().any(|c| c == n);
        if has("assume_role_policy") {
            x.c.update_assume_role_policy()
                .role_name(name)
                .policy_document(doc_string(after.get("assume_role_policy")))
                .send()
                .await
                .map_err(|e| map(x.call("iam:UpdateAssumeRolePolicy"), e))?;
        }
        if has("description") || has("max_session_duration") {
            x.c.update_role()
                .role_name(name)
                .description(attr_str(after, "description").unwrap_or_default())
                .max_session_duration(
                    after
                        .get("max_session_duration")
                        .and_then(Value::as_i64)
                        .unwrap_or(3600) as i32,
                )
                .send()
                .await
                .map_err(|e| map(x.call("iam:UpdateRole"), e))?;
        }
        if has("managed_policy_arns") || has("inline_policies") {
            sync_policies(&x.c, x.account, &x.resource, name, before, after).await?;
        }
        if has("tags") {
            let untag = |keys| {
                x.c.untag_role()
                    .role_name(name)
                    .set_tag_keys(Some(keys))
                    .send()
            };
            let tag = || {
                x.c.tag_role()
                    .role_name(name)
                    .set_tags(Some(tags(after)))
                    .send()
            };
            crate::sync_tags(
                [],
                before,
                after,
                (x.call("iam:UntagRole"), untag),
                (x.call("iam:TagRole"), tag),
            )
            .await?;
        }
        get(&x.c, x.account, &x.resource, name)
            .await?
            .ok_or_else(|| x.call("iam:GetRole").vanished("role"))
    }

    /// Deletes a role after detaching its managed policies and deleting its inline ones.
    async fn delete(&self, cx: &Cx<'_>, op: &Delete<'_>) -> Done {
        let address = op.address;
        let s = cx.sessions;
        let x = ctx(s, address).await?;
        forget_listings(s, x.account);
        let name = address.name.as_str();
        let Some(current) = get(&x.c, x.account, &x.resource, name).await? else {
            return Ok(());
        };
        let name = current.id.clone();
        sync_policies(
            &x.c,
            x.account,
            &x.resource,
            &name,
            &current.attrs,
            &Attrs::new(),
        )
        .await?;
        match x.c.delete_role().role_name(&name).send().await {
            Ok(_) => Ok(()),
            Err(e) if code(&e) == Some("NoSuchEntity") => Ok(()),
            Err(e) => Err(map(x.call("iam:DeleteRole"), e)),
        }
    }
}
