"""EKS access entries and pod identity associations for moto (test support only).

moto 5.2.5 lacks these EKS APIs, which eksmgr uses to grant IAM principals access to a
cluster and to bind Kubernetes service accounts to IAM roles.  This module adds them to
moto's own EKS service, in moto's style:

* a model class per object (``AccessEntry``, ``AssociatedAccessPolicy``,
  ``PodIdentityAssociation``), kept on the ``Cluster`` it belongs to - like the
  cluster's nodegroups - in the ``EKSBackend`` of the request's account and region.  So
  the state is per account and region, goes when its cluster is deleted, and is cleared
  by ``POST /moto-api/reset``;
* backend methods added to ``EKSBackend`` and response methods added to ``EKSResponse``,
  named like the botocore operation (``CreateAccessEntry`` -> ``create_access_entry``):
  moto picks the operation from botocore's model by HTTP method and path, then calls the
  response method of that name (``BaseResponse.call_action``);
* URL routes added to ``moto.eks.urls.url_paths``.

It also makes S3's conditional object writes atomic, as S3 does (see
``_serialise_s3_writes``), and, through the sibling modules, makes moto as strict as AWS
where eksmgr relies on an AWS rule (each rule cites its AWS page):

* ``strict_organizations``: AttachPolicy needs the policy type enabled in the root; SCP
  and other policy content size quotas;
* ``strict_stacksets``: Describe/Activate/DeactivateOrganizationsAccess; SERVICE_MANAGED
  stack sets need trusted access and the management account (or a delegated administrator
  with CallAs=DELEGATED_ADMIN); OU targets (nested OUs, AccountFilterType) in
  CreateStackInstances and DeleteStackInstances;
* ``strict_principals``: principals named in IAM trust policies, ECR repository policies
  and KMS key policies must exist; IAM/ECR/KMS policy size quotas; IAM eventual
  consistency simulated with ``EKSMGR_EMULATOR_IAM_PROPAGATION_SECONDS``;
* ``managed_policies``: AWS managed policies parsed once, optionally only those named in
  ``EKSMGR_EMULATOR_IAM_MANAGED_POLICIES`` (organizations of hundreds of accounts);
* ``eks_subnets``: CreateCluster's subnets (when they exist in moto's EC2) all exist, in one
  VPC and at least two Availability Zones; CreateNodegroup's in the cluster's VPC (made-up
  subnet ids that EC2 never had are accepted, as by moto);
* ``eks_versions``: DescribeClusterVersions and CreateCluster refusing a Kubernetes version
  EKS does not offer (``EKSMGR_EMULATOR_TODAY=YYYY-MM-DD`` fixes "today");
* ``eks_access_config``: the authentication mode recorded at CreateCluster, changed one way
  only by UpdateClusterConfig;
* ``eks_updates``: UpdateClusterVersion (one minor version at a time), UpdateNodegroupVersion
  (never later than the cluster), DescribeUpdate and ListUpdates; UpdateClusterConfig and
  UpdateNodegroupConfig answer describable updates (one type of cluster update per call, one
  update of a resource at a time); node groups get their cluster's version and AWS's
  scaling rules;
* ``eks_addons``: Create/Describe/List/Update/DeleteAddon and DescribeAddonVersions, from one
  table of add-on versions per Kubernetes version (compatible versions, one default each);
  add-on pod identity associations (roles must exist) owned by the add-on;
* ``ec2_instances``: RunInstances resolves ``resolve:ssm:`` image ids (an unknown parameter
  is refused), refuses an instance profile that does not exist, is not yet visible to EC2
  or has no role, is idempotent by ClientToken and keeps security groups in the subnet's
  VPC; ModifyInstanceMetadataOptions keeps the options it is not given;
  ModifyInstanceAttribute Groups replaces the groups (which must exist, in the instance's
  VPC); IAM's wording for a missing instance profile;
* ``kube_api``: each cluster's Kubernetes API endpoint, with ``EKSMGR_EMULATOR_KUBE_PORT``
  set (a free TCP port): an HTTPS server on ``127.0.0.1`` in this process (a CA of its own,
  given as the cluster's ``certificateAuthority``; ``endpoint`` is
  ``https://127.0.0.1:{port}/clusters/{account}/{region}/{name}``) that authenticates
  ``aws eks get-token`` style tokens as aws-iam-authenticator does (replayed against this
  moto), authorizes through the cluster's access entries and access policies, and serves
  Namespaces and Secrets (server-side apply included).  ``POST
  /_emulator/clusters/{account}/{region}/{name}/down`` (``/up``) makes a cluster's endpoint
  unreachable (reachable); ``.../objects`` creates a hand-made Namespace or Secret;
  ``EKSMGR_EMULATOR_KUBE_LOG`` names a JSON-lines request log (never bodies).  Always: moto
  routes presigned (query-auth) requests by their ``X-Amz-Credential`` and takes the caller
  from it.

``scripts/emulator/selftest.py`` exercises every rule against a server of its own.

Operations: Create/Describe/List/Update/DeleteAccessEntry, Associate/Disassociate/
ListAssociatedAccessPolicies, Create/Describe/List/Update/DeletePodIdentityAssociation;
(through the sibling modules) Create/Describe/List/Update/DeleteAddon,
DescribeAddonVersions, UpdateClusterVersion, UpdateNodegroupVersion, DescribeUpdate,
ListUpdates, DescribeClusterVersions; Tag/Untag/ListTagsForResource also work on the new
ARNs (add-ons included).

Run it instead of ``moto_server``, with moto_server's arguments::

    python scripts/emulator/eksmgr_moto.py -H 127.0.0.1 -p 5000

or call ``install()`` before moto builds its EKS app.  It exists for eksmgr's tests and
demo only; it is not a general-purpose moto extension.
"""

