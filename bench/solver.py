"""Time one guided sampler step on real-size random-weight AudioLDM2 (no weights needed).

    .venv/bin/python bench/solver.py [--quick] [--seconds 5] [--repeats 1] [--batch-k 2]
                                     [--guidance-dtype float32 bfloat16]

Prints, for 5 s of audio (latent (1, 8, 125, 16)) and an inpainting gap with VMC, for each
guidance precision (D and V as loaded, fp32 on the CPU, or under bf16 autocast; each in a process
of its own, so that peak memory is its own):
- one IRS step through the real sampler and guidance code, and its parts (UNet forward, VAE
  decode, vocoder, mel, backward), with the overhead ratio step / sum of parts (target <= 1.10);
- the same step configured as the authors' code runs it (CFG at batch 2 with empty prompts, the
  UNet inside the autograd graph with trainable parameters), and the ratio (target >= 1.3);
- the speed-up of one step on K windows batched versus K steps one by one;
- the peak resident memory of each configuration above the model's own.
Shapes come from ../shared/model-shapes/audioldm2-music.json (relative to the repository).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script

from bench.peak_memory import peak_mib  # noqa: E402
from diffmusic_engine.damage import Gap  # noqa: E402
from diffmusic_engine.diffusion.guidance import (  # noqa: E402
    GUIDANCE_DTYPES,
    MelDB,
    build_loss,
    fit_length,
    guidance_precision,
    per_item_norm,
    resolve_guidance_dtype,
)
from diffmusic_engine.diffusion.solver import DEFAULT_GAMMA  # noqa: E402
from diffmusic_engine.models.base import default_dtype  # noqa: E402
from diffmusic_engine.models.testing import real_size_audioldm2  # noqa: E402
from diffmusic_engine.operators import InpaintOperator  # noqa: E402
from diffmusic_engine.samplers import DDIMSchedule, sample, tweedie  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SHAPES = REPO.parent / "shared" / "model-shapes" / "audioldm2-music.json"
PAGE = os.sysconf("SC_PAGE_SIZE")
REFERENCE_GAMMA = 5e-4  # the authors' step size (the timing does not depend on it)


def now() -> float:
    """The wall clock, after the GPU has finished what was queued (CUDA runs asynchronously)."""
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter()


class PeakMemory:
    """Peak memory while the block runs, above its level at entry: resident set size (from
    /proc) on the CPU; on CUDA, the allocator's peak of GPU memory."""

    peak_above = 0

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"

    def __enter__(self) -> PeakMemory:
        if self.cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.start = torch.cuda.memory_allocated()
            return self
        self.start = self.peak = rss()
        self._running = True
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self) -> None:
        while self._running:
            self.peak = max(self.peak, rss())
            time.sleep(0.005)

    def __exit__(self, *exc: object) -> None:
        if self.cuda:
            torch.cuda.synchronize()
            self.peak = torch.cuda.max_memory_allocated()
        else:
            self._running = False
            self._thread.join()
            self.peak = max(self.peak, rss())
        self.peak_above = max(self.peak_above, self.peak - self.start)

    @property
    def mib(self) -> float:
        """The largest rise over every use of this watcher."""
        return self.peak_above / 2**20


def rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE


def timed(function, repeats: int) -> tuple[float, object]:
    """Best wall time of ``repeats`` calls, and the last result."""
    best, result = float("inf"), None
    for _ in range(repeats):
        start = now()
        result = function()
        best = min(best, now() - start)
    return best, result


def parts(adapter, loss, z_t, t, conditioning, abar_t, repeats):
    """The step's parts, each timed on its own: UNet, D, V (at the loss's precision), psi +
    norm, backward."""
    times = {}
    times["unet forward"], eps = timed(lambda: adapter.predict_noise(z_t, t, conditioning), repeats)
    z0 = tweedie(z_t, eps, abar_t).requires_grad_(True)
    best = {"decode": float("inf"), "vocoder": float("inf"), "mel": float("inf")}
    best["backward"] = float("inf")
    for _ in range(repeats):
        marks = [now()]
        with guidance_precision(adapter, loss.precision):
            mel = adapter.decode(z0)
            marks.append(now())
            wave = adapter.vocode(mel).float()
        marks.append(now())
        value = loss.from_waveform(wave)
        marks.append(now())
        torch.autograd.grad(value, z0)
        marks.append(now())
        for name, a, b in zip(best, marks, marks[1:], strict=False):
            best[name] = min(best[name], b - a)
    times.update(best)
    return times


