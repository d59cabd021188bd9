"""Entry point of the project's Pulumi program (Pulumi.yaml); the program itself is stacks/program.py.

It sits at the repository root so the program's working directory is the project root, where the Pulumi.yaml
`virtualenv: .venv` option (also used by the dynamic-provider plugin) resolves.
"""

import stacks.program  # noqa: F401  (registers the stack's resources on import)
