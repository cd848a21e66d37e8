"""AWS Organizations rules moto 5.2.5 does not enforce (test support only).

Checked in moto 5.2.5 first:

* already enforced: EnablePolicyType adds ``{"Type": ..., "Status": "ENABLED"}`` to the
  root's ``PolicyTypes`` (ListRoots and the EnablePolicyType/DisablePolicyType answers
  show it), a second EnablePolicyType answers PolicyTypeAlreadyEnabledException, and
  DisablePolicyType of a type that is not enabled answers PolicyTypeNotEnabledException.
  A new organization's root has no policy type enabled, as in AWS.
* added here:

  1. AttachPolicy refuses a policy whose type is not enabled in the root
     (PolicyTypeNotEnabledException).  moto attaches it regardless.
  2. CreatePolicy and UpdatePolicy refuse content over the policy type's size quota
     (ConstraintViolationException, Reason POLICY_CONTENT_LIMIT_EXCEEDED).  moto has no
     quota.

Not modelled: AWS attaches FullAWSAccess to every root, OU and account when SCPs are
enabled and detaches all SCPs when they are disabled; moto attaches FullAWSAccess (and
RCPFullAWSAccess) to everything from the start and that is left as it is.
"""

from __future__ import annotations

from typing import Any, Callable

from moto.organizations.exceptions import (
    ConstraintViolationException,
    PolicyTypeNotEnabledException,
)
from moto.organizations.models import FakeRoot, OrganizationsBackend
from moto.organizations.responses import OrganizationsResponse

from patching import add_methods, wrap_method

# The maximum size of a policy document, by policy type, counted as sent: "If you save
# the policy using the AWS Management Console, extra white space ... is removed ... If you
# save the policy using an SDK or the AWS CLI, the policy is saved exactly as provided and
# no automatic removal of white space occurs."
# https://docs.aws.amazon.com/organizations/latest/userguide/orgs_reference_limits.html
POLICY_CONTENT_LIMITS = {
    "SERVICE_CONTROL_POLICY": 5120,
    "RESOURCE_CONTROL_POLICY": 5120,
    "TAG_POLICY": 10000,
    "BACKUP_POLICY": 10000,
    "AISERVICES_OPT_OUT_POLICY": 2500,
}
# AWS's answer, as seen from the API (terraform-provider-aws issue #12597):
# ConstraintViolationException "You have exceeded the maximum policy size.",
# Reason POLICY_CONTENT_LIMIT_EXCEEDED.
POLICY_CONTENT_LIMIT_MSG = "You have exceeded the maximum policy size."
POLICY_CONTENT_LIMIT_REASON = "POLICY_CONTENT_LIMIT_EXCEEDED"


class PolicyContentLimitExceeded(ConstraintViolationException):
    """ConstraintViolationException with the Reason member botocore's model has."""

    def __init__(self) -> None:
        super().__init__(POLICY_CONTENT_LIMIT_MSG)
        self.Reason = POLICY_CONTENT_LIMIT_REASON


class OrganizationsBackendExtension(OrganizationsBackend):
    """The methods install() adds to moto's OrganizationsBackend; not instantiated."""

    def require_policy_type_enabled(self, policy_id: str) -> None:
        """A policy can be attached only when its type is enabled in the root.

        "You can't attach policies of the specified type to entities in a root until you
        enable that type in the root."
        https://docs.aws.amazon.com/organizations/latest/APIReference/API_AttachPolicy.html
        https://docs.aws.amazon.com/organizations/latest/APIReference/API_EnablePolicyType.html
        -> PolicyTypeNotEnabledException, "This operation can be performed only for enabled
        policy types." (moto's own text for it).
        """
        policy = self.get_policy_by_id(policy_id)
        roots = [ou for ou in self.ou if isinstance(ou, FakeRoot)]
        enabled = {
            policy_type["Type"]
            for root in roots
            for policy_type in root.policy_types
            if policy_type.get("Status") == "ENABLED"
        }
        if policy.type not in enabled:
            raise PolicyTypeNotEnabledException()

    @staticmethod
    def require_policy_content_within_limit(policy_type: str, content: Any) -> None:
        """The policy document may not exceed its type's size quota (as sent)."""
        limit = POLICY_CONTENT_LIMITS.get(policy_type)
        if limit is not None and isinstance(content, str) and len(content) > limit:
            raise PolicyContentLimitExceeded()


def _create_policy(
    original: Callable[..., Any], self: OrganizationsBackendExtension, **kwargs: Any
) -> Any:
    self.require_policy_content_within_limit(kwargs.get("Type", ""), kwargs.get("Content"))
    return original(self, **kwargs)


def _update_policy(
    original: Callable[..., Any], self: OrganizationsBackendExtension, **kwargs: Any
) -> Any:
    if kwargs.get("Content") is not None:
        policy = self.get_policy_by_id(kwargs["PolicyId"])
        self.require_policy_content_within_limit(policy.type, kwargs["Content"])
    return original(self, **kwargs)


def _attach_policy_response(original: Callable[..., Any], self: Any) -> Any:
    # Checked on the API call only: moto's backend attach_policy also attaches the
    # AWS-managed default policies to every new root, OU and account.
    backend: OrganizationsBackendExtension = self.organizations_backend
    backend.require_policy_type_enabled(self._get_param("PolicyId"))
    return original(self)


def install() -> None:
    """Add the rules to moto's Organizations service (idempotent)."""
    add_methods(OrganizationsBackend, OrganizationsBackendExtension)
    wrap_method(OrganizationsBackend, "create_policy", _create_policy)
    wrap_method(OrganizationsBackend, "update_policy", _update_policy)
    wrap_method(OrganizationsResponse, "attach_policy", _attach_policy_response)
