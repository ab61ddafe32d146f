"""Spectrogram pictures: where a user would rather look than read."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def save_spectrograms(
    path: Path,
    panels: dict[str, np.ndarray],
    sample_rate: int,
    *,
    title: str = "",
    span: tuple[float, float] | None = None,
) -> Path:
    """One log-magnitude spectrogram per panel (channels averaged), stacked, as a PNG.

    ``span`` (seconds) zooms every panel on the same stretch of time, e.g. around a gap.
    """
    import librosa
    import librosa.display
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(panels), 1, figsize=(10, 2.6 * len(panels)), sharex=True)
    axes = np.atleast_1d(axes)
    for ax, (name, audio) in zip(axes, panels.items(), strict=True):
        mono = np.mean(np.atleast_2d(audio), axis=0)
        if span is not None:
            mono = mono[int(span[0] * sample_rate) : int(span[1] * sample_rate)]
        db = librosa.amplitude_to_db(np.abs(librosa.stft(mono, n_fft=1024, hop_length=128)))
        image = librosa.display.specshow(
            db, sr=sample_rate, hop_length=128, x_axis="time", y_axis="hz", ax=ax, vmin=-80
        )
        ax.set_title(name)
    fig.colorbar(image, ax=axes.tolist(), format="%+2.0f dB")
    if title:
        fig.suptitle(title)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
