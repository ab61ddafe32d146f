"""What the client's audio-carrying messages hold, built and read without sockets: the content
and buffers of a ``submit`` request from a caller's audio and damage (:func:`submit_message`: a
dereverb's impulse response travels as a buffer, local model folders are named from here), and
the :class:`~diffmusic_engine.backends.Restoration` a ``fetch`` reply carries
(:func:`restoration_from_fetch`). The wire format is :mod:`bridge.protocol`'s; the requests that
send them are :mod:`bridge.client.core`'s.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from bridge.protocol import Message, buffer_spec, new_id, read_buffers
from diffmusic_engine.audio_arrays import given_audio
from diffmusic_engine.backends import Restoration
from diffmusic_engine.damage import Damage, Dereverb, damage_to_dict
from diffmusic_engine.damage_check import check_rir_file
from diffmusic_engine.diffusion.options import with_model_keys
from diffmusic_engine.impulse_response import read_impulse_response


def submit_message(
    audio: np.ndarray,
    sample_rate: int,
    damage: Damage | dict[str, Any],
    *,
    backend: str = "dsp",
    options: dict[str, Any] | None = None,
    job_id: str | None = None,
    priority: int = 0,
    source: dict[str, str] | None = None,
    lossy: bool = False,
) -> tuple[dict[str, Any], list[np.ndarray]]:
    """The content and buffers of a submit request (the IR file of dereverb travels as a buffer;
    ``lossy``: the audio's ``AudioInfo.lossy``, decoded from a lossy codec)."""
    audio = given_audio(audio) if np.ndim(audio) == 2 else np.ascontiguousarray(audio, np.float32)
    damage_dict = dict(damage) if isinstance(damage, dict) else None
    buffers = [audio]
    specs = [buffer_spec("audio", audio, sample_rate)]
    if isinstance(damage, Dereverb) and damage.rir is not None:
        if isinstance(damage.rir, np.ndarray):  # samples: sent as they are, at their own rate
            rir, rir_rate = np.atleast_2d(damage.rir), damage.rir_rate or sample_rate
        else:
            check_rir_file(Path(damage.rir))  # named as the impulse response, as restore names it
            rir, rir_rate = read_impulse_response(damage.rir)
        buffers.append(rir)
        specs.append(buffer_spec("rir", rir, rir_rate))
        damage_dict = {**damage_to_dict(Dereverb()), "rir": "buffer:rir"}
    if damage_dict is None:
        damage_dict = damage_to_dict(damage)
    content = {
        "job": job_id or new_id(),
        "priority": priority,
        "damage": damage_dict,
        "backend": backend,
        "options": with_model_keys(options or {}),  # local folders named from here
        "source": dict(source or {}),
        "lossy": lossy,
        "buffers": specs,
    }
    return content, buffers


def _writable(array: np.ndarray) -> np.ndarray:
    """``array`` itself when writable (a view of a received ZeroMQ frame, which nothing else
    holds), else a copy: callers may process a result in place."""
    return array if array.flags.writeable else np.array(array)


def restoration_from_fetch(reply: Message) -> Restoration:
    """The :class:`Restoration` a fetch reply carries (arrays that own the received frames)."""
    arrays = read_buffers(reply)
    tracks = tuple(_writable(arrays[s["name"]][0]) for s in reply.content["buffers"])
    details = dict(reply.content.get("details", {}))
    details["source"] = reply.content.get("source", {})
    return Restoration(tracks, int(reply.content["sample_rate"]), details)
