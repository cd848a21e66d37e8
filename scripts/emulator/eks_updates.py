"""EKS updates: UpdateClusterVersion, UpdateNodegroupVersion, DescribeUpdate, ListUpdates,
and the updates of moto's UpdateClusterConfig and UpdateNodegroupConfig made describable
(test support only).

Checked in moto 5.2.5 first: it has no UpdateClusterVersion, UpdateNodegroupVersion,
DescribeUpdate or ListUpdates; its UpdateClusterConfig answers the cluster (botocore's
model has an ``update`` there, so a client sees none) and replaces the whole
``resourcesVpcConfig`` with the request's; its UpdateNodegroupConfig answers an update
nobody can describe, with parameter types AWS does not have (``Labels``, ``ScalingConfig``,
...), and applies any scaling; its CreateNodegroup defaults the version to 1.19 (release
``1.19.8-20210414``) whatever the cluster's, and every node group created without a
scaling configuration shares (and updates) one dict.  Its taint and label updates already
work as AWS's (``addOrUpdate*`` adds or replaces, a taint by key and effect; ``remove*``
removes).  Added here:

1. Update records.  Each update is kept on what it updates (the cluster, the node group or
   the add-on), with its id, status, type, params, createdAt and errors, like the cluster's
   node groups in the request's account and region.  An update starts ``InProgress``
   (AWS: "Cluster updates are asynchronous"), is applied at once, and is ``Successful``
   from the first time it is described: by DescribeUpdate, or by describing what it
   updates (DescribeCluster / DescribeNodegroup / DescribeAddon answer ACTIVE, which on
   AWS means the update is over).  While one is InProgress its resource takes no other
   update (ResourceInUseException), as in AWS.
   https://docs.aws.amazon.com/eks/latest/APIReference/API_DescribeUpdate.html
2. UpdateClusterVersion: to a version EKS offers (``eks_versions``), exactly one minor
   version above the cluster's; the cluster's version and platform version change at once.
3. UpdateNodegroupVersion: to the cluster's version by default, never later than the
   cluster's nor earlier than the node group's; the release version follows the version.
4. CreateNodegroup: the version defaults to the cluster's and cannot be later; the release
   version follows it; the scaling rules (sizes not given are filled in around those given:
   desiredSize is the minimum, as for an Auto Scaling group).
5. UpdateNodegroupConfig: the scaling rules on the resulting configuration; its update is
   recorded with AWS's parameter types.
6. UpdateClusterConfig: one type of update per call; endpoint access and subnets are
   updated without dropping each other; its update is recorded and returned.
7. DescribeUpdate (``?nodegroupName=`` / ``?addonName=``) and ListUpdates.

The add-ons' updates (UpdateAddon) are recorded by ``eks_addons`` with these helpers.
"""

from __future__ import annotations

import json
import re
from typing import Any, Callable, Iterable

from moto.core.responses import ActionResult
from moto.core.utils import utcnow
from moto.eks import urls as eks_urls
from moto.eks.exceptions import (
    InvalidParameterException,
    InvalidRequestException,
    ResourceInUseException,
    ResourceNotFoundException,
)
from moto.eks.models import (
    CLUSTER_NOT_FOUND_MSG,
    CLUSTER_NOT_READY_MSG,
    DEFAULT_SCALING_CONFIG,
    NODEGROUP_NOT_FOUND_MSG,
    Cluster,
    EKSBackend,
    Nodegroup,
    paginated_list,
)
from moto.eks.responses import DEFAULT_MAX_RESULTS, EKSResponse
from moto.moto_api._internal import mock_random as random

import eks_versions
from patching import add_methods, arguments, wrap_method

IN_PROGRESS = "InProgress"
SUCCESSFUL = "Successful"
VERSION_UPDATE = "VersionUpdate"
CONFIG_UPDATE = "ConfigUpdate"
ADDON_UPDATE = "AddonUpdate"

# The upstream patch release EKS ships for each minor version (illustrative): the kubelet
# of the EKS optimized AMIs and the kube-proxy add-on.  A minor missing here gets ".0".
UPSTREAM_PATCH = {
    "1.29": "15",
    "1.30": "14",
    "1.31": "13",
    "1.32": "9",
    "1.33": "5",
    "1.34": "2",
    "1.35": "0",
    "1.36": "0",
    "1.37": "0",
}
# The build date of the newest EKS optimized AMIs (illustrative): a node group's
# releaseVersion is "<kubernetes version>.<patch>-<date>", e.g. 1.35.0-20261120.
# https://docs.aws.amazon.com/eks/latest/userguide/eks-linux-ami-versions.html
AMI_RELEASE_DATE = "20261120"

