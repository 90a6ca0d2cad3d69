from activities.lane_activities import LaneActivities, LaneSettings
from activities.request_activities import RequestActivities

__all__ = ["LaneActivities", "LaneSettings", "RequestActivities"]
