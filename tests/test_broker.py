"""The embedded broker writes each message aside and renames it into place (attik/broker.py).

kombu's own filesystem transport creates the message file and then writes it, so a
worker polling at that instant read an empty file and stopped (JSONDecodeError)."""

import os

from kombu import Connection

from attik import broker


def test_a_message_appears_in_the_queue_folder_only_once_it_is_whole(tmp_path, monkeypatch):
    folder = tmp_path / "queue"
    folder.mkdir()
    seen_before_rename = []
    real_replace = os.replace

    def replace(src, dst):
        # At this instant a polling worker sees the folder: no message of the queue yet.
        seen_before_rename.append(sorted(n for n in os.listdir(folder) if n.endswith(".msg")))
        assert os.path.getsize(src) > 0
        real_replace(src, dst)

    monkeypatch.setattr(broker.os, "replace", replace)
    options = {"data_folder_in": str(folder), "data_folder_out": str(folder),
               "store_processed": False}
    with Connection("filesystem://", transport="attik.broker:Transport",
                    transport_options=options) as connection:
        queue = connection.SimpleQueue("attik")
        queue.put({"run": 1})
        assert seen_before_rename == [[]]
        assert [n for n in os.listdir(folder) if n.endswith(".attik.msg")]
        assert not [n for n in os.listdir(folder) if n.endswith(".partial")]
        message = queue.get(timeout=2)
        assert message.payload == {"run": 1}
        message.ack()
        queue.close()


def test_the_embedded_default_uses_it(settings):
    assert settings.CELERY_BROKER_URL.startswith("filesystem://")
    assert settings.CELERY_BROKER_TRANSPORT == "attik.broker:Transport"