# Messages as EKS answers them, where known.
# "Unsupported Kubernetes minor version update from 1.22 to 1.25"
# (terraform-aws-modules/terraform-aws-eks issue #2607, rancher/rancher issue #26908).
MINOR_UPDATE_MSG = "Unsupported Kubernetes minor version update from {current} to {wanted}"
NODEGROUPS_BEHIND_MSG = (
    "Nodegroups {names} must be updated to match cluster version {version} before updating "
    "cluster version"
)
# "Cannot LoggingUpdate because cluster xxx currently has update in progress"
# (cloud-custodian/cloud-custodian issue #9250).
CLUSTER_BUSY_MSG = "Cannot {type} because cluster {name} currently has update in progress"
# EKS's wording for a node group is not published; this follows the cluster's.
NODEGROUP_BUSY_MSG = "Cannot {type} because nodegroup {name} currently has update in progress"
# "No update found for ID: someupdateid" (aws/aws-cli issue #10252).
UPDATE_NOT_FOUND_MSG = "No update found for ID: {id}"
# "Only one type of update can be allowed." (kubernetes-sigs/cluster-api-provider-aws
# issue #3553, boto/boto3 issue #2592).
ONE_UPDATE_TYPE_MSG = "Only one type of update can be allowed."
# An UpdateClusterConfig naming nothing EKS can update (aws/aws-cli issue #4072).
NO_UPDATE_TYPE_MSG = "Invalid type for cluster update."
# "Requested release version 1.31.3-20250103 is not valid for kubernetes version 1.30."
# (eksctl-io/eksctl issue #7976).
RELEASE_VERSION_MSG = "Requested release version {release} is not valid for kubernetes version {version}."
# The wording of these is not published.
NODEGROUP_VERSION_LATER_MSG = (
    "Nodegroup Kubernetes version {version} cannot be later than the cluster's Kubernetes "
    "version {cluster_version}"
)
NODEGROUP_ROLLBACK_MSG = (
    "You cannot roll back a node group to an earlier Kubernetes version or AMI version: "
    "{current} to {wanted}"
)
INVALID_VERSION_MSG = "Invalid Kubernetes version {version}"
LAUNCH_TEMPLATE_NOT_USED_MSG = (
    "The node group was not created with a launch template, so it cannot be updated with one"
)
LAUNCH_TEMPLATE_MISMATCH_MSG = (
    "The launch template must be the one the node group was created with ({template})"
)

MINOR_VERSION = re.compile(r"^(\d+)\.(\d+)$")


class Update:
    """One update of a cluster, node group or add-on (botocore's Update shape)."""

    def __init__(self, update_type: str, params: Iterable[tuple[str, Any]]):
        self.id = str(random.uuid4())
        self.status = IN_PROGRESS
        self.type = update_type
        self.params = [{"type": t, "value": param_value(v)} for t, v in params]
        self.created_at = utcnow()
        self.errors: list[dict[str, Any]] = []


def param_value(value: Any) -> str:
    """An UpdateParam's value: strings as they are, anything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value)


def updates(resource: Any) -> dict[str, Update]:
    """The updates of a cluster, node group or add-on by id, kept on it."""
    return resource.__dict__.setdefault("updates", {})


def busy_update(resource: Any) -> Update | None:
    """The resource's update still InProgress, if any."""
    return next((u for u in updates(resource).values() if u.status == IN_PROGRESS), None)


def record_update(resource: Any, update_type: str, params: Iterable[tuple[str, Any]]) -> Update:
    update = Update(update_type, params)
    updates(resource)[update.id] = update
    return update


def settle(resource: Any) -> None:
    """The resource is described as ACTIVE: its updates are over."""
    for update in updates(resource).values():
        if update.status == IN_PROGRESS:
            update.status = SUCCESSFUL


def page(
    keys: list[str], max_results: int | None, next_token: str | None
) -> tuple[list[str], str | None]:
    """moto's paginated_list (sorted; the token is the next key), with AWS's checks
    (maxResults "can be between 1 and 100"; botocore's model)."""
    if max_results is not None and not 1 <= max_results <= 100:
        raise InvalidParameterException(message="maxResults must be between 1 and 100")
    if next_token and next_token not in keys:
        raise InvalidParameterException(message="The nextToken is invalid")
    return paginated_list(keys, max_results or DEFAULT_MAX_RESULTS, next_token)


