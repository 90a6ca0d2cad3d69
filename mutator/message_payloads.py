"""Decoding what a message brought, even when it cannot be decoded.

Handlers take ``*args`` (workflows/messages.py), so the SDK decodes their payloads without
type hints; a payload that is not valid JSON (or has an unknown encoding) would make the
SDK drop a signal with a logged traceback. The worker's converter hands such a payload to
the handler as an UndecodablePayload instead, which it then refuses like any bad input.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import PydanticPayloadConverter
from temporalio.converter import DataConverter


@dataclasses.dataclass(frozen=True)
class UndecodablePayload:
    """A message argument the converter could not decode.

    Attributes:
        encoding: The payload's encoding metadata.
        error: Why decoding failed (truncated).
    """

    encoding: str
    error: str


class LenientPayloadConverter(PydanticPayloadConverter):
    """The pydantic converter, lenient where no type is asked for.

    Without type hints, a payload it cannot decode becomes an ``UndecodablePayload`` rather
    than an error; typed decoding is unchanged.
    """

    def from_payloads(
        self, payloads: Sequence[Payload], type_hints: list[type] | None = None
    ) -> list[Any]:
        """Decode ``payloads``; untyped ones that fail become ``UndecodablePayload``."""
        if type_hints is not None:
            return super().from_payloads(payloads, type_hints)
        return [self._decode(payload) for payload in payloads]

    def _decode(self, payload: Payload) -> Any:
        try:
            return super().from_payloads([payload])[0]
        except Exception as exc:
            encoding = payload.metadata.get("encoding", b"<none>").decode(errors="replace")
            return UndecodablePayload(encoding=encoding[:100], error=str(exc)[:200])


def lenient(converter: DataConverter) -> DataConverter:
    """``converter`` (codec, failure converter kept) with the lenient payload converter."""
    return dataclasses.replace(converter, payload_converter_class=LenientPayloadConverter)