from __future__ import annotations

import functools
import re
import sys
import threading
from pathlib import Path
from typing import Any, Callable, cast
from urllib.parse import urlsplit

from moto.core.responses import ActionResult, BaseResponse, EmptyResult
from moto.core.utils import utcnow
from moto.eks import urls as eks_urls
from moto.eks.exceptions import (
    InvalidParameterException,
    ResourceInUseException,
    ResourceNotFoundException,
)
from moto.eks.models import CLUSTER_NOT_FOUND_MSG, Cluster, EKSBackend, paginated_list
from moto.eks.responses import DEFAULT_MAX_RESULTS, EKSResponse
from moto.eks.utils import validate_role_arn
from moto.moto_api._internal import mock_random as random

# The sibling modules import as top-level modules, however this file is loaded.
_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

import ec2_instances  # noqa: E402
import eks_access_config  # noqa: E402
import eks_addons  # noqa: E402
import eks_subnets  # noqa: E402
import eks_updates  # noqa: E402
import eks_versions  # noqa: E402
import kube_api  # noqa: E402
import managed_policies  # noqa: E402
import strict_organizations  # noqa: E402
import strict_principals  # noqa: E402
import strict_stacksets  # noqa: E402

# Both are the cluster's ARN with its resource type replaced:
# arn:aws:eks:REGION:ACCOUNT:access-entry/CLUSTER/role/PRINCIPAL_ACCOUNT/NAME/UUID
# arn:aws:eks:REGION:ACCOUNT:podidentityassociation/CLUSTER/a-xxxxxxxxxxxxxxxxx
ACCESS_ENTRY_ARN_TEMPLATE = "{cluster_arn}/{type}/{account_id}/{name}/{uuid}"
ASSOCIATION_ARN_TEMPLATE = "{cluster_arn}/{association_id}"

