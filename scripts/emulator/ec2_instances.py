"""EC2 instances as eksmgr launches its agent host: RunInstances (``resolve:ssm:`` image ids,
instance profiles, client tokens, metadata options), ModifyInstanceMetadataOptions,
ModifyInstanceAttribute (Groups), and the IAM instance profile calls (test support only).

Checked in moto 5.2.5 first:

* RunInstances keeps ``ImageId`` as given: ``resolve:ssm:/aws/service/...`` is launched as
  an "AMI" of that name, and an unknown parameter is accepted.  Its SSM backend does have
  the public ``/aws/service/ami-amazon-linux-latest/*`` parameters (read lazily from
  ``moto/ssm/resources/ami-amazon-linux-latest/<region>.json``) for 30 regions, and each
  one's al2023 x86_64 AMI is in that region's EC2 AMI list
  (``moto/ec2/resources/latest_amis``); regions without the file (``mx-central-1``,
  ``ap-southeast-7``, ``cn-north-1``, ``us-gov-west-1``, ...) have none.
* RunInstances with an instance profile that does not exist answers IAM's
  ``NoSuchEntity`` (HTTP 404, "Instance profile NAME not found"); one without a role is
  accepted; Name and Arn together fail with ``IncorrectState`` (it associates twice); a new
  profile is usable at once.  DescribeInstances gives the association id as
  ``IamInstanceProfile.Id``.
* ``MetadataOptions`` are recorded and returned by DescribeInstances (good), but
  ModifyInstanceMetadataOptions resets every option it is not given (HttpEndpoint,
  HttpProtocolIpv6 and InstanceMetadataTags become null, the hop limit 1) and answers
  ``applied``; no value is checked.
* ``ClientToken`` is recorded (``ABCDE`` when absent) but each call launches new
  instances: no idempotency.
* ModifyInstanceAttribute with ``Groups`` replaces ``SecurityGroups``, but the primary
  network interface then shows the old and the new groups together; an unknown group is
  silently dropped, a group of another VPC accepted, and a request naming no attribute
  empties the instance's groups.  RunInstances accepts security groups of another VPC
  than its subnet's.
* DescribeInstances filters ``tag:KEY`` and ``instance-state-name`` work; terminated
  instances stay listed as ``terminated`` (kept, as AWS lists them for a while).
* IAM: Create/Get/Delete/Tag/UntagInstanceProfile and Add/RemoveRoleFromInstanceProfile
  exist; a second role is refused (LimitExceeded "Cannot exceed quota for
  InstanceSessionsPerInstanceProfile: 1", AWS's wording); DeleteInstanceProfile with a
  role and DeleteRole of a role in a profile are refused (DeleteConflict "Cannot delete
  entity, must remove roles from instance profile first.", AWS's wording).  Removing a
  role that is not in the profile is an HTTP 500 (a Python ValueError), a missing profile
  is "Instance profile NAME not found", and ListInstanceProfileTags is not implemented
  (HTTP 500); GetInstanceProfile does return the tags.

Added here (each rule with its AWS page):

1. ``resolve:ssm:NAME[:VERSION|:LABEL]`` (or a parameter ARN) is resolved in the SSM of
   the request's account and region and that AMI is launched (RunInstances and
   DescribeInstances show the AMI id); an unknown parameter is refused.  A region whose
   moto data lacks ``/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64``
   gets it, pointing to an Amazon Linux 2 AMI of moto's global AMI list.
2. RunInstances' instance profile (by Name or Arn, not both) must exist in the account's
   IAM, be visible to EC2 (``EKSMGR_EMULATOR_IAM_PROPAGATION_SECONDS``, as for roles in
   ``strict_principals``) and have a role (visible too); ``IamInstanceProfile.Id`` is the
   profile's id.
3. ModifyInstanceMetadataOptions keeps the options it is not given, answers ``pending``
   (DescribeInstances then shows ``applied``); HttpTokens, HttpEndpoint and the hop limit
   (1 to 64) are checked, in RunInstances too.
4. ``ClientToken`` idempotency, per account and region: the same token with the same
   parameters answers the first call's reservation (whatever its state); with other
   parameters, IdempotentParameterMismatch.
5. ModifyInstanceAttribute ``Groups``: each group exists and is in the instance's VPC; the
   groups replace those of the instance and of its primary network interface; a request
   naming no attribute is refused.  RunInstances: security groups in the subnet's VPC.
6. IAM: GetInstanceProfile (and the other calls naming a profile) answer AWS's wording for
   a missing profile; RemoveRoleFromInstanceProfile of a role not in the profile is
   NoSuchEntity; ListInstanceProfileTags (missing in moto) lists the profile's tags.

Not modelled: AMI ids that do not exist (launched, as by moto, unless
``MOTO_ENABLE_AMI_VALIDATION`` is set), the SSM parameter's data type (AWS wants
``aws:ec2:image`` for a customer's own parameter in a launch template; AWS's public
parameters are ``text``), the 64-character limit of ``ClientToken``, tokens expiring
(AWS keeps them "at least 24 hours after the termination of the instance"; here until the
server is reset).
"""

