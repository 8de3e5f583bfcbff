"""A behavioural Zoho CRM: Contacts with an Email that the upsert matches (duplicate_check_fields),
records by id, deletions (a deleted id answers INVALID_DATA on `id`), and the calls Chorus makes:
- POST {api}/crm/v8/Contacts/upsert {data, duplicate_check_fields}: one
  {code, action, details{id}, message, status} per record, in order; Last_Name is mandatory on
  create (MANDATORY_NOT_FOUND);
- GET {api}/crm/v8/Contacts?ids=&fields= (a notification's records);
- PUT {api}/crm/v8/Contacts {data: [{id, ...}]}: an update by id, "record updated", or
  INVALID_DATA "the id given seems to be invalid" for an id Zoho does not have.
https://www.zoho.com/crm/developer/docs/api/v8/update-records.html
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlparse

import responses

from tests.support.senders import fixture_json

API = "https://www.zohoapis.eu/crm/v8/Contacts"
STAMP = "2026-11-24T15:20:05+01:00"


@dataclass
class FakeZoho:
    contacts: dict[str, dict[str, Any]] = field(default_factory=dict)  # record id -> fields
    deleted: set[str] = field(default_factory=set)
    by_id: list[str] = field(default_factory=list)  # ids written by id, in order
    creates: int = 0
    serial: int = 5843104000000500001

    def install(self, mock: Any = responses) -> FakeZoho:
        mock.add(
            mock.POST,
            "https://accounts.zoho.eu/oauth/v2/token",
            json=fixture_json("zoho/token_response.json"),
        )
        mock.add_callback(mock.POST, f"{API}/upsert", callback=self._upsert, content_type="application/json")
        mock.add_callback(mock.PUT, API, callback=self._update, content_type="application/json")
        mock.add_callback(mock.GET, API, callback=self._get, content_type="application/json")
        return self

    # ---- what the CRM holds -------------------------------------------------------------
    def add(self, email: str, **fields: Any) -> str:
        record_id = str(self.serial)
        self.serial += 1
        self.contacts[record_id] = {"Email": email, "Last_Name": "Chen", **fields}
        return record_id

    def delete(self, record_id: str) -> None:
        self.contacts.pop(record_id)
        self.deleted.add(record_id)

    def email_of(self, record_id: str) -> str:
        return self.contacts[record_id]["Email"]

    def set_email(self, record_id: str, email: str) -> None:
        self.contacts[record_id]["Email"] = email

    def score(self, record_id: str) -> Any:
        return self.contacts[record_id].get("Chorus_Advocate_Score")

    # ---- the API ------------------------------------------------------------------------
    def _upsert(self, request) -> tuple[int, dict, str]:
        body = json.loads(request.body)
        assert body["duplicate_check_fields"] == ["Email"] and len(body["data"]) <= 100
        results = []
        for n, row in enumerate(body["data"]):
            found = next(
                (i for i, c in self.contacts.items() if c["Email"].lower() == str(row["Email"]).lower()), None
            )
            if found:
                self.contacts[found].update(row)
                results.append(self._done(found, "update", "record updated", duplicate_field="Email"))
            elif not row.get("Last_Name"):
                results.append(_error("MANDATORY_NOT_FOUND", "required field not found", "Last_Name", n))
            else:
                record_id = self.add(**{k: v for k, v in row.items() if k != "Email"}, email=row["Email"])
                self.creates += 1
                results.append(self._done(record_id, "insert", "record added"))
        return _answer(results)

    def _get(self, request) -> tuple[int, dict, str]:
        """GET /Contacts?ids=&fields= (fields is mandatory); 204 when none of the ids exist."""
        query = parse_qs(urlparse(request.url).query)
        fields = query["fields"][0].split(",")
        rows = [
            {"id": i, **{f: self.contacts[i].get(f) for f in fields}}
            for i in query["ids"][0].split(",")
            if i in self.contacts
        ]
        if not rows:
            return 204, {}, ""
        info = {"per_page": 200, "count": len(rows), "page": 1, "more_records": False}
        return 200, {}, json.dumps({"data": rows, "info": info})

    def _update(self, request) -> tuple[int, dict, str]:
        body = json.loads(request.body)
        assert len(body["data"]) <= 100
        results = []
        for n, row in enumerate(body["data"]):
            record_id = str(row.get("id"))
            if record_id not in self.contacts:
                results.append(_error("INVALID_DATA", "the id given seems to be invalid", "id", n))
                continue
            self.by_id.append(record_id)
            self.contacts[record_id].update({k: v for k, v in row.items() if k != "id"})
            results.append(self._done(record_id, None, "record updated"))
        return _answer(results)

    @staticmethod
    def _done(record_id: str, action: str | None, message: str, **extra: str) -> dict[str, Any]:
        user = {"name": "Chorus Integration", "id": "5843104000000345001"}
        details = {"Modified_Time": STAMP, "Modified_By": user, "Created_Time": STAMP, "id": record_id}
        result = {"code": "SUCCESS", **extra, "details": {**details, "Created_By": user}}
        return {**result, **({"action": action} if action else {}), "message": message, "status": "success"}


def _error(code: str, message: str, api_name: str, index: int) -> dict[str, Any]:
    details = {"api_name": api_name, "json_path": f"$.data[{index}].{api_name}"}
    return {"code": code, "details": details, "message": message, "status": "error"}


def _answer(results: list[dict[str, Any]]) -> tuple[int, dict, str]:
    # every record failed: 400 with the per-record list; otherwise 200 ([unconfirmed]: 207)
    status = 400 if all(r["status"] == "error" for r in results) else 200
    return status, {}, json.dumps({"data": results})
