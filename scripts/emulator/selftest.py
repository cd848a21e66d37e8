#!/usr/bin/env python3
"""Self-test of the emulator's AWS rules: every rule's refused and accepted case, with boto3.

Run with the emulator's virtualenv (no pytest needed)::

    .venv/bin/python scripts/emulator/selftest.py

It starts its own servers (``eksmgr_moto.py`` on free 127.0.0.1 ports) and stops them:

* the main one with ``EKSMGR_EMULATOR_TODAY=2026-12-05`` and
  ``EKSMGR_EMULATOR_IAM_PROPAGATION_SECONDS=1.5``, seeded with ``seed_emulator.py --fresh``;
* a second one with ``EKSMGR_EMULATOR_TODAY=2026-11-25`` and no propagation delay, seeded
  by default (SCPs enabled, StackSets trusted access activated).

It prints one line per check and ``N passed, N failed`` last; the exit status is non-zero
on any failure.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import traceback
import urllib.request
from pathlib import Path
from typing import Any, Callable

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

    def client(self, service: str, **credentials: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=credentials.get("key", "testing"),
            aws_secret_access_key=credentials.get("secret", "testing"),
            aws_session_token=credentials.get("token"),
            config=Config(retries={"max_attempts": 1}),
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
    try:
        main_server = Server(
            EKSMGR_EMULATOR_TODAY="2026-12-05",
            EKSMGR_EMULATOR_IAM_PROPAGATION_SECONDS=str(PROPAGATION),
        )
        servers.append(main_server)
        second = Server(EKSMGR_EMULATOR_TODAY="2026-11-25")
        servers.append(second)
        seeded = main_server.seed("--fresh")
        second.seed()

        organizations_checks(main_server, seeded)
        stackset_checks(main_server, seeded)
        principal_checks(main_server, seeded)
        propagation_checks(main_server, second)
        version_checks(main_server, second)
        seed_checks(second)
    except Exception as err:  # noqa: BLE001 - a setup failure fails the run
        RESULTS.append(("setup", False, f"{type(err).__name__}: {err}"))
        print(f"FAIL setup: {err}\n{traceback.format_exc()}", flush=True)
    finally:
        for server in servers:
            server.stop()
    passed = sum(1 for _, ok, _ in RESULTS if ok)
    failed = len(RESULTS) - passed
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
