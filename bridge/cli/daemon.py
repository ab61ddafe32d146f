"""The client commands: submit, status, fetch, cancel, models, ping (``serve``: :mod:`.serve`).

The client commands are what REAPER scripts call: their ``--json`` lines and ``--status-file``
are a stable interface, documented in docs/protocol.md ("The CLI").
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from bridge.cli.common import (
    MAX_WAIT_SECONDS,
    ON_THE_COMMAND_LINE,
    add_backend_arguments,
    add_bit_depth_argument,
    add_damage_arguments,
    add_lossy_argument,
    add_output_arguments,
    check_bit_depth,
    damage_from_args,
    emit,
    fail,
    lossy_input,
    positive_number,
    progress_reporter,
    refuse_overwriting,
    resolved,
    tell_details,
    tell_outcome,
    told_in_json,
    written_dtype,
)
from bridge.cli.restore import (
    backend_from_args,
    check_output,
    output_paths,
    removed_path,
    write_restoration,
)
from bridge.cli.signals import Terminated, signals_raise
from bridge.connection import DaemonUnavailable, default_connection_path
from bridge.defaults import (
    RECONNECT_SECONDS,
    REQUEST_TIMEOUT,
)
from bridge.notes import NOTE, fetch_command, reconnecting_line
from bridge.protocol import (
    DETACHED,
    MAX_PRIORITY,
    MIN_PRIORITY,
    RECONNECTING,
    check_job_id,
    check_priority,
    new_id,
    no_result,
)
from diffmusic_engine.atomic import write_text_atomic
from diffmusic_engine.audio import check_writable, read_audio
from diffmusic_engine.backends import UNCHANGED
from diffmusic_engine.errors import DiffMusicError, InputError
from diffmusic_engine.progress import Progress


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("submit", help="submit a job to the daemon")
    parser.add_argument("input", type=Path, metavar="IN")
    add_damage_arguments(parser)
    add_lossy_argument(parser)
    add_backend_arguments(parser)
    parser.add_argument("--job-id", metavar="ID", help="client-chosen id (idempotent resubmit)")
    parser.add_argument(
        "--priority", type=int, default=0, metavar="N", help=f"{MIN_PRIORITY}..{MAX_PRIORITY}"
    )
    parser.add_argument("--wait", action="store_true", help="wait until the job ends")
    parser.add_argument(
        "-o", "--output", type=Path, metavar="OUT",
        help="write the result here (implies --wait; a folder for --task separate)",
    )  # fmt: skip
    add_bit_depth_argument(parser)  # -o's, and a later fetch's
    parser.add_argument("--status-file", type=Path, metavar="PATH", help="JSON state, atomic")
    parser.add_argument(
        "--reconnect", type=positive_number(0, above=False), default=RECONNECT_SECONDS,
        metavar="S", help=f"wait for a daemon stopped mid-job (default {RECONNECT_SECONDS:g})",
    )  # fmt: skip
    _client_arguments(parser)
    parser.set_defaults(func=run_submit)

    parser = subparsers.add_parser("status", help="state of a job (or of every job)")
    parser.add_argument("job", nargs="?", metavar="JOB")
    _client_arguments(parser)
    parser.set_defaults(func=run_status)

    parser = subparsers.add_parser("fetch", help="write a finished job's result")
    parser.add_argument("job", metavar="JOB")
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="OUT")
    add_bit_depth_argument(parser)  # default: the submit's (its --bit-depth, or its input's)
    _client_arguments(parser)
    parser.set_defaults(func=run_fetch)

    parser = subparsers.add_parser("cancel", help="cancel a queued or running job")
    parser.add_argument("job", metavar="JOB")
    _client_arguments(parser)
    parser.set_defaults(func=run_cancel)

    parser = subparsers.add_parser("models", help="models loaded in the daemon")
    _client_arguments(parser)
    parser.set_defaults(func=run_models)

    parser = subparsers.add_parser("ping", help="is the daemon there, and how fast")
    parser.add_argument(
        "--wait", type=positive_number(0, MAX_WAIT_SECONDS), default=0.0, metavar="S",
        help="wait up to S seconds for a daemon still starting (a script that starts one)",
    )  # fmt: skip
    _client_arguments(parser)
    parser.set_defaults(func=run_ping)


def _client_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--connection-file", type=Path, metavar="PATH",
        help="default: $DIFFMUSIC_CONNECTION or ~/.config/diffmusic/connection.json",
    )  # fmt: skip
    parser.add_argument(
        "--timeout",
        type=positive_number(0, MAX_WAIT_SECONDS),
        default=REQUEST_TIMEOUT,
        metavar="S",
        help=f"per try (default {REQUEST_TIMEOUT:g})",
    )
    add_output_arguments(parser)


# -- submit ----------------------------------------------------------------------------------------


class StatusFile:
    """The ``--status-file`` JSON object, rewritten atomically (temp file + rename) on change."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.state: dict[str, Any] = {
            "job": None, "state": "connecting", "fraction": 0.0, "outputs": [], "error": None,
            "unchanged": None, "notes": [],
        }  # fmt: skip
        self._write()

    def update(self, **changes: Any) -> None:
        new = {**self.state, **changes}
        if new != self.state:
            self.state = new
            self._write()

    def _write(self) -> None:
        if self.path is None:
            return
        write_text_atomic(self.path, json.dumps(self.state))


