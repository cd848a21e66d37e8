"""EKS subnet rules: CreateCluster and CreateNodegroup checked against the subnets of moto's
EC2 (test support only).

Checked in moto 5.2.5 first: its CreateCluster stores ``resourcesVpcConfig.subnetIds`` and
its CreateNodegroup stores ``subnets`` as given, without looking at EC2.  Added here, for
subnets that exist in moto's EC2 backend of the request's account and region
(``moto.ec2.models.ec2_backends[account_id][region]``):

1. CreateCluster: the subnets must all exist, be in one VPC and span at least two
   Availability Zones; otherwise InvalidParameterException (HTTP 400).
2. CreateNodegroup: the subnets must all exist and, when the cluster's own subnets exist
   in EC2, be in the cluster's VPC; otherwise InvalidParameterException.

Deliberate leniency: when NONE of the given subnet ids exists in EC2 (or the account and
region have no EC2 backend yet), the request is accepted unchecked, as moto does.
eksmgr's tests create clusters and node groups naming made-up subnets (``subnet-aaaa``,
``subnet-1``) that were never created in EC2, and eksmgr itself creates no subnets; AWS
would refuse those ids.  Likewise an empty subnet list is accepted (AWS requires subnets).
A node group's subnets are checked against the cluster's VPC only when the cluster's
subnets exist in EC2 (so that VPC is known).

Not checked (AWS does): UpdateClusterConfig's new subnets (same VPC and AZs as the
cluster's), CreateFargateProfile's subnets, subnets' free IP addresses, Outposts,
Wavelength and Local Zones.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

from moto.ec2.models import ec2_backends
from moto.eks.exceptions import InvalidParameterException
from moto.eks.models import EKSBackend

from patching import arguments, wrap_method

# Messages as EKS answers them, where known.
# "InvalidParameterException: Subnets specified must be in at least two different AZs"
# (CreateCluster; pulumi/pulumi-eks issue #311, awsdocs/amazon-eks-user-guide pull
# request #795, WesleyCharlesBlake/terraform-aws-eks issue #41).
TWO_AZS_MSG = "Subnets specified must be in at least two different AZs"
# EKS publishes this wording for subnets of several VPCs only in the health issues of a
# local cluster on AWS Outposts ("Provided subnets don't belong to the same VPC":
# ConfigurationConflict "Subnets specified must belong to the same VPC",
# https://docs.aws.amazon.com/eks/latest/userguide/eks-outposts-troubleshooting.html).
# CreateCluster's own synchronous message for this case is NOT published that we could
# find; this is EKS's closest wording, not a confirmed copy of it.
SAME_VPC_MSG = "Subnets specified must belong to the same VPC"
# "An error occurred (InvalidParameterException) when calling the CreateCluster
# operation: The subnet ID 'subnet-...' does not exist (Service: AmazonEC2; Status Code:
# 400; Error Code: InvalidSubnetID.NotFound; Request ID: ...; Proxy: null)" - EKS passes
# on EC2's error; its first part is kept (EC2's own message, as moto's EC2 words it).
SUBNET_NOT_FOUND_MSG = "The subnet ID '{subnet_id}' does not exist"
# "InvalidParameterException: Specified subnets must belong to cluster's vpc
# vpc-0a5f5c40d7990ec10" with ClusterName and NodegroupName (CreateNodegroup;
# rancher/rancher issue #28144).
NODEGROUP_VPC_MSG = "Specified subnets must belong to cluster's vpc {vpc_id}"


def _known_subnets(account_id: str, region: str) -> dict[str, Any]:
    """The subnets of moto's EC2 in the account and region, by id.  An account or region
    whose EC2 backend was never created has none (and is not created here: moto would
    build its default VPC for nothing)."""
    if account_id not in dict.keys(ec2_backends):
        return {}
    regional = ec2_backends[account_id]
    if region not in dict.keys(regional):
        return {}
    return {subnet.id: subnet for subnet in regional[region].describe_subnets()}


def _subnet_ids(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value or []]


def _resolve(
    backend: EKSBackend, subnet_ids: Iterable[str], **error: Any
) -> list[Any]:
    """The EC2 subnets of `subnet_ids`: [] when none of them exists (the leniency); an
    InvalidParameterException naming the first unknown one when only some exist."""
    ids = list(dict.fromkeys(subnet_ids))
    known = _known_subnets(backend.account_id, backend.region_name)
    found = [known[i] for i in ids if i in known]
    if not found:
        return []
    missing = [i for i in ids if i not in known]
    if missing:
        raise InvalidParameterException(
            **error, message=SUBNET_NOT_FOUND_MSG.format(subnet_id=missing[0])
        )
    return found


def _cluster_vpc(backend: EKSBackend, cluster: Any) -> str | None:
    """The VPC of the cluster's subnets, when they exist in EC2 (all in one VPC, as
    CreateCluster checked); None otherwise."""
    config = getattr(cluster, "resources_vpc_config", None) or {}
    known = _known_subnets(backend.account_id, backend.region_name)
    vpcs = {
        known[i].vpc_id
        for i in _subnet_ids(config.get("subnetIds"))
        if i in known
    }
    return vpcs.pop() if len(vpcs) == 1 else None


def _create_cluster(
    original: Callable[..., Any], self: EKSBackend, *args: Any, **kwargs: Any
) -> Any:
    """CreateCluster: subnets in one VPC and at least two Availability Zones.

    "When you create a cluster, you specify a VPC and at least two subnets that are in
    different Availability Zones."
    https://docs.aws.amazon.com/eks/latest/userguide/network-reqs.html
    subnetIds: "Specify subnets for your Amazon EKS nodes. Amazon EKS creates cross-account
    elastic network interfaces in these subnets to allow communication between your nodes
    and the Kubernetes control plane."
    https://docs.aws.amazon.com/eks/latest/APIReference/API_VpcConfigRequest.html
    """
    call = arguments(original, self, args, kwargs)
    name = call.get("name")
    if name in self.clusters:
        return original(self, **call)  # moto's ResourceInUseException
    config = call.get("resources_vpc_config") or {}
    # Every subnet must exist: EKS looks them up in EC2 (InvalidSubnetID.NotFound).
    # https://docs.aws.amazon.com/eks/latest/APIReference/API_VpcConfigRequest.html
    subnets = _resolve(self, _subnet_ids(config.get("subnetIds")), clusterName=name)
    if subnets:
        # One VPC: "you specify a VPC and at least two subnets" - the cluster's VPC is
        # the VPC of its subnets.
        # https://docs.aws.amazon.com/eks/latest/userguide/network-reqs.html
        # https://docs.aws.amazon.com/eks/latest/APIReference/API_VpcConfigRequest.html
        if len({s.vpc_id for s in subnets}) > 1:
            raise InvalidParameterException(clusterName=name, message=SAME_VPC_MSG)
        # "at least two subnets that are in different Availability Zones"
        # https://docs.aws.amazon.com/eks/latest/userguide/network-reqs.html
        # https://docs.aws.amazon.com/eks/latest/APIReference/API_VpcConfigRequest.html
        if len({s.availability_zone for s in subnets}) < 2:
            raise InvalidParameterException(clusterName=name, message=TWO_AZS_MSG)
    return original(self, **call)


def _create_nodegroup(
    original: Callable[..., Any], self: EKSBackend, *args: Any, **kwargs: Any
) -> Any:
    """CreateNodegroup: the subnets exist and are in the cluster's VPC.

    subnets: "The subnets to use for the Auto Scaling group that is created for your node
    group."  https://docs.aws.amazon.com/eks/latest/APIReference/API_CreateNodegroup.html
    "Nodes and load balancers can be launched in any subnet in your cluster's VPC"
    https://docs.aws.amazon.com/eks/latest/userguide/network-reqs.html
    """
    call = arguments(original, self, args, kwargs)
    cluster = self.clusters.get(call.get("cluster_name"))
    name = call.get("nodegroup_name")
    if cluster is None or name in cluster.nodegroups:
        return original(self, **call)  # moto's own answers (not found, in use)
    error = {"clusterName": cluster.name, "nodegroupName": name}
    # Every subnet must exist (EC2's InvalidSubnetID.NotFound, as for CreateCluster).
    # https://docs.aws.amazon.com/eks/latest/APIReference/API_CreateNodegroup.html
    subnets = _resolve(self, _subnet_ids(call.get("subnets")), **error)
    cluster_vpc = _cluster_vpc(self, cluster) if subnets else None
    # In the cluster's VPC (rancher/rancher issue #28144 for the message).
    # https://docs.aws.amazon.com/eks/latest/userguide/network-reqs.html
    # https://docs.aws.amazon.com/eks/latest/APIReference/API_CreateNodegroup.html
    if cluster_vpc is not None and any(s.vpc_id != cluster_vpc for s in subnets):
        raise InvalidParameterException(
            **error, message=NODEGROUP_VPC_MSG.format(vpc_id=cluster_vpc)
        )
    return original(self, **call)


def install() -> None:
    """Add the subnet rules to moto's EKS (idempotent; before eks_versions and eks_updates,
    whose version and scaling checks then run first)."""
    wrap_method(EKSBackend, "create_cluster", _create_cluster)
    wrap_method(EKSBackend, "create_nodegroup", _create_nodegroup)
