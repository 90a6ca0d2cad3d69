from activities.request_activities import RequestActivities

__all__ = ["RequestActivities"]
