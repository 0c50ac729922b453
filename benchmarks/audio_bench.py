"""Lauscher (the reference that made SHD) vs spikebench's cochlea, on the same clips, in one run.

Both run on one core: Lauscher's process pools are replaced by an in-process map (it
parallelises over channels, spikebench over clips, so one core each is the like-for-like
comparison), and spikebench converts one clip at a time in this process. spikebench is
timed twice per clip length: "cold" (computing the basilar-membrane transfer function for
that clip length first) and "warm" (cached, the steady state of make-digits and convert).

Fidelity, per clip (Lauscher is stochastic too, so statistics are compared):
  profile r   Pearson correlation of the per-channel spike counts, Lauscher vs the mean of
              several spikebench seeds (and vs one spikebench run)
  count       total spikes, spikebench / Lauscher
  rate r      Pearson correlation of the population rate in 10 ms bins

Usage: .venv/bin/python benchmarks/audio_bench.py [--clips N] [--seconds S] [--seeds K]
Then a make-digits timing: .venv/bin/python benchmarks/audio_bench.py --digits
"""

from __future__ import annotations

import argparse
import time

import numpy as np


class _InProcessPool:
    def __init__(self, *_a, **_k) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *_exc) -> None:
        return None

    def map(self, fn, items):
        return [fn(item) for item in items]


def _lauscher(wave: np.ndarray, rate: int) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
    import lauscher.transformations.basilar_membrane as bm_mod
    import lauscher.transformations.bushy_cell as bc_mod
    import lauscher.transformations.hair_cell as hc_mod
    from lauscher.audiowaves import MonoAudioWave
    from lauscher.transformations import BasilarMembrane, BushyCell, HairCell, HanningWindow, RmsNormalizer

    for mod in (bm_mod, bc_mod, hc_mod):
        mod.Pool = _InProcessPool
    stages: dict[str, float] = {}
    data = MonoAudioWave(wave.copy(), rate)
    for name, tr in [
        ("normalise+window", None), ("basilar membrane", BasilarMembrane()),
        ("hair cell", HairCell()), ("bushy cell", BushyCell()),
    ]:  # fmt: skip
        t0 = time.perf_counter()
        data = data.transform(RmsNormalizer(0.3)).transform(HanningWindow()) if tr is None else data.transform(tr)
        stages[name] = time.perf_counter() - t0
    return data.spike_times, data.spike_labels.astype(np.int64), stages


def _clips(n: int, seconds: float, rate: int) -> list[tuple[str, np.ndarray]]:
    from spikebench.audio import speech

    words = [("seven", "en-us", "m3"), ("drei", "de", "f2"), ("zero", "en", "klatt4"), ("acht", "de", "m1")]
    out = []
    rng = np.random.default_rng(0)
    for word, lang, variant in (words * n)[:n]:
        voice = speech.Voice("espeak", variant, "", ("en", "de"))
        x = speech.synthesize([speech.Request(voice, word, lang, seed=1)], rate)[0].astype(np.float64)
        n_clip = int(seconds * rate)
        clip = np.zeros(n_clip)
        x = x[:n_clip]
        start = (n_clip - x.size) // 2
        clip[start : start + x.size] = x
        clip += 0.01 * rng.standard_normal(n_clip) * np.abs(x).max()
        out.append((f"{word} ({lang}+{variant})", clip))
    return out


def bench_converter(n_clips: int, seconds: float, n_seeds: int) -> None:
    from spikebench.audio import cochlea

    rate = 16000
    print(f"{n_clips} clip(s) of {seconds} s at {rate} Hz; one core each; spikebench seeds: {n_seeds}")
    rows = []
    for name, wave in _clips(n_clips, seconds, rate):
        np.random.seed(0)
        t0 = time.perf_counter()
        ref_t, ref_u, stages = _lauscher(wave, rate)
        t_lauscher = time.perf_counter() - t0
        cochlea._TABLE_CACHE.clear()
        t0 = time.perf_counter()
        cochlea.waveform_to_spikes(wave, rate, seed=0)
        t_cold = time.perf_counter() - t0
        runs, warm = [], []
        for s in range(n_seeds):
            t0 = time.perf_counter()
            runs.append(cochlea.waveform_to_spikes(wave, rate, seed=s))
            warm.append(time.perf_counter() - t0)
        t_warm = float(np.median(warm))
        prof_ref = np.bincount(ref_u, minlength=700)
        profs = np.stack([np.bincount(u, minlength=700) for _, u in runs])
        r_mean = np.corrcoef(profs.mean(0), prof_ref)[0, 1]
        r_one = np.corrcoef(profs[0], prof_ref)[0, 1]
        count = profs.sum(1).mean() / max(prof_ref.sum(), 1)
        edges = np.arange(0, seconds + 1e-9, 0.01)
        rate_ref = np.histogram(ref_t, edges)[0]
        rate_ours = np.mean([np.histogram(t, edges)[0] for t, _ in runs], axis=0)
        r_rate = np.corrcoef(rate_ours, rate_ref)[0, 1]
        rows.append((t_lauscher, t_cold, t_warm))
        print(
            f"  {name:24s} Lauscher {t_lauscher:7.2f} s "
            f"({', '.join(f'{k} {v:.1f}' for k, v in stages.items())})\n"
            f"  {'':24s} spikebench cold {t_cold:6.3f} s, warm {t_warm * 1e3:6.1f} ms -> "
            f"{t_lauscher / t_cold:6.0f}x cold, {t_lauscher / t_warm:6.0f}x warm\n"
            f"  {'':24s} profile r {r_mean:.3f} (one run {r_one:.3f}), count {count:.3f}, "
            f"rate r {r_rate:.3f}, spikes {prof_ref.sum()} vs {profs.sum(1).mean():.0f}"
        )
    lau, cold, warm = (np.array(c) for c in zip(*rows))
    print(
        f"total: Lauscher {lau.sum():.1f} s, spikebench {cold.sum():.2f} s cold / "
        f"{warm.sum():.3f} s warm -> speed-up {lau.sum() / cold.sum():.0f}x cold, "
        f"{lau.sum() / warm.sum():.0f}x warm"
    )


def bench_digits() -> None:
    import os
    import tempfile

    from spikebench.audio.digits import make_digits

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        c0 = os.times()
        make_digits(tmp)
        c1 = os.times()
        wall = time.perf_counter() - t0
        cpu = (c1.user - c0.user) + (c1.children_user - c0.children_user)
        t0 = time.perf_counter()
        make_digits(tmp)
        again = time.perf_counter() - t0
    print(f"make-digits (2000 train + 500 test): {wall:.1f} s wall, {cpu:.1f} s CPU; "
          f"second call {again * 1e3:.1f} ms")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=0.5)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--digits", action="store_true", help="time make-digits at its default size instead")
    args = parser.parse_args()
    if args.digits:
        bench_digits()
    else:
        bench_converter(args.clips, args.seconds, args.seeds)


if __name__ == "__main__":
    main()
