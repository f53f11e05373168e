"""The follower: a FastStream app with one durable pull consumer on the AWARDS stream.

- It starts from the first event (deliver policy ``all``) and, being durable, resumes where
  it stopped after its own restart or a NATS restart (the client reconnects forever).
- It picks event types by the ``Briefings-Event-Type`` / ``Briefings-Event-Version`` headers
  and decodes only what it applies; an event stored before the headers existed is read from
  its envelope.
- Delivery is at least once: every event's id is kept with its effect in one SQLite
  transaction, and a redelivered event is acknowledged without being applied again.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from faststream import AckPolicy, FastStream
from faststream.nats import (
    DeliverPolicy,
    JStream,
    NatsBroker,
    NatsMessage,
    NatsUserPassword,
    PullSub,
)

from awards_follower.store import Store

TYPE_HEADER = "Briefings-Event-Type"
VERSION_HEADER = "Briefings-Event-Version"
# The event types and payload versions this follower understands (contracts/asyncapi/awards.json).
KNOWN = {("AwardGranted", 1), ("AwardRevoked", 1)}

log = logging.getLogger("awards_follower")


def env(name: str, default: str | None = None) -> str:
    value = os.environ.get(f"AWARDS_FOLLOWER_{name}") or default
    if value is None:
        raise SystemExit(f"set AWARDS_FOLLOWER_{name}")
    return value


def credentials() -> NatsUserPassword:
    """User and password: from a JSON file ``{"user", "password"}`` (the embedded default
    keeps the subscriber's in ``data/credentials/subscriber.json``), else the variables."""
    path = os.environ.get("AWARDS_FOLLOWER_CREDENTIALS")
    if path:
        found = json.loads(Path(path).read_text(encoding="utf-8"))
        return NatsUserPassword(str(found["user"]), str(found["password"]))
    return NatsUserPassword(env("NATS_USER", "subscriber"), env("NATS_PASSWORD", ""))


NATS_URL = env("NATS_URL", "nats://127.0.0.1:4222")
DURABLE = env("DURABLE", "subscriber_AWARDS")
INBOX_PREFIX = env("INBOX_PREFIX", "_INBOX_subscriber")
store = Store(Path(env("DB", "awards-follower.db")))

broker = NatsBroker(
    NATS_URL.split(","),
    security=credentials(),
    # the subscriber role may listen only on its own inbox prefix
    inbox_prefix=INBOX_PREFIX,
    max_reconnect_attempts=-1,
    reconnect_time_wait=1,
    name="awards-follower",
)
app = FastStream(broker)


async def raw_message(msg: NatsMessage) -> NatsMessage:
    """Decode to the message itself: headers first, the body only when needed."""
    return msg


@broker.subscriber(
    "ev.awards.>",
    # the streams belong to briefings: never create or change one
    stream=JStream("AWARDS", declare=False),
    durable=DURABLE,
    deliver_policy=DeliverPolicy.ALL,
    pull_sub=PullSub(batch_size=1, timeout=5.0),
    ack_policy=AckPolicy.NACK_ON_ERROR,  # acked after the transaction; redelivered on error
    decoder=raw_message,
    inbox_prefix=(INBOX_PREFIX + ".").encode(),  # its fetch requests' replies, too
)
async def on_award_event(msg: NatsMessage) -> None:
    raw = msg.raw_message
    headers = dict(raw.headers or {})
    seq = raw.metadata.sequence.stream
    if TYPE_HEADER in headers and VERSION_HEADER in headers:
        kind = (headers[TYPE_HEADER], int(headers[VERSION_HEADER]))
        envelope = json.loads(raw.data) if kind in KNOWN else None
    else:  # stored before the headers existed: the envelope says what it is
        envelope = json.loads(raw.data)
        kind = (envelope["type"], int(envelope["schema_version"]))
    # Nats-Msg-Id is the event id: an event this follower skips is never decoded.
    event_id = headers.get("Nats-Msg-Id") or (envelope or json.loads(raw.data))["event_id"]
    outcome = store.apply(event_id, seq, kind[0], envelope)
    log.info("event %s seq=%d %s v%d: %s", event_id, seq, kind[0], kind[1], outcome)


@app.after_shutdown
async def close() -> None:
    store.close()


def main() -> None:
    import asyncio

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    asyncio.run(app.run())


if __name__ == "__main__":
    main()
