"""The OpenAPI document's components: every body the REST API takes or gives (JSON Schema 2020-12, as
OpenAPI 3.1 has it). Each object's `additionalProperties: false` makes the tests see a field the document lacks."""

from __future__ import annotations

from digest.models import API_SCOPES, IMPORT_STATUSES, DeliveryStatus, EditionStatus, SubscriberStatus

STR, INT, BOOL = {"type": "string"}, {"type": "integer"}, {"type": "boolean"}
TIME = {"type": "string", "format": "date-time"}


def nullable(schema: dict) -> dict:
    return {"oneOf": [schema, {"type": "null"}]}


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def obj(properties: dict, required: tuple = (), **extra) -> dict:
    return {"type": "object", "properties": properties, "required": list(required), "additionalProperties": False,
            **extra}


def strings() -> dict:
    return {"type": "array", "items": STR}


FREQUENCY = {"type": "string", "enum": ["daily", "weekly"]}
FORMAT = {"type": "string", "enum": ["html", "text"]}
WEEKDAY = {"type": "string", "enum": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]}
PREFERENCES = {"topics": strings(), "countries": strings(), "frequency": FREQUENCY, "weekday": nullable(WEEKDAY),
               "send_at": {"type": "string", "examples": ["07:00"]}, "max_items": {"type": "integer", "minimum": 1,
                                                                                 "maximum": 50}, "format": FORMAT}
SUBSCRIPTION = obj({
    "newsletter": STR, "status": {"type": "string", "enum": ["active", "unsubscribed"]},
    "frequency": nullable(FREQUENCY), "weekday": nullable(WEEKDAY), "send_at": nullable(STR),
    "topics": nullable(strings()), "countries": nullable(strings()), "max_items": nullable(INT),
    "format": nullable(FORMAT), "created_at": TIME, "updated_at": TIME, "source": nullable(STR),
}, ("newsletter", "status", "created_at", "updated_at"))
SUBSCRIBER = obj({
    "id": INT, "email": {"type": "string", "format": "email"}, "name": STR,
    "status": {"type": "string", "enum": [str(s) for s in SubscriberStatus]},
    "topics": strings(), "countries": strings(), "frequency": FREQUENCY, "weekday": nullable(WEEKDAY), "send_at": STR,
    "timezone": STR, "max_items": INT, "format": FORMAT, "created_at": TIME, "updated_at": TIME,
    "consent_at": nullable(TIME), "consent_source": nullable(STR),
    "paused_until": nullable({"type": "string", "format": "date"}),
    "subscriptions": {"type": "array", "items": ref("Subscription")},
}, ("id", "email", "status", "created_at", "subscriptions"))
COUNT_MAP = {"type": "object", "additionalProperties": INT}
HELD = ("paused", "awaiting_approval")  # an edition held shows its hold as its status (operations/status.py)
EDITION = obj({
    "edition": STR, "newsletter": STR, "date": {"type": "string", "format": "date"},
    "period": FREQUENCY, "status": {"type": "string", "enum": [*(str(s) for s in EditionStatus), *HELD]},
    "held": nullable({"type": "string", "enum": list(HELD)}),
    "deadline": nullable(TIME), "oldest_pending": nullable(TIME),
    "reasons": {"type": "array", "items": obj({"status": STR, "smtp_code": nullable(INT), "error": nullable(STR),
                                               "count": INT}, ("status", "count"))},
    "counts": COUNT_MAP, "total": INT,
    "problems": {"type": "array", "items": obj({"email": STR, "status": STR, "smtp_code": nullable(INT),
                                                "error": nullable(STR)}, ("email", "status"))},
}, ("edition", "newsletter", "date", "status", "counts", "total"))
DELIVERY = obj({
    "edition": STR, "id": INT, "subscriber_id": INT,
    "status": {"type": "string", "enum": [str(s) for s in DeliveryStatus]}, "smtp_code": nullable(INT),
    "smtp_reply": nullable(STR), "message_id": nullable(STR), "sent_at": nullable(TIME), "attempts": INT,
}, ("edition", "id", "subscriber_id", "status"))

SCHEMAS = {
    "Error": obj({"error": obj({"code": STR, "message": STR, "field": STR}, ("code", "message"))}, ("error",)),
    "Preferences": obj({**PREFERENCES, "timezone": {"type": "string", "examples": ["Europe/Berlin"]}}),
    "Consent": obj({"source": {"type": "string", "minLength": 1, "maxLength": 200}, "at": TIME}, ("source",)),
    "SubscriberCreate": obj({
        "email": {"type": "string", "format": "email"}, "name": STR, "newsletters": strings(),
        "preferences": ref("Preferences"), "consent": ref("Consent"),
        "status": {"type": "string", "enum": ["pending", "confirmed"], "default": "pending"},
    }, ("email",)),
    "SubscriptionChange": obj({"status": {"type": "string", "enum": ["active", "unsubscribed"]},
                               **{k: nullable(v) for k, v in PREFERENCES.items()}}),
    "SubscriberUpdate": obj({"preferences": ref("Preferences"),
                             "subscriptions": {"type": "object", "additionalProperties": ref("SubscriptionChange")}}),
    "Unsubscribe": obj({"newsletter": STR}),
    "Subscription": SUBSCRIPTION,
    "Subscriber": SUBSCRIBER,
    "SubscriberPage": obj({"subscribers": {"type": "array", "items": ref("Subscriber")},
                           "next_cursor": nullable(STR)}, ("subscribers", "next_cursor")),
    "Erased": obj({"id": INT, "erased": BOOL, "deliveries": INT}, ("id", "erased", "deliveries")),
    "ImportJob": obj({"id": INT, "status": {"type": "string", "enum": list(IMPORT_STATUSES)},
                      "total": nullable(INT), "counts": nullable(COUNT_MAP), "error": nullable(STR),
                      "created_at": TIME, "updated_at": TIME}, ("id", "status", "created_at", "updated_at")),
    "EventsStored": obj({"events": INT, "buckets": INT}, ("events", "buckets")),
    "Edition": EDITION,
    "EditionPage": obj({"editions": {"type": "array", "items": ref("Edition")}, "next_cursor": nullable(STR)},
                       ("editions", "next_cursor")),
    "Delivery": DELIVERY,
    "DeliveryList": obj({"deliveries": {"type": "array", "items": ref("Delivery")}, "total": INT},
                        ("deliveries", "total")),
}
SCOPES = {scope: scope for scope in API_SCOPES}
