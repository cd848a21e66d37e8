"""CloudFormation StackSets with service-managed permissions, as AWS runs them (test
support only).

Checked in moto 5.2.5 first: it has none of the three trusted-access operations, lets any
account create and run a SERVICE_MANAGED stack set, ignores ``CallAs``, expands an OU
target one level deep (its direct child OUs only) and includes the management account, and
DeleteStackInstances ignores ``DeploymentTargets``, so deleting an OU's instances removes
nothing and DeleteStackSet then fails with StackSetNotEmptyException.  Added here:

1. DescribeOrganizationsAccess, ActivateOrganizationsAccess, DeactivateOrganizationsAccess.
   The status belongs to the organization (kept on moto's organization object of the
   management account), and starts DISABLED in a new organization.
2. SERVICE_MANAGED stack sets need the caller to be the organization's management account,
   or a delegated administrator registered for StackSets calling with
   CallAs=DELEGATED_ADMIN; and they need trusted access activated: CreateStackSet,
   UpdateStackSet, CreateStackInstances, UpdateStackInstances and DeleteStackInstances.
3. A delegated administrator's calls (CallAs=DELEGATED_ADMIN) act on the management
   account's stack sets: "StackSets with service-managed permissions are created in the
   management account, including StackSets that are created by delegated administrators."
   https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_CreateStackSet.html
   moto's RegisterDelegatedAdministrator is honoured; install() adds the StackSets service
   principal to the principals it accepts.
4. OU targets of a service-managed stack set cover every account in the OUs and in all
   their nested OUs, never the management account, and honour AccountFilterType/Accounts;
   DeleteStackInstances honours them as CreateStackInstances does.
   https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DeploymentTargets.html
"""

from __future__ import annotations

from typing import Any, Callable

from moto.cloudformation.exceptions import CloudFormationError, ValidationError
from moto.cloudformation.models import (
    CloudFormationBackend,
    StackInstances,
    StackSet,
    cloudformation_backends,
)
from moto.cloudformation.responses import CloudFormationResponse
from moto.core.responses import ActionResult, EmptyResult
from moto.organizations.models import (
    FakeDelegatedAdministrator,
    FakeOrganization,
    OrganizationsBackend,
    organizations_backends,
)

from patching import add_methods, arguments, wrap_method

SERVICE_MANAGED = "SERVICE_MANAGED"
ENABLED = "ENABLED"
DISABLED = "DISABLED"
# The service principal a StackSets delegated administrator is registered for.
# https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/stacksets-orgs-delegated-admin.html
STACKSETS_SERVICE_PRINCIPAL = "member.org.stacksets.cloudformation.amazonaws.com"
ACCESS_STATUS_ATTR = "stacksets_organizations_access"

# AWS's messages, as seen from the API (ValidationError, HTTP 400):
# https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/stacksets-orgs-activate-trusted-access.html
ACCESS_NOT_ENABLED_MSG = (
    "You must enable organizations access to operate a service managed stack set"
)
# terraform-provider-aws issue #22867, aws-root-account PR #1173.
NOT_MANAGEMENT_MSG = (
    "You must be the management account or delegated admin account of an organization "
    "before operating a SERVICE_MANAGED stack set"
)
# terraform-provider-aws PR #37069.
NOT_DELEGATED_ADMIN_MSG = "Account used is not a delegated administrator"


class InvalidOperationException(CloudFormationError):
    """What the three *OrganizationsAccess operations answer for an invalid caller.

    botocore lists only InvalidOperationException and OperationNotFoundException for them;
    AWS's message for a caller outside the management account is not published.
    https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_ActivateOrganizationsAccess.html
    """

    code = "InvalidOperationException"


def _management_backend(account_id: str, partition: str) -> OrganizationsBackend | None:
    """The Organizations backend of the management account of account_id's organization."""
    backend = organizations_backends[account_id][partition]
    if backend.org is not None:
        return backend
    if account_id in organizations_backends.master_accounts:
        management, management_partition = organizations_backends.master_accounts[account_id]
        return organizations_backends[management][management_partition]
    return None


def _organization_managed_by(account_id: str, partition: str) -> FakeOrganization | None:
    """The organization whose management account is account_id, if any."""
    return organizations_backends[account_id][partition].org


def _access_status(organization: FakeOrganization) -> str:
    return organization.__dict__.get(ACCESS_STATUS_ATTR, DISABLED)


def delegated_admin_management_account(account_id: str, partition: str) -> str:
    """The management account a registered StackSets delegated administrator acts for.

    "Your AWS account must be registered as a delegated administrator in the management
    account." (CallAs, in every StackSets operation's API reference.)
    """
    management = _management_backend(account_id, partition)
    if management is None or management.account_id == account_id:
        raise ValidationError(message=NOT_DELEGATED_ADMIN_MSG)
    for admin in management.admins:
        if admin.account.id == account_id and STACKSETS_SERVICE_PRINCIPAL in admin.services:
            return management.account_id
    raise ValidationError(message=NOT_DELEGATED_ADMIN_MSG)


