#!/usr/bin/env python3
"""Self-test of the emulator's AWS rules: every rule's refused and accepted case, with boto3.

Run with the emulator's virtualenv (no pytest needed)::

    .venv/bin/python scripts/emulator/selftest.py

It starts its own servers (``eksmgr_moto.py`` on free 127.0.0.1 ports) and stops them:

* the main one with ``EKSMGR_EMULATOR_TODAY=2026-12-05`` and
  ``EKSMGR_EMULATOR_IAM_PROPAGATION_SECONDS=1.5``, seeded with ``seed_emulator.py --fresh``;
* a second one with ``EKSMGR_EMULATOR_TODAY=2026-11-25`` and no propagation delay, seeded
  by default (SCPs enabled, StackSets trusted access activated), that also serves the
  clusters' Kubernetes API (``EKSMGR_EMULATOR_KUBE_PORT`` on another free port, with
  ``EKSMGR_EMULATOR_KUBE_LOG``), checked over HTTPS with the CA DescribeCluster gives.

It prints one line per check and ``N passed, N failed`` last; the exit status is non-zero
on any failure.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.request
from contextlib import nullcontext
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable
from unittest import mock
from urllib.parse import urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

HERE = Path(__file__).resolve().parent
EMULATOR = HERE / "eksmgr_moto.py"
SEED = HERE.parent / "seed_emulator.py"
REGION = "us-east-1"
MANAGEMENT = "123456789012"
STACKSETS_PRINCIPAL = "member.org.stacksets.cloudformation.amazonaws.com"
PROPAGATION = 1.5
TEMPLATE = json.dumps(
    {"Resources": {"Topic": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": "t"}}}}
)

RESULTS: list[tuple[str, bool, str]] = []


# The harness -------------------------------------------------------------------------


def check(name: str, test: Callable[[], None]) -> None:
    """Run one check; record and print its outcome."""
    try:
        test()
    except Exception as err:  # noqa: BLE001 - any failure is the check's failure
        detail = f"{type(err).__name__}: {err}"
        if not isinstance(err, AssertionError):
            detail += "\n" + traceback.format_exc(limit=3)
        RESULTS.append((name, False, detail))
        print(f"FAIL {name}: {detail}", flush=True)
    else:
        RESULTS.append((name, True, ""))
        print(f"ok   {name}", flush=True)


def refused(call: Callable[..., Any], code: str, message: str | None = None, **kwargs: Any) -> ClientError:
    """Assert the call fails with `code` (and a message containing `message`)."""
    try:
        call(**kwargs)
    except ClientError as err:
        got_code = err.response["Error"].get("Code")
        got_message = err.response["Error"].get("Message") or ""
        assert got_code == code, f"expected {code}, got {got_code}: {got_message}"
        if message is not None:
            assert message in got_message, f"expected {message!r} in {got_message!r}"
        return err
    raise AssertionError(f"expected {code}, but the call succeeded")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """An eksmgr_moto.py server on a free 127.0.0.1 port, stopped by stop()."""

    def __init__(self, **env: str):
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.env = env
        clean = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        self.process = subprocess.Popen(
            [sys.executable, str(EMULATOR), "-H", "127.0.0.1", "-p", str(self.port)],
            env={**clean, **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{self.endpoint}/moto-api/", timeout=2).read()
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"the emulator on port {self.port} did not start")
                time.sleep(0.2)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def seed(self, *flags: str) -> dict[str, Any]:
        out = subprocess.run(
            [sys.executable, str(SEED), "--endpoint", self.endpoint, *flags],
            check=True,
            capture_output=True,
            text=True,
        )
        return json.loads(out.stdout)

    def client(
        self, service: str, validate: bool = True, region: str = REGION, **credentials: str
    ) -> Any:
        """A boto3 client; validate=False sends what boto3 would refuse (to see the
        server refuse it)."""
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=region,
            aws_access_key_id=credentials.get("key", "testing"),
            aws_secret_access_key=credentials.get("secret", "testing"),
            aws_session_token=credentials.get("token"),
            config=Config(retries={"max_attempts": 1}, parameter_validation=validate),
        )

    def client_in(self, account_id: str, service: str) -> Any:
        """A client acting in a member account, through OrganizationAccountAccessRole."""
        creds = self.client("sts").assume_role(
            RoleArn=f"arn:aws:iam::{account_id}:role/OrganizationAccountAccessRole",
            RoleSessionName="selftest",
        )["Credentials"]
        return self.client(
            service,
            key=creds["AccessKeyId"],
            secret=creds["SecretAccessKey"],
            token=creds["SessionToken"],
        )


def trust(*principals: Any) -> str:
    """A trust policy with one statement per principal element."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": p, "Action": "sts:AssumeRole"}
                for p in principals
            ],
        }
    )


def repository_policy(principal: Any, padding: int = 0) -> str:
    policy = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Sid": "pull", "Effect": "Allow", "Principal": principal,
                 "Action": ["ecr:BatchGetImage"]}
            ],
        }
    )
    return policy[:-1] + " " * padding + "}"


def key_policy(principal: Any, padding: int = 0) -> str:
    policy = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Sid": "root", "Effect": "Allow",
                 "Principal": {"AWS": f"arn:aws:iam::{MANAGEMENT}:root"},
                 "Action": "kms:*", "Resource": "*"},
                {"Sid": "use", "Effect": "Allow", "Principal": principal,
                 "Action": "kms:Decrypt", "Resource": "*"},
            ],
        }
    )
    return policy[:-1] + " " * padding + "}"


def inline_policy(size: int, padding: int = 0) -> str:
    """An inline policy of `size` characters without whitespace (+ padding spaces)."""
    base = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/"}]}
    compact = json.dumps(base, separators=(",", ":"))
    fill = size - len(compact)
    base["Statement"][0]["Resource"] = "arn:aws:s3:::b/" + "x" * fill
    text = json.dumps(base, separators=(",", ":"))
    assert len(text) == size
    return text[:-1] + " " * padding + "}"


# Rule 1: Organizations ----------------------------------------------------------------


def organizations_checks(main: Server, seeded: dict[str, Any]) -> None:
    org = main.client("organizations")
    root_id, eks_ou = seeded["root_id"], seeded["eks_ou_id"]
    scp = {"Version": "2012-10-17",
           "Statement": [{"Effect": "Deny", "Action": "s3:DeleteBucket", "Resource": "*"}]}
    policy_id = org.create_policy(
        Name="deny-delete", Type="SERVICE_CONTROL_POLICY", Description="d",
        Content=json.dumps(scp),
    )["Policy"]["PolicySummary"]["Id"]

    def fresh_root_has_no_policy_type() -> None:
        assert org.list_roots()["Roots"][0]["PolicyTypes"] == []

    def attach_refused_when_type_not_enabled() -> None:
        refused(org.attach_policy, "PolicyTypeNotEnabledException",
                PolicyId=policy_id, TargetId=eks_ou)

    def enable_shows_status_and_attach_works() -> None:
        root = org.enable_policy_type(RootId=root_id, PolicyType="SERVICE_CONTROL_POLICY")
        want = [{"Type": "SERVICE_CONTROL_POLICY", "Status": "ENABLED"}]
        assert root["Root"]["PolicyTypes"] == want, root["Root"]
        assert org.list_roots()["Roots"][0]["PolicyTypes"] == want
        refused(org.enable_policy_type, "PolicyTypeAlreadyEnabledException",
                RootId=root_id, PolicyType="SERVICE_CONTROL_POLICY")
        org.attach_policy(PolicyId=policy_id, TargetId=eks_ou)
        targets = org.list_targets_for_policy(PolicyId=policy_id)["Targets"]
        assert [t["TargetId"] for t in targets] == [eks_ou]

    def disable_shows_status_and_attach_refused_again() -> None:
        root = org.disable_policy_type(RootId=root_id, PolicyType="SERVICE_CONTROL_POLICY")
        assert root["Root"]["PolicyTypes"] == []
        assert org.list_roots()["Roots"][0]["PolicyTypes"] == []
        refused(org.disable_policy_type, "PolicyTypeNotEnabledException",
                RootId=root_id, PolicyType="SERVICE_CONTROL_POLICY")
        refused(org.attach_policy, "PolicyTypeNotEnabledException",
                PolicyId=policy_id, TargetId=root_id)
        org.enable_policy_type(RootId=root_id, PolicyType="SERVICE_CONTROL_POLICY")

    def scp_content_limit_counts_whitespace() -> None:
        content = json.dumps(scp)
        at_limit = content[:-1] + " " * (5120 - len(content)) + "}"
        assert len(at_limit) == 5120
        org.create_policy(Name="at-limit", Type="SERVICE_CONTROL_POLICY",
                          Description="d", Content=at_limit)
        over = content[:-1] + " " * (5121 - len(content)) + "}"  # compact: well under
        err = refused(org.create_policy, "ConstraintViolationException",
                      "You have exceeded the maximum policy size.",
                      Name="over", Type="SERVICE_CONTROL_POLICY", Description="d",
                      Content=over)
        assert err.response.get("Reason") == "POLICY_CONTENT_LIMIT_EXCEEDED", err.response
        refused(org.update_policy, "ConstraintViolationException",
                "You have exceeded the maximum policy size.",
                PolicyId=policy_id, Content=over)
        org.update_policy(PolicyId=policy_id, Content=at_limit)

    check("organizations: a fresh root has no policy type enabled", fresh_root_has_no_policy_type)
    check("organizations: AttachPolicy refused while SCPs are not enabled",
          attach_refused_when_type_not_enabled)
    check("organizations: EnablePolicyType shows ENABLED, AttachPolicy works",
          enable_shows_status_and_attach_works)
    check("organizations: DisablePolicyType shows it gone, AttachPolicy refused again",
          disable_shows_status_and_attach_refused_again)
    check("organizations: SCP content over 5,120 characters (as sent) refused",
          scp_content_limit_counts_whitespace)


# Rules 2 and 3: StackSets -------------------------------------------------------------


def stackset_checks(main: Server, seeded: dict[str, Any]) -> None:
    cfn = main.client("cloudformation")
    org = main.client("organizations")
    hub = seeded["hub_account_id"]
    spokes = seeded["spoke_account_ids"]
    eks_ou, root_id = seeded["eks_ou_id"], seeded["root_id"]
    # A nested OU under eks, with an account of its own.
    nested_ou = org.create_organizational_unit(ParentId=eks_ou, Name="nested")[
        "OrganizationalUnit"]["Id"]
    deep_ou = org.create_organizational_unit(ParentId=nested_ou, Name="deeper")[
        "OrganizationalUnit"]["Id"]
    deep = org.create_account(AccountName="deep", Email="deep@example.com")[
        "CreateAccountStatus"]["AccountId"]
    org.move_account(AccountId=deep, SourceParentId=root_id, DestinationParentId=deep_ou)
    in_eks = set(spokes) | {deep}
    hub_cfn = main.client_in(hub, "cloudformation")

    def create(name: str, client: Any = cfn, **kwargs: Any) -> Any:
        return client.create_stack_set(
            StackSetName=name, TemplateBody=TEMPLATE, PermissionModel="SERVICE_MANAGED",
            AutoDeployment={"Enabled": False}, **kwargs)

    def instances(name: str) -> set[str]:
        summaries = cfn.list_stack_instances(StackSetName=name)["Summaries"]
        return {s["Account"] for s in summaries}

    def fresh_organization_access_disabled() -> None:
        assert cfn.describe_organizations_access()["Status"] == "DISABLED"
        assert cfn.describe_organizations_access(CallAs="SELF")["Status"] == "DISABLED"

    def service_managed_refused_without_access() -> None:
        refused(create, "ValidationError",
                "You must enable organizations access to operate a service managed stack set",
                name="refused")
        cfn.create_stack_set(StackSetName="self-managed", TemplateBody=TEMPLATE)

    def activate_then_create() -> None:
        cfn.activate_organizations_access()
        assert cfn.describe_organizations_access()["Status"] == "ENABLED"
        cfn.activate_organizations_access()  # idempotent
        create("baseline")

    def member_refused() -> None:
        refused(create, "ValidationError",
                "You must be the management account or delegated admin account",
                name="from-hub", client=hub_cfn)
        refused(create, "ValidationError", "Account used is not a delegated administrator",
                name="from-hub", client=hub_cfn, CallAs="DELEGATED_ADMIN")
        refused(hub_cfn.describe_organizations_access, "InvalidOperationException")
        refused(cfn.describe_organizations_access, "ValidationError",
                "Account used is not a delegated administrator", CallAs="DELEGATED_ADMIN")

    def delegated_admin_accepted() -> None:
        org.register_delegated_administrator(AccountId=hub, ServicePrincipal=STACKSETS_PRINCIPAL)
        status = hub_cfn.describe_organizations_access(CallAs="DELEGATED_ADMIN")["Status"]
        assert status == "ENABLED", status
        create("by-delegate", client=hub_cfn, CallAs="DELEGATED_ADMIN")
        # Created in the management account.
        described = cfn.describe_stack_set(StackSetName="by-delegate")["StackSet"]
        assert f":{MANAGEMENT}:" in described["StackSetARN"], described["StackSetARN"]
        refused(create, "ValidationError",
                "You must be the management account or delegated admin account",
                name="still-self", client=hub_cfn)

    def ou_targets_nested_without_management() -> None:
        cfn.create_stack_instances(StackSetName="baseline", Regions=[REGION],
                                   DeploymentTargets={"OrganizationalUnitIds": [eks_ou]})
        assert instances("baseline") == in_eks, instances("baseline")
        create("whole-org")
        cfn.create_stack_instances(StackSetName="whole-org", Regions=[REGION],
                                   DeploymentTargets={"OrganizationalUnitIds": [root_id]})
        got = instances("whole-org")
        assert MANAGEMENT not in got and in_eks | {hub} <= got, got

    def refused_after_deactivate() -> None:
        cfn.deactivate_organizations_access()
        assert cfn.describe_organizations_access()["Status"] == "DISABLED"
        message = "You must enable organizations access to operate a service managed stack set"
        targets = {"OrganizationalUnitIds": [eks_ou]}
        refused(cfn.create_stack_instances, "ValidationError", message,
                StackSetName="baseline", Regions=[REGION], DeploymentTargets=targets)
        refused(cfn.update_stack_set, "ValidationError", message,
                StackSetName="baseline", TemplateBody=TEMPLATE)
        refused(cfn.delete_stack_instances, "ValidationError", message,
                StackSetName="baseline", Regions=[REGION], DeploymentTargets=targets,
                RetainStacks=False)
        refused(hub_cfn.describe_stack_set, "StackSetNotFoundException", StackSetName="baseline")
        cfn.activate_organizations_access()
        cfn.update_stack_set(StackSetName="baseline", TemplateBody=TEMPLATE)

    def delete_by_ou_empties_the_stack_set() -> None:
        cfn.delete_stack_instances(StackSetName="baseline", Regions=[REGION], RetainStacks=False,
                                   DeploymentTargets={"OrganizationalUnitIds": [eks_ou]})
        assert instances("baseline") == set(), instances("baseline")
        cfn.delete_stack_set(StackSetName="baseline")

    def delete_honours_account_filters() -> None:
        targets = {"OrganizationalUnitIds": [eks_ou]}
        create("filtered")
        cfn.create_stack_instances(StackSetName="filtered", Regions=[REGION],
                                   DeploymentTargets=targets)
        keep = spokes[0]
        cfn.delete_stack_instances(
            StackSetName="filtered", Regions=[REGION], RetainStacks=False,
            DeploymentTargets={**targets, "Accounts": [keep], "AccountFilterType": "DIFFERENCE"})
        assert instances("filtered") == {keep}, instances("filtered")
        cfn.delete_stack_instances(
            StackSetName="filtered", Regions=[REGION], RetainStacks=False,
            DeploymentTargets={**targets, "Accounts": [keep], "AccountFilterType": "INTERSECTION"})
        assert instances("filtered") == set()
        cfn.delete_stack_set(StackSetName="filtered")

    def empty_ou_is_recorded_on_the_stack_set() -> None:
        empty = org.create_organizational_unit(ParentId=root_id, Name="empty")[
            "OrganizationalUnit"]["Id"]
        create("to-empty")
        targets = {"OrganizationalUnitIds": [empty]}
        cfn.create_stack_instances(StackSetName="to-empty", Regions=[REGION],
                                   DeploymentTargets=targets)
        assert instances("to-empty") == set(), instances("to-empty")
        described = cfn.describe_stack_set(StackSetName="to-empty")["StackSet"]
        assert described.get("OrganizationalUnitIds") == [empty], described
        cfn.delete_stack_instances(StackSetName="to-empty", Regions=[REGION],
                                   RetainStacks=False, DeploymentTargets=targets)
        described = cfn.describe_stack_set(StackSetName="to-empty")["StackSet"]
        assert not described.get("OrganizationalUnitIds"), described
        cfn.delete_stack_set(StackSetName="to-empty")

    check("stacksets: a fresh organization's access is DISABLED", fresh_organization_access_disabled)
    check("stacksets: SERVICE_MANAGED CreateStackSet refused without trusted access",
          service_managed_refused_without_access)
    check("stacksets: ActivateOrganizationsAccess, then CreateStackSet works", activate_then_create)
    check("stacksets: a member account (SELF / unregistered delegate) refused", member_refused)
    check("stacksets: a registered delegated administrator acts on the management account",
          delegated_admin_accepted)
    check("stacksets: OU targets cover nested OUs, never the management account",
          ou_targets_nested_without_management)
    check("stacksets: instance operations refused after DeactivateOrganizationsAccess",
          refused_after_deactivate)
    check("stacksets: DeleteStackInstances by OU removes them; DeleteStackSet works",
          delete_by_ou_empties_the_stack_set)
    check("stacksets: DeleteStackInstances honours AccountFilterType/Accounts",
          delete_honours_account_filters)
    check("stacksets: an OU without accounts is recorded in DescribeStackSet, no instance",
          empty_ou_is_recorded_on_the_stack_set)