# arn:aws:iam::123456789012:role/optional/path/NAME (or user/...)
PRINCIPAL_ARN = re.compile(
    r"^arn:(?P<partition>[\w-]+):iam::(?P<account_id>\d{12}):"
    r"(?P<type>role|user)/(?:.*/)?(?P<name>[^/]+)$"
)
# AmazonEKSViewPolicy, ...EditPolicy, ...AdminPolicy, ...ClusterAdminPolicy, ...
ACCESS_POLICY_ARN = re.compile(
    r"^arn:[\w-]+:eks::aws:cluster-access-policy/AmazonEKS\w+$"
)
ACCESS_SCOPE_TYPES = ("cluster", "namespace")
STANDARD = "STANDARD"
# The username EKS gives the entry of each node type.
NODE_USERNAMES = {
    "EC2": "system:node:{{EC2PrivateDNSName}}",
    "EC2_LINUX": "system:node:{{EC2PrivateDNSName}}",
    "EC2_WINDOWS": "system:node:{{EC2PrivateDNSName}}",
    "FARGATE_LINUX": "system:node:{{SessionName}}",
    "HYBRID_LINUX": "system:node:{{SessionName}}",
    "HYPERPOD_LINUX": "system:node:{{EC2PrivateDNSName}}",
}

ACCESS_ENTRY_EXISTS_MSG = "The specified access entry resource is already in use on this cluster."
ACCESS_ENTRY_NOT_FOUND_MSG = "The specified principalArn could not be found. You can view your available access entries with 'list-access-entries'."
POLICY_NOT_ASSOCIATED_MSG = "The specified policy {policyArn} is not associated with the access entry for {principalArn}."
ASSOCIATION_EXISTS_MSG = "Association already exists: {associationId}"
ASSOCIATION_NOT_FOUND_MSG = "No Pod Identity Association found with id: {associationId}"


class AssociatedAccessPolicy:
    def __init__(self, policy_arn: str, access_scope: dict[str, Any]):
        self.policy_arn = policy_arn
        self.access_scope = access_scope
        self.associated_at = utcnow()
        self.modified_at = self.associated_at


class AccessEntry:
    def __init__(
        self,
        cluster: Cluster,
        principal: re.Match[str],
        kubernetes_groups: list[str] | None = None,
        username: str | None = None,
        type: str | None = None,
        tags: dict[str, str] | None = None,
        client_request_token: str | None = None,
    ):
        self.cluster_name = cluster.name
        self.principal_arn = principal.group(0)
        self.type = type or STANDARD
        self.kubernetes_groups = kubernetes_groups or []
        self.username = username or _default_username(self.type, principal)
        self.tags = tags or {}
        self.client_request_token = client_request_token
        self.access_entry_arn = ACCESS_ENTRY_ARN_TEMPLATE.format(
            cluster_arn=cluster.arn.replace(":cluster/", ":access-entry/", 1),
            type=principal.group("type"),
            account_id=principal.group("account_id"),
            name=principal.group("name"),
            uuid=random.uuid4(),
        )
        self.created_at = utcnow()
        self.modified_at = self.created_at
        # By policy ARN.
        self.access_policies: dict[str, AssociatedAccessPolicy] = {}


class PodIdentityAssociation:
    def __init__(
        self,
        cluster: Cluster,
        namespace: str,
        service_account: str,
        role_arn: str,
        tags: dict[str, str] | None = None,
        client_request_token: str | None = None,
    ):
        self.association_id = "a-" + random.get_random_string(17, lower_case=True)
        self.association_arn = ASSOCIATION_ARN_TEMPLATE.format(
            cluster_arn=cluster.arn.replace(":cluster/", ":podidentityassociation/", 1),
            association_id=self.association_id,
        )
        self.cluster_name = cluster.name
        self.namespace = namespace
        self.service_account = service_account
        self.role_arn = role_arn
        self.tags = tags or {}
        self.client_request_token = client_request_token
        self.disable_session_tags = False
        # EKS sets it on the associations an add-on creates; never on these.
        self.owner_arn: str | None = None
        self.created_at = utcnow()
        self.modified_at = self.created_at


def _default_username(entry_type: str, principal: re.Match[str]) -> str:
    if entry_type in NODE_USERNAMES:
        return NODE_USERNAMES[entry_type]
    if principal.group("type") == "user":
        return principal.group(0)
    partition, account_id, name = principal.group("partition", "account_id", "name")
    return f"arn:{partition}:sts::{account_id}:assumed-role/{name}/{{{{SessionName}}}}"


