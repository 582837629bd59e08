"""What the item routes answer, described for `/openapi.json` (contract sections 3 and 7).

The routes write the use case's dicts straight out with orjson (`api.Json`); these models only
describe those dicts, so a client generated from the schema knows an item's shape. They are
never used to validate or convert an answer. Keys may be added in later versions
(`additionalProperties`), none renamed: scripts are written against them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ItemListed", "ItemShown"]

Light = Literal["green", "yellow", "red"]


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class ItemListed(_Open):
    """One line of `item list --json`."""

    id: int
    workflow: str
    state: str
    state_label: str
    unit: str
    assignee: str | None
    due_at: datetime | None = Field(description="the deadline, ISO-8601 with offset")
    light: Light | None = Field(description="null when the state has no deadline")
    subject: str | None = None
    description: str = Field("", description="the item's headline field, as a line of text")


class HistoryEntry(_Open):
    trigger: str
    source: str | None
    dest: str | None
    actor: str = Field(description="a person id, or `system`")
    actor_name: str | None = None
    at: datetime
    comment: str | None
    kind: str = Field(description="create, transition, escalation, signature, assign, …")
    data: dict[str, Any] | None = None
    via: Literal["cli", "web", "api", "system"]


class AppliedEscalation(_Open):
    state: str | None
    step: int | None = Field(description="the step of the state's ladder, counted from 1")
    at: datetime
    action: str
    level: str | None = None
    late: bool = False


class PendingEscalation(_Open):
    state: str
    step: int
    at: datetime
    action: str
    late: bool = False


class ExtensionRequest(_Open):
    """延期申请 waiting for a decision."""

    id: int
    requested_by: str
    requested_at: datetime
    due_requested: datetime
    reason: str


class Signature(_Open):
    """A 会签 signature given so far in this state entry."""

    trigger: str
    actor: str
    roles: list[str]
    at: datetime
    comment: str | None = None


class ItemShown(_Open):
    """`item show --json`: the item, its history, escalations and the triggers you may fire."""

    id: int
    workflow: str
    version: int
    state: str
    state_label: str
    unit: str
    unit_name: str | None = None
    subject: str | None = None
    assignee: str | None
    assignee_name: str | None = None
    creator: str | None = None
    due_at: datetime | None
    light: Light | None
    due_provisional: bool
    fields: dict[str, Any]
    hidden_fields: list[str] = Field(
        default_factory=list, description="private fields you may not read (their values "
                                          "are left out of `fields`)")
    history: list[HistoryEntry]
    escalations: list[AppliedEscalation]
    pending_escalations: list[PendingEscalation] = Field(default_factory=list)
    triggers: list[str] = Field(description="what you may fire now")
    extension: ExtensionRequest | None
    signatures: list[Signature]
    awaited: dict[str, str] = Field(
        default_factory=dict, description="per countersigned trigger: who must still sign")
