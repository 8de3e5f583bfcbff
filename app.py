"""Chorus entry points: webhook ingest, admin API, and the queue workers.

Thin on purpose: each handler translates and calls into chalicelib. Nothing heavy is
imported here, so a cold start pays only for what the invoked handler uses.
"""

from chalice import Chalice, IAMAuthorizer, NotFoundError, Rate, Response
from chalice.app import Request

from chalicelib import web
from chalicelib.runtime.aws import get_hub
from chalicelib.runtime.resources import ResourceNames

app = Chalice(app_name="chorus")
app.api.binary_types.extend(web.BINARY_TYPES)
NAMES = ResourceNames.from_env()


@app.middleware("http")
def one_error_shape(event, get_response):
    """Chalice's own errors ({"Code": "NotFoundError", "Message": "NotFoundError: ..."}) in the
    shape every Chorus error has: {"error": "not_found", "message": "..."}."""
    return web.chorus_error_shape(get_response(event))


@app.route(
    "/webhooks/{connector_id}", methods=["GET", "HEAD", "POST"], content_types=web.WEBHOOK_CONTENT_TYPES
)
def webhook(connector_id):
    from chalicelib.pipeline.ingest import receive_webhook

    request = _request()
    answer = receive_webhook(get_hub(), connector_id, web.inbound_request(request))
    return web.chalice_response(answer, request.method)


@app.route("/health", methods=["GET"])
def health():
    return {"status": "ok"}


# Admin API (chalicelib/admin.py). A bearer token by default; CHORUS_ADMIN_AUTH=iam puts API
# Gateway's IAM authorization (SigV4) on these routes instead, decided here at import time.
ADMIN_AUTH = IAMAuthorizer() if web.admin_auth_mode() == "iam" else None


def admin_route(path: str, methods: tuple[str, ...] = ("GET",)):
    return app.route(path, methods=list(methods), authorizer=ADMIN_AUTH)


@admin_route("/admin/people")
def admin_find_people():
    from chalicelib.admin import find_people

    return find_people(get_hub(), _admin_query())


@admin_route("/admin/people/{person_id}")
def admin_person(person_id):
    from chalicelib.admin import get_person

    _admin_query()
    return _found(get_person(get_hub(), person_id), f"no person {person_id}")


@admin_route("/admin/people/{person_id}", methods=("DELETE",))
def admin_erase_person(person_id):
    from chalicelib.admin import erase_person

    _admin_query()
    return _found(erase_person(get_hub(), person_id), f"no person {person_id}")


@admin_route("/admin/people/{person_id}/export")
def admin_export_person(person_id):
    from chalicelib.admin import export_person

    _admin_query()
    return _found(export_person(get_hub(), person_id), f"no person {person_id}")


@admin_route("/admin/merges/{merge_id}/undo", methods=("POST",))
def admin_unmerge(merge_id):
    from chalicelib.admin import undo_merge

    _admin_query()
    return undo_merge(get_hub(), merge_id)


@admin_route("/admin/interactions")
def admin_interactions():
    from chalicelib.admin import list_interactions

    return list_interactions(get_hub(), _admin_query())


@admin_route("/admin/advocates")
def admin_advocates():
    from chalicelib.admin import list_advocates

    return list_advocates(get_hub(), _admin_query())


@admin_route("/admin/actions")
def admin_actions():
    from chalicelib.admin import list_actions

    return list_actions(get_hub(), _admin_query())


@admin_route("/admin/connectors")
def admin_connectors():
    from chalicelib.admin import list_connectors

    return list_connectors(get_hub(), _admin_query())


@admin_route("/admin/dead-letters")
def admin_dead_letters():
    from chalicelib.admin import list_dead_letters

    return list_dead_letters(get_hub(), _admin_query())


@admin_route("/admin/dead-letters/replay", methods=("POST",))
def admin_replay_dead_letters():
    from chalicelib.admin import replay_dead_letters

    return replay_dead_letters(get_hub(), _admin_query())


@admin_route("/admin/deliveries")
def admin_deliveries():
    from chalicelib.admin_deliveries import list_deliveries

    return list_deliveries(get_hub(), _admin_query())


@admin_route("/admin/deliveries/{delivery_id}")
def admin_delivery(delivery_id):
    from chalicelib.admin_deliveries import get_delivery

    _admin_query()
    return _found(get_delivery(get_hub(), delivery_id), f"no delivery {delivery_id}")


@admin_route("/admin/pulse")
def admin_pulse():
    from chalicelib.admin_pulse import get_pulse

    return get_pulse(get_hub(), _admin_query())


@admin_route("/admin/connectors/{connector_id}")
def admin_connector(connector_id):
    from chalicelib.admin_console import connector_detail

    _admin_query()
    return _found(connector_detail(get_hub(), connector_id), f"no connector {connector_id}")


@admin_route("/admin/connectors/{connector_id}/test-delivery", methods=("POST",))
def admin_test_delivery(connector_id):
    from chalicelib.admin_console import send_test_delivery

    _admin_query()
    request = _request()
    base = f"{request.headers.get('x-forwarded-proto', 'http')}://{request.headers.get('host', 'localhost')}"
    body = web.raw_body(request)
    return _found(
        send_test_delivery(get_hub(), connector_id, body, base), f"no source connector {connector_id}"
    )


@admin_route("/admin/dead-letters/{connector_id}/{letter_id}", methods=("GET", "DELETE"))
def admin_dead_letter(connector_id, letter_id):
    from chalicelib.admin_console import dead_letter_document, discard_dead_letter, find_dead_letter

    _admin_query()
    letter = _found(find_dead_letter(get_hub(), connector_id, letter_id), f"no dead letter {letter_id}")
    if _request().method == "DELETE":
        return discard_dead_letter(get_hub(), letter)
    return dead_letter_document(letter)