from __future__ import annotations

import copy
import json
import re
import threading
import time
from typing import Any, Callable

from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult
from moto.core.utils import utcnow
from moto.ec2.exceptions import (
    EC2ClientError,
    InvalidParameterCombination,
    InvalidSecurityGroupNotFoundError,
)
from moto.ec2.models.iam_instance_profile import IamInstanceProfileAssociationBackend
from moto.ec2.models.instances import InstanceBackend, MetadataOptions
from moto.ec2.responses.instances import InstanceResponse
from moto.iam.exceptions import NotFoundException
from moto.iam.models import IAMBackend, InstanceProfile, iam_backends
from moto.iam.responses import IamResponse
from moto.ssm.models import Parameter, ParameterDict, ssm_backends

import strict_principals
from patching import add_methods, arguments, wrap_method

# When the wrappers saw a profile created / a role added to it (time.monotonic()).
PROFILE_CREATED_ATTR = "eksmgr_created_monotonic"
ROLE_ADDED_ATTR = "eksmgr_role_added_monotonic"
# The client tokens of an EC2 backend (one per account and region):
# token -> (reservation, the request's parameters without the token).
CLIENT_TOKENS_ATTR = "eksmgr_client_tokens"
_CLIENT_TOKENS_LOCK = threading.Lock()
# moto's response transformer that shows every instance of a RunInstances answer pending.
RUN_INSTANCES_STATE_PATH = "RunInstances.Reservation.Instances.Instance.State"

RESOLVE_SSM = "resolve:ssm:"
# arn:aws:ssm:us-east-1::parameter/aws/service/... (public) or
# arn:aws:ssm:REGION:ACCOUNT:parameter/NAME[:VERSION|:LABEL] (shared).
PARAMETER_ARN = re.compile(r"^arn:[\w-]+:ssm:[\w-]*:\d*:parameter/(?P<rest>.+)$")
# The public parameter eksmgr launches its agent host from; moto has it for 30 regions.
AL2023_X86_64 = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
# For a region without moto's data: amzn2-ami-hvm-2.0.20180810-x86_64-gp2, in moto's
# global AMI list (moto/ec2/resources/amis.json), which every region's EC2 backend loads.
FALLBACK_AL2023_AMI = "ami-04681a1dbd79675a5"

