"""``Restorer``: pedalboard's call shape, options, file-time gaps, chunking, sources."""

from __future__ import annotations

import numpy as np
import pedalboard
import pytest

from bridge.batch import Restorer
from diffmusic_engine.api import BACKENDS, NOTHING_FOUND, Restoration, degrade, restore
from diffmusic_engine.damage import Gap, Inpaint, SuperResolution, gap_samples
from diffmusic_engine.diagnose import dropouts
from diffmusic_engine.errors import DamageError
from diffmusic_engine.evaluation.storage import fixed_point
from diffmusic_engine.synth import falling_noise, music_excerpt

CALLS: list[dict] = []


def recording_backend(audio, sample_rate, damage, *, options, callback) -> Restoration:
    """A strict stand-in backend: records each call; marks gaps with 1.0; tracks = k * audio."""
    CALLS.append({"n": audio.shape[1], "damage": damage, "options": dict(options)})
    if isinstance(damage, Inpaint):
        out = audio.copy()
        for gap in damage.gaps:
            first, stop = gap_samples(gap, sample_rate)
            out[:, first:stop] = 1.0
        return Restoration((out,), sample_rate)
    sources = getattr(damage, "sources", 1)
    return Restoration(tuple(audio * (k + 1) for k in range(sources)), sample_rate)