# Rules 4 and 5: principals and sizes ---------------------------------------------------


def principal_checks(main: Server, seeded: dict[str, Any]) -> None:
    iam, ecr, kms = main.client("iam"), main.client("ecr"), main.client("kms")
    spoke = seeded["spoke_account_ids"][0]
    sso_role = (f"arn:aws:iam::{spoke}:role/aws-reserved/sso.amazonaws.com/"
                "AWSReservedSSO_PlatformAdmin_0123456789abcdef")
    sso_without_path = f"arn:aws:iam::{spoke}:role/AWSReservedSSO_PlatformAdmin_0123456789abcdef"
    missing = f"arn:aws:iam::{MANAGEMENT}:role/no-such-role"
    wildcard = "arn:aws:iam::*:role/ci"
    iam.create_user(UserName="alice")
    alice = f"arn:aws:iam::{MANAGEMENT}:user/alice"
    # Old enough for ECR before any ECR check runs (propagation is simulated).
    reader = iam.create_role(RoleName="reader", AssumeRolePolicyDocument=trust(
        {"Service": "ec2.amazonaws.com"}))["Role"]["Arn"]
    ecr.create_repository(repositoryName="app")
    time.sleep(PROPAGATION + 0.2)

    def iam_trust_policy_principals() -> None:
        refused(iam.create_role, "MalformedPolicyDocument",
                f'Invalid principal in policy: "AWS":"{missing}"',
                RoleName="t1", AssumeRolePolicyDocument=trust({"AWS": missing}))
        refused(iam.create_role, "MalformedPolicyDocument", "Invalid principal in policy",
                RoleName="t1", AssumeRolePolicyDocument=trust({"AWS": wildcard}))
        refused(iam.create_role, "MalformedPolicyDocument", "Invalid principal in policy",
                RoleName="t1", AssumeRolePolicyDocument=trust({"AWS": sso_without_path}))
        iam.create_role(RoleName="t1", AssumeRolePolicyDocument=trust(
            "*", {"AWS": "*"}, {"AWS": MANAGEMENT}, {"AWS": f"arn:aws:iam::{spoke}:root"},
            {"AWS": [sso_role, alice]}, {"Service": "eks.amazonaws.com"},
            {"Federated": f"arn:aws:iam::{MANAGEMENT}:oidc-provider/oidc.example.com"}))

    def iam_update_assume_role_policy() -> None:
        refused(iam.update_assume_role_policy, "MalformedPolicyDocument",
                "Invalid principal in policy", RoleName="t1",
                PolicyDocument=trust({"AWS": f"arn:aws:iam::{MANAGEMENT}:user/bob"}))
        iam.update_assume_role_policy(RoleName="t1", PolicyDocument=trust({"AWS": alice}))

    def ecr_repository_policy_principals() -> None:
        refused(ecr.set_repository_policy, "InvalidParameterException", "'Principal not found'",
                repositoryName="app", policyText=repository_policy({"AWS": missing}))
        refused(ecr.set_repository_policy, "InvalidParameterException",
                "'Invalid repository policy provided'",
                repositoryName="app", policyText=repository_policy({"AWS": wildcard}))
        ecr.set_repository_policy(repositoryName="app", policyText=repository_policy(
            {"AWS": [reader, sso_role, f"arn:aws:iam::{spoke}:root"]}))

    def kms_key_policy_principals() -> None:
        refused(kms.create_key, "MalformedPolicyDocumentException",
                "Policy contains a statement with one or more invalid principals.",
                Policy=key_policy({"AWS": missing}))
        key_id = kms.create_key(Policy=key_policy({"AWS": reader}))["KeyMetadata"]["KeyId"]
        refused(kms.put_key_policy, "MalformedPolicyDocumentException",
                "invalid principals", KeyId=key_id, PolicyName="default",
                Policy=key_policy({"AWS": wildcard}))
        kms.put_key_policy(KeyId=key_id, PolicyName="default",
                           Policy=key_policy({"AWS": [sso_role, alice]}))

    def ecr_policy_size() -> None:
        base = repository_policy({"AWS": reader})
        refused(ecr.set_repository_policy, "InvalidParameterException",
                "Member must have length less than or equal to 10240", repositoryName="app",
                policyText=repository_policy({"AWS": reader}, 10241 - len(base)))
        at_limit = repository_policy({"AWS": reader}, 10240 - len(base))
        assert len(at_limit) == 10240
        ecr.set_repository_policy(repositoryName="app", policyText=at_limit)

    def iam_trust_policy_size() -> None:
        many = [f"arn:aws:iam::{MANAGEMENT}:root"] * 60  # ~2,400 characters
        refused(iam.create_role, "LimitExceeded", "Cannot exceed quota for ACLSizePerRole: 2048",
                RoleName="t2", AssumeRolePolicyDocument=trust({"AWS": many}))
        padded = trust({"AWS": alice})[:-1] + " " * 3000 + "}"  # whitespace is not counted
        iam.create_role(RoleName="t2", AssumeRolePolicyDocument=padded)
        refused(iam.update_assume_role_policy, "LimitExceeded", "ACLSizePerRole: 2048",
                RoleName="t2", PolicyDocument=trust({"AWS": many}))

    def iam_role_inline_policies_size() -> None:
        iam.put_role_policy(RoleName="t2", PolicyName="a", PolicyDocument=inline_policy(6000))
        refused(iam.put_role_policy, "LimitExceeded",
                "Maximum policy size of 10240 bytes exceeded for role t2",
                RoleName="t2", PolicyName="b", PolicyDocument=inline_policy(4241))
        iam.put_role_policy(RoleName="t2", PolicyName="b",
                            PolicyDocument=inline_policy(4240, padding=5000))
        # Replacing a policy counts its new size only.
        iam.put_role_policy(RoleName="t2", PolicyName="a", PolicyDocument=inline_policy(6000))

    def kms_key_policy_size() -> None:
        base = key_policy({"AWS": reader})
        refused(kms.create_key, "LimitExceededException",
                Policy=key_policy({"AWS": reader}, 32769 - len(base)))
        kms.create_key(Policy=key_policy({"AWS": reader}, 32768 - len(base)))

    check("principals: IAM CreateRole trust policy (missing, wildcard, path; accepted forms)",
          iam_trust_policy_principals)
    check("principals: IAM UpdateAssumeRolePolicy", iam_update_assume_role_policy)
    check("principals: ECR SetRepositoryPolicy", ecr_repository_policy_principals)
    check("principals: KMS CreateKey / PutKeyPolicy", kms_key_policy_principals)
    check("sizes: ECR repository policy text 10,240", ecr_policy_size)
    check("sizes: IAM role trust policy 2,048 without whitespace", iam_trust_policy_size)
    check("sizes: IAM role inline policies 10,240 together", iam_role_inline_policies_size)
    check("sizes: KMS key policy 32,768 bytes", kms_key_policy_size)


# Rule 6: IAM propagation ----------------------------------------------------------------


def propagation_checks(main: Server, second: Server) -> None:
    def young_role_invisible_then_visible() -> None:
        iam, ecr, eks = main.client("iam"), main.client("ecr"), main.client("eks")
        ecr.create_repository(repositoryName="young")
        arn = iam.create_role(RoleName="young", AssumeRolePolicyDocument=trust(
            {"Service": "eks.amazonaws.com"}))["Role"]["Arn"]
        refused(eks.create_cluster, "InvalidParameterException",
                f"Role with arn: {arn}, could not be assumed because it does not exist "
                "or the trusted entity is not correct",
                name="young", roleArn=arn, version="1.34", resourcesVpcConfig={})
        refused(ecr.set_repository_policy, "InvalidParameterException", "'Principal not found'",
                repositoryName="young", policyText=repository_policy({"AWS": arn}))
        time.sleep(PROPAGATION + 0.2)
        eks.create_cluster(name="young", roleArn=arn, version="1.34", resourcesVpcConfig={})
        ecr.set_repository_policy(repositoryName="young",
                                  policyText=repository_policy({"AWS": arn}))

    def off_by_default() -> None:
        iam, ecr, eks = second.client("iam"), second.client("ecr"), second.client("eks")
        ecr.create_repository(repositoryName="now")
        arn = iam.create_role(RoleName="now", AssumeRolePolicyDocument=trust(
            {"Service": "eks.amazonaws.com"}))["Role"]["Arn"]
        eks.create_cluster(name="now", roleArn=arn, version="1.34", resourcesVpcConfig={})
        ecr.set_repository_policy(repositoryName="now",
                                  policyText=repository_policy({"AWS": arn}))

    check("propagation: a just-created role is invisible to EKS and ECR, then visible",
          young_role_invisible_then_visible)
    check("propagation: off (unset), a new role is usable at once", off_by_default)


# Rule 7: Kubernetes versions ------------------------------------------------------------


