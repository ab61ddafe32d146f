"""A job from request to result: checking a submit message, and running a checked job.

:func:`check_submit` turns a submit message into the request stored in the journal, raising
:class:`~bridge.protocol.ProtocolError` with the reply's error code for anything wrong.
:func:`execute` runs a stored job through the engine's ``restore()``; both executors (local and
Ray) call it, so a job runs the same wherever it runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from bridge.defaults import Limits
from bridge.protocol import (
    ErrorCode,
    Message,
    ProtocolError,
    check_job_id,
    check_priority,
    read_buffers,
)
from diffmusic_engine.api import Restoration, restore
from diffmusic_engine.audio_arrays import check_audio
from diffmusic_engine.damage import (
    Damage,
    Dereverb,
    damage_from_dict,
    damage_to_dict,
)
from diffmusic_engine.damage_check import check_damage
from diffmusic_engine.errors import DiffMusicError, UnsupportedDamage
from diffmusic_engine.options import check_options, resolve_backend, resolve_options
from diffmusic_engine.progress import ProgressCallback

RIR_BUFFER = "buffer:rir"  # damage.rir value meaning "the impulse response is the rir buffer"


@dataclass(frozen=True)
class SubmitRequest:
    """A checked submit: what the journal stores."""

    job_id: str | None
    priority: int
    request: dict[str, Any]
    inputs: dict[str, np.ndarray]


def check_lossy(content: dict[str, Any]) -> bool:
    """A request's ``"lossy"`` (submit, diagnose: the audio was decoded from a lossy codec;
    absent: false, as an older client sends it)."""
    lossy = content.get("lossy", False)
    if not isinstance(lossy, bool):
        raise ProtocolError(ErrorCode.BAD_REQUEST, f"lossy {lossy!r}: expected true or false")
    return lossy


def check_submit(message: Message, limits: Limits) -> SubmitRequest:
    """Check a submit message completely; raise ProtocolError(code, one line) if anything is off."""
    content = message.content
    job_id = content.get("job")
    try:
        check_job_id(job_id, required=False)
        check_priority(content.get("priority", 0))
    except DiffMusicError as exc:
        raise ProtocolError(ErrorCode.BAD_REQUEST, str(exc)) from None
    priority = content.get("priority", 0)
    try:  # the engine's one rule (a list given as the backend had been a TypeError)
        backend = resolve_backend(content.get("backend"))
    except DiffMusicError as exc:
        raise ProtocolError(ErrorCode.INVALID_OPTIONS, str(exc)) from None
    options = content.get("options", {})
    if not isinstance(options, dict):
        raise ProtocolError(ErrorCode.INVALID_OPTIONS, "options must be a JSON object")
    buffers = read_buffers(message)
    if "audio" not in buffers:
        raise ProtocolError(ErrorCode.BAD_REQUEST, "submit needs a buffer named 'audio'")
    audio, rate = buffers["audio"]
    check_limits(audio, rate, limits)
    if "rir" in buffers:
        rir, rir_rate = buffers["rir"]
        check_limits(rir, rir_rate, limits, "impulse response", limits.max_rir_seconds)
    _check_spans(content.get("damage"), limits)
    damage = _damage(content.get("damage"), audio, rate, buffers)
    try:  # the engine's own resolution and check, before anything is journalled
        options = resolve_options(backend, options)
        check_options(backend, damage, options)
    except UnsupportedDamage as exc:  # valid options, a damage this backend cannot restore
        raise ProtocolError(ErrorCode.INVALID_DAMAGE, str(exc)) from None
    except DiffMusicError as exc:
        raise ProtocolError(ErrorCode.INVALID_OPTIONS, str(exc)) from None
    unexpected = set(buffers) - {"audio", "rir"}
    if unexpected:
        raise ProtocolError(ErrorCode.BAD_REQUEST, f"unexpected buffer(s) {sorted(unexpected)}")
    lossy = check_lossy(content)
    source = content.get("source") or {}
    if not isinstance(source, dict):
        raise ProtocolError(ErrorCode.BAD_REQUEST, "source must be a JSON object")
    specs = content["buffers"]
    digests = dict(zip((s["name"] for s in specs), message.digests, strict=True))
    request = {
        "damage": _damage_dict(damage),
        "backend": backend,
        "options": options,
        "source": {k: str(v) for k, v in source.items() if k in ("name", "file_dtype", "path")},
        "buffers": {s["name"]: {"shape": s["shape"], "sample_rate": s["sample_rate"]}
                    for s in specs},
        "sha256": {name: digest.hex() for name, digest in digests.items()},
    }  # fmt: skip
    if lossy:  # the audio was lossy coded: restore() reads dropouts as its dips (absent: not)
        request["lossy"] = True
    return SubmitRequest(job_id, priority, request, {k: a for k, (a, _) in buffers.items()})


def _check_spans(damage: Any, limits: Limits) -> None:
    """At most ``limits.max_spans`` gaps or clicks, counted before they are read."""
    for name in ("gaps", "clicks"):
        spans = damage.get(name) if isinstance(damage, dict) else None
        if isinstance(spans, list) and len(spans) > limits.max_spans:
            raise ProtocolError(
                ErrorCode.TOO_LARGE,
                f"{len(spans)} {name}, at most {limits.max_spans} in one job: send "
                "them in several jobs (or fewer, wider spans)"
            )  # fmt: skip


def check_limits(
    audio: np.ndarray, rate: int, limits: Limits, what: str = "audio", max_duration: float = 0
) -> None:
    """Shape, rate, size and finiteness of one buffer."""
    try:
        check_audio(audio, what)
    except DiffMusicError as exc:
        raise ProtocolError(ErrorCode.INVALID_AUDIO, str(exc)) from None
    if not limits.min_rate <= rate <= limits.max_rate:
        raise ProtocolError(
            ErrorCode.TOO_LARGE if rate > limits.max_rate else ErrorCode.INVALID_AUDIO,
            f"{what}: sample rate {rate} Hz outside {limits.min_rate}..{limits.max_rate} Hz",
        )
    if audio.shape[0] > limits.max_channels:
        raise ProtocolError(
            ErrorCode.TOO_LARGE, f"{what}: {audio.shape[0]} channels, at most {limits.max_channels}"
        )
    duration = audio.shape[1] / rate
    if duration > (limit := max_duration or limits.max_duration):
        remedy = "trim it" if max_duration else (
            "send it in parts (split the file or item), or serve with a higher --max-duration S"
        )  # fmt: skip
        raise ProtocolError(
            ErrorCode.TOO_LARGE,
            f"{what}: {duration:.1f} s, at most {limit:g} s: {remedy}",
        )


def _damage(data: Any, audio: np.ndarray, rate: int, buffers: dict) -> Damage:
    """The checked damage; an impulse response comes as the ``rir`` buffer, never as a path."""
    if not isinstance(data, dict):
        raise ProtocolError(ErrorCode.INVALID_DAMAGE, "damage must be a JSON object with a task")
    data = dict(data)
    if data.get("rir") == RIR_BUFFER:
        if "rir" not in buffers:
            raise ProtocolError(
                ErrorCode.BAD_REQUEST,
                "damage.rir is buffer:rir but no rir buffer sent",
            )
        data["rir"], data["rir_rate"] = buffers["rir"]
    elif data.get("task") == "dereverb" and data.get("rir") not in (None, "blind"):
        raise ProtocolError(
            ErrorCode.INVALID_DAMAGE,
            "dereverb: send the impulse response as the rir buffer, not a path",
        )
    try:
        damage = damage_from_dict(data)
        check_damage(damage, audio.shape[1] / rate, rate, audio.shape[0])
    except DiffMusicError as exc:
        raise ProtocolError(ErrorCode.INVALID_DAMAGE, str(exc)) from None
    return damage


def _damage_dict(damage: Damage) -> dict[str, Any]:
    """The journal's form of ``damage``: an impulse response stays in its buffer."""
    if isinstance(damage, Dereverb) and isinstance(damage.rir, np.ndarray):
        return {**damage_to_dict(Dereverb()), "rir": RIR_BUFFER}
    return damage_to_dict(damage)


def execute(
    request: dict[str, Any],
    inputs: dict[str, np.ndarray],
    callback: ProgressCallback,
    options: dict[str, Any] | None = None,
) -> Restoration:
    """Run a stored job with ``restore()``; ``options`` overrides the request's (loaded models)."""
    audio = inputs["audio"]
    rate = int(request["buffers"]["audio"]["sample_rate"])
    damage_dict = dict(request["damage"])
    if damage_dict.get("rir") == RIR_BUFFER:  # the samples themselves, at their own rate
        damage_dict["rir"] = inputs["rir"]
        damage_dict["rir_rate"] = int(request["buffers"]["rir"]["sample_rate"])
    run_options = {**request["options"], **(options or {})}
    return restore(
        audio, rate, damage_from_dict(damage_dict), backend=request["backend"],
        options=run_options, callback=callback, lossy=bool(request.get("lossy", False)),
    )  # fmt: skip
