"""Activities of the request and lane workflows. Installed as ``mutator.activities``."""

from mutator.activities.lane_activities import LaneActivities, LaneSettings
from mutator.activities.request_activities import RequestActivities

__all__ = ["LaneActivities", "LaneSettings", "RequestActivities"]