# Messages as EC2 answers them, where known.
# An SSM parameter that does not exist: EC2 answers SsmInvalidParameter "The following
# aliases are invalid: /boltz-attestation/ami-id" (quoted in a CDK app's comment about a
# launch template naming a parameter not yet created) and, for run-instances naming a
# public parameter path that does not exist, "SsmInvalidParameter: The following aliases
# are invalid: ..." (a capacity-testing runbook).  The code is sure (EC2 answers
# SsmInvalidParameter for a wrong data type too: aws/aws-cdk issue #26712); the exact
# message is copied from those two quotes, not from an AWS page: fairly sure.
SSM_ALIASES_INVALID_MSG = "The following aliases are invalid: {names}"
# "Value (GithubActionRunner) for parameter iamInstanceProfile.name is invalid. Invalid IAM
# Instance Profile name" (machulav/ec2-github-runner issue #132, CiscoDevNet/cloud-cml
# issue #4, aws/aws-sdk-js-v3 issue #5253: also right after the profile is created) and
# "Value (arn:aws:iam::...:instance-profile/...) for parameter iamInstanceProfile.arn is
# invalid. Invalid IAM Instance Profile ARN" (aws-samples/amazon-ec2-gitlab-runner issue
# #16, docker/infrakit's comments).  Sure.
PROFILE_NAME_INVALID_MSG = (
    "Value ({name}) for parameter iamInstanceProfile.name is invalid. "
    "Invalid IAM Instance Profile name"
)
PROFILE_ARN_INVALID_MSG = (
    "Value ({arn}) for parameter iamInstanceProfile.arn is invalid. "
    "Invalid IAM Instance Profile ARN"
)
# A profile without a role (or whose role has not propagated yet): InvalidParameterValue
# 'IAM Instance Profile "arn:aws:iam::300835344128:instance-profile/master_profile" has no
# associated IAM Roles' (Capgemini/kubeform issue #116 from RunInstances, DanielThomas/
# ec2gaming issue #17 from RequestSpotInstances; terraform-provider-aws retries on it).
# The ARN is given even when the request named the profile.  Fairly sure (reports
# 2016-2019; terraform-provider-aws still matches it).
PROFILE_NO_ROLE_MSG = 'IAM Instance Profile "{arn}" has no associated IAM Roles'
# "The parameter 'iamInstanceProfile.name' may not be used in combination with
# 'iamInstanceProfile.arn'" (InvalidParameterCombination; aws/aws-sdk-java issue #647).
PROFILE_NAME_AND_ARN_MSG = (
    "The parameter 'iamInstanceProfile.name' may not be used in combination with "
    "'iamInstanceProfile.arn'"
)
# IdempotentParameterMismatch: "Arguments on this idempotent request are inconsistent with
# arguments used in previous request(s)." (as EC2 answers RunInstances; quoted on
# pastebin.com/cbV2AxJP).  The code is documented
# (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html).  Sure.
IDEMPOTENT_MISMATCH_MSG = (
    "Arguments on this idempotent request are inconsistent with arguments used in "
    "previous request(s)."
)
# "Security group sg-0d595415951402832 and subnet subnet-008c094dfe760bda4 belong to
# different networks." (InvalidParameter; ansible-collections/amazon.aws issue #824,
# philschmid/efsync pull request #16).  Sure.
GROUP_SUBNET_NETWORKS_MSG = (
    "Security group {group} and subnet {subnet} belong to different networks."
)
# "InvalidGroup.NotFound: You have specified two resources that belong to different
# networks." (EC2's answer when a security group of another VPC is given to an instance or
# another group; several Terraform reports).  For ModifyInstanceAttribute itself this is
# likely, not confirmed.
GROUP_OTHER_NETWORK_MSG = "You have specified two resources that belong to different networks."
# "InvalidParameterCombination ... ModifyInstanceAttribute operation: No attributes
# specified." (ansible-collections/community.aws issue #213).  Sure.
NO_ATTRIBUTES_MSG = "No attributes specified."
# Invalid metadata option values: AWS's wording is not published; this follows EC2's
# "Value (X) for parameter Y is invalid." pattern.  Unsure of the message, fairly sure of
# the code (InvalidParameterValue).
METADATA_OPTION_INVALID_MSG = "Value ({value}) for parameter {parameter} is invalid. {reason}"
# IAM: "Instance Profile skyplane-aws-f5bf0b19_profile cannot be found." (NoSuchEntity;
# skyplane-project/skyplane pull request #724).  Sure.
PROFILE_NOT_FOUND_MSG = "Instance Profile {name} cannot be found."
# RemoveRoleFromInstanceProfile of a role that is not in the profile: NoSuchEntity;
# AWS's wording is not published (unsure).
ROLE_NOT_IN_PROFILE_MSG = "Role {role} in instance profile {profile} cannot be found."

METADATA_CHOICES = {"HttpTokens": ("optional", "required"), "HttpEndpoint": ("disabled", "enabled")}


class SsmInvalidParameter(EC2ClientError):
    def __init__(self, names: str):
        super().__init__("SsmInvalidParameter", SSM_ALIASES_INVALID_MSG.format(names=names))


class InvalidParameterValue(EC2ClientError):
    def __init__(self, message: str):
        super().__init__("InvalidParameterValue", message)


class InvalidParameter(EC2ClientError):
    def __init__(self, message: str):
        super().__init__("InvalidParameter", message)


class IdempotentParameterMismatch(EC2ClientError):
    def __init__(self) -> None:
        super().__init__("IdempotentParameterMismatch", IDEMPOTENT_MISMATCH_MSG)


# 1. resolve:ssm ---------------------------------------------------------------------------


