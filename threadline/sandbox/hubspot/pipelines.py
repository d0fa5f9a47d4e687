"""Deal pipelines and their stages (`GET /crm/v3/pipelines/deals`), as a new portal has them.

A stage's `metadata` holds strings, as HubSpot answers: `isClosed` ("true" for
closed won and closed lost) and `probability` ("1.0" won, "0.0" lost). A deal's
`dealstage` must be a stage of its `pipeline` (default: "default").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.requests import Request

from threadline.sandbox.hubspot.responses import ApiError

STAMP = "2024-01-01T00:00:00.000Z"
#: (stage id, label, probability, closed) of the default "Sales Pipeline".
DEFAULT_STAGES: tuple[tuple[str, str, float, bool], ...] = (
    ("appointmentscheduled", "Appointment Scheduled", 0.2, False),
    ("qualifiedtobuy", "Qualified To Buy", 0.4, False),
    ("presentationscheduled", "Presentation Scheduled", 0.6, False),
    ("decisionmakerboughtin", "Decision Maker Bought-In", 0.8, False),
    ("contractsent", "Contract Sent", 0.9, False),
    ("closedwon", "Closed Won", 1.0, True),
    ("closedlost", "Closed Lost", 0.0, True),
)


def stage(stage_id: str, label: str, probability: float, closed: bool, order: int) -> dict[str, Any]:
    """One stage in HubSpot's PipelineStage shape."""
    return {"id": stage_id, "label": label, "displayOrder": order,
            "metadata": {"isClosed": "true" if closed else "false", "probability": str(probability)},
            "createdAt": STAMP, "updatedAt": STAMP, "archived": False, "writePermissions": "CRM_PERMISSIONS_ENFORCEMENT"}


def pipeline(pipeline_id: str, label: str, stages: Sequence[tuple[str, str, float, bool]],
             order: int = 0) -> dict[str, Any]:
    """One pipeline in HubSpot's Pipeline shape."""
    return {"id": pipeline_id, "label": label, "displayOrder": order,
            "stages": [stage(*spec, order=i) for i, spec in enumerate(stages)],
            "createdAt": STAMP, "updatedAt": STAMP, "archived": False}


class Pipelines:
    """The portal's deal pipelines. Caller holds the sandbox lock."""

    def __init__(self) -> None:
        self.deals: list[dict[str, Any]] = [pipeline("default", "Sales Pipeline", DEFAULT_STAGES)]

    def add(self, pipeline_id: str, label: str, stages: Sequence[tuple[str, str, float, bool]]) -> None:
        self.deals.append(pipeline(pipeline_id, label, stages, order=len(self.deals)))

    def check_stage(self, values: dict[str, str | None], current: dict[str, str] | None = None) -> None:
        """A deal's `dealstage` must belong to its pipeline (HubSpot's VALIDATION_ERROR otherwise)."""
        current = current or {}
        stage_id = values.get("dealstage") or current.get("dealstage")
        if not stage_id:
            return
        pipeline_id = values.get("pipeline") or current.get("pipeline") or "default"
        found = next((p for p in self.deals if p["id"] == pipeline_id), None)
        if found is None or stage_id not in {s["id"] for s in found["stages"]}:
            raise ApiError(400, "VALIDATION_ERROR", f"Property values were not valid: {stage_id} was not one of the "
                           f"allowed options for dealstage in pipeline {pipeline_id}",
                           context={"propertyName": ["dealstage"]})


def list_pipelines(crm: Any, request: Request, body: Any) -> tuple[int, Any]:
    """GET /crm/v3/pipelines/{objectType}: deals have pipelines here; other types answer 400."""
    object_type = request.path_params["object_type"]
    if object_type not in ("deals", "0-3"):
        raise ApiError(400, "VALIDATION_ERROR", f"Unable to infer object type from: {object_type}")
    return 200, {"results": list(crm.pipelines.deals)}


def get_pipeline(crm: Any, request: Request, body: Any) -> tuple[int, Any]:
    """GET /crm/v3/pipelines/{objectType}/{pipelineId}: 404 for an unknown id."""
    _, pipelines = list_pipelines(crm, request, body)
    wanted = request.path_params["pipeline_id"]
    found = next((p for p in pipelines["results"] if p["id"] == wanted), None)
    if found is None:
        raise ApiError(404, "OBJECT_NOT_FOUND", f"Unable to find pipeline {wanted}")
    return 200, found


ROUTES = [
    ("GET", "/crm/v3/pipelines/{object_type}", list_pipelines, "pipelines"),
    ("GET", "/crm/v3/pipelines/{object_type}/{pipeline_id}", get_pipeline, "pipelines/get"),
]
