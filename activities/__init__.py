from activities.lane_activities import LaneActivities
from activities.request_activities import RequestActivities

__all__ = ["LaneActivities", "RequestActivities"]
