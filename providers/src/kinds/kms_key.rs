//! AWS KMS: per-cluster customer managed keys (`kms_key`), found by their alias
//! (`alias/eksmgr/<cluster>`).
//!
//! KMS has no idempotency token for `CreateKey`, so adoption matters: before creating a key,
//! the alias is looked up (and, when the alias is missing, the account's keys are searched for
//! the `eksmgr-alias` tag a key receives at creation), so a crash between `CreateKey` and
//! `CreateAlias` self-heals instead of leaving a second key. A key scheduled for deletion is
//! gone as far as eksmgr is concerned: reads return `None`, and a new key takes over the alias.
//!
//! `deletion_window_days` is eksmgr's own setting (the waiting period used when the key is
//! scheduled for deletion); AWS does not report it, so reads echo the desired or recorded value.

use aws_sdk_kms::Client;
use aws_sdk_kms::types::{KeyManagerType, KeySpec, KeyState, KeyUsageType, Tag};
use eksmgr_engine::model::Value;
use eksmgr_engine::model::{Attrs, ObservedResource};
use eksmgr_engine::policy;
use eksmgr_engine::provider::{ErrorKind, ProviderError, ReadRequest};
use eksmgr_state::ResourceAddress;
use eksmgr_state::json;

use super::{Create, Cx, Delete, Done, Found, KindProvider, Made, Update};
use crate::error::{code, map};
use crate::sessions::Ctx;
use crate::{attr_map, attr_str, key};
use async_trait::async_trait;

/// The provider of KMS keys (`kms_key`).
pub struct KmsKey;

/// The waiting period when none is configured (the AWS default).
const DEFAULT_DELETION_WINDOW_DAYS: i64 = 30;
/// The tag naming the alias a key was created for (used to adopt a key whose alias is missing).
const ALIAS_TAG: &str = "eksmgr-alias";
/// The tag marking resources eksmgr manages.
const MANAGED_BY_TAG: &str = "managed-by";

crate::service_client!(aws_sdk_kms, "kms");

/// The alias of a resource: the `alias` attribute, else `alias/eksmgr/<name>`.
fn alias_of(attrs: &Attrs, address: &ResourceAddress) -> String {
    attr_str(attrs, "alias")
        .map(str::to_string)
        .unwrap_or_else(|| format!("alias/eksmgr/{}", address.name))
}

/// A key scheduled for deletion (or whose replica is) counts as gone.
fn is_pending_deletion(state: Option<&KeyState>) -> bool {
    matches!(
        state,
        Some(KeyState::PendingDeletion | KeyState::PendingReplicaDeletion)
    )
}

fn policy_string(v: Option<&Value>) -> Option<String> {
    match v {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.to_string()),
        Some(v) => serde_json::to_string(v).ok(),
    }
}

fn parse_doc(s: &str) -> Value {
    policy::parse_str(s).unwrap_or_else(|_| Value::from(s))
}

fn tags(attrs: &Attrs) -> Vec<Tag> {
    attr_map(attrs, "tags")
        .into_iter()
        .filter_map(|(k, v)| Tag::builder().tag_key(k).tag_value(v).build().ok())
        .collect()
}

fn window_days(attrs: Option<&Attrs>) -> Option<i64> {
    attrs.and_then(|a| a.get("deletion_window_days").and_then(Value::as_i64))
}

/// The key an alias (or key id) points to, with its state; `None` when there is none.
async fn describe(
    x: &Ctx<'_, Client>,
    key_id: &str,
) -> Result<Option<(String, Option<KeyState>)>, ProviderError> {
    match x.c.describe_key().key_id(key_id).send().await {
        Ok(o) => Ok(o
            .key_metadata()
            .map(|m| (m.key_id().to_string(), m.key_state().cloned()))),
        Err(e) if code(&e) == Some("NotFoundException") => Ok(None),
        Err(e) => Err(map(x.call("kms:DescribeKey"), e)),
    }
}

