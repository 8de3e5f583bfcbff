"""A behavioural HubSpot: contacts with a unique email, batch upsert by email, batch update by
object id, deletions (a deleted contact's id answers OBJECT_NOT_FOUND, its email is free again).

Request bodies are deserialised into hubspot-api-client's own models (BatchInputSimplePublic
ObjectBatchInputUpsert / ...BatchInput), so a request the SDK's model rejects fails the test.
Responses follow the v3 contacts OpenAPI spec: SimplePublicUpsertObject / SimplePublicObject,
StandardError in `errors` with 207 Multi-Status.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import responses

BASE = "https://api.hubapi.com/crm/v3/objects/contacts"
UPSERT, UPDATE = f"{BASE}/batch/upsert", f"{BASE}/batch/update"
STAMP = "2026-11-24T15:20:05.112Z"


def sdk_model(name: str, body: dict[str, Any]) -> Any:
    """Deserialise `body` with the SDK's ApiClient exactly as it reads an API answer; raises on
    a shape its model does not allow (a missing required field, a wrong type)."""
    from hubspot.crm.contacts import ApiClient, Configuration

    class Raw:
        data = json.dumps(body)

    config = Configuration()
    config.client_side_validation = True  # the SDK leaves its models' required checks off by default
    return ApiClient(config).deserialize(Raw(), name)


@dataclass
class FakeHubSpot:
    contacts: dict[str, dict[str, Any]] = field(default_factory=dict)  # object id -> contact
    deleted: set[str] = field(default_factory=set)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    next_id: int = 51001
    by_id: list[str] = field(default_factory=list)  # ids written by id, in order
    creates: int = 0

    def install(self, mock: Any = responses) -> FakeHubSpot:
        mock.add_callback(mock.POST, UPSERT, callback=self._upsert, content_type="application/json")
        mock.add_callback(mock.POST, UPDATE, callback=self._update, content_type="application/json")
        return self

    # ---- what the CRM holds -------------------------------------------------------------
    def create(self, email: str, **properties: str) -> str:
        """A contact made in HubSpot itself (before Chorus, or by a sales rep)."""
        object_id = str(self.next_id)
        self.next_id += 1
        self.contacts[object_id] = {"email": email, **properties}
        return object_id

    add = create

    def email_of(self, object_id: str) -> str:
        return self.contacts[object_id]["email"]

    def set_email(self, object_id: str, email: str) -> None:
        self.contacts[object_id]["email"] = email

    def score(self, object_id: str) -> Any:
        return self.contacts[object_id].get("chorus_advocate_score")

    def by_email(self, email: str) -> str | None:
        # HubSpot's email is unique per portal and matched without regard to case
        return next(
            (i for i, c in self.contacts.items() if (c.get("email") or "").lower() == email.lower()), None
        )

    def delete(self, object_id: str) -> None:
        self.contacts.pop(object_id)
        self.deleted.add(object_id)

    def emails(self) -> list[str]:
        return sorted(c["email"] for c in self.contacts.values())

    # ---- the API ------------------------------------------------------------------------
    def _upsert(self, request) -> tuple[int, dict, str]:
        body = json.loads(request.body)
        sdk_model("BatchInputSimplePublicObjectBatchInputUpsert", body)
        self.calls.append(("upsert", body))
        results = []
        for entry in body["inputs"]:
            assert entry["idProperty"] == "email", "contacts upsert on the unique email property"
            object_id = self.by_email(entry["id"])
            new = object_id is None
            if new:
                object_id = self.create(entry["id"])
                self.creates += 1
            self.contacts[object_id].update(entry["properties"])
            results.append(self._object(object_id, entry, new=new))
        answer = self._batch(results, [])
        sdk_model("BatchResponseSimplePublicUpsertObject", answer)
        return 200, {}, json.dumps(answer)

    def _update(self, request) -> tuple[int, dict, str]:
        body = json.loads(request.body)
        sdk_model("BatchInputSimplePublicObjectBatchInput", body)
        self.calls.append(("update", body))
        results, missing = [], []
        for entry in body["inputs"]:
            assert "idProperty" not in entry, "an update by record id names no idProperty"
            if entry["id"] not in self.contacts:
                missing.append(entry["id"])
                continue
            email = entry["properties"].get("email")
            if email and self.by_email(email) not in (None, entry["id"]):
                raise AssertionError("HubSpot refuses a second contact with one email")
            self.contacts[entry["id"]].update(entry["properties"])
            self.by_id.append(entry["id"])
            results.append(self._object(entry["id"], entry))
        errors = []
        if missing:
            errors.append(
                {
                    "status": "error",
                    "category": "OBJECT_NOT_FOUND",
                    "message": "Could not get some CONTACT objects, they may be deleted or not exist.",
                    "context": {"ids": missing},
                    "errors": [],
                    "links": {},
                }
            )
        answer = self._batch(results, errors)
        sdk_model(
            "BatchResponseSimplePublicObjectWithErrors" if errors else "BatchResponseSimplePublicObject",
            answer,
        )
        return (207 if errors else 200), {}, json.dumps(answer)

    def _object(self, object_id: str, entry: dict[str, Any], new: bool | None = None) -> dict[str, Any]:
        contact = self.contacts[object_id]
        result = {
            "id": object_id,
            "properties": {**entry["properties"], "email": contact["email"], "hs_object_id": object_id},
            "createdAt": STAMP,
            "updatedAt": STAMP,
            "archived": False,
        }
        if new is not None:
            result["new"] = new
        if entry.get("objectWriteTraceId"):
            result["objectWriteTraceId"] = entry["objectWriteTraceId"]
        return result

    @staticmethod
    def _batch(results: list, errors: list) -> dict[str, Any]:
        body: dict[str, Any] = {
            "status": "COMPLETE",
            "results": results,
            "requestedAt": STAMP,
            "startedAt": STAMP,
            "completedAt": STAMP,
        }
        if errors:
            body.update(errors=errors, numErrors=len(errors))
        return body
