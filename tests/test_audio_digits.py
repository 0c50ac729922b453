"""The embedded spoken-digits set: speech engines, speaker transforms, acoustics, the set itself
and the leave-one-engine-out split."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from spikebench.audio import acoustics, speech, vocoder
from spikebench.audio.digits import DIGIT_KEYS, DigitsConfig, make_digits, read_manifest, speaker_engines
from spikebench.cli import main
from spikebench.data.shd import read_shd
from spikebench.errors import ConfigError, SpikebenchError
from spikebench.experiments.realism import engine_holdout

SMALL = dict(n_train=40, n_test=20, workers=1)
SMALL_CONFIG = DigitsConfig(speakers_per_voice=(1, 1), espeak_speakers=(3, 2))
FS = 16000

needs_flite = pytest.mark.skipif(shutil.which("flite") is None, reason="flite is not installed (make sysdeps)")
needs_festival = pytest.mark.skipif(shutil.which("festival") is None, reason="festival is not installed (make sysdeps)")


def _voice(engine: str, name: str) -> speech.Voice:
    found = [v for v in speech.available_voices((engine,)) if v.name == name]
    if not found:
        pytest.fail(f"{engine} is installed but has no voice {name}")
    return found[0]


def test_espeak_speaks_both_languages() -> None:
    m3 = _voice("espeak", "m3")
    en, de, slow = speech.synthesize([
        speech.Request(m3, "seven", "en-us"), speech.Request(m3, "fünf", "de"),
        speech.Request(m3, "seven", "en-us", rate=0.7),
    ], FS)  # fmt: skip
    for wave in (en, de):
        assert wave.dtype == np.float32 and wave.size > 0.2 * FS
        assert 0.05 < np.abs(wave).max() <= 1.0
    assert slow.size > en.size * 1.2
    with pytest.raises(SpikebenchError, match="no voice"):
        speech.synthesize([speech.Request(m3, "one", "xx-nonexistent")])
    with pytest.raises(SpikebenchError, match="unknown speech engine"):
        speech.available_voices(("nonesuch",))


@needs_flite
def test_flite_voices_speak(tmp_path: Path) -> None:
    names = [v.name for v in speech.available_voices(("flite",))]
    assert {"kal16", "awb", "rms", "slt"} <= set(names)
    awb = _voice("flite", "awb")
    plain, slow = speech.synthesize([speech.Request(awb, "three"), speech.Request(awb, "three", rate=0.75)],
                                    FS, cache_dir=tmp_path)  # fmt: skip
    assert plain.size > 0.2 * FS and slow.size > 1.2 * plain.size
    assert len(list(tmp_path.glob("*.npy"))) == 2  # cached: the same request is read back
    again = speech.synthesize([speech.Request(awb, "three")], FS, cache_dir=tmp_path)[0]
    np.testing.assert_array_equal(again, plain)


@needs_festival
def test_festival_voices_speak_in_one_batch() -> None:
    voices = speech.available_voices(("festival",))
    assert {v.name for v in voices} == {"kal_diphone", "ked_diphone", "cmu_us_slt_arctic_hts"}
    reqs = [speech.Request(v, "eight", rate=r) for v in voices for r in (1.0, 0.7)]
    waves = speech.synthesize(reqs, FS)
    for k in range(0, len(waves), 2):
        assert waves[k].size > 0.15 * FS
        assert waves[k + 1].size > 1.2 * waves[k].size  # rate reaches diphone and HTS voices
    assert {v.person for v in voices} == {"kal", "ked", "slt"}


def test_vtlp_warp_axis() -> None:
    assert np.allclose(vocoder.warp_axis(257, FS, 1.0), np.arange(257))
    for warp in (0.85, 1.15):
        pos = vocoder.warp_axis(257, FS, warp)
        assert np.all(np.diff(pos) > 0) and pos[0] == 0 and np.isclose(pos[-1], 256)
        k = 40  # 2.5 kHz, below the knee: read from f / warp
        assert np.isclose(pos[k], k / warp)


def test_vocoder_moves_pitch_and_formants() -> None:
    import pyworld

    m3 = _voice("espeak", "m3")
    x = speech.synthesize([speech.Request(m3, "nine", "en-us")], FS)[0].astype(np.float64)

    def median_f0(w: np.ndarray) -> float:
        f0, _ = pyworld.dio(w, FS)
        return float(np.median(f0[f0 > 0]))

    def centroid(w: np.ndarray) -> float:
        spec = np.abs(np.fft.rfft(w)) ** 2
        return float((np.fft.rfftfreq(w.size, 1 / FS) * spec).sum() / spec.sum())

    up = vocoder.transform(x, FS, semitones=12.0)
    assert up.size == x.size
    assert 1.8 < median_f0(up) / median_f0(x) < 2.2
    assert centroid(vocoder.transform(x, FS, warp=1.15)) > 1.05 * centroid(vocoder.transform(x, FS, warp=0.85))


def test_acoustics() -> None:
    rng = np.random.default_rng(0)
    rir = acoustics.room_impulse_response(rng, FS, rt60=0.5, drr_db=3.0)
    # Schroeder backward integral falls about 60 dB per rt60 (fit between -5 and -25 dB)
    edc = 10 * np.log10(np.cumsum(rir[1:][::-1] ** 2)[::-1] / np.sum(rir[1:] ** 2))
    t = np.arange(edc.size) / FS
    sel = (edc < -5) & (edc > -25)
    slope = np.polyfit(t[sel], edc[sel], 1)[0]
    assert 0.3 < -60 / slope < 0.6
    assert np.isclose(10 * np.log10(1.0 / np.sum(rir[1:] ** 2)), 3.0)
    x, noise = rng.standard_normal(FS), rng.standard_normal(FS)
    mixed = acoustics.add_at_snr(x, noise, 10.0)
    assert np.isclose(10 * np.log10(np.mean(x**2) / np.mean((mixed - x) ** 2)), 10.0)
    freqs = np.fft.rfftfreq(FS, 1 / FS)
    for fn in (acoustics.telephone, acoustics.narrowband):
        y = fn(x, FS)
        power = np.abs(np.fft.rfft(y)) ** 2
        assert y.size == x.size and power[freqs > 4100].sum() < 1e-2 * power.sum()  # 8 kHz sampling
    power = np.abs(np.fft.rfft(acoustics.telephone(x, FS))) ** 2
    assert power[freqs < 150].sum() < 1e-2 * power.sum()  # the telephone band starts at 300 Hz
    talkers = [rng.standard_normal(3000), rng.standard_normal(5000)]
    assert acoustics.babble(rng, talkers, 4000, 3).shape == (4000,)


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One transfer-function and speech cache for the module (the transfer function takes seconds)."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory, cache: Path) -> tuple[Path, Path]:
    out = tmp_path_factory.mktemp("digits")
    return make_digits(out, seed=0, config=SMALL_CONFIG, cache_dir=cache, **SMALL)


def test_digits_files_follow_shd(digits: tuple[Path, Path]) -> None:
    train_path, test_path = digits
    assert train_path.name == "digits_train.h5" and test_path.name == "digits_test.h5"
    train, test = read_shd(train_path), read_shd(test_path)
    assert len(train) == 40 and len(test) == 20
    assert train.keys == DIGIT_KEYS and DIGIT_KEYS[0] == "zero" and DIGIT_KEYS[19] == "neun"
    assert np.bincount(train.labels, minlength=20).tolist() == [2] * 20
    assert np.bincount(test.labels, minlength=20).tolist() == [1] * 20
    manifest = read_manifest(train_path.parent)
    splits = {s["id"]: s["split"] for s in manifest["speakers"]}
    # whole speakers held out for the test file
    assert not set(train.speakers.tolist()) & set(test.speakers.tolist())
    assert {splits[int(s)] for s in train.speakers} == {"train"}
    assert {splits[int(s)] for s in test.speakers} == {"test"}
    engines = speaker_engines(manifest)
    present = {"espeak"} | {e for e in ("flite", "festival") if shutil.which(e)}
    assert set(manifest["engines"]) == present
    for data in (train, test):
        eng = np.array([engines[int(s)] for s in data.speakers])
        assert set(eng[data.labels >= 10]) == {"espeak"}  # German: eSpeak NG only
        counts = np.diff(data.offsets)
        assert counts.min() > 500  # every utterance made spikes
        assert data.times.max() < 1.4 and data.units.max() < 700
        # clips of variable length: the last spike of each utterance varies
        last = np.array([data.times[b - 1] for b in data.offsets[1:]])
        assert last.std() > 0.05
    eng_train = {engines[int(s)] for s in train.speakers[train.labels < 10]}
    assert eng_train == present  # English classes draw on every engine


def test_digits_are_cached_and_deterministic(digits: tuple[Path, Path], tmp_path: Path, cache: Path) -> None:
    train_path, test_path = digits
    stamp = os.stat(train_path).st_mtime_ns
    again = make_digits(train_path.parent, seed=0, config=SMALL_CONFIG, cache_dir=cache, **SMALL)
    assert again[0] == train_path and os.stat(train_path).st_mtime_ns == stamp
    # the same seed elsewhere, with two workers, gives the same events
    twin = make_digits(tmp_path / "twin", seed=0, config=SMALL_CONFIG, cache_dir=cache,
                       n_train=40, n_test=20, workers=2)  # fmt: skip
    for ours, theirs in zip(digits, twin):
        a, b = read_shd(ours), read_shd(theirs)
        np.testing.assert_array_equal(a.times, b.times)
        np.testing.assert_array_equal(a.units, b.units)
        np.testing.assert_array_equal(a.offsets, b.offsets)
    other, _ = make_digits(tmp_path / "other", seed=1, config=SMALL_CONFIG, cache_dir=cache,
                           n_train=20, n_test=20, workers=1)  # fmt: skip
    assert not np.array_equal(np.diff(read_shd(other).offsets), np.diff(read_shd(train_path).offsets)[:20])


def test_engine_holdout_split_holds_only_that_engine(digits: tuple[Path, Path]) -> None:
    train, test = (read_shd(p) for p in digits)
    engines = speaker_engines(read_manifest(digits[0].parent))
    for held in sorted(set(engines.values())):
        a, b = engine_holdout(train, test, engines, held)
        assert len(b) > 0 and {engines[int(s)] for s in b.speakers} == {held}
        assert held not in {engines[int(s)] for s in a.speakers}
        assert a.labels.max() < 10 and b.labels.max() < 10  # English classes only
        n_english = int((train.labels < 10).sum() + (test.labels < 10).sum())
        assert len(a) + len(b) == n_english
    ref_train, ref_test = engine_holdout(train, test, engines, None)
    assert len(ref_train) == 20 and len(ref_test) == 10


def test_digits_bad_sizes() -> None:
    with pytest.raises(ConfigError, match="at least 20"):
        make_digits("/nonexistent/never/made", n_train=5)
    with pytest.raises(ConfigError, match="espeak"):
        make_digits("/nonexistent/never/made", config=DigitsConfig(engines=("flite",)))
    with pytest.raises(ConfigError, match="eSpeak NG speaker"):
        make_digits("/nonexistent/never/made", config=DigitsConfig(espeak_speakers=(3, 0)))


def test_cli_make_digits(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["data", "make-digits", "--out", str(tmp_path), "--n-train", "20", "--n-test", "20",
            "--workers", "1"]  # fmt: skip
    assert main(args) == 0
    printed = capsys.readouterr().out.split()
    assert printed == [str(tmp_path / "digits_train.h5"), str(tmp_path / "digits_test.h5")]
    assert len(read_shd(printed[1])) == 20
    assert main(["data", "make-digits", "--out", str(tmp_path), "--n-train", "0"]) == 1
    assert "at least 20" in capsys.readouterr().err


def test_cli_realism_prints_the_table(digits: tuple[Path, Path], tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    folder = str(digits[0].parent)
    args = ["data", "realism", "--digits", folder, "--out", str(tmp_path / "r"), "--hold-out", "espeak",
            "--epochs", "1"]  # fmt: skip
    assert main(args) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = {line.split()[0]: line.split() for line in lines[2:]}
    assert set(rows) == {"none", "espeak"}
    assert rows["none"][1:3] == ["20", "10"]  # the English utterances of each file
    assert all(cell.endswith("%") for cell in rows["espeak"][3:5])
    assert (tmp_path / "r" / "espeak" / "loo_test.h5").is_file()
    assert main(["data", "realism", "--digits", folder, "--out", str(tmp_path / "x"),
                 "--hold-out", "nonesuch"]) == 1  # fmt: skip
    assert "no nonesuch speakers" in capsys.readouterr().err
