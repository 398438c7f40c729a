"""Hammer a kombu filesystem transport: publish while consumer processes poll.

Used by tests/test_broker.py and benchmarks/broker_benchmark.py. Each consumer is a
process of its own (fork), as Celery's workers are, with a kombu consumer that polls the
folder every ``polling`` seconds; the parent publishes Celery-sized JSON messages in
bursts. A consumer that raises (kombu's stock transport: JSONDecodeError from an empty
file) stops there and reports it, as a Celery worker exits on "Unrecoverable error".
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import queue as queue_module
import time
from pathlib import Path

STOCK = "kombu.transport.filesystem:Transport"
OURS = "attik.broker:Transport"
# About the size of a Celery task message (headers, body, properties).
PADDING = "x" * 1500


def options(folder: Path, polling: float) -> dict:
    for sub in ("queue", "processed", "control"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    return {
        "data_folder_in": str(folder / "queue"),
        "data_folder_out": str(folder / "queue"),
        "processed_folder": str(folder / "processed"),
        "control_folder": str(folder / "control"),
        "store_processed": False,
        "polling_interval": polling,
    }


def _consume(transport: str, transport_options: dict, name: str, stop, out) -> None:
    from kombu import Connection, Consumer, Queue

    received: list[int] = []
    error = None
    try:
        with Connection(transport=transport, transport_options=transport_options) as conn:
            def on_message(body, message):
                received.append(body["n"])
                message.ack()

            with Consumer(conn, [Queue(name, routing_key=name)], callbacks=[on_message],
                          accept=["json"]):
                while not stop.is_set():
                    with contextlib.suppress(TimeoutError):
                        conn.drain_events(timeout=0.2)
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
    out.put((os.getpid(), received, error))


def hammer(transport: str, folder: Path, messages: int, *, consumers: int = 2,
           polling: float = 0.02, burst: int = 25, pause: float = 0.002,
           drain_timeout: float = 120) -> dict:
    """Publish ``messages`` while ``consumers`` processes poll; what each one received."""
    from kombu import Connection, Exchange, Producer, Queue

    transport_options = options(folder, polling)
    name = f"hammer-{os.getpid()}-{time.monotonic_ns()}"
    context = multiprocessing.get_context("fork")
    stop, out = context.Event(), context.Queue()
    with Connection(transport=transport, transport_options=transport_options) as conn:
        exchange = Exchange(name, type="direct")
        Queue(name, exchange, routing_key=name)(conn.default_channel).declare()
        workers = [context.Process(target=_consume,
                                   args=(transport, transport_options, name, stop, out))
                   for _ in range(consumers)]
        for worker in workers:
            worker.start()
        started = time.monotonic()
        producer = Producer(conn.default_channel, exchange=exchange, routing_key=name,
                            serializer="json")
        for n in range(messages):
            producer.publish({"n": n, "padding": PADDING})
            if n % burst == burst - 1:
                time.sleep(pause)
        published_in = time.monotonic() - started
        queue_dir = Path(transport_options["data_folder_in"])
        deadline = time.monotonic() + drain_timeout
        while time.monotonic() < deadline and any(w.is_alive() for w in workers) and any(
                p.name.endswith(f".{name}.msg") for p in queue_dir.iterdir()):
            time.sleep(0.05)
        time.sleep(max(0.5, 5 * polling))  # the last claimed messages are being handled
        stop.set()
        reports = []
        for _ in workers:
            try:
                reports.append(out.get(timeout=30))
            except queue_module.Empty:
                break
        for worker in workers:
            worker.join(timeout=10)
        elapsed = time.monotonic() - started
    seen = [n for _, received, _ in reports for n in received]
    errors = [error for _, _, error in reports if error]
    return {
        "transport": transport,
        "messages": messages,
        "consumers": consumers,
        "polling_interval_s": polling,
        "received": len(seen),
        "distinct": len(set(seen)),
        "duplicates": len(seen) - len(set(seen)),
        "lost": messages - len(set(seen)),
        "consumer_deaths": len(errors) + (consumers - len(reports)),
        "errors": errors[:5],
        "left_in_queue": sum(1 for p in queue_dir.iterdir() if p.name.endswith(f".{name}.msg")),
        "set_aside_bad": sum(1 for p in queue_dir.iterdir() if p.name.endswith(".bad")),
        "published_in_s": round(published_in, 2),
        "seconds": round(elapsed, 2),
    }
