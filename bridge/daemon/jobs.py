"""A job from request to result: checking a submit message, and running a checked job.

:func:`check_submit` turns a submit message into the request stored in the journal, raising
:class:`~bridge.protocol.ProtocolError` with the reply's error code for anything wrong.
:func:`execute` runs a stored job through the engine's ``restore()``; both executors (local and
Ray) call it, so a job runs the same wherever it runs.
"""

from __future__ import annotations

import importlib
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bridge.protocol import JOB_ID, Message, ProtocolError, read_buffers
from diffmusic_engine.api import BACKENDS, Restoration, restore
from diffmusic_engine.audio import check_audio, write_audio
from diffmusic_engine.damage import (
    backend_options,
    check_damage,
    damage_from_dict,
    damage_to_dict,
)
from diffmusic_engine.errors import DiffMusicError
from diffmusic_engine.progress import ProgressCallback

RIR_BUFFER = "buffer:rir"  # damage.rir value meaning "the impulse response is the rir buffer"


@dataclass(frozen=True)
class Limits:
    """What the daemon accepts (docs/protocol.md, "Limits")."""

    max_duration: float = 900.0
    max_channels: int = 8
    min_rate: int = 8000
    max_rate: int = 192000
    max_queued: int = 256
    max_message_bytes: int = 512 * 2**20
    max_rir_seconds: float = 20.0


# Option ranges checked before a job is accepted: name -> (kind, low, high) or allowed values.
_RANGES: dict[str, tuple[type, float, float]] = {
    "steps": (int, 1, 10000),
    "gamma": (float, 1e-12, math.inf),
    "eta": (float, 0.0, 1.0),
    "seed": (int, 0, 2**32 - 1),
    "batch_size": (int, 1, 256),
}
_CHOICES = {
    "sampler": ("irs", "dps", "dsg", "ddim"),
    "stereo": ("mid-side", "per-channel"),
    "guidance_dtype": ("float32", "bfloat16"),
}


@dataclass(frozen=True)
class SubmitRequest:
    """A checked submit: what the journal stores."""

    job_id: str | None
    priority: int
    request: dict[str, Any]
    inputs: dict[str, np.ndarray]


def check_submit(message: Message, limits: Limits) -> SubmitRequest:
    """Check a submit message completely; raise ProtocolError(code, one line) if anything is off."""
    content = message.content
    job_id = content.get("job")
    if job_id is not None and (not isinstance(job_id, str) or not JOB_ID.match(job_id)):
        raise ProtocolError(
            "bad-request", f"job id {job_id!r}: expected 1-64 of A-Z a-z 0-9 _ . - "
        )
    priority = content.get("priority", 0)
    if not isinstance(priority, int) or isinstance(priority, bool) or not -10 <= priority <= 10:
        raise ProtocolError("bad-request", f"priority {priority!r}: expected an integer -10..10")
    backend = content.get("backend", "dsp")
    if backend not in BACKENDS:
        raise ProtocolError(
            "invalid-options", f"backend {backend!r}: expected one of {', '.join(BACKENDS)}"
        )
    options = content.get("options", {})
    if not isinstance(options, dict):
        raise ProtocolError("invalid-options", "options must be a JSON object")
    check_options(options)
    options = backend_options(options, backend)  # a preset's nesting, flattened as the CLI does
    buffers = read_buffers(message)
    if "audio" not in buffers:
        raise ProtocolError("bad-request", "submit needs a buffer named 'audio'")
    audio, rate = buffers["audio"]
    check_limits(audio, rate, limits)
    damage = _damage(content.get("damage"), audio, rate, buffers)
    if backend == "dsp":
        check_dsp_options(damage, options)
    if damage.get("rir") == RIR_BUFFER:
        rir, rir_rate = buffers["rir"]
        check_limits(rir, rir_rate, limits, "impulse response", limits.max_rir_seconds)
    unexpected = set(buffers) - {"audio", "rir"}
    if unexpected:
        raise ProtocolError("bad-request", f"unexpected buffer(s) {sorted(unexpected)}")
    source = content.get("source") or {}
    if not isinstance(source, dict):
        raise ProtocolError("bad-request", "source must be a JSON object")
    specs = content["buffers"]
    digests = dict(zip((s["name"] for s in specs), message.digests, strict=True))
    request = {
        "damage": damage,
        "backend": backend,
        "options": options,
        "source": {k: str(v) for k, v in source.items() if k in ("name", "file_dtype")},
        "buffers": {s["name"]: {"shape": s["shape"], "sample_rate": s["sample_rate"]}
                    for s in specs},
        "sha256": {name: digest.hex() for name, digest in digests.items()},
    }  # fmt: skip
    return SubmitRequest(job_id, priority, request, {k: a for k, (a, _) in buffers.items()})


