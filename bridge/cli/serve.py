"""``diffmusic serve``: the daemon, its flags, and the executor it runs jobs with."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from bridge.cli.common import positive_number, whole_number
from bridge.defaults import DEFAULT_LIMITS, LOOPBACK, MAX_QUEUED, RESULT_TTL
from diffmusic_engine.errors import DiffMusicError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("serve", help="run the daemon")
    parser.add_argument("--connection-file", type=Path, metavar="PATH")
    parser.add_argument("--journal", type=Path, metavar="DIR", help="job journal folder")
    parser.add_argument("--host", default=LOOPBACK, help=f"address to bind (default {LOOPBACK})")
    parser.add_argument("--request-port", type=whole_number(0, 65535), default=0, metavar="N")
    parser.add_argument("--event-port", type=whole_number(0, 65535), default=0, metavar="N")
    parser.add_argument(
        "--device", action="append", type=_device, metavar="D",
        help="a worker per device: cpu, cuda, cuda:N or mps (default: cuda or cpu)",
    )  # fmt: skip
    parser.add_argument("--executor", choices=("local", "ray"), default="local")
    parser.add_argument(
        "--ray-address", metavar="ADDR",
        help="Ray cluster (host:port, 'auto', or 'local' to start one); default $RAY_ADDRESS",
    )  # fmt: skip
    parser.add_argument(
        "--replicas",
        type=whole_number(1),
        metavar="N",
        help="Ray replicas (default: one per GPU, else 1)",
    )
    parser.add_argument(
        "--max-queued", type=whole_number(1), default=MAX_QUEUED, metavar="N", help="then busy"
    )
    parser.add_argument(
        "--osc-port", type=whole_number(1, 65535), metavar="N", help="receive OSC cancel/ping"
    )
    parser.add_argument(
        "--notify-osc", action="append", default=[], metavar="HOST:PORT",
        help="send OSC notifications there (repeatable)",
    )  # fmt: skip
    parser.add_argument("--reaper-action", metavar="ID", help="/action/ID after each done")
    parser.add_argument("--preload", action="append", default=[], metavar="MODEL")
    parser.add_argument(
        "--model-memory",
        type=positive_number(0, above=False),
        default=0,
        metavar="GB",
        help="0: no limit",
    )
    parser.add_argument("--result-ttl", type=positive_number(0), default=RESULT_TTL, metavar="S")
    parser.add_argument(
        "--max-duration", type=positive_number(0), default=DEFAULT_LIMITS.max_duration, metavar="S"
    )
    parser.add_argument(
        "--max-channels", type=whole_number(1), default=DEFAULT_LIMITS.max_channels, metavar="N"
    )
    parser.add_argument(
        "--max-message-mb",
        type=positive_number(1, above=False),  # a submit's frames, headers included, must fit
        default=DEFAULT_LIMITS.max_message_bytes / 2**20,
        metavar="MB",
    )
    parser.add_argument("--new-key", action="store_true", help="do not reuse the previous key")
    parser.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING"))
    parser.set_defaults(func=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    from bridge.daemon import Limits, LocalExecutor, Server, ServerConfig

    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    limits = Limits(
        max_duration=args.max_duration,
        max_channels=args.max_channels,
        max_message_bytes=int(args.max_message_mb * 2**20),
        max_queued=args.max_queued,
    )
    config = ServerConfig(
        connection_file=args.connection_file,
        journal_dir=args.journal,
        host=args.host,
        request_port=args.request_port,
        event_port=args.event_port,
        limits=limits,
        osc_port=args.osc_port,
        notify_osc=[_host_port(t) for t in args.notify_osc],
        reaper_action=args.reaper_action,
        preload=list(args.preload),
        result_ttl=args.result_ttl,
        new_key=args.new_key,
    )
    if args.executor == "ray":  # the gateway here, the solving on a Ray Serve deployment
        from bridge.daemon.ray_executor import RayConfig, RayExecutor

        executor = RayExecutor(
            RayConfig(address=args.ray_address, replicas=args.replicas, max_queued=args.max_queued)
        )
    else:
        executor = LocalExecutor(
            tuple(args.device or [_default_device()]),
            model_budget_bytes=int(args.model_memory * 2**30),
        )
    Server(config, executor).serve_forever()
    return 0


def _device(text: str) -> str:
    """An argparse ``type``: a device a job may name (the diffusion option's rule): a worker
    for "quantum" had been started, and every job naming it refused."""
    from diffmusic_engine.diffusion.options import OPTIONS

    try:
        return OPTIONS["device"].check("serve", "device", text)
    except DiffMusicError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected cpu, cuda, cuda:N or mps") from None


def _default_device() -> str:
    from diffmusic_engine.models.base import default_device

    return default_device()


def _host_port(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise DiffMusicError(f"--notify-osc {text!r}: expected HOST:PORT, e.g. 127.0.0.1:9000")
    return host, int(port)