def resolve_image_id(account_id: str, region: str, image_id: Any) -> Any:
    """The AMI id a ``resolve:ssm:`` image id names; any other image id as it is.

    "To reference a public parameter: resolve:ssm:public-parameter; ... a parameter stored
    in the same account: resolve:ssm:parameter-name, resolve:ssm:parameter-name:version-
    number, resolve:ssm:parameter-name:label; ... shared from another account:
    resolve:ssm:parameter-ARN[:version-number|:label]" - "The Systems Manager parameter
    will resolve to an AMI ID on launch."
    https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_RunInstances.html
    https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/create-launch-template.html#use-an-ssm-parameter-instead-of-an-ami-id
    """
    if not isinstance(image_id, str) or not image_id.startswith(RESOLVE_SSM):
        return image_id
    reference = image_id[len(RESOLVE_SSM):]
    arn = PARAMETER_ARN.match(reference)
    # A parameter ARN holds the name without its leading slash.
    candidates = [f"/{arn['rest']}", arn["rest"]] if arn else [reference]
    ssm = ssm_backends[account_id][region]
    for candidate in candidates:
        try:
            parameter = ssm.get_parameter(candidate)
        except ServiceException:  # ParameterVersionNotFound, ...
            parameter = None
        if parameter is not None and parameter.value:
            return parameter.value
    raise SsmInvalidParameter(reference)


def _load_latest_amis(original: Callable[..., Any], self: ParameterDict) -> None:
    """moto's public ami-amazon-linux-latest parameters, plus the al2023 x86_64 one in a
    region moto has no data for (AWS publishes these public parameters per Region:
    https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-public-parameters-ami.html)."""
    original(self)
    if not dict.__contains__(self, AL2023_X86_64):
        dict.setdefault(self, AL2023_X86_64, []).append(
            Parameter(
                account_id=self.account_id,
                name=AL2023_X86_64,
                value=FALLBACK_AL2023_AMI,
                parameter_type="String",
                description=None,
                allowed_pattern=None,
                keyid=None,
                last_modified_date=utcnow(),
                version=1,
                data_type="text",
            )
        )


# 3. Metadata options ----------------------------------------------------------------------


def _check_metadata_options(options: dict[str, Any]) -> None:
    """HttpTokens optional|required, HttpEndpoint enabled|disabled, HttpPutResponseHopLimit
    "Possible values: Integers from 1 to 64".
    https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_InstanceMetadataOptionsRequest.html
    https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_ModifyInstanceMetadataOptions.html
    """
    for name, choices in METADATA_CHOICES.items():
        value = options.get(name)
        if value is not None and value not in choices:
            raise InvalidParameterValue(
                METADATA_OPTION_INVALID_MSG.format(
                    value=value,
                    parameter=name[0].lower() + name[1:],
                    reason="Valid values: " + ", ".join(choices),
                )
            )
    hop_limit = options.get("HttpPutResponseHopLimit")
    if hop_limit is not None:
        try:
            valid = 1 <= int(hop_limit) <= 64
        except (TypeError, ValueError):
            valid = False
        if not valid:
            raise InvalidParameterValue(
                METADATA_OPTION_INVALID_MSG.format(
                    value=hop_limit,
                    parameter="httpPutResponseHopLimit",
                    reason="Possible values: integers from 1 to 64",
                )
            )


def _modify_instance_metadata_options(
    original: Callable[..., Any], self: InstanceBackend, *args: Any, **kwargs: Any
) -> MetadataOptions:
    """Options not given keep their value; the answer is ``pending``, DescribeInstances
    then shows ``applied``.

    HttpPutResponseHopLimit / HttpEndpoint: "If no parameter is specified, the existing
    state is maintained."  "When you modify the parameters on a running instance, the API
    responds with a state of pending. After the parameter modifications are successfully
    applied to the instance, the state of the modifications changes from pending to
    applied in subsequent describe-instances API calls."
    https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_ModifyInstanceMetadataOptions.html
    (HttpTokens' "Default" there describes a new instance's default; a call without it is
    taken here to keep the current value, as for the other options.)
    """
    call = arguments(original, self, args, kwargs)
    instance = self.get_instance(call["instance_id"])  # InvalidInstanceID.NotFound first
    given = {
        "HttpTokens": call.get("http_tokens"),
        "HttpPutResponseHopLimit": call.get("hop_limit"),
        "HttpEndpoint": call.get("http_endpoint"),
        "HttpProtocolIpv6": call.get("http_protocol"),
        "InstanceMetadataTags": call.get("metadata_tags"),
    }
    _check_metadata_options(given)
    current = instance.metadata_options
    kept = {
        "HttpTokens": current.http_tokens,
        "HttpPutResponseHopLimit": current.http_put_response_hop_limit,
        "HttpEndpoint": current.http_endpoint,
        "HttpProtocolIpv6": current.http_protocol_ipv6,
        "InstanceMetadataTags": current.instance_metadata_tags,
    }
    options = {k: kept[k] if v is None else v for k, v in given.items()}
    instance.metadata_options = MetadataOptions({**options, "State": "applied"})
    answer = copy.copy(instance.metadata_options)
    answer.state = "pending"
    return answer