def _access_entries(cluster: Cluster) -> dict[str, AccessEntry]:
    """The cluster's access entries by principal ARN, kept on it like its nodegroups."""
    return cluster.__dict__.setdefault("access_entries", {})


def _associations(cluster: Cluster) -> dict[str, PodIdentityAssociation]:
    """The cluster's pod identity associations by association id."""
    return cluster.__dict__.setdefault("pod_identity_associations", {})


def _page(
    keys: list[str], max_results: int | None, next_token: str | None
) -> tuple[list[str], str | None]:
    """moto's paginated_list (sorted; the token is the next key), with AWS's checks."""
    if max_results is not None and not 1 <= max_results <= 100:
        raise InvalidParameterException(message="maxResults must be between 1 and 100")
    if next_token and next_token not in keys:
        raise InvalidParameterException(message="The nextToken is invalid")
    return paginated_list(keys, max_results or DEFAULT_MAX_RESULTS, next_token)


def _access_scope(access_scope: dict[str, Any] | None) -> dict[str, Any]:
    scope_type = (access_scope or {}).get("type")
    namespaces = list((access_scope or {}).get("namespaces") or [])
    if scope_type not in ACCESS_SCOPE_TYPES:
        message = "accessScope.type must be cluster or namespace"
    elif scope_type == "namespace" and not namespaces:
        message = "accessScope.namespaces is required for a namespace scope"
    elif scope_type == "cluster" and namespaces:
        message = "accessScope.namespaces must be empty for a cluster scope"
    else:
        return {"type": scope_type, "namespaces": namespaces}
    raise InvalidParameterException(message=message)


