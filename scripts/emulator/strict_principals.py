"""Policy principals must exist, policy size quotas, and IAM's eventual consistency
simulated (test support only).

Checked in moto 5.2.5 first: it resolves no principal (any role or user ARN, wildcards
included, is accepted), checks no policy size, validates a trust policy on
UpdateAssumeRolePolicy only (syntax) and on CreateRole not at all, and a new IAM role is
visible everywhere at once.  Added here:

1. Principals must exist.  AWS resolves a role or user named in a policy to its unique
   id when the policy is saved, so a policy naming one that does not exist is refused:
   "If your Principal element in a role trust policy contains an ARN that points to a
   specific IAM role, then that ARN transforms to the role unique principal ID when you
   save the policy."  And "You cannot use a wildcard to match part of a principal name or
   ARN."  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html
   Checked in: IAM CreateRole and UpdateAssumeRolePolicy (trust policy), ECR
   SetRepositoryPolicy, KMS CreateKey and PutKeyPolicy.  Accepted without a look-up:
   "*", {"AWS": "*"}, account ids and account root ARNs, STS session principals, and
   Service / Federated / CanonicalUser principals.  A role ARN holds the role's path
   (``role/aws-reserved/sso.amazonaws.com/NAME``): the name is its last segment and the
   whole ARN must be the role's.
2. Size quotas: IAM role trust policy (2,048) and a role's inline policies together
   (10,240), whitespace not counted; ECR repository policy text (10,240); KMS key policy
   (32,768 bytes).
3. ``EKSMGR_EMULATOR_IAM_PROPAGATION_SECONDS`` (float, default 0 = off): a role created
   less than that many seconds ago is not yet visible to EKS (CreateCluster's roleArn)
   and ECR (a principal of SetRepositoryPolicy), as with IAM's eventual consistency
   ("Changes that I make are not always immediately visible").
   https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_general.html#troubleshoot_general_eventual-consistency
   (terraform-provider-aws issue #39064 shows ECR's answer for a just-created role.)
"""

from __future__ import annotations

import json
import os
import re
import time
from typing import Any, Callable, Iterator

from moto.core.exceptions import JsonRESTError
from moto.ecr.exceptions import InvalidParameterException as ECRInvalidParameterException
from moto.ecr.models import ECRBackend
from moto.eks.exceptions import InvalidParameterException as EKSInvalidParameterException
from moto.eks.models import EKSBackend
from moto.iam.exceptions import LimitExceededException, MalformedPolicyDocument
from moto.iam.models import IAMBackend, Role, iam_backends
from moto.kms.models import KmsBackend

from patching import arguments, wrap_method

PROPAGATION_ENV = "EKSMGR_EMULATOR_IAM_PROPAGATION_SECONDS"
# When install()'s wrapper saw the role created (time.monotonic()).
CREATED_ATTR = "eksmgr_created_monotonic"

# IAM and AWS STS quotas: "Role trust policy length: 2,048 characters" and "Role policy
# size cannot exceed 10,240 characters" (the aggregate of a role's inline policies);
# "IAM doesn't count white space when calculating the size of a policy against these
# quotas."  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html
# Messages as IAM answers them (LimitExceeded, HTTP 409): kubeflow/kubeflow issue #6687,
# kubernetes/kops issue #12558.
TRUST_POLICY_LIMIT = 2048
TRUST_POLICY_LIMIT_MSG = "Cannot exceed quota for ACLSizePerRole: 2048"
ROLE_INLINE_POLICIES_LIMIT = 10240
ROLE_INLINE_POLICIES_LIMIT_MSG = "Maximum policy size of 10240 bytes exceeded for role {name}"
# IAM: MalformedPolicyDocument 'Invalid principal in policy: "AWS":"arn:aws:iam::...:role/x"'
# (hashicorp/terraform-provider-aws issue #8905, databrickslabs/ucx issue #2269).
IAM_INVALID_PRINCIPAL_MSG = 'Invalid principal in policy: "{key}":"{value}"'

