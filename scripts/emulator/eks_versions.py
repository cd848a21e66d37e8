"""Kubernetes versions on EKS: DescribeClusterVersions, and CreateCluster refusing a
version EKS does not offer (test support only).

Checked in moto 5.2.5 first: it has no DescribeClusterVersions and no
UpdateClusterVersion, and CreateCluster takes any version string (and defaults to 1.19).
Added here:

1. ``GET /cluster-versions`` (DescribeClusterVersions), answered from VERSIONS below as of
   "today": by default the versions EKS offers (standard or extended support); includeAll
   adds the released versions past their extended support (versionStatus UNSUPPORTED);
   clusterVersions, versionStatus (and the deprecated status), defaultOnly, clusterType,
   maxResults and nextToken filter and page as in botocore's model.
2. CreateCluster refuses a version that is not offered (not yet released on EKS, or past
   its end of extended support): InvalidParameterException "unsupported Kubernetes
   version 1.31".  "On the end of extended support date, you can no longer create new
   Amazon EKS clusters with the unsupported version."
   https://docs.aws.amazon.com/eks/latest/userguide/kubernetes-versions.html
   Without a version, a cluster gets the default version (moto's 1.19 is long gone).

"Today" is the real UTC date, or ``EKSMGR_EMULATOR_TODAY=YYYY-MM-DD`` so tests do not
change with the calendar.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any, Callable

from moto.core.responses import ActionResult
from moto.eks import urls as eks_urls
from moto.eks.exceptions import InvalidParameterException
from moto.eks.models import EKSBackend
from moto.eks.responses import EKSResponse

from patching import add_methods, arguments, wrap_method

TODAY_ENV = "EKSMGR_EMULATOR_TODAY"
CLUSTER_TYPE = "eks"
STANDARD_SUPPORT = "STANDARD_SUPPORT"
EXTENDED_SUPPORT = "EXTENDED_SUPPORT"
UNSUPPORTED = "UNSUPPORTED"
# The deprecated `status` member's values for the same states (botocore's model).
LEGACY_STATUS = {
    STANDARD_SUPPORT: "standard-support",
    EXTENDED_SUPPORT: "extended-support",
    UNSUPPORTED: "unsupported",
}
# InvalidParameterException, HTTP 400, with the cluster's name (AWS's answer, e.g.
# pluralsight-cloud/...-terraform issue #1, terraform-aws-modules/terraform-aws-eks #3164).
UNSUPPORTED_VERSION_MSG = "unsupported Kubernetes version {version}"
MAX_RESULTS = 100


@dataclass(frozen=True)
class KubernetesVersion:
    """One minor version's dates on EKS (standard support: 14 months from the EKS
    release; extended support: 12 more)."""

    version: str
    released: date  # Amazon EKS release
    end_of_standard_support: date
    end_of_extended_support: date
    # defaultPlatformVersion; illustrative (AWS bumps eks.N with each platform release).
    platform_version: str

    def status(self, today: date) -> str | None:
        """STANDARD_SUPPORT / EXTENDED_SUPPORT / UNSUPPORTED on `today`; None before
        its release."""
        if today < self.released:
            return None
        if today < self.end_of_standard_support:
            return STANDARD_SUPPORT
        if today < self.end_of_extended_support:
            return EXTENDED_SUPPORT
        return UNSUPPORTED


# The Amazon EKS Kubernetes release calendar ("Amazon EKS release", "End of standard
# support", "End of extended support", UTC), as of December 2026.
# 1.29 .. 1.34: as published in "Understand the Kubernetes version lifecycle on EKS",
#   https://docs.aws.amazon.com/eks/latest/userguide/kubernetes-versions.html
#   (1.31's extended support ended on 2026-11-26, so it is no longer offered.)
# 1.35: not in the copy of that page available here; dates from endoflife.date/amazon-eks
#   (EKS release 2026-01-27; standard support to 2027-03-27, extended to 2028-03-27).
# 1.36, 1.37: ESTIMATES.  Upstream Kubernetes ships a minor version about every four
#   months (1.36 ~ April 2026, 1.37 ~ August 2026) and EKS has followed about five to six
#   weeks later; their end dates are the release + 14 and + 26 months.
VERSIONS: tuple[KubernetesVersion, ...] = (
    KubernetesVersion("1.29", date(2024, 1, 23), date(2025, 3, 23), date(2026, 3, 23), "eks.40"),
    KubernetesVersion("1.30", date(2024, 5, 23), date(2025, 7, 23), date(2026, 7, 23), "eks.36"),
    KubernetesVersion("1.31", date(2024, 9, 26), date(2025, 11, 26), date(2026, 11, 26), "eks.32"),
    KubernetesVersion("1.32", date(2025, 1, 23), date(2026, 3, 23), date(2027, 3, 23), "eks.26"),
    KubernetesVersion("1.33", date(2025, 5, 29), date(2026, 7, 29), date(2027, 7, 29), "eks.20"),
    KubernetesVersion("1.34", date(2025, 10, 2), date(2026, 12, 2), date(2027, 12, 2), "eks.12"),
    KubernetesVersion("1.35", date(2026, 1, 27), date(2027, 3, 27), date(2028, 3, 27), "eks.8"),
    # Estimated (see above).
    KubernetesVersion("1.36", date(2026, 5, 28), date(2027, 7, 28), date(2028, 7, 28), "eks.5"),
    KubernetesVersion("1.37", date(2026, 9, 30), date(2027, 11, 30), date(2028, 11, 30), "eks.2"),
)


def today() -> date:
    """EKSMGR_EMULATOR_TODAY (YYYY-MM-DD) if set, else the current UTC date."""
    value = os.environ.get(TODAY_ENV, "").strip()
    if value:
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{TODAY_ENV} must be YYYY-MM-DD, not {value!r}") from None
    return datetime.now(timezone.utc).date()


def _key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def offered_versions(day: date | None = None) -> list[KubernetesVersion]:
    """The versions a new cluster can have on `day`, newest first."""
    day = day or today()
    offered = [v for v in VERSIONS if v.status(day) in (STANDARD_SUPPORT, EXTENDED_SUPPORT)]
    return sorted(offered, key=lambda v: _key(v.version), reverse=True)


def default_version(day: date | None = None) -> KubernetesVersion:
    """The version a cluster created without one gets: the newest offered (AWS moves
    its default to a new version soon after release; the lag is not published)."""
    offered = offered_versions(day)
    if not offered:
        raise ValueError(f"no Kubernetes version is offered on {day or today()}")
    return offered[0]


def _timestamp(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=timezone.utc)


def _version_info(version: KubernetesVersion, day: date, default: str) -> dict[str, Any]:
    status = version.status(day) or UNSUPPORTED
    return {
        "clusterVersion": version.version,
        "clusterType": CLUSTER_TYPE,
        "defaultPlatformVersion": version.platform_version,
        "defaultVersion": version.version == default,
        "releaseDate": _timestamp(version.released),
        "endOfStandardSupportDate": _timestamp(version.end_of_standard_support),
        "endOfExtendedSupportDate": _timestamp(version.end_of_extended_support),
        "status": LEGACY_STATUS[status],
        "versionStatus": status,
    }


def _flag(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


class EKSBackendVersionsExtension(EKSBackend):
    """The methods install() adds to moto's EKSBackend; not instantiated itself."""

    def describe_cluster_versions(
        self,
        cluster_type: str | None = None,
        max_results: int | None = None,
        next_token: str | None = None,
        default_only: bool = False,
        include_all: bool = False,
        cluster_versions: list[str] | None = None,
        version_status: str | None = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """DescribeClusterVersions, newest first.

        https://docs.aws.amazon.com/eks/latest/APIReference/API_DescribeClusterVersions.html
        """
        if max_results is not None and not 1 <= max_results <= MAX_RESULTS:
            raise InvalidParameterException(
                message=f"maxResults must be between 1 and {MAX_RESULTS}"
            )
        day = today()
        default = default_version(day).version
        if include_all:
            chosen = sorted(
                (v for v in VERSIONS if v.status(day) is not None),
                key=lambda v: _key(v.version),
                reverse=True,
            )
        else:
            chosen = offered_versions(day)
        if cluster_type and cluster_type != CLUSTER_TYPE:
            chosen = []
        if cluster_versions:
            chosen = [v for v in chosen if v.version in cluster_versions]
        if version_status:
            chosen = [v for v in chosen if v.status(day) == version_status]
        if default_only:
            chosen = [v for v in chosen if v.version == default]

        names = [v.version for v in chosen]
        start = 0
        if next_token:
            if next_token not in names:
                raise InvalidParameterException(message="The nextToken is invalid")
            start = names.index(next_token)
        end = start + (max_results or MAX_RESULTS)
        page = chosen[start:end]
        token = names[end] if end < len(names) else None
        return [_version_info(v, day, default) for v in page], token


class EKSResponseVersionsExtension(EKSResponse):
    """The methods install() adds to moto's EKSResponse; not instantiated itself."""

    def describe_cluster_versions(self) -> ActionResult:
        # The deprecated `status` filter takes the lower-case values; map them.
        legacy = {v: k for k, v in LEGACY_STATUS.items()}
        status = self._get_param("versionStatus") or legacy.get(
            self._get_param("status") or "", self._get_param("status")
        )
        versions, next_token = self.eks_backend.describe_cluster_versions(  # type: ignore[attr-defined]
            cluster_type=self._get_param("clusterType"),
            max_results=self._get_int_param("maxResults"),
            next_token=self._get_param("nextToken"),
            default_only=_flag(self._get_param("defaultOnly")),
            include_all=_flag(self._get_param("includeAll")),
            # Read the query string itself: a repeated ?clusterVersions= has every value.
            cluster_versions=self.querystring.get("clusterVersions") or None,
            version_status=status,
        )
        return ActionResult({"clusterVersions": versions, "nextToken": next_token})


def _create_cluster(original: Callable[..., Any], self: EKSBackend, *args: Any, **kwargs: Any) -> Any:
    """CreateCluster with a version EKS offers today (the default one when none)."""
    call = arguments(original, self, args, kwargs)
    version = call.get("version")
    offered = {v.version for v in offered_versions()}
    if version is None:
        call["version"] = default_version().version
    elif version not in offered:
        raise InvalidParameterException(
            clusterName=call.get("name"),
            message=UNSUPPORTED_VERSION_MSG.format(version=version),
        )
    return original(self, **call)


URL_PATHS = {"{0}/cluster-versions$": eks_urls.response.dispatch}


def install() -> None:
    """Add DescribeClusterVersions and the version rule to moto's EKS (idempotent)."""
    today()  # A malformed EKSMGR_EMULATOR_TODAY stops the server at start.
    add_methods(EKSBackend, EKSBackendVersionsExtension)
    add_methods(EKSResponse, EKSResponseVersionsExtension)
    wrap_method(EKSBackend, "create_cluster", _create_cluster)
    eks_urls.url_paths.update(URL_PATHS)