def version_checks(main: Server, second: Server) -> None:
    eks = main.client("eks")
    role = f"arn:aws:iam::{MANAGEMENT}:role/eks-cluster"  # (existence is not checked)

    def describe_cluster_versions() -> None:
        versions = eks.describe_cluster_versions()["clusterVersions"]
        got = [(v["clusterVersion"], v["versionStatus"]) for v in versions]
        assert got == [("1.37", "STANDARD_SUPPORT"), ("1.36", "STANDARD_SUPPORT"),
                       ("1.35", "STANDARD_SUPPORT"), ("1.34", "EXTENDED_SUPPORT"),
                       ("1.33", "EXTENDED_SUPPORT"), ("1.32", "EXTENDED_SUPPORT")], got
        v134 = versions[3]
        assert v134["status"] == "extended-support"
        assert v134["endOfStandardSupportDate"].date().isoformat() == "2026-12-02"
        assert v134["endOfExtendedSupportDate"].date().isoformat() == "2027-12-02"
        assert v134["releaseDate"].date().isoformat() == "2025-10-02"
        assert [v["clusterVersion"] for v in versions if v["defaultVersion"]] == ["1.37"]
        every = eks.describe_cluster_versions(includeAll=True)["clusterVersions"]
        v131 = [v for v in every if v["clusterVersion"] == "1.31"]
        assert v131 and v131[0]["versionStatus"] == "UNSUPPORTED", v131
        only = eks.describe_cluster_versions(defaultOnly=True)["clusterVersions"]
        assert [v["clusterVersion"] for v in only] == ["1.37"]
        extended = eks.describe_cluster_versions(versionStatus="EXTENDED_SUPPORT")
        assert [v["clusterVersion"] for v in extended["clusterVersions"]] == ["1.34", "1.33", "1.32"]
        picked = eks.describe_cluster_versions(clusterVersions=["1.33", "1.31"])
        assert [v["clusterVersion"] for v in picked["clusterVersions"]] == ["1.33"]
        page = eks.describe_cluster_versions(maxResults=4)
        rest = eks.describe_cluster_versions(maxResults=4, nextToken=page["nextToken"])
        assert len(page["clusterVersions"]) == 4 and len(rest["clusterVersions"]) == 2
        assert "nextToken" not in rest
        refused(eks.describe_cluster_versions, "InvalidParameterException", maxResults=101)

    def create_cluster_versions() -> None:
        for version in ("1.31", "1.38", "1.19", "banana"):
            refused(eks.create_cluster, "InvalidParameterException",
                    f"unsupported Kubernetes version {version}",
                    name=f"v-{version.replace('.', '-')}", roleArn=role,
                    version=version, resourcesVpcConfig={})
        created = eks.create_cluster(name="v-ok", roleArn=role, version="1.32",
                                     resourcesVpcConfig={})
        assert created["cluster"]["version"] == "1.32"
        defaulted = eks.create_cluster(name="v-default", roleArn=role, resourcesVpcConfig={})
        assert defaulted["cluster"]["version"] == "1.37", defaulted["cluster"]["version"]

    def today_override() -> None:
        other = second.client("eks")
        statuses = {v["clusterVersion"]: v["versionStatus"]
                    for v in other.describe_cluster_versions()["clusterVersions"]}
        assert statuses.get("1.31") == "EXTENDED_SUPPORT", statuses
        assert statuses.get("1.34") == "STANDARD_SUPPORT", statuses
        other.create_cluster(name="old", roleArn=role, version="1.31", resourcesVpcConfig={})

    def authentication_mode_one_way() -> None:
        plain = eks.create_cluster(name="auth-default", roleArn=role, resourcesVpcConfig={})
        assert plain["cluster"]["accessConfig"]["authenticationMode"] == "CONFIG_MAP", plain
        eks.create_cluster(name="auth-api", roleArn=role, resourcesVpcConfig={},
                           accessConfig={"authenticationMode": "API"})
        described = eks.describe_cluster(name="auth-api")["cluster"]
        assert described["accessConfig"]["authenticationMode"] == "API", described
        refused(eks.update_cluster_config, "InvalidParameterException",
                "Unsupported authentication mode update from API to API_AND_CONFIG_MAP",
                name="auth-api", accessConfig={"authenticationMode": "API_AND_CONFIG_MAP"})
        eks.update_cluster_config(name="auth-default",
                                  accessConfig={"authenticationMode": "API_AND_CONFIG_MAP"})
        moved = eks.describe_cluster(name="auth-default")["cluster"]["accessConfig"]
        assert moved["authenticationMode"] == "API_AND_CONFIG_MAP", moved

    check("versions: DescribeClusterVersions as of 2026-12-05", describe_cluster_versions)
    check("eks: authentication modes recorded, default CONFIG_MAP, changed one way only",
          authentication_mode_one_way)
    check("versions: CreateCluster refuses versions not offered, defaults to the newest",
          create_cluster_versions)
    check("versions: EKSMGR_EMULATOR_TODAY=2026-11-25 still offers 1.31", today_override)


# Rules 8 and 9: EKS add-ons and updates ---------------------------------------------------


# Each add-on's default version per Kubernetes version (eks_addons.ADDONS).
ADDON_DEFAULTS = {
    "1.34": {"vpc-cni": "v1.20.4-eksbuild.2", "coredns": "v1.12.1-eksbuild.2",
             "kube-proxy": "v1.34.2-eksbuild.2", "eks-pod-identity-agent": "v1.3.4-eksbuild.1",
             "aws-ebs-csi-driver": "v1.45.0-eksbuild.2", "aws-efs-csi-driver": "v2.1.4-eksbuild.1",
             "snapshot-controller": "v8.1.0-eksbuild.2", "metrics-server": "v0.7.2-eksbuild.3"},
    "1.35": {"vpc-cni": "v1.20.4-eksbuild.2", "coredns": "v1.12.4-eksbuild.1",
             "kube-proxy": "v1.35.0-eksbuild.2", "eks-pod-identity-agent": "v1.3.8-eksbuild.2",
             "aws-ebs-csi-driver": "v1.45.0-eksbuild.2", "aws-efs-csi-driver": "v2.1.4-eksbuild.1",
             "snapshot-controller": "v8.2.0-eksbuild.1", "metrics-server": "v0.7.2-eksbuild.3"},
}


def addon_checks(main: Server) -> None:
    eks, iam = main.client("eks"), main.client("iam")
    role = f"arn:aws:iam::{MANAGEMENT}:role/eks-cluster"  # (existence is not checked)
    eks.create_cluster(name="addons", roleArn=role, version="1.35", resourcesVpcConfig={})

    def defaults(listing: list[dict[str, Any]]) -> dict[tuple[str, str], list[str]]:
        found: dict[tuple[str, str], list[str]] = {}
        for addon in listing:
            for version in addon["addonVersions"]:
                for compat in version["compatibilities"]:
                    key = (addon["addonName"], compat["clusterVersion"])
                    found.setdefault(key, [])
                    if compat["defaultVersion"]:
                        found[key].append(version["addonVersion"])
        return found

    def describe_addon_versions() -> None:
        every = eks.describe_addon_versions()["addons"]
        assert sorted(a["addonName"] for a in every) == sorted(ADDON_DEFAULTS["1.35"]), every
        for addon in every:
            assert addon["owner"] == "aws" and addon["publisher"] == "eks", addon
            for version in addon["addonVersions"]:
                assert version["architecture"] == ["amd64", "arm64"], version
                assert version["requiresConfiguration"] is False, version
        ebs = next(a for a in every if a["addonName"] == "aws-ebs-csi-driver")
        assert ebs["type"] == "storage" and ebs["addonVersions"][0]["requiresIamPermissions"]
        # Exactly one default per add-on and Kubernetes version, 1.32 .. 1.37 covered.
        found = defaults(every)
        assert all(len(v) == 1 for v in found.values()), found
        for k in ("1.32", "1.33", "1.34", "1.35", "1.36", "1.37"):
            assert all((name, k) in found for name in ADDON_DEFAULTS["1.35"]), k
        for k, want in ADDON_DEFAULTS.items():
            listing = eks.describe_addon_versions(kubernetesVersion=k)["addons"]
            got = {name: d[0] for (name, _), d in defaults(listing).items()}
            assert got == want, (k, got)
            assert {c["clusterVersion"] for a in listing for v in a["addonVersions"]
                    for c in v["compatibilities"]} == {k}
        changed = {n for n in ADDON_DEFAULTS["1.35"]
                   if ADDON_DEFAULTS["1.34"][n] != ADDON_DEFAULTS["1.35"][n]}
        assert {"coredns", "kube-proxy", "eks-pod-identity-agent"} <= changed, changed
        coredns = eks.describe_addon_versions(kubernetesVersion="1.35", addonName="coredns")
        assert [v["addonVersion"] for v in coredns["addons"][0]["addonVersions"]] == [
            "v1.12.4-eksbuild.1"], coredns
        older = eks.describe_addon_versions(kubernetesVersion="1.33", addonName="coredns")
        assert [v["addonVersion"] for v in older["addons"][0]["addonVersions"]] == [
            "v1.12.1-eksbuild.2", "v1.11.4-eksbuild.2"], older
        proxy = eks.describe_addon_versions(addonName="kube-proxy")["addons"][0]
        assert all(v["addonVersion"].startswith(f"v{v['compatibilities'][0]['clusterVersion']}.")
                   and len(v["compatibilities"]) == 1 for v in proxy["addonVersions"]), proxy
        storage = eks.describe_addon_versions(types=["storage"])["addons"]
        assert sorted(a["addonName"] for a in storage) == [
            "aws-ebs-csi-driver", "aws-efs-csi-driver", "snapshot-controller"], storage
        assert eks.describe_addon_versions(publishers=["someone"])["addons"] == []
        assert len(eks.describe_addon_versions(owners=["aws"])["addons"]) == 8
        assert eks.describe_addon_versions(kubernetesVersion="1.20")["addons"] == []
        first = eks.describe_addon_versions(maxResults=3)
        rest = eks.describe_addon_versions(maxResults=10, nextToken=first["nextToken"])
        assert len(first["addons"]) == 3 and len(rest["addons"]) == 5 and "nextToken" not in rest
        refused(eks.describe_addon_versions, "InvalidParameterException", maxResults=101)

    def create_describe_list_delete() -> None:
        created = eks.create_addon(clusterName="addons", addonName="coredns",
                                   tags={"team": "platform"})["addon"]
        assert created["status"] == "CREATING", created
        assert created["addonVersion"] == "v1.12.4-eksbuild.1", created  # 1.35's default
        assert created["addonArn"].startswith(
            f"arn:aws:eks:{REGION}:{MANAGEMENT}:addon/addons/coredns/"), created
        assert created["owner"] == "aws" and created["publisher"] == "eks", created
        assert created["health"] == {"issues": []} and created["tags"] == {"team": "platform"}
        assert created["clusterName"] == "addons" and created["createdAt"], created
        described = eks.describe_addon(clusterName="addons", addonName="coredns")["addon"]
        assert described["status"] == "ACTIVE", described
        assert described["addonArn"] == created["addonArn"]
        refused(eks.create_addon, "ResourceInUseException", "Addon already exists.",
                clusterName="addons", addonName="coredns")
        refused(eks.create_addon, "ResourceNotFoundException", "No cluster found for name: nope",
                clusterName="nope", addonName="coredns")
        eks.create_addon(clusterName="addons", addonName="kube-proxy")
        eks.create_addon(clusterName="addons", addonName="metrics-server")
        assert eks.list_addons(clusterName="addons")["addons"] == [
            "coredns", "kube-proxy", "metrics-server"]
        first = eks.list_addons(clusterName="addons", maxResults=2)
        rest = eks.list_addons(clusterName="addons", maxResults=2, nextToken=first["nextToken"])
        assert first["addons"] + rest["addons"] == ["coredns", "kube-proxy", "metrics-server"]
        deleted = eks.delete_addon(clusterName="addons", addonName="metrics-server")["addon"]
        assert deleted["status"] == "DELETING", deleted
        err = refused(eks.describe_addon, "ResourceNotFoundException",
                      "No addon: metrics-server found in cluster: addons",
                      clusterName="addons", addonName="metrics-server")
        assert err.response.get("addonName") == "metrics-server", err.response
        refused(eks.delete_addon, "ResourceNotFoundException",
                clusterName="addons", addonName="metrics-server")
        assert eks.list_addons(clusterName="addons")["addons"] == ["coredns", "kube-proxy"]

    def versions_and_values() -> None:
        refused(eks.create_addon, "InvalidParameterException",
                "Addon no-such-addon specified is not supported in 1.35 kubernetes version",
                clusterName="addons", addonName="no-such-addon")
        for version in ("v1.11.4-eksbuild.2", "v9.9.9-eksbuild.1"):  # 1.34's; none
            err = refused(eks.create_addon, "InvalidParameterException",
                          "Addon version specified is not supported",
                          clusterName="addons", addonName="vpc-cni",
                          addonVersion=version)
            assert err.response.get("addonName") == "vpc-cni", err.response
        refused(eks.create_addon, "InvalidParameterException", "resolveConflicts",
                clusterName="addons", addonName="vpc-cni", resolveConflicts="BOGUS")
        for values in ("[1, 2]", "{not: [valid", '"text"'):
            refused(eks.create_addon, "InvalidParameterException",
                    "ConfigurationValue provided in request is not supported",
                    clusterName="addons", addonName="vpc-cni", configurationValues=values)
        values = '{"env": {"ENABLE_PREFIX_DELEGATION": "true"}}'
        created = eks.create_addon(clusterName="addons", addonName="vpc-cni",
                                   addonVersion="v1.21.1-eksbuild.1", resolveConflicts="OVERWRITE",
                                   configurationValues=values)["addon"]
        assert created["addonVersion"] == "v1.21.1-eksbuild.1", created  # newer than default
        assert created["configurationValues"] == values, created
        yaml_values = "replicaCount: 3\n"
        created = eks.create_addon(clusterName="addons", addonName="snapshot-controller",
                                   configurationValues=yaml_values)["addon"]
        assert created["configurationValues"] == yaml_values

    def pod_identity_owned_by_addon() -> None:
        ebs_role = iam.create_role(RoleName="ebs-csi", AssumeRolePolicyDocument=trust(
            {"Service": "pods.eks.amazonaws.com"}))["Role"]["Arn"]
        sa = "ebs-csi-controller-sa"
        # Just created: IAM has not propagated it to EKS yet.
        refused(eks.create_addon, "InvalidParameterException",
                "Role provided in the request does not exist", clusterName="addons",
                addonName="aws-ebs-csi-driver",
                podIdentityAssociations=[{"serviceAccount": sa, "roleArn": ebs_role}])
        refused(eks.create_addon, "InvalidParameterException",
                "Role provided in the request does not exist", clusterName="addons",
                addonName="aws-ebs-csi-driver", podIdentityAssociations=[
                    {"serviceAccount": sa, "roleArn": f"arn:aws:iam::{MANAGEMENT}:role/nope"}])
        refused(eks.create_addon, "InvalidParameterException", "must be in the cluster's account",
                clusterName="addons", addonName="aws-ebs-csi-driver", podIdentityAssociations=[
                    {"serviceAccount": sa, "roleArn": "arn:aws:iam::210987654321:role/x"}])
        refused(eks.create_addon, "InvalidParameterException",
                "Addon eks-pod-identity-agent does not support Pod Identity associations",
                clusterName="addons", addonName="eks-pod-identity-agent",
                podIdentityAssociations=[{"serviceAccount": "x", "roleArn": ebs_role}])
        time.sleep(PROPAGATION + 0.2)
        created = eks.create_addon(
            clusterName="addons", addonName="aws-ebs-csi-driver",
            podIdentityAssociations=[{"serviceAccount": sa, "roleArn": ebs_role}])["addon"]
        assert len(created["podIdentityAssociations"]) == 1, created
        listed = eks.list_pod_identity_associations(clusterName="addons", namespace="kube-system",
                                                    serviceAccount=sa)["associations"]
        assert len(listed) == 1, listed
        association = eks.describe_pod_identity_association(
            clusterName="addons", associationId=listed[0]["associationId"])["association"]
        assert association["ownerArn"] == created["addonArn"], association
        assert association["associationArn"] == created["podIdentityAssociations"][0]
        assert association["roleArn"] == ebs_role and association["namespace"] == "kube-system"
        # Someone else's association on the service account: in use.
        eks.create_pod_identity_association(clusterName="addons", namespace="kube-system",
                                            serviceAccount="efs-csi-controller-sa",
                                            roleArn=ebs_role)
        refused(eks.create_addon, "ResourceInUseException", "Association already exists",
                clusterName="addons", addonName="aws-efs-csi-driver", podIdentityAssociations=[
                    {"serviceAccount": "efs-csi-controller-sa", "roleArn": ebs_role}])
        # An empty list removes the add-on's associations; a new list replaces them.
        eks.describe_addon(clusterName="addons", addonName="aws-ebs-csi-driver")
        update = eks.update_addon(clusterName="addons", addonName="aws-ebs-csi-driver",
                                  podIdentityAssociations=[])["update"]
        assert update["params"] == [{"type": "PodIdentityAssociations", "value": "[]"}], update
        assert eks.list_pod_identity_associations(clusterName="addons",
                                                  serviceAccount=sa)["associations"] == []
        described = eks.describe_addon(clusterName="addons", addonName="aws-ebs-csi-driver")
        assert described["addon"]["podIdentityAssociations"] == [], described
        eks.update_addon(clusterName="addons", addonName="aws-ebs-csi-driver",
                         podIdentityAssociations=[{"serviceAccount": sa, "roleArn": ebs_role}])
        assert len(eks.list_pod_identity_associations(
            clusterName="addons", serviceAccount=sa)["associations"]) == 1
        eks.delete_addon(clusterName="addons", addonName="aws-ebs-csi-driver")
        assert eks.list_pod_identity_associations(clusterName="addons",
                                                  serviceAccount=sa)["associations"] == []

    def update_addon() -> None:
        eks.create_addon(clusterName="addons", addonName="eks-pod-identity-agent")
        refused(eks.update_addon, "ResourceInUseException",
                "Addon eks-pod-identity-agent cannot be updated as it is currently in CREATING state",
                clusterName="addons", addonName="eks-pod-identity-agent",
                addonVersion="v1.3.4-eksbuild.1")
        eks.describe_addon(clusterName="addons", addonName="eks-pod-identity-agent")
        refused(eks.update_addon, "InvalidParameterException",
                "Addon version specified is not supported",
                clusterName="addons", addonName="eks-pod-identity-agent",
                addonVersion="v1.12.4-eksbuild.1")
        refused(eks.update_addon, "InvalidParameterException",
                "ConfigurationValue provided in request is not supported",
                clusterName="addons", addonName="eks-pod-identity-agent",
                configurationValues="[]")
        values = '{"agent": {"additionalArgs": {"-b": "169.254.170.23"}}}'
        update = eks.update_addon(clusterName="addons", addonName="eks-pod-identity-agent",
                                  addonVersion="v1.3.4-eksbuild.1", resolveConflicts="PRESERVE",
                                  configurationValues=values)["update"]
        assert update["status"] == "InProgress" and update["type"] == "AddonUpdate", update
        assert update["errors"] == [] and update["createdAt"], update
        assert update["params"] == [
            {"type": "AddonVersion", "value": "v1.3.4-eksbuild.1"},
            {"type": "ResolveConflicts", "value": "PRESERVE"},
            {"type": "ConfigurationValues", "value": values}], update["params"]
        refused(eks.update_addon, "ResourceInUseException", "currently in UPDATING state",
                clusterName="addons", addonName="eks-pod-identity-agent",
                resolveConflicts="OVERWRITE")
        refused(eks.describe_update, "ResourceNotFoundException",
                f"No update found for ID: {update['id']}", name="addons", updateId=update["id"])
        described = eks.describe_update(name="addons", updateId=update["id"],
                                        addonName="eks-pod-identity-agent")["update"]
        assert described["status"] == "Successful", described
        addon = eks.describe_addon(clusterName="addons", addonName="eks-pod-identity-agent")
        addon = addon["addon"]
        assert addon["status"] == "ACTIVE" and addon["addonVersion"] == "v1.3.4-eksbuild.1"
        assert addon["configurationValues"] == values, addon
        assert eks.list_updates(name="addons", addonName="eks-pod-identity-agent")[
            "updateIds"] == [update["id"]]
        refused(eks.list_updates, "ResourceNotFoundException", name="addons", addonName="nope")

    def tags_on_addon_arns() -> None:
        arn = eks.describe_addon(clusterName="addons", addonName="coredns")["addon"]["addonArn"]
        eks.tag_resource(resourceArn=arn, tags={"cost": "42"})
        assert eks.list_tags_for_resource(resourceArn=arn)["tags"] == {
            "team": "platform", "cost": "42"}
        eks.untag_resource(resourceArn=arn, tagKeys=["team", "cost"])
        assert eks.list_tags_for_resource(resourceArn=arn)["tags"] == {}
        refused(eks.list_tags_for_resource, "ResourceNotFoundException",
                resourceArn=arn.rsplit("/", 1)[0] + "/00000000-0000-0000-0000-000000000000")

    check("addons: DescribeAddonVersions filters, pages, one default per add-on and version",
          describe_addon_versions)
    check("addons: Create (CREATING, default version) / Describe (ACTIVE) / List / Delete; "
          "an existing add-on is in use", create_describe_list_delete)
    check("addons: versions not for the cluster's Kubernetes version, resolveConflicts and "
          "configurationValues refused", versions_and_values)
    check("addons: pod identity associations owned by the add-on (roles must exist)",
          pod_identity_owned_by_addon)
    check("addons: UpdateAddon checked, InProgress then Successful, one at a time", update_addon)
    check("addons: Tag/Untag/ListTagsForResource on add-on ARNs", tags_on_addon_arns)