class EKSBackendExtension(EKSBackend):
    """The methods install() adds to moto's EKSBackend; not instantiated itself."""

    def _cluster(self, cluster_name: str) -> Cluster:
        if cluster_name not in self.clusters:
            raise ResourceNotFoundException(
                clusterName=cluster_name,
                message=CLUSTER_NOT_FOUND_MSG.format(clusterName=cluster_name),
            )
        return self.clusters[cluster_name]

    def describe_access_entry(
        self, cluster_name: str, principal_arn: str
    ) -> AccessEntry:
        entries = _access_entries(self._cluster(cluster_name))
        if principal_arn not in entries:
            raise ResourceNotFoundException(
                clusterName=cluster_name, message=ACCESS_ENTRY_NOT_FOUND_MSG
            )
        return entries[principal_arn]

    def describe_pod_identity_association(
        self, cluster_name: str, association_id: str
    ) -> PodIdentityAssociation:
        associations = _associations(self._cluster(cluster_name))
        if association_id not in associations:
            raise ResourceNotFoundException(
                clusterName=cluster_name,
                message=ASSOCIATION_NOT_FOUND_MSG.format(associationId=association_id),
            )
        return associations[association_id]

    def create_access_entry(
        self,
        cluster_name: str,
        principal_arn: str,
        kubernetes_groups: list[str] | None = None,
        username: str | None = None,
        type: str | None = None,
        tags: dict[str, str] | None = None,
        client_request_token: str | None = None,
    ) -> AccessEntry:
        cluster = self._cluster(cluster_name)
        principal = PRINCIPAL_ARN.match(principal_arn or "")
        if not principal:
            raise InvalidParameterException(
                message=f"The specified principalArn is invalid: {principal_arn}"
            )
        if type not in (None, STANDARD, *NODE_USERNAMES):
            raise InvalidParameterException(
                message=f"Invalid access entry type: {type}"
            )
        if principal_arn in _access_entries(cluster):
            raise ResourceInUseException(
                clusterName=cluster_name, message=ACCESS_ENTRY_EXISTS_MSG
            )
        entry = AccessEntry(
            cluster,
            principal,
            kubernetes_groups=kubernetes_groups,
            username=username,
            type=type,
            tags=tags,
            client_request_token=client_request_token,
        )
        _access_entries(cluster)[principal_arn] = entry
        return entry

    def list_access_entries(
        self,
        cluster_name: str,
        associated_policy_arn: str | None,
        max_results: int | None,
        next_token: str | None,
    ) -> tuple[list[str], str | None]:
        arns = [
            entry.principal_arn
            for entry in _access_entries(self._cluster(cluster_name)).values()
            if not associated_policy_arn
            or associated_policy_arn in entry.access_policies
        ]
        return _page(arns, max_results, next_token)

    def update_access_entry(
        self,
        cluster_name: str,
        principal_arn: str,
        kubernetes_groups: list[str] | None = None,
        username: str | None = None,
    ) -> AccessEntry:
        entry = self.describe_access_entry(cluster_name, principal_arn)
        if kubernetes_groups is not None:
            entry.kubernetes_groups = kubernetes_groups
        if username:
            entry.username = username
        entry.modified_at = utcnow()
        return entry

    def delete_access_entry(self, cluster_name: str, principal_arn: str) -> None:
        # Its policy associations go with it.
        self.describe_access_entry(cluster_name, principal_arn)
        del _access_entries(self.clusters[cluster_name])[principal_arn]

    def associate_access_policy(
        self,
        cluster_name: str,
        principal_arn: str,
        policy_arn: str,
        access_scope: dict[str, Any] | None,
    ) -> AssociatedAccessPolicy:
        entry = self.describe_access_entry(cluster_name, principal_arn)
        # Access policies go to STANDARD entries only; EKS grants the other types (nodes,
        # Fargate) what they need itself: "You can assign one or more access policies to
        # access entries of type STANDARD"
        # (https://docs.aws.amazon.com/eks/latest/userguide/access-policies.html), and of
        # EC2_LINUX or EC2_WINDOWS: "you can't ... associate an AccessPolicy to the access
        # entry" (https://docs.aws.amazon.com/eks/latest/APIReference/API_CreateAccessEntry.html).
        # eksmgr plans STANDARD entries only; an association with another type is refused here
        # as AWS refuses it.
        if entry.type != STANDARD:
            raise InvalidParameterException(
                message=f"Access policies cannot be associated with an access entry of type "
                f"{entry.type}"
            )
        if not ACCESS_POLICY_ARN.match(policy_arn or ""):
            raise InvalidParameterException(
                message=f"The specified policyArn is invalid: {policy_arn}"
            )
        scope = _access_scope(access_scope)
        association = entry.access_policies.get(policy_arn)
        if association:
            # Associating a policy again replaces its scope.
            association.access_scope = scope
            association.modified_at = utcnow()
        else:
            association = AssociatedAccessPolicy(policy_arn, scope)
            entry.access_policies[policy_arn] = association
        return association

    def disassociate_access_policy(
        self, cluster_name: str, principal_arn: str, policy_arn: str
    ) -> None:
        entry = self.describe_access_entry(cluster_name, principal_arn)
        if entry.access_policies.pop(policy_arn, None) is None:
            raise ResourceNotFoundException(
                clusterName=cluster_name,
                message=POLICY_NOT_ASSOCIATED_MSG.format(
                    policyArn=policy_arn, principalArn=principal_arn
                ),
            )

    def list_associated_access_policies(
        self,
        cluster_name: str,
        principal_arn: str,
        max_results: int | None,
        next_token: str | None,
    ) -> tuple[list[AssociatedAccessPolicy], str | None]:
        entry = self.describe_access_entry(cluster_name, principal_arn)
        policies = entry.access_policies
        page, next_token = _page(list(policies), max_results, next_token)
        return [policies[arn] for arn in page], next_token

    def create_pod_identity_association(
        self,
        cluster_name: str,
        namespace: str,
        service_account: str,
        role_arn: str,
        tags: dict[str, str] | None = None,
        client_request_token: str | None = None,
    ) -> PodIdentityAssociation:
        cluster = self._cluster(cluster_name)
        if not namespace or not service_account:
            raise InvalidParameterException(
                message="namespace and serviceAccount are required"
            )
        validate_role_arn(role_arn or "")
        for existing in _associations(cluster).values():
            if existing.namespace == namespace and (
                existing.service_account == service_account
            ):
                raise ResourceInUseException(
                    clusterName=cluster_name,
                    message=ASSOCIATION_EXISTS_MSG.format(
                        associationId=existing.association_id
                    ),
                )
        association = PodIdentityAssociation(
            cluster, namespace, service_account, role_arn, tags, client_request_token
        )
        _associations(cluster)[association.association_id] = association
        return association

    def list_pod_identity_associations(
        self,
        cluster_name: str,
        namespace: str | None,
        service_account: str | None,
        max_results: int | None,
        next_token: str | None,
    ) -> tuple[list[PodIdentityAssociation], str | None]:
        associations = _associations(self._cluster(cluster_name))
        ids = [
            a.association_id
            for a in associations.values()
            if (not namespace or namespace == a.namespace)
            and (not service_account or service_account == a.service_account)
        ]
        page, next_token = _page(ids, max_results, next_token)
        return [associations[i] for i in page], next_token

    def update_pod_identity_association(
        self, cluster_name: str, association_id: str, role_arn: str | None = None
    ) -> PodIdentityAssociation:
        association = self.describe_pod_identity_association(
            cluster_name, association_id
        )
        if role_arn:
            validate_role_arn(role_arn)
            association.role_arn = role_arn
        association.modified_at = utcnow()
        return association

    def delete_pod_identity_association(
        self, cluster_name: str, association_id: str
    ) -> PodIdentityAssociation:
        self.describe_pod_identity_association(cluster_name, association_id)
        return _associations(self.clusters[cluster_name]).pop(association_id)

    # moto's own three tag methods find clusters only.
    def _tagged_resource(self, resource_arn: str, operation: str) -> Any:
        for cluster in self.clusters.values():
            resources: dict[str, Any] = {cluster.arn: cluster}
            for entry in _access_entries(cluster).values():
                resources[entry.access_entry_arn] = entry
            for association in _associations(cluster).values():
                resources[association.association_arn] = association
            if resource_arn in resources:
                return resources[resource_arn]
        raise ResourceNotFoundException(
            message=f"An error occurred (NotFoundException) when calling the {operation} operation: Resource was not found"
        )

    def tag_resource(self, resource_arn: str, tags: dict[str, str]) -> None:
        self._tagged_resource(resource_arn, "TagResource").tags.update(tags)

    def untag_resource(self, resource_arn: str, tag_keys: list[str]) -> None:
        resource = self._tagged_resource(resource_arn, "UntagResource")
        for key in [tag_keys] if isinstance(tag_keys, str) else tag_keys:
            resource.tags.pop(key, None)

    def list_tags_for_resource(self, resource_arn: str) -> dict[str, str]:
        return self._tagged_resource(resource_arn, "ListTagsForResource").tags


