"""``restore --spectrogram PNG``: a picture of the input and the result, zoomed on what was
restored (bridge/cli/picture.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from bridge.cli import main
from bridge.cli.picture import (
    MAX_MARKS,
    MAX_ZOOM_S,
    PAD_S,
    PAUSE_COLOR,
    RESTORED_COLOR,
    restored_spans,
    view,
    write_picture,
)
from diffmusic_engine.backends import PAUSES, REGIONS, REPAIRED_CLICKS, Restoration
from diffmusic_engine.damage import Declick, Gap, Inpaint, SuperResolution
from diffmusic_engine.evaluation import plots
from diffmusic_engine.evaluation.plots import MAX_FRAMES, SHORT_HOP, STRIP, picture_hop
from diffmusic_engine.synth import music_excerpt

SR = 22050


@pytest.fixture
def dropout(tmp_path):
    """3 s of stereo music with a 100 ms dropout at 1.0-1.1 s."""
    audio = music_excerpt(duration=3.0, sample_rate=SR, channels=2, seed=1)
    audio[:, round(1.0 * SR) : round(1.1 * SR)] = 0.0
    path = tmp_path / "dropout.wav"
    sf.write(path, audio.T, SR, subtype="FLOAT")
    return path


def test_restore_draws_the_input_and_the_fill_zoomed_on_the_gap(dropout, tmp_path, capsys,
                                                               monkeypatch):  # fmt: skip
    import diffmusic_engine.evaluation.plots as plots

    drawn = {}
    real = plots.save_spectrograms

    def keep(path, panels, rate, **view):  # the real drawing, its arguments kept
        drawn.update(panels=panels, **view)
        return real(path, panels, rate, **view)

    monkeypatch.setattr(plots, "save_spectrograms", keep)
    out, png = tmp_path / "out.wav", tmp_path / "look.png"
    argv = ["restore", str(dropout), "-o", str(out), "--task", "inpaint", "--gap", "1.0:1.1"]
    assert main([*argv, "--spectrogram", str(png), "--json"]) == 0
    done = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert done["outputs"] == [str(out)] and done["spectrogram"] == str(png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the region re-estimated is the gap and its 2 ms crossfade on each side, PAD_S around it
    (first, stop), marks = drawn["span"], drawn["marks"]
    assert marks == pytest.approx((0.998, 1.102), abs=1 / SR)
    assert (first, stop) == pytest.approx((0.998 - PAD_S, 1.102 + PAD_S), abs=1 / SR)
    restored, _ = sf.read(out, dtype="float32")
    assert list(drawn["panels"]) == ["input", "restored"]
    np.testing.assert_array_equal(drawn["panels"]["restored"], restored.T)


def test_a_picture_name_that_is_not_a_png_is_refused_before_any_work(dropout, tmp_path, capsys):
    out = tmp_path / "out.wav"
    argv = ["restore", str(dropout), "-o", str(out), "--task", "inpaint", "--gap", "1.0:1.1"]
    assert main([*argv, "--spectrogram", str(tmp_path / "look.jpg")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: {tmp_path / 'look.jpg'}: --spectrogram writes a PNG picture; give a "
                   "name ending in .png"]  # fmt: skip
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dropout.wav"]


def test_the_spans_shown_are_those_restored():
    inpaint = Inpaint(gaps="auto")
    assert restored_spans(inpaint, {REGIONS: [[22050, 24255]]}, SR) == [(1.0, 1.1)]
    clicks = {REPAIRED_CLICKS: [[0.5, 0.501]]}
    assert restored_spans(Declick(), clicks, SR) == [(0.5, 0.501)]
    given = Inpaint(gaps=(Gap(2.0, 2.5),))  # a backend that reports no regions: the gaps given
    assert restored_spans(given, {}, SR) == [(2.0, 2.5)]
    assert restored_spans(SuperResolution(4000.0), {}, SR) == []  # the whole file's task


def test_the_view_zooms_on_close_spans_and_shows_the_whole_file_otherwise():
    assert view([], 60.0) == (None, ())
    # a 2 s gap: half its length either side, more than PAD_S
    assert view([(10.0, 12.0)], 60.0) == ((9.0, 13.0), (10.0, 12.0))
    assert view([(0.1, 0.2)], 60.0) == ((0.0, 0.2 + PAD_S), (0.1, 0.2))  # not before 0 s
    spread = [(1.0, 1.1), (1.0 + MAX_ZOOM_S, 1.1 + MAX_ZOOM_S)]
    assert view(spread, 60.0) == (None, (1.0, 1.1, 21.0, 21.1))  # marked on the whole file
    many = [(t, t + 0.001) for t in np.arange(MAX_MARKS + 1) * 0.1]  # crackle
    assert view(many, 60.0) == (None, ())


def test_a_whole_track_is_drawn_within_max_frames_at_a_power_of_two_hop():
    assert picture_hop(SR) == SHORT_HOP  # a second: the finest hop
    four_minutes = 240 * 44100
    hop = picture_hop(four_minutes)
    assert hop == 4096 and four_minutes / hop <= MAX_FRAMES < four_minutes / (hop // 2)


def test_diagnose_draws_the_file_with_the_dropout_it_found_dashed(dropout, tmp_path, capsys,
                                                                  monkeypatch):  # fmt: skip
    import diffmusic_engine.evaluation.plots as plots

    drawn = {}
    monkeypatch.setattr(plots, "save_spectrograms", lambda path, panels, rate, **view: (
        drawn.update(panels=panels, **view), path.write_bytes(b"\x89PNG"))[1])  # fmt: skip
    png = tmp_path / "found.png"
    assert main(["diagnose", str(dropout), "--json", "--spectrogram", str(png)]) == 0
    found = json.loads(capsys.readouterr().out)
    (dropped,) = found["dropouts"]
    assert (dropped["start"], dropped["end"]) == pytest.approx((1.0, 1.1))
    spans = [*found["dropouts"], *found["clicks"]]  # the synthetic attacks read as 2 clicks
    assert drawn["marks"] == tuple(sorted({s[k] for s in spans for k in ("start", "end")}))
    assert "span" not in drawn and list(drawn["panels"]) == ["dropout.wav"]  # the whole file
    clicks = len(found["clicks"])
    assert drawn["title"] == f"dropout.wav: found dropouts 1, clicks {clicks} (edges dashed)"
    assert png.exists()


def test_the_picture_s_title_names_a_dead_channel(dropout, tmp_path, capsys, monkeypatch):
    """A channel digital silence throughout is no stretch of time to shade: the title names it
    (it had read "found nothing" where the table named a channel lost)."""
    drawn = {}
    monkeypatch.setattr(plots, "save_spectrograms", lambda path, panels, rate, **view: (
        drawn.update(**view), path.write_bytes(b"\x89PNG"))[1])  # fmt: skip
    audio = music_excerpt(duration=3.0, sample_rate=SR, channels=2, seed=1)
    audio[1] = 0.0
    lost = tmp_path / "lost.wav"
    sf.write(lost, audio.T, SR, subtype="PCM_16")
    assert main(["diagnose", str(lost), "--json", "--spectrogram", str(tmp_path / "a.png")]) == 0
    clicks = len(json.loads(capsys.readouterr().out)["clicks"])
    found = [f"clicks {clicks}"] * bool(clicks) + ["channel(s) 2 digital silence throughout"]
    dashed = " (edges dashed)" if clicks else ""  # the synthetic attacks may read as clicks
    assert drawn["title"] == f"lost.wav: found {', '.join(found)}{dashed}"


def test_diagnose_shades_each_kind_found_and_hatches_the_pause_as_restore_does(
    tmp_path, capsys, monkeypatch
):
    """diagnose's picture had only dashed edges: a pause and a dropout looked alike. Song A
    fading into 0.4 s of digital silence, song B with a 100 ms cut: each is shaded as its kind,
    the pause with restore's hatch and label, the dropout in restore's fill colour."""
    import diffmusic_engine.evaluation.plots as plots

    rate = 16000
    song_a, song_b = (music_excerpt(2.0, rate, 2, seed=seed) for seed in (1, 2))
    song_a[:, -rate // 2 :] *= np.linspace(1, 0, rate // 2, dtype=np.float32)
    audio = np.concatenate([song_a, np.zeros((2, 4 * rate // 10), np.float32), song_b], axis=1)
    audio[:, 3 * rate : round(3.1 * rate)] = 0.0
    source = tmp_path / "album.wav"
    sf.write(source, audio.T, rate, subtype="FLOAT")
    drawn = {}
    monkeypatch.setattr(plots, "save_spectrograms", lambda path, panels, rate, **view: (
        drawn.update(view), path.write_bytes(b"\x89PNG"))[1])  # fmt: skip
    argv = ["diagnose", str(source), "--json", "--spectrogram", str(tmp_path / "found.png")]
    assert main(argv) == 0
    found = json.loads(capsys.readouterr().out)
    ((pause_start, pause_end),) = [(p["start"], p["end"]) for p in found["pauses"]]
    assert pause_end == pytest.approx(2.4) and 1.9 < pause_start <= 2.0
    ((start, end),) = [(d["start"], d["end"]) for d in found["dropouts"]]
    assert (start, end) == pytest.approx((3.0, 3.1))
    shaded = {shading.label: shading for shading in drawn["shadings"]}
    pause = shaded["left: the music's own pause"]
    assert list(pause.spans) == [(pause_start, pause_end)]
    assert (pause.color, pause.hatch) == (PAUSE_COLOR, "//")
    dropped = shaded["found: dropouts"]
    assert list(dropped.spans) == [(start, end)] and dropped.color == RESTORED_COLOR
    assert not dropped.hatch  # a dropout holds music to hide: a strip only
    clicks = [(c["start"], c["end"]) for c in found["clicks"]]
    assert list(shaded["found: clicks"].spans) == clicks


def test_a_picture_path_that_cannot_be_written_is_refused_before_any_work(dropout, tmp_path,
                                                                          capsys):  # fmt: skip
    out, png = tmp_path / "out.wav", dropout / "look.png"  # a file where a folder should be
    argv = ["restore", str(dropout), "-o", str(out), "--gap", "1.0:1.1", "--spectrogram", str(png)]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "a file stands where a folder of its path should be" in err[0]
    assert not out.exists()  # refused before the restore, not after it
    same = tmp_path / "same.png"
    argv = ["diagnose", str(dropout), "--preset-out", str(same), "--spectrogram", str(same)]
    assert main(argv) == 1
    assert capsys.readouterr().err.strip() == (
        f"error: {same}: given as both --preset-out and --spectrogram"
    )


def test_a_declipped_track_written_lower_is_drawn_at_the_level_written(tmp_path, capsys,
                                                                       monkeypatch):  # fmt: skip
    import diffmusic_engine.evaluation.plots as plots

    drawn = {}
    monkeypatch.setattr(plots, "save_spectrograms", lambda path, panels, rate, **view: (
        drawn.update(panels=panels), path.write_bytes(b"\x89PNG"))[1])  # fmt: skip
    t = np.arange(SR // 2) / SR
    clean = np.sin(2 * np.pi * 110 * t) + 0.3 * np.sin(2 * np.pi * 330 * t + 1.0)  # peak 1.3
    source, out = tmp_path / "hot.wav", tmp_path / "fixed.wav"
    sf.write(source, np.clip(clean, -1, 1), SR, subtype="PCM_16")  # clipped at full scale
    argv = ["restore", str(source), "-o", str(out), "--task", "declip", "--level", "auto"]
    assert main([*argv, "--spectrogram", str(tmp_path / "d.png"), "--json"]) == 0
    done = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert done["details"]["output_gain_db"] < -1  # rebuilt peaks over full scale: written lower
    written, _ = sf.read(out, dtype="float32")
    # the details' gain is rounded to 0.01 dB (0.06 %); the written samples to 16 bits
    np.testing.assert_allclose(drawn["panels"]["restored"][0], written, 6e-4, 1.5 / 32768)


def test_the_pause_left_alone_is_hatched_and_the_dropout_filled_is_not(tmp_path, capsys,
                                                                       monkeypatch):  # fmt: skip
    """Song A fading into 0.4 s of digital silence (a pause: left alone), song B with a 100 ms
    cut (a dropout: filled). The picture's pixels over each, placed from the times the details
    give, carry its own marking: a white strip and hatch over the pause, a cyan strip over the
    fill, and neither between them."""
    import matplotlib.colors
    import matplotlib.image
    import matplotlib.pyplot as plt

    rate = 16000
    song_a, song_b = (music_excerpt(2.0, rate, 2, seed=seed) for seed in (1, 2))
    song_a[:, -rate // 2 :] *= np.linspace(1, 0, rate // 2, dtype=np.float32)
    audio = np.concatenate([song_a, np.zeros((2, 4 * rate // 10), np.float32), song_b], axis=1)
    audio[:, 3 * rate : round(3.1 * rate)] = 0.0
    source, png = tmp_path / "album.wav", tmp_path / "look.png"
    sf.write(source, audio.T, rate, subtype="FLOAT")
    figures = []
    close = plt.close
    monkeypatch.setattr(plt, "close", lambda fig: (figures.append(fig), close(fig)))
    argv = ["restore", str(source), "-o", str(tmp_path / "out.wav"), "--task", "inpaint",
            "--gap", "auto", "--spectrogram", str(png), "--json"]  # fmt: skip
    assert main(argv) == 0
    details = json.loads(capsys.readouterr().out.splitlines()[-1])["details"]
    ((first, stop),) = details[REGIONS]
    ((pause_start, pause_end),) = details[PAUSES]
    assert (first / rate, stop / rate) == pytest.approx((2.998, 3.102))  # the gap and crossfades
    assert pause_end == 2.4 and 1.9 < pause_start <= 2.0
    pixels = matplotlib.image.imread(png)[..., :3]  # rows from the top, RGB in 0..1
    (figure,) = figures
    (legend,) = figure.legends
    said = [text.get_text() for text in legend.get_texts()]
    assert said == ["filled: a dropout", "left: the music's own pause"]
    height, width = pixels.shape[:2]

    def spot(ax, seconds: float, up: float) -> tuple[int, int]:
        """The pixel (row, column) at ``seconds`` and ``up`` (0 bottom .. 1 top) of ``ax``."""
        x, _ = figure.transFigure.inverted().transform(ax.transData.transform((seconds, 1.0)))
        _, y = figure.transFigure.inverted().transform(ax.transAxes.transform((0.0, up)))
        return int((1 - y) * height), int(x * width)

    def inner(start: float, end: float) -> np.ndarray:  # clear of the dashed edges
        return np.linspace(start + 0.2 * (end - start), end - 0.2 * (end - start), 9)

    def below_strip(ax, seconds: float) -> np.ndarray:
        """The pixels of ``ax`` at ``seconds`` under the strip, from top to bottom."""
        (top, column), (bottom, _) = spot(ax, seconds, 1 - STRIP), spot(ax, seconds, 0.0)
        return pixels[top + 2 : bottom - 2, column]

    cyan, white = (np.array(matplotlib.colors.to_rgb(c)) for c in (RESTORED_COLOR, PAUSE_COLOR))
    strip = 1 - STRIP / 2  # the strip's middle, in a panel's height
    for ax in figure.axes[:2]:  # input and restored (the colour bar's axes after them)
        assert ax.get_title() in ("input", "restored")
        for seconds in inner(first / rate, stop / rate):
            np.testing.assert_array_equal(pixels[spot(ax, seconds, strip)], cyan)
            assert not (below_strip(ax, seconds) == white).all(axis=1).any()
        for seconds in inner(pause_start, pause_end):
            np.testing.assert_array_equal(pixels[spot(ax, seconds, strip)], white)
            bright = (below_strip(ax, seconds) > 0.9).all(axis=1)
            crossings = np.count_nonzero(bright[1:] & ~bright[:-1])
            assert crossings >= 5  # the hatch's lines cross the silence's black
        for seconds in inner(pause_end, first / rate):  # song B's first half second: no mark
            assert not any((pixels[spot(ax, seconds, strip)] == colour).all()
                           for colour in (cyan, white))  # fmt: skip


def test_a_pause_far_from_the_dropout_leaves_the_zoom_on_the_dropout(tmp_path, monkeypatch):
    """An album: a 10 ms dropout filled at 3 s, a pause between songs left alone at 30-31 s.
    One zoom over both would be 28.6 s, past MAX_ZOOM_S: the whole file had been drawn and the
    dropout was a hairline. The zoom stays on the dropout (PAD_S either side)."""
    rate = 8000
    audio = music_excerpt(duration=41.0, sample_rate=rate, channels=1, seed=3)
    details = {REGIONS: [[3 * rate, round(3.01 * rate)]], PAUSES: [[30.0, 31.0]]}
    drawn = {}
    monkeypatch.setattr(plots, "save_spectrograms", lambda *args, **kwargs: drawn.update(kwargs))
    restoration = Restoration((audio,), rate, details)
    write_picture(tmp_path / "a.png", audio, restoration, Inpaint(gaps="auto"), tmp_path / "a.wav")
    assert drawn["span"] == pytest.approx((3.0 - PAD_S, 3.01 + PAD_S))
    assert drawn["marks"] == (3.0, 3.01)
    assert [shading.spans for shading in drawn["shadings"]] == [[(3.0, 3.01)], [(30.0, 31.0)]]
