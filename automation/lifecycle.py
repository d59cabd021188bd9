"""What each operation kind does: the handlers the dispatcher runs, one per kind, and the permission a retry
of that kind needs.

Desired state lives in the metadata rows (tenant plan, workspace settings and applications); a handler reads it
when it starts, so several queued updates of one stack converge on the latest, and records the generation it
applied. Every Pulumi run goes through the engine in a worker thread.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from automation import conditions
from automation.authorization import Action
from automation.operations.dispatcher import Handler, OperationFailed, RunContext
from automation.tenants import repository as tenants
from automation.workspaces import repository as workspaces
from falcone.drift import Status
from falcone.naming import TenantNames, WorkspaceNames

KIND_ACTIONS: dict[str, Action] = {
    "tenant.create": Action.TENANT_CREATE,
    "tenant.update": Action.TENANT_UPDATE,
    "tenant.repair": Action.TENANT_UPDATE,
    "tenant.suspend": Action.TENANT_UPDATE,
    "tenant.resume": Action.TENANT_UPDATE,
    "tenant.delete": Action.TENANT_DELETE,
    "tenant.preview": Action.STACK_PREVIEW,
    "tenant.drift": Action.STACK_DRIFT,
    "workspace.create": Action.WORKSPACE_CREATE,
    "workspace.update": Action.WORKSPACE_UPDATE,
    "workspace.repair": Action.WORKSPACE_UPDATE,
    "workspace.delete": Action.WORKSPACE_DELETE,
    "workspace.preview": Action.STACK_PREVIEW,
    "workspace.drift": Action.STACK_DRIFT,
}


def tenant_config(tenant: dict[str, Any]) -> dict[str, str]:
    return {"plan": tenant["plan"]}


def workspace_config(workspace: dict[str, Any], applications: dict[str, list[str]]) -> dict[str, str]:
    settings = workspace["settings"]
    config = {
        "tables": json.dumps(settings.get("tables", [])),
        "applications": json.dumps(applications["application"]),
        "serviceAccounts": json.dumps(applications["service_account"]),
    }
    if "topics" in settings:
        config["topics"] = json.dumps(settings["topics"])
    return config


async def _tenant(context: RunContext) -> dict[str, Any]:
    async with context.pool.acquire() as connection:
        tenant = await tenants.get(connection, context.operation["tenant"])
    if tenant is None:
        raise OperationFailed(f"tenant {context.operation['tenant']!r} no longer exists")
    return tenant


async def _workspace(context: RunContext) -> tuple[dict[str, Any], dict[str, list[str]]]:
    op = context.operation
    async with context.pool.acquire() as connection:
        workspace = await workspaces.get(connection, op["tenant"], op["workspace"])
        applications = await workspaces.application_names(connection, op["tenant"], op["workspace"])
    if workspace is None:
        raise OperationFailed(f"workspace {op['tenant']}/{op['workspace']} no longer exists")
    return workspace, applications


class TenantApply:
    """tenant.create / tenant.update / tenant.repair (refresh first, so out-of-band changes are repaired)."""

    async def run(self, context: RunContext) -> dict[str, Any]:
        tenant = await _tenant(context)
        stack, repair = TenantNames(tenant["slug"]).stack, context.operation["kind"] == "tenant.repair"
        outputs = await context.in_thread(
            lambda on_event: context.engine.up(
                stack, tenant_config(tenant), on_event, message=context.message, tags=context.tags, refresh=repair
            )
        )
        async with context.pool.acquire() as connection:
            await tenants.applied(
                connection,
                tenant["slug"],
                generation=tenant["generation"],
                outputs=outputs,
                conditions=conditions.applied(),
            )
        return outputs

    async def failed(self, context: RunContext, reason: str) -> None:
        first = context.operation["kind"] == "tenant.create"
        async with context.pool.acquire() as connection:
            await tenants.merge_conditions(
                connection,
                context.operation["tenant"],
                conditions.apply_failed(reason, first_apply=first),
                state="failed" if first else None,
            )


class TenantDelete:
    async def run(self, context: RunContext) -> dict[str, Any]:
        slug = context.operation["tenant"]
        async with context.pool.acquire() as connection:
            remaining = [w["slug"] for w in await workspaces.of_tenant(connection, slug)]
        if remaining:
            raise OperationFailed(f"the tenant still has workspaces {remaining}; delete them first (or retry)")
        await context.in_thread(
            lambda on_event: context.engine.destroy(TenantNames(slug).stack, on_event, message=context.message)
        )
        async with context.pool.acquire() as connection:
            await tenants.delete(connection, slug)
        return {}

    async def failed(self, context: RunContext, reason: str) -> None:
        async with context.pool.acquire() as connection:
            await tenants.merge_conditions(
                connection,
                context.operation["tenant"],
                {"Ready": conditions.condition("False", "DeleteFailed", reason)},
            )


class TenantState:
    """tenant.suspend / tenant.resume: the data plane refuses a suspended tenant's credentials; nothing is
    destroyed, so resuming is immediate."""

    async def run(self, context: RunContext) -> dict[str, Any]:
        state = "suspended" if context.operation["kind"] == "tenant.suspend" else "active"
        async with context.pool.acquire() as connection:
            await tenants.set_state(connection, context.operation["tenant"], state)
        return {"state": state}

    async def failed(self, context: RunContext, reason: str) -> None:
        """Nothing to undo: the state did not change."""


class WorkspaceApply:
    async def run(self, context: RunContext) -> dict[str, Any]:
        op = context.operation
        async with context.pool.acquire() as connection:
            tenant = await tenants.get(connection, op["tenant"])
        if tenant is None or tenant["state"] not in ("active", "suspended"):
            state = tenant["state"] if tenant else "gone"
            raise OperationFailed(f"tenant {op['tenant']!r} is {state}; its workspaces wait until it is active")
        workspace, applications = await _workspace(context)
        stack = WorkspaceNames(op["tenant"], op["workspace"]).stack
        outputs = await context.in_thread(
            lambda on_event: context.engine.up(
                stack,
                workspace_config(workspace, applications),
                on_event,
                message=context.message,
                tags=context.tags,
                refresh=op["kind"] == "workspace.repair",
            )
        )
        async with context.pool.acquire() as connection:
            await workspaces.applied(
                connection,
                op["tenant"],
                op["workspace"],
                generation=workspace["generation"],
                outputs=outputs,
                conditions=conditions.applied(),
            )
        return outputs

    async def failed(self, context: RunContext, reason: str) -> None:
        op = context.operation
        first = op["kind"] == "workspace.create"
        async with context.pool.acquire() as connection:
            await workspaces.merge_conditions(
                connection,
                op["tenant"],
                op["workspace"],
                conditions.apply_failed(reason, first_apply=first),
                state="failed" if first else None,
            )


class WorkspaceDelete:
    async def run(self, context: RunContext) -> dict[str, Any]:
        op = context.operation
        stack = WorkspaceNames(op["tenant"], op["workspace"]).stack
        await context.in_thread(lambda on_event: context.engine.destroy(stack, on_event, message=context.message))
        async with context.pool.acquire() as connection, connection.transaction():
            await workspaces.delete(connection, op["tenant"], op["workspace"])
        return {}

    async def failed(self, context: RunContext, reason: str) -> None:
        op = context.operation
        async with context.pool.acquire() as connection:
            await workspaces.merge_conditions(
                connection,
                op["tenant"],
                op["workspace"],
                {"Ready": conditions.condition("False", "DeleteFailed", reason)},
            )


class Preview:
    """What an apply would do now, with the desired state plus the operation's proposed changes; no effect."""

    async def run(self, context: RunContext) -> dict[str, Any]:
        op = context.operation
        if op["workspace"] is None:
            tenant = await _tenant(context)
            stack, config = TenantNames(op["tenant"]).stack, {**tenant_config(tenant), **op["params"].get("config", {})}
        else:
            workspace, applications = await _workspace(context)
            stack = WorkspaceNames(op["tenant"], op["workspace"]).stack
            config = {**workspace_config(workspace, applications), **op["params"].get("config", {})}
        report = await context.in_thread(lambda _on_event: context.engine.preview(stack, config))
        if report.status is Status.FAILED:
            raise OperationFailed(report.error)
        return asdict(report)

    async def failed(self, context: RunContext, reason: str) -> None:
        """A preview changes nothing, so its failure changes no status."""


