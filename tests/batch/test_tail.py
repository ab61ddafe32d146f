"""A chain's ``tail``: reverb and delay decays rendered past the input's end, streamed exactly
as pedalboard renders the same board in memory over the input with silence appended."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pedalboard
import pytest
from batch_helpers import write
from pedalboard_native._internal import AddLatency

from bridge.batch import Chain, ChainError, Restorer, load_chain, render_file
from bridge.batch.chain import PluginStep
from bridge.batch.tail import TAIL_MAX_SECONDS, TAIL_QUIET_SECONDS, TAIL_THRESHOLD
from bridge.cli import main
from diffmusic_engine.audio import read_audio
from diffmusic_engine.synth import music_excerpt

RATE = 44100
STEPS = """
[[steps]]
plugin = "Delay"
delay_seconds = 0.3
feedback = 0.5

[[steps]]
plugin = "Reverb"
room_size = 0.6
"""


def board() -> pedalboard.Pedalboard:
    """The chain's plugins, built here by hand."""
    return pedalboard.Pedalboard(
        [pedalboard.Delay(delay_seconds=0.3, feedback=0.5), pedalboard.Reverb(room_size=0.6)]
    )


def chain_file(folder: Path, head: str, steps: str = STEPS) -> Path:
    path = folder / "chain.toml"
    path.write_text(head + "\n" + steps)
    return path


def with_silence(audio: np.ndarray, seconds: float, rate: int = RATE) -> np.ndarray:
    silence = np.zeros((audio.shape[0], round(seconds * rate)), np.float32)
    return np.concatenate([audio, silence], axis=1)


def last_loud(audio: np.ndarray, start: int, quiet: int) -> int:
    """One past the last sample at or above one 16-bit step, from ``start`` on, checked to
    have no quiet run of ``quiet`` samples before it (where "auto" would stop)."""
    loud = np.flatnonzero((np.abs(audio) >= 2.0**-15).any(axis=0))
    loud = loud[loud >= start]
    assert np.diff(np.r_[start, loud]).max() < quiet
    return int(loud[-1]) + 1


