"""Audio file containers by extension: which library writes each, in which format, and which
extensions a folder search takes as audio. The one table every reader and writer consults
(``audio``'s writer, the batch's search, the notes on lossy and 64-bit outputs).

libsndfile writes these itself (exact integer round trips, which bit-identical restoration
outside a gap depends on); pedalboard writes whatever else it knows on the platform.
"""

from __future__ import annotations

# extension -> libsndfile's major format. ``.bwf`` is a WAV that carries a bext chunk; it had
# gone to pedalboard's writer, which clipped float audio and rounded 48 samples off by a step.
CONTAINERS = {
    ".wav": "WAV", ".wave": "WAV", ".bwf": "WAV", ".rf64": "RF64", ".w64": "W64",
    ".flac": "FLAC", ".aif": "AIFF", ".aiff": "AIFF", ".caf": "CAF",
    ".ogg": "OGG", ".mp3": "MP3",
}  # fmt: skip
LOSSY_SUBTYPES = {".ogg": "VORBIS", ".mp3": "MPEG_LAYER_III"}
# An input decoded from these was lossy coded (``AudioInfo.lossy``): a dropout in it is a dip
# under the codec's ringing, no longer digital silence (diagnose.coded). libsndfile's subtypes
# for what it reads; by extension for what pedalboard reads (AAC in .m4a on macOS), there
# where it decodes to float (ALAC, lossless, shares .m4a and decodes to integers).
LOSSY_CODECS = {"MPEG_LAYER_I", "MPEG_LAYER_II", "MPEG_LAYER_III", "VORBIS", "OPUS"}
LOSSY_SUFFIXES = {".mp3", ".ogg", ".oga", ".opus", ".m4a", ".aac", ".mp4", ".wma"}
# containers that hold 32-bit float samples (FLAC holds integers only)
FLOAT_CONTAINERS = {".wav", ".wave", ".bwf", ".rf64", ".w64", ".aif", ".aiff", ".caf"}
# the sample formats an output may be asked for (``--bit-depth``), each as the source format it
# is then written like (``audio.bit_depth_for``: 32-bit float where the container holds it, 24-bit
# in FLAC); without one an output keeps its input's. A lossy output has none (:func:`no_bit_depth`)
BIT_DEPTHS = {"16": "int16", "24": "int24", "32f": "float32"}
# a folder search takes these as audio: what libsndfile reads (pedalboard reads more, named)
AUDIO_SUFFIXES = set(CONTAINERS)
# a WAV's data size field is 32 bits: past this many bytes of samples it is written as RF64
WAV_LIMIT_BYTES = 0xFFFFFFFF - (1 << 20)
# a WAV of more channels than this is written WAVE_FORMAT_EXTENSIBLE, whose header says the
# speakers (a 5.1 file had been written with format tag 1, and a DAW lost its layout)
WAVEX_CHANNELS = 2


def major_format(suffix: str, channels: int, data_bytes: int | None) -> str:
    """libsndfile's major format for a file of ``suffix``: RF64 for a WAV past 4 GiB of
    samples (``data_bytes``, when known: a plain WAV's header cannot count them, and readers
    then read it short), WAVEX for a WAV of more than two channels."""
    major = CONTAINERS[suffix]
    if major != "WAV":
        return major
    if data_bytes is not None and data_bytes > WAV_LIMIT_BYTES:
        return "RF64"
    return "WAVEX" if channels > WAVEX_CHANNELS else "WAV"


def is_lossy(suffix: str) -> bool:
    """Whether a file of ``suffix`` is re-encoded lossily when written."""
    return suffix.lower() in LOSSY_SUBTYPES


def no_bit_depth(suffix: str) -> str | None:
    """Why a file of ``suffix`` cannot be written at an asked bit depth, or ``None`` where it
    can: a lossy codec keeps no samples, only its coded spectrum (the decoder makes float
    samples), so a ``--bit-depth`` for it would be dropped unseen."""
    if not is_lossy(suffix):
        return None
    return f"a {suffix.lower()} file has no bit depth (lossy coded: its decoder makes the samples)"


def lossy_coded(suffix: str, subtype: str | None, file_dtype: str) -> bool:
    """Whether a file of ``suffix`` read as libsndfile's ``subtype`` (``None``: pedalboard read
    it, as ``file_dtype``) was lossy coded (:data:`LOSSY_CODECS`, :data:`LOSSY_SUFFIXES`)."""
    if subtype is not None:
        return subtype in LOSSY_CODECS
    return suffix.lower() in LOSSY_SUFFIXES and file_dtype.startswith("float")
