"""HubSpot CRM adapter (CRM v3/v4 over httpx)."""

from threadline.adapters.hubspot.adapter import HubSpotCrm
from threadline.adapters.hubspot.cursor import HubSpotCursor
from threadline.adapters.hubspot.emails import ActivitiesRejected
from threadline.adapters.hubspot.fields import LifecycleStageRefused
from threadline.adapters.hubspot.schema import SchemaNames
from threadline.adapters.hubspot.tasks import TasksRejected

__all__ = ["ActivitiesRejected", "HubSpotCrm", "HubSpotCursor", "LifecycleStageRefused", "SchemaNames",
           "TasksRejected"]