def check_status_file(args: argparse.Namespace) -> None:
    """Refuse a ``--status-file`` that is the input, an output or the connection file (it is
    written first: it had replaced the input audio with JSON before anything was checked, and
    the connection file, so that no client reached the daemon any more)."""
    if args.status_file is None:
        return
    connection = args.connection_file or default_connection_path()
    taken = {"the input": args.input, "the daemon's connection file": connection}
    if args.output is not None:
        taken["the output"] = args.output
        if args.output.name not in ("", ".", ".."):  # "-o .": a folder, no sibling name
            taken["declick's removed-clicks output"] = removed_path(args.output)
    for what, path in taken.items():
        if resolved(args.status_file) == resolved(path):
            raise InputError(f"--status-file {args.status_file} is {what}; give the status "
                             "file a name of its own (e.g. job.status.json)")  # fmt: skip


def run_submit(args: argparse.Namespace) -> int:
    check_status_file(args)  # before the status file is first written
    status = StatusFile(args.status_file)
    try:
        with signals_raise(Terminated):  # a status file REAPER reads must not stay "running"
            return _submit(args, status)
    except DiffMusicError as exc:
        status.update(state="failed", error=" ".join(str(exc).split()))
        raise
    except Terminated as stop:  # the job goes on in the daemon: said, and how to have it
        job = status.state["job"] or args.job_id  # REAPER's, given: it may be held already
        error = f"stopped by {stop}" + (f"; {_goes_on(job, args)}" if job else "")
        status.update(job=job, state=DETACHED if job else "failed", error=error)
        return fail(error, args, code=128 + stop.signum)
    except KeyboardInterrupt:  # the client has cancelled the job on the daemon
        status.update(state="cancelled" if status.state["job"] else "failed", error="interrupted")
        raise


def _goes_on(job_id: str, args: argparse.Namespace, finished: bool = False) -> str:
    """How a user has the result of a job whose waiting client stopped, or could not write it."""
    fetch = fetch_command(job_id, args.connection_file)
    if finished:
        return f"job {job_id}'s result stays on the daemon: {fetch}"
    return (
        f"job {job_id} goes on in the daemon if it took it: {fetch} once it is done (or submit "
        f"again with --job-id {job_id}, which waits for it, or sends it if it had not arrived)"
    )


def _existing_job(job_id: str, state: str, args: argparse.Namespace) -> str:
    """What a submit says when its ``--job-id`` names a job of the same request the daemon
    already has, in ``state``: that job is the one followed or reported, nothing runs twice
    (the id is the idempotency key: a retry, or a client attaching again after it stopped,
    must not run it again; a resubmit had said nothing of it)."""
    line = (f"job {job_id} was already submitted with this request ({state}): this is that job, "
            "not run again; another --job-id, or none, runs it anew")  # fmt: skip
    if state == "finished" and not (args.wait or args.output):
        line += f"; its result: {fetch_command(job_id, args.connection_file)}"
    return line