def update_checks(main: Server) -> None:
    eks = main.client("eks")
    unvalidated = main.client("eks", validate=False)
    role = f"arn:aws:iam::{MANAGEMENT}:role/eks-cluster"
    node_role = f"arn:aws:iam::{MANAGEMENT}:role/eks-node"
    eks.create_cluster(name="upd", roleArn=role, version="1.34", resourcesVpcConfig={})
    eks.create_cluster(name="ng", roleArn=role, version="1.34", resourcesVpcConfig={})

    def nodegroup(name: str, **kwargs: Any) -> dict[str, Any]:
        return eks.create_nodegroup(clusterName="ng", nodegroupName=name, nodeRole=node_role,
                                    subnets=["subnet-1"], **kwargs)["nodegroup"]

    def cluster_version_one_minor() -> None:
        for version in ("1.36", "1.34", "1.33"):
            refused(eks.update_cluster_version, "InvalidParameterException",
                    f"Unsupported Kubernetes minor version update from 1.34 to {version}",
                    name="upd", version=version)
        refused(eks.update_cluster_version, "InvalidParameterException",
                "unsupported Kubernetes version 1.38", name="upd", version="1.38")
        refused(eks.update_cluster_version, "ResourceNotFoundException", name="nope",
                version="1.35")
        update = eks.update_cluster_version(name="upd", version="1.35")["update"]
        assert update["status"] == "InProgress" and update["type"] == "VersionUpdate", update
        assert update["params"] == [{"type": "Version", "value": "1.35"},
                                    {"type": "PlatformVersion", "value": "eks.8"}], update
        refused(eks.update_cluster_version, "ResourceInUseException",
                "Cannot VersionUpdate because cluster upd currently has update in progress",
                name="upd", version="1.36")
        described = eks.describe_update(name="upd", updateId=update["id"])["update"]
        assert described["status"] == "Successful" and described["id"] == update["id"]
        cluster = eks.describe_cluster(name="upd")["cluster"]
        assert cluster["version"] == "1.35" and cluster["platformVersion"] == "eks.8", cluster
        second = eks.update_cluster_version(name="upd", version="1.36")["update"]
        eks.describe_cluster(name="upd")  # described ACTIVE: the update is over
        assert eks.describe_update(name="upd", updateId=second["id"])["update"][
            "status"] == "Successful"
        ids = eks.list_updates(name="upd")["updateIds"]
        assert sorted(ids) == sorted([update["id"], second["id"]]), ids
        first = eks.list_updates(name="upd", maxResults=1)
        assert len(first["updateIds"]) == 1 and first["nextToken"], first
        refused(eks.describe_update, "ResourceNotFoundException", "No update found for ID: x",
                name="upd", updateId="x")

    def cluster_config_update_describable() -> None:
        eks.create_cluster(name="cfg", roleArn=role, version="1.35", resourcesVpcConfig={
            "subnetIds": ["subnet-a", "subnet-b"], "endpointPublicAccess": True,
            "endpointPrivateAccess": False})
        refused(eks.update_cluster_config, "InvalidParameterException",
                "Only one type of update can be allowed.", name="cfg",
                resourcesVpcConfig={"subnetIds": ["subnet-c"], "endpointPrivateAccess": True})
        refused(eks.update_cluster_config, "InvalidParameterException",
                "Only one type of update can be allowed.", name="cfg",
                resourcesVpcConfig={"endpointPrivateAccess": True},
                logging={"clusterLogging": [{"types": ["api"], "enabled": True}]})
        update = eks.update_cluster_config(name="cfg", resourcesVpcConfig={
            "endpointPrivateAccess": True})["update"]
        assert update["type"] == "EndpointAccessUpdate" and update["status"] == "InProgress"
        assert update["params"] == [{"type": "EndpointPrivateAccess", "value": "true"}], update
        refused(eks.update_cluster_config, "ResourceInUseException",
                "Cannot LoggingUpdate because cluster cfg currently has update in progress",
                name="cfg", logging={"clusterLogging": [{"types": ["api"], "enabled": True}]})
        assert eks.describe_update(name="cfg", updateId=update["id"])["update"][
            "status"] == "Successful"
        vpc = eks.describe_cluster(name="cfg")["cluster"]["resourcesVpcConfig"]
        assert vpc["subnetIds"] == ["subnet-a", "subnet-b"], vpc  # kept
        assert vpc["endpointPrivateAccess"] is True, vpc
        logging = eks.update_cluster_config(name="cfg", logging={
            "clusterLogging": [{"types": ["api"], "enabled": True}]})["update"]
        assert logging["type"] == "LoggingUpdate", logging
        eks.describe_update(name="cfg", updateId=logging["id"])
        access = eks.update_cluster_config(
            name="cfg", accessConfig={"authenticationMode": "API_AND_CONFIG_MAP"})["update"]
        assert access["type"] == "AccessConfigUpdate" and access["params"] == [
            {"type": "AuthenticationMode", "value": "API_AND_CONFIG_MAP"}], access

    def nodegroup_version_not_after_cluster() -> None:
        created = nodegroup("default")
        assert created["version"] == "1.34", created
        assert created["releaseVersion"] == "1.34.2-20261120", created
        refused(eks.create_nodegroup, "InvalidParameterException",
                "cannot be later than the cluster's Kubernetes version 1.34",
                clusterName="ng", nodegroupName="later", nodeRole=node_role,
                subnets=["subnet-1"], version="1.35")
        refused(eks.create_nodegroup, "InvalidParameterException",
                "Requested release version 1.33.5-20261120 is not valid for kubernetes version 1.34.",
                clusterName="ng", nodegroupName="mixed", nodeRole=node_role,
                subnets=["subnet-1"], releaseVersion="1.33.5-20261120")
        older = nodegroup("older", version="1.33")
        assert older["releaseVersion"] == "1.33.5-20261120", older
        refused(eks.update_nodegroup_version, "InvalidParameterException",
                "cannot be later than the cluster's", clusterName="ng", nodegroupName="older",
                version="1.35")
        refused(eks.update_nodegroup_version, "InvalidParameterException",
                "is not valid for kubernetes version 1.34", clusterName="ng",
                nodegroupName="older", releaseVersion="1.33.5-20261120")
        refused(eks.update_nodegroup_version, "InvalidParameterException",
                "launch template", clusterName="ng", nodegroupName="older",
                launchTemplate={"name": "lt", "version": "2"})
        update = eks.update_nodegroup_version(clusterName="ng", nodegroupName="older")["update"]
        assert update["type"] == "VersionUpdate" and update["status"] == "InProgress", update
        assert update["params"] == [{"type": "Version", "value": "1.34"},
                                    {"type": "ReleaseVersion", "value": "1.34.2-20261120"}]
        refused(eks.update_nodegroup_version, "ResourceInUseException",
                "currently has update in progress", clusterName="ng", nodegroupName="older")
        refused(eks.describe_update, "ResourceNotFoundException", name="ng",
                updateId=update["id"])  # a node group's update needs nodegroupName
        assert eks.describe_update(name="ng", updateId=update["id"], nodegroupName="older")[
            "update"]["status"] == "Successful"
        described = eks.describe_nodegroup(clusterName="ng", nodegroupName="older")["nodegroup"]
        assert described["version"] == "1.34", described
        assert described["releaseVersion"] == "1.34.2-20261120", described
        refused(eks.update_nodegroup_version, "InvalidParameterException", "roll back",
                clusterName="ng", nodegroupName="older", version="1.33")
        assert eks.list_updates(name="ng", nodegroupName="older")["updateIds"] == [update["id"]]
        assert eks.list_updates(name="ng")["updateIds"] == []
        # A node group behind the control plane holds the control plane back.
        nodegroup("lagging", version="1.33")
        refused(eks.update_cluster_version, "InvalidParameterException",
                "Nodegroups lagging must be updated to match cluster version 1.34", name="ng",
                version="1.35")
        eks.delete_nodegroup(clusterName="ng", nodegroupName="lagging")
        # The cluster one minor up, then the node group follows it.
        eks.describe_update(name="ng", updateId=eks.update_cluster_version(
            name="ng", version="1.35")["update"]["id"])
        update = eks.update_nodegroup_version(clusterName="ng", nodegroupName="default")["update"]
        assert update["params"][0] == {"type": "Version", "value": "1.35"}, update
        eks.describe_nodegroup(clusterName="ng", nodegroupName="default")

    def scaling_rules() -> None:
        bad = [
            ({"minSize": 3, "maxSize": 4, "desiredSize": 2}, "minSize can't be greater than desiredSize"),
            ({"minSize": 1, "maxSize": 4, "desiredSize": 5}, "desiredSize can't be greater than maxSize"),
            ({"minSize": 0, "maxSize": 0, "desiredSize": 0}, "maxSize must be greater than or equal to 1"),
            ({"minSize": -1, "maxSize": 2, "desiredSize": 1}, "minSize must be greater than or equal to 0"),
        ]
        for scaling, message in bad:
            refused(unvalidated.create_nodegroup, "InvalidParameterException", message,
                    clusterName="ng", nodegroupName="scaled", nodeRole=node_role,
                    subnets=["subnet-1"], scalingConfig=scaling)
        created = nodegroup("scaled", scalingConfig={"minSize": 0, "maxSize": 1, "desiredSize": 0})
        assert created["scalingConfig"] == {"minSize": 0, "maxSize": 1, "desiredSize": 0}
        # Without desiredSize it is the minimum (as for an Auto Scaling group).
        partial = nodegroup("partial", scalingConfig={"minSize": 3, "maxSize": 5})
        assert partial["scalingConfig"] == {"minSize": 3, "maxSize": 5, "desiredSize": 3}
        # Two node groups with moto's default scaling do not share it.
        nodegroup("plain-a")
        nodegroup("plain-b")
        refused(eks.update_nodegroup_config, "InvalidParameterException",
                "Minimum capacity 3 can't be greater than desired size 2",
                clusterName="ng", nodegroupName="plain-a", scalingConfig={"minSize": 3})
        refused(unvalidated.update_nodegroup_config, "InvalidParameterException",
                "maxSize must be greater than or equal to 1",
                clusterName="ng", nodegroupName="plain-a", scalingConfig={"maxSize": 0})
        update = eks.update_nodegroup_config(clusterName="ng", nodegroupName="plain-a", scalingConfig={
            "minSize": 1, "maxSize": 5, "desiredSize": 4})["update"]
        assert update["type"] == "ConfigUpdate" and update["status"] == "InProgress", update
        assert update["params"] == [{"type": "MinSize", "value": "1"},
                                    {"type": "MaxSize", "value": "5"},
                                    {"type": "DesiredSize", "value": "4"}], update
        refused(eks.update_nodegroup_config, "ResourceInUseException",
                "currently has update in progress", clusterName="ng", nodegroupName="plain-a",
                scalingConfig={"desiredSize": 3})
        assert eks.describe_update(name="ng", updateId=update["id"], nodegroupName="plain-a")[
            "update"]["status"] == "Successful"
        a = eks.describe_nodegroup(clusterName="ng", nodegroupName="plain-a")["nodegroup"]
        b = eks.describe_nodegroup(clusterName="ng", nodegroupName="plain-b")["nodegroup"]
        assert a["scalingConfig"] == {"minSize": 1, "maxSize": 5, "desiredSize": 4}, a
        assert b["scalingConfig"] == {"minSize": 2, "maxSize": 2, "desiredSize": 2}, b

    def labels_and_taints() -> None:
        nodegroup("labelled", labels={"tier": "web", "old": "x"},
                  taints=[{"key": "gpu", "value": "yes", "effect": "NO_SCHEDULE"}])
        update = eks.update_nodegroup_config(
            clusterName="ng", nodegroupName="labelled",
            labels={"addOrUpdateLabels": {"tier": "api", "zone": "a"}, "removeLabels": ["old"]},
            taints={"addOrUpdateTaints": [{"key": "spot", "value": "1", "effect": "NO_EXECUTE"}],
                    "removeTaints": [{"key": "gpu", "value": "yes", "effect": "NO_SCHEDULE"}]},
        )["update"]
        assert [p["type"] for p in update["params"]] == [
            "LabelsToAdd", "LabelsToRemove", "TaintsToAdd", "TaintsToRemove"], update
        assert json.loads(update["params"][0]["value"]) == {"tier": "api", "zone": "a"}
        described = eks.describe_nodegroup(clusterName="ng", nodegroupName="labelled")["nodegroup"]
        assert described["labels"] == {"tier": "api", "zone": "a"}, described
        assert described["taints"] == [{"key": "spot", "value": "1", "effect": "NO_EXECUTE"}]
        # Described ACTIVE: the update is over.
        assert eks.describe_update(name="ng", updateId=update["id"], nodegroupName="labelled")[
            "update"]["status"] == "Successful"

    check("updates: UpdateClusterVersion one minor version at a time, then DescribeUpdate",
          cluster_version_one_minor)
    check("updates: UpdateClusterConfig answers a describable update, one type per call",
          cluster_config_update_describable)
    check("updates: a node group's version never later than its cluster's, the cluster not "
          "upgraded past a node group; UpdateNodegroupVersion",
          nodegroup_version_not_after_cluster)
    check("updates: node group scaling rules on create and UpdateNodegroupConfig",
          scaling_rules)
    check("updates: UpdateNodegroupConfig labels and taints, with AWS's parameter types",
          labels_and_taints)

    def node_entries_take_no_policies() -> None:
        eks.create_access_entry(clusterName="ng", principalArn=node_role, type="EC2_LINUX")
        refused(eks.associate_access_policy, "InvalidParameterException",
                "Access policies cannot be associated with an access entry of type EC2_LINUX",
                clusterName="ng", principalArn=node_role,
                policyArn="arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy",
                accessScope={"type": "cluster"})
        listed = eks.list_associated_access_policies(clusterName="ng", principalArn=node_role)
        assert listed["associatedAccessPolicies"] == [], listed

    check("access entries: access policies only on STANDARD entries (EC2_LINUX refused)",
          node_entries_take_no_policies)