class EKSResponseExtension(EKSResponse):
    """The methods install() adds to moto's EKSResponse; not instantiated itself."""

    @property
    def eks_extension(self) -> EKSBackendExtension:
        # The request's EKSBackend, which install() gave the extension's methods.
        return cast(EKSBackendExtension, self.eks_backend)

    def get_region_from_url(self, request: Any, full_url: str) -> str:
        # moto looks for `.<region>.amazonaws.com` anywhere in the URL, so the path of an
        # IAM Identity Center role's ARN (`.../aws-reserved/sso.amazonaws.com/...`) would be
        # taken for the region. Only the host can name it.
        parts = urlsplit(full_url)
        return BaseResponse.get_region_from_url(
            self, request, f"{parts.scheme}://{parts.netloc}/"
        )

    def create_access_entry(self) -> ActionResult:
        entry = self.eks_extension.create_access_entry(
            cluster_name=self._get_param("name"),
            principal_arn=self._get_param("principalArn"),
            kubernetes_groups=self._get_param("kubernetesGroups"),
            username=self._get_param("username"),
            type=self._get_param("type"),
            tags=self._get_param("tags"),
            client_request_token=self._get_param("clientRequestToken"),
        )
        return ActionResult({"accessEntry": entry})

    def describe_access_entry(self) -> ActionResult:
        entry = self.eks_extension.describe_access_entry(
            cluster_name=self._get_param("name"),
            principal_arn=self._get_param("principalArn"),
        )
        return ActionResult({"accessEntry": entry})

    def list_access_entries(self) -> ActionResult:
        arns, next_token = self.eks_extension.list_access_entries(
            cluster_name=self._get_param("name"),
            associated_policy_arn=self._get_param("associatedPolicyArn"),
            max_results=self._get_int_param("maxResults"),
            next_token=self._get_param("nextToken"),
        )
        return ActionResult({"accessEntries": arns, "nextToken": next_token})

    def update_access_entry(self) -> ActionResult:
        entry = self.eks_extension.update_access_entry(
            cluster_name=self._get_param("name"),
            principal_arn=self._get_param("principalArn"),
            kubernetes_groups=self._get_param("kubernetesGroups"),
            username=self._get_param("username"),
        )
        return ActionResult({"accessEntry": entry})

    def delete_access_entry(self) -> ActionResult:
        self.eks_extension.delete_access_entry(
            cluster_name=self._get_param("name"),
            principal_arn=self._get_param("principalArn"),
        )
        return EmptyResult()

    def associate_access_policy(self) -> ActionResult:
        cluster_name = self._get_param("name")
        principal_arn = self._get_param("principalArn")
        association = self.eks_extension.associate_access_policy(
            cluster_name=cluster_name,
            principal_arn=principal_arn,
            policy_arn=self._get_param("policyArn"),
            access_scope=self._get_param("accessScope"),
        )
        return ActionResult(
            {
                "clusterName": cluster_name,
                "principalArn": principal_arn,
                "associatedAccessPolicy": association,
            }
        )

    def disassociate_access_policy(self) -> ActionResult:
        self.eks_extension.disassociate_access_policy(
            cluster_name=self._get_param("name"),
            principal_arn=self._get_param("principalArn"),
            policy_arn=self._get_param("policyArn"),
        )
        return EmptyResult()

    def list_associated_access_policies(self) -> ActionResult:
        cluster_name = self._get_param("name")
        principal_arn = self._get_param("principalArn")
        policies, next_token = self.eks_extension.list_associated_access_policies(
            cluster_name=cluster_name,
            principal_arn=principal_arn,
            max_results=self._get_int_param("maxResults"),
            next_token=self._get_param("nextToken"),
        )
        return ActionResult(
            {
                "clusterName": cluster_name,
                "principalArn": principal_arn,
                "associatedAccessPolicies": policies,
                "nextToken": next_token,
            }
        )

    def create_pod_identity_association(self) -> ActionResult:
        association = self.eks_extension.create_pod_identity_association(
            cluster_name=self._get_param("name"),
            namespace=self._get_param("namespace"),
            service_account=self._get_param("serviceAccount"),
            role_arn=self._get_param("roleArn"),
            tags=self._get_param("tags"),
            client_request_token=self._get_param("clientRequestToken"),
        )
        return ActionResult({"association": association})

    def describe_pod_identity_association(self) -> ActionResult:
        association = self.eks_extension.describe_pod_identity_association(
            cluster_name=self._get_param("name"),
            association_id=self._get_param("associationId"),
        )
        return ActionResult({"association": association})

    def list_pod_identity_associations(self) -> ActionResult:
        # The summary shape picks its members off the full models.
        associations, next_token = self.eks_extension.list_pod_identity_associations(
            cluster_name=self._get_param("name"),
            namespace=self._get_param("namespace"),
            service_account=self._get_param("serviceAccount"),
            max_results=self._get_int_param("maxResults"),
            next_token=self._get_param("nextToken"),
        )
        return ActionResult({"associations": associations, "nextToken": next_token})

    def update_pod_identity_association(self) -> ActionResult:
        association = self.eks_extension.update_pod_identity_association(
            cluster_name=self._get_param("name"),
            association_id=self._get_param("associationId"),
            role_arn=self._get_param("roleArn"),
        )
        return ActionResult({"association": association})

    def delete_pod_identity_association(self) -> ActionResult:
        association = self.eks_extension.delete_pod_identity_association(
            cluster_name=self._get_param("name"),
            association_id=self._get_param("associationId"),
        )
        return ActionResult({"association": association})

    def untag_resource(self) -> ActionResult:
        # moto's passes on only the first of several ?tagKeys= values.
        self.eks_extension.untag_resource(
            self._extract_arn_from_path(), self.querystring.get("tagKeys", [])
        )
        return EmptyResult()


