"""Music of other kinds than the room estimator's rock, to measure it on (docs/results.md "Other
kinds of music"): real recordings from librosa's example data, and chorales rendered through the
General MIDI SoundFont. Measured with only: nothing here is shipped or fitted on by default.

    git clone https://github.com/librosa/data librosa-data      # at 450cdd8 when measured
    python -m bench.other_music excerpts librosa-data OTHER     # the eight 10 s excerpts
    python -m bench.other_music chorales CHORALES               # 20 rendered recordings
    python -m bench.rooms eval OTHER                            # the room estimate there

``excerpts`` writes ``<name>_mix.flac`` (a mono file on both channels) and ``LICENCES.txt``;
``chorales`` writes ``<chorale>_<voice>.flac`` for each voice of ``DEFAULT_CHORALES`` (10 s;
``bench.rooms`` sums a song's voices into its mix).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from diffmusic_engine.atomic import write_text_atomic
from diffmusic_engine.audio import read_audio, write_audio
from diffmusic_engine.evaluation.corpus import DEFAULT_CHORALES, SAMPLE_RATE, render_chorale

EXCERPT_S = 10.0
# name -> (file under audio/, start (s), licence). Brahms and the Sugar Plum Fairy carry their
# own reverberation (they read 0.74 s and 2.43 s as they are); the last three are non-commercial.
EXCERPTS = {
    "brahms": ("Hungarian_Dance_number_5_-_Allegro_in_F_sharp_minor_(string_orchestra).hq.ogg",
               5.0, "public domain (Musopen, US Army Strings)"),
    "sugarplum": ("Kevin_MacLeod_-_P_I_Tchaikovsky_Dance_of_the_Sugar_Plum_Fairy.hq.ogg", 10.0,
                  "CC BY 3.0, Kevin MacLeod"),
    "vibeace": ("Kevin_MacLeod_-_Vibe_Ace.hq.ogg", 20.0, "CC BY 3.0, Kevin MacLeod"),
    "fishin": ("Karissa_Hobbs_-_Lets_Go_Fishin.hq.ogg", 30.0, "CC BY 3.0, Karissa Hobbs"),
    "trumpet": ("sorohanro_-_solo-trumpet-06.hq.ogg", 0.0, "CC BY 3.0, Mihai Sorohan"),
    "drumbass": ("admiralbob77_-_Choice_-_Drum-bass.hq.ogg", 5.0, "CC BY-NC, Admiral Bob"),
    "waltz": ("147793__setuniman__sweet-waltz-0i-22mi.hq.ogg", 5.0, "CC BY-NC 3.0, Setuniman"),
    "ragtime": ("442789__lena-orsa__happy-music-pistachio-ice-cream-ragtime.hq.ogg", 10.0,
                "CC BY-NC 3.0, Lena Orsa"),
}  # fmt: skip


def command_excerpts(args: argparse.Namespace) -> None:
    args.out.mkdir(parents=True, exist_ok=True)
    licences = []
    for name, (file, start_s, licence) in EXCERPTS.items():
        audio, info = read_audio(args.librosa_data / "audio" / file)
        first = int(start_s * info.sample_rate)
        excerpt = audio[:, first : first + int(EXCERPT_S * info.sample_rate)]
        if len(excerpt) == 1:
            excerpt = np.repeat(excerpt, 2, axis=0)
        write_audio(args.out / f"{name}_mix.flac", excerpt, info.sample_rate)  # 24-bit FLAC
        licences.append(f"{name}_mix.flac: audio/{file} from {start_s:g} s; {licence}")
        print(licences[-1])
    write_text_atomic(args.out / "LICENCES.txt", "\n".join(licences) + "\n")


def command_chorales(args: argparse.Namespace) -> None:
    args.out.mkdir(parents=True, exist_ok=True)
    for chorale in DEFAULT_CHORALES:
        song = chorale.replace("/", "-").replace(".", "").replace("_", "")  # no "_": bench.rooms
        for voice, audio in render_chorale(chorale, EXCERPT_S).items():
            path = write_audio(args.out / f"{song}_{voice.lower()}.flac", audio, SAMPLE_RATE)
            print(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("excerpts", help="the eight real excerpts")
    p.add_argument("librosa_data", type=Path, help="a checkout of github.com/librosa/data")
    p.add_argument("out", type=Path)
    p.set_defaults(func=command_excerpts)
    p = sub.add_parser("chorales", help="the rendered chorale recordings")
    p.add_argument("out", type=Path)
    p.set_defaults(func=command_chorales)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
