"""Shared fixtures: each family lives in its own module and is registered here."""

pytest_plugins = [
    "tests.toolchain_fixtures",
    "tests.platform_fixtures",
    "tests.platform_stack_fixtures",
    "tests.executor_world",
    # one automation service and one executor world per session, whichever suites use them (automation, gateway)
    "tests.automation.service",
]