# The server sends a request to EKSResponse.dispatch when its percent-decoded path
# matches one of these; moto then picks the operation by matching the still-encoded path
# against botocore's URIs.  A decoded principal ARN has slashes, so its route takes the
# rest of the path, .../access-policies[/{policyArn}] included.
URL_PATHS = {
    "{0}/clusters/(?P<name>[^/]+)/access-entries$": eks_urls.response.dispatch,
    "{0}/clusters/(?P<name>[^/]+)/access-entries/(?P<principalArn>.+)$": eks_urls.response.dispatch,
    "{0}/clusters/(?P<name>[^/]+)/pod-identity-associations$": eks_urls.response.dispatch,
    "{0}/clusters/(?P<name>[^/]+)/pod-identity-associations/(?P<associationId>[^/]+)$": eks_urls.response.dispatch,
}


def _add_methods(target: type, extension: type) -> None:
    for name, member in vars(extension).items():
        if not name.startswith("__"):
            setattr(target, name, member)


# S3 applies a conditional write (PutObject with If-None-Match or If-Match, DeleteObject
# with If-Match) atomically: of two writes racing for the same key, one gets 412.  moto
# checks the condition and then writes in two steps, and its server answers requests on
# several threads, so two racing writes could both pass the check.  eksmgr's S3 state lock
# relies on S3's guarantee; the two object writes are made atomic here, as in S3.
_S3_WRITES = threading.Lock()


