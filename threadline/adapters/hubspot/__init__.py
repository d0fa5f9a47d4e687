"""HubSpot CRM adapter (CRM v3/v4 over httpx).
Uses only the shared adapter helpers one level up (HTTP, retry, rate limits, records, errors)."""

from threadline.adapters.hubspot.adapter import HubSpotCrm
from threadline.adapters.hubspot.cursor import HubSpotCursor
from threadline.adapters.hubspot.emails import ActivitiesRejected
from threadline.adapters.hubspot.fields import LifecycleStageRefused
from threadline.adapters.hubspot.schema import SchemaNames
from threadline.adapters.hubspot.tasks import TasksRejected

__all__ = ["ActivitiesRejected", "HubSpotCrm", "HubSpotCursor", "LifecycleStageRefused", "SchemaNames",
           "TasksRejected"]