# ECR: RepositoryPolicyText is at most 10,240 characters (botocore's model; the API
# reference's SetRepositoryPolicy policyText).
# https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_SetRepositoryPolicy.html
# AWS's text for an over-long one is not published; this follows ECR's wording for
# constraint failures.  A principal that does not exist (or is not yet visible):
# "Invalid parameter at 'PolicyText' failed to satisfy constraint: 'Principal not found'"
# (terraform-provider-aws issue #39064); a malformed one (a wildcard in an ARN, ...):
# 'Invalid repository policy provided' (aws/aws-sdk-go issue #3921).
ECR_POLICY_LIMIT = 10240
ECR_POLICY_LIMIT_MSG = (
    "Invalid parameter at 'PolicyText' failed to satisfy constraint: "
    "'Member must have length less than or equal to 10240'"
)
ECR_PRINCIPAL_NOT_FOUND_MSG = (
    "Invalid parameter at 'PolicyText' failed to satisfy constraint: 'Principal not found'"
)
ECR_INVALID_POLICY_MSG = (
    "Invalid parameter at 'PolicyText' failed to satisfy constraint: "
    "'Invalid repository policy provided'"
)

# KMS: "The key policy size quota is 32 kilobytes (32768 bytes)." and "If the key policy
# exceeds the length constraint, KMS returns a LimitExceededException."
# https://docs.aws.amazon.com/kms/latest/APIReference/API_PutKeyPolicy.html
# https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateKey.html
# (its message is not published).  Invalid principal: MalformedPolicyDocumentException
# "Policy contains a statement with one or more invalid principals." (as KMS answers,
# e.g. terraform-aws-modules/terraform-aws-kms issue #30).
KMS_POLICY_LIMIT = 32768
KMS_POLICY_LIMIT_MSG = "Policy exceeds the maximum size of 32768 bytes."
KMS_INVALID_PRINCIPAL_MSG = "Policy contains a statement with one or more invalid principals."

# EKS: InvalidParameterException "Role with arn: ARN, could not be assumed because it
# does not exist or the trusted entity is not correct" (terraform-aws-modules/
# terraform-aws-eks issue #2406, aws/aws-k8s-tester issue #232).
EKS_ROLE_NOT_ASSUMABLE_MSG = (
    "Role with arn: {arn}, could not be assumed because it does not exist or the "
    "trusted entity is not correct"
)

ACCOUNT_ID = re.compile(r"^\d{12}$")
PRINCIPAL_ARN = re.compile(
    r"^arn:(?P<partition>[\w-]+):(?P<service>iam|sts)::(?P<account>[^:]*):(?P<resource>.+)$"
)
WILDCARD = re.compile(r"[*?]")


class KMSLimitExceededException(JsonRESTError):
    def __init__(self, message: str):
        super().__init__("LimitExceededException", message)


class KMSMalformedPolicyDocumentException(JsonRESTError):
    def __init__(self, message: str):
        super().__init__("MalformedPolicyDocumentException", message)


class BadPrincipal(Exception):
    """A principal AWS would refuse: ``missing`` when well formed but not found."""

    def __init__(self, key: str, value: str, missing: bool):
        super().__init__(f"{key}:{value}")
        self.key, self.value, self.missing = key, value, missing


def propagation_seconds() -> float:
    """EKSMGR_EMULATOR_IAM_PROPAGATION_SECONDS, read at each call (0 when unset/bad)."""
    try:
        return max(0.0, float(os.environ.get(PROPAGATION_ENV, "") or 0))
    except ValueError:
        return 0.0


def visible_to_other_services(role: Role) -> bool:
    """Whether a role is old enough for other services to see (always, when off)."""
    created = role.__dict__.get(CREATED_ATTR)
    delay = propagation_seconds()
    return created is None or delay <= 0 or time.monotonic() - created >= delay


def size_without_whitespace(document: Any) -> int:
    """A policy's size as IAM counts it."""
    text = document if isinstance(document, str) else json.dumps(document)
    return len(re.sub(r"\s", "", text))