def accounts_in_targets(
    org: OrganizationsBackend, deployment_targets: dict[str, Any]
) -> list[str]:
    """The accounts a service-managed DeploymentTargets names, as AWS resolves them.

    OrganizationalUnitIds (the root or OUs) cover their accounts and those of all nested
    OUs.  AccountFilterType: INTERSECTION (only Accounts within the OUs), DIFFERENCE (the
    OUs' accounts but Accounts), UNION (the OUs' accounts plus Accounts; the default when
    Accounts is given), NONE (the OUs' accounts; the default otherwise).  The management
    account is never a target: "CloudFormation doesn't deploy stack instances to the
    organization management account, even if the organization management account is in
    your organization or in an OU in your organization."
    https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DeploymentTargets.html
    """
    listed = list(deployment_targets.get("Accounts") or [])
    units = set(deployment_targets.get("OrganizationalUnitIds") or [])
    filter_type = deployment_targets.get("AccountFilterType") or (
        "UNION" if listed else "NONE"
    )
    # The OUs and, level by level, all the OUs nested in them.
    frontier = set(units)
    while frontier:
        frontier = {ou.id for ou in org.ou if ou.parent_id in frontier} - units
        units |= frontier
    in_units = [account.id for account in org.accounts if account.parent_id in units]

    if filter_type == "INTERSECTION":
        chosen = [a for a in in_units if a in listed]
    elif filter_type == "DIFFERENCE":
        chosen = [a for a in in_units if a not in listed]
    elif filter_type == "UNION":
        chosen = in_units + [a for a in listed if a not in in_units]
    else:
        chosen = in_units
    management = org.org.master_account_id if org.org else org.account_id
    return [a for a in chosen if a != management]


class CloudFormationBackendExtension(CloudFormationBackend):
    """The methods install() adds to moto's CloudFormationBackend; not instantiated."""

    def _managed_organization(self) -> FakeOrganization:
        """This account's organization, when this account is its management account."""
        organization = _organization_managed_by(self.account_id, self.partition)
        if organization is None:
            raise InvalidOperationException(NOT_MANAGEMENT_MSG)
        return organization

    def describe_organizations_access(self) -> str:
        """DescribeOrganizationsAccess: ENABLED or DISABLED (a new organization: DISABLED).

        https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DescribeOrganizationsAccess.html
        """
        return _access_status(self._managed_organization())

    def activate_organizations_access(self) -> None:
        """ActivateOrganizationsAccess (idempotent).

        https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_ActivateOrganizationsAccess.html
        """
        self._managed_organization().__dict__[ACCESS_STATUS_ATTR] = ENABLED

    def deactivate_organizations_access(self) -> None:
        """DeactivateOrganizationsAccess (idempotent).

        https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DeactivateOrganizationsAccess.html
        """
        self._managed_organization().__dict__[ACCESS_STATUS_ATTR] = DISABLED

    def require_service_managed_access(self) -> None:
        """A SERVICE_MANAGED stack set is run from the management account (a delegated
        administrator's calls arrive here too), with trusted access activated.

        https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/stacksets-orgs-activate-trusted-access.html
        -> ValidationError "You must enable organizations access to operate a service
        managed stack set"; from another account -> ValidationError "You must be the
        management account or delegated admin account of an organization before operating
        a SERVICE_MANAGED stack set".
        """
        organization = _organization_managed_by(self.account_id, self.partition)
        if organization is None:
            raise ValidationError(message=NOT_MANAGEMENT_MSG)
        if _access_status(organization) != ENABLED:
            raise ValidationError(message=ACCESS_NOT_ENABLED_MSG)

    def _require_access_for(self, stackset_name: str) -> StackSet:
        stackset = self.describe_stack_set(stackset_name)
        if stackset.permission_model == SERVICE_MANAGED:
            self.require_service_managed_access()
        return stackset


def _create_stack_set(original: Callable[..., Any], self: Any, *args: Any, **kwargs: Any) -> Any:
    if arguments(original, self, args, kwargs).get("permission_model") == SERVICE_MANAGED:
        self.require_service_managed_access()
    return original(self, *args, **kwargs)


def _on_existing_stack_set(
    original: Callable[..., Any], self: Any, *args: Any, **kwargs: Any
) -> Any:
    """UpdateStackSet, Create/UpdateStackInstances: checked against the stack set."""
    self._require_access_for(arguments(original, self, args, kwargs)["stackset_name"])
    return original(self, *args, **kwargs)


def _targeted_units(deployment_targets: dict[str, Any] | None) -> set[str]:
    return set((deployment_targets or {}).get("OrganizationalUnitIds") or [])


def _create_stack_instances(
    original: Callable[..., Any], self: Any, *args: Any, **kwargs: Any
) -> Any:
    """CreateStackInstances: the stack set records the OUs it was deployed to, as AWS's
    DescribeStackSet reports them (`OrganizationalUnitIds`: "the organization root ID or
    organizational unit (OU) IDs that you specified for DeploymentTargets",
    https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_StackSet.html),
    also those without any account, which get no instance."""
    given = arguments(original, self, args, kwargs)
    result = original(self, *args, **kwargs)
    stackset = self.describe_stack_set(given["stackset_name"])
    if stackset.permission_model == SERVICE_MANAGED:
        units = set(getattr(stackset, "organizational_unit_ids", []) or [])
        units |= _targeted_units(given.get("deployment_targets"))
        stackset.organizational_unit_ids = sorted(units)
    return result


