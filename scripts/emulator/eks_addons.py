"""EKS add-ons: Create/Describe/List/Update/DeleteAddon and DescribeAddonVersions (test
support only).

Checked in moto 5.2.5 first: it has no add-on API at all.  Added here, in the style of
``eksmgr_moto`` (a model class kept on moto's ``Cluster``, backend and response methods,
URL routes):

1. ADDONS below: the add-ons EKS offers and their versions, per Kubernetes version of
   ``eks_versions.VERSIONS`` - the one table DescribeAddonVersions answers from and
   CreateAddon/UpdateAddon check against.  For each add-on and Kubernetes version exactly
   one version is the default (checked when this module loads).
2. CreateAddon: the cluster exists and is ACTIVE; one add-on of a name per cluster
   (ResourceInUseException); the add-on offered for the cluster's Kubernetes version and
   the version, when given, compatible with it (else the default); resolveConflicts one of
   NONE/OVERWRITE/PRESERVE; configurationValues a JSON (or YAML) object; the roles of
   podIdentityAssociations exist in the cluster's account, and the add-on supports EKS Pod
   Identity.  The associations are created owned by the add-on (``ownerArn``) in
   kube-system, and go with it.  The add-on is CREATING in the create's answer and ACTIVE
   from the first DescribeAddon on.
3. UpdateAddon: the same checks against the cluster's current version; the change is
   applied at once and recorded as an ``AddonUpdate`` (``eks_updates``), InProgress until
   described; the add-on is UPDATING until then, and takes no other update meanwhile.
4. DeleteAddon answers the add-on DELETING and removes it with its associations.
5. Tag/Untag/ListTagsForResource work on add-on ARNs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable

import yaml
from moto.core.responses import ActionResult
from moto.core.utils import utcnow
from moto.eks import urls as eks_urls
from moto.eks.exceptions import (
    InvalidParameterException,
    InvalidRequestException,
    ResourceInUseException,
    ResourceNotFoundException,
)
from moto.eks.models import CLUSTER_NOT_READY_MSG, Cluster, EKSBackend
from moto.eks.responses import EKSResponse
from moto.eks.utils import validate_role_arn
from moto.iam.models import Role
from moto.moto_api._internal import mock_random as random

import eks_versions
from eks_updates import (
    ADDON_UPDATE,
    UPSTREAM_PATCH,
    busy_update,
    cluster_of,
    minor,
    page,
    record_update,
    settle,
)
from patching import add_methods, wrap_method
from strict_principals import find_principal, visible_to_other_services

PUBLISHER = "eks"
OWNER = "aws"
NAMESPACE = "kube-system"  # where EKS runs its add-ons and their service accounts
RESOLVE_CONFLICTS = ("NONE", "OVERWRITE", "PRESERVE")
CREATING, ACTIVE, UPDATING, DELETING = "CREATING", "ACTIVE", "UPDATING", "DELETING"

# Messages as EKS answers them, where known.
# "Addon already exists." (ResourceInUseException, HTTP 409; aws/eks-hybrid pull request
# #316, wandb/terraform-aws-wandb pull request #230).
ADDON_EXISTS_MSG = "Addon already exists."
# "Addon kubecost_kubecost specified is not supported in 1.28 kubernetes version"
# (marcincuber/eks issue #10).
ADDON_NOT_SUPPORTED_MSG = "Addon {addon} specified is not supported in {version} kubernetes version"
# "Addon version specified is not supported" (hashicorp/terraform-provider-aws issues
# #32238 and #20559, with addonName and clusterName).
ADDON_VERSION_NOT_SUPPORTED_MSG = "Addon version specified is not supported"
# "Addon vpc-cni cannot be updated as it is currently in UPDATING state" (HTTP 409;
# awslabs/cdk-eks-blueprints issue #447).
ADDON_BUSY_MSG = "Addon {addon} cannot be updated as it is currently in {status} state"
ADDON_NOT_FOUND_MSG = "No addon: {addon} found in cluster: {cluster}"
# "Role provided in the request does not exist" (InvalidParameterException of
# CreatePodIdentityAssociation; hashicorp/terraform-provider-aws pull request #34717).
ROLE_NOT_FOUND_MSG = "Role provided in the request does not exist"
ASSOCIATION_EXISTS_MSG = "Association already exists: {associationId}"
# The wording of these is not published.
CONFIGURATION_VALUES_MSG = "ConfigurationValue provided in request is not supported: {reason}"
POD_IDENTITY_NOT_SUPPORTED_MSG = "Addon {addon} does not support Pod Identity associations"
ROLE_OTHER_ACCOUNT_MSG = "Role {arn} must be in the cluster's account {account}"
RESOLVE_CONFLICTS_MSG = "resolveConflicts must be one of NONE, OVERWRITE or PRESERVE"
ASSOCIATION_FIELDS_MSG = "Each pod identity association needs a serviceAccount and a roleArn"
ASSOCIATION_DUPLICATE_MSG = "Service account {service_account} is named more than once"


# The version table ---------------------------------------------------------------------


def _span(first: str, last: str | None = None) -> tuple[str, ...]:
    """The Kubernetes versions of eks_versions.VERSIONS from `first` to `last` (None: to the
    newest), newest first."""
    known = [v.version for v in eks_versions.VERSIONS]
    start = known.index(first)
    end = known.index(last) + 1 if last else len(known)
    return tuple(reversed(known[start:end]))


@dataclass(frozen=True)
class AddonVersion:
    version: str
    compatible: tuple[str, ...]  # Kubernetes versions it runs on
    default_for: tuple[str, ...]  # Kubernetes versions it is the default of


@dataclass(frozen=True)
class AddonSpec:
    name: str
    type: str
    versions: tuple[AddonVersion, ...]  # newest first
    requires_iam_permissions: bool = False
    # Whether CreateAddon/UpdateAddon take podIdentityAssociations for it ("Certain Amazon
    # EKS add-ons need IAM roles and permissions").
    # https://docs.aws.amazon.com/eks/latest/userguide/add-ons-iam.html
    pod_identity: bool = False
    compute_types: tuple[str, ...] = ("ec2",)


def _kube_proxy() -> tuple[AddonVersion, ...]:
    """kube-proxy follows the cluster: one version per Kubernetes minor version."""
    versions = []
    for k in _span(eks_versions.VERSIONS[0].version):
        build = 2 if (minor(k) or (0, 0)) <= (1, 35) else 1
        versions.append(AddonVersion(f"v{k}.{UPSTREAM_PATCH.get(k, '0')}-eksbuild.{build}", (k,), (k,)))
    return tuple(versions)


# The add-ons EKS offers (illustrative, realistic eksbuild versions) for the Kubernetes
# versions of eks_versions.VERSIONS.  Defaults per Kubernetes version:
#   vpc-cni                 1.29-1.33 v1.19.2-eksbuild.1, 1.34-1.35 v1.20.4-eksbuild.2,
#                           1.36+ v1.21.1-eksbuild.1
#   coredns                 1.29-1.32 v1.11.4-eksbuild.2, 1.33-1.34 v1.12.1-eksbuild.2,
#                           1.35+ v1.12.4-eksbuild.1
#   kube-proxy              its own minor (v1.35.0-eksbuild.2 for 1.35)
#   eks-pod-identity-agent  1.29-1.34 v1.3.4-eksbuild.1, 1.35+ v1.3.8-eksbuild.2
#   aws-ebs-csi-driver      1.29-1.33 v1.38.1-eksbuild.2, 1.34+ v1.45.0-eksbuild.2
#   aws-efs-csi-driver      1.29-1.35 v2.1.4-eksbuild.1, 1.36+ v2.1.9-eksbuild.1
#   snapshot-controller     1.29-1.34 v8.1.0-eksbuild.2, 1.35+ v8.2.0-eksbuild.1
#   metrics-server          1.29-1.35 v0.7.2-eksbuild.3, 1.36+ v0.8.0-eksbuild.2
# Newer than the default: vpc-cni v1.21.1 (1.31-1.35), coredns v1.12.1 (1.32),
# aws-ebs-csi-driver v1.48.0 (1.31+), aws-efs-csi-driver v2.1.9 (1.29-1.35),
# snapshot-controller v8.2.0 (1.30-1.34), metrics-server v0.8.0 (1.31-1.35).
ADDONS: tuple[AddonSpec, ...] = (
    AddonSpec(
        "vpc-cni",
        "networking",
        (
            AddonVersion("v1.21.1-eksbuild.1", _span("1.31"), _span("1.36")),
            AddonVersion("v1.20.4-eksbuild.2", _span("1.29"), _span("1.34", "1.35")),
            AddonVersion("v1.19.2-eksbuild.1", _span("1.29", "1.35"), _span("1.29", "1.33")),
        ),
        requires_iam_permissions=True,
        pod_identity=True,
    ),
    AddonSpec(
        "coredns",
        "networking",
        (
            AddonVersion("v1.12.4-eksbuild.1", _span("1.35"), _span("1.35")),
            AddonVersion("v1.12.1-eksbuild.2", _span("1.32", "1.34"), _span("1.33", "1.34")),
            AddonVersion("v1.11.4-eksbuild.2", _span("1.29", "1.34"), _span("1.29", "1.32")),
        ),
        compute_types=("ec2", "auto", "hybrid"),
    ),
    AddonSpec("kube-proxy", "networking", _kube_proxy(), compute_types=("ec2", "hybrid")),
    AddonSpec(
        "eks-pod-identity-agent",
        "security",
        (
            AddonVersion("v1.3.8-eksbuild.2", _span("1.29"), _span("1.35")),
            AddonVersion("v1.3.4-eksbuild.1", _span("1.29", "1.35"), _span("1.29", "1.34")),
        ),
        compute_types=("ec2", "hybrid"),
    ),
    AddonSpec(
        "aws-ebs-csi-driver",
        "storage",
        (
            AddonVersion("v1.48.0-eksbuild.1", _span("1.31"), ()),
            AddonVersion("v1.45.0-eksbuild.2", _span("1.29"), _span("1.34")),
            AddonVersion("v1.38.1-eksbuild.2", _span("1.29", "1.34"), _span("1.29", "1.33")),
        ),
        requires_iam_permissions=True,
        pod_identity=True,
    ),
    AddonSpec(
        "aws-efs-csi-driver",
        "storage",
        (
            AddonVersion("v2.1.9-eksbuild.1", _span("1.29"), _span("1.36")),
            AddonVersion("v2.1.4-eksbuild.1", _span("1.29", "1.35"), _span("1.29", "1.35")),
        ),
        requires_iam_permissions=True,
        pod_identity=True,
    ),
    AddonSpec(
        "snapshot-controller",
        "storage",
        (
            AddonVersion("v8.2.0-eksbuild.1", _span("1.30"), _span("1.35")),
            AddonVersion("v8.1.0-eksbuild.2", _span("1.29", "1.35"), _span("1.29", "1.34")),
        ),
    ),
    AddonSpec(
        "metrics-server",
        "observability",
        (
            AddonVersion("v0.8.0-eksbuild.2", _span("1.31"), _span("1.36")),
            AddonVersion("v0.7.2-eksbuild.3", _span("1.29"), _span("1.29", "1.35")),
        ),
        compute_types=("ec2", "auto", "hybrid"),
    ),
)
ADDONS_BY_NAME = {spec.name: spec for spec in ADDONS}


def _check_table() -> None:
    """Every add-on has exactly one default version per Kubernetes version it runs on,
    and is the default only where it runs."""
    for spec in ADDONS:
        runs_on = {k for v in spec.versions for k in v.compatible}
        for v in spec.versions:
            assert set(v.default_for) <= set(v.compatible), (spec.name, v.version)
        for k in runs_on:
            defaults = [v.version for v in spec.versions if k in v.default_for]
            assert len(defaults) == 1, (spec.name, k, defaults)


_check_table()


def addon_spec(name: str, kubernetes_version: str) -> AddonSpec | None:
    """The add-on, if EKS offers it for that Kubernetes version."""
    spec = ADDONS_BY_NAME.get(name)
    if spec and any(kubernetes_version in v.compatible for v in spec.versions):
        return spec
    return None


def default_addon_version(spec: AddonSpec, kubernetes_version: str) -> str:
    return next(v.version for v in spec.versions if kubernetes_version in v.default_for)


def _version_info(version: AddonVersion, kubernetes_version: str | None, spec: AddonSpec) -> dict[str, Any]:
    return {
        "addonVersion": version.version,
        "architecture": ["amd64", "arm64"],
        "computeTypes": list(spec.compute_types),
        "compatibilities": [
            {
                "clusterVersion": k,
                "platformVersions": ["*"],
                "defaultVersion": k in version.default_for,
            }
            for k in version.compatible
            if kubernetes_version is None or k == kubernetes_version
        ],
        "requiresConfiguration": False,
        "requiresIamPermissions": spec.requires_iam_permissions,
    }


# The model -------------------------------------------------------------------------------


class Addon:
    def __init__(
        self,
        cluster: Cluster,
        addon_name: str,
        addon_version: str,
        service_account_role_arn: str | None = None,
        resolve_conflicts: str | None = None,
        configuration_values: str | None = None,
        tags: dict[str, str] | None = None,
        client_request_token: str | None = None,
    ):
        self.addon_name = addon_name
        self.cluster_name = cluster.name
        self.addon_version = addon_version
        self.addon_arn = "{cluster_arn}/{name}/{uuid}".format(
            cluster_arn=cluster.arn.replace(":cluster/", ":addon/", 1),
            name=addon_name,
            uuid=random.uuid4(),
        )
        self.health: dict[str, Any] = {"issues": []}
        self.created_at = utcnow()
        self.modified_at = self.created_at
        self.service_account_role_arn = service_account_role_arn
        self.resolve_conflicts = resolve_conflicts
        self.configuration_values = configuration_values or None
        self.tags = tags or {}
        self.client_request_token = client_request_token
        self.publisher = PUBLISHER
        self.owner = OWNER
        # The pod identity associations it owns (eksmgr_moto's PodIdentityAssociation).
        self.associations: list[Any] = []
        self.described = False
        self.deleting = False

    @property
    def status(self) -> str:
        if self.deleting:
            return DELETING
        if not self.described:
            return CREATING
        return UPDATING if busy_update(self) else ACTIVE

    @property
    def pod_identity_associations(self) -> list[str]:
        return [a.association_arn for a in self.associations]


def addons(cluster: Cluster) -> dict[str, Addon]:
    """The cluster's add-ons by name, kept on it like its node groups."""
    return cluster.__dict__.setdefault("addons", {})