class InstrumentedLoss:
    """The VMC loss of guidance.py, split so that its waveform half can be timed alone."""

    def __init__(self, adapter, operator, damaged, precision):
        self.adapter, self.operator, self.n = adapter, operator, damaged.shape[-1]
        self.precision = precision
        self.psi = MelDB(adapter.sample_rate)
        self.psi_y = self.psi(operator.measure(damaged))
        self.full = build_loss(adapter, operator, damaged, vmc=True, precision=precision)

    def from_waveform(self, wave):
        x = fit_length(wave, self.n)
        return per_item_norm(self.psi(self.operator(x)) - self.psi_y)


def our_step(adapter, loss, schedule, shape, conditioning, gamma):
    return sample(
        "irs",
        lambda z, t: adapter.predict_noise(z, t, conditioning),
        loss,
        schedule,
        shape,
        gamma=gamma,
        seed=0,
        device=adapter.device,
    )


def reference_step(adapter, loss, schedule, z_t, damaged, operator):
    """One step as the authors' code takes it: CFG batch 2 (empty prompt twice, scale 3.5), the
    UNet run with gradients on and trainable parameters (its graph kept alive through the
    step), the measurement's mel recomputed, the gradient taken w.r.t. z_t through Tweedie."""
    t, abar_t, abar_prev = schedule.alpha_bars(0)
    unconditional = adapter.conditioning(None, z_t.shape[0]).inputs
    inputs = {k: torch.cat([v, v]) for k, v in unconditional.items()}
    adapter.unet.requires_grad_(True)
    try:
        noise_input = torch.cat([z_t, z_t]).to(adapter.dtype)  # fp16 on CUDA, as the UNet
        eps_both = adapter.unet(noise_input, t, **inputs, return_dict=False)[0].float()
        uncond, cond = eps_both.chunk(2)
        eps = uncond + adapter.default_guidance_scale * (cond - uncond)  # 3.5 for AudioLDM2
        sample_ = z_t.clone().detach().requires_grad_(True)
        z0 = (sample_ - (1 - abar_t) ** 0.5 * eps) / abar_t**0.5
        prev = abar_prev**0.5 * z0 + (1 - abar_prev) ** 0.5 * eps
        psi = MelDB(adapter.sample_rate)
        with guidance_precision(adapter, loss.precision):  # D and V as ours run them
            wave = fit_length(adapter.vocode(adapter.decode(z0)).float(), damaged.shape[-1])
        difference = psi(damaged) - psi(operator(wave))
        norm = torch.linalg.norm(difference.reshape(-1))
        grad = torch.autograd.grad(norm, sample_)[0]
        return (prev - REFERENCE_GAMMA * grad).detach()
    finally:
        adapter.unet.requires_grad_(False)
        adapter.unet.zero_grad(set_to_none=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip K batching")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--batch-k", type=int, default=2, help="windows batched together")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument(
        "--device", default="cuda" if torch.cuda.is_available() else "cpu",
        help="cuda runs the UNet in fp16 as the product does (default: cuda if available)",
    )  # fmt: skip
    parser.add_argument("--shapes", type=Path, default=SHAPES)
    parser.add_argument(
        "--guidance-dtype", nargs="+", choices=GUIDANCE_DTYPES, default=list(GUIDANCE_DTYPES),
        help="precisions of D and V for the guidance to bench (default: each)",
    )  # fmt: skip
    args = parser.parse_args()
    if len(args.guidance_dtype) > 1:  # one process each: peak memory is per process
        for name in args.guidance_dtype:
            argv = [a for a in sys.argv[1:] if a not in GUIDANCE_DTYPES and a != "--guidance-dtype"]
            subprocess.run([sys.executable, __file__, *argv, "--guidance-dtype", name], check=True)
        return
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    start = time.perf_counter()
    base = rss()
    device = torch.device(args.device)
    adapter = real_size_audioldm2(args.shapes, device=args.device, dtype=default_dtype(device))
    params = sum(p.numel() for m in (adapter.unet, adapter.vae, adapter.vocoder)
                 for p in m.parameters())  # fmt: skip
    print(f"built real-size random AudioLDM2 ({params / 1e6:.0f}M parameters, "
          f"{(rss() - base) / 2**30:.2f} GiB) in {time.perf_counter() - start:.1f} s; "
          f"torch threads {torch.get_num_threads()}")  # fmt: skip

    sr = adapter.sample_rate
    n = int(args.seconds * sr)
    operator = InpaintOperator((Gap(0.4 * args.seconds, 0.6 * args.seconds),), sr)
    damaged = operator(torch.randn(1, n) * 0.1).to(adapter.device)
    print(f"audio {args.seconds:g} s = {n} samples, latent {(1, *adapter.latent_shape(n))}, "
          "inpainting with VMC")  # fmt: skip
    for name in args.guidance_dtype:
        precision = resolve_guidance_dtype(name)
        loss = InstrumentedLoss(adapter, operator, damaged, precision)
        step = bench_step(adapter, loss, damaged, operator, args, name)
        if not args.quick and args.batch_k > 1:
            bench_batch(adapter, operator, damaged, step, precision, args)
    print(f"\nprocess peak RSS {peak_mib() / 1024:.2f} GiB; total bench time "
          f"{time.perf_counter() - start:.0f} s")  # fmt: skip