async fn list_tags(
    x: &Ctx<'_, Client>,
    key_id: &str,
) -> Result<eksmgr_state::value::Map, ProviderError> {
    let mut out = eksmgr_state::value::Map::new();
    let mut pages =
        x.c.list_resource_tags()
            .key_id(key_id)
            .into_paginator()
            .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| map(x.call("kms:ListResourceTags"), e))?;
        for t in page.tags() {
            out.insert(t.tag_key().into(), json!(t.tag_value()));
        }
    }
    Ok(out)
}

/// What a key holds besides its metadata: its policy document, whether rotation is on, and
/// its tags.
struct Details {
    policy: Value,
    rotation: bool,
    tags: eksmgr_state::value::Map,
}

/// Reads a key's policy, rotation status and tags, the three calls at once.
async fn details(x: &Ctx<'_, Client>, id: &str) -> Result<Details, ProviderError> {
    let policy = async {
        x.c.get_key_policy()
            .key_id(id)
            .policy_name("default")
            .send()
            .await
            .map_err(|e| map(x.call("kms:GetKeyPolicy"), e))
    };
    let rotation = async {
        x.c.get_key_rotation_status()
            .key_id(id)
            .send()
            .await
            .map_err(|e| map(x.call("kms:GetKeyRotationStatus"), e))
    };
    let (policy, rotation, tags) = futures::try_join!(policy, rotation, list_tags(x, id))?;
    Ok(Details {
        policy: policy.policy().map(parse_doc).unwrap_or(Value::Null),
        rotation: rotation.key_rotation_enabled(),
        tags,
    })
}

/// Reads a key by alias or key id. `alias` is the alias reported; `window` the
/// `deletion_window_days` echoed back. `recorded` is the key id state records for it: its
/// details are then read at the same time as the key is described, and read again only if
/// `key_id` no longer leads to that key.
async fn get(
    x: &Ctx<'_, Client>,
    key_id: &str,
    alias: Option<&str>,
    window: i64,
    recorded: Option<&str>,
) -> Result<Option<ObservedResource>, ProviderError> {
    let describe = async {
        match x.c.describe_key().key_id(key_id).send().await {
            Ok(o) => Ok(Some(o)),
            Err(e) if code(&e) == Some("NotFoundException") => Ok(None),
            Err(e) => Err(map(x.call("kms:DescribeKey"), e)),
        }
    };
    let (described, early) = match recorded {
        Some(id) => {
            let (described, early) = futures::join!(describe, details(x, id));
            (described?, Some((id, early)))
        }
        None => (describe.await?, None),
    };
    let Some(meta) = described.as_ref().and_then(|d| d.key_metadata()) else {
        return Ok(None);
    };
    if is_pending_deletion(meta.key_state()) {
        return Ok(None);
    }
    let id = meta.key_id().to_string();
    let details = match early {
        Some((early_id, early)) if early_id == id => early?,
        _ => details(x, &id).await?,
    };

    let mut attrs = Attrs::new();
    attrs.insert("alias".into(), alias.map_or(Value::Null, |a| json!(a)));
    attrs.insert(
        "description".into(),
        json!(meta.description().unwrap_or_default()),
    );
    attrs.insert("key_policy".into(), details.policy);
    attrs.insert("enable_key_rotation".into(), json!(details.rotation));
    attrs.insert("deletion_window_days".into(), json!(window));
    attrs.insert("tags".into(), Value::Object(details.tags));
    attrs.insert("arn".into(), json!(meta.arn().unwrap_or_default()));
    attrs.insert("key_id".into(), json!(id));
    attrs.insert(
        "key_state".into(),
        json!(meta.key_state().map(KeyState::as_str).unwrap_or_default()),
    );
    Ok(Some(ObservedResource::new(id, attrs)))
}

async fn read_back(
    x: &Ctx<'_, Client>,
    key_id: &str,
    alias: &str,
    window: i64,
) -> Result<ObservedResource, ProviderError> {
    get(x, key_id, Some(alias), window, None)
        .await?
        .ok_or_else(|| x.call("kms:DescribeKey").vanished("key"))
}