def find_addon(cluster: Cluster, addon_name: str) -> Addon:
    if addon_name not in addons(cluster):
        raise ResourceNotFoundException(
            clusterName=cluster.name,
            addonName=addon_name,
            message=ADDON_NOT_FOUND_MSG.format(addon=addon_name, cluster=cluster.name),
        )
    return addons(cluster)[addon_name]


# The checks ------------------------------------------------------------------------------


def _check_addon_version(cluster: Cluster, spec: AddonSpec, addon_version: str) -> None:
    """"The version must match one of the versions returned by DescribeAddonVersions" -
    for the cluster's Kubernetes version.
    https://docs.aws.amazon.com/eks/latest/APIReference/API_CreateAddon.html
    https://docs.aws.amazon.com/eks/latest/APIReference/API_UpdateAddon.html
    """
    if not any(
        v.version == addon_version and cluster.version in v.compatible for v in spec.versions
    ):
        raise InvalidParameterException(
            clusterName=cluster.name,
            addonName=spec.name,
            message=ADDON_VERSION_NOT_SUPPORTED_MSG,
        )


def _check_resolve_conflicts(cluster: Cluster, addon_name: str, value: str | None) -> None:
    """resolveConflicts is NONE, OVERWRITE or PRESERVE (botocore's ResolveConflicts).
    https://docs.aws.amazon.com/eks/latest/APIReference/API_CreateAddon.html
    """
    if value is not None and value not in RESOLVE_CONFLICTS:
        raise InvalidParameterException(
            clusterName=cluster.name, addonName=addon_name, message=RESOLVE_CONFLICTS_MSG
        )