def _delete_stack_instances(
    original: Callable[..., Any],
    self: Any,
    stackset_name: str,
    accounts: list[str],
    regions: list[str],
    deployment_targets: dict[str, Any] | None = None,
) -> StackSet:
    """DeleteStackInstances, with the DeploymentTargets moto ignores resolved as
    CreateStackInstances resolves them (moto records one instance per account/region)."""
    stackset = self._require_access_for(stackset_name)
    accounts = list(accounts or [])
    if deployment_targets and stackset.permission_model == SERVICE_MANAGED:
        org = stackset.instances.org_backend
        accounts += [
            a for a in accounts_in_targets(org, deployment_targets) if a not in accounts
        ]
    result = original(self, stackset_name, accounts, regions)
    # An OU the deletion targeted is no longer deployed to once none of its accounts has an
    # instance left (an OU without accounts never had one).
    if deployment_targets and stackset.permission_model == SERVICE_MANAGED:
        org = stackset.instances.org_backend
        remaining = {i.account_id for i in stackset.stack_instances}
        units = set(getattr(stackset, "organizational_unit_ids", []) or [])
        for unit in _targeted_units(deployment_targets):
            if not remaining & set(accounts_in_targets(org, {"OrganizationalUnitIds": [unit]})):
                units.discard(unit)
        stackset.organizational_unit_ids = sorted(units)
    return result


def _create_instances(
    original: Callable[..., Any],
    self: StackInstances,
    accounts: list[str],
    regions: list[str],
    parameters: Any,
    deployment_targets: dict[str, Any],
    permission_model: str,
) -> Any:
    """Resolve service-managed OU targets as AWS does (all nested OUs, no management
    account), then let moto record one instance per account and region."""
    if permission_model == SERVICE_MANAGED and deployment_targets.get(
        "OrganizationalUnitIds"
    ):
        resolved = accounts_in_targets(self.org_backend, deployment_targets)
        accounts = list(accounts or []) + [a for a in resolved if a not in (accounts or [])]
        deployment_targets = {}
    return original(self, accounts, regions, parameters, deployment_targets, permission_model)


class CloudFormationResponseExtension(CloudFormationResponse):
    """The members install() adds to moto's CloudFormationResponse; not instantiated."""

    @property
    def cloudformation_backend(self) -> CloudFormationBackendExtension:
        """The backend a call acts on: the caller's, or with CallAs=DELEGATED_ADMIN that of
        the management account the registered delegated administrator acts for."""
        call_as = self._get_param("CallAs") or "SELF"
        account_id = self.current_account
        if call_as == "DELEGATED_ADMIN":
            account_id = delegated_admin_management_account(account_id, self.partition)
        elif call_as != "SELF":
            raise ValidationError(
                message=f"1 validation error detected: Value '{call_as}' at 'callAs' "
                "failed to satisfy constraint: Member must satisfy enum value set: "
                "[SELF, DELEGATED_ADMIN]"
            )
        return cloudformation_backends[account_id][self.region]  # type: ignore[return-value]

    def describe_organizations_access(self) -> ActionResult:
        status = self.cloudformation_backend.describe_organizations_access()
        return ActionResult({"Status": status})

    def activate_organizations_access(self) -> ActionResult:
        self.cloudformation_backend.activate_organizations_access()
        return EmptyResult()

    def deactivate_organizations_access(self) -> ActionResult:
        self.cloudformation_backend.deactivate_organizations_access()
        return EmptyResult()

    def delete_stack_instances(self) -> ActionResult:
        # moto's reads Accounts and Regions only.
        stackset = self.cloudformation_backend.delete_stack_instances(
            self._get_param("StackSetName"),
            self._get_param("Accounts", []),
            self._get_param("Regions", []),
            deployment_targets=self._get_params().get("DeploymentTargets"),
        )
        return ActionResult({"OperationId": stackset.operations[-1]["OperationId"]})


def install() -> None:
    """Add the operations and rules to moto's CloudFormation service (idempotent)."""
    add_methods(CloudFormationBackend, CloudFormationBackendExtension)
    add_methods(CloudFormationResponse, CloudFormationResponseExtension)
    wrap_method(CloudFormationBackend, "create_stack_set", _create_stack_set)
    for name in ("update_stack_set", "create_stack_instances", "update_stack_instances"):
        wrap_method(CloudFormationBackend, name, _on_existing_stack_set)
    wrap_method(CloudFormationBackend, "create_stack_instances", _create_stack_instances)
    wrap_method(CloudFormationBackend, "delete_stack_instances", _delete_stack_instances)
    wrap_method(StackInstances, "create_instances", _create_instances)
    if STACKSETS_SERVICE_PRINCIPAL not in FakeDelegatedAdministrator.SUPPORTED_SERVICES:
        FakeDelegatedAdministrator.SUPPORTED_SERVICES.append(STACKSETS_SERVICE_PRINCIPAL)
