"""Error paths after a job's result is stored must not contradict it."""

from __future__ import annotations

import time

import numpy as np
from bridge_helpers import RATE, Daemon

from diffmusic_engine.api import restore
from diffmusic_engine.damage import PhaseRetrieval


def test_failed_osc_export_leaves_a_finished_job_finished(tmp_path, clip, osc_listener):
    """The export for OSC listeners runs after the result is durable. It used to raise into the
    worker, which then announced "failed" (event and /diffmusic/failed) for a finished job; then
    it said nothing to OSC listeners, which waited for ever."""
    daemon = Daemon(tmp_path, "--notify-osc", f"127.0.0.1:{osc_listener.port}")
    (daemon.journal / "exports").parent.mkdir(parents=True)
    (daemon.journal / "exports").write_text("a file where the exports folder should be")
    damage, options = PhaseRetrieval(256, 64), {"iterations": 2}
    try:
        daemon.start()
        events = []
        with daemon.client() as client:
            job = client.submit(clip, RATE, damage, options=options, job_id="export-fails")
            final = client.wait(job, timeout=60, on_event=lambda kind, _: events.append(kind))
            assert final["state"] == "finished" and final["error"] is None, final
            expected = restore(clip, RATE, damage, options=options).audio
            np.testing.assert_array_equal(client.fetch(job).audio, expected)
            time.sleep(1.0)  # a contradicting event or datagram would have come by now
            while (event := client._next_event(job, 0, 100)) is not None:
                events.append(event[0])
            assert client.status(job)["state"] == "finished"
        assert "failed" not in events, events
        assert "finished" in events, events
        sent = [(address, args) for address, args in osc_listener.messages if args[:1] == (job,)]
        # the listener, which waits for done or failed, is told: finished, and how to fetch
        (failed,) = [args for address, args in sent if address == "/diffmusic/failed"]
        assert failed[1].startswith("finished, but its WAV for OSC listeners could not be written")
        # with the daemon's connection file, which is not the default one here
        fetch = f"diffmusic fetch {job} -o OUT --connection-file {daemon.connection}"
        assert failed[1].endswith(f"fetch it: {fetch}")
        assert not [m for m in sent if m[0] == "/diffmusic/done"], sent
        assert "export for OSC listeners failed" in daemon.log.read_text()
    finally:
        daemon.stop()