class DriftCheck:
    async def run(self, context: RunContext) -> dict[str, Any]:
        op = context.operation
        if op["workspace"] is None:
            stack = TenantNames(op["tenant"]).stack
        else:
            stack = WorkspaceNames(op["tenant"], op["workspace"]).stack
        report = await context.in_thread(lambda _on_event: context.engine.check_drift(stack))
        if report.status is Status.FAILED:
            raise OperationFailed(report.error)
        drifted = report.status is Status.DRIFTED
        message = ", ".join(f"{c.operation} {c.urn.rsplit('::', 1)[-1]} {c.properties}" for c in report.changes)
        async with context.pool.acquire() as connection:
            found = conditions.drift(drifted, message[:2000] or "no changes found")
            if op["workspace"] is None:
                await tenants.merge_conditions(connection, op["tenant"], found)
            else:
                await workspaces.merge_conditions(connection, op["tenant"], op["workspace"], found)
        return asdict(report)

    async def failed(self, context: RunContext, reason: str) -> None:
        op = context.operation
        unknown = {"Drifted": conditions.condition("Unknown", "CheckFailed", reason)}
        async with context.pool.acquire() as connection:
            if op["workspace"] is None:
                await tenants.merge_conditions(connection, op["tenant"], unknown)
            else:
                await workspaces.merge_conditions(connection, op["tenant"], op["workspace"], unknown)


def handlers() -> dict[str, Handler]:
    tenant_apply, workspace_apply, tenant_state = TenantApply(), WorkspaceApply(), TenantState()
    preview, drift = Preview(), DriftCheck()
    table: dict[str, Handler] = {
        "tenant.create": tenant_apply,
        "tenant.update": tenant_apply,
        "tenant.repair": tenant_apply,
        "tenant.suspend": tenant_state,
        "tenant.resume": tenant_state,
        "tenant.delete": TenantDelete(),
        "tenant.preview": preview,
        "tenant.drift": drift,
        "workspace.create": workspace_apply,
        "workspace.update": workspace_apply,
        "workspace.repair": workspace_apply,
        "workspace.delete": WorkspaceDelete(),
        "workspace.preview": preview,
        "workspace.drift": drift,
    }
    assert set(table) == set(KIND_ACTIONS)
    return table
