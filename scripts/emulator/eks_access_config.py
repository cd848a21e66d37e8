"""EKS authentication modes (test support only).

Checked in moto 5.2.5 first: CreateCluster drops ``accessConfig``, DescribeCluster answers
none, and UpdateClusterConfig cannot change it. Added here:

1. CreateCluster records ``accessConfig``; without one a cluster made through the API gets
   ``CONFIG_MAP`` ("If you create a cluster by using the EKS API, AWS SDKs, or AWS
   CloudFormation, the default is CONFIG_MAP",
   https://docs.aws.amazon.com/eks/latest/APIReference/API_CreateAccessConfigRequest.html),
   and DescribeCluster returns it.
2. UpdateClusterConfig changes the authentication mode one way only: "Switching
   authentication modes on an existing cluster is a one-way operation. You can switch from
   CONFIG_MAP to API_AND_CONFIG_MAP. You can then switch from API_AND_CONFIG_MAP to API. You
   cannot revert these operations in the opposite direction."
   (https://docs.aws.amazon.com/eks/latest/userguide/setting-up-access-entries.html): a step
   back is an InvalidParameterException.
"""

from __future__ import annotations

from typing import Any, Callable

from moto.core.responses import ActionResult
from moto.eks.exceptions import InvalidParameterException
from moto.eks.responses import EKSResponse

from patching import wrap_method

#: The authentication modes, in the only order a cluster may move through them.
ORDER = ["CONFIG_MAP", "API_AND_CONFIG_MAP", "API"]


def _create_cluster(original: Callable[..., Any], self: EKSResponse) -> ActionResult:
    access = self._get_param("accessConfig") or {}
    result = original(self)
    cluster = self.eks_backend.clusters[self._get_param("name")]
    cluster.access_config = {
        "authenticationMode": access.get("authenticationMode") or "CONFIG_MAP",
        "bootstrapClusterCreatorAdminPermissions": access.get(
            "bootstrapClusterCreatorAdminPermissions", True
        ),
    }
    return result


def _update_cluster_config(original: Callable[..., Any], self: EKSResponse) -> ActionResult:
    name = self._get_param("name")
    wanted = (self._get_param("accessConfig") or {}).get("authenticationMode")
    cluster = self.eks_backend.clusters.get(name)
    if wanted and cluster is not None:
        config = getattr(cluster, "access_config", None) or {"authenticationMode": "CONFIG_MAP"}
        current = config["authenticationMode"]
        if wanted not in ORDER or ORDER.index(wanted) < ORDER.index(current):
            raise InvalidParameterException(
                clusterName=name,
                message=f"Unsupported authentication mode update from {current} to {wanted}",
            )
        cluster.access_config = {**config, "authenticationMode": wanted}
    return original(self)


def install() -> None:
    """Add the authentication mode to moto's EKS clusters (idempotent)."""
    wrap_method(EKSResponse, "create_cluster", _create_cluster)
    wrap_method(EKSResponse, "update_cluster_config", _update_cluster_config)