/// A customer managed key tagged for `alias` by eksmgr that lost (or never got) its alias:
/// what a crash between `CreateKey` and `CreateAlias` leaves behind.
async fn find_tagged_key(
    x: &Ctx<'_, Client>,
    alias: &str,
) -> Result<Option<String>, ProviderError> {
    let mut pages = x.c.list_keys().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| map(x.call("kms:ListKeys"), e))?;
        for entry in page.keys() {
            let Some(id) = entry.key_id() else { continue };
            let meta = match x.c.describe_key().key_id(id).send().await {
                Ok(o) => o.key_metadata().cloned(),
                // Keys this identity may not look at are not ours.
                Err(e)
                    if matches!(
                        code(&e),
                        Some("NotFoundException" | "AccessDeniedException")
                    ) =>
                {
                    continue;
                }
                Err(e) => return Err(map(x.call("kms:DescribeKey"), e)),
            };
            let Some(meta) = meta else { continue };
            if meta.key_manager() != Some(&KeyManagerType::Customer)
                || is_pending_deletion(meta.key_state())
            {
                continue;
            }
            let tags = match list_tags(x, id).await {
                Ok(t) => t,
                Err(e) if e.kind == ErrorKind::AccessDenied || e.kind == ErrorKind::NotFound => {
                    continue;
                }
                Err(e) => return Err(e),
            };
            if tags.get(ALIAS_TAG).and_then(Value::as_str) == Some(alias)
                && tags.get(MANAGED_BY_TAG).and_then(Value::as_str) == Some("eksmgr")
            {
                return Ok(Some(meta.key_id().to_string()));
            }
        }
    }
    Ok(None)
}

/// Points `alias` at `key_id`: creates the alias, or moves it when it exists already.
async fn point_alias(
    x: &Ctx<'_, Client>,
    alias: &str,
    key_id: &str,
    exists: bool,
) -> Result<(), ProviderError> {
    if exists {
        x.c.update_alias()
            .alias_name(alias)
            .target_key_id(key_id)
            .send()
            .await
            .map_err(|e| map(x.call("kms:UpdateAlias"), e))?;
    } else {
        x.c.create_alias()
            .alias_name(alias)
            .target_key_id(key_id)
            .send()
            .await
            .map_err(|e| map(x.call("kms:CreateAlias"), e))?;
    }
    Ok(())
}

/// Applies the `changed` attributes of `after` to key `id`, then reads it back.
async fn sync(
    x: &Ctx<'_, Client>,
    id: &str,
    alias: &str,
    before: &Attrs,
    after: &Attrs,
    changed: &[String],
) -> Result<ObservedResource, ProviderError> {
    let has = |n: &str| changed.iter().any(|c| c == n);
    if has("alias") {
        // Missing (deleted outside eksmgr) or renamed: point the alias at this key, and drop
        // the old name when it still leads here.
        let exists = describe(x, alias).await?.is_some();
        point_alias(x, alias, id, exists).await?;
        if let Some(old) = attr_str(before, "alias").filter(|old| *old != alias)
            && describe(x, old)
                .await?
                .is_some_and(|(target, _)| target == id)
        {
            match x.c.delete_alias().alias_name(old).send().await {
                Ok(_) => {}
                Err(e) if code(&e) == Some("NotFoundException") => {}
                Err(e) => return Err(map(x.call("kms:DeleteAlias"), e)),
            }
        }
    }
    if has("description") {
        x.c.update_key_description()
            .key_id(id)
            .description(attr_str(after, "description").unwrap_or_default())
            .send()
            .await
            .map_err(|e| map(x.call("kms:UpdateKeyDescription"), e))?;
    }
    if has("key_policy")
        && let Some(doc) = policy_string(after.get("key_policy"))
    {
        x.c.put_key_policy()
            .key_id(id)
            .policy_name("default")
            .policy(doc)
            .send()
            .await
            .map_err(|e| map(x.call("kms:PutKeyPolicy"), e))?;
    }
    if has("enable_key_rotation") {
        if after.get("enable_key_rotation").and_then(Value::as_bool) == Some(true) {
            x.c.enable_key_rotation()
                .key_id(id)
                .send()
                .await
                .map_err(|e| map(x.call("kms:EnableKeyRotation"), e))?;
        } else {
            x.c.disable_key_rotation()
                .key_id(id)
                .send()
                .await
                .map_err(|e| map(x.call("kms:DisableKeyRotation"), e))?;
        }
    }
    if has("tags") {
        let present = list_tags(x, id)
            .await?
            .into_iter()
            .map(|(k, _)| String::from(k));
        let untag = |keys| {
            x.c.untag_resource()
                .key_id(id)
                .set_tag_keys(Some(keys))
                .send()
        };
        let tag = || {
            x.c.tag_resource()
                .key_id(id)
                .set_tags(Some(tags(after)))
                .send()
        };
        crate::sync_tags(
            present,
            before,
            after,
            (x.call("kms:UntagResource"), untag),
            (x.call("kms:TagResource"), tag),
        )
        .await?;
    }
    // deletion_window_days: eksmgr's own setting, nothing to call.
    read_back(
        x,
        id,
        alias,
        window_days(Some(after)).unwrap_or(DEFAULT_DELETION_WINDOW_DAYS),
    )
    .await
}

