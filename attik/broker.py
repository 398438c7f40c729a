"""Celery's embedded broker: kombu's filesystem transport, with messages that appear whole.

kombu 5.7's filesystem transport (``kombu/transport/filesystem.py``) publishes a message
in ``Channel._put`` by opening ``<ms>_<uuid>.<queue>.msg`` under its final name
(``open(filename, 'wb')``: the file exists, empty, from that moment), then taking an
advisory ``flock`` and writing the JSON. A consumer's ``Channel._get`` lists the folder,
moves any ``*.<queue>.msg`` away and reads it, *without taking that lock*. A worker that
polls between the publisher's ``open`` and its ``write`` moves an empty (or half-written)
file, ``loads('')`` raises JSONDecodeError, Celery logs "Unrecoverable error" and the whole
worker exits. Upstream: https://github.com/celery/kombu/issues/1551 (open).

The reader has a second window: with ``store_processed`` off, ``_get`` moves the file
into ``tempfile.gettempdir()`` under its own name. When that is another filesystem,
``shutil.move`` copies then unlinks, and two workers copying the same message into the
same destination can truncate the copy the other one is reading.

Here a message is written to a name no reader looks at (``<name>.tmp``, same folder, so
the same filesystem) and renamed into place: ``rename(2)`` is atomic, so a reader sees no
file or the whole file. A reader claims a message by renaming it, in the same folder, to a
name of its own that no reader matches (``<name>.<random>.claimed``): exactly one worker
wins the rename, the others move on. A message that still cannot be decoded (written by
something else, or a disk that lost it) is set aside as ``*.bad`` with an error in the
log instead of stopping the worker.

``attik/celery.py`` registers this transport as ``filesystem`` (``register()``), so
``CELERY_BROKER_URL=filesystem://`` uses it in the web process and the workers alike.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import uuid
from json import JSONDecodeError
from queue import Empty
from time import monotonic

from kombu.exceptions import ChannelError
from kombu.transport import TRANSPORT_ALIASES, _transport_cache, filesystem, virtual
from kombu.transport.filesystem import LOCK_EX, exchange_queue_t, lock, unlock
from kombu.utils.encoding import bytes_to_str, str_to_bytes
from kombu.utils.json import dumps, loads

logger = logging.getLogger(__name__)

ALIAS = "filesystem"
TRANSPORT_PATH = "attik.broker:Transport"
TEMPORARY_SUFFIX = ".tmp"
CLAIMED_SUFFIX = ".claimed"
BAD_SUFFIX = ".bad"


class Channel(filesystem.Channel):
    """kombu's filesystem channel with atomic publish and an atomic, exclusive claim."""

    def _put(self, queue, payload, **kwargs):
        """Write ``payload`` under a temporary name, then rename it into the queue."""
        name = f"{int(round(monotonic() * 1000))}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        # "<name>.tmp": partition('.')[2] is "<queue>.msg.tmp", which no reader matches.
        temporary = final + TEMPORARY_SUFFIX
        try:
            with open(temporary, "xb") as f:
                f.write(str_to_bytes(dumps(payload)))
            os.rename(temporary, final)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.remove(temporary)
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc

    def _get(self, queue):
        """Claim the oldest message of ``queue`` by renaming it, then read it."""
        wanted = f"{queue}.msg"
        for filename in sorted(os.listdir(self.data_folder_in)):
            if filename.partition(".")[2] != wanted:
                continue
            source = os.path.join(self.data_folder_in, filename)
            # A name of our own in the same folder (so the same filesystem: rename is
            # atomic) that no reader matches: exactly one worker wins each message.
            claimed = f"{source}.{uuid.uuid4().hex[:8]}{CLAIMED_SUFFIX}"
            try:
                os.rename(source, claimed)
            except FileNotFoundError:
                continue  # another worker claimed it first
            except OSError as exc:
                raise ChannelError(f"Cannot claim file {source!r} from queue.") from exc
            try:
                with open(claimed, "rb") as f:
                    payload = f.read()
            except OSError as exc:
                raise ChannelError(f"Cannot read file {claimed!r} from queue.") from exc
            try:
                message = loads(bytes_to_str(payload))
            except (JSONDecodeError, UnicodeDecodeError):
                os.rename(claimed, claimed + BAD_SUFFIX)
                logger.error("Broker message %s is not JSON (%d bytes); set aside as %s",
                             filename, len(payload), claimed + BAD_SUFFIX)
                continue
            if self.store_processed:
                shutil.move(claimed, os.path.join(self.processed_folder, filename))
            else:
                os.remove(claimed)
            return message
        raise Empty()


    # The exchange table (control folder) has the same window: the stock _queue_bind opens
    # the file with "wb" (empty) before it locks and writes it, and a second worker that
    # binds or publishes to a fanout exchange meanwhile reads "" (two workers starting
    # together). Edits here hold a lock of their own and replace the table by rename.

    def _edit_table(self, exchange, change) -> None:
        file = self._exchange_file(exchange)
        self.control_folder.mkdir(exist_ok=True)
        try:
            with open(f"{file}.lock", "a") as guard:
                lock(guard, LOCK_EX)
                try:
                    queues = self.get_table(exchange)
                    changed = change(list(queues))
                    if changed == queues:
                        return
                    temporary = f"{file}.{uuid.uuid4().hex[:8]}{TEMPORARY_SUFFIX}"
                    with open(temporary, "xb") as f:
                        f.write(str_to_bytes(dumps(changed)))
                    os.rename(temporary, file)
                finally:
                    unlock(guard)
        except OSError as exc:
            raise ChannelError(f"Cannot open {file}") from exc

    def _queue_bind(self, exchange, routing_key, pattern, queue):
        entry = exchange_queue_t(routing_key or "", pattern or "", queue or "")
        self._edit_table(exchange, lambda queues: queues if entry in queues
                         else [entry, *queues])

    def _delete(self, queue, exchange, routing_key, pattern, *args, **kwargs):
        virtual.Channel._delete(self, queue, exchange, routing_key, pattern, *args, **kwargs)
        entry = exchange_queue_t(routing_key or "", pattern or "", queue or "")
        self._edit_table(exchange, lambda queues: [q for q in queues if q != entry])


class Transport(filesystem.Transport):
    Channel = Channel
    # One state for every connection in the process, as kombu's filesystem transport has.
    global_state = filesystem.Transport.global_state


def register() -> None:
    """Make ``filesystem://`` resolve to this transport (call before the first connection)."""
    TRANSPORT_ALIASES[ALIAS] = TRANSPORT_PATH
    _transport_cache.pop(ALIAS, None)
