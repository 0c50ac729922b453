"""The cochlea chain against Lauscher 1.0.1, the reference that made SHD.

Deterministic stages (normalisation, window, basilar membrane, hair cell, bushy-cell LIF)
must match Lauscher's numbers; the stochastic fibres must match in distribution; the whole
chain must match in the statistics that a stochastic model keeps (per-channel spike-count
profile, total count, population-rate time course). Lauscher's full chain is slow (Python
loops), so it runs once per session on one short clip.
"""

from __future__ import annotations

import numpy as np
import pytest

from spikebench.audio import cochlea
from spikebench.errors import DataError

lauscher_tf = pytest.importorskip("lauscher.transformations")
from lauscher.audiowaves import MonoAudioWave  # noqa: E402
from lauscher.transformations import (  # noqa: E402
    BasilarMembrane,
    BushyCell,
    HairCell,
    HanningWindow,
    RmsNormalizer,
)


class _InProcessPool:
    """Stands in for multiprocessing.Pool inside Lauscher (no forked pytest processes)."""

    def __init__(self, *_args, **_kwargs) -> None:
        pass

    def __enter__(self) -> _InProcessPool:
        return self

    def __exit__(self, *_exc) -> None:
        return None

    def map(self, fn, items):
        return [fn(item) for item in items]


@pytest.fixture(autouse=True)
def _no_pools(monkeypatch: pytest.MonkeyPatch) -> None:
    import lauscher.transformations.basilar_membrane as bm_mod
    import lauscher.transformations.bushy_cell as bc_mod
    import lauscher.transformations.hair_cell as hc_mod

    for mod in (bm_mod, bc_mod, hc_mod):
        monkeypatch.setattr(mod, "Pool", _InProcessPool)


def _speechlike(duration: float, rate: int, seed: int = 0) -> np.ndarray:
    """A voiced sound with moving formants, a fricative burst and a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(duration * rate)) / rate
    f0 = 140 + 40 * t / duration
    phase = 2 * np.pi * np.cumsum(f0) / rate
    voiced = sum(np.sin(k * phase) / k for k in range(1, 25) if k * f0.max() < rate / 2)
    formant = 1 + np.sin(2 * np.pi * 3 * t)
    burst = rng.standard_normal(t.size) * (np.abs(t - 0.6 * duration) < 0.1 * duration)
    return voiced * formant + 0.5 * burst + 0.02 * rng.standard_normal(t.size)


def _lauscher_pre(wave: np.ndarray, rate: int) -> MonoAudioWave:
    w = MonoAudioWave(wave.copy(), rate)
    return w.transform(RmsNormalizer(0.3)).transform(HanningWindow())


@pytest.mark.parametrize("n", [1601, 1600])
def test_preprocess_matches_lauscher(n: int) -> None:
    wave = _speechlike(n / 16000, 16000)[:n]
    ours = cochlea.preprocess(wave)
    ref = _lauscher_pre(wave, 16000).samples
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-12)


@pytest.mark.parametrize("rate,duration", [(16000, 0.05), (44100, 0.02), (8000, 0.06)])
def test_membrane_matches_lauscher(rate: int, duration: float) -> None:
    wave = _speechlike(duration, rate)
    x = cochlea.preprocess(wave)
    ours = cochlea.membrane_velocity(x, rate)  # [N, C]
    assert ours.shape == (x.size // 2 + 1, 700)
    bm = BasilarMembrane()
    n_freq = x.size // 2 + 1
    omega = 2 * np.pi * np.linspace(1, rate // 2, n_freq)
    spectrum = np.fft.fft(x)[:n_freq]
    scale = None
    for ch in (0, 90, 200, 350, 520, 699):
        ref = bm.process_single_channel(bm.ch[ch], omega, spectrum)
        scale = np.abs(ref).max() if scale is None else max(scale, np.abs(ref).max())
        np.testing.assert_allclose(ours[:, ch], ref, rtol=0, atol=2e-5 * max(np.abs(ref).max(), 1e-9))


def test_transfer_function_cached_on_disk(tmp_path) -> None:
    n, rate = 801, 16000
    cochlea._TABLE_CACHE.clear()
    a = np.array(cochlea._bm_tables(n, rate, cochlea.DEFAULT_PARAMS, tmp_path))
    files = list(tmp_path.glob("bm_16000Hz_801_*.npy"))
    assert len(files) == 1
    cochlea._TABLE_CACHE.clear()
    b = np.array(cochlea._bm_tables(n, rate, cochlea.DEFAULT_PARAMS, tmp_path))
    np.testing.assert_array_equal(a, b)


def test_hair_cell_matches_lauscher() -> None:
    rate = 8000
    rng = np.random.default_rng(1)
    t = np.arange(1200) / rate
    velocity = np.stack(
        [
            60 * np.sin(2 * np.pi * 500 * t) * (t > 0.03),
            300 * np.sin(2 * np.pi * 90 * t),  # drives u + A below zero
            5 * rng.standard_normal(t.size),
        ],
        axis=1,
    )  # [N, 3]
    ours = cochlea.hair_cell(velocity, rate)
    hc = HairCell()
    for ch in range(velocity.shape[1]):
        np.testing.assert_allclose(ours[:, ch], hc._meddis(velocity[:, ch], rate), rtol=1e-12, atol=0)


@pytest.mark.parametrize("rate", [8000, 22050])
def test_bushy_lif_matches_lauscher(rate: int) -> None:
    """Fed the same fibre spikes, the LIF spikes at exactly Lauscher's steps."""
    rng = np.random.default_rng(2)
    n_t = 3000
    t = np.arange(n_t)
    cell = BushyCell()
    stimuli = []
    for ch in range(4):
        p = 0.01 + 0.08 * (np.sin(2 * np.pi * t / (300 + 170 * ch)) > 0.3)
        stimuli.append((rng.random((n_t, cell.n_convergence)) < p[:, None]).astype(np.float64))
    counts = np.stack([s.sum(axis=1) for s in stimuli], axis=1).astype(np.uint8)  # [N, 4]
    steps, units = cochlea.bushy_lif(counts, rate)
    total = 0
    for ch, s in enumerate(stimuli):
        ref = np.flatnonzero(cell._lif(s, rate))
        np.testing.assert_array_equal(steps[units == ch], ref)
        total += ref.size
    assert total > 50  # the test exercises spiking, not silence