# Rule 10: EKS subnets ---------------------------------------------------------------------


def subnet_checks(main: Server) -> None:
    ec2 = main.client("ec2")
    eks = main.client("eks")
    role = f"arn:aws:iam::{MANAGEMENT}:role/eks-cluster"
    node_role = f"arn:aws:iam::{MANAGEMENT}:role/eks-node"
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    other_vpc = ec2.create_vpc(CidrBlock="10.30.0.0/16")["Vpc"]["VpcId"]

    def subnet(vpc_id: str, cidr: str, zone: str) -> str:
        return ec2.create_subnet(VpcId=vpc_id, CidrBlock=cidr, AvailabilityZone=zone)[
            "Subnet"]["SubnetId"]

    in_a = subnet(vpc, "10.20.1.0/24", "us-east-1a")
    in_b = subnet(vpc, "10.20.2.0/24", "us-east-1b")
    also_in_a = subnet(vpc, "10.20.3.0/24", "us-east-1a")
    other_in_b = subnet(other_vpc, "10.30.2.0/24", "us-east-1b")
    unknown = "subnet-0feedfacecafe0001"

    def cluster(name: str, *subnet_ids: str) -> dict[str, Any]:
        return eks.create_cluster(name=name, roleArn=role,
                                  resourcesVpcConfig={"subnetIds": list(subnet_ids)})

    def cluster_subnets() -> None:
        created = cluster("sn-two-zones", in_a, in_b)["cluster"]
        assert created["resourcesVpcConfig"]["subnetIds"] == [in_a, in_b], created
        refused(eks.create_cluster, "InvalidParameterException",
                "Subnets specified must be in at least two different AZs", name="sn-one-zone",
                roleArn=role, resourcesVpcConfig={"subnetIds": [in_a, also_in_a]})
        refused(eks.create_cluster, "InvalidParameterException",
                "Subnets specified must be in at least two different AZs", name="sn-one-subnet",
                roleArn=role, resourcesVpcConfig={"subnetIds": [in_a]})
        refused(eks.create_cluster, "InvalidParameterException",
                "Subnets specified must belong to the same VPC", name="sn-two-vpcs",
                roleArn=role, resourcesVpcConfig={"subnetIds": [in_a, other_in_b]})
        refused(eks.create_cluster, "InvalidParameterException",
                f"The subnet ID '{unknown}' does not exist", name="sn-unknown",
                roleArn=role, resourcesVpcConfig={"subnetIds": [in_a, unknown]})
        clusters = eks.list_clusters()["clusters"]
        assert not {"sn-one-zone", "sn-one-subnet", "sn-two-vpcs", "sn-unknown"} & set(
            clusters), clusters
        # Ids EC2 never had are accepted (eksmgr's tests use made-up ones).
        cluster("sn-made-up", "subnet-aaaa", "subnet-bbbb")
        # An existing name is still moto's ResourceInUseException.
        refused(eks.create_cluster, "ResourceInUseException", name="sn-two-zones",
                roleArn=role, resourcesVpcConfig={"subnetIds": [in_a, also_in_a]})

    def nodegroup_subnets() -> None:
        def nodegroup(cluster_name: str, name: str, *subnet_ids: str) -> dict[str, Any]:
            return eks.create_nodegroup(clusterName=cluster_name, nodegroupName=name,
                                        nodeRole=node_role, subnets=list(subnet_ids))
        refused(eks.create_nodegroup, "InvalidParameterException",
                f"Specified subnets must belong to cluster's vpc {vpc}",
                clusterName="sn-two-zones", nodegroupName="other-vpc", nodeRole=node_role,
                subnets=[in_a, other_in_b])
        refused(eks.create_nodegroup, "InvalidParameterException",
                f"The subnet ID '{unknown}' does not exist", clusterName="sn-two-zones",
                nodegroupName="unknown", nodeRole=node_role, subnets=[in_b, unknown])
        # Any subnet of the cluster's VPC, one zone included.
        created = nodegroup("sn-two-zones", "own-vpc", also_in_a)["nodegroup"]
        assert created["subnets"] == [also_in_a], created
        nodegroup("sn-two-zones", "made-up", "subnet-1")
        # The cluster's VPC is unknown when its subnets are made up.
        nodegroup("sn-made-up", "other-vpc", other_in_b)

    check("subnets: CreateCluster's subnets exist, in one VPC and two AZs (made-up ids "
          "accepted)", cluster_subnets)
    check("subnets: CreateNodegroup's subnets exist and are in the cluster's VPC",
          nodegroup_subnets)


# Rule 11: EC2 instances and instance profiles ---------------------------------------------

AL2023 = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
RESOLVE_AL2023 = f"resolve:ssm:{AL2023}"