def _parse(document: Any) -> dict[str, Any] | None:
    if isinstance(document, dict):
        return document
    try:
        parsed = json.loads(document)
    except (TypeError, ValueError):
        return None
    return parsed if isinstance(parsed, dict) else None


def principals(document: Any) -> Iterator[tuple[str, str]]:
    """(key, value) of every Principal/NotPrincipal entry; ("*", "*") for "*".

    Anything malformed is skipped: the services' own syntax checks answer for it.
    """
    policy = _parse(document)
    if policy is None:
        return
    statements = policy.get("Statement")
    if isinstance(statements, dict):
        statements = [statements]
    for statement in statements if isinstance(statements, list) else []:
        if not isinstance(statement, dict):
            continue
        for element in ("Principal", "NotPrincipal"):
            principal = statement.get(element)
            if principal == "*":
                yield "*", "*"
            elif isinstance(principal, dict):
                for key, values in principal.items():
                    for value in [values] if isinstance(values, str) else values or []:
                        if isinstance(value, str):
                            yield key, value


def find_principal(arn: str) -> Any | None:
    """The IAM role or user an ARN names, looked up in its account's IAM backend."""
    match = PRINCIPAL_ARN.match(arn)
    if not match or match["service"] != "iam":
        return None
    kind, _, rest = match["resource"].partition("/")
    name = rest.rsplit("/", 1)[-1]
    try:
        iam: IAMBackend = iam_backends[match["account"]][match["partition"]]
    except KeyError:
        return None
    if kind == "role":
        candidates = [r for r in iam.get_roles() if r.name == name]
    elif kind == "user":
        candidates = [u for u in iam.users.values() if u.name == name]
    else:
        return None
    return next((c for c in candidates if c.arn == arn), None)


def check_principal(key: str, value: str, *, propagation: bool) -> None:
    """Raise BadPrincipal if AWS would refuse this principal (see the module docstring).

    propagation: whether the calling service sees roles only once they have propagated.
    """
    if key != "AWS" or value == "*" or ACCOUNT_ID.match(value):
        return  # Service, Federated, CanonicalUser; everyone; an account.
    match = PRINCIPAL_ARN.match(value)
    if not match or WILDCARD.search(value) or not ACCOUNT_ID.match(match["account"]):
        raise BadPrincipal(key, value, missing=False)
    service, resource = match["service"], match["resource"]
    if service == "sts":
        if resource.startswith(("assumed-role/", "federated-user/")):
            return
        raise BadPrincipal(key, value, missing=False)
    if resource == "root":
        return
    if not resource.startswith(("role/", "user/")):
        raise BadPrincipal(key, value, missing=False)
    found = find_principal(value)
    if found is None:
        raise BadPrincipal(key, value, missing=True)
    if propagation and isinstance(found, Role) and not visible_to_other_services(found):
        raise BadPrincipal(key, value, missing=True)


def check_policy_principals(document: Any, *, propagation: bool = False) -> None:
    for key, value in principals(document):
        check_principal(key, value, propagation=propagation)


def _check_trust_policy(document: Any) -> None:
    """A role trust policy: its size quota, then its principals."""
    if document is None:
        return
    if size_without_whitespace(document) > TRUST_POLICY_LIMIT:
        raise LimitExceededException(TRUST_POLICY_LIMIT_MSG)
    try:
        check_policy_principals(document)
    except BadPrincipal as bad:
        raise MalformedPolicyDocument(
            IAM_INVALID_PRINCIPAL_MSG.format(key=bad.key, value=bad.value)
        )


# IAM ------------------------------------------------------------------------------------


def _create_role(original: Callable[..., Any], self: IAMBackend, *args: Any, **kwargs: Any) -> Role:
    _check_trust_policy(arguments(original, self, args, kwargs)["assume_role_policy_document"])
    role = original(self, *args, **kwargs)
    role.__dict__[CREATED_ATTR] = time.monotonic()
    return role


def _update_assume_role_policy(
    original: Callable[..., Any], self: IAMBackend, role_name: str, policy_document: str
) -> None:
    self.get_role(role_name)  # NoSuchEntity first
    _check_trust_policy(policy_document)
    return original(self, role_name, policy_document)


