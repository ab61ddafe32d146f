"""Spectrogram pictures: where a user would rather look than read."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from diffmusic_engine.atomic import replacing


def save_spectrograms(
    path: Path,
    panels: dict[str, np.ndarray],
    sample_rate: int,
    *,
    title: str = "",
    span: tuple[float, float] | None = None,
    marks: tuple[float, ...] = (),
) -> Path:
    """One log-magnitude spectrogram per panel (channels averaged), stacked, as a PNG, on a
    log-frequency axis (the bass visible) with times in seconds of the file.

    ``span`` (seconds) zooms every panel on the same stretch of time, e.g. around a gap;
    ``marks`` (seconds, in the file's time) draw dashed lines, e.g. at a gap's edges.
    """
    import librosa
    import librosa.display
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        len(panels), 1, figsize=(10, 2.6 * len(panels)), sharex=True, layout="constrained"
    )
    axes = np.atleast_1d(axes)
    spectra = {}
    for name, audio in panels.items():
        mono = np.mean(np.atleast_2d(audio), axis=0)
        if span is not None:
            mono = mono[int(span[0] * sample_rate) : int(span[1] * sample_rate)]
        spectra[name] = np.abs(librosa.stft(mono, n_fft=1024, hop_length=128))
    loudest = max(float(s.max()) for s in spectra.values()) or 1.0  # one scale for every panel
    start = span[0] if span is not None else 0.0
    for ax, (name, spectrum) in zip(axes, spectra.items(), strict=True):
        # frame centres in the file's own time, so the labels read the time a user would seek to
        times = start + librosa.times_like(spectrum, sr=sample_rate, hop_length=128)
        image = librosa.display.specshow(
            librosa.amplitude_to_db(spectrum, ref=loudest, top_db=None), sr=sample_rate,
            hop_length=128, x_coords=times, x_axis="s", y_axis="log", ax=ax,
            vmin=-80, vmax=0, cmap="magma",
        )  # fmt: skip
        ax.set_title(name)
        for mark in marks:
            ax.axvline(mark, color="cyan", lw=0.8, ls="--")
        ax.xaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%.2f"))
        ax.set_xlabel("time (s)")
        ax.label_outer()  # time labels on the bottom panel only
    fig.colorbar(image, ax=axes.tolist(), format="%+2.0f dB")
    if title:
        fig.suptitle(title)
    path = Path(path)
    with replacing(path) as temporary:  # keeps the suffix: savefig's format
        fig.savefig(temporary, dpi=90)
    plt.close(fig)
    return path