def _serialised(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def write(self: Any, *args: Any, **kwargs: Any) -> Any:
        with _S3_WRITES:
            return method(self, *args, **kwargs)

    write.__eksmgr_serialised__ = True  # type: ignore[attr-defined]
    return write


def _serialise_s3_writes() -> None:
    from moto.s3.responses import S3Response

    for name in ("put_object", "delete_object"):
        method = getattr(S3Response, name)
        if not getattr(method, "__eksmgr_serialised__", False):
            setattr(S3Response, name, _serialised(method))


def install() -> None:
    """Add the APIs to moto's EKS service, make S3's conditional writes atomic and add the
    AWS rules of the sibling modules (idempotent), before moto builds its apps."""
    _add_methods(EKSBackend, EKSBackendExtension)
    _add_methods(EKSResponse, EKSResponseExtension)
    eks_urls.url_paths.update(URL_PATHS)
    _serialise_s3_writes()
    managed_policies.install()
    strict_organizations.install()
    strict_stacksets.install()
    strict_principals.install()
    # Between the two: CreateCluster checks its version, then its subnets, then its role;
    # CreateNodegroup its version and scaling (eks_updates), then its subnets.
    eks_subnets.install()
    # After strict_principals: CreateCluster checks its version before its role.
    eks_versions.install()
    eks_access_config.install()
    # After the two above: their CreateCluster/UpdateClusterConfig checks run inside these.
    eks_updates.install()
    # After eks_updates and this module's own methods, which it wraps.
    eks_addons.install()
    ec2_instances.install()
    # With $EKSMGR_EMULATOR_KUBE_PORT: new clusters get the emulated API's endpoint and CA.
    kube_api.install()


def main(argv: list[str] | None = None) -> None:
    """moto_server, with the APIs installed; takes moto_server's arguments."""
    install()
    from request_log import install as install_request_log

    install_request_log()  # with $EKSMGR_EMULATOR_REQUEST_LOG set: log every request to it
    # With $EKSMGR_EMULATOR_KUBE_PORT set: the clusters' Kubernetes API, in a daemon thread.
    kube_api.start()
    from moto.server import main as moto_server_main

    moto_server_main(argv)


if __name__ == "__main__":
    main()
