"""Fréchet Audio Distance with a pluggable embedding.

FAD fits a Gaussian to the embeddings of the references and one to those of the estimates and
reports the Fréchet distance between them. The paper uses VGGish or CLAP, whose weights download
at run time; here an embedding is looked up by name, and one that cannot load offline raises a
clear error. ``mel-stats`` needs no weights: log-mel frames (64 bands). It ranks systems the same
way on gross differences but its values are NOT comparable with published VGGish/CLAP FAD.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from scipy import linalg

from diffmusic_engine.errors import ModelError

Embedding = Callable[[np.ndarray, int], np.ndarray]  # (channels, samples), rate -> (frames, dim)


def mel_stats_embedding(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Log-mel frames of the channel mean: 64 bands, 2048-sample windows, hop 1024."""
    import librosa

    mel = librosa.feature.melspectrogram(
        y=np.mean(audio, axis=0), sr=sample_rate, n_fft=2048, hop_length=1024, n_mels=64
    )
    return np.log(mel + 1e-6).T


def _unavailable(name: str, package: str) -> Embedding:
    def embedding(audio: np.ndarray, sample_rate: int) -> np.ndarray:
        raise ModelError(
            f"FAD embedding {name!r} needs {package} and its weights, which download at run time "
            "and are not available offline; use --fad-embedding mel-stats or none"
        )

    return embedding


EMBEDDINGS: dict[str, Embedding] = {
    "mel-stats": mel_stats_embedding,
    "vggish": _unavailable("vggish", "torchvggish"),
    "clap": _unavailable("clap", "laion_clap"),
}


def get_embedding(name: str) -> Embedding:
    if name not in EMBEDDINGS:
        raise ModelError(f"FAD embedding {name!r}: expected one of {', '.join(EMBEDDINGS)}")
    return EMBEDDINGS[name]


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """``||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2))`` of two ``(n, dim)`` sets."""
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = linalg.sqrtm(cov_a @ cov_b)
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a + cov_b - 2 * np.real(root)))


def fad(
    references: Sequence[np.ndarray],
    estimates: Sequence[np.ndarray],
    sample_rate: int,
    embedding: Embedding,
) -> float:
    """FAD between two sets of clips under ``embedding`` (frames pooled over clips)."""
    ref = np.concatenate([embedding(x, sample_rate) for x in references])
    est = np.concatenate([embedding(x, sample_rate) for x in estimates])
    return frechet_distance(ref, est)
