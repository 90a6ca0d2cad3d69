"""Temporal workflow code only: deterministic, no I/O.

Deliberately empty: the sandbox re-imports a workflow's package for every new run, so
importing every workflow module here would make each run pay for all of them. Import
from the submodules (workflows.mutation_request, workflows.state_lane).
"""