def minor(version: Any) -> tuple[int, int] | None:
    """(1, 35) for "1.35"; None for anything else."""
    match = MINOR_VERSION.match(str(version or ""))
    return (int(match[1]), int(match[2])) if match else None


def ami_release_version(version: str) -> str:
    """The newest EKS optimized AMI release of a Kubernetes version."""
    return f"{version}.{UPSTREAM_PATCH.get(version, '0')}-{AMI_RELEASE_DATE}"


def _release_key(release: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", release))


def cluster_of(backend: EKSBackend, name: str) -> Cluster:
    if name not in backend.clusters:
        raise ResourceNotFoundException(
            clusterName=name, message=CLUSTER_NOT_FOUND_MSG.format(clusterName=name)
        )
    return backend.clusters[name]


def nodegroup_of(cluster: Cluster, nodegroup_name: str) -> Nodegroup:
    if nodegroup_name not in cluster.nodegroups:
        raise ResourceNotFoundException(
            clusterName=cluster.name,
            nodegroupName=nodegroup_name,
            message=NODEGROUP_NOT_FOUND_MSG.format(nodegroupName=nodegroup_name),
        )
    return cluster.nodegroups[nodegroup_name]


def _check_version_for_nodegroup(cluster: Cluster, nodegroup_name: str, version: str) -> None:
    """A node group's Kubernetes version can be the cluster's or earlier, never later.

    "By default, the Kubernetes version of the cluster is used"
    https://docs.aws.amazon.com/eks/latest/APIReference/API_CreateNodegroup.html
    https://docs.aws.amazon.com/eks/latest/APIReference/API_UpdateNodegroupVersion.html
    https://docs.aws.amazon.com/eks/latest/userguide/update-managed-node-group.html
    """
    wanted, current = minor(version), minor(cluster.version)
    if wanted is None:
        raise InvalidParameterException(
            clusterName=cluster.name,
            nodegroupName=nodegroup_name,
            message=INVALID_VERSION_MSG.format(version=version),
        )
    if current is not None and wanted > current:
        raise InvalidParameterException(
            clusterName=cluster.name,
            nodegroupName=nodegroup_name,
            message=NODEGROUP_VERSION_LATER_MSG.format(
                version=version, cluster_version=cluster.version
            ),
        )


def _check_release_version(
    cluster: Cluster, nodegroup_name: str, release: str, version: str
) -> None:
    """An AMI release version is of one Kubernetes version ("1.35.0-20261120" is 1.35's).
    https://docs.aws.amazon.com/eks/latest/APIReference/API_UpdateNodegroupVersion.html
    """
    if not release.startswith(f"{version}."):
        raise InvalidParameterException(
            clusterName=cluster.name,
            nodegroupName=nodegroup_name,
            message=RELEASE_VERSION_MSG.format(release=release, version=version),
        )


def check_scaling(
    scaling: dict[str, Any], cluster_name: str, nodegroup_name: str, *, updating: bool
) -> None:
    """AWS's scaling rules: minSize >= 0, maxSize >= 1, desiredSize >= 0 (botocore's
    ZeroCapacity / Capacity) and minSize <= desiredSize <= maxSize ("the Cluster Autoscaler
    doesn't scale a managed node group lower than minSize or higher than maxSize").
    https://docs.aws.amazon.com/eks/latest/APIReference/API_NodegroupScalingConfig.html
    Messages as EKS answers: "minSize can't be greater than desiredSize" (CreateNodegroup,
    sassoftware/viya4-iac-aws issue #298), "Minimum capacity 2 can't be greater than
    desired size 1" (UpdateNodegroupConfig, terraform-aws-modules/terraform-aws-eks issue
    #2508), "desiredSize can't be greater than maxSize" (ministryofjustice/
    cloud-platform-infrastructure pull request #4595); the others are not published.
    """
    sizes = {k: scaling.get(k) for k in ("minSize", "maxSize", "desiredSize")}
    try:
        low, high, desired = (None if v is None else int(v) for v in sizes.values())
    except (TypeError, ValueError):
        raise InvalidParameterException(
            clusterName=cluster_name,
            nodegroupName=nodegroup_name,
            message=f"scalingConfig sizes must be integers: {sizes}",
        ) from None
    message = None
    if low is not None and low < 0:
        message = "minSize must be greater than or equal to 0"
    elif high is not None and high < 1:
        message = "maxSize must be greater than or equal to 1"
    elif desired is not None and desired < 0:
        message = "desiredSize must be greater than or equal to 0"
    elif low is not None and desired is not None and low > desired:
        message = (
            f"Minimum capacity {low} can't be greater than desired size {desired}"
            if updating
            else "minSize can't be greater than desiredSize"
        )
    elif desired is not None and high is not None and desired > high:
        message = "desiredSize can't be greater than maxSize"
    elif low is not None and high is not None and low > high:
        message = "minSize can't be greater than maxSize"
    if message:
        raise InvalidParameterException(
            clusterName=cluster_name, nodegroupName=nodegroup_name, message=message
        )


def _initial_scaling(given: dict[str, Any]) -> dict[str, Any]:
    """A new node group's scaling: the sizes given, the others filled in around them
    (moto's default is 2/2/2).  Without desiredSize it is the minimum, as for the Auto
    Scaling group behind the node group ("If you do not specify the desired capacity, the
    default is the minimum size of the group").
    https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_CreateAutoScalingGroup.html
    """
    scaling = dict(given)
    default = DEFAULT_SCALING_CONFIG["desiredSize"]
    if scaling.get("desiredSize") is None:
        if scaling.get("minSize") is not None:
            scaling["desiredSize"] = scaling["minSize"]
        elif scaling.get("maxSize") is not None:
            scaling["desiredSize"] = min(default, scaling["maxSize"])
        else:
            scaling["desiredSize"] = default
    if scaling.get("minSize") is None:
        scaling["minSize"] = min(DEFAULT_SCALING_CONFIG["minSize"], scaling["desiredSize"])
    if scaling.get("maxSize") is None:
        scaling["maxSize"] = max(DEFAULT_SCALING_CONFIG["maxSize"], scaling["desiredSize"])
    return scaling


def _nodegroup_config_params(call: dict[str, Any]) -> list[tuple[str, Any]]:
    """UpdateNodegroupConfig's request as AWS's UpdateParams (botocore's UpdateParamType)."""
    params: list[tuple[str, Any]] = []
    labels = call.get("labels") or {}
    if labels.get("addOrUpdateLabels"):
        params.append(("LabelsToAdd", labels["addOrUpdateLabels"]))
    if labels.get("removeLabels"):
        params.append(("LabelsToRemove", labels["removeLabels"]))
    taints = call.get("taints") or {}
    if taints.get("addOrUpdateTaints"):
        params.append(("TaintsToAdd", taints["addOrUpdateTaints"]))
    if taints.get("removeTaints"):
        params.append(("TaintsToRemove", taints["removeTaints"]))
    scaling = call.get("scaling_config") or {}
    for key, name in (("minSize", "MinSize"), ("maxSize", "MaxSize"), ("desiredSize", "DesiredSize")):
        if scaling.get(key) is not None:
            params.append((name, str(scaling[key])))
    update_config = call.get("update_config") or {}
    for key, name in (
        ("maxUnavailable", "MaxUnavailable"),
        ("maxUnavailablePercentage", "MaxUnavailablePercentage"),
        ("updateStrategy", "UpdateStrategy"),
    ):
        if update_config.get(key) is not None:
            params.append((name, str(update_config[key])))
    repair = call.get("node_repair_config") or {}
    if repair.get("enabled") is not None:
        params.append(("NodeRepairEnabled", repair["enabled"]))
    if set(repair) - {"enabled"}:
        params.append(("NodeRepairConfig", repair))
    return params


# UpdateClusterConfig's members, by the type of update each is (botocore's UpdateType and
# UpdateParamType).  "Only one type of update can be allowed" per call.
VPC_CONFIG_PARAMS = {"subnetIds": "Subnets", "securityGroupIds": "SecurityGroups"}
ENDPOINT_ACCESS_PARAMS = {
    "endpointPublicAccess": "EndpointPublicAccess",
    "endpointPrivateAccess": "EndpointPrivateAccess",
    "publicAccessCidrs": "PublicAccessCidrs",
}
CLUSTER_CONFIG_TYPES: tuple[tuple[str, dict[str, str]], ...] = (
    ("LoggingUpdate", {"logging": "ClusterLogging"}),
    ("AccessConfigUpdate", {"accessConfig": "AuthenticationMode"}),
    ("UpgradePolicyUpdate", {"upgradePolicy": "UpgradePolicy"}),
    ("ZonalShiftConfigUpdate", {"zonalShiftConfig": "ZonalShiftConfig"}),
    (
        "AutoModeUpdate",
        {
            "computeConfig": "ComputeConfig",
            "kubernetesNetworkConfig": "KubernetesNetworkConfig",
            "storageConfig": "StorageConfig",
        },
    ),
    ("RemoteNetworkConfigUpdate", {"remoteNetworkConfig": "RemoteNetworkConfig"}),
    ("DeletionProtectionUpdate", {"deletionProtection": "DeletionProtection"}),
    ("ControlPlaneScalingConfigUpdate", {"controlPlaneScalingConfig": "UpdatedTier"}),
    (
        "ControlPlaneComponentConfigUpdate",
        {
            "kubeApiServerConfig": "KubeApiServerConfig",
            "kubeSchedulerConfig": "KubeSchedulerConfig",
            "kubeControllerManagerConfig": "KubeControllerManagerConfig",
        },
    ),
)


def _cluster_config_updates(response: EKSResponse) -> list[tuple[str, list[tuple[str, Any]]]]:
    """The types of update an UpdateClusterConfig request asks for, with their params."""
    found: list[tuple[str, list[tuple[str, Any]]]] = []
    vpc = response._get_param("resourcesVpcConfig") or {}
    for update_type, members in (
        ("VpcConfigUpdate", VPC_CONFIG_PARAMS),
        ("EndpointAccessUpdate", ENDPOINT_ACCESS_PARAMS),
    ):
        params = [(name, vpc[key]) for key, name in members.items() if vpc.get(key) is not None]
        if params:
            found.append((update_type, params))
    for update_type, members in CLUSTER_CONFIG_TYPES:
        params = []
        for key, name in members.items():
            value = response._get_param(key)
            if value is None:
                continue
            if key == "logging":
                value = value.get("clusterLogging", value)
            elif key == "accessConfig":
                value = value.get("authenticationMode", value)
            elif key == "controlPlaneScalingConfig":
                value = value.get("tier", value)
            params.append((name, value))
        if params:
            found.append((update_type, params))
    return found


class EKSBackendUpdatesExtension(EKSBackend):
    """The methods install() adds to moto's EKSBackend; not instantiated itself."""

    def _update_target(
        self, cluster: Cluster, nodegroup_name: str | None, addon_name: str | None
    ) -> Any:
        """What DescribeUpdate/ListUpdates look in: the node group or add-on named, else
        the cluster.  (``eks_addons`` wraps it to find add-ons.)"""
        if nodegroup_name:
            return nodegroup_of(cluster, nodegroup_name)
        if addon_name:
            raise ResourceNotFoundException(
                clusterName=cluster.name,
                addonName=addon_name,
                message=f"No addon: {addon_name} found in cluster: {cluster.name}",
            )
        return cluster

    def update_cluster_version(
        self,
        name: str,
        version: str,
        client_request_token: str | None = None,
        force: bool | None = None,
    ) -> Update:
        """UpdateClusterVersion.

        https://docs.aws.amazon.com/eks/latest/APIReference/API_UpdateClusterVersion.html
        """
        cluster = cluster_of(self, name)
        offered = {v.version: v for v in eks_versions.offered_versions()}
        # "On the end of extended support date, you can no longer create new Amazon EKS
        # clusters with the unsupported version" - nor update one to it; nor to one not
        # yet released.  https://docs.aws.amazon.com/eks/latest/userguide/kubernetes-versions.html
        if version not in offered:
            raise InvalidParameterException(
                clusterName=name,
                message=eks_versions.UNSUPPORTED_VERSION_MSG.format(version=version),
            )
        # "Because Amazon EKS runs a highly available control plane, you can update only
        # one minor version at a time."  Once upgraded, "you can't downgrade".
        # https://docs.aws.amazon.com/eks/latest/userguide/update-cluster.html
        current, wanted = minor(cluster.version), minor(version)
        if current is None or wanted != (current[0], current[1] + 1):
            raise InvalidParameterException(
                clusterName=name,
                message=MINOR_UPDATE_MSG.format(current=cluster.version, wanted=version),
            )
        if not cluster.is_active:
            raise InvalidRequestException(
                clusterName=name, message=CLUSTER_NOT_READY_MSG.format(clusterName=name)
            )
        # Every managed node group must run the control plane's version before the control
        # plane moves on ("Nodegroups X must be updated to match cluster version 1.16 before
        # updating cluster version", the EKS user guide's troubleshooting entry,
        # awsdocs/amazon-eks-user-guide#475; terraform-provider-aws#19478).
        # https://docs.aws.amazon.com/eks/latest/userguide/update-cluster.html
        behind = sorted(
            ng_name
            for ng_name, ng in cluster.nodegroups.items()
            if getattr(ng, "version", None) != cluster.version
        )
        if behind:
            raise InvalidParameterException(
                clusterName=name,
                message=NODEGROUPS_BEHIND_MSG.format(
                    names=",".join(behind), version=cluster.version
                ),
            )
        # "Your cluster continues to function during the update" - one update at a time.
        # https://docs.aws.amazon.com/eks/latest/APIReference/API_UpdateClusterVersion.html
        if busy_update(cluster):
            raise ResourceInUseException(
                clusterName=name,
                message=CLUSTER_BUSY_MSG.format(type=VERSION_UPDATE, name=name),
            )
        platform_version = offered[version].platform_version
        cluster.version = version
        cluster.platformVersion = platform_version
        return record_update(
            cluster,
            VERSION_UPDATE,
            [("Version", version), ("PlatformVersion", platform_version)],
        )

    def update_nodegroup_version(
        self,
        cluster_name: str,
        nodegroup_name: str,
        version: str | None = None,
        release_version: str | None = None,
        launch_template: dict[str, Any] | None = None,
        force: bool | None = None,
        client_request_token: str | None = None,
    ) -> Update:
        """UpdateNodegroupVersion.

        "If no version is specified, then the node group will be updated to match the
        cluster's current Kubernetes version, and the latest available AMI for that version
        will be used."  "You cannot roll back a node group to an earlier Kubernetes version
        or AMI version."  "You can update a node group using a launch template only if the
        node group was originally deployed with a launch template. Additionally, the launch
        template ID or name must match what was used when the node group was created."
        https://docs.aws.amazon.com/eks/latest/APIReference/API_UpdateNodegroupVersion.html
        """
        cluster = cluster_of(self, cluster_name)
        nodegroup = nodegroup_of(cluster, nodegroup_name)
        target = version or cluster.version
        _check_version_for_nodegroup(cluster, nodegroup_name, target)
        release = release_version or ami_release_version(target)
        _check_release_version(cluster, nodegroup_name, release, target)
        now_at = (minor(nodegroup.version) or (0, 0), _release_key(nodegroup.release_version))
        going_to = (minor(target) or (0, 0), _release_key(release))
        if going_to < now_at:
            raise InvalidParameterException(
                clusterName=cluster_name,
                nodegroupName=nodegroup_name,
                message=NODEGROUP_ROLLBACK_MSG.format(
                    current=nodegroup.release_version, wanted=release
                ),
            )
        params: list[tuple[str, Any]] = [("Version", target), ("ReleaseVersion", release)]
        if launch_template:
            used = nodegroup.launch_template
            if not used:
                raise InvalidParameterException(
                    clusterName=cluster_name,
                    nodegroupName=nodegroup_name,
                    message=LAUNCH_TEMPLATE_NOT_USED_MSG,
                )
            for key in ("id", "name"):
                if launch_template.get(key) and used.get(key) and launch_template[key] != used[key]:
                    raise InvalidParameterException(
                        clusterName=cluster_name,
                        nodegroupName=nodegroup_name,
                        message=LAUNCH_TEMPLATE_MISMATCH_MSG.format(template=used.get(key)),
                    )
            if used.get("name"):
                params.append(("LaunchTemplateName", used["name"]))
            if launch_template.get("version") is not None:
                params.append(("LaunchTemplateVersion", str(launch_template["version"])))
        if busy_update(nodegroup):
            raise ResourceInUseException(
                clusterName=cluster_name,
                nodegroupName=nodegroup_name,
                message=NODEGROUP_BUSY_MSG.format(type=VERSION_UPDATE, name=nodegroup_name),
            )
        nodegroup.version = target
        nodegroup.release_version = release
        if launch_template and launch_template.get("version") is not None:
            nodegroup.launch_template = {
                **nodegroup.launch_template,
                "version": str(launch_template["version"]),
            }
        nodegroup.modified_at = utcnow()
        return record_update(nodegroup, VERSION_UPDATE, params)

    def describe_update(
        self,
        name: str,
        update_id: str,
        nodegroup_name: str | None = None,
        addon_name: str | None = None,
    ) -> Update:
        """DescribeUpdate: a node group's update needs nodegroupName, an add-on's addonName
        ("This parameter is required if the update is a node group update").
        https://docs.aws.amazon.com/eks/latest/APIReference/API_DescribeUpdate.html
        """
        cluster = cluster_of(self, name)
        target = self._update_target(cluster, nodegroup_name, addon_name)
        update = updates(target).get(update_id)
        if update is None:
            raise ResourceNotFoundException(
                clusterName=name,
                nodegroupName=nodegroup_name,
                addonName=addon_name,
                message=UPDATE_NOT_FOUND_MSG.format(id=update_id),
            )
        if update.status == IN_PROGRESS:
            update.status = SUCCESSFUL
        return update

    def list_updates(
        self,
        name: str,
        nodegroup_name: str | None = None,
        addon_name: str | None = None,
        max_results: int | None = None,
        next_token: str | None = None,
    ) -> tuple[list[str], str | None]:
        """ListUpdates.
        https://docs.aws.amazon.com/eks/latest/APIReference/API_ListUpdates.html
        """
        cluster = cluster_of(self, name)
        target = self._update_target(cluster, nodegroup_name, addon_name)
        return page(list(updates(target)), max_results, next_token)


class EKSResponseUpdatesExtension(EKSResponse):
    """The methods install() adds to moto's EKSResponse; not instantiated itself."""

    def update_cluster_version(self) -> ActionResult:
        update = self.eks_backend.update_cluster_version(  # type: ignore[attr-defined]
            name=self._get_param("name"),
            version=self._get_param("version"),
            client_request_token=self._get_param("clientRequestToken"),
            force=self._get_param("force"),
        )
        return ActionResult({"update": update})

    def update_nodegroup_version(self) -> ActionResult:
        update = self.eks_backend.update_nodegroup_version(  # type: ignore[attr-defined]
            cluster_name=self._get_param("name"),
            nodegroup_name=self._get_param("nodegroupName"),
            version=self._get_param("version"),
            release_version=self._get_param("releaseVersion"),
            launch_template=self._get_param("launchTemplate"),
            force=self._get_param("force"),
            client_request_token=self._get_param("clientRequestToken"),
        )
        return ActionResult({"update": update})

    def describe_update(self) -> ActionResult:
        update = self.eks_backend.describe_update(  # type: ignore[attr-defined]
            name=self._get_param("name"),
            update_id=self._get_param("updateId"),
            nodegroup_name=self._get_param("nodegroupName"),
            addon_name=self._get_param("addonName"),
        )
        return ActionResult({"update": update})

    def list_updates(self) -> ActionResult:
        ids, next_token = self.eks_backend.list_updates(  # type: ignore[attr-defined]
            name=self._get_param("name"),
            nodegroup_name=self._get_param("nodegroupName"),
            addon_name=self._get_param("addonName"),
            max_results=self._get_int_param("maxResults"),
            next_token=self._get_param("nextToken"),
        )
        return ActionResult({"updateIds": ids, "nextToken": next_token})


# Wrappers around moto's methods ---------------------------------------------------------


def _create_cluster(original: Callable[..., Any], self: EKSBackend, *args: Any, **kwargs: Any) -> Any:
    """A new cluster has its version's platform version (moto: eks.4 for any), as
    DescribeClusterVersions' defaultPlatformVersion says."""
    cluster = original(self, *args, **kwargs)
    known = {v.version: v for v in eks_versions.VERSIONS}
    if cluster.version in known:
        cluster.platformVersion = known[cluster.version].platform_version
    return cluster


def _describe_cluster(original: Callable[..., Any], self: EKSBackend, *args: Any, **kwargs: Any) -> Any:
    cluster = original(self, *args, **kwargs)
    settle(cluster)  # described ACTIVE: its updates are over
    return cluster


def _describe_nodegroup(original: Callable[..., Any], self: EKSBackend, *args: Any, **kwargs: Any) -> Any:
    nodegroup = original(self, *args, **kwargs)
    settle(nodegroup)  # described ACTIVE: its updates are over
    return nodegroup


def _create_nodegroup(original: Callable[..., Any], self: EKSBackend, *args: Any, **kwargs: Any) -> Any:
    """CreateNodegroup: the version defaults to the cluster's and cannot be later; the
    release version follows the version; the scaling rules.
    https://docs.aws.amazon.com/eks/latest/APIReference/API_CreateNodegroup.html
    """
    call = arguments(original, self, args, kwargs)
    cluster = self.clusters.get(call.get("cluster_name"))
    name = call.get("nodegroup_name")
    if cluster is None or name in cluster.nodegroups:
        return original(self, **call)  # moto's own answers (not found, in use)
    version = call.get("version") or cluster.version
    _check_version_for_nodegroup(cluster, name, version)
    release = call.get("release_version") or ami_release_version(version)
    _check_release_version(cluster, name, release, version)
    # A dict of its own: moto would share (and update) its default among node groups.
    scaling = _initial_scaling(call.get("scaling_config") or {})
    check_scaling(scaling, cluster.name, name, updating=False)
    call.update(version=version, release_version=release, scaling_config=scaling)
    return original(self, **call)


def _update_nodegroup_config(
    original: Callable[..., Any], self: EKSBackend, *args: Any, **kwargs: Any
) -> Update:
    """UpdateNodegroupConfig: the scaling rules on the resulting configuration; the update
    recorded (InProgress) with AWS's parameter types, one update at a time.
    https://docs.aws.amazon.com/eks/latest/APIReference/API_UpdateNodegroupConfig.html
    """
    call = arguments(original, self, args, kwargs)
    cluster = self.clusters.get(call.get("cluster_name"))
    nodegroup_name = call.get("nodegroup_name")
    if cluster is None or nodegroup_name not in cluster.nodegroups:
        return original(self, **call)  # moto's not-found answers
    nodegroup = cluster.nodegroups[nodegroup_name]
    if call.get("scaling_config"):
        check_scaling(
            {**nodegroup.scaling_config, **call["scaling_config"]},
            cluster.name,
            nodegroup_name,
            updating=True,
        )
    if busy_update(nodegroup):
        raise ResourceInUseException(
            clusterName=cluster.name,
            nodegroupName=nodegroup_name,
            message=NODEGROUP_BUSY_MSG.format(type=CONFIG_UPDATE, name=nodegroup_name),
        )
    params = _nodegroup_config_params(call)
    original(self, **call)
    return record_update(nodegroup, CONFIG_UPDATE, params)


def _update_cluster_config(
    original: Callable[..., Any], self: EKSBackend, *args: Any, **kwargs: Any
) -> Any:
    """An EndpointAccessUpdate keeps the subnets and security groups, a VpcConfigUpdate
    the endpoint access (moto replaced the whole resourcesVpcConfig).
    https://docs.aws.amazon.com/eks/latest/APIReference/API_UpdateClusterConfig.html
    """
    call = arguments(original, self, args, kwargs)
    cluster = self.clusters.get(call.get("name"))
    if cluster is not None and call.get("resources_vpc_config"):
        call["resources_vpc_config"] = {
            **(cluster.resources_vpc_config or {}),
            **call["resources_vpc_config"],
        }
    return original(self, **call)


def _update_cluster_config_response(original: Callable[..., Any], self: EKSResponse) -> ActionResult:
    """UpdateClusterConfig answers its update (botocore: UpdateClusterConfigResponse has
    ``update``), which DescribeUpdate then finds.  One type of update per call, one update
    of the cluster at a time.
    https://docs.aws.amazon.com/eks/latest/APIReference/API_UpdateClusterConfig.html
    """
    name = self._get_param("name")
    cluster = self.eks_backend.clusters.get(name)
    if cluster is None:
        return original(self)  # moto's ResourceNotFoundException
    kinds = _cluster_config_updates(self)
    if len(kinds) != 1:
        raise InvalidParameterException(
            clusterName=name, message=ONE_UPDATE_TYPE_MSG if kinds else NO_UPDATE_TYPE_MSG
        )
    update_type, params = kinds[0]
    if busy_update(cluster):
        raise ResourceInUseException(
            clusterName=name, message=CLUSTER_BUSY_MSG.format(type=update_type, name=name)
        )
    original(self)
    return ActionResult({"update": record_update(cluster, update_type, params)})


URL_PATHS = {
    "{0}/clusters/(?P<name>[^/]+)/updates$": eks_urls.response.dispatch,
    "{0}/clusters/(?P<name>[^/]+)/updates/(?P<updateId>[^/]+)$": eks_urls.response.dispatch,
    "{0}/clusters/(?P<name>[^/]+)/node-groups/(?P<nodegroupName>[^/]+)/update-version$": eks_urls.response.dispatch,
}


def install() -> None:
    """Add the update APIs and rules to moto's EKS (idempotent; after eks_versions and
    eks_access_config, whose checks then run inside these)."""
    add_methods(EKSBackend, EKSBackendUpdatesExtension)
    add_methods(EKSResponse, EKSResponseUpdatesExtension)
    wrap_method(EKSBackend, "create_cluster", _create_cluster)
    wrap_method(EKSBackend, "describe_cluster", _describe_cluster)
    wrap_method(EKSBackend, "describe_nodegroup", _describe_nodegroup)
    wrap_method(EKSBackend, "create_nodegroup", _create_nodegroup)
    wrap_method(EKSBackend, "update_nodegroup_config", _update_nodegroup_config)
    wrap_method(EKSBackend, "update_cluster_config", _update_cluster_config)
    wrap_method(EKSResponse, "update_cluster_config", _update_cluster_config_response)
    eks_urls.url_paths.update(URL_PATHS)