# 2. Instance profiles -----------------------------------------------------------------------


def _visible(created: float | None) -> bool:
    delay = strict_principals.propagation_seconds()
    return created is None or delay <= 0 or time.monotonic() - created >= delay


def check_instance_profile(account_id: str, partition: str, spec: Any) -> None:
    """RunInstances' IamInstanceProfile: by Name or Arn (not both), existing in the
    account's IAM and visible to EC2, with a role visible to EC2.

    IamInstanceProfile: "The name or Amazon Resource Name (ARN) of an IAM instance
    profile."  https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_RunInstances.html
    "An instance profile can contain only one IAM role" and "If you create the IAM role
    using the AWS CLI or the IAM API, you create the role and instance profile as separate
    actions"
    https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_use_switch-role-ec2_instance-profiles.html
    "Changes that I make are not always immediately visible" (IAM's eventual consistency):
    https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_general.html#troubleshoot_general_eventual-consistency
    """
    spec = spec if isinstance(spec, dict) else {}
    name, arn = spec.get("Name"), spec.get("Arn")
    if name and arn:
        raise InvalidParameterCombination(PROFILE_NAME_AND_ARN_MSG)
    if not name and not arn:
        return
    iam: IAMBackend = iam_backends[account_id][partition]
    profile: InstanceProfile | None = next(
        (
            p
            for p in iam.get_instance_profiles()
            if (p.name == name if name else p.arn == arn)
        ),
        None,
    )
    if profile is None or not _visible(profile.__dict__.get(PROFILE_CREATED_ATTR)):
        raise InvalidParameterValue(
            PROFILE_NAME_INVALID_MSG.format(name=name)
            if name
            else PROFILE_ARN_INVALID_MSG.format(arn=arn)
        )
    if not profile.roles or not _visible(profile.__dict__.get(ROLE_ADDED_ATTR)):
        raise InvalidParameterValue(PROFILE_NO_ROLE_MSG.format(arn=profile.arn))


def _associate_iam_instance_profile(
    original: Callable[..., Any],
    self: IamInstanceProfileAssociationBackend,
    *args: Any,
    **kwargs: Any,
) -> Any:
    """The instance's IamInstanceProfile.Id is the profile's id ("The ID of the instance
    profile."), not the association's.
    https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_IamInstanceProfile.html
    """
    association = original(self, *args, **kwargs)
    instance = getattr(association, "instance", None)
    profile = getattr(association, "iam_instance_profile", None)
    if instance is not None and profile is not None:
        instance.iam_instance_profile = {"Arn": profile.arn, "Id": profile.id}
    return association


# 4. ClientToken idempotency -------------------------------------------------------------------


def _fingerprint(params: Any) -> str:
    """The request's parameters but its client token, comparable across calls."""
    rest = {k: v for k, v in dict(params or {}).items() if k != "ClientToken"}
    return json.dumps(rest, sort_keys=True, default=str)