def instance_checks(main: Server, second: Server) -> None:
    ec2, iam, ssm = main.client("ec2"), main.client("iam"), main.client("ssm")
    vpc = ec2.create_vpc(CidrBlock="10.40.0.0/16")["Vpc"]["VpcId"]
    other_vpc = ec2.create_vpc(CidrBlock="10.50.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.40.1.0/24",
                               AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]

    def group(vpc_id: str, name: str) -> str:
        return ec2.create_security_group(GroupName=name, Description=name, VpcId=vpc_id)[
            "GroupId"]

    agent_sg, extra_sg, other_sg = group(vpc, "agent"), group(vpc, "extra"), group(
        other_vpc, "elsewhere")
    iam.create_role(RoleName="agent-host", AssumeRolePolicyDocument=trust(
        {"Service": "ec2.amazonaws.com"}))
    iam.create_role(RoleName="agent-host-2", AssumeRolePolicyDocument=trust(
        {"Service": "ec2.amazonaws.com"}))
    profile = iam.create_instance_profile(InstanceProfileName="agent-host")["InstanceProfile"]
    iam.add_role_to_instance_profile(InstanceProfileName="agent-host", RoleName="agent-host")
    iam.create_instance_profile(InstanceProfileName="agent-empty")
    iam.create_instance_profile(InstanceProfileName="agent-late-role")
    time.sleep(PROPAGATION + 0.2)  # propagation is simulated on the main server

    def launch(name: str, client: Any = ec2, **overrides: Any) -> dict[str, Any]:
        return client.run_instances(**launch_args(name, **overrides))

    def launch_args(name: str, **overrides: Any) -> dict[str, Any]:
        args: dict[str, Any] = dict(
            ImageId=RESOLVE_AL2023, InstanceType="t3.medium", SubnetId=subnet,
            SecurityGroupIds=[agent_sg], IamInstanceProfile={"Name": "agent-host"},
            MetadataOptions={"HttpTokens": "required", "HttpEndpoint": "enabled",
                             "HttpPutResponseHopLimit": 1},
            UserData="#!/bin/bash\necho agent\n", MinCount=1, MaxCount=1,
            TagSpecifications=[{"ResourceType": "instance",
                                "Tags": [{"Key": "eksmgr-instance", "Value": name}]}])
        args.update(overrides)
        return {k: v for k, v in args.items() if v is not None}

    def tagged(name: str, client: Any = ec2, *states: str) -> list[dict[str, Any]]:
        filters = [{"Name": "tag:eksmgr-instance", "Values": [name]}]
        if states:
            filters.append({"Name": "instance-state-name", "Values": list(states)})
        return [i for r in client.describe_instances(Filters=filters)["Reservations"]
                for i in r["Instances"]]

    def described(instance_id: str) -> dict[str, Any]:
        return ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0][
            "Instances"][0]

    def resolve_ssm() -> None:
        ami = ssm.get_parameter(Name=AL2023)["Parameter"]["Value"]
        assert ami.startswith("ami-"), ami
        assert ec2.describe_images(ImageIds=[ami])["Images"], ami
        launched = launch("ssm")["Instances"][0]
        assert launched["ImageId"] == ami, launched["ImageId"]
        assert described(launched["InstanceId"])["ImageId"] == ami
        # A parameter of the account, by version and by label, and by ARN.
        first, second_ami = "ami-0d27e0fb3bac4d724", "ami-04681a1dbd79675a5"
        ssm.put_parameter(Name="/eksmgr/selftest/ami", Value=first, Type="String")
        ssm.put_parameter(Name="/eksmgr/selftest/ami", Value=second_ami, Type="String",
                          Overwrite=True)
        ssm.label_parameter_version(Name="/eksmgr/selftest/ami", ParameterVersion=1,
                                    Labels=["golden"])
        for reference, expected in (("/eksmgr/selftest/ami", second_ami),
                                    ("/eksmgr/selftest/ami:1", first),
                                    ("/eksmgr/selftest/ami:golden", first),
                                    (f"arn:aws:ssm:{REGION}:{MANAGEMENT}:parameter/eksmgr/"
                                     "selftest/ami", second_ami),
                                    (f"arn:aws:ssm:{REGION}::parameter{AL2023}", ami)):
            got = launch("ssm", ImageId=f"resolve:ssm:{reference}")["Instances"][0]["ImageId"]
            assert got == expected, (reference, got)
        refused(ec2.run_instances, "SsmInvalidParameter",
                "The following aliases are invalid: /eksmgr/no-such-parameter",
                **launch_args("ssm-refused", ImageId="resolve:ssm:/eksmgr/no-such-parameter"))
        refused(ec2.run_instances, "SsmInvalidParameter", "The following aliases are invalid",
                **launch_args("ssm-refused", ImageId="resolve:ssm:/eksmgr/selftest/ami:7"))
        assert not tagged("ssm-refused"), tagged("ssm-refused")
        # A region moto has no AMI data for gets the al2023 parameter too.
        far_ec2 = main.client("ec2", region="mx-central-1")
        far_ami = main.client("ssm", region="mx-central-1").get_parameter(Name=AL2023)[
            "Parameter"]["Value"]
        assert far_ami == "ami-04681a1dbd79675a5", far_ami
        got = far_ec2.run_instances(ImageId=RESOLVE_AL2023, MinCount=1, MaxCount=1)
        assert got["Instances"][0]["ImageId"] == far_ami, got["Instances"][0]["ImageId"]

    def instance_profiles() -> None:
        refused(ec2.run_instances, "InvalidParameterValue",
                "Value (no-such-profile) for parameter iamInstanceProfile.name is invalid. "
                "Invalid IAM Instance Profile name",
                **launch_args("ip-refused", IamInstanceProfile={"Name": "no-such-profile"}))
        missing_arn = f"arn:aws:iam::{MANAGEMENT}:instance-profile/no-such-profile"
        refused(ec2.run_instances, "InvalidParameterValue",
                f"Value ({missing_arn}) for parameter iamInstanceProfile.arn is invalid. "
                "Invalid IAM Instance Profile ARN",
                **launch_args("ip-refused", IamInstanceProfile={"Arn": missing_arn}))
        empty_arn = f"arn:aws:iam::{MANAGEMENT}:instance-profile/agent-empty"
        refused(ec2.run_instances, "InvalidParameterValue",
                f'IAM Instance Profile "{empty_arn}" has no associated IAM Roles',
                **launch_args("ip-refused", IamInstanceProfile={"Name": "agent-empty"}))
        refused(ec2.run_instances, "InvalidParameterCombination",
                "The parameter 'iamInstanceProfile.name' may not be used in combination with "
                "'iamInstanceProfile.arn'",
                **launch_args("ip-refused", IamInstanceProfile={
                    "Name": "agent-host", "Arn": profile["Arn"]}))
        assert not tagged("ip-refused"), tagged("ip-refused")
        for spec in ({"Name": "agent-host"}, {"Arn": profile["Arn"]}):
            launched = launch("ip", IamInstanceProfile=spec)["Instances"][0]
            expected = {"Arn": profile["Arn"], "Id": profile["InstanceProfileId"]}
            assert launched["IamInstanceProfile"] == expected, launched["IamInstanceProfile"]
            got = described(launched["InstanceId"])["IamInstanceProfile"]
            assert got == expected, got

    def profile_propagation() -> None:
        iam.create_instance_profile(InstanceProfileName="agent-young")
        iam.add_role_to_instance_profile(InstanceProfileName="agent-young",
                                         RoleName="agent-host-2")
        refused(ec2.run_instances, "InvalidParameterValue",
                "Value (agent-young) for parameter iamInstanceProfile.name is invalid. "
                "Invalid IAM Instance Profile name",
                **launch_args("young", IamInstanceProfile={"Name": "agent-young"}))
        # An old profile whose role was just added.
        iam.add_role_to_instance_profile(InstanceProfileName="agent-late-role",
                                         RoleName="agent-host-2")
        refused(ec2.run_instances, "InvalidParameterValue", "has no associated IAM Roles",
                **launch_args("young", IamInstanceProfile={"Name": "agent-late-role"}))
        time.sleep(PROPAGATION + 0.2)
        launch("young", IamInstanceProfile={"Name": "agent-young"})
        launch("young", IamInstanceProfile={"Name": "agent-late-role"})
        # Propagation off (the second server): usable at once.
        iam2, ec2_2 = second.client("iam"), second.client("ec2")
        iam2.create_role(RoleName="host-now", AssumeRolePolicyDocument=trust(
            {"Service": "ec2.amazonaws.com"}))
        iam2.create_instance_profile(InstanceProfileName="host-now")
        iam2.add_role_to_instance_profile(InstanceProfileName="host-now", RoleName="host-now")
        ec2_2.run_instances(ImageId=RESOLVE_AL2023, MinCount=1, MaxCount=1,
                            IamInstanceProfile={"Name": "host-now"})

    def metadata_options() -> None:
        launched = launch("md")["Instances"][0]
        options = described(launched["InstanceId"])["MetadataOptions"]
        assert (options["HttpTokens"], options["HttpEndpoint"],
                options["HttpPutResponseHopLimit"], options["State"]) == (
            "required", "enabled", 1, "applied"), options
        answer = ec2.modify_instance_metadata_options(
            InstanceId=launched["InstanceId"], HttpPutResponseHopLimit=2)[
            "InstanceMetadataOptions"]
        assert (answer["State"], answer["HttpTokens"], answer["HttpEndpoint"],
                answer["HttpPutResponseHopLimit"]) == ("pending", "required", "enabled", 2), answer
        options = described(launched["InstanceId"])["MetadataOptions"]
        assert (options["HttpTokens"], options["HttpEndpoint"],
                options["HttpPutResponseHopLimit"], options["State"]) == (
            "required", "enabled", 2, "applied"), options
        ec2.modify_instance_metadata_options(InstanceId=launched["InstanceId"],
                                             HttpTokens="optional")
        options = described(launched["InstanceId"])["MetadataOptions"]
        assert (options["HttpTokens"], options["HttpPutResponseHopLimit"]) == (
            "optional", 2), options
        refused(ec2.modify_instance_metadata_options, "InvalidParameterValue",
                "httpPutResponseHopLimit", InstanceId=launched["InstanceId"],
                HttpPutResponseHopLimit=65)
        refused(ec2.run_instances, "InvalidParameterValue", "httpTokens",
                **launch_args("md-refused", MetadataOptions={"HttpTokens": "sometimes"}))
        assert not tagged("md-refused")

    def client_token() -> None:
        first = launch("token", ClientToken="eksmgr-selftest-token-1")
        again = launch("token", ClientToken="eksmgr-selftest-token-1")
        assert again["ReservationId"] == first["ReservationId"], (first, again)
        assert again["Instances"][0]["InstanceId"] == first["Instances"][0]["InstanceId"]
        assert again["Instances"][0]["ClientToken"] == "eksmgr-selftest-token-1"
        assert len(tagged("token")) == 1, tagged("token")
        refused(ec2.run_instances, "IdempotentParameterMismatch",
                "Arguments on this idempotent request are inconsistent with arguments used "
                "in previous request(s).",
                **launch_args("token", ClientToken="eksmgr-selftest-token-1",
                              InstanceType="t3.large"))
        assert len(tagged("token")) == 1, tagged("token")
        # Without a token (boto3 sends a new one each call) every call launches.
        launch("token")
        assert len(tagged("token")) == 2, tagged("token")
        # A token is per Region.
        west = main.client("ec2", region="us-west-2")
        other = west.run_instances(**launch_args(
            "token", ClientToken="eksmgr-selftest-token-1", SubnetId=None,
            SecurityGroupIds=None, IamInstanceProfile=None))
        assert other["Instances"][0]["InstanceId"] != first["Instances"][0]["InstanceId"]
        # Still answered after the instance is terminated, in its current state.
        ec2.terminate_instances(InstanceIds=[first["Instances"][0]["InstanceId"]])
        after = launch("token", ClientToken="eksmgr-selftest-token-1")
        assert after["Instances"][0]["InstanceId"] == first["Instances"][0]["InstanceId"]
        assert after["Instances"][0]["State"]["Name"] == "terminated", after["Instances"][0]

    def security_groups() -> None:
        refused(ec2.run_instances, "InvalidParameter",
                f"Security group {other_sg} and subnet {subnet} belong to different networks.",
                **launch_args("sg-refused", SecurityGroupIds=[other_sg]))
        assert not tagged("sg-refused")
        instance_id = launch("sg")["Instances"][0]["InstanceId"]
        ec2.modify_instance_attribute(InstanceId=instance_id, Groups=[extra_sg, agent_sg])
        got = described(instance_id)
        assert {g["GroupId"] for g in got["SecurityGroups"]} == {extra_sg, agent_sg}, got
        ec2.modify_instance_attribute(InstanceId=instance_id, Groups=[extra_sg])
        got = described(instance_id)
        assert [g["GroupId"] for g in got["SecurityGroups"]] == [extra_sg], got
        eni_groups = [g["GroupId"] for g in got["NetworkInterfaces"][0]["Groups"]]
        assert eni_groups == [extra_sg], eni_groups
        refused(ec2.modify_instance_attribute, "InvalidGroup.NotFound",
                "The security group 'sg-0feedfacecafe0001' does not exist",
                InstanceId=instance_id, Groups=["sg-0feedfacecafe0001"])
        refused(ec2.modify_instance_attribute, "InvalidGroup.NotFound",
                "You have specified two resources that belong to different networks.",
                InstanceId=instance_id, Groups=[other_sg])
        attribute = ec2.describe_instance_attribute(InstanceId=instance_id, Attribute="groupSet")
        assert [g["GroupId"] for g in attribute["Groups"]] == [extra_sg], attribute

    def describe_filters() -> None:
        instance_id = launch("filtered")["Instances"][0]["InstanceId"]
        launch("filtered-other")
        live = tagged("filtered", ec2, "pending", "running")
        assert [i["InstanceId"] for i in live] == [instance_id], live
        assert not tagged("filtered", ec2, "terminated")
        ec2.terminate_instances(InstanceIds=[instance_id])
        assert not tagged("filtered", ec2, "pending", "running")
        gone = tagged("filtered", ec2, "terminated")
        assert [i["InstanceId"] for i in gone] == [instance_id], gone
        assert [i["State"]["Name"] for i in tagged("filtered")] == ["terminated"]

    def iam_instance_profiles() -> None:
        refused(iam.add_role_to_instance_profile, "LimitExceeded",
                "Cannot exceed quota for InstanceSessionsPerInstanceProfile: 1",
                InstanceProfileName="agent-host", RoleName="agent-host-2")
        iam.tag_instance_profile(InstanceProfileName="agent-host",
                                 Tags=[{"Key": "eksmgr", "Value": "agent"},
                                       {"Key": "drop", "Value": "me"}])
        iam.untag_instance_profile(InstanceProfileName="agent-host", TagKeys=["drop"])
        tags = iam.list_instance_profile_tags(InstanceProfileName="agent-host")["Tags"]
        assert tags == [{"Key": "eksmgr", "Value": "agent"}], tags
        got = iam.get_instance_profile(InstanceProfileName="agent-host")["InstanceProfile"]
        assert [r["RoleName"] for r in got["Roles"]] == ["agent-host"], got
        assert got["Tags"] == [{"Key": "eksmgr", "Value": "agent"}], got
        refused(iam.delete_instance_profile, "DeleteConflict",
                "Cannot delete entity, must remove roles from instance profile first.",
                InstanceProfileName="agent-host")
        refused(iam.delete_role, "DeleteConflict",
                "Cannot delete entity, must remove roles from instance profile first.",
                RoleName="agent-host")
        refused(iam.remove_role_from_instance_profile, "NoSuchEntity",
                InstanceProfileName="agent-host", RoleName="agent-host-2")
        iam.create_instance_profile(InstanceProfileName="agent-gone")
        iam.remove_role_from_instance_profile(InstanceProfileName="agent-late-role",
                                              RoleName="agent-host-2")
        iam.delete_instance_profile(InstanceProfileName="agent-gone")
        refused(iam.get_instance_profile, "NoSuchEntity",
                "Instance Profile agent-gone cannot be found.", InstanceProfileName="agent-gone")
        refused(iam.delete_instance_profile, "NoSuchEntity",
                "Instance Profile agent-gone cannot be found.", InstanceProfileName="agent-gone")
        # The removed role is no longer the profile's: RunInstances says so.
        refused(ec2.run_instances, "InvalidParameterValue", "has no associated IAM Roles",
                **launch_args("ip-refused", IamInstanceProfile={"Name": "agent-late-role"}))

    check("instances: RunInstances resolves resolve:ssm (public, version, label, ARN; a "
          "region without moto's data), refuses an unknown parameter", resolve_ssm)
    check("instances: an instance profile missing, without a role or named by Name and Arn "
          "is refused; IamInstanceProfile read back", instance_profiles)
    check("propagation: a just-created instance profile and a just-added role are invisible "
          "to EC2, then visible; off, usable at once", profile_propagation)
    check("instances: metadata options read back; ModifyInstanceMetadataOptions keeps what "
          "it is not given (pending, then applied)", metadata_options)
    check("instances: the same ClientToken answers the same reservation (per region, after "
          "termination too); other parameters are a mismatch", client_token)
    check("instances: ModifyInstanceAttribute Groups replaces the groups (unknown and "
          "other-VPC refused); RunInstances' groups in the subnet's VPC", security_groups)
    check("instances: DescribeInstances by tag:eksmgr-instance and instance-state-name; a "
          "terminated instance stays listed", describe_filters)
    check("iam: instance profiles hold one role, take tags, refuse deletion with a role; "
          "AWS's NoSuchEntity wording", iam_instance_profiles)


