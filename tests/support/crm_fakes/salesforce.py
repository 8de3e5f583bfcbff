"""A behavioural Salesforce org: Contacts with the standard Email (several may share one: Email
is not unique), the custom external id field Chorus_Email__c (unique, case-insensitive), the
recycle bin (a deleted Id answers ENTITY_IS_DELETED), and the REST calls Chorus makes:
- GET /query?q=SELECT Id, Email FROM Contact WHERE Email IN (...) ORDER BY CreatedDate ASC...
  (SOQL string literals with backslash escapes; Email compared without regard to case);
- PATCH /composite/sobjects: update by Id, one SaveResult {id, success, errors} per record;
- PATCH /composite/sobjects/Contact/Chorus_Email__c: upsert on the external id, one
  UpsertResult {id, success, errors, created}; LastName is required on create.
https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_composite_sobjects_collections_update.htm
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlparse

import responses

BASE = "https://acme.my.salesforce.com"
API = f"{BASE}/services/data/v62.0"
EXTERNAL_ID = "Chorus_Email__c"
LITERAL = re.compile(r"'((?:[^'\\]|\\.)*)'")


@dataclass
class FakeSalesforce:
    contacts: dict[str, dict[str, Any]] = field(default_factory=dict)  # Id -> fields, in creation order
    deleted: set[str] = field(default_factory=set)
    calls: list[str] = field(default_factory=list)
    serial: int = 1
    by_id: list[str] = field(default_factory=list)  # Ids written by Id, in order
    creates: int = 0

    def install(self, mock: Any = responses) -> FakeSalesforce:
        mock.add(
            mock.POST,
            f"{BASE}/services/oauth2/token",
            json={"access_token": "00D5e!sf-token", "instance_url": BASE, "token_type": "Bearer"},
        )
        mock.add_callback(mock.GET, f"{API}/query", callback=self._query, content_type="application/json")
        mock.add_callback(
            mock.PATCH, f"{API}/composite/sobjects", callback=self._update, content_type="application/json"
        )
        mock.add_callback(
            mock.PATCH,
            f"{API}/composite/sobjects/Contact/{EXTERNAL_ID}",
            callback=self._upsert,
            content_type="application/json",
        )
        return self

    def create(self, **fields: Any) -> str:
        record_id = f"0035e00000C{self.serial:04d}AAB"
        self.serial += 1
        self.contacts[record_id] = dict(fields)
        return record_id

    def add(self, email: str) -> str:
        """A Contact from before Chorus: the standard Email, no external id."""
        return self.create(LastName="Chen", Email=email)

    def email_of(self, record_id: str) -> str:
        return self.contacts[record_id]["Email"]

    def set_email(self, record_id: str, email: str) -> None:
        self.contacts[record_id]["Email"] = email

    def score(self, record_id: str) -> Any:
        return self.contacts[record_id].get("Chorus_Advocate_Score__c")

    def delete(self, record_id: str) -> None:
        self.contacts.pop(record_id)
        self.deleted.add(record_id)

    # ---- the API ------------------------------------------------------------------------
    def _query(self, request) -> tuple[int, dict, str]:
        soql = parse_qs(urlparse(request.url).query)["q"][0]
        self.calls.append("query")
        clause = re.search(r"FROM Contact WHERE Email IN \((.*)\) ORDER BY CreatedDate ASC", soql)
        assert clause, f"unexpected SOQL: {soql}"
        wanted = {re.sub(r"\\(.)", r"\1", m).lower() for m in LITERAL.findall(clause.group(1))}
        rows = [
            {
                "attributes": {"type": "Contact", "url": f"/services/data/v62.0/sobjects/Contact/{i}"},
                "Id": i,
                "Email": c.get("Email"),
            }
            for i, c in self.contacts.items()
            if (c.get("Email") or "").lower() in wanted
        ]
        return 200, {}, json.dumps({"totalSize": len(rows), "done": True, "records": rows})

    def _update(self, request) -> tuple[int, dict, str]:
        body = json.loads(request.body)
        self.calls.append("update")
        assert len(body["records"]) <= 200 and body["allOrNone"] is False
        results = []
        for sobject in body["records"]:
            assert sobject["attributes"]["type"] == "Contact"
            record_id = sobject["id"]
            if record_id not in self.contacts:
                code = "ENTITY_IS_DELETED" if record_id in self.deleted else "INVALID_CROSS_REFERENCE_KEY"
                results.append(
                    {
                        "id": record_id,
                        "success": False,
                        "errors": [{"statusCode": code, "message": "entity is deleted", "fields": []}],
                    }
                )
                continue
            self.contacts[record_id].update(
                {k: v for k, v in sobject.items() if k not in ("attributes", "id")}
            )
            self.by_id.append(record_id)
            results.append({"id": record_id, "success": True, "errors": []})
        return 200, {}, json.dumps(results)

    def _upsert(self, request) -> tuple[int, dict, str]:
        body = json.loads(request.body)
        self.calls.append("upsert")
        results = []
        for sobject in body["records"]:
            key = str(sobject[EXTERNAL_ID]).lower()
            fields = {k: v for k, v in sobject.items() if k != "attributes"}
            found = next(
                (i for i, c in self.contacts.items() if str(c.get(EXTERNAL_ID, "")).lower() == key), None
            )
            if found:
                self.contacts[found].update(fields)
                results.append({"id": found, "success": True, "errors": [], "created": False})
            elif not fields.get("LastName"):
                results.append(
                    {
                        "success": False,
                        "created": False,
                        "errors": [
                            {
                                "statusCode": "REQUIRED_FIELD_MISSING",
                                "message": "Required fields are missing: [LastName]",
                                "fields": ["LastName"],
                            }
                        ],
                    }
                )
            else:
                self.creates += 1
                results.append({"id": self.create(**fields), "success": True, "errors": [], "created": True})
        return 200, {}, json.dumps(results)
