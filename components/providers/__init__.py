"""Python dynamic providers: real create/read/diff/update/delete against the platform's servers.

Why they exist: `pulumi-postgresql` has no RLS-policy resource and nothing manages Mongo users, and the module proxy
reachable here refuses the Terraform-bridged provider modules (docs/toolchain.md), so Falcone manages those backends
with providers of its own. They run in the engine's `pulumi-resource-pulumi-python` plugin, so state, diffs,
refresh and drift detection work as for any provider: `read` always reports what the server really holds.

Conventions, shared by every module here:
- each resource takes a `connection` input (admin endpoint + credentials of its server), kept secret in state;
- `read` returns the server's live state as outputs and `id=""` when the object is gone, so refresh sees drift;
- `diff` names the properties that force a replacement; everything else is updated in place;
- providers are plain classes in importable modules: dill pickles them by reference, and the provider process
  imports them from the project's virtualenv.
"""
