"""The embedded spoken-digits set and its eSpeak NG front end."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from spikebench.audio import speech
from spikebench.audio.digits import DIGIT_KEYS, DigitsConfig, make_digits
from spikebench.cli import main
from spikebench.data.shd import read_shd
from spikebench.errors import ConfigError, SpikebenchError

SMALL = dict(n_train=40, n_test=20, workers=1)
SMALL_CONFIG = DigitsConfig(n_train_speakers=4, n_test_speakers=2)


def test_espeak_speaks_both_languages() -> None:
    assert speech.sample_rate() == 22050
    en = speech.synthesize("seven", speech.Voice("en-us", "m3"))
    de = speech.synthesize("fünf", speech.Voice("de", "f2", rate=120))
    for wave in (en, de):
        assert wave.dtype == np.float32 and wave.size > 0.2 * 22050
        assert 0.05 < np.abs(wave).max() <= 1.0
    slow = speech.synthesize("seven", speech.Voice("en-us", "m3", rate=100))
    assert slow.size > en.size * 1.3
    assert "m3" in speech.list_variants()
    with pytest.raises(SpikebenchError, match="no voice"):
        speech.synthesize("one", speech.Voice("xx-nonexistent"))


@pytest.fixture(scope="module")
def cochlea_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One transfer-function cache for the module (computing it takes seconds)."""
    return tmp_path_factory.mktemp("cochlea")


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory, cochlea_cache: Path) -> tuple[Path, Path]:
    out = tmp_path_factory.mktemp("digits")
    return make_digits(out, seed=0, config=SMALL_CONFIG, cache_dir=cochlea_cache, **SMALL)


def test_digits_files_follow_shd(digits: tuple[Path, Path]) -> None:
    train_path, test_path = digits
    assert train_path.name == "digits_train.h5" and test_path.name == "digits_test.h5"
    train, test = read_shd(train_path), read_shd(test_path)
    assert len(train) == 40 and len(test) == 20
    assert train.keys == DIGIT_KEYS and DIGIT_KEYS[0] == "zero" and DIGIT_KEYS[19] == "neun"
    # balanced classes, every class in both files
    assert np.bincount(train.labels, minlength=20).tolist() == [2] * 20
    assert np.bincount(test.labels, minlength=20).tolist() == [1] * 20
    # whole speakers held out for the test file
    assert set(train.speakers.tolist()) == {0, 1, 2, 3}
    assert set(test.speakers.tolist()) == {4, 5}
    for data in (train, test):
        counts = np.diff(data.offsets)
        assert counts.min() > 500  # every utterance made spikes
        assert data.times.max() < SMALL_CONFIG.clip_samples / SMALL_CONFIG.sample_rate
        assert data.units.max() < 700


def test_digits_are_cached_and_deterministic(
    digits: tuple[Path, Path], tmp_path: Path, cochlea_cache: Path
) -> None:
    train_path, test_path = digits
    stamp = os.stat(train_path).st_mtime_ns
    again = make_digits(train_path.parent, seed=0, config=SMALL_CONFIG, cache_dir=cochlea_cache, **SMALL)
    assert again[0] == train_path and os.stat(train_path).st_mtime_ns == stamp
    # the same seed elsewhere, with two workers, gives the same events
    twin = make_digits(
        tmp_path / "twin", seed=0, config=SMALL_CONFIG, cache_dir=cochlea_cache,
        n_train=40, n_test=20, workers=2,
    )  # fmt: skip
    for ours, theirs in zip(digits, twin):
        a, b = read_shd(ours), read_shd(theirs)
        np.testing.assert_array_equal(a.times, b.times)
        np.testing.assert_array_equal(a.units, b.units)
        np.testing.assert_array_equal(a.offsets, b.offsets)
    # another seed does not (different voices, noise and fibres)
    other, _ = make_digits(
        tmp_path / "other", seed=1, config=SMALL_CONFIG, cache_dir=cochlea_cache,
        n_train=20, n_test=20, workers=1,
    )  # fmt: skip
    assert not np.array_equal(np.diff(read_shd(other).offsets), np.diff(read_shd(train_path).offsets)[:20])


def test_digits_bad_sizes() -> None:
    with pytest.raises(ConfigError, match="at least 20"):
        make_digits("/nonexistent/never/made", n_train=5)
    with pytest.raises(ConfigError, match="speakers"):
        make_digits("/nonexistent/never/made", config=DigitsConfig(n_test_speakers=0))


def test_cli_make_digits(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["data", "make-digits", "--out", str(tmp_path), "--n-train", "20", "--n-test", "20",
            "--workers", "1"]  # fmt: skip
    assert main(args) == 0
    printed = capsys.readouterr().out.split()
    assert printed == [str(tmp_path / "digits_train.h5"), str(tmp_path / "digits_test.h5")]
    assert len(read_shd(printed[1])) == 20
    assert main(["data", "make-digits", "--out", str(tmp_path), "--n-train", "0"]) == 1
    assert "at least 20" in capsys.readouterr().err