def bench_step(adapter, loss, damaged, operator, args, precision_name) -> float:
    """Print our step, its parts and the reference configuration's step; return ours."""
    shape = (1, *adapter.latent_shape(damaged.shape[-1]))
    conditioning = adapter.conditioning(None, 1)
    schedule = DDIMSchedule.from_scheduler_config(adapter.scheduler_config, 1)
    z_t = torch.randn(shape, generator=torch.Generator().manual_seed(0)).to(adapter.device)
    t, abar_t, _ = schedule.alpha_bars(0)

    def ours():
        return our_step(adapter, loss.full, schedule, shape, conditioning, DEFAULT_GAMMA["irs"])

    def theirs():
        return reference_step(adapter, loss, schedule, z_t, damaged, operator)

    # warm-up: first calls pay for oneDNN primitive creation and allocation
    ours()
    theirs()
    # ours and the reference alternate, so that a change in the machine's load hits both
    step = reference = float("inf")
    ours_memory, reference_memory = PeakMemory(adapter.device), PeakMemory(adapter.device)
    for _ in range(args.repeats):
        with ours_memory:
            step = min(step, timed(ours, 1)[0])
        with reference_memory:
            reference = min(reference, timed(theirs, 1)[0])
    times = parts(adapter, loss, z_t, t, conditioning, abar_t, args.repeats)
    total = sum(times.values())
    print(f"\none IRS step, D and V in {precision_name} for the guidance "
          "(ours: UNet batch 1 under no_grad, frozen modules)")  # fmt: skip
    for name, seconds in times.items():
        print(f"  {name:14s} {seconds:7.3f} s")
    print(f"  {'sum of parts':14s} {total:7.3f} s")
    print(f"  {'step':14s} {step:7.3f} s   overhead ratio step / parts = {step / total:.3f}"
          f"  (target <= 1.10)")  # fmt: skip
    print(f"  peak memory above the model: {ours_memory.mib:.0f} MiB")
    print("reference configuration (CFG batch 2 with empty prompts, UNet inside autograd; "
          f"D and V in {precision_name} too)")  # fmt: skip
    print(f"  step {reference:7.3f} s   reference / ours = {reference / step:.2f}x"
          f"  (target >= 1.3)")  # fmt: skip
    print(f"  peak memory above the model: {reference_memory.mib:.0f} MiB")
    return step


def bench_batch(adapter, operator, damaged, step, precision, args) -> None:
    """Print one step on K windows in a batch against K steps one by one."""
    k, n = args.batch_k, damaged.shape[-1]
    conditioning_k = adapter.conditioning(None, k)
    loss_k = build_loss(
        adapter, operator, damaged.expand(k, n).contiguous(), vmc=True, precision=precision
    )
    schedule = DDIMSchedule.from_scheduler_config(adapter.scheduler_config, 1)
    shape_k = (k, *adapter.latent_shape(n))
    with PeakMemory(adapter.device) as batch_memory:
        batched, _ = timed(
            lambda: our_step(
                adapter, loss_k, schedule, shape_k, conditioning_k, DEFAULT_GAMMA["irs"]
            ),
            args.repeats,
        )
    print(f"{k} windows in one batch: {batched:.3f} s per step vs {k} x {step:.3f} s "
          f"one by one: speed-up {k * step / batched:.2f}x; "
          f"peak memory {batch_memory.mib:.0f} MiB")  # fmt: skip


if __name__ == "__main__":
    main()
