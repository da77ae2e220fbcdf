"""The JSON Lines sink: one JSON object per alert appended to a file, for piping alerts into other tools.

Each line carries ``alert_key``, stable across retries and restarts. A line is written with one
``write`` on a file opened for appending and then fsynced, so a crash leaves either the whole line or
none of it. When an earlier attempt's outcome is unknown (the process died between writing and
recording), the file is searched for the key first: found means sent, so nothing is written twice.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

from bot.core.digests import Digest, render_text
from bot.core.models import Delivery, SendResult


class JsonlNotifier:
    async def send(self, delivery: Delivery) -> SendResult:
        path = Path(delivery.destination.split(":", 1)[1])
        key = delivery.dedupe_key
        try:
            return await asyncio.to_thread(self._send, path, key, delivery)
        except OSError as exc:
            return SendResult.retry(f"cannot write {path}: {exc.strerror or exc}")

    def _send(self, path: Path, key: str, delivery: Delivery) -> SendResult:
        if delivery.outcome_unknown and _contains_key(path, key):
            return SendResult.sent(message_ref=key)
        record = {**delivery.payload, "alert_key": key, "kind": delivery.kind}
        if delivery.kind == "digest":  # a file cannot hold a chart: the digest as text, sparklines included
            record["text"] = render_text(Digest.from_payload(delivery.payload))
        line = (json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n").encode()
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)
        return SendResult.sent(message_ref=key)


def _contains_key(path: Path, key: str) -> bool:
    if not path.exists():
        return False
    needle = f'"alert_key": "{key}"'
    with path.open(encoding="utf-8", errors="replace") as f:
        return any(needle in line for line in f)
