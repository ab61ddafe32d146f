"""Spectrogram pictures: where a user would rather look than read."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from diffmusic_engine.atomic import replacing

if TYPE_CHECKING:  # matplotlib is imported when a picture is drawn
    from matplotlib.axes import Axes
    from matplotlib.collections import QuadMesh
    from matplotlib.figure import Figure

# Frames a panel shows at most: a whole track at the 2.9 ms hop of a short span would be ~80,000
# frames a panel (hundreds of MB and minutes to draw), far more than a picture has pixels.
MAX_FRAMES = 4000
SHORT_HOP = 128  # samples: 2.9 ms at 44.1 kHz, fine enough to see a click or a gap's edge
# The strip along the top of a panel that marks a shaded stretch, as a fraction of the panel's
# height: over the highest frequencies, where music holds the least to hide
STRIP = 0.06


@dataclass(frozen=True)
class Shading:
    """Stretches of time (seconds of the file) a picture marks, one entry of its legend: a
    strip of ``color`` along the top of every panel over them, and with ``hatch`` that pattern
    in ``color`` over the rest of the panel's height (a silence left alone: nothing to hide)."""

    label: str
    spans: Sequence[tuple[float, float]]
    color: str
    hatch: str = ""


def save_spectrograms(
    path: Path,
    panels: dict[str, np.ndarray],
    sample_rate: int,
    *,
    title: str = "",
    span: tuple[float, float] | None = None,
    marks: tuple[float, ...] = (),
    shadings: Sequence[Shading] = (),
) -> Path:
    """One log-magnitude spectrogram per panel (channels averaged), stacked, as a PNG, on a
    log-frequency axis (the bass visible) with times in seconds of the file.

    ``span`` (seconds) zooms every panel on the same stretch of time, e.g. around a gap;
    ``marks`` (seconds, in the file's time) draw dashed lines, e.g. at a gap's edges;
    ``shadings`` mark stretches on every panel (:class:`Shading`), named in a legend below them.
    """
    import librosa.display  # noqa: F401 - it imports pyplot: before the backend is set, as ever
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        len(panels), 1, figsize=(10, 2.6 * len(panels)), sharex=True, layout="constrained"
    )
    axes = np.atleast_1d(axes)
    spectra, hop = _panel_spectra(panels, sample_rate, span)
    loudest = max(float(s.max()) for s in spectra.values()) or 1.0  # one scale for every panel
    start = span[0] if span is not None else 0.0
    for ax, (name, spectrum) in zip(axes, spectra.items(), strict=True):
        image = _draw_panel(ax, name, spectrum, sample_rate, hop, start, loudest, marks)
        _shade(ax, shadings)
    fig.colorbar(image, ax=axes.tolist(), format="%+2.0f dB")
    if shown := [shading for shading in shadings if shading.spans]:
        _legend(fig, shown)
    if title:
        fig.suptitle(title)
    path = Path(path)
    with replacing(path) as temporary:  # keeps the suffix: savefig's format
        fig.savefig(temporary, dpi=90)
    plt.close(fig)
    return path


def _panel_spectra(
    panels: dict[str, np.ndarray], sample_rate: int, span: tuple[float, float] | None
) -> tuple[dict[str, np.ndarray], int]:
    """|STFT| of each panel's mono mix (within ``span``, seconds), all at one window and hop, and
    that hop."""
    import librosa

    monos = {name: np.mean(np.atleast_2d(audio), axis=0) for name, audio in panels.items()}
    if span is not None:
        first, stop = int(span[0] * sample_rate), int(span[1] * sample_rate)
        monos = {name: mono[first:stop] for name, mono in monos.items()}
    n_fft, hop = _stft_sizes(max(mono.size for mono in monos.values()))
    spectra = {
        name: np.abs(librosa.stft(mono, n_fft=n_fft, hop_length=hop))
        for name, mono in monos.items()
    }
    return spectra, hop


def _stft_sizes(longest: int) -> tuple[int, int]:
    """The STFT window and hop of every panel, for a longest panel of ``longest`` samples."""
    hop = picture_hop(longest)
    # a clip shorter than the window takes the power of two within it (librosa warns otherwise)
    n_fft = min(max(1024, 2 * hop), 1 << max(4, longest.bit_length() - 1))
    return n_fft, min(hop, n_fft // 2)


def _draw_panel(
    ax: Axes,
    name: str,
    spectrum: np.ndarray,
    sample_rate: int,
    hop: int,
    start: float,
    loudest: float,
    marks: tuple[float, ...],
) -> QuadMesh:
    """One panel titled ``name``: ``spectrum`` in dB of ``loudest`` (-80 to 0), its frames placed
    from ``start`` (seconds of the file), dashed lines at ``marks``. Returns the image, for the
    colour bar."""
    import librosa
    import librosa.display
    import matplotlib.ticker

    # frame centres in the file's own time, so the labels read the time a user would seek to
    times = start + librosa.times_like(spectrum, sr=sample_rate, hop_length=hop)
    image = librosa.display.specshow(
        librosa.amplitude_to_db(spectrum, ref=loudest, top_db=None), sr=sample_rate,
        hop_length=hop, x_coords=times, x_axis="s", y_axis="log", ax=ax,
        vmin=-80, vmax=0, cmap="magma",
    )  # fmt: skip
    ax.set_title(name)
    for mark in marks:
        ax.axvline(mark, color="cyan", lw=0.8, ls="--")
    ax.xaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%.2f"))
    ax.set_xlabel("time (s)")
    ax.label_outer()  # time labels on the bottom panel only
    return image


def _shade(ax: Axes, shadings: Sequence[Shading]) -> None:
    """Each of ``shadings`` on the panel ``ax``: its strip along the top, and its hatch below
    it; the time shown is left as it was (a stretch outside a zoomed view stays out of it)."""
    shown = ax.get_xlim()
    across = ax.get_xaxis_transform()  # x in seconds, y from 0 (bottom) to 1 (top)
    for shading in shadings:
        ranges = [(start, end - start) for start, end in shading.spans]
        ax.broken_barh(ranges, (1 - STRIP, STRIP), transform=across, color=shading.color, lw=0)
        if shading.hatch:
            ax.broken_barh(
                ranges, (0, 1 - STRIP), transform=across, facecolor="none",
                edgecolor=shading.color, hatch=shading.hatch, lw=0,
            )  # fmt: skip
    ax.set_xlim(shown)


def _legend(fig: Figure, shadings: Sequence[Shading]) -> None:
    """The legend naming ``shadings``, under the panels, so that it hides none of the music."""
    from matplotlib.patches import Patch

    handles = [  # a hatch drawn over black, as over the silence it marks
        Patch(facecolor="black" if shading.hatch else shading.color, edgecolor=shading.color,
              hatch=shading.hatch, label=shading.label)
        for shading in shadings
    ]  # fmt: skip
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles))


def picture_hop(samples: int) -> int:
    """The STFT hop for a panel of ``samples``: :data:`SHORT_HOP`, or the power of two that keeps
    it within :data:`MAX_FRAMES` frames (a whole track: 93 ms at 44.1 kHz for 4 minutes)."""
    hop = SHORT_HOP
    while samples / hop > MAX_FRAMES:
        hop *= 2
    return hop
