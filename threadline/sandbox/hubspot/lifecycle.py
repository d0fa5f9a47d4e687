"""HubSpot's forward-only lifecycle stage: by default a contact's `lifecyclestage` only moves forward.

HubSpot's docs: "The Lifecycle stage is not designed to move backwards. If you need to set
this property to a previous stage, you will first need to set the value to "" (an empty
string) and then set the earlier stage." The simulator refuses a backward move with a 400
VALIDATION_ERROR naming the property, so a connector must handle the refusal explicitly.
"""

from __future__ import annotations

from typing import Any

from threadline.sandbox.hubspot.responses import ApiError

STAGES = ("subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity", "customer",
          "evangelist", "other")
PROPERTY = "lifecyclestage"


def check_forward(current: str | None, values: dict[str, Any], object_id: int) -> None:
    """Raise 400 if `values` would move the stage to one earlier than `current` (or to an unknown stage)."""
    new = values.get(PROPERTY)
    if new in (None, ""):
        return  # clearing is how HubSpot lets a stage go back
    if new not in STAGES:
        raise _invalid(object_id, f'{new} was not one of the allowed options: {", ".join(STAGES)}', "INVALID_OPTION")
    if current in STAGES and STAGES.index(new) < STAGES.index(current):
        raise _invalid(object_id, f"{PROPERTY} cannot move backward from {current} to {new}; "
                       'set it to "" first, then to the earlier stage', "INVALID_LIFECYCLE_STAGE")


def _invalid(object_id: int, message: str, error: str) -> ApiError:
    detail = {"isValid": False, "message": message, "error": error, "name": PROPERTY}
    return ApiError(400, "VALIDATION_ERROR", f"Property values were not valid: [{detail}]",
                    context={"propertyName": [PROPERTY], "id": [str(object_id)]})