def check_limits(
    audio: np.ndarray, rate: int, limits: Limits, what: str = "audio", max_duration: float = 0
) -> None:
    """Shape, rate, size and finiteness of one buffer."""
    try:
        check_audio(audio, what)
    except DiffMusicError as exc:
        raise ProtocolError("invalid-audio", str(exc)) from None
    if not limits.min_rate <= rate <= limits.max_rate:
        raise ProtocolError(
            "too-large" if rate > limits.max_rate else "invalid-audio",
            f"{what}: sample rate {rate} Hz outside {limits.min_rate}..{limits.max_rate} Hz",
        )
    if audio.shape[0] > limits.max_channels:
        raise ProtocolError(
            "too-large", f"{what}: {audio.shape[0]} channels, at most {limits.max_channels}"
        )
    duration = audio.shape[1] / rate
    if duration > (max_duration or limits.max_duration):
        raise ProtocolError(
            "too-large",
            f"{what}: {duration:.1f} s, at most {max_duration or limits.max_duration:g} s",
        )


def check_options(options: dict[str, Any]) -> None:
    """Known options in range, at top level and under a backend's name (as presets nest them)."""
    for name, value in options.items():
        if name in BACKENDS:
            if not isinstance(value, dict):
                raise ProtocolError("invalid-options", f"options.{name} must be a JSON object")
            check_options(value)
        elif name in _RANGES:
            kind, low, high = _RANGES[name]
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            if ok and kind is int:
                ok = float(value).is_integer()
            if not ok or not low <= value <= high:
                raise ProtocolError(
                    "invalid-options",
                    f"option {name}={value!r}: expected {kind.__name__} in {low:g}..{high:g}",
                )
        elif name in _CHOICES and value not in _CHOICES[name]:
            raise ProtocolError(
                "invalid-options", f"option {name}={value!r}: expected one of {_CHOICES[name]}"
            )


def check_dsp_options(damage: dict[str, Any], options: dict[str, Any]) -> None:
    """The dsp backend's own option check for this task, run before the job is accepted."""
    from diffmusic_engine.dsp.options import parse_options

    task = damage["task"]
    module = importlib.import_module(f"diffmusic_engine.dsp.{task.replace('-', '_')}")
    blind = damage.get("rir") in (None, "blind")
    spec = getattr(module, "OPTIONS", None) or getattr(
        module, "BLIND_OPTIONS" if blind else "KNOWN_OPTIONS", None
    )
    if spec is None:
        return
    try:
        parse_options(task, options, spec)
    except DiffMusicError as exc:
        raise ProtocolError("invalid-options", str(exc)) from None


def _damage(data: Any, audio: np.ndarray, rate: int, buffers: dict) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ProtocolError("invalid-damage", "damage must be a JSON object with a task")
    data = dict(data)
    from_buffer = data.get("rir") == RIR_BUFFER
    if from_buffer:
        if "rir" not in buffers:
            raise ProtocolError("bad-request", "damage.rir is buffer:rir but no rir buffer sent")
        data["rir"] = "blind"  # checked as blind; the buffer replaces the file
    elif data.get("task") == "dereverb" and data.get("rir") not in (None, "blind"):
        raise ProtocolError(
            "invalid-damage", "dereverb: send the impulse response as the rir buffer, not a path"
        )
    try:
        damage = damage_from_dict(data)
        check_damage(damage, audio.shape[1] / rate, rate, audio.shape[0])
    except DiffMusicError as exc:
        raise ProtocolError("invalid-damage", str(exc)) from None
    result = damage_to_dict(damage)
    if from_buffer:
        result["rir"] = RIR_BUFFER
    return result


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
    run_options = {**request["options"], **(options or {})}
    with tempfile.TemporaryDirectory(prefix="diffmusic-job-") as folder:
        if damage_dict.get("rir") == RIR_BUFFER:
            # The IR travelled as a buffer; the engine reads IRs from files, so give it one.
            # A float32 WAV holds the samples exactly, so the result equals an in-process run.
            path = Path(folder) / "rir.wav"
            write_audio(path, inputs["rir"], int(request["buffers"]["rir"]["sample_rate"]))
            damage_dict["rir"] = str(path)
        damage = damage_from_dict(damage_dict)
        return restore(
            audio, rate, damage, backend=request["backend"], options=run_options, callback=callback
        )