def _submit(args: argparse.Namespace, status: StatusFile) -> int:
    from bridge.client import Client

    damage, preset_options = damage_from_args(args)
    backend, options = backend_from_args(args, preset_options)
    if preset_options:  # its errors name the file; the daemon's submit check does the rest
        from diffmusic_engine.options import check_options

        check_options(backend, damage, options, args.preset, preset_options, ON_THE_COMMAND_LINE)
    check_job_id(args.job_id, required=False)
    check_priority(args.priority)
    if args.output is not None:
        check_output(args, damage)
    audio, info = read_audio(args.input)
    job_id = args.job_id or new_id()
    # the input's full path: fetch refuses to write over it (restore and submit -o refuse too)
    dtype = written_dtype(args, info.file_dtype)  # what -o, and a later fetch, write
    source = {"name": args.input.name, "file_dtype": dtype, "path": str(resolved(args.input))}
    with Client(args.connection_file, timeout=args.timeout) as client:
        reply = client.submit_reply(
            audio, info.sample_rate, damage, backend=backend, options=options, job_id=job_id,
            priority=args.priority, source=source, lossy=lossy_input(args, info.lossy),
        )  # fmt: skip
        if not reply["new"] and reply["state"] in ("cancelled", "failed"):  # an id runs once
            raise DiffMusicError(f"job {job_id} was already {reply['state']}; a job id runs once: "
                                 "submit with another --job-id (or none)")  # fmt: skip
        status.update(job=job_id, state="queued")
        if reply["new"]:
            emit(args, "accepted", job=job_id)
        else:  # said: "new" false and its state in the JSON line, else a note on stderr
            emit(args, "accepted", job=job_id, new=False, state=reply["state"])
            if not args.json:
                print(f"{NOTE}: {_existing_job(job_id, reply['state'], args)}", file=sys.stderr)
        if not (args.wait or args.output):
            if not args.json:  # the one handle on the job (--quiet: no progress bar)
                print(job_id)
            return 0
        final = _follow(args, client, job_id, status)
        if final["state"] != "finished":
            error = final.get("error")
            status.update(state=final["state"], error=error or f"job {job_id} was {final['state']}")
            failed = final["state"] == "failed" and error  # its own error names what to do
            return fail(error if failed else no_result(job_id, final["state"], error), args)
        if args.output is None:  # the result stays on the daemon: said if it is the input
            details = final.get("details") or {}
            told = told_in_json(details)
            status.update(state="finished", fraction=1.0, unchanged=details.get(UNCHANGED),
                          notes=told.get("notes", []))  # fmt: skip
            emit(args, "done", job=job_id, state="finished", **told)
            tell_details(args, details, f"job {job_id}'s result")
            if not args.json:  # the one handle on the result a script that chose no id has
                print(job_id)
            return 0
        restoration = client.fetch(job_id)
        paths = output_paths(
            args.output, args.input, len(restoration.tracks), restoration.details.get("task", "")
        )
        try:
            written = write_restoration(restoration, paths, dtype, args.input)
            outputs = [str(p) for p in written]
        except DiffMusicError as exc:  # a full disk: the result is not lost, said how to have it
            raise DiffMusicError(f"{exc}; {_goes_on(job_id, args, finished=True)}") from None
        told = told_in_json(restoration.details)
        status.update(state="finished", fraction=1.0, outputs=outputs,
                      unchanged=restoration.unchanged, notes=told.get("notes", []))  # fmt: skip
        emit(args, "done", job=job_id, outputs=outputs, **told)
        tell_outcome(args, restoration, outputs)
    return 0


def _follow(args: argparse.Namespace, client: Any, job_id: str, status: StatusFile) -> dict:
    """Wait for the job, mirroring its events to JSON lines, the status file and a bar."""
    with progress_reporter(argparse.Namespace(quiet=args.quiet or args.json), job_id) as bar:

        def on_event(kind: str, content: dict[str, Any]) -> None:
            if kind == "started":
                status.update(state="running")
            elif kind == "progress":
                fraction = float(content["fraction"])
                status.update(state="running", fraction=round(fraction, 4))
                emit(args, "progress", job=job_id, fraction=round(fraction, 4),
                     step=content["step"], total=content["total"])  # fmt: skip
                bar(Progress(int(content["step"]), int(content["total"]), content.get("stage", "")))

        def on_status(job: dict[str, Any]) -> None:  # polled while no event came
            if job["state"] == RECONNECTING and status.state["state"] != RECONNECTING:
                print(f"{NOTE}: {reconnecting_line(job_id, args.reconnect)}", file=sys.stderr)
            status.update(state=job["state"], fraction=round(float(job["fraction"]), 4))

        return client.wait(job_id, on_event=on_event, on_status=on_status, reconnect=args.reconnect)


