"""The embedded default's broker: kombu's filesystem transport, with atomic writes.

kombu's ``filesystem`` transport creates a message file and then writes it; a worker
polling the folder at that instant moves and reads an empty or half-written file,
fails to decode it, and stops with "Unrecoverable error: JSONDecodeError" (seen under
a bulk re-sync: the messages that worker held came back only through the outbox
sweeper). Here a message is written under a name no reader looks at and renamed into
place, which is atomic on one filesystem: a reader sees the whole message or none.
"""

from __future__ import annotations

import os
import uuid
from time import monotonic

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):
        """Put ``payload`` onto ``queue``: written aside, then renamed into the folder."""
        name = f"{int(round(monotonic() * 1000))}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        partial = os.path.join(self.data_folder_out, f".{name}.partial")  # never matched
        try:
            with open(partial, "wb", buffering=0) as handle:
                handle.write(str_to_bytes(dumps(payload)))
            os.replace(partial, final)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc


class Transport(filesystem.Transport):
    Channel = Channel
