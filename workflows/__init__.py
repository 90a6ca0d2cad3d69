"""Temporal workflow code only: deterministic, no I/O. Installed as ``mutator.workflows``.

The folder sits at the repository root; ``mutator/workflows`` is a symlink to it, so the
one installed top-level package is ``mutator``.

Deliberately empty: importing every workflow module here would make each workflow run pay
for all of them. Import from the submodules (mutator.workflows.mutation_request,
mutator.workflows.state_lane).
"""
