"""Salesforce CRM adapter (REST API over httpx): JWT bearer / refresh-token auth, SOQL pulls, Tasks.
Uses only the shared adapter helpers one level up (HTTP, retry, rate limits, records, errors)."""

from threadline.adapters.salesforce.adapter import MissingField, SalesforceCrm
from threadline.adapters.salesforce.auth import JwtBearerGrant, RefreshTokenGrant
from threadline.adapters.salesforce.cursor import Position, SalesforceCursor
from threadline.adapters.salesforce.schema import SalesforceNames
from threadline.adapters.salesforce.tasks import ActivitiesRejected
from threadline.adapters.salesforce.translate import ApiLimitExceeded, InvalidField

__all__ = ["ActivitiesRejected", "ApiLimitExceeded", "InvalidField", "JwtBearerGrant", "MissingField", "Position",
           "RefreshTokenGrant", "SalesforceCrm", "SalesforceCursor", "SalesforceNames"]