def _run_instances_response(original: Callable[..., Any], self: InstanceResponse) -> Any:
    """RunInstances: a repeated client token answers the first reservation; the instance
    profile is checked before anything is launched.

    "If you repeat the request with the same client token, the same response is returned
    for each repeated request. The only information that might vary in the response is the
    state of the instance" - "If you repeat the request with the same client token, but
    change another request parameter, Amazon EC2 returns an IdempotentParameterMismatch
    error." - "The client token is valid for at least 24 hours after the termination of
    the instance." - "You can use the same client token for the same request across
    different Regions" (a token is per Region).
    https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-idempotency.html
    ClientToken: "If you do not specify a client token, a randomly generated token is used
    for the request to ensure idempotency."
    https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_RunInstances.html
    """
    params = getattr(self, "params", None) or {}
    token = params.get("ClientToken")
    if not token:
        check_instance_profile(
            self.current_account, self.partition, params.get("IamInstanceProfile")
        )
        return original(self)
    backend = self.ec2_backend
    fingerprint = _fingerprint(params)
    with _CLIENT_TOKENS_LOCK:
        tokens: dict[str, tuple[Any, str]] = backend.__dict__.setdefault(CLIENT_TOKENS_ATTR, {})
        if token in tokens:
            reservation, first = tokens[token]
            if first != fingerprint:
                raise IdempotentParameterMismatch()
            # moto answers every RunInstances with its instances "pending"; a repeated
            # one shows their state now (this response object serves this request only).
            self.RESPONSE_KEY_PATH_TO_TRANSFORMER = {
                path: transform
                for path, transform in self.RESPONSE_KEY_PATH_TO_TRANSFORMER.items()
                if path != RUN_INSTANCES_STATE_PATH
            }
            return ActionResult(reservation)
        check_instance_profile(
            self.current_account, self.partition, params.get("IamInstanceProfile")
        )
        result = original(self)
        reservation = getattr(result, "result", None)
        if reservation is not None and getattr(reservation, "instances", None):
            tokens[token] = (reservation, fingerprint)
        return result


def _run_instances_backend(
    original: Callable[..., Any], self: InstanceBackend, *args: Any, **kwargs: Any
) -> Any:
    """The image id resolved (rule 1), the metadata options checked (rule 3) and the
    security groups in the subnet's VPC (rule 5) before moto launches anything."""
    call = arguments(original, self, args, kwargs)
    call["image_id"] = resolve_image_id(self.account_id, self.region_name, call["image_id"])
    extra = call.pop("kwargs", {})
    _check_metadata_options(extra.get("metadata_options") or {})
    _check_groups_in_subnet_vpc(self, extra.get("subnet_id"), extra.get("security_group_ids"))
    return original(self, **call, **extra)


# 5. Security groups -----------------------------------------------------------------------------


def _check_groups_in_subnet_vpc(backend: Any, subnet_id: Any, group_ids: Any) -> None:
    """RunInstances' security groups are in its subnet's VPC.

    SecurityGroupIds: "The IDs of the security groups." / SubnetId: "The ID of the subnet
    to launch the instance into."  "When you launch an instance in a VPC, you must specify
    a security group that's created for that VPC."
    https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_RunInstances.html
    https://docs.aws.amazon.com/vpc/latest/userguide/vpc-security-groups.html
    (Unknown groups or subnets: moto's own InvalidGroup.NotFound / InvalidSubnetID.NotFound.)
    """
    if not subnet_id or not group_ids:
        return
    try:
        subnet = backend.get_subnet(subnet_id)
    except ServiceException:
        return
    for group_id in group_ids:
        group = (
            backend.get_security_group_from_id(group_id)
            if isinstance(group_id, str)
            else group_id
        )
        if group is not None and group.vpc_id and group.vpc_id != subnet.vpc_id:
            raise InvalidParameter(
                GROUP_SUBNET_NETWORKS_MSG.format(group=group.id, subnet=subnet_id)
            )


def _modify_instance_security_groups(
    original: Callable[..., Any],
    self: InstanceBackend,
    instance_id: str,
    new_group_id_list: list[str],
) -> Any:
    """ModifyInstanceAttribute Groups: "Replaces the security groups of the instance with
    the ones you specify. You must specify the ID of at least one security group, even if
    it's just the default security group for the VPC."
    https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_ModifyInstanceAttribute.html
    "The security group must be in the same VPC" as what it is attached to
    https://docs.aws.amazon.com/vpc/latest/userguide/vpc-security-groups.html
    The groups are those of the instance's primary network interface, so it shows the new
    ones only.  https://docs.aws.amazon.com/vpc/latest/userguide/security-group-rules.html
    """
    ids = (
        [new_group_id_list]
        if isinstance(new_group_id_list, str)
        else list(new_group_id_list or [])
    )
    if not ids:
        # moto reaches this for any request none of its handlers took.
        raise InvalidParameterCombination(NO_ATTRIBUTES_MSG)
    instance = self.get_instance(instance_id)  # InvalidInstanceID.NotFound first
    groups = []
    for group_id in dict.fromkeys(ids):
        group = self.get_security_group_from_id(group_id)
        if group is None:
            raise InvalidSecurityGroupNotFoundError(group_id)
        if instance.vpc_id and group.vpc_id and group.vpc_id != instance.vpc_id:
            raise EC2ClientError("InvalidGroup.NotFound", GROUP_OTHER_NETWORK_MSG)
        groups.append(group)
    result = original(self, instance_id, [g.id for g in groups])
    instance.security_groups = groups
    primary = getattr(instance, "nics", {}).get(0)
    if primary is not None:
        primary._group_set = list(groups)
    return result