@pytest.fixture(autouse=True)
def recording(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    monkeypatch.setitem(BACKENDS, "recording", f"{__name__}:recording_backend")
    CALLS.clear()
    return CALLS


@pytest.fixture(scope="module")
def music() -> np.ndarray:
    return music_excerpt(2.0, 16000, 2, seed=5)


def test_pedalboard_call_shape_between_boards(music: np.ndarray) -> None:
    before, after = pedalboard.Pedalboard([pedalboard.Gain(-3)]), pedalboard.Pedalboard([])
    repair = Restorer(task="inpaint", gaps=["0.80:0.82"], backend="dsp")
    out = after(repair(before(music, 16000), 16000), 16000)
    assert out.shape == music.shape and out.dtype == np.float32
    # the same as the engine's restore() on the whole (short) signal
    expected = restore(before(music, 16000), 16000, Inpaint((repair.damage.gaps[0],))).audio
    np.testing.assert_array_equal(out, expected)
    mono = repair(music[0], 16000)  # (samples,) in, (samples,) out
    assert mono.shape == (music.shape[1],)
    np.testing.assert_array_equal(mono, repair(music[:1], 16000)[0])


def test_a_frame_per_row_as_soundfile_reads_it(recording, music: np.ndarray) -> None:
    """``(samples, channels)`` (soundfile.read's layout, which pedalboard takes too) is read a
    frame per row and comes back in that layout: the same restoration as ``(channels,
    samples)``, the backend seeing 2 channels of 2 s."""
    repair = Restorer(task="inpaint", gaps=["0.80:0.82"], backend="recording")
    out = repair(music.T, 16000)
    assert out.shape == music.T.shape and out.flags.c_contiguous
    assert [c["n"] for c in recording] == [music.shape[1]]
    np.testing.assert_array_equal(out, repair(music, 16000).T)
    assert np.all(out[12800:13120] == 1.0)  # the gap, in file time


def test_options_split_into_damage_fields_and_backend_options(recording, music) -> None:
    repair = Restorer(task="inpaint", gaps=["1.0:1.01"], crossfade=0.001, backend="recording",
                      iterations=5, context_seconds=0.5)  # fmt: skip
    assert repair.damage.crossfade == 0.001
    repair(music, 16000)
    (call,) = recording
    assert call["options"] == {"iterations": 5}  # step settings and damage fields stay out


def test_gaps_are_in_file_time_and_only_regions_are_restored(recording) -> None:
    rate = 8000
    audio = (np.random.default_rng(0).standard_normal((1, 40 * rate)) * 0.1).astype(np.float32)
    repair = Restorer(task="inpaint", gaps=["30.00:30.05", "5.0:5.1"], backend="recording",
                      context_seconds=3.0)  # fmt: skip
    out = repair(audio, rate)
    # two regions of 3 s context either side; each backend call sees its gap in its own time
    assert [c["n"] for c in recording] == [round(6.1 * rate), round(6.05 * rate)]
    assert [c["damage"].gaps[0].start for c in recording] == pytest.approx([3.0, 3.0])
    filled = np.zeros(audio.shape[1], bool)
    filled[5 * rate : round(5.1 * rate)] = filled[30 * rate : round(30.05 * rate)] = True
    assert np.all(out[:, filled] == 1.0)
    np.testing.assert_array_equal(out[:, ~filled], audio[:, ~filled])


def test_long_audio_is_chunked_with_bounded_pieces(recording) -> None:
    rate = 4000
    audio = np.ones((2, 100 * rate), np.float32)
    out = Restorer(task="dereverb", backend="recording", chunk_seconds=10, overlap_seconds=1)(
        audio, rate
    )
    assert max(c["n"] for c in recording) < 15 * rate  # never more than 1.5 chunks at once
    assert len(recording) == 11
    np.testing.assert_allclose(out, 1.0, atol=1e-6)  # crossfades of equal chunks sum to them


def test_separation_keeps_the_chosen_source(recording, music) -> None:
    out = Restorer(task="separate", sources=3, source=2, backend="recording")(music, 16000)
    np.testing.assert_allclose(out, music * 2)  # the recording backend's source k is k * input
    with pytest.raises(DamageError, match="source"):
        Restorer(task="separate", sources=3)
    with pytest.raises(DamageError, match="only for task separate"):
        Restorer(task="dereverb", source=1)


def test_auto_cutoff_is_detected_once_and_full_band_passes(recording) -> None:
    rate = 16000
    t = np.arange(40 * rate) / rate
    tone = np.stack([np.sin(2 * np.pi * 440 * t)] * 2).astype(np.float32) * 0.3
    full_band = tone + np.random.default_rng(1).standard_normal(tone.shape).astype(np.float32) * 0.1
    restorer = Restorer(task="super-resolution", backend="recording")  # 40 s: one piece
    stream = restorer.stream(rate, 2, full_band.shape[1])
    out = np.concatenate([stream.push(full_band), stream.finish()], axis=1)
    np.testing.assert_array_equal(out, full_band)
    assert recording == []  # nothing missing: the backend was never called
    # the engine's reason, its flag as the chain step's field (batch takes no --cutoff)
    engine = NOTHING_FOUND["super-resolution"]
    assert "--cutoff HZ" in engine
    why = engine.replace("give --cutoff HZ", "give cutoff = HZ in the step")
    assert Restorer.note_of(stream) == f"super-resolution: 1 of 1 piece(s) unchanged ({why})"
    band_limited = degrade(full_band, rate, SuperResolution(cutoff=2000.0))  # brick-wall
    restorer = Restorer(task="super-resolution", backend="recording", chunk_seconds=10)
    stream = restorer.stream(rate, 2, band_limited.shape[1])
    np.concatenate([stream.push(band_limited), stream.finish()], axis=1)
    assert Restorer.note_of(stream) is None  # every piece restored
    cutoffs = {c["damage"].cutoff for c in recording}
    assert len(recording) == 4 and len(cutoffs) == 1  # detected on the first chunk, then kept
    assert 1500 < cutoffs.pop() < 4000
    assert all(isinstance(c["damage"], SuperResolution) for c in recording)


def test_presets_and_overrides() -> None:
    blind = Restorer(preset="dereverb")
    assert blind.task == "dereverb" and blind.damage.blind and blind.backend == "dsp"
    repair = Restorer(preset="inpaint", gaps=["1:1.1"])
    assert repair.damage.crossfade == 0.002 and len(repair.damage.gaps) == 1
    with pytest.raises(DamageError, match="no task"):
        Restorer()
    with pytest.raises(DamageError, match="chunk_seconds"):
        Restorer(task="dereverb", chunk_seconds=1, overlap_seconds=0.6)


def test_gap_after_the_end_is_an_error(music) -> None:
    with pytest.raises(DamageError, match="ends after the audio"):
        Restorer(task="inpaint", gaps=["1.9:2.5"])(music, 16000)


def test_bug_a_a_restorer_takes_a_preset_with_per_backend_tables():
    restorer = Restorer(preset="phase-retrieval")
    assert restorer.backend == "dsp" and restorer.options == {"iterations": 100}
    audio = np.random.default_rng(0).standard_normal((1, 4000)).astype(np.float32) * 0.1
    assert restorer(audio, 16000).shape == audio.shape


@pytest.mark.parametrize("dithered", [False, True])
def test_auto_gaps_fill_dropouts_and_name_the_silences_left(recording, dithered) -> None:
    rate = 16000
    audio = music_excerpt(4.0, rate, 2, seed=6)
    audio[:, 8000:8080] = 0.0  # 5 ms: filled
    audio[:, 32000:44800] = 0.0  # 0.8 s: longer than dropout_max_seconds (0.5), left alone
    if dithered:  # stored in 16-bit with TPDF dither: no digital silence left
        audio = fixed_point(audio, 16, "tpdf")
        assert dropouts.DropoutScanner(32).scan(audio, 0) == []  # by digital silence alone
    restorer = Restorer(task="inpaint", gaps="auto", backend="recording", context_seconds=0.5)
    stream = restorer.stream(rate, 2, audio.shape[1])
    blocks = [stream.push(audio[:, i : i + 999]) for i in range(0, audio.shape[1], 999)]
    out = np.concatenate([*blocks, stream.finish()], axis=1)
    # one piece, the region from 0 s (0.5 s of context before the dropout): piece time = file time
    assert [c["damage"].gaps for c in recording] == [(Gap(8000 / rate, 8080 / rate),)]
    assert (out[:, 8000:8080] == 1.0).all() and np.abs(out[:, 32000:44800]).max() <= 2**-15
    assert Restorer.note_of(stream) == (
        "inpaint: 1 silent run(s) longer than dropout_max_seconds (0.5 s) left alone: "
        "2.0000-2.8000 s; if they are dropouts, give them as gaps or raise dropout_max_seconds"
    )
    clean = music_excerpt(4.0, rate, 2, seed=6)
    stream = restorer.stream(rate, 2, clean.shape[1])
    np.testing.assert_array_equal(np.concatenate([stream.push(clean), stream.finish()], 1), clean)
    engine = NOTHING_FOUND["inpaint"]  # its flag as the step's field (batch takes no --gap)
    why = engine.replace("give --gap START:END", "give gaps = [[START, END]] in the step")
    assert "--gap START:END" in engine and Restorer.note_of(stream) == f"inpaint: {why}"


def test_integer_samples_and_bad_sample_rates_are_one_error_each(music: np.ndarray) -> None:
    """int16 had come back as float amplitudes of thousands; a rate of "44100", None, 0 or NaN
    had raised TypeError, ZeroDivisionError or ValueError from inside."""
    from diffmusic_engine.errors import InputError

    restorer = Restorer("declick")
    pcm = (music * 32767).astype(np.int16)
    with pytest.raises(InputError, match=r"^restorer: int16 samples: give float audio in -1\.\.1"):
        restorer(pcm, 44100)
    for rate in ("44100", None, 0, float("nan"), -44100, True):
        with pytest.raises(InputError, match=r"restorer: sample_rate .*: expected a number of Hz"):
            restorer(music, rate)
    assert restorer(music.astype(np.float64), np.float32(44100)).dtype == np.float32


def test_phase_retrieval_chunks_are_crossfaded_keeping_their_power() -> None:
    """Each chunk's phase (super-resolution: top band) is rebuilt anew: a linear crossfade
    dipped 4.2 dB (4 dB) at the seams of a real mix. Other tasks' chunks agree, stay exact."""
    total = 100 * 44100  # several chunks
    assert Restorer("phase-retrieval").stream(44100, 2, total).keep_power
    assert Restorer("super-resolution", cutoff=8000.0).stream(44100, 2, total).keep_power
    assert not Restorer("declick").stream(44100, 2, total).keep_power


def test_connect_must_be_a_boolean_and_dropout_bounds_ordered() -> None:
    """connect = "false" in a chain file had been read as true; min over max dropout length
    had been accepted."""
    with pytest.raises(DamageError, match=r"^connect 'false': expected true or false$"):
        Restorer("declick", connect="false")
    with pytest.raises(DamageError, match="the shortest dropout must be shorter than the longest"):
        Restorer("inpaint", gaps="auto", dropout_min_seconds=0.6, dropout_max_seconds=0.5)


def test_given_gaps_are_taken_over_the_dropout_at_their_edges(recording, music) -> None:
    """A selection 3 ms (48 samples) short of a dropout's edges: the engine filled the whole
    dropout, but the stream kept only the given gap and its margin (34 samples), so 14 samples
    of silence were left on each side."""
    rate, first, stop = 16000, 16000, 16320  # a 20 ms dropout at 1 s
    audio = music.copy()
    audio[:, first:stop] = 0.0
    restorer = Restorer(task="inpaint", gaps=["1.003:1.017"], backend="recording")
    stream = restorer.stream(rate, 2, audio.shape[1])
    out = np.concatenate([stream.push(audio), stream.finish()], axis=1)
    assert (out[:, first:stop] == 1.0).all()  # the recording backend's mark, all of it
    np.testing.assert_array_equal(out[:, :first], audio[:, :first])
    np.testing.assert_array_equal(out[:, stop:], audio[:, stop:])
    assert Restorer.note_of(stream) == (
        "inpaint: gap 1.0030-1.0170 s extended to 1.0000-1.0200 s (3.0 ms earlier, 3.0 ms "
        "later) over the dropout found at its edge, "
        "which it had left partly unfilled"
    )


def test_a_given_gap_over_a_dropout_scans_its_piece_twice(monkeypatch, music) -> None:
    """Once to take the gap over the dropout's edges (the stream), once in the engine (its own
    extension; a daemon's runs elsewhere); the file note's check for gaps over music scanned
    the piece a third time, though it needs the dropouts only where a gap holds music."""
    audio = music.copy()
    audio[:, 16000:16320] = 0.0  # a 20 ms dropout at 1 s, given as it is
    scans = []
    scan = dropouts.find_dropouts
    monkeypatch.setattr(dropouts, "find_dropouts", lambda *a: scans.append(1) or scan(*a))
    stream = Restorer(task="inpaint", gaps=["1.0:1.02"], backend="dsp").stream(16000, 2, 32000)
    np.concatenate([stream.push(audio), stream.finish()], axis=1)
    assert len(scans) == 2 and Restorer.note_of(stream) is None


def test_given_gaps_over_music_or_one_channel_are_named_in_the_file_note(music) -> None:
    """A gap given over music (1.5-1.55 s) and one over a dropout on the left channel only
    (1.0-1.02 s): the engine fills and says so, in each piece's time; the file's note had
    said nothing. It now names both, in the file's time."""
    rate, first, stop = 16000, 16000, 16320
    audio = music.copy()
    audio[0, first:stop] = 0.0
    restorer = Restorer(
        task="inpaint", gaps=["1.0:1.02", "1.5:1.55"], backend="dsp", context_seconds=0.3
    )  # pieces of 0.3 s either side: the pieces start at 0.7 and 1.2 s of the file
    stream = restorer.stream(rate, 2, audio.shape[1])
    out = np.concatenate([stream.push(audio), stream.finish()], axis=1)
    np.testing.assert_array_equal(
        out[1, first - 100 : stop + 100], audio[1, first - 100 : stop + 100]
    )
    note = Restorer.note_of(stream)
    assert "inpaint: gap 1.0000-1.0200 s: channel(s) 1 of 2 dropped out and were filled" in note
    assert "inpaint: gap 1.5000-1.5500 s held audio at " in note


@pytest.mark.parametrize("dark_first", [False, True])
def test_a_dark_recording_s_band_is_decided_once_per_file(dark_first):
    """8 s with a top of its own, then 8 s of a dark stem's (-24 dB/octave), cut at 12 kHz, in
    4 s chunks: each chunk had decided for itself, so the band stopped at the dark half (added
    energy exactly 0 there). The first chunk's decision holds for the file: extended
    throughout, or, dark first, the whole file passed through with the reason."""
    rate = 44100
    halves = [falling_noise(8.0, rate, -9.0, seed=1), falling_noise(8.0, rate, -24.0, seed=2)]
    audio = np.concatenate(halves[::-1] if dark_first else halves, axis=1)
    low = degrade(audio, rate, SuperResolution(12000.0))
    restorer = Restorer("super-resolution", cutoff=12000, chunk_seconds=4.0, overlap_seconds=0.5)
    stream = restorer.stream(rate, 2, low.shape[1])
    out = np.concatenate([stream.push(low), stream.finish()], axis=1)
    added = [np.sum((out - low)[:, k * 4 * rate : (k + 1) * 4 * rate] ** 2) for k in range(4)]
    if dark_first:
        assert np.array_equal(out, low)
        assert "little of its own near the 12000 Hz limit" in Restorer.note_of(stream)
    else:
        assert min(added) > 0.0, added


def test_a_batch_step_s_level_replaces_its_preset_s_levels_per_channel(tmp_path):
    """A preset diagnose wrote for channels clipped apart (``channel_levels``) given a level in
    the step: one level for every channel, as the CLI's ``--level`` (preset_files.with_fields)."""
    preset = tmp_path / "found.toml"
    preset.write_text('task = "declip"\nlevel = 0.6\nchannel_levels = [0.6, 0.4]\n')
    assert Restorer(preset=preset).damage.channel_levels == (0.6, 0.4)
    given = Restorer(preset=preset, level=0.3).damage
    assert given.level == 0.3 and given.channel_levels is None


@pytest.mark.parametrize(
    ("task", "first_s", "channels"),
    [("super-resolution", 2.95, [0, 1]), ("dereverb", 3.85, [0])],
    ids=["dithered-across-a-chunks-start", "one-channel-across-a-chunks-end"],
)
def test_a_dropout_across_a_seam_stays_as_it_was(task, first_s, channels) -> None:
    """Chunks [0, 4), [3, 7), [6, 10), [9, 12) s: a seam cuts the dropout, which that chunk's scan
    reads as a lead-in or a tail; the other chunk, which sees it whole, gives it back as it was,
    and so does the stream (the crossfade of super-resolution's chunks had mixed sound into it,
    one chunk's dereverb too: no longer found)."""
    import soundfile as sf

    from diffmusic_engine.evaluation.corpus import REAL_DIR
    from diffmusic_engine.evaluation.rooms import band_rir, hall_bands, reverberate

    def mix(song: str) -> np.ndarray:
        return sum(sf.read(REAL_DIR / f"{song}_{s}.flac", dtype="float32")[0].T
                   for s in ("backing", "guitar"))  # fmt: skip

    songs = [mix("chaos_god"), mix("feelings")]
    dry, rate = np.concatenate(songs, axis=1), 44100  # 12 s
    hall = band_rir(hall_bands(1.5), -3.0, rate, channels=2, seed=3)
    audio = reverberate(dry, hall)[:, : dry.shape[1]].astype(np.float32)
    if task == "super-resolution":
        audio = degrade(audio, rate, SuperResolution(cutoff=8000.0))
    first, stop = round(first_s * rate), round((first_s + 0.3) * rate)
    rng = np.random.default_rng(4)  # 16-bit TPDF dither: no digital silence
    dither = (rng.uniform(-1, 1, (2, stop - first)) + rng.uniform(-1, 1, (2, stop - first))) / 2**15
    audio[channels, first:stop] = 0.0 if channels == [0] else dither
    options = {"cutoff": 8000.0} if task == "super-resolution" else {}
    out = Restorer(task=task, backend="dsp", chunk_seconds=4.0, overlap_seconds=1.0, **options)(
        audio, rate
    )
    np.testing.assert_array_equal(out[channels, first:stop], audio[channels, first:stop])
    found, _ = dropouts.find_dropouts(out, rate)
    assert [(a, b, c) for a, b, c in found] == [(first, stop, tuple(channels))]
    assert np.abs(out[:, :rate] - audio[:, :rate]).max() > 0.01  # restored around it


def test_every_flag_the_engine_advises_reads_as_a_chain_field():
    """The engine's reasons name CLI flags; a batch report names the step's fields instead,
    `--level auto` (a declip level above the peak) included."""
    from bridge.notes import IN_A_CHAIN, in_chain_words

    line = "give the level the audio was clipped at, or --level auto; raise --sensitivity"
    assert in_chain_words(line) == (
        'give the level the audio was clipped at, or level = "auto" in the step; raise the '
        "step's sensitivity"
    )
    assert all("--" not in in_chain_words(flag) for flag in IN_A_CHAIN)


def test_a_short_rooms_reason_names_the_steps_fields():
    """Blind dereverb leaves a room told under 0.8 s alone; its reason's CLI advice (a preset's
    min_rt60, --rir FILE) reads in a batch report as the step's min_rt60 and rir."""
    from bridge.notes import in_chain_words
    from diffmusic_engine.dsp.dereverb import reason_to_skip
    from diffmusic_engine.room import RoomEstimate

    said = in_chain_words(reason_to_skip(RoomEstimate(0.6, {}, 0.0, 0.6), 1.0))
    assert "min_rt60 = 0 in the step" in said and "rir = FILE in the step" in said, said
    assert "--" not in said and "preset" not in said, said


def test_clicks_given_in_the_files_time_are_repaired_in_whichever_piece_holds_them():
    """Each piece had been given the file's click times as its own: a click past the first
    chunk was "after the audio" and the render failed."""
    sr, rng = 16000, np.random.default_rng(0)
    music = (0.05 * rng.standard_normal((1, 6 * sr))).astype(np.float32)
    first = int(4.5 * sr)
    music[:, first : first + 20] += 0.8  # a 1.25 ms click in the third chunk
    stream = Restorer("declick", clicks=[[4.5, 4.50125]], chunk_seconds=2, overlap_seconds=0.5)
    blocks = stream.stream(sr, 1, music.shape[1])
    pushed = [blocks.push(music[:, i : i + 4000]) for i in range(0, music.shape[1], 4000)]
    out = np.concatenate([*pushed, blocks.finish()], axis=1)
    changed = np.flatnonzero(out[0] != music[0])
    assert changed.min() == first and changed.max() == first + 19  # the click, and only it
    assert np.abs(out[0, first : first + 20]).max() < 0.4 and Restorer.note_of(blocks) is None
