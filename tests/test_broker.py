"""The embedded broker (attik/broker.py): a message appears whole or not at all.

kombu's stock filesystem transport creates the message file, then writes it; a worker
polling in between reads "" and dies (https://github.com/celery/kombu/issues/1551).
"""

from __future__ import annotations

import base64
import json
import os
import uuid
from pathlib import Path

import pytest
from kombu import Connection, Exchange, Queue
from kombu.transport import filesystem

from attik import broker
from tests.broker_hammer import OURS, STOCK, hammer, options


def channel_pair(transport: str, folder: Path):
    """A publisher and a consumer channel on one queue, as two processes would have.

    kombu keeps exchanges and bindings process-wide (one folder per process in real
    use), so every test names its own queue.
    """
    transport_options = options(folder, 0.02)
    publisher = Connection(transport=transport, transport_options=transport_options)
    consumer = Connection(transport=transport, transport_options=transport_options)
    name = f"jobs-{uuid.uuid4().hex[:8]}"
    exchange = Exchange(name, type="direct")
    Queue(name, exchange, routing_key=name)(publisher.default_channel).declare()
    return publisher, consumer, exchange


def poll_while_serializing(monkeypatch, module, consumer_channel, queue):
    """Run one consumer poll at the moment the publisher serializes the payload.

    Both transports call their module's ``dumps`` inside ``_put``: kombu's after it has
    created the file under its final name, ours before anything is in the queue folder.
    """
    real_dumps = module.dumps
    seen = {}

    def dumps(payload, *args, **kwargs):
        try:
            seen["polled"] = consumer_channel._get(queue)
        except Exception as exc:
            seen["polled"] = exc
        return real_dumps(payload, *args, **kwargs)

    monkeypatch.setattr(module, "dumps", dumps)
    return seen


def body_of(message) -> dict:
    assert message["properties"]["body_encoding"] == "base64"
    return json.loads(base64.b64decode(message["body"]))


def publish(publisher, exchange, body):
    publisher.Producer(exchange=exchange, routing_key=exchange.name,
                       serializer="json").publish(body)


def test_stock_kombu_hands_a_poller_an_empty_file_mid_publish(monkeypatch, tmp_path):
    publisher, consumer, exchange = channel_pair(STOCK, tmp_path)
    seen = poll_while_serializing(monkeypatch, filesystem, consumer.default_channel,
                                  exchange.name)
    publish(publisher, exchange, {"n": 1})
    assert isinstance(seen["polled"], json.JSONDecodeError)  # the worker's fatal error


def test_our_transport_shows_a_poller_nothing_until_the_message_is_whole(monkeypatch,
                                                                         tmp_path):
    publisher, consumer, exchange = channel_pair(OURS, tmp_path)
    assert type(consumer.default_channel) is broker.Channel
    seen = poll_while_serializing(monkeypatch, broker, consumer.default_channel, exchange.name)
    publish(publisher, exchange, {"n": 1})
    assert type(seen["polled"]).__name__ == "Empty"
    message = consumer.default_channel._get(exchange.name)
    assert body_of(message) == {"n": 1}
    assert os.listdir(tmp_path / "queue") == []


def test_many_messages_while_two_consumers_poll_at_20_ms_none_lost_none_twice(tmp_path):
    result = hammer(OURS, tmp_path, 3000, consumers=2, polling=0.02)
    assert result["consumer_deaths"] == 0, result["errors"]
    assert (result["lost"], result["duplicates"], result["received"]) == (0, 0, 3000)
    assert result["set_aside_bad"] == 0


def test_the_stock_transport_fails_the_same_hammer(tmp_path):
    # A race, so not every run shows it; on this machine 2,000 messages kill both
    # consumers within a second. Three tries keep the test honest and steady.
    results = [hammer(STOCK, tmp_path / str(n), 2000, consumers=2, polling=0.02)
               for n in range(3)]
    assert any(r["consumer_deaths"] for r in results), results
    assert any("JSONDecodeError" in e for r in results for e in r["errors"])


def test_a_message_that_is_not_json_is_set_aside_and_the_next_one_delivered(tmp_path,
                                                                            caplog):
    publisher, consumer, exchange = channel_pair(OURS, tmp_path)
    (tmp_path / "queue" / f"0000_garbage.{exchange.name}.msg").write_bytes(b"")
    publish(publisher, exchange, {"n": 2})
    message = consumer.default_channel._get(exchange.name)
    assert body_of(message) == {"n": 2}
    assert [p.name.endswith(".bad") for p in (tmp_path / "queue").iterdir()] == [True]
    assert "not JSON" in caplog.text


def test_exchange_table_keeps_every_binding_and_drops_a_deleted_one(tmp_path):
    # Bindings are process-wide state in kombu: names of this test's own.
    name = f"table-{uuid.uuid4().hex[:8]}"
    channel = Connection(transport=OURS, transport_options=options(tmp_path, 0.02)).channel()
    exchange = Exchange(name, type="direct")
    for queue in ("a", "b"):
        Queue(f"{name}-{queue}", exchange, routing_key=queue)(channel).declare()
    assert {q.queue for q in channel.get_table(name)} == {f"{name}-a", f"{name}-b"}
    channel.queue_delete(f"{name}-a")
    assert [q.queue for q in channel.get_table(name)] == [f"{name}-b"]
    assert sorted(p.suffix for p in (tmp_path / "control").iterdir()) == [".exchange", ".lock"]


@pytest.mark.parametrize("url", ["filesystem://", "filesystem:///"])
def test_filesystem_urls_use_our_transport(url, settings, tmp_path, monkeypatch):
    from attik.celery import app

    # On Redis settings the app has no filesystem folders: kombu's relative defaults
    # ("control", ...) must not land in the checkout.
    monkeypatch.chdir(tmp_path)

    with app.connection_for_write(url) as conn:
        assert type(conn.transport) is broker.Transport