# 6. IAM instance profiles -------------------------------------------------------------------------


def _create_instance_profile(
    original: Callable[..., Any], self: IAMBackend, *args: Any, **kwargs: Any
) -> InstanceProfile:
    profile = original(self, *args, **kwargs)
    now = time.monotonic()
    profile.__dict__[PROFILE_CREATED_ATTR] = now
    if profile.roles:
        profile.__dict__[ROLE_ADDED_ATTR] = now
    return profile


def _add_role_to_instance_profile(
    original: Callable[..., Any], self: IAMBackend, profile_name: str, role_name: str
) -> None:
    original(self, profile_name, role_name)
    self.get_instance_profile(profile_name).__dict__[ROLE_ADDED_ATTR] = time.monotonic()


def _get_instance_profile(
    original: Callable[..., Any], self: IAMBackend, profile_name: str
) -> InstanceProfile:
    """NoSuchEntity with IAM's wording (GetInstanceProfile: "The request was rejected
    because it referenced a resource entity that does not exist."
    https://docs.aws.amazon.com/IAM/latest/APIReference/API_GetInstanceProfile.html)."""
    try:
        return original(self, profile_name)
    except NotFoundException:
        raise NotFoundException(PROFILE_NOT_FOUND_MSG.format(name=profile_name))


def _remove_role_from_instance_profile(
    original: Callable[..., Any], self: IAMBackend, profile_name: str, role_name: str
) -> None:
    """A role that is not in the profile: NoSuchEntity ("The request was rejected because
    it referenced a resource entity that does not exist.").
    https://docs.aws.amazon.com/IAM/latest/APIReference/API_RemoveRoleFromInstanceProfile.html
    """
    profile = self.get_instance_profile(profile_name)
    role = self.get_role(role_name)  # moto's NoSuchEntity for a role that does not exist
    if role not in profile.roles:
        raise NotFoundException(
            ROLE_NOT_IN_PROFILE_MSG.format(role=role_name, profile=profile_name)
        )
    return original(self, profile_name, role_name)


class IAMResponseExtension(IamResponse):
    """ListInstanceProfileTags, which moto 5.2.5 lacks (an HTTP 500); added to moto's
    IamResponse by install(), not instantiated itself.
    https://docs.aws.amazon.com/IAM/latest/APIReference/API_ListInstanceProfileTags.html
    """

    def list_instance_profile_tags(self) -> ActionResult:
        profile = self.backend.get_instance_profile(self._get_param("InstanceProfileName"))
        return ActionResult({"Tags": list(profile.tags), "IsTruncated": False})


def install() -> None:
    """Add the rules to moto's EC2, SSM and IAM (idempotent)."""
    wrap_method(ParameterDict, "_load_latest_amis", _load_latest_amis)
    wrap_method(InstanceResponse, "run_instances", _run_instances_response)
    wrap_method(InstanceBackend, "run_instances", _run_instances_backend)
    wrap_method(
        InstanceBackend, "modify_instance_metadata_options", _modify_instance_metadata_options
    )
    wrap_method(
        InstanceBackend, "modify_instance_security_groups", _modify_instance_security_groups
    )
    wrap_method(
        IamInstanceProfileAssociationBackend,
        "associate_iam_instance_profile",
        _associate_iam_instance_profile,
    )
    wrap_method(IAMBackend, "create_instance_profile", _create_instance_profile)
    wrap_method(IAMBackend, "add_role_to_instance_profile", _add_role_to_instance_profile)
    wrap_method(IAMBackend, "get_instance_profile", _get_instance_profile)
    wrap_method(IAMBackend, "remove_role_from_instance_profile", _remove_role_from_instance_profile)
    add_methods(IamResponse, IAMResponseExtension)