@pytest.mark.parametrize("rate", [8000, 22050])
def test_fibre_counts_match_lauscher_in_distribution(rate: int) -> None:
    """Counts drawn as a dead-time Markov chain vs Lauscher's 40 Bernoulli fibres + deletion."""
    n_t, reps = 1500, 200
    t = np.arange(n_t)
    p = 0.005 + 0.15 * np.clip(np.sin(2 * np.pi * t / 400), 0, None) ** 2  # [N]
    cell = BushyCell()
    np.random.seed(3)
    ref = np.stack([cell._sample(p, rate).sum(axis=1) for _ in range(reps)])  # [reps, N]
    prob = np.repeat(p[:, None], reps, axis=1)  # [N, reps]: independent channels
    ours = cochlea.fibre_counts(prob, rate, seed=4).T.astype(np.int64)  # [reps, N]
    # time course of the mean count (the dead time shapes it after every rise in p)
    mean_ref, mean_ours = ref.mean(0), ours.mean(0)
    sem = np.sqrt((ref.var(0) + ours.var(0)) / reps) + 1e-3
    assert np.mean(np.abs(mean_ref - mean_ours) / sem) < 1.2
    assert abs(mean_ours.sum() / mean_ref.sum() - 1) < 0.02
    # the distribution of counts per sample
    h_ref = np.bincount(ref.ravel(), minlength=8)[:8] / ref.size
    h_ours = np.bincount(ours.ravel(), minlength=8)[:8] / ours.size
    np.testing.assert_allclose(h_ours, h_ref, atol=0.004)
    # the dead time itself: at p = 1 each fibre fires once per dead time + 1 samples
    dead = cochlea.dead_samples(rate)
    full = cochlea.fibre_counts(np.ones((5 * (dead + 1), 1)), rate).ravel()
    np.testing.assert_array_equal(full, np.tile([40] + [0] * dead, 5))


@pytest.fixture(scope="module")
def reference_clip():
    """One short speech-like clip through Lauscher's whole chain (about 15 s)."""
    rate = 16000
    wave = _speechlike(0.12, rate, seed=5)
    np.random.seed(6)
    spikes = (
        _lauscher_pre(wave, rate)
        .transform(BasilarMembrane())
        .transform(HairCell())
        .transform(BushyCell())
    )
    return wave, rate, spikes.spike_times, spikes.spike_labels.astype(np.int64)


