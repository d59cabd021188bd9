"""The project's Pulumi program (run by the root __main__.py). The stack's name picks what it builds.

The same program serves `pulumi up` by hand and the Automation API (`falcone.pulumi_runner.project_stack`).
"""

import pulumi

from stacks import demo, platform, tenant, workspace

PROGRAMS = {
    "demo": demo.program,
    "platform": platform.program,
    "tenant": tenant.program,
    "workspace": workspace.program,
}

stack = pulumi.get_stack()
kind = stack.split("-", 1)[0]
if kind not in PROGRAMS:
    raise ValueError(f"stack {stack!r}: unknown stack kind {kind!r}; expected one of {', '.join(sorted(PROGRAMS))}")
PROGRAMS[kind]()