@admin_route("/admin/dead-letters/{connector_id}/{letter_id}/replay", methods=("POST",))
def admin_replay_dead_letter(connector_id, letter_id):
    from chalicelib.admin_console import find_dead_letter, replay_dead_letter

    _admin_query()
    letter = _found(find_dead_letter(get_hub(), connector_id, letter_id), f"no dead letter {letter_id}")
    return replay_dead_letter(get_hub(), letter)


@admin_route("/admin/merges", methods=("POST",))
def admin_merge():
    from chalicelib.admin_console import accept_merge

    _admin_query()
    try:
        payload = _request().json_body
    except Exception:
        payload = None
    return accept_merge(get_hub(), payload)


@admin_route("/admin/loop")
def admin_loop():
    from chalicelib.admin_console import loop_rules

    _admin_query()
    return loop_rules(get_hub())


@admin_route("/admin/charts/{name}")
def admin_chart(name):
    from chalicelib.console.charts import chart_response

    return chart_response(get_hub(), name, _admin_query())


@app.route("/console", methods=["GET"])
def console_page():
    from chalicelib.console.assets import page

    return page("index.html")


@app.route("/console/{asset}", methods=["GET"])
def console_asset(asset):
    from chalicelib.console.assets import page

    return page(asset)


def _admin_query() -> dict:
    """401 unless the caller is an admin (token, or IAM); then the query parameters."""
    request = _request()
    web.require_admin(request)
    return dict(request.query_params or {})


def _request() -> Request:
    """The request being served (Chalice sets `current_request` before it calls a route)."""
    request = app.current_request
    if request is None:
        raise RuntimeError("no request is being served")
    return request


def _found(value, message: str):
    if value is None:
        raise NotFoundError(message)  # one_error_shape gives it the Chorus body
    return value


def not_found(message: str) -> Response:
    """404 in the one error shape of every Chorus answer, {"error": code, "message": text}."""
    return Response(body={"error": "not_found", "message": message}, status_code=404)


# A mistyped admin path reaches these (concrete routes match first) instead of API Gateway's own
# 403, whose message quotes the Authorization header: 401 without a valid token, else 404. They
# cover /admin itself and every depth up to two segments below the deepest admin route.
ANY_METHOD = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
UNKNOWN_ADMIN_DEPTH = 6


def admin_unknown_route(**_parts):
    _admin_query()
    return not_found("no such route")  # as the local hub's front answers one


for _depth in range(UNKNOWN_ADMIN_DEPTH + 1):
    admin_route("/admin" + "".join(f"/{{part{n}}}" for n in range(_depth)), ANY_METHOD)(admin_unknown_route)


@app.schedule(Rate(1, unit=Rate.HOURS))
def decay_scores(event):
    """Recency decay: rescore the people it has moved across a tier or by sync_score_delta."""
    from chalicelib.pipeline.decay import decay_due_people

    outcome = decay_due_people(get_hub())
    return {
        "rescored": len(outcome.rescored),
        "tier_changes": outcome.tier_changes,
        "sync_jobs": outcome.sync_jobs,
    }


@app.schedule(Rate(1, unit=Rate.HOURS))
def renew_websub(event):
    """WebSub leases (YouTube) renewed before they lapse."""
    from chalicelib.websub import renew_websub as renew

    outcome = renew(get_hub())
    return {"renewed": outcome.renewed, "failed": sorted(outcome.failed)}


@app.schedule(Rate(6, unit=Rate.HOURS))
def renew_channels(event):
    """CRM notification channels (Zoho) re-subscribed well before they expire."""
    from chalicelib.channels import renew_channels as renew

    outcome = renew(get_hub())
    return {"renewed": sorted(outcome.renewed), "failed": sorted(outcome.failed)}


@app.schedule(Rate(5, unit=Rate.MINUTES))
def poll_listeners(event):
    """Listeners (pollers): fetch what is new for every source that is due, within a time budget."""
    from chalicelib.pipeline.poll import run_due_pollers, time_budget_for

    context = getattr(event, "context", None)
    remaining = context.get_remaining_time_in_millis() if context is not None else None
    outcomes = run_due_pollers(get_hub(), time_budget=time_budget_for(remaining))
    return {"polled": len(outcomes), "found": sum(o.found for o in outcomes)}


@app.on_sqs_message(queue=NAMES.ingest_queue, batch_size=10)
def process_ingest(event):
    from chalicelib.runtime.batch import handle_ingest_batch

    return handle_ingest_batch(get_hub(), event.to_dict()["Records"])


@app.on_sqs_message(queue=NAMES.sync_queue, batch_size=100, maximum_batching_window_in_seconds=5)
def process_sync(event):
    from chalicelib.runtime.batch import handle_sync_batch

    return handle_sync_batch(get_hub(), event.to_dict()["Records"])


@app.on_sqs_message(queue=NAMES.ingest_dlq, batch_size=10)
def ingest_dead_letters(event):
    from chalicelib.runtime.batch import handle_dead_letter_batch

    return handle_dead_letter_batch(get_hub(), "ingest", event.to_dict()["Records"])


@app.on_sqs_message(queue=NAMES.sync_dlq, batch_size=10)
def sync_dead_letters(event):
    from chalicelib.runtime.batch import handle_dead_letter_batch

    return handle_dead_letter_batch(get_hub(), "sync", event.to_dict()["Records"])