def _check_configuration_values(cluster: Cluster, addon_name: str, values: str | None) -> None:
    """configurationValues is a JSON or YAML object ("The values that you provide are
    validated against the schema returned by DescribeAddonConfiguration", an object
    schema); an empty string sets none.
    https://docs.aws.amazon.com/eks/latest/APIReference/API_CreateAddon.html
    """
    if not values:
        return
    try:
        parsed = json.loads(values)
    except ValueError:
        try:
            parsed = yaml.safe_load(values)
        except yaml.YAMLError as err:
            reason = f"it is neither JSON nor YAML ({type(err).__name__})"
            raise InvalidParameterException(
                clusterName=cluster.name,
                addonName=addon_name,
                message=CONFIGURATION_VALUES_MSG.format(reason=reason),
            ) from None
    if not isinstance(parsed, dict):
        raise InvalidParameterException(
            clusterName=cluster.name,
            addonName=addon_name,
            message=CONFIGURATION_VALUES_MSG.format(reason="it is not an object"),
        )


class EKSBackendAddonsExtension(EKSBackend):
    """The methods install() adds to moto's EKSBackend; not instantiated itself."""

    def _check_pod_identity(
        self,
        cluster: Cluster,
        spec: AddonSpec,
        associations: list[dict[str, Any]],
        addon: Addon | None = None,
    ) -> list[tuple[str, str]]:
        """The (serviceAccount, roleArn) of podIdentityAssociations, checked: the add-on
        takes them, each role exists in the cluster's account (IAM's propagation delay
        included, see strict_principals), a service account once, and no association of
        someone else's on it.
        https://docs.aws.amazon.com/eks/latest/userguide/update-addon-role.html
        https://docs.aws.amazon.com/eks/latest/APIReference/API_AddonPodIdentityAssociations.html
        """
        if associations and not spec.pod_identity:
            raise InvalidParameterException(
                clusterName=cluster.name,
                addonName=spec.name,
                message=POD_IDENTITY_NOT_SUPPORTED_MSG.format(addon=spec.name),
            )
        pairs: list[tuple[str, str]] = []
        for association in associations:
            service_account = (association or {}).get("serviceAccount")
            role_arn = (association or {}).get("roleArn")
            if not service_account or not role_arn:
                raise InvalidParameterException(
                    clusterName=cluster.name, addonName=spec.name, message=ASSOCIATION_FIELDS_MSG
                )
            if any(service_account == sa for sa, _ in pairs):
                raise InvalidParameterException(
                    clusterName=cluster.name,
                    addonName=spec.name,
                    message=ASSOCIATION_DUPLICATE_MSG.format(service_account=service_account),
                )
            validate_role_arn(role_arn)
            if role_arn.split(":")[4] != self.account_id:
                raise InvalidParameterException(
                    clusterName=cluster.name,
                    addonName=spec.name,
                    message=ROLE_OTHER_ACCOUNT_MSG.format(arn=role_arn, account=self.account_id),
                )
            role = find_principal(role_arn)
            if not isinstance(role, Role) or not visible_to_other_services(role):
                raise InvalidParameterException(
                    clusterName=cluster.name, addonName=spec.name, message=ROLE_NOT_FOUND_MSG
                )
            existing, _ = self.list_pod_identity_associations(  # type: ignore[attr-defined]
                cluster.name, NAMESPACE, service_account, None, None
            )
            owned = {id(a) for a in addon.associations} if addon else set()
            for other in existing:
                if id(other) not in owned:
                    raise ResourceInUseException(
                        clusterName=cluster.name,
                        addonName=spec.name,
                        message=ASSOCIATION_EXISTS_MSG.format(associationId=other.association_id),
                    )
            pairs.append((service_account, role_arn))
        return pairs

    def _own_associations(self, cluster: Cluster, addon: Addon, pairs: list[tuple[str, str]]) -> None:
        """Replace the add-on's pod identity associations by new ones for `pairs`."""
        self._drop_associations(cluster, addon)
        for service_account, role_arn in pairs:
            association = self.create_pod_identity_association(  # type: ignore[attr-defined]
                cluster.name, NAMESPACE, service_account, role_arn
            )
            association.owner_arn = addon.addon_arn
            addon.associations.append(association)

    def _drop_associations(self, cluster: Cluster, addon: Addon, forget: bool = True) -> None:
        """Delete the add-on's pod identity associations (and, with `forget`, its list
        of them)."""
        for association in addon.associations:
            try:
                self.delete_pod_identity_association(  # type: ignore[attr-defined]
                    cluster.name, association.association_id
                )
            except ResourceNotFoundException:
                pass  # already deleted on its own
        if forget:
            addon.associations = []

    def create_addon(
        self,
        cluster_name: str,
        addon_name: str,
        addon_version: str | None = None,
        service_account_role_arn: str | None = None,
        resolve_conflicts: str | None = None,
        client_request_token: str | None = None,
        tags: dict[str, str] | None = None,
        configuration_values: str | None = None,
        pod_identity_associations: list[dict[str, Any]] | None = None,
    ) -> Addon:
        """CreateAddon.
        https://docs.aws.amazon.com/eks/latest/APIReference/API_CreateAddon.html
        """
        cluster = cluster_of(self, cluster_name)
        if not cluster.is_active:
            raise InvalidRequestException(
                clusterName=cluster_name,
                message=CLUSTER_NOT_READY_MSG.format(clusterName=cluster_name),
            )
        if addon_name in addons(cluster):
            raise ResourceInUseException(
                clusterName=cluster_name, addonName=addon_name, message=ADDON_EXISTS_MSG
            )
        # Only the add-ons DescribeAddonVersions lists for the cluster's version.
        spec = addon_spec(addon_name, cluster.version)
        if spec is None:
            raise InvalidParameterException(
                clusterName=cluster_name,
                addonName=addon_name,
                message=ADDON_NOT_SUPPORTED_MSG.format(addon=addon_name, version=cluster.version),
            )
        if addon_version:
            _check_addon_version(cluster, spec, addon_version)
        else:
            addon_version = default_addon_version(spec, cluster.version)
        _check_resolve_conflicts(cluster, addon_name, resolve_conflicts)
        _check_configuration_values(cluster, addon_name, configuration_values)
        if service_account_role_arn:
            validate_role_arn(service_account_role_arn)
        pairs = self._check_pod_identity(cluster, spec, pod_identity_associations or [])
        addon = Addon(
            cluster,
            addon_name,
            addon_version,
            service_account_role_arn=service_account_role_arn,
            resolve_conflicts=resolve_conflicts,
            configuration_values=configuration_values,
            tags=tags,
            client_request_token=client_request_token,
        )
        self._own_associations(cluster, addon, pairs)
        addons(cluster)[addon_name] = addon
        return addon

    def describe_addon(self, cluster_name: str, addon_name: str) -> Addon:
        """DescribeAddon: from now on the add-on (and any update of it) is done."""
        addon = find_addon(cluster_of(self, cluster_name), addon_name)
        addon.described = True
        settle(addon)
        return addon

    def list_addons(
        self, cluster_name: str, max_results: int | None, next_token: str | None
    ) -> tuple[list[str], str | None]:
        return page(list(addons(cluster_of(self, cluster_name))), max_results, next_token)

    def update_addon(
        self,
        cluster_name: str,
        addon_name: str,
        addon_version: str | None = None,
        service_account_role_arn: str | None = None,
        resolve_conflicts: str | None = None,
        client_request_token: str | None = None,
        configuration_values: str | None = None,
        pod_identity_associations: list[dict[str, Any]] | None = None,
    ) -> Any:
        """UpdateAddon, against the cluster's current Kubernetes version.  Given
        podIdentityAssociations replace the add-on's ("If an empty array is provided,
        existing associations owned by the add-on are deleted").
        https://docs.aws.amazon.com/eks/latest/APIReference/API_UpdateAddon.html
        """
        cluster = cluster_of(self, cluster_name)
        addon = find_addon(cluster, addon_name)
        if addon.status != ACTIVE:
            raise ResourceInUseException(
                clusterName=cluster_name,
                addonName=addon_name,
                message=ADDON_BUSY_MSG.format(addon=addon_name, status=addon.status),
            )
        spec = addon_spec(addon_name, cluster.version) or ADDONS_BY_NAME[addon_name]
        params: list[tuple[str, Any]] = []
        if addon_version:
            _check_addon_version(cluster, spec, addon_version)
            params.append(("AddonVersion", addon_version))
        if service_account_role_arn is not None:
            if service_account_role_arn:
                validate_role_arn(service_account_role_arn)
            params.append(("ServiceAccountRoleArn", service_account_role_arn))
        if resolve_conflicts is not None:
            _check_resolve_conflicts(cluster, addon_name, resolve_conflicts)
            params.append(("ResolveConflicts", resolve_conflicts))
        if configuration_values is not None:
            _check_configuration_values(cluster, addon_name, configuration_values)
            params.append(("ConfigurationValues", configuration_values))
        pairs = None
        if pod_identity_associations is not None:
            pairs = self._check_pod_identity(cluster, spec, pod_identity_associations, addon)
            params.append(
                (
                    "PodIdentityAssociations",
                    [{"serviceAccount": sa, "roleArn": arn} for sa, arn in pairs],
                )
            )

        if addon_version:
            addon.addon_version = addon_version
        if service_account_role_arn is not None:
            addon.service_account_role_arn = service_account_role_arn or None
        if resolve_conflicts is not None:
            addon.resolve_conflicts = resolve_conflicts
        if configuration_values is not None:
            addon.configuration_values = configuration_values or None
        if pairs is not None:
            self._own_associations(cluster, addon, pairs)
        addon.modified_at = utcnow()
        return record_update(addon, ADDON_UPDATE, params)

    def delete_addon(self, cluster_name: str, addon_name: str, preserve: bool = False) -> Addon:
        """DeleteAddon: answered DELETING, gone at once with the associations it owns
        (``preserve`` keeps the software on the cluster, which is not modelled).
        https://docs.aws.amazon.com/eks/latest/APIReference/API_DeleteAddon.html
        """
        cluster = cluster_of(self, cluster_name)
        addon = find_addon(cluster, addon_name)
        # The answer still names the associations, as the add-on had them.
        self._drop_associations(cluster, addon, forget=False)
        addon.deleting = True
        return addons(cluster).pop(addon_name)

    def describe_addon_versions(
        self,
        kubernetes_version: str | None = None,
        addon_name: str | None = None,
        max_results: int | None = None,
        next_token: str | None = None,
        types: list[str] | None = None,
        publishers: list[str] | None = None,
        owners: list[str] | None = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """DescribeAddonVersions from ADDONS: with kubernetesVersion, only the versions
        compatible with it (and the add-ons that have one), each with that version's
        compatibility only.
        https://docs.aws.amazon.com/eks/latest/APIReference/API_DescribeAddonVersions.html
        """
        infos: dict[str, dict[str, Any]] = {}
        for spec in ADDONS:
            if addon_name and spec.name != addon_name:
                continue
            if (types and spec.type not in types) or (publishers and PUBLISHER not in publishers):
                continue
            if owners and OWNER not in owners:
                continue
            versions = [
                _version_info(v, kubernetes_version, spec)
                for v in spec.versions
                if kubernetes_version is None or kubernetes_version in v.compatible
            ]
            if versions:
                infos[spec.name] = {
                    "addonName": spec.name,
                    "type": spec.type,
                    "addonVersions": versions,
                    "publisher": PUBLISHER,
                    "owner": OWNER,
                }
        names, token = page(list(infos), max_results, next_token)
        return [infos[n] for n in names], token


class EKSResponseAddonsExtension(EKSResponse):
    """The methods install() adds to moto's EKSResponse; not instantiated itself."""

    @property
    def eks_addons(self) -> EKSBackendAddonsExtension:
        return self.eks_backend  # type: ignore[return-value]

    def create_addon(self) -> ActionResult:
        addon = self.eks_addons.create_addon(
            cluster_name=self._get_param("name"),
            addon_name=self._get_param("addonName"),
            addon_version=self._get_param("addonVersion"),
            service_account_role_arn=self._get_param("serviceAccountRoleArn"),
            resolve_conflicts=self._get_param("resolveConflicts"),
            client_request_token=self._get_param("clientRequestToken"),
            tags=self._get_param("tags"),
            configuration_values=self._get_param("configurationValues"),
            pod_identity_associations=self._get_param("podIdentityAssociations"),
        )
        return ActionResult({"addon": addon})

    def describe_addon(self) -> ActionResult:
        addon = self.eks_addons.describe_addon(
            cluster_name=self._get_param("name"), addon_name=self._get_param("addonName")
        )
        return ActionResult({"addon": addon})

    def list_addons(self) -> ActionResult:
        names, next_token = self.eks_addons.list_addons(
            cluster_name=self._get_param("name"),
            max_results=self._get_int_param("maxResults"),
            next_token=self._get_param("nextToken"),
        )
        return ActionResult({"addons": names, "nextToken": next_token})

    def update_addon(self) -> ActionResult:
        update = self.eks_addons.update_addon(
            cluster_name=self._get_param("name"),
            addon_name=self._get_param("addonName"),
            addon_version=self._get_param("addonVersion"),
            service_account_role_arn=self._get_param("serviceAccountRoleArn"),
            resolve_conflicts=self._get_param("resolveConflicts"),
            client_request_token=self._get_param("clientRequestToken"),
            configuration_values=self._get_param("configurationValues"),
            pod_identity_associations=self._get_param("podIdentityAssociations"),
        )
        return ActionResult({"update": update})

    def delete_addon(self) -> ActionResult:
        addon = self.eks_addons.delete_addon(
            cluster_name=self._get_param("name"),
            addon_name=self._get_param("addonName"),
            preserve=str(self._get_param("preserve")).lower() == "true",
        )
        return ActionResult({"addon": addon})

    def describe_addon_versions(self) -> ActionResult:
        infos, next_token = self.eks_addons.describe_addon_versions(
            kubernetes_version=self._get_param("kubernetesVersion"),
            addon_name=self._get_param("addonName"),
            max_results=self._get_int_param("maxResults"),
            next_token=self._get_param("nextToken"),
            # A repeated ?types= has every value in the query string.
            types=self.querystring.get("types") or None,
            publishers=self.querystring.get("publishers") or None,
            owners=self.querystring.get("owners") or None,
        )
        return ActionResult({"addons": infos, "nextToken": next_token})


# Wrappers around the other modules' methods ------------------------------------------------


def _update_target(
    original: Callable[..., Any],
    self: EKSBackend,
    cluster: Cluster,
    nodegroup_name: str | None,
    addon_name: str | None,
) -> Any:
    """DescribeUpdate/ListUpdates with ?addonName= look among the add-on's updates."""
    if addon_name and not nodegroup_name:
        return find_addon(cluster, addon_name)
    return original(self, cluster, nodegroup_name, addon_name)


def _tagged_resource(original: Callable[..., Any], self: EKSBackend, resource_arn: str, operation: str) -> Any:
    """Tag/Untag/ListTagsForResource find add-ons too."""
    for cluster in self.clusters.values():
        for addon in addons(cluster).values():
            if addon.addon_arn == resource_arn:
                return addon
    return original(self, resource_arn, operation)


URL_PATHS = {
    "{0}/clusters/(?P<name>[^/]+)/addons$": eks_urls.response.dispatch,
    "{0}/clusters/(?P<name>[^/]+)/addons/(?P<addonName>[^/]+)$": eks_urls.response.dispatch,
    "{0}/clusters/(?P<name>[^/]+)/addons/(?P<addonName>[^/]+)/update$": eks_urls.response.dispatch,
    "{0}/addons/supported-versions$": eks_urls.response.dispatch,
}


def install() -> None:
    """Add the add-on APIs to moto's EKS (idempotent; after eksmgr_moto's own methods and
    eks_updates)."""
    add_methods(EKSBackend, EKSBackendAddonsExtension)
    add_methods(EKSResponse, EKSResponseAddonsExtension)
    wrap_method(EKSBackend, "_update_target", _update_target)
    wrap_method(EKSBackend, "_tagged_resource", _tagged_resource)
    eks_urls.url_paths.update(URL_PATHS)
