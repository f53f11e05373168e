"""One exported event (an export line) and the manifest that closes an export."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from contracts.canonical import canonical_json, format_datetime, sha256_hex
from runtime.eventstore import StoredEvent

EXPORT_FORMAT = "briefings-audit-export/1"


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """An event as an auditor sees it: where JetStream stored it, when, and its envelope.

    ``envelope`` is the parsed stored JSON object, or None when the stored bytes are not a
    JSON object with a canonical form (a forgery). ``raw`` keeps the stored bytes whenever
    they are not the canonical form of ``envelope`` (then ``canonical`` is False): the chain
    hash is over the bytes as stored, so an export carries them (``data_b64``).
    """

    stream: str
    seq: int
    subject: str
    time: str
    envelope: dict[str, Any] | None
    raw: bytes | None = None
    canonical: bool = True
    _envelope_bytes: bytes | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_stored(
        cls, stream: str, seq: int, subject: str, time: str, data: bytes
    ) -> AuditRecord:
        try:
            parsed = json.loads(data, parse_float=_no_float)
            if not isinstance(parsed, dict):
                raise ValueError("not an object")
            canonical = _dumps(parsed)
        except ValueError:  # JSONDecodeError, floats, not an object
            return cls(stream, seq, subject, time, None, raw=data, canonical=False)
        is_canonical = canonical == data
        return cls(
            stream,
            seq,
            subject,
            time,
            parsed,
            raw=None if is_canonical else bytes(data),
            canonical=is_canonical,
            _envelope_bytes=canonical,
        )

    def line_object(self) -> dict[str, Any]:
        obj: dict[str, Any] = {
            "stream": self.stream,
            "seq": self.seq,
            "subject": self.subject,
            "time": self.time,
            "envelope": self.envelope,
        }
        if self.envelope is None or self.raw is not None:
            obj["data_b64"] = base64.b64encode(self.raw or b"").decode("ascii")
        return obj

    def to_line(self) -> bytes:
        """The export line: canonical JSON, without the newline."""
        if self.envelope is None or self.raw is not None:
            return canonical_json(self.line_object())
        # The keys in canonical (sorted) order: envelope, seq, stream, subject, time. Built
        # from the envelope's canonical bytes so each event is serialised once (export speed).
        return b"".join(
            (
                b'{"envelope":',
                self.data(),
                b',"seq":',
                str(int(self.seq)).encode(),
                b',"stream":',
                _quote(self.stream),
                b',"subject":',
                _quote(self.subject),
                b',"time":',
                _quote(self.time),
                b"}",
            )
        )

    @classmethod
    def from_line_object(cls, obj: dict[str, Any]) -> AuditRecord:
        envelope = obj.get("envelope")
        raw = base64.b64decode(obj["data_b64"], validate=True) if "data_b64" in obj else None
        return cls(
            str(obj["stream"]),
            int(obj["seq"]),
            str(obj["subject"]),
            str(obj["time"]),
            envelope,
            raw=raw,
            canonical=raw is None,
        )

    def chain_hash(self) -> str:
        """The hash the next event of the aggregate names as ``prev_hash``: SHA-256 of the
        bytes as stored (contracts/HASHING.md §3), which are the canonical form when the
        services wrote them."""
        return sha256_hex(self.stored_bytes())

    def stored_bytes(self) -> bytes:
        return self.raw if self.raw is not None else self.data()

    def event_hash(self) -> str | None:
        """SHA-256 of the envelope's canonical form: a receipt's item hash (HASHING.md §6)."""
        if self.envelope is None:
            return None
        return sha256_hex(self.data())

    def data(self) -> bytes:
        """The canonical form of the envelope (the stored bytes, when the services wrote them)."""
        if self.envelope is None:
            return self.raw or b""
        cached = self._envelope_bytes
        if cached is None:
            cached = canonical_json(self.envelope)
            object.__setattr__(self, "_envelope_bytes", cached)
        return cached

    def to_stored_event(self) -> StoredEvent:
        msg_id = str(self.envelope.get("event_id")) if self.envelope else None
        return StoredEvent(
            self.stream, self.seq, self.subject, self.data(), msg_id, parse_time(self.time)
        )

    # -- convenient envelope fields ------------------------------------------------------
    def field(self, name: str) -> Any:
        return None if self.envelope is None else self.envelope.get(name)


def _no_float(text: str) -> Any:
    raise ValueError(f"a float ({text}) has no canonical form")


def _dumps(value: Any) -> bytes:
    """canonical_json without its float scan (floats were refused while parsing)."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def _quote(text: str) -> bytes:
    """A JSON string in canonical form; plain ones (the usual case) without json.dumps."""
    if text.isprintable() and '"' not in text and "\\" not in text:
        return b'"' + text.encode("utf-8") + b'"'
    return _dumps(text)


def server_time(stamp: str) -> str:
    """JetStream's ``Nats-Time-Stamp`` (RFC 3339, nanoseconds) in the canonical form.

    Truncated (not rounded) to microseconds, so every reader gets the same text.
    """
    stamp = stamp.strip()
    if (
        len(stamp) >= 27
        and stamp[19] == "."
        and stamp.endswith("Z")
        and stamp[10] == "T"
        and stamp[20:-1].isdigit()
        and len(stamp[20:-1]) >= 6
    ):
        return stamp[:26] + "Z"  # the usual UTC form: cut the fraction to six digits
    if stamp.endswith("Z"):
        stamp = stamp[:-1] + "+00:00"
    main, _, zone = stamp.partition("+")
    if "." in main:
        head, frac = main.split(".", 1)
        main = f"{head}.{(frac + '000000')[:6]}"
    parsed = datetime.fromisoformat(f"{main}+{zone or '00:00'}")
    return format_datetime(parsed)


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def manifest_line(manifest: dict[str, Any]) -> bytes:
    return canonical_json({"manifest": manifest})