def test_whole_chain_fidelity(reference_clip) -> None:
    wave, rate, ref_times, ref_units = reference_clip
    runs = [cochlea.waveform_to_spikes(wave, rate, seed=s) for s in range(8)]
    profile_ref = np.bincount(ref_units, minlength=700)
    profiles = np.stack([np.bincount(u, minlength=700) for _, u in runs])
    r = np.corrcoef(profiles.mean(0), profile_ref)[0, 1]
    assert r >= 0.9, f"per-channel spike-count profile: Pearson r = {r:.3f}"
    for _, u in runs:
        assert abs(len(u) / len(ref_units) - 1) <= 0.2
    edges = np.arange(0, wave.size / rate + 0.01, 0.01)
    rate_ref = np.histogram(ref_times, edges)[0]
    rate_ours = np.mean([np.histogram(t, edges)[0] for t, _ in runs], axis=0)
    r_t = np.corrcoef(rate_ours, rate_ref)[0, 1]
    assert r_t >= 0.9, f"population rate time course: Pearson r = {r_t:.3f}"


def test_output_format_and_determinism() -> None:
    rate = 16000
    wave = _speechlike(0.2, rate)
    t1, u1 = cochlea.waveform_to_spikes(wave, rate, seed=11)
    t2, u2 = cochlea.waveform_to_spikes(wave, rate, seed=11)
    t3, u3 = cochlea.waveform_to_spikes(wave, rate, seed=12)
    assert t1.dtype == np.float32 and u1.dtype == np.uint16
    np.testing.assert_array_equal(t1, t2)
    np.testing.assert_array_equal(u1, u2)
    assert len(t3) != len(t1) or not np.array_equal(u1, u3)
    assert t1.size > 100
    assert t1.min() >= 0 and t1.max() < wave.size / rate
    assert u1.max() < 700
    steps = t1.astype(np.float64) * (rate // 2)
    np.testing.assert_allclose(steps, np.round(steps), atol=1e-3)
    key = np.round(steps).astype(np.int64) * 1000 + u1  # sorted by time, then unit
    assert np.all(np.diff(key) > 0)


def _cf_channel(freq: float, rate: int) -> int:
    t = np.arange(int(0.08 * rate)) / rate
    _, units = cochlea.waveform_to_spikes(np.sin(2 * np.pi * freq * t), rate, seed=0)
    counts = np.bincount(units, minlength=700).astype(float)
    smooth = np.convolve(counts, np.ones(15) / 15, mode="same")
    return int(np.argmax(smooth))


def test_tones_map_to_places_at_any_sample_rate() -> None:
    """Higher tones excite lower channel numbers (SHD order), wherever the sample rate."""
    low = [_cf_channel(300, rate) for rate in (8000, 16000, 44100, 48000)]
    high = [_cf_channel(3000, rate) for rate in (8000, 16000, 48000)]
    assert max(high) < min(low)
    assert max(low) - min(low) <= 40 and max(high) - min(high) <= 40


def test_length_quantum_pads_but_keeps_the_clip() -> None:
    rate = 16000
    wave = _speechlike(0.173, rate)
    n_pad = cochlea.padded_length(wave.size, rate, 0.05)
    assert n_pad >= wave.size and n_pad % 2 == 0
    t_exact, u_exact = cochlea.waveform_to_spikes(wave, rate, seed=1)
    t_pad, u_pad = cochlea.waveform_to_spikes(wave, rate, seed=1, length_quantum=0.05)
    assert t_pad.max() < wave.size / rate
    assert abs(len(u_pad) / len(u_exact) - 1) < 0.1
    r = np.corrcoef(np.bincount(u_pad, minlength=700), np.bincount(u_exact, minlength=700))[0, 1]
    assert r > 0.8


@pytest.mark.parametrize(
    "wave,rate,message",
    [
        (np.zeros(0), 16000, "empty"),
        (np.zeros(1000), 16000, "silent"),
        (np.array([0.1, np.nan, 0.2, 0.3, 0.1]), 16000, "NaN"),
        (np.ones((100, 2)), 16000, "mono"),
        (np.ones(1000), 500, "sample rate"),
    ],
)
def test_unusable_waveforms_raise(wave, rate, message) -> None:
    with pytest.raises(DataError, match=message):
        cochlea.waveform_to_spikes(wave, rate)
