"""The bare Temporal baseline: wait for one signal, then run two trivial activities.

Kept in its own tiny module on purpose: the workflow sandbox re-executes a workflow's
module for every run, so a baseline defined beside the benchmark's own code would pay for
importing that code on every workflow and look slower than bare Temporal is.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow

BASELINE_WORKFLOW = "BenchBaseline"
BASELINE_ACTIVITY = "bench.baseline_step"
BASELINE_SIGNAL = "go"


@activity.defn(name=BASELINE_ACTIVITY)
def baseline_step(value: int) -> int:
    return value + 1


@workflow.defn(name=BASELINE_WORKFLOW)
class BaselineWorkflow:
    def __init__(self) -> None:
        self.amount: int | None = None

    @workflow.signal(name=BASELINE_SIGNAL)
    def go(self, amount: int) -> None:
        self.amount = amount

    @workflow.run
    async def run(self, state_id: str) -> int:
        await workflow.wait_condition(lambda: self.amount is not None)
        assert self.amount is not None
        first: int = await workflow.execute_activity(
            baseline_step, self.amount, start_to_close_timeout=timedelta(seconds=30)
        )
        second: int = await workflow.execute_activity(
            baseline_step, first, start_to_close_timeout=timedelta(seconds=30)
        )
        return second