def _put_role_policy(
    original: Callable[..., Any],
    self: IAMBackend,
    role_name: str,
    policy_name: str,
    policy_json: str,
) -> None:
    """The inline policies of one role may not exceed 10,240 characters together."""
    role = self.get_role(role_name)
    total = size_without_whitespace(policy_json) + sum(
        size_without_whitespace(document)
        for name, document in role.policies.items()
        if name != policy_name
    )
    if total > ROLE_INLINE_POLICIES_LIMIT:
        raise LimitExceededException(ROLE_INLINE_POLICIES_LIMIT_MSG.format(name=role_name))
    return original(self, role_name, policy_name, policy_json)


# ECR ------------------------------------------------------------------------------------


def _set_repository_policy(
    original: Callable[..., Any],
    self: ECRBackend,
    registry_id: str,
    repository_name: str,
    policy_text: str,
) -> Any:
    self._get_repository(repository_name, registry_id)  # RepositoryNotFoundException first
    if len(policy_text or "") > ECR_POLICY_LIMIT:
        raise ECRInvalidParameterException(ECR_POLICY_LIMIT_MSG)
    try:
        check_policy_principals(policy_text, propagation=True)
    except BadPrincipal as bad:
        raise ECRInvalidParameterException(
            ECR_PRINCIPAL_NOT_FOUND_MSG if bad.missing else ECR_INVALID_POLICY_MSG
        )
    return original(self, registry_id, repository_name, policy_text)


# KMS ------------------------------------------------------------------------------------


def _check_key_policy(policy: Any) -> None:
    if policy is None:
        return  # CreateKey without a policy gets KMS's default key policy.
    text = policy if isinstance(policy, str) else json.dumps(policy)
    if len(text.encode("utf-8")) > KMS_POLICY_LIMIT:
        raise KMSLimitExceededException(KMS_POLICY_LIMIT_MSG)
    try:
        check_policy_principals(policy)
    except BadPrincipal:
        raise KMSMalformedPolicyDocumentException(KMS_INVALID_PRINCIPAL_MSG)


def _create_key(original: Callable[..., Any], self: KmsBackend, *args: Any, **kwargs: Any) -> Any:
    _check_key_policy(arguments(original, self, args, kwargs)["policy"])
    return original(self, *args, **kwargs)


def _put_key_policy(
    original: Callable[..., Any], self: KmsBackend, key_id: str, policy: str
) -> None:
    _check_key_policy(policy)
    return original(self, key_id, policy)


# EKS ------------------------------------------------------------------------------------


def _create_cluster(original: Callable[..., Any], self: EKSBackend, *args: Any, **kwargs: Any) -> Any:
    """With propagation simulated, a cluster role created too recently cannot be assumed.

    (A role that does not exist at all is still accepted, as by moto, when propagation is
    off: eksmgr's tests create clusters naming roles they never create.)
    """
    call = arguments(original, self, args, kwargs)
    role_arn = call.get("role_arn") or ""
    if propagation_seconds() > 0 and call.get("name") not in self.clusters:
        role = find_principal(role_arn)
        if isinstance(role, Role) and not visible_to_other_services(role):
            raise EKSInvalidParameterException(
                clusterName=call.get("name"),
                message=EKS_ROLE_NOT_ASSUMABLE_MSG.format(arn=role_arn),
            )
    return original(self, *args, **kwargs)


def install() -> None:
    """Add the rules to moto's IAM, ECR, KMS and EKS backends (idempotent)."""
    wrap_method(IAMBackend, "create_role", _create_role)
    wrap_method(IAMBackend, "update_assume_role_policy", _update_assume_role_policy)
    wrap_method(IAMBackend, "put_role_policy", _put_role_policy)
    wrap_method(ECRBackend, "set_repository_policy", _set_repository_policy)
    wrap_method(KmsBackend, "create_key", _create_key)
    wrap_method(KmsBackend, "put_key_policy", _put_key_policy)
    wrap_method(EKSBackend, "create_cluster", _create_cluster)
