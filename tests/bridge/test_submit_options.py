"""A real daemon checks a job's options with the engine's own check before journalling it."""

from __future__ import annotations

import sqlite3

import pytest

from bridge.client import RequestRejected
from bridge.journal import DATABASE_NAME
from diffmusic_engine.damage import Declick, Gap, Inpaint, PhaseRetrieval

RATE = 16000
OPTS, DAMAGE = "invalid-options", "invalid-damage"


def journal_rows(daemon, job_id: str) -> int:
    """Rows the daemon's journal holds for ``job_id``, read from its database file."""
    uri = f"file:{daemon.journal / DATABASE_NAME}?mode=ro"
    with sqlite3.connect(uri, uri=True) as db:
        return db.execute("SELECT COUNT(*) FROM jobs WHERE job_id = ?", (job_id,)).fetchone()[0]


def test_bug_b_a_diffusion_job_with_an_unknown_option_is_refused_unjournalled(daemon, clip):
    gap = Inpaint((Gap(0.4, 0.41),))
    with daemon.client() as client:
        for job_id, damage, options, named, code in [
            ("bug-b-bogus", gap, {"model": "cvssp/audioldm2-music", "bogus": 1}, "bogus", OPTS),
            ("bug-b-nested", gap, {"model": "m", "diffusion": {"bogus": 1}}, "bogus", OPTS),
            ("bug-b-ddim", gap, {"model": "m", "sampler": "ddim"}, "sampler='ddim'", OPTS),
            # a device its workers do not run on (the job had run on the CPU, unsaid)
            ("bug-b-device", gap, {"model": "m", "device": "cuda:3"}, "this daemon runs", OPTS),
            ("bug-b-dsg", gap, {"model": "m", "sampler": "dsg", "eta": 0}, "needs eta > 0", OPTS),
            # what the model cannot restore: said at submit (the worker had loaded it first)
            ("bug-b-clicks", Declick(), {"model": "m"}, "needs the clicks' times", DAMAGE),
        ]:
            with pytest.raises(RequestRejected) as error:
                client.submit(
                    clip, RATE, damage, backend="diffusion", options=options, job_id=job_id,
                    watch=False,
                )  # fmt: skip
            assert error.value.code == code
            assert named in str(error.value)
            assert journal_rows(daemon, job_id) == 0
        assert journal_rows(daemon, "bug-b-control") == 0  # the query sees real rows:
        client.submit(clip, RATE, PhaseRetrieval(256, 64), options={"iterations": 1},
                      job_id="bug-b-control", watch=False)  # fmt: skip
        assert journal_rows(daemon, "bug-b-control") == 1


def test_the_backend_table_wins_at_the_daemon_as_everywhere(daemon, clip):
    pr = PhaseRetrieval(256, 64)
    with daemon.client() as client:
        # 100000 iterations is out of range (0..10000): only the dsp table's 2 may count
        job = client.submit(
            clip, RATE, pr, options={"iterations": 100000, "dsp": {"iterations": 2}}
        )
        assert client.wait(job, timeout=60)["state"] == "finished"
        assert client.fetch(job).details["iterations"] == 2
        with pytest.raises(RequestRejected, match="iterations=100000 out of range"):
            client.submit(clip, RATE, pr, options={"iterations": 2, "dsp": {"iterations": 100000}})