@pytest.fixture(scope="module")
def music(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    audio = music_excerpt(1.0, RATE, 2, seed=5)
    return write(tmp_path_factory.mktemp("in") / "in.wav", audio, RATE), audio  # float32


def test_tail_seconds_renders_exactly_that_much_silence_through_the_chain(
    music: tuple[Path, np.ndarray], tmp_path: Path
) -> None:
    source, audio = music
    chain = load_chain(chain_file(tmp_path, "tail = 1.5"))
    events: list[tuple[int, int]] = []
    rendered = render_file(
        source, tmp_path / "out.wav", chain, progress=lambda *e: events.append(e)
    )
    out, info = read_audio(tmp_path / "out.wav")
    assert info.frames == rendered.frames == 44100 + 66150  # 1 s + 1.5 s
    assert rendered.tail == 66150 and rendered.duration == 2.5
    assert events[-1] == (110250, 110250) and all(total == 110250 for _, total in events)
    expected = board()(with_silence(audio, 1.5), RATE)
    np.testing.assert_allclose(out, expected, atol=1e-6)
    assert np.abs(out[:, 44100:]).max() > 0.01  # the decay is there


def test_auto_tail_ends_after_the_last_sample_above_one_16_bit_step(
    music: tuple[Path, np.ndarray], tmp_path: Path
) -> None:
    source, audio = music
    chain = load_chain(chain_file(tmp_path, 'tail = "auto"'))
    assert chain.quiet_seconds() == pytest.approx(
        TAIL_QUIET_SECONDS + 0.3
    )  # the Delay's gap between echoes
    events: list[tuple[int, int]] = []
    rendered = render_file(
        source, tmp_path / "out.wav", chain, progress=lambda *e: events.append(e)
    )
    out, info = read_audio(tmp_path / "out.wav")
    reference = board()(with_silence(audio, TAIL_MAX_SECONDS), RATE)
    end = last_loud(reference, 44100, round(1.3 * RATE))
    assert end > 44100 + RATE  # over a second of decay, not cut at the input's end
    assert info.frames == rendered.frames == end and rendered.notes == ()
    np.testing.assert_allclose(out, reference[:, :end], atol=1e-6)
    assert np.abs(reference[:, end:]).max() < TAIL_THRESHOLD  # what was left out is quieter
    assert events[-1] == (end, end)
    assert all(done <= total for done, total in events)  # the bar's total grows with the tail
    np.testing.assert_allclose(chain.process(audio, RATE), out, atol=1e-6)  # in memory too


def test_auto_waits_out_the_gaps_between_a_delays_echoes(tmp_path: Path) -> None:
    """A click through a 1.5 s delay: silent for 1.5 s between echoes, longer than the quiet
    window alone (1 s); the chain's Delay lengthens it, so every echo above the threshold stays."""
    click = np.zeros((1, 4410), np.float32)
    click[0, 100] = 0.6
    source = write(tmp_path / "click.wav", click, RATE)
    steps = '[[steps]]\nplugin = "Delay"\ndelay_seconds = 1.5\nfeedback = 0.5\nmix = 0.5\n'
    chain = load_chain(chain_file(tmp_path, 'tail = "auto"', steps))
    rendered = render_file(source, tmp_path / "out.wav", chain)
    # the k-th echo: 0.6 (click) x 0.5 (mix) x 0.5^(k-1) (feedback) >= 2^-15 up to k = 14
    assert rendered.frames == 100 + 14 * round(1.5 * RATE) + 1
    delay = pedalboard.Pedalboard([pedalboard.Delay(delay_seconds=1.5, feedback=0.5, mix=0.5)])
    expected = delay(with_silence(click, 25.0), RATE)[:, : rendered.frames]
    np.testing.assert_allclose(read_audio(tmp_path / "out.wav")[0], expected, atol=1e-7)


def test_auto_stops_at_the_cap_and_says_so(tmp_path: Path) -> None:
    rate = 8000
    source = write(tmp_path / "in.wav", music_excerpt(0.5, rate, 1, seed=2), rate)
    steps = '[[steps]]\nplugin = "Delay"\ndelay_seconds = 0.25\nfeedback = 1.0\n'  # never ends
    rendered = render_file(
        source, tmp_path / "out.wav", load_chain(chain_file(tmp_path, 'tail = "auto"', steps))
    )
    assert rendered.frames == 4000 + round(TAIL_MAX_SECONDS * rate)
    assert len(rendered.notes) == 1 and "60 s past the input's end" in rendered.notes[0]


def test_restoration_steps_restore_the_input_and_pass_the_tail(
    music: tuple[Path, np.ndarray], tmp_path: Path
) -> None:
    """A restoration after the reverb restores the input's second only; the reverb's decay
    after it passes unchanged (it is not the recording the gap is in)."""
    source, audio = music
    steps = STEPS + '[[steps]]\nrestore = "inpaint"\ngaps = ["0.50:0.52"]\nbackend = "dsp"\n'
    chain = load_chain(chain_file(tmp_path, "tail = 0.5", steps))
    render_file(source, tmp_path / "out.wav", chain)
    out, info = read_audio(tmp_path / "out.wav")
    wet = board()(with_silence(audio, 0.5), RATE)
    restored = Restorer(task="inpaint", gaps=["0.50:0.52"], backend="dsp")(wet[:, :44100], RATE)
    assert info.frames == 44100 + 22050
    np.testing.assert_array_equal(out[:, 44100:], wet[:, 44100:])
    np.testing.assert_allclose(out[:, :44100], restored, atol=1e-6)


def test_latency_compensation_stays_exact_with_a_tail(
    music: tuple[Path, np.ndarray], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pedalboard, "AddLatency", AddLatency, raising=False)
    source, audio = music
    steps = (PluginStep("AddLatency", {"samples": 3000}), PluginStep("Gain", {"gain_db": 0.0}))
    chain = Chain(steps, tail=0.25)
    render_file(source, tmp_path / "out.wav", chain)
    out, info = read_audio(tmp_path / "out.wav")
    assert info.frames == 44100 + 11025
    np.testing.assert_array_equal(out, with_silence(audio, 0.25))  # a compensated delay: identity


@pytest.mark.parametrize("head", ["", "tail = 0", 'tail = "auto"'])
def test_no_tail_or_a_dry_chain_keeps_the_inputs_length(
    music: tuple[Path, np.ndarray], tmp_path: Path, head: str
) -> None:
    source, audio = music
    dry = '[[steps]]\nplugin = "Gain"\ngain_db = -3.0\n'
    chain = load_chain(chain_file(tmp_path, head, STEPS if head != 'tail = "auto"' else dry))
    rendered = render_file(source, tmp_path / "out.wav", chain)
    out, info = read_audio(tmp_path / "out.wav")
    assert info.frames == rendered.frames == 44100 and rendered.tail == 0
    if head != 'tail = "auto"':  # today's render: the decay past the end cut
        np.testing.assert_allclose(out, board()(audio, RATE), atol=1e-6)


def test_the_batch_report_gives_the_length_with_the_tail(
    music: tuple[Path, np.ndarray], tmp_path: Path
) -> None:
    source, _ = music
    chain = chain_file(tmp_path, "tail = 2.0")
    report = tmp_path / "report.json"
    code = main(["batch", str(source), "-o", str(tmp_path / "out"), "--chain", str(chain),
                 "--report", str(report), "--quiet"])  # fmt: skip
    assert code == 0
    (entry,) = json.loads(report.read_text())["files"]
    assert (entry["duration"], entry["tail"]) == (3.0, 2.0)
    assert read_audio(tmp_path / "out" / "in.wav")[1].frames == 3 * RATE


@pytest.mark.parametrize(
    ("value", "problem"),
    [("-1", "negative"), ('"long"', "expected a number"), ("true", "expected a number"),
     ("61", "longer than the 60 s"), ("nan", "expected a number")],
)  # fmt: skip
def test_bad_tails_are_refused_naming_the_file_and_the_remedy(
    tmp_path: Path, value: str, problem: str
) -> None:
    path = chain_file(tmp_path, f"tail = {value}")
    with pytest.raises(ChainError) as info:
        load_chain(path)
    message = str(info.value)
    assert str(path) in message and "tail " in message and problem in message
    assert '"auto"' in message and "\n" not in message  # the remedy: what to give instead


def test_a_files_progress_bar_grows_with_an_auto_tail() -> None:
    from bridge.batch.progress import BatchProgress

    progress = BatchProgress(1, enabled=True)
    progress.handle(("progress", 0, "in.wav", 44100, 44100))  # the input rendered
    progress.handle(("progress", 0, "in.wav", 116963, 116963))  # and its tail, found as it went
    bar = progress.bars[0]
    assert (bar.n, bar.total) == (116963, 116963)
    progress.close()


def test_tail_seconds_count_at_the_chains_rate_and_change_its_digest(
    music: tuple[Path, np.ndarray], tmp_path: Path
) -> None:
    source, _ = music
    chain = load_chain(chain_file(tmp_path, "sample_rate = 48000\ntail = 0.5"))
    rendered = render_file(source, tmp_path / "out.wav", chain)
    assert (rendered.sample_rate, rendered.frames, rendered.tail) == (48000, 48000 + 24000, 24000)
    # --resume renders anew a file made without the tail (an unchanged chain keeps its digest)
    assert chain.digest != load_chain(chain_file(tmp_path, "sample_rate = 48000")).digest


def test_a_convolution_rings_out_its_impulse_response(
    music: tuple[Path, np.ndarray], tmp_path: Path
) -> None:
    """A 0.4 s room (decaying noise, falling 60 dB): "auto" keeps what the in-memory board
    gives past the input's end, down to one 16-bit step."""
    rng = np.random.default_rng(4)
    room = rng.standard_normal(round(0.4 * RATE)) * 10 ** (-3 * np.arange(17640) / 17640)
    write(tmp_path / "room.wav", (0.3 * room[None, :]).astype(np.float32), RATE)
    source, audio = music
    steps = '[[steps]]\nplugin = "Convolution"\nimpulse_response_filename = "room.wav"\n'
    rendered = render_file(
        source, tmp_path / "out.wav", load_chain(chain_file(tmp_path, 'tail = "auto"', steps))
    )
    convolution = pedalboard.Convolution(str(tmp_path / "room.wav"))
    reference = pedalboard.Pedalboard([convolution])(with_silence(audio, 2.0), RATE)
    end = last_loud(reference, 44100, RATE)
    assert rendered.frames == end and 0.2 * RATE < end - 44100 <= 17640
    np.testing.assert_allclose(read_audio(tmp_path / "out.wav")[0], reference[:, :end], atol=1e-6)


def test_tail_0_renders_as_no_tail_and_a_tail_is_digested_as_its_seconds(tmp_path: Path) -> None:
    """``tail = 0`` had its own digest, so adding it re-rendered every file of a ``--resume``.
    A chain without ``tail`` keeps the digest it had before (the value computed then): the
    manifests of existing users stay valid; a tail of seconds still renders anew, and a tail
    is digested as the seconds it renders (``1`` and ``1.0`` are one tail)."""
    heads = ("", "tail = 0", "tail = 0.0", "tail = 0.5", 'tail = "auto"', "tail = 1", "tail = 1.0")
    digests = {head: load_chain(chain_file(tmp_path, head)).digest for head in heads}
    # the values computed before tails were digested as their seconds: these did not move
    assert digests[""] == "fc1a699038789e68"
    assert digests["tail = 0.5"] == "667320d173e2b86f"
    assert digests['tail = "auto"'] == "3b6e2bbefd996f22"
    assert digests["tail = 0"] == digests["tail = 0.0"] == digests[""]
    assert digests["tail = 1"] == digests["tail = 1.0"] != digests["tail = 0.5"]
