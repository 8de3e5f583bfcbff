"""A behavioural Pipedrive: persons with emails (several may share one), custom fields, deletions
(a deleted id answers 404), and the API v2 calls Chorus makes:
- GET /api/v2/persons/search?term=&fields=email&exact_match=true: {data{items[{result_score,
  item{id, emails, ...}}]}};
- POST /api/v2/persons and PATCH /api/v2/persons/{id}: bodies limited to the fields of the
  OpenAPI-generated AddPersonRequest / UpdatePersonRequest models (pipedrive/client-nodejs,
  src/versions/v2/models), emails as AddPersonRequestEmailsInner {value, primary, label}.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlparse

import responses

API = "https://acme.pipedrive.com/api/v2/persons"
SCORE_KEY = "8b1f3c6e2d9a4f7b0c5e1a2d3f4b6c8e9a0b1c2d"
PERSON_FIELDS = {  # AddPersonRequest (UpdatePersonRequest has the same properties)
    "name",
    "owner_id",
    "org_id",
    "add_time",
    "update_time",
    "emails",
    "phones",
    "visible_to",
    "label_ids",
    "marketing_status",
    "custom_fields",
}
EMAIL_FIELDS = {"value", "primary", "label"}


def check_person_body(body: dict[str, Any]) -> None:
    """Fails on a property the SDK's request model does not have."""
    assert set(body) <= PERSON_FIELDS, f"not in AddPersonRequest: {set(body) - PERSON_FIELDS}"
    for email in body.get("emails") or []:
        assert set(email) <= EMAIL_FIELDS and isinstance(email["value"], str)
    assert isinstance(body.get("custom_fields", {}), dict)


@dataclass
class FakePipedrive:
    persons: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> person
    deleted: set[str] = field(default_factory=set)
    by_id: list[str] = field(default_factory=list)
    creates: int = 0
    serial: int = 1042

    @property
    def contacts(self) -> dict[str, dict[str, Any]]:
        return self.persons

    def install(self, mock: Any = responses) -> FakePipedrive:
        mock.add_callback(mock.GET, f"{API}/search", callback=self._search, content_type="application/json")
        mock.add_callback(mock.POST, API, callback=self._create, content_type="application/json")
        mock.add_callback(
            mock.PATCH,
            re.compile(re.escape(API) + r"/\d+$"),
            callback=self._patch,
            content_type="application/json",
        )
        return self

    # ---- what the CRM holds -------------------------------------------------------------
    def add(self, email: str, name: str = "Maya Chen") -> str:
        person_id = str(self.serial)
        self.serial += 1
        self.persons[person_id] = {
            "id": int(person_id),
            "name": name,
            "emails": [{"value": email, "primary": True, "label": "work"}],
            "custom_fields": {},
        }
        return person_id

    def delete(self, person_id: str) -> None:
        self.persons.pop(person_id)
        self.deleted.add(person_id)

    def email_of(self, person_id: str) -> str:
        return next(e["value"] for e in self.persons[person_id]["emails"] if e.get("primary"))

    def set_email(self, person_id: str, email: str) -> None:
        self.persons[person_id]["emails"] = [{"value": email, "primary": True, "label": "work"}]

    def score(self, person_id: str) -> Any:
        return self.persons[person_id]["custom_fields"].get(SCORE_KEY)

    # ---- the API ------------------------------------------------------------------------
    def _search(self, request) -> tuple[int, dict, str]:
        query = parse_qs(urlparse(request.url).query)
        assert query["fields"] == ["email"] and query["exact_match"] == ["true"]
        term = query["term"][0].lower()
        items = [
            {
                "result_score": 1.0,
                "item": {
                    "id": p["id"],
                    "type": "person",
                    "name": p["name"],
                    "emails": [e["value"] for e in p["emails"]],
                },
            }
            for p in self.persons.values()
            if term in (e["value"].lower() for e in p["emails"])
        ]
        return (
            200,
            {},
            json.dumps({"success": True, "data": {"items": items}, "additional_data": {"next_cursor": None}}),
        )

    def _create(self, request) -> tuple[int, dict, str]:
        body = json.loads(request.body)
        check_person_body(body)
        person_id = self.add(body["emails"][0]["value"], body.get("name") or "")
        self.persons[person_id].update(body, id=int(person_id))
        self.creates += 1
        return 201, {}, json.dumps({"success": True, "data": self.persons[person_id]})

    def _patch(self, request) -> tuple[int, dict, str]:
        person_id = urlparse(request.url).path.rsplit("/", 1)[-1]
        body = json.loads(request.body)
        check_person_body(body)
        if person_id not in self.persons:
            return 404, {}, json.dumps({"success": False, "error": "Person not found", "code": "NOT_FOUND"})
        self.by_id.append(person_id)
        person = self.persons[person_id]
        person["custom_fields"].update(body.pop("custom_fields", {}))
        person.update(body)
        return 200, {}, json.dumps({"success": True, "data": person})
