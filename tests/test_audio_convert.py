"""`spikebench data convert`: a labelled audio folder -> an SHD-schema file."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile

from spikebench.audio.convert import convert_folder
from spikebench.cli import main
from spikebench.data.shd import read_shd
from spikebench.errors import ConfigError, DataError


@pytest.fixture(autouse=True)
def _data_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The transfer-function cache goes under a temporary data root, not ~/.cache."""
    monkeypatch.setenv("SPIKEBENCH_DATA", str(tmp_path / "data"))


def _tone(freq: float, rate: int, duration: float = 0.08) -> np.ndarray:
    t = np.arange(int(duration * rate)) / rate
    return 0.3 * np.sin(2 * np.pi * freq * t) * np.hanning(t.size)


@pytest.fixture(scope="module")
def audio_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six good files (3 labels x 2 speakers, two sample rates, a stereo one) and three bad."""
    folder = tmp_path_factory.mktemp("audio")
    (folder / "sub").mkdir()
    freqs = {"0": 300.0, "1": 1200.0, "2": 4000.0}
    for label, freq in freqs.items():
        soundfile.write(folder / f"{label}_alice_0.wav", _tone(freq, 16000), 16000)
        soundfile.write(folder / "sub" / f"{label}_bob_1.flac", _tone(freq * 1.1, 8000), 8000)
    stereo = np.stack([_tone(500, 16000), _tone(500, 16000)], axis=1)
    soundfile.write(folder / "1_carol_2.wav", stereo, 16000)
    (folder / "2_alice_9.wav").write_bytes(b"RIFF\x00\x00 this is not audio")
    soundfile.write(folder / "0_bob_3.wav", np.zeros((0,)), 16000)
    soundfile.write(folder / "noise_only.wav", _tone(700, 16000), 16000)
    return folder


LABEL = r"^(?:sub/)?(\d)_"
SPEAKER = r"_([a-z]+)_\d"


def test_convert_folder_skips_bad_files_and_writes_shd(audio_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.h5"
    s = convert_folder(audio_dir, out, label_pattern=LABEL, speaker_pattern=SPEAKER, workers=1)
    assert s.n_files == 10 and s.n_converted == 7
    skipped = dict(s.skipped)
    assert set(skipped) == {"2_alice_9.wav", "0_bob_3.wav", "noise_only.wav"}
    assert "cannot read" in skipped["2_alice_9.wav"]
    assert "no samples" in skipped["0_bob_3.wav"]
    assert "no label" in skipped["noise_only.wav"]
    data = read_shd(out)
    assert data.keys == ("0", "1", "2")
    assert sorted(data.labels.tolist()) == [0, 0, 1, 1, 1, 2, 2]
    assert len(set(data.speakers.tolist())) == 3  # alice, bob, carol
    assert len(data.times) == s.n_events > 0
    for i in range(len(data)):
        times, _ = data.sample(i)
        assert times.size > 0 and times.max() < 0.08
    # place code: the 4 kHz tone excites higher-frequency (lower-numbered) channels than 300 Hz
    mean_unit = {}
    for i in range(len(data)):
        mean_unit.setdefault(int(data.labels[i]), []).append(data.sample(i)[1].mean())
    assert max(mean_unit[2]) < min(mean_unit[0])


def test_output_loads_in_tonic(audio_dir: Path, tmp_path: Path) -> None:
    tonic = pytest.importorskip("tonic")
    out = tmp_path / "out.h5"
    convert_folder(audio_dir, out, label_pattern=LABEL, speaker_pattern=SPEAKER, workers=1)
    ours = read_shd(out)
    folder = tmp_path / "tonic" / "SHD"
    folder.mkdir(parents=True)
    shutil.copy(out, folder / "shd_train.h5")
    (folder / "shd_train.h5.zip").write_bytes(b"")  # tonic only checks the archive is present
    ds = tonic.datasets.SHD(str(tmp_path / "tonic"), train=True)
    assert len(ds) == len(ours)
    assert [k.decode() if isinstance(k, bytes) else k for k in ds.classes] == list(ours.keys)
    for i in (0, len(ds) - 1):
        events, target = ds[i]
        times, units = ours.sample(i)
        assert target == ours.labels[i]
        np.testing.assert_array_equal(events["x"], units)
        np.testing.assert_allclose(events["t"], times.astype(np.float64) * 1e6, atol=1.0)  # tonic: int us


def test_keys_name_the_classes(audio_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "k.h5"
    s = convert_folder(
        audio_dir, out, label_pattern=LABEL, keys=["low", "mid"], workers=1
    )
    assert s.keys == ("low", "mid")
    reasons = dict(s.skipped)
    assert "not one of --keys" in reasons["2_alice_0.wav"]
    data = read_shd(out)
    assert data.keys == ("low", "mid") and set(data.labels.tolist()) == {0, 1}
    assert set(data.speakers.tolist()) == {0}  # no speaker pattern: one speaker


def test_worker_processes_give_the_same_file(audio_dir: Path, tmp_path: Path) -> None:
    one = tmp_path / "one.h5"
    two = tmp_path / "two.h5"
    convert_folder(audio_dir, one, label_pattern=LABEL, workers=1, seed=3)
    convert_folder(audio_dir, two, label_pattern=LABEL, workers=2, seed=3)
    a, b = read_shd(one), read_shd(two)
    np.testing.assert_array_equal(a.times, b.times)
    np.testing.assert_array_equal(a.units, b.units)
    np.testing.assert_array_equal(a.labels, b.labels)


def test_bad_options_and_no_usable_file(audio_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="capture group"):
        convert_folder(audio_dir, tmp_path / "x.h5", label_pattern=r"\d")
    with pytest.raises(ConfigError, match="not a valid regular expression"):
        convert_folder(audio_dir, tmp_path / "x.h5", label_pattern=r"(\d")
    with pytest.raises(DataError, match="no file could be converted"):
        convert_folder(audio_dir, tmp_path / "x.h5", label_pattern=r"^(zzz)")
    assert not (tmp_path / "x.h5").exists()


def test_cli_convert(audio_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli.h5"
    code = main([
        "data", "convert", str(audio_dir), str(out), "--label-pattern", LABEL,
        "--speaker-pattern", SPEAKER, "--workers", "1",
    ])  # fmt: skip
    text = capsys.readouterr().out
    assert code == 0
    assert "7 of 10 files converted" in text and "skipped 3 file(s)" in text
    assert "2_alice_9.wav" in text
    assert read_shd(out).labels.size == 7
    code = main(["data", "convert", str(audio_dir), str(out), "--label-pattern", "(", "--workers", "1"])
    assert code == 1
    assert "--label-pattern" in capsys.readouterr().err
