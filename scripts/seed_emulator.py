#!/usr/bin/env python3
"""Seed a fresh moto server with a realistic AWS Organization for eksmgr.

Run with the emulator's virtualenv (boto3 comes with moto):

    .venv/bin/python scripts/seed_emulator.py --endpoint http://127.0.0.1:PORT [--spokes N] [--fresh]

creates, from the management account (moto's default account 123456789012):

* the organization (FeatureSet=ALL), with SERVICE_CONTROL_POLICY enabled on the root and
  CloudFormation StackSets trusted access with Organizations activated
  (ActivateOrganizationsAccess), as an organization eksmgr manages has them;
* the OUs ``eks`` and ``shared`` under the root;
* the hub account ``hub`` (moved into ``shared``);
* N spoke accounts ``spoke-1`` .. ``spoke-N`` (moved into ``eks``);
* the principals an organization already has and eksmgr's example grants access to: the CI
  pipeline's role ``platform-ci`` in the hub, and in every spoke the IAM Identity Center role
  of the ``PlatformAdmin`` permission set (``/aws-reserved/sso.amazonaws.com/``
  ``AWSReservedSSO_PlatformAdmin_0123456789abcdef``);

and prints ONE JSON object on stdout:

    {"management_account_id", "root_id", "eks_ou_id", "shared_ou_id",
     "hub_account_id", "spoke_account_ids": [...], "region": "us-east-1"}

``--fresh`` leaves both of those off, as in a newly created organization: no policy type
enabled on the root (AttachPolicy of an SCP answers PolicyTypeNotEnabledException) and
StackSets trusted access DISABLED (a SERVICE_MANAGED stack set answers ValidationError);
everything else is seeded the same.

``--add-spoke`` instead creates one more spoke account (with its IAM Identity Center role) in
the ``eks`` OU of an already seeded organization and prints ``{"account_id": ..., "name": ...}``.

Everything else (progress, errors) goes to stderr; the exit status is non-zero on failure.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

REGION = "us-east-1"
EKS_OU = "eks"
SHARED_OU = "shared"
HUB_NAME = "hub"
SPOKE_PREFIX = "spoke-"
EMAIL_DOMAIN = "example.com"
ACCESS_ROLE = "OrganizationAccountAccessRole"
CI_ROLE = "platform-ci"
SSO_PATH = "/aws-reserved/sso.amazonaws.com/"
SSO_ROLE = "AWSReservedSSO_PlatformAdmin_0123456789abcdef"


def isolate_from_local_aws_config() -> None:
    """Ignore the caller's AWS profiles and files: only the emulator's test keys count."""
    for name in [n for n in os.environ if n.startswith("AWS_")]:
        del os.environ[name]
    os.environ["AWS_CONFIG_FILE"] = os.devnull
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"


def client(service: str, endpoint: str):
    """A boto3 client for the management account against the emulator."""
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 3, "mode": "standard"}),
    )


def paginate(org, operation: str, key: str, **kwargs) -> list:
    """All items of a paginated Organizations list call."""
    items: list = []
    for page in org.get_paginator(operation).paginate(**kwargs):
        items.extend(page[key])
    return items


def client_in(account_id: str, service: str, endpoint: str):
    """A boto3 client acting in a member account, through OrganizationAccountAccessRole."""
    creds = client("sts", endpoint).assume_role(
        RoleArn=f"arn:aws:iam::{account_id}:role/{ACCESS_ROLE}", RoleSessionName="seed"
    )["Credentials"]
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        config=Config(retries={"max_attempts": 3, "mode": "standard"}),
    )


def create_role(endpoint: str, account_id: str, name: str, path: str = "/") -> None:
    """A role trusted by its own account (a stand-in for a pipeline or an SSO role)."""
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    client_in(account_id, "iam", endpoint).create_role(
        RoleName=name, Path=path, AssumeRolePolicyDocument=json.dumps(trust)
    )


def create_account(org, name: str, timeout: float = 30.0) -> str:
    """Create a member account and wait until its creation succeeded; return its id.

    moto answers SUCCEEDED at once with a random 12-digit id; the polling loop keeps the
    script correct should a later moto (or a real organization) report IN_PROGRESS.
    """
    status = org.create_account(AccountName=name, Email=f"{name}@{EMAIL_DOMAIN}")[
        "CreateAccountStatus"
    ]
    deadline = time.monotonic() + timeout
    while status["State"] == "IN_PROGRESS":
        if time.monotonic() > deadline:
            raise RuntimeError(f"account {name!r} still IN_PROGRESS after {timeout:.0f}s")
        time.sleep(0.2)
        status = org.describe_create_account_status(CreateAccountRequestId=status["Id"])[
            "CreateAccountStatus"
        ]
    if status["State"] != "SUCCEEDED":
        reason = status.get("FailureReason", "unknown reason")
        raise RuntimeError(f"creating account {name!r} ended {status['State']}: {reason}")
    return status["AccountId"]


def move_to(org, account_id: str, root_id: str, ou_id: str) -> None:
    """Move an account from the root into an OU."""
    org.move_account(AccountId=account_id, SourceParentId=root_id, DestinationParentId=ou_id)


def root_id_of(org) -> str:
    roots = paginate(org, "list_roots", "Roots")
    if len(roots) != 1:
        raise RuntimeError(f"expected exactly one organization root, found {len(roots)}")
    return roots[0]["Id"]


def enable_governance(endpoint: str, org, root_id: str) -> None:
    """Enable SCPs on the root and activate StackSets trusted access (both idempotent)."""
    try:
        org.enable_policy_type(RootId=root_id, PolicyType="SERVICE_CONTROL_POLICY")
    except ClientError as err:
        if err.response["Error"]["Code"] != "PolicyTypeAlreadyEnabledException":
            raise
    client("cloudformation", endpoint).activate_organizations_access()


def seed(endpoint: str, spokes: int, fresh: bool = False) -> dict:
    org = client("organizations", endpoint)
    try:
        created = org.create_organization(FeatureSet="ALL")["Organization"]
    except ClientError as err:
        if err.response["Error"]["Code"] == "AlreadyInOrganizationException":
            raise RuntimeError(
                "the emulator already holds an organization; seed a fresh server "
                "(or POST /moto-api/reset first), or use --add-spoke"
            ) from err
        raise
    management_account_id = created["MasterAccountId"]
    root_id = root_id_of(org)
    if not fresh:
        enable_governance(endpoint, org, root_id)

    eks_ou_id = org.create_organizational_unit(ParentId=root_id, Name=EKS_OU)[
        "OrganizationalUnit"
    ]["Id"]
    shared_ou_id = org.create_organizational_unit(ParentId=root_id, Name=SHARED_OU)[
        "OrganizationalUnit"
    ]["Id"]

    hub_account_id = create_account(org, HUB_NAME)
    move_to(org, hub_account_id, root_id, shared_ou_id)
    create_role(endpoint, hub_account_id, CI_ROLE)

    spoke_account_ids = []
    for index in range(1, spokes + 1):
        account_id = create_account(org, f"{SPOKE_PREFIX}{index}")
        move_to(org, account_id, root_id, eks_ou_id)
        create_role(endpoint, account_id, SSO_ROLE, SSO_PATH)
        spoke_account_ids.append(account_id)

    return {
        "management_account_id": management_account_id,
        "root_id": root_id,
        "eks_ou_id": eks_ou_id,
        "shared_ou_id": shared_ou_id,
        "hub_account_id": hub_account_id,
        "spoke_account_ids": spoke_account_ids,
        "region": REGION,
    }


def add_spoke(endpoint: str) -> dict:
    org = client("organizations", endpoint)
    root_id = root_id_of(org)
    ous = [
        ou
        for ou in paginate(
            org, "list_organizational_units_for_parent", "OrganizationalUnits", ParentId=root_id
        )
        if ou["Name"] == EKS_OU
    ]
    if len(ous) != 1:
        raise RuntimeError(
            f"expected one OU named {EKS_OU!r} under the root, found {len(ous)}: seed first"
        )
    eks_ou_id = ous[0]["Id"]

    # Name it after the highest existing spoke-N anywhere in the organization.
    highest = 0
    for account in paginate(org, "list_accounts", "Accounts"):
        suffix = account["Name"].removeprefix(SPOKE_PREFIX)
        if account["Name"].startswith(SPOKE_PREFIX) and suffix.isdigit():
            highest = max(highest, int(suffix))
    name = f"{SPOKE_PREFIX}{highest + 1}"

    account_id = create_account(org, name)
    move_to(org, account_id, root_id, eks_ou_id)
    create_role(endpoint, account_id, SSO_ROLE, SSO_PATH)
    return {"account_id": account_id, "name": name}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", required=True, help="e.g. http://127.0.0.1:5000")
    parser.add_argument("--spokes", type=int, default=2, help="spoke accounts (default 2)")
    parser.add_argument(
        "--add-spoke",
        action="store_true",
        help="add one spoke account to the eks OU of an already seeded organization",
    )
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="leave the SCP policy type and StackSets trusted access off, as in a new "
        "organization",
    )
    args = parser.parse_args(argv)
    if args.spokes < 0:
        parser.error("--spokes must be 0 or more")
    if args.fresh and args.add_spoke:
        parser.error("--fresh applies to seeding a new organization, not to --add-spoke")

    isolate_from_local_aws_config()
    try:
        result = (
            add_spoke(args.endpoint)
            if args.add_spoke
            else seed(args.endpoint, args.spokes, fresh=args.fresh)
        )
    except (ClientError, BotoCoreError, RuntimeError) as err:
        print(f"seed_emulator: error: {err}", file=sys.stderr)
        return 1
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
