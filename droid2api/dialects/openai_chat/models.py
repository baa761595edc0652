"""The configured models in OpenAI's list shape (``GET /v1/models``), which the Chat and Responses fronts share."""

from __future__ import annotations


def model_entry(model, created: int) -> dict:
    return {"id": model.id, "object": "model", "created": created, "owned_by": model.provider,
            "name": model.name or model.id, "type": model.type}


def model_list(models, created: int) -> dict:
    return {"object": "list", "data": [model_entry(model, created) for model in models]}
