"""AWS managed policies loaded once, and optionally only some of them (test support only).

With ``MOTO_IAM_LOAD_MANAGED_POLICIES=true`` moto builds every AWS managed policy (about
1,300, parsed from a JSON text each time) in the IAM backend of every account it creates.
That is most of the time and memory of an organization of hundreds of accounts: at 500
accounts the emulator held several GB before eksmgr made one call.  Here the JSON text is
parsed once for the process, and ``EKSMGR_EMULATOR_IAM_MANAGED_POLICIES`` (a comma-separated
list of policy names, e.g. ``AmazonEKSClusterPolicy,AdministratorAccess``) limits the policies
built per account to those a test attaches.  Unset, every policy is built, as in moto.
"""

from __future__ import annotations

import json
import os
from typing import Any

from moto.iam import models as iam_models
from moto.settings import load_iam_aws_managed_policies

ENV = "EKSMGR_EMULATOR_IAM_MANAGED_POLICIES"

_PARSED: dict[str, Any] | None = None


def _parsed() -> dict[str, Any]:
    global _PARSED
    if _PARSED is None:
        _PARSED = json.loads(iam_models.aws_managed_policies_data)
    return _PARSED


def _wanted() -> set[str] | None:
    names = os.environ.get(ENV, "").strip()
    if not names:
        return None
    return {n.strip() for n in names.split(",") if n.strip()}


def _init_aws_policies(self: Any) -> list[Any]:
    if not load_iam_aws_managed_policies():
        return []
    wanted = _wanted()
    return [
        iam_models.AWSManagedPolicy.from_data(name, self.account_id, self.region_name, data)
        for name, data in _parsed().items()
        if wanted is None or name in wanted
    ]


def install() -> None:
    """Replace moto's per-account parsing of the managed policies (idempotent)."""
    iam_models.IAMBackend._init_aws_policies = _init_aws_policies  # type: ignore[method-assign]