#[async_trait]
impl KindProvider for KmsKey {
    /// Reads a key by alias; with the key id state records, in one round of calls.
    async fn read(&self, cx: &Cx<'_>, req: &ReadRequest<'_>) -> Found {
        let s = cx.sessions;
        let x = ctx(s, req.address).await?;
        let alias = key(req, "alias");
        let window = window_days(req.desired)
            .or_else(|| window_days(req.recorded))
            .unwrap_or(DEFAULT_DELETION_WINDOW_DAYS);
        if let Some(found) = get(&x, alias, Some(alias), window, req.id).await? {
            return Ok(Some(found));
        }
        // The alias is gone (deleted outside eksmgr) but the key state records may not be: read
        // it by its id, its alias reported missing. The plan then shows the alias as drift of this
        // key and creates it again, instead of a new key (and a new cluster encrypted with it).
        match req.id.filter(|id| !id.is_empty()) {
            Some(id) => get(&x, id, None, window, None).await,
            None => Ok(None),
        }
    }

    /// Creates a key and its alias. A live key already behind the alias (or an eksmgr key tagged
    /// for the alias that lost it) is adopted and updated instead: never a second key.
    async fn create(&self, cx: &Cx<'_>, op: &Create<'_>) -> Made {
        let (address, attrs) = (op.address, op.attrs);
        let s = cx.sessions;
        let x = ctx(s, address).await?;
        let alias = alias_of(attrs, address);
        let all: Vec<String> = attrs.keys().map(ToString::to_string).collect();

        // 1. The alias points to a live key: adopt it.
        let behind_alias = describe(&x, &alias).await?;
        if let Some((id, state)) = &behind_alias
            && !is_pending_deletion(state.as_ref())
        {
            return sync(&x, id, &alias, &Attrs::new(), attrs, &all).await;
        }
        // The alias exists but its key is scheduled for deletion: a new key takes the alias over.
        let alias_exists = behind_alias.is_some();

        // 2. A key eksmgr created for this alias before an interrupted run: adopt it.
        if let Some(id) = find_tagged_key(&x, &alias).await? {
            point_alias(&x, &alias, &id, alias_exists).await?;
            return sync(&x, &id, &alias, &Attrs::new(), attrs, &all).await;
        }

        // 3. A new key.
        let created =
            x.c.create_key()
                .description(attr_str(attrs, "description").unwrap_or_default())
                .set_policy(policy_string(attrs.get("key_policy")))
                .set_tags(Some(tags(attrs)))
                .key_spec(KeySpec::SymmetricDefault)
                .key_usage(KeyUsageType::EncryptDecrypt)
                .send()
                .await
                .map_err(|e| map(x.call("kms:CreateKey"), e))?;
        let Some(id) = created.key_metadata().map(|m| m.key_id().to_string()) else {
            return Err(x.call("kms:CreateKey").error(
                ErrorKind::Other,
                "KMS created a key but returned no key id",
                Some(
                    "run `eksmgr plan` again: the key is found by its eksmgr-alias tag and adopted",
                ),
            ));
        };
        point_alias(&x, &alias, &id, alias_exists).await?;
        if attrs.get("enable_key_rotation").and_then(Value::as_bool) == Some(true) {
            x.c.enable_key_rotation()
                .key_id(&id)
                .send()
                .await
                .map_err(|e| map(x.call("kms:EnableKeyRotation"), e))?;
        }
        read_back(
            &x,
            &id,
            &alias,
            window_days(Some(attrs)).unwrap_or(DEFAULT_DELETION_WINDOW_DAYS),
        )
        .await
    }