# -- status, fetch, cancel, models, ping ---------------------------------------------------------


def _client(args: argparse.Namespace) -> Any:
    from bridge.client import Client

    return Client(args.connection_file, timeout=args.timeout)


def run_status(args: argparse.Namespace) -> int:
    check_job_id(args.job, required=False)
    with _client(args) as client:
        jobs = [client.status(args.job)] if args.job else client.jobs()
    for job in jobs:
        if args.json:
            print(json.dumps({"event": "status", **job}), flush=True)
        else:
            error = f"  {job['error']}" if job["error"] else ""
            print(f"{job['job']}  {job['state']:9s} {job['fraction'] * 100:5.1f}%  "
                  f"{job['task']}{error}")  # fmt: skip
    return 0


def run_fetch(args: argparse.Namespace) -> int:
    check_job_id(args.job)  # the id's rule, said here (the daemon had answered "not-found")
    if args.output.suffix:  # a file (a folder for sources has none): refuse its format first
        check_bit_depth(args, [args.output])
        check_writable(args.output)
    with _client(args) as client:
        restoration = client.fetch(args.job)
    source = restoration.details.get("source", {})
    name = Path(source.get("name") or f"{args.job}.wav")
    paths = output_paths(
        args.output, name, len(restoration.tracks), restoration.details.get("task", "")
    )
    refuse_overwriting([args.output, *paths], [Path(source["path"])] if "path" in source else [])
    check_bit_depth(args, paths)  # a folder's files (sources) are named after the input
    file_dtype = written_dtype(args, source.get("file_dtype", "float32"))
    submitted = Path(source["path"]) if "path" in source else None  # its tags, if it is here
    outputs = [str(p) for p in write_restoration(restoration, paths, file_dtype, submitted)]
    emit(args, "done", job=args.job, outputs=outputs, **told_in_json(restoration.details))
    if not args.json:  # --quiet: no progress bar (as submit's job id)
        print("\n".join(outputs))
    tell_outcome(args, restoration, outputs)
    return 0


def run_cancel(args: argparse.Namespace) -> int:
    check_job_id(args.job)
    with _client(args) as client:
        state = client.cancel(args.job)
    emit(args, "cancelled", job=args.job, state=state)
    if not args.json:  # "running": the job stops at its next step (it had read as not cancelled)
        said = "stopping: cancelled at its next step" if state == "running" else state
        print(f"{args.job}  {said}")
    return 0


def run_models(args: argparse.Namespace) -> int:
    with _client(args) as client:
        models = client.models()
    models.pop("status", None)
    if args.json:
        print(json.dumps({"event": "models", **models}), flush=True)
        return 0
    print(f"backends: {', '.join(models['backends'])}; devices: {', '.join(models['devices'])}")
    for m in models["models"]:
        print(f"{m['id']}  {m['device']}  {m['bytes'] / 2**20:.0f} MiB")
    if not models["models"]:
        print("no models loaded")
    for failed in models.get("failed", []):  # --json showed them; the table had not
        print(f"failed to load {failed['id']}: {failed['message']}")
    return 0


def run_ping(args: argparse.Namespace) -> int:
    reply = _pinged(args)
    if args.json:
        print(json.dumps({"event": "pong", "rtt_ms": round(reply["rtt_ms"], 3),
                          "daemon": reply["daemon"], "capacity": reply["capacity"]}),
              flush=True)  # fmt: skip
    else:
        d, c = reply["daemon"], reply["capacity"]
        print(f"daemon pid {d['pid']} up {d['uptime']:.0f} s, {c['running']} running, "
              f"{c['queued']} queued; round trip {reply['rtt_ms']:.2f} ms")  # fmt: skip
    return 0


def _pinged(args: argparse.Namespace) -> dict[str, Any]:
    """The daemon's ping reply; with ``--wait S``, asked again until a daemon starting up
    answers or S seconds pass (a client had failed at once: "no connection file")."""
    deadline = time.monotonic() + args.wait
    while True:
        try:
            with _client(args) as client:
                return client.ping()
        except DaemonUnavailable:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.2)
