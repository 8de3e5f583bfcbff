"""Jotform multipart submissions through the real route, queue, worker and store."""

import json

import pytest

from chalicelib.providers.multipart import parse_multipart
from tests.support.senders import SECRETS, fixture_bytes

TOKEN = SECRETS["TEST_JOTFORM_URL_TOKEN"]
URL = "/webhooks/jotform-feedback"
CONTENT_TYPE = fixture_bytes("jotform/submission.content-type").decode().strip()


def post(client, body=None, token=TOKEN, content_type=CONTENT_TYPE):
    body = body if body is not None else fixture_bytes("jotform/submission.multipart")
    url = f"{URL}?token={token}" if token is not None else URL
    return client.http.post(url, body=body, headers={"Content-Type": content_type})


def test_submission_becomes_a_survey_response(client, workers, hub):
    assert post(client).status_code == 200
    workers.drain()
    [item] = hub.store.connector_interactions("jotform-feedback", 10)
    assert item.kind == "survey_response" and item.external_id == "5812345678901234567"
    assert item.nps == 8 and item.thread_id == "233045511009037"
    assert item.author.email == "noor.haddad@example.com" and item.author.display_name == "Noor Haddad"
    assert item.text == "What did you like most?: The weekly digest keeps my team aligned."
    assert item.occurred_at.timestamp() == 1795003200
    person = hub.store.get_person(item.person_id)
    assert {"email#noor.haddad@example.com", "hubspot#99001122"} <= {r.key for r in person.identities}


@pytest.mark.moto  # reads the SQS message itself
def test_url_token_is_required_and_never_queued(client, workers, hub, caplog):
    import boto3

    from chalicelib.runtime.resources import ResourceNames

    assert post(client, token=None).status_code == 401
    assert post(client, token="guess").status_code == 401
    assert post(client).status_code == 200
    sqs = boto3.client("sqs")
    queue = sqs.get_queue_url(QueueName=ResourceNames.from_env().ingest_queue)["QueueUrl"]
    [message] = sqs.receive_message(QueueUrl=queue, VisibilityTimeout=0)["Messages"]
    envelope = json.loads(message["Body"])
    assert TOKEN not in message["Body"] and envelope["query"] == {} and "token" not in envelope["url"]
    workers.drain()
    [item] = hub.store.connector_interactions("jotform-feedback", 10)
    assert TOKEN not in caplog.text and TOKEN not in item.model_dump_json()


def test_duplicates_are_stored_once(client, workers, hub):
    for _ in range(3):
        assert post(client).status_code == 200
    workers.drain()
    assert len(hub.store.connector_interactions("jotform-feedback", 10)) == 1


def test_malformed_multipart_and_wrong_type_are_refused(client):
    assert post(client, body=b"not multipart at all").status_code == 400
    assert post(client, content_type="multipart/form-data").status_code == 400  # no boundary
    assert post(client, content_type="application/json").status_code == 415


def test_parse_multipart_reads_every_text_field():
    from chalicelib.providers.multipart import multipart_field_names

    fields = parse_multipart(fixture_bytes("jotform/submission.multipart"), CONTENT_TYPE)
    assert multipart_field_names(fixture_bytes("jotform/submission.multipart"), CONTENT_TYPE) == set(fields)
    assert fields["submissionID"] == "5812345678901234567" and fields["formID"] == "233045511009037"
    assert json.loads(fields["rawRequest"])["q3_fullName"] == {"first": "Noor", "last": "Haddad"}


def test_fast_multipart_path_agrees_with_the_email_parser_on_odd_but_valid_bodies(monkeypatch):
    """Header spelling, a delimiter-like line inside a value, a typed part: the fast path either
    gives the email parser's fields or steps aside; a look-alike letter is not a header name."""
    from chalicelib.errors import MalformedPayload
    from chalicelib.providers import multipart

    def email_parser(body):
        with monkeypatch.context() as patched:
            patched.setattr(multipart, "_simple_form_data", lambda b, c: None)
            try:
                return multipart.parse_multipart(body, "multipart/form-data; boundary=XyZ")
            except MalformedPayload:
                return None

    def form(*parts: str) -> bytes:
        return "".join(f"--XyZ\r\n{p}\r\n" for p in parts).encode() + b"--XyZ--\r\n"

    bodies = {
        "any case": form(
            'content-disposition: FORM-DATA; name="a"\r\n\r\n1',
            'Content-Disposition: form-data; name="b"\r\ncontent-type: TEXT/PLAIN; charset=UTF-8\r\n\r\nzwei',
        ),
        "delimiter in a value": form(
            'Content-Disposition: form-data; name="a"\r\n\r\nsee --XyZ here',
            'Content-Disposition: form-data; name="b"\r\n\r\n2',
        ),
        "a later field wins": form(
            'Content-Disposition: form-data; name="a"\r\n\r\n1',
            'Content-Disposition: form-data; name="a"\r\n\r\n2',
        ),
        "long s look-alike": form('Content-Dispo\u017fition: form-data; name="a"\r\n\r\n1'),
    }
    for what, body in bodies.items():
        fast = multipart._simple_form_data(body, "multipart/form-data; boundary=XyZ")
        assert fast is None or fast == email_parser(body), what
        names = multipart.multipart_field_names(body, "multipart/form-data; boundary=XyZ")
        assert names == set(multipart.parse_multipart(body, "multipart/form-data; boundary=XyZ")), what
    assert multipart._simple_form_data(bodies["any case"], "multipart/form-data; boundary=XyZ") == {
        "a": "1",
        "b": "zwei",
    }
    assert multipart._simple_form_data(bodies["a later field wins"], "multipart/form-data; boundary=XyZ") == {
        "a": "2"
    }
    assert (
        multipart._simple_form_data(bodies["long s look-alike"], "multipart/form-data; boundary=XyZ") is None
    )
