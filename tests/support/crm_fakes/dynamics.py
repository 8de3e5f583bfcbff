"""A behavioural Dataverse: contacts with emailaddress1 as an alternate key, deletions (a deleted
contactid answers 404), and the Web API calls Chorus makes:
- PATCH contacts(emailaddress1='...') without If-Match / If-None-Match: an upsert (updates the
  row holding the key, else creates one with it: 201); with If-None-Match: * a create only
  (412 when a row holds the key);
- PATCH contacts(<contactid>) with If-Match: *: an update only (404 when no such row);
both with Prefer: return=representation, answering the row's `contactid`.
https://learn.microsoft.com/power-apps/developer/data-platform/webapi/update-delete-entities-using-web-api
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlparse

import responses

BASE = "https://acme.crm.dynamics.com/api/data/v9.2"
TOKEN = "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/oauth2/v2.0/token"
KEY = re.compile(r"^contacts\((?:emailaddress1='(?P<email>(?:[^']|'')*)'|(?P<id>[0-9a-f-]{36}))\)$")


@dataclass
class FakeDataverse:
    contacts: dict[str, dict[str, Any]] = field(default_factory=dict)  # contactid -> columns
    deleted: set[str] = field(default_factory=set)
    by_id: list[str] = field(default_factory=list)
    creates: int = 0

    def install(self, mock: Any = responses) -> FakeDataverse:
        mock.add(
            mock.POST,
            TOKEN,
            json={
                "token_type": "Bearer",
                "expires_in": 3599,
                "access_token": "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.fake.token",
            },
        )
        mock.add_callback(
            mock.PATCH,
            re.compile(re.escape(BASE) + r"/contacts\(.*\)"),
            callback=self._patch,
            content_type="application/json",
        )
        return self

    # ---- what the CRM holds -------------------------------------------------------------
    def add(self, email: str, **columns: Any) -> str:
        contact_id = str(uuid.uuid4())
        self.contacts[contact_id] = {"emailaddress1": email, **columns}
        return contact_id

    def delete(self, contact_id: str) -> None:
        self.contacts.pop(contact_id)
        self.deleted.add(contact_id)

    def email_of(self, contact_id: str) -> str:
        return self.contacts[contact_id]["emailaddress1"]

    def set_email(self, contact_id: str, email: str) -> None:
        self.contacts[contact_id]["emailaddress1"] = email

    def score(self, contact_id: str) -> Any:
        return self.contacts[contact_id].get("chorus_advocatescore")

    # ---- the API ------------------------------------------------------------------------
    def _patch(self, request) -> tuple[int, dict, str]:
        target = KEY.match(unquote(urlparse(request.url).path).rsplit("/", 1)[-1])
        assert target, f"unexpected PATCH {request.url}"
        assert request.headers["Prefer"] == "return=representation"
        columns = json.loads(request.body)
        if target["id"]:
            assert request.headers.get("If-Match") == "*", "an update by contactid must not create"
            contact_id = target["id"]
            if contact_id not in self.contacts:
                error = {"code": "0x80040217", "message": f"contact With Id = {contact_id} Does Not Exist"}
                return 404, {}, json.dumps({"error": error})
            self.by_id.append(contact_id)
            status = 200
        else:
            assert "If-Match" not in request.headers, "an alternate-key upsert sends no If-Match"
            email = target["email"].replace("''", "'")
            contact_id = next(
                (i for i, c in self.contacts.items() if c["emailaddress1"].lower() == email.lower()), None
            )
            if contact_id and request.headers.get("If-None-Match") == "*":  # create only
                error = {"code": "0x80040237", "message": "A record with matching key values already exists."}
                return 412, {}, json.dumps({"error": error})
            status = 200 if contact_id else 201
            if contact_id is None:  # the key's value is the new row's column
                contact_id, self.creates = self.add(email), self.creates + 1
        self.contacts[contact_id].update(columns)
        entity = f"{BASE}/contacts({contact_id})"
        body = {"@odata.context": f"{BASE}/$metadata#contacts(contactid)/$entity", "contactid": contact_id}
        return status, {"OData-EntityId": entity}, json.dumps(body)
