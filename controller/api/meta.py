"""Shapes every kind of ours shares: the base of the API models and ``metav1.Condition``.

Conventions of every model in :mod:`controller.api` (the CRD schema is generated from them by
:mod:`controller.api.schemagen`):

* Python names are snake_case, the Kubernetes names their camelCase ``alias``; both validate.
* ``Field(description=…)`` is what ``kubectl explain`` shows; class docstrings are for Python readers and never
  reach the CRD. A model used as a whole ``spec`` or ``status`` states its CRD description in
  ``model_config["json_schema_extra"]``.
* Defaults live in the models only: the generated schema has no ``default:`` (Argo CD would see a server-side
  default as a diff, argo-cd issue 11139).
* CEL rules and other Kubernetes extensions go through ``json_schema_extra`` (``x-kubernetes-validations``, …).
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

#: A fresh value on a DatabricksJob starts one run (README "run-now"); JSON parameters for it, optional.
RUN_NOW_ANNOTATION = "dbjobs.io/run-now"
RUN_NOW_PARAMETERS_ANNOTATION = "dbjobs.io/run-now-parameters"


class ApiModel(BaseModel):
    """Base of every API model: frozen, populated by alias or by name, unknown keys ignored."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)


class OpenModel(ApiModel):
    """A status object other parts of the controller fill: unknown keys are kept (``model_extra``), and its
    schema preserves them (``x-kubernetes-preserve-unknown-fields``), so a field added there is never pruned."""

    model_config = ConfigDict(extra="allow")


class ConditionStatus(StrEnum):
    """``metav1.ConditionStatus``."""

    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class Condition(ApiModel):
    """One condition in the ``metav1.Condition`` shape (k8s.io/apimachinery/pkg/apis/meta/v1, ``Condition``):
    ``{type, status, observedGeneration?, lastTransitionTime, reason, message}``. Each kind narrows the
    descriptions of ``type`` and ``reason`` in a subclass."""

    model_config = ConfigDict(
        json_schema_extra={"description": "One condition in the Kubernetes metav1.Condition shape."}
    )

    type: str = Field(max_length=316, description="The condition's type, in CamelCase.")
    status: ConditionStatus = Field(description="True, False or Unknown.")
    observed_generation: int | None = Field(
        default=None,
        ge=0,
        alias="observedGeneration",
        description="The metadata.generation this condition was set for.",
    )
    last_transition_time: dt.datetime = Field(
        alias="lastTransitionTime",
        description="When status last changed (not updated when only reason/message change).",
    )
    reason: str = Field(
        min_length=1, max_length=1024, description="CamelCase reason from the controller's closed vocabulary."
    )
    message: str = Field(max_length=32768, description="What happened and what to do about it, for a person.")


#: ``x-kubernetes-*`` of a ``conditions`` list: a map keyed by ``type`` (server-side apply merges per type).
CONDITIONS_LIST: JsonDict = {"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]}
