from workflows.mutation_request import MutationRequestWorkflow

__all__ = ["MutationRequestWorkflow"]
