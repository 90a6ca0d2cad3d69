"""Activities of the request and lane workflows. Installed as ``mutator.activities``."""

from mutator.activities.dependencies import DependencyActivities
from mutator.activities.lane_activities import LaneActivities, LaneSettings
from mutator.activities.request_activities import RequestActivities
from mutator.activities.simulation import SimulationActivities
from mutator.activities.supersede import SupersedeActivities
from mutator.activities.version_resolution import VersionResolutionActivities

__all__ = [
    "DependencyActivities",
    "LaneActivities",
    "LaneSettings",
    "RequestActivities",
    "SimulationActivities",
    "SupersedeActivities",
    "VersionResolutionActivities",
]