# Rule 12: each cluster's Kubernetes API (kube_api) -----------------------------------------

KUBE_CLUSTER = "kube-demo"
EDIT = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSEditPolicy"
SECRET_VALUE = "selftest-kube-secret-7f3a9"  # must never reach a log


class ConnectionClosed(Exception):
    """The server ended the connection without an HTTP response."""


class Kube:
    """HTTPS requests to the emulated Kubernetes API of the clusters of `server`."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.port = int(server.env["EKSMGR_EMULATOR_KUBE_PORT"])

    def cluster(self, name: str) -> dict[str, Any]:
        return self.server.client("eks").describe_cluster(name=name)["cluster"]

    def context(self, name: str) -> ssl.SSLContext:
        # Verified with the CA from DescribeCluster, as a kubeconfig's certificate-authority-data.
        ca = base64.b64decode(self.cluster(name)["certificateAuthority"]["data"]).decode()
        return ssl.create_default_context(cadata=ca)

    def request(self, method: str, path: str, token: str | None = None, body: Any = None,
                content_type: str = "application/json", cluster: str = KUBE_CLUSTER,
                accept: str | None = None) -> tuple[int, Any]:
        if path.startswith("/_emulator/"):
            target = path
        else:
            target = urlsplit(self.cluster(cluster)["endpoint"]).path + path
        headers = {"Content-Type": content_type} if body is not None else {}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if accept:
            headers["Accept"] = accept
        data = body if isinstance(body, (bytes, str)) or body is None else json.dumps(body)
        # Every cluster's CA is the emulator's one; a control request uses the first's.
        context = self.context(KUBE_CLUSTER if path.startswith("/_emulator/") else cluster)
        connection = http.client.HTTPSConnection("127.0.0.1", self.port, context=context, timeout=20)
        try:
            connection.request(method, target, body=data, headers=headers)
            response = connection.getresponse()
            text = response.read()
        except (http.client.HTTPException, ConnectionError, ssl.SSLError) as err:
            raise ConnectionClosed(repr(err)) from None
        finally:
            connection.close()
        return response.status, json.loads(text) if text else None

    def apply(self, token: str, namespace: str, name: str, manager: str = "eksmgr",
              force: bool = False, **fields: Any) -> tuple[int, Any]:
        obj = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, **fields}
        query = f"?fieldManager={manager}" + ("&force=true" if force else "")
        return self.request("PATCH", f"/api/v1/namespaces/{namespace}/secrets/{name}{query}",
                            token, obj, "application/apply-patch+yaml")


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def presigned_url(server: Server, credentials: dict[str, str], cluster: str | None,
                  operation: str = "get_caller_identity", expires: int = 60,
                  at: datetime | None = None) -> str:
    """A presigned STS URL as `aws eks get-token` makes it: x-k8s-aws-id signed as a header."""
    sts = server.client("sts", key=credentials["AccessKeyId"],
                        secret=credentials["SecretAccessKey"], token=credentials.get("SessionToken"))
    if cluster is not None:
        sts.meta.events.register(
            "before-sign.sts", lambda request, **_: request.headers.__setitem__("x-k8s-aws-id", cluster))
    with mock.patch("botocore.auth.get_current_datetime", return_value=at) if at else nullcontext():
        return sts.generate_presigned_url(operation, Params={}, ExpiresIn=expires, HttpMethod="GET")


def token_of(url: str) -> str:
    return "k8s-aws-v1." + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")


def kube_checks(server: Server, log_path: Path) -> None:
    eks, iam, sts = server.client("eks"), server.client("iam"), server.client("sts")
    kube = Kube(server)
    cluster_role = f"arn:aws:iam::{MANAGEMENT}:role/eks-cluster"
    trust_root = trust({"AWS": f"arn:aws:iam::{MANAGEMENT}:root"})

    def role(name: str, path: str = "/") -> str:
        return iam.create_role(RoleName=name, Path=path, AssumeRolePolicyDocument=trust_root)["Role"]["Arn"]

    def assume(arn: str, session: str = "selftest") -> dict[str, str]:
        return sts.assume_role(RoleArn=arn, RoleSessionName=session)["Credentials"]

    def grant(cluster: str, principal: str, policy: str, scope: dict[str, Any]) -> None:
        eks.create_access_entry(clusterName=cluster, principalArn=principal)
        eks.associate_access_policy(clusterName=cluster, principalArn=principal,
                                    policyArn=policy, accessScope=scope)

    def new_cluster(name: str, mode: str = "API") -> dict[str, Any]:
        return eks.create_cluster(name=name, roleArn=cluster_role, resourcesVpcConfig={},
                                  accessConfig={"authenticationMode": mode})["cluster"]

    created = new_cluster(KUBE_CLUSTER)
    # The editor's entry names the role with a path; the token's ARN has none.
    editor = role("kube-editor", "/teams/")
    grant(KUBE_CLUSTER, editor, EDIT, {"type": "namespace", "namespaces": ["apps", "team-*"]})
    stranger = role("kube-stranger")
    editor_creds = assume(editor)
    editor_token = token_of(presigned_url(server, editor_creds, KUBE_CLUSTER))
    username = f"arn:aws:sts::{MANAGEMENT}:assumed-role/kube-editor/selftest"
    status, made = kube.request("POST", f"/_emulator/clusters/{MANAGEMENT}/{REGION}/{KUBE_CLUSTER}/objects",
                                body={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps"}})
    assert status == 201, made

    def unauthorized(status: int, body: Any) -> None:
        assert status == 401, (status, body)
        assert body == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                        "message": "Unauthorized", "reason": "Unauthorized", "code": 401}, body

    def endpoint_and_discovery() -> None:
        port = kube.port
        assert created["endpoint"] == f"https://127.0.0.1:{port}/clusters/{MANAGEMENT}/{REGION}/{KUBE_CLUSTER}", created
        from cryptography import x509

        ca = x509.load_pem_x509_certificate(base64.b64decode(created["certificateAuthority"]["data"]))
        assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        served = ssl.get_server_certificate(("127.0.0.1", port))
        leaf = x509.load_pem_x509_certificate(served.encode())
        assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        assert leaf.issuer == ca.subject
        status, version = kube.request("GET", "/version", editor_token)
        assert status == 200 and version["gitVersion"].startswith(f"v{created['version']}.0-"), version
        assert kube.request("GET", "/api", editor_token)[1]["versions"] == ["v1"]
        assert kube.request("GET", "/apis", editor_token)[1]["groups"] == []
        resources = {r["name"]: r for r in kube.request("GET", "/api/v1", editor_token)[1]["resources"]}
        assert resources["secrets"]["namespaced"] and not resources["namespaces"]["namespaced"], resources
        assert resources["namespaces"]["shortNames"] == ["ns"], resources

    def presigned_caller_identity() -> None:
        # Query auth: moto takes the caller from X-Amz-Credential, routed to STS.
        url = presigned_url(server, editor_creds, KUBE_CLUSTER)
        with urllib.request.urlopen(url, timeout=10) as response:
            text = response.read().decode()
        assert f"<Arn>{username}</Arn>" in text, text

    def unauthenticated() -> None:
        unauthorized(*kube.request("GET", "/api/v1/namespaces/apps/secrets"))
        unauthorized(*kube.request("GET", "/version", "not-a-token"))
        # Authenticated by STS, but no access entry: EKS answers 401.
        unauthorized(*kube.request("GET", "/version", token_of(
            presigned_url(server, assume(stranger), KUBE_CLUSTER))))
        # A token signed for another cluster's name.
        unauthorized(*kube.request("GET", "/version", token_of(
            presigned_url(server, editor_creds, "another-cluster"))))
        # A CONFIG_MAP cluster honours no access entry (aws-auth is not emulated).
        new_cluster("kube-config-map", "CONFIG_MAP")
        grant("kube-config-map", editor, EDIT, {"type": "cluster"})
        unauthorized(*kube.request("GET", "/version", token_of(
            presigned_url(server, editor_creds, "kube-config-map")), cluster="kube-config-map"))

    def token_rules() -> None:
        old = datetime.now(timezone.utc).replace(tzinfo=None) - timedelta(minutes=16)
        recent = datetime.now(timezone.utc).replace(tzinfo=None) - timedelta(minutes=14)
        assert kube.request("GET", "/version", token_of(
            presigned_url(server, editor_creds, KUBE_CLUSTER, at=recent)))[0] == 200
        good = presigned_url(server, editor_creds, KUBE_CLUSTER)
        tampered = good[:-1] + ("0" if good[-1] != "0" else "1")
        for url in (
            presigned_url(server, editor_creds, KUBE_CLUSTER, at=old),  # older than 15 minutes
            presigned_url(server, editor_creds, KUBE_CLUSTER, "get_session_token"),  # Action
            presigned_url(server, editor_creds, None),  # x-k8s-aws-id not signed
            presigned_url(server, editor_creds, KUBE_CLUSTER, expires=901),
            good + "&Foo=bar",  # a parameter aws-iam-authenticator does not allow
            good.replace("http://127.0.0.1", "http://localhost.localdomain"),  # not loopback
            tampered,
        ):
            unauthorized(*kube.request("GET", "/version", token_of(url)))
        unauthorized(*kube.request("GET", "/version", token_of(good) + "=="))  # padded

    def apply_creates_and_reads_back() -> None:
        status, secret = kube.apply(editor_token, "apps", "db", data={"password": b64(SECRET_VALUE)},
                                    metadata={"name": "db", "labels": {"app": "web"}})
        assert status == 201, secret
        assert secret["data"] == {"password": b64(SECRET_VALUE)} and secret["type"] == "Opaque", secret
        fields = secret["metadata"]["managedFields"]
        assert [(f["manager"], f["operation"]) for f in fields] == [("eksmgr", "Apply")], fields
        assert fields[0]["fieldsV1"] == {"f:data": {"f:password": {}},
                                         "f:metadata": {"f:labels": {"f:app": {}}}}, fields
        again = kube.apply(editor_token, "apps", "db", data={"password": b64(SECRET_VALUE)},
                           metadata={"name": "db", "labels": {"app": "web"}})
        assert again[0] == 200, again
        assert again[1]["metadata"]["resourceVersion"] == secret["metadata"]["resourceVersion"], again
        status, read = kube.request("GET", "/api/v1/namespaces/apps/secrets/db", editor_token)
        assert status == 200 and read["data"] == secret["data"], read
        status, listed = kube.request("GET", "/api/v1/namespaces/apps/secrets?labelSelector=app%3Dweb",
                                      editor_token)
        assert status == 200 and [i["metadata"]["name"] for i in listed["items"]] == ["db"], listed

    def namespace_scope() -> None:
        status, body = kube.request("GET", "/api/v1/namespaces/other/secrets/db", editor_token)
        assert status == 403, body
        assert body["message"] == (f'secrets "db" is forbidden: User "{username}" cannot get resource '
                                   '"secrets" in API group "" in the namespace "other"'), body
        assert body["reason"] == "Forbidden" and body["details"] == {"name": "db", "kind": "secrets"}, body
        status, body = kube.request("GET", "/api/v1/namespaces", editor_token)
        assert status == 403 and body["message"].endswith('at the cluster scope'), body
        assert kube.request("GET", "/api/v1/secrets", editor_token)[0] == 403
        assert kube.request("POST", "/api/v1/namespaces", editor_token,
                            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}})[0] == 403
        assert kube.request("GET", "/api/v1/namespaces/apps", editor_token)[0] == 200
        # "team-*" in the scope: team-a is in it, but does not exist.
        status, body = kube.apply(editor_token, "team-a", "db", data={"k": b64("v")})
        assert status == 404 and body["message"] == 'namespaces "team-a" not found', body

    def conflicts_and_force() -> None:
        path = f"/_emulator/clusters/{MANAGEMENT}/{REGION}/{KUBE_CLUSTER}/objects"
        status, made = kube.request("POST", path, body={
            "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "hand", "namespace": "apps"},
            "data": {"kept": b64("a"), "shared": b64("b")}})
        assert status == 201, made
        assert made["metadata"]["managedFields"][0]["manager"] == "kubectl-create", made
        status, body = kube.apply(editor_token, "apps", "hand", data={"shared": b64("changed")})
        assert status == 409 and body["reason"] == "Conflict", body
        cause = body["details"]["causes"][0]
        assert cause["reason"] == "FieldManagerConflict" and cause["field"] == ".data.shared", cause
        assert cause["message"].startswith('conflict with "kubectl-create"'), cause
        # The same value is shared ownership, no conflict.
        assert kube.apply(editor_token, "apps", "hand", manager="other",
                          data={"kept": b64("a")})[0] == 200
        status, forced = kube.apply(editor_token, "apps", "hand", force=True,
                                    data={"shared": b64("changed"), "mine": b64("m")})
        assert status == 200 and forced["data"]["shared"] == b64("changed"), forced
        owners = {f["manager"]: f["fieldsV1"] for f in forced["metadata"]["managedFields"]}
        assert "f:shared" in owners["eksmgr"]["f:data"], owners
        assert "f:shared" not in owners["kubectl-create"].get("f:data", {}), owners
        # A field the applier owned alone and omits now is removed; one it shares is kept.
        status, after = kube.apply(editor_token, "apps", "hand", data={"shared": b64("changed")})
        assert status == 200 and set(after["data"]) == {"kept", "shared"}, after

    def refusals() -> None:
        secrets = "/api/v1/namespaces/apps/secrets"
        status, body = kube.request("PATCH", f"{secrets}/db", editor_token,
                                    {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"}},
                                    "application/apply-patch+yaml")
        assert status == 422 and "fieldManager" in body["message"], body
        for fields, where in (
            ({"data": {"bad key": b64("v")}}, "data[bad key]"),
            ({"type": "kubernetes.io/tls", "data": {"tls.crt": b64("c")}}, "data[tls.key]"),
            ({"type": "kubernetes.io/dockerconfigjson", "data": {".dockerconfigjson": b64("{")}},
             "data[.dockerconfigjson]"),
            ({"data": {"big": b64("x" * (1024 * 1024 + 1))}}, "data"),
            ({"metadata": {"name": "Bad_Name"}}, "metadata.name"),
        ):
            name = fields.get("metadata", {}).get("name", "refused")
            status, body = kube.request("POST", secrets, editor_token, {
                "apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, **{
                    k: v for k, v in fields.items() if k != "metadata"}})
            assert status == 422 and body["reason"] == "Invalid", body
            assert where in [c["field"] for c in body["details"]["causes"]], (where, body)
        status, body = kube.apply(editor_token, "apps", "db", type="kubernetes.io/tls",
                                  data={"tls.crt": b64("c"), "tls.key": b64("k")})
        assert status == 422 and "type: Invalid value" in body["message"], body
        status, body = kube.request("POST", secrets, editor_token, {
            "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "b64"}, "data": {"k": "%%%"}})
        assert status == 400 and "%%%" not in body["message"], body

    def writes() -> None:
        secrets = "/api/v1/namespaces/apps/secrets"
        status, made = kube.request("POST", f"{secrets}?fieldManager=selftest", editor_token, {
            "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "plain"},
            "stringData": {"a": "1"}})
        assert status == 201 and made["data"] == {"a": b64("1")}, made
        status, body = kube.request("POST", secrets, editor_token, {
            "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "plain"}})
        assert status == 409 and body["reason"] == "AlreadyExists", body
        stale = {**made, "data": {"a": b64("2")}}
        stale["metadata"] = {**made["metadata"], "resourceVersion": "1"}
        status, body = kube.request("PUT", f"{secrets}/plain", editor_token, stale)
        assert status == 409 and body["reason"] == "Conflict", body
        status, replaced = kube.request("PUT", f"{secrets}/plain", editor_token, {**made, "data": {"a": b64("2")}})
        assert status == 200 and replaced["data"] == {"a": b64("2")}, replaced
        status, patched = kube.request("PATCH", f"{secrets}/plain", editor_token,
                                       {"data": {"a": None, "b": b64("3")}}, "application/merge-patch+json")
        assert status == 200 and patched["data"] == {"b": b64("3")}, patched
        assert kube.request("DELETE", f"{secrets}/plain", editor_token)[1]["status"] == "Success"
        assert kube.request("GET", f"{secrets}/plain", editor_token)[0] == 404

    def unreachable_clusters() -> None:
        control = f"/_emulator/clusters/{MANAGEMENT}/{REGION}/{KUBE_CLUSTER}"
        assert kube.request("POST", f"{control}/down")[1]["down"] is True
        try:
            kube.request("GET", "/version", editor_token)
        except ConnectionClosed:
            pass
        else:
            raise AssertionError("a down cluster answered")
        assert kube.request("POST", f"{control}/up")[1]["down"] is False
        assert kube.request("GET", "/version", editor_token)[0] == 200
        # A deleted cluster's endpoint is gone; made again, the cluster starts empty.
        new_cluster("kube-gone")
        grant("kube-gone", editor, EDIT, {"type": "namespace", "namespaces": ["default"]})
        gone_token = token_of(presigned_url(server, editor_creds, "kube-gone"))
        status, made = kube.request("PATCH", "/api/v1/namespaces/default/secrets/s?fieldManager=m",
                                    gone_token, {"apiVersion": "v1", "kind": "Secret",
                                                 "metadata": {"name": "s"}},
                                    "application/apply-patch+yaml", cluster="kube-gone")
        assert status == 201, made
        endpoint_path = urlsplit(kube.cluster("kube-gone")["endpoint"]).path
        eks.delete_cluster(name="kube-gone")
        try:
            connection = http.client.HTTPSConnection("127.0.0.1", kube.port, context=kube.context(KUBE_CLUSTER), timeout=20)
            connection.request("GET", endpoint_path + "/version", headers={"Authorization": f"Bearer {gone_token}"})
            connection.getresponse().read()
        except (http.client.HTTPException, ConnectionError, ssl.SSLError):
            pass
        else:
            raise AssertionError("a deleted cluster answered")
        new_cluster("kube-gone")
        grant("kube-gone", editor, EDIT, {"type": "namespace", "namespaces": ["default"]})
        status, listed = kube.request("GET", "/api/v1/namespaces/default/secrets", gone_token, cluster="kube-gone")
        assert status == 200 and listed["items"] == [], listed

    def other_policies() -> None:
        admin = role("kube-admin")
        grant(KUBE_CLUSTER, admin, "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy",
              {"type": "cluster"})
        admin_token = token_of(presigned_url(server, assume(admin), KUBE_CLUSTER))
        status, listed = kube.request("GET", "/api/v1/namespaces", admin_token)
        names = {i["metadata"]["name"] for i in listed["items"]}
        assert status == 200 and {"default", "kube-system", "kube-public", "kube-node-lease", "apps"} <= names
        assert kube.request("POST", "/api/v1/namespaces", admin_token, {
            "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "Not_A_Label"}})[0] == 422
        assert kube.request("POST", "/api/v1/namespaces", admin_token, {
            "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "made"}})[0] == 201
        status, everything = kube.request("GET", "/api/v1/secrets", admin_token)
        assert status == 200 and {"db", "hand"} <= {i["metadata"]["name"] for i in everything["items"]}
        # An IAM user matches its entry exactly; View reads namespaces, never secrets.
        iam.create_user(UserName="kube-viewer")
        user_arn = iam.get_user(UserName="kube-viewer")["User"]["Arn"]
        key = iam.create_access_key(UserName="kube-viewer")["AccessKey"]
        grant(KUBE_CLUSTER, user_arn, "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy",
              {"type": "cluster"})
        viewer = token_of(presigned_url(server, key, KUBE_CLUSTER))
        assert kube.request("GET", "/api/v1/namespaces", viewer)[0] == 200
        status, body = kube.request("GET", "/api/v1/namespaces/apps/secrets/db", viewer)
        assert status == 403 and f'User "{user_arn}"' in body["message"], body

    def kubectl_with_aws_get_token() -> None:
        # Real kubectl, its user the exec plugin `aws eks get-token` (awscli from the venv).
        aws = Path(sys.executable).parent / "aws"
        assert aws.exists(), f"{aws} is missing: run scripts/setup-emulator.sh"
        folder = log_path.parent
        config = {
            "apiVersion": "v1", "kind": "Config", "current-context": KUBE_CLUSTER,
            "clusters": [{"name": KUBE_CLUSTER, "cluster": {
                "server": created["endpoint"],
                "certificate-authority-data": created["certificateAuthority"]["data"]}}],
            "contexts": [{"name": KUBE_CLUSTER, "context": {"cluster": KUBE_CLUSTER, "user": "editor"}}],
            "users": [{"name": "editor", "user": {"exec": {
                "apiVersion": "client.authentication.k8s.io/v1beta1", "command": str(aws),
                "args": ["eks", "get-token", "--cluster-name", KUBE_CLUSTER, "--region", REGION,
                         "--role-arn", editor, "--output", "json"],
                "interactiveMode": "Never"}}}],
        }
        (folder / "kubeconfig").write_text(json.dumps(config))
        env = {"PATH": f"{aws.parent}{os.pathsep}{os.environ.get('PATH', '')}",
               "HOME": str(folder), "KUBECONFIG": str(folder / "kubeconfig"),
               "AWS_ENDPOINT_URL": server.endpoint, "AWS_ACCESS_KEY_ID": "testing",
               "AWS_SECRET_ACCESS_KEY": "testing", "AWS_CONFIG_FILE": os.devnull,
               "AWS_SHARED_CREDENTIALS_FILE": os.devnull, "AWS_EC2_METADATA_DISABLED": "true"}

        def kubectl(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(["kubectl", *args], env=env, capture_output=True, text=True,
                                  timeout=120)

        got = kubectl("get", "secret", "db", "-n", "apps", "-o", "json")
        assert got.returncode == 0, got.stderr
        assert json.loads(got.stdout)["data"] == {"password": b64(SECRET_VALUE)}, got.stdout
        refused_list = kubectl("get", "secrets", "-n", "other")
        assert refused_list.returncode != 0 and "Forbidden" in refused_list.stderr, refused_list.stderr
        assert "assumed-role/kube-editor/EKSGetTokenAuth" in refused_list.stderr, refused_list.stderr
        # A typed kubectl command sends protobuf.
        made = kubectl("create", "secret", "generic", "by-kubectl", "-n", "apps", "--from-literal=k=v")
        assert made.returncode == 0, made.stderr
        status, secret = kube.request("GET", "/api/v1/namespaces/apps/secrets/by-kubectl", editor_token)
        assert status == 200 and secret["type"] == "Opaque" and secret["data"] == {"k": b64("v")}, secret
        assert secret["metadata"]["managedFields"][0]["manager"] == "kubectl-create", secret

    def request_log() -> None:
        text = log_path.read_text()
        lines = [json.loads(line) for line in text.splitlines()]
        assert lines and all(set(line) == {"time", "method", "path", "query", "user", "status"}
                             for line in lines), lines[:3]
        assert any(line["user"] == username and line["status"] == 201 for line in lines)
        assert any(line["user"] is None and line["status"] == 401 for line in lines)
        assert any(line["status"] is None for line in lines)  # closed connections
        assert SECRET_VALUE not in text and b64(SECRET_VALUE) not in text

    check("kube: DescribeCluster gives the emulated endpoint and its CA (a separate server "
          "certificate); discovery for an authenticated user", endpoint_and_discovery)
    check("kube: a presigned GetCallerIdentity (query auth) answers the assumed role's ARN",
          presigned_caller_identity)
    check("kube: no token, no access entry, a token for another cluster, a CONFIG_MAP "
          "cluster -> 401 Status", unauthenticated)
    check("kube: tokens refused as aws-iam-authenticator does (older than 15 min, wrong "
          "Action, x-k8s-aws-id unsigned, X-Amz-Expires > 900, extra parameter, host, "
          "signature, padding)", token_rules)
    check("kube: server-side apply creates a Secret (201, managedFields), a repeat is a "
          "no-op, GET and a label selector read it back", apply_creates_and_reads_back)
    check("kube: a namespace-scoped Edit policy: 403 elsewhere with kube-apiserver's "
          "message, cluster-wide lists refused, wildcard scope, missing namespace 404",
          namespace_scope)
    check("kube: a hand-made secret's key conflicts (409 FieldManagerConflict) unless "
          "force=true; shared values; omitted fields removed", conflicts_and_force)
    check("kube: fieldManager required for apply (422); invalid secrets 422 (key, tls, "
          "dockerconfigjson, 1 MiB, name, type change); bad base64 400", refusals)
    check("kube: create (409 AlreadyExists), replace (409 on a stale resourceVersion), "
          "merge patch, delete", writes)
    check("kube: a down cluster and a deleted one close the connection; a re-created "
          "cluster starts empty", unreachable_clusters)
    check("kube: ClusterAdmin (namespaces, all secrets), an IAM user's View entry (no "
          "secrets)", other_policies)
    check("kube: real kubectl with `aws eks get-token` (AWS_ENDPOINT_URL) reads a secret, is "
          "refused elsewhere (Forbidden), creates one (protobuf)", kubectl_with_aws_get_token)
    check("kube: the request log has method, path, query, user and status only, no "
          "secret value", request_log)


# Seed defaults --------------------------------------------------------------------------


def seed_checks(second: Server) -> None:
    def default_seed_enables_both() -> None:
        roots = second.client("organizations").list_roots()["Roots"]
        assert roots[0]["PolicyTypes"] == [{"Type": "SERVICE_CONTROL_POLICY", "Status": "ENABLED"}]
        status = second.client("cloudformation").describe_organizations_access()["Status"]
        assert status == "ENABLED", status

    check("seed: by default SCPs are enabled and StackSets trusted access is activated",
          default_seed_enables_both)


def main() -> int:
    for name in [n for n in os.environ if n.startswith("AWS_")]:
        del os.environ[name]
    os.environ["AWS_CONFIG_FILE"] = os.devnull
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    servers: list[Server] = []
    scratch = tempfile.TemporaryDirectory(prefix="eksmgr-selftest-")
    try:
        main_server = Server(
            EKSMGR_EMULATOR_TODAY="2026-12-05",
            EKSMGR_EMULATOR_IAM_PROPAGATION_SECONDS=str(PROPAGATION),
        )
        servers.append(main_server)
        # The second one also serves the clusters' Kubernetes API (kube_api), with a log.
        kube_log = Path(scratch.name) / "kube.log"
        second = Server(EKSMGR_EMULATOR_TODAY="2026-11-25",
                        EKSMGR_EMULATOR_KUBE_PORT=str(free_port()),
                        EKSMGR_EMULATOR_KUBE_LOG=str(kube_log))
        servers.append(second)
        seeded = main_server.seed("--fresh")
        second.seed()

        organizations_checks(main_server, seeded)
        stackset_checks(main_server, seeded)
        principal_checks(main_server, seeded)
        propagation_checks(main_server, second)
        version_checks(main_server, second)
        addon_checks(main_server)
        update_checks(main_server)
        subnet_checks(main_server)
        instance_checks(main_server, second)
        seed_checks(second)
        kube_checks(second, kube_log)
    except Exception as err:  # noqa: BLE001 - a setup failure fails the run
        RESULTS.append(("setup", False, f"{type(err).__name__}: {err}"))
        print(f"FAIL setup: {err}\n{traceback.format_exc()}", flush=True)
    finally:
        for server in servers:
            server.stop()
        scratch.cleanup()
    passed = sum(1 for _, ok, _ in RESULTS if ok)
    failed = len(RESULTS) - passed
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
