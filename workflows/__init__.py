from workflows.mutation_request import MutationRequestWorkflow
from workflows.state_lane import StateLaneWorkflow

__all__ = ["MutationRequestWorkflow", "StateLaneWorkflow"]