    /// Updates the changed attributes of a key (`id` is its key id; the alias when empty).
    async fn update(&self, cx: &Cx<'_>, op: &Update<'_>) -> Made {
        let (address, id, before, after, changed) =
            (op.address, op.id, op.before, op.after, op.changed);
        let s = cx.sessions;
        let x = ctx(s, address).await?;
        let alias = alias_of(after, address);
        let id = if id.is_empty() {
            match describe(&x, &alias).await? {
                Some((id, _)) => id,
                None => {
                    return Err(x.call("kms:DescribeKey").error(
                        ErrorKind::NotFound,
                        format!("no key behind {alias}"),
                        Some(
                            "the key was deleted outside eksmgr; run `eksmgr plan` again to create it",
                        ),
                    ));
                }
            }
        } else {
            id.to_string()
        };
        sync(&x, &id, &alias, before, after, changed).await
    }

    /// Schedules a key's deletion (after `deletion_window_days`, default 30) and deletes its
    /// alias. A key that is gone or already scheduled for deletion is fine.
    async fn delete(&self, cx: &Cx<'_>, op: &Delete<'_>) -> Done {
        let (address, id, before) = (op.address, op.id, op.before);
        let s = cx.sessions;
        let x = ctx(s, address).await?;
        let alias = alias_of(before, address);
        let id = if id.is_empty() {
            describe(&x, &alias).await?.map(|(id, _)| id)
        } else {
            Some(id.to_string())
        };
        if let Some(id) = &id {
            let days = window_days(Some(before))
                .unwrap_or(DEFAULT_DELETION_WINDOW_DAYS)
                .clamp(7, 30) as i32;
            match x
                .c
                .schedule_key_deletion()
                .key_id(id)
                .pending_window_in_days(days)
                .send()
                .await
            {
                Ok(_) => {}
                Err(e) if code(&e) == Some("NotFoundException") => {}
                Err(e) if code(&e) == Some("KMSInvalidStateException") => {
                    // Fine when the key is already scheduled for deletion; not when it is, say,
                    // being imported or unavailable.
                    let state = describe(&x, id).await?.and_then(|(_, state)| state);
                    if !is_pending_deletion(state.as_ref()) {
                        return Err(map(x.call("kms:ScheduleKeyDeletion"), e));
                    }
                }
                Err(e) => return Err(map(x.call("kms:ScheduleKeyDeletion"), e)),
            }
        }
        // Only the alias of this key: if it was moved to another key meanwhile, leave it be.
        match describe(&x, &alias).await? {
            None => return Ok(()),
            Some((target, _)) if id.as_deref().is_some_and(|id| id != target) => return Ok(()),
            Some(_) => {}
        }
        match x.c.delete_alias().alias_name(&alias).send().await {
            Ok(_) => Ok(()),
            Err(e) if code(&e) == Some("NotFoundException") => Ok(()),
            Err(e) => Err(map(x.call("kms:DeleteAlias"), e)),
        }
    }
}
