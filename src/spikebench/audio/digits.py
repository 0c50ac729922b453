"""The embedded data set: spoken digits, synthesised on this machine and made into spikes.

The twenty SHD classes in SHD's label order (``zero`` .. ``nine``, then ``null`` .. ``neun``,
stored in ``extra/keys``) are spoken by eSpeak NG (:mod:`spikebench.audio.speech`) and
converted by the Lauscher chain (:mod:`spikebench.audio.cochlea`), as SHD was made from
recordings. The result is ``digits_train.h5`` and ``digits_test.h5`` in the SHD schema.

Speakers. A *speaker* is one voice set-up, used for both languages: an eSpeak NG voice
variant (``+m3``, ``+f2``, ``+klatt4``, ``+whisper`` ...; every speaker has its own), an
English accent (``en`` or ``en-us``; German is ``de``), a base speaking rate, base pitch
and intonation range, and a background-noise colour and level. As in SHD, whole speakers
are held out: the test file's speakers never occur in the training file, so a model must
generalise to new voices.

Each utterance varies around its speaker: rate and pitch jitter, an onset jittered by up to
``onset_jitter`` (50 ms) around the centre of the fixed-length clip (the Hann window of the
cochlea chain then attenuates early or late words a little), a slow level change across the
word (a linear gain ramp of up to ``gain_ramp_db``), and background noise (white, pink or
brown) at a random signal-to-noise ratio (``snr_db``, 5-30 dB, shifted per speaker).
Absolute level has no effect: the chain normalises every clip to an RMS of 0.3, so loudness
acts only through the SNR.

Difficulty knobs (:class:`DigitsConfig`), roughly in order of effect, measured with a
throwaway feedforward ANN like the study's (flattened 100 x 700 frames of 10 ms, 256 ReLU
units, Adam 1e-3, seed 0): ``onset_jitter`` (words anywhere in the clip instead of +-50 ms:
44% instead of 73% test accuracy after 5 epochs at 1000 training utterances; position
matters to models that are not shift-invariant), the number and spread of voices
(``n_train_speakers``, the prosody ranges ``rate_wpm``, ``pitch``, ``intonation`` and the
jitters; held-out voices are the main difficulty, as in SHD), ``snr_db`` (0-20 dB instead
of 5-30 dB cost only a few points) and ``gain_ramp_db``. With the defaults that ANN
reaches 74% test accuracy after 3 epochs (the study reports 74% for its ANN on SHD) and
80% after 10: far below the 95% ceiling, so models separate.

Clips: 16 kHz (eSpeak's 22050 Hz resampled by a polyphase filter, scipy), 0.7 s long (all
digits at the slowest rate fit), so the chain runs at 8 kHz, spike times are multiples of
125 us, and every clip shares one cached basilar-membrane transfer function.

Deterministic: the speakers and every utterance are drawn from ``numpy.random`` streams
seeded by ``seed`` and the utterance's index, eSpeak NG's own random jitter is seeded per
utterance, and all words are spoken in plan order by one fresh process (eSpeak keeps some
state between utterances), so the files do not depend on the number of workers. Cached:
a manifest (``digits_manifest.json``) records the parameters; a call with the same
parameters returns the existing files at once. Files are written atomically, the
manifest last.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.fft
import scipy.signal

from spikebench.audio import cochlea, speech
from spikebench.audio.parallel import JobError, Progress, run_jobs
from spikebench.errors import ConfigError, DataError
from spikebench.fileio import write_json_atomic

log = logging.getLogger(__name__)

__all__ = ["DIGIT_KEYS", "DigitsConfig", "make_digits"]

ENGLISH = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
GERMAN = ("null", "eins", "zwei", "drei", "vier", "fünf", "sechs", "sieben", "acht", "neun")
DIGIT_KEYS = ENGLISH + GERMAN
TRAIN_FILE = "digits_train.h5"
TEST_FILE = "digits_test.h5"
MANIFEST = "digits_manifest.json"
FORMAT_VERSION = 1

# Human-sounding eSpeak NG variants (of the ~100 bundled), plus a few unusual ones.
VARIANTS = (
    "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "f1", "f2", "f3", "f4", "f5",
    "klatt", "klatt2", "klatt3", "klatt4", "klatt5", "klatt6", "Alex", "Andy", "Annie",
    "Denis", "Gene", "Jacky", "Lee", "Mario", "Michael", "Mike", "Reed", "adam", "anika",
    "aunty", "belinda", "benjamin", "boris", "caleb", "david", "ed", "edward", "grandma",
    "grandpa", "gustave", "ian", "iven", "john", "linda", "max", "michel", "norbert",
    "paul", "pedro", "quincy", "rob", "robert", "steph", "travis", "victor", "zac",
    "whisper", "croak",
)  # fmt: skip


@dataclass(frozen=True)
class DigitsConfig:
    """Size, speakers and difficulty of the digits set (see the module docstring)."""

    n_train: int = 2000
    n_test: int = 500
    n_train_speakers: int = 20
    n_test_speakers: int = 6
    sample_rate: int = 16000
    clip_seconds: float = 0.7
    rate_wpm: tuple[float, float] = (140.0, 220.0)
    rate_jitter: float = 0.08
    pitch: tuple[float, float] = (20.0, 80.0)
    pitch_jitter: float = 6.0
    intonation: tuple[float, float] = (10.0, 90.0)
    snr_db: tuple[float, float] = (5.0, 30.0)
    gain_ramp_db: float = 6.0
    onset_margin: float = 0.03
    onset_jitter: float = 0.05

    def validate(self) -> None:
        if self.n_train < 20 or self.n_test < 20:
            raise ConfigError(f"digits: n_train and n_test must be at least 20 (got {self.n_train}, {self.n_test})")
        total = self.n_train_speakers + self.n_test_speakers
        if self.n_train_speakers < 1 or self.n_test_speakers < 1 or total > len(VARIANTS):
            raise ConfigError(
                f"digits: need 1 or more train and test speakers, at most {len(VARIANTS)} in all "
                f"(got {self.n_train_speakers} + {self.n_test_speakers})"
            )

    @property
    def clip_samples(self) -> int:
        """Clip length: ``clip_seconds``, nudged so the membrane FFT length is fast."""
        n = int(round(self.clip_seconds * self.sample_rate))
        return 2 * (scipy.fft.next_fast_len(n // 2 + 1, real=True) - 1)


@dataclass(frozen=True)
class Speaker:
    ident: int
    variant: str
    accent: str
    rate: float
    pitch: float
    intonation: float
    noise_colour: float  # spectral slope exponent: 0 white, 1 pink, 2 brown
    snr_offset: float


@dataclass(frozen=True)
class _Job:
    index: int
    label: int
    speaker: Speaker
    seed: tuple[int, int]
    config: DigitsConfig
    cache_dir: str | None


def _speakers(config: DigitsConfig, seed: int) -> list[Speaker]:
    rng = np.random.default_rng([seed, 0xD161])
    n = config.n_train_speakers + config.n_test_speakers
    variants = rng.permutation(len(VARIANTS))[:n]
    out = []
    for i in range(n):
        out.append(
            Speaker(
                ident=i,
                variant=VARIANTS[variants[i]],
                accent=("en", "en-us")[int(rng.integers(2))],
                rate=float(rng.uniform(*config.rate_wpm)),
                pitch=float(rng.uniform(*config.pitch)),
                intonation=float(rng.uniform(*config.intonation)),
                noise_colour=float(rng.choice([0.0, 1.0, 2.0])),
                snr_offset=float(rng.uniform(-3.0, 3.0)),
            )
        )
    return out


def _plan(config: DigitsConfig, seed: int, cache_dir: str | None) -> tuple[list[_Job], list[_Job]]:
    speakers = _speakers(config, seed)
    train_spk = speakers[: config.n_train_speakers]
    test_spk = speakers[config.n_train_speakers :]
    n_classes = len(DIGIT_KEYS)

    def jobs(n: int, spk: list[Speaker], split: int) -> list[_Job]:
        # Balanced: utterance i says class i % 20; the m-th utterance of class c goes to
        # speaker (m + c) % S, so classes and speakers are both spread evenly.
        return [
            _Job(i, i % n_classes, spk[(i // n_classes + i % n_classes) % len(spk)], (split, i), config, cache_dir)
            for i in range(n)
        ]

    return jobs(config.n_train, train_spk, 1), jobs(config.n_test, test_spk, 2)


def _noise(rng: np.random.Generator, n: int, colour: float) -> np.ndarray:
    white = rng.standard_normal(n)
    if colour == 0.0:
        return white
    spectrum = np.fft.rfft(white)
    f = np.arange(spectrum.size, dtype=np.float64)
    f[0] = 1.0
    return np.fft.irfft(spectrum / f ** (colour / 2.0), n=n)


def _voice(job: _Job, seed: int) -> speech.Voice:
    cfg, spk = job.config, job.speaker
    rng = np.random.default_rng([seed, *job.seed, 1])
    return speech.Voice(
        language=spk.accent if job.label < 10 else "de",
        variant=spk.variant,
        rate=int(round(spk.rate * (1.0 + cfg.rate_jitter * rng.uniform(-1, 1)))),
        pitch=int(np.clip(round(spk.pitch + cfg.pitch_jitter * rng.uniform(-1, 1)), 0, 100)),
        pitch_range=int(round(spk.intonation)),
    )


def _speak(job: _Job, seed: int) -> np.ndarray:
    """The word of one utterance, float32 at eSpeak's rate, leading/trailing silence cut."""
    text = DIGIT_KEYS[job.label]
    voice = _voice(job, seed)
    raw = speech.synthesize(text, voice, seed=job.seed[0] * 1_000_003 + job.seed[1] + seed)
    loud = np.flatnonzero(np.abs(raw) > 1e-3 * max(float(np.abs(raw).max()), 1e-12))
    if loud.size == 0:
        raise DataError(f"eSpeak NG produced silence for {text!r} with voice {voice.name}")
    return raw[loud[0] : loud[-1] + 1]


def _speak_chunk(chunk: list[tuple[_Job, int]]) -> list[np.ndarray]:
    return [_speak(job, seed) for job, seed in chunk]


def speak_all(jobs: list[_Job], seed: int, chunksize: int = 200) -> list[np.ndarray]:
    """Synthesise every job's word, in order, in one fresh process.

    eSpeak NG's output depends slightly on what the process spoke before (state kept in its
    wave generator), even with its random generators seeded; a fresh process speaking the
    same sequence gives identical samples. So the words are spoken here, in plan order, in
    a new process, whatever the number of conversion workers.
    """
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:  # runs the chunks in order
        futures = [
            pool.submit(_speak_chunk, [(job, seed) for job in jobs[i : i + chunksize]])
            for i in range(0, len(jobs), chunksize)
        ]
        return [word for future in futures for word in future.result()]


def utterance_wave(job: _Job, seed: int, word: np.ndarray) -> np.ndarray:
    """The noisy clip of one utterance, float64 [clip_samples] at ``config.sample_rate``.

    ``word`` is the job's spoken word at eSpeak's rate (:func:`speak_all`).
    """
    cfg, spk = job.config, job.speaker
    rng = np.random.default_rng([seed, *job.seed, 2])
    src = speech.sample_rate()
    g = np.gcd(cfg.sample_rate, src)
    word = scipy.signal.resample_poly(word.astype(np.float64), cfg.sample_rate // g, src // g)
    n_clip = cfg.clip_samples
    margin = int(cfg.onset_margin * cfg.sample_rate)
    if word.size > n_clip - 2 * margin:
        word = word[: n_clip - 2 * margin]
    ramp_db = cfg.gain_ramp_db * rng.uniform(-1, 1)  # level change across the word, dB
    word = word * 10.0 ** (np.linspace(-ramp_db / 2, ramp_db / 2, word.size) / 20.0)
    centred = (n_clip - word.size) // 2
    jitter = int(cfg.onset_jitter * cfg.sample_rate)
    lo, hi = max(margin, centred - jitter), min(n_clip - margin - word.size, centred + jitter)
    onset = int(rng.integers(lo, max(hi, lo) + 1))
    clip = np.zeros(n_clip)
    clip[onset : onset + word.size] = word
    snr = float(np.clip(rng.uniform(*cfg.snr_db) + spk.snr_offset, *cfg.snr_db))
    noise = _noise(rng, n_clip, spk.noise_colour)
    signal_power = np.mean(word**2) * word.size / n_clip
    noise *= np.sqrt(signal_power / np.mean(noise**2) / 10.0 ** (snr / 10.0))
    return clip + noise


def _convert_job(args: tuple[_Job, int, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    job, seed, word = args
    wave = utterance_wave(job, seed, word)
    spike_seed = int(np.random.SeedSequence([seed, *job.seed, 7]).generate_state(1)[0])
    return cochlea.waveform_to_spikes(
        wave, job.config.sample_rate, seed=spike_seed, cache_dir=job.cache_dir
    )


def _manifest(config: DigitsConfig, seed: int) -> dict:
    manifest = {
        "format_version": FORMAT_VERSION,
        "seed": int(seed),
        "config": dataclasses.asdict(config),
        "keys": list(DIGIT_KEYS),
        "cochlea": dataclasses.asdict(cochlea.DEFAULT_PARAMS),
    }
    return json.loads(json.dumps(manifest))


def _is_current(out_dir: Path, wanted: dict) -> bool:
    try:
        found = json.loads((out_dir / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    found.pop("made", None)
    return found == wanted and (out_dir / TRAIN_FILE).is_file() and (out_dir / TEST_FILE).is_file()


def make_digits(
    out_dir: str | os.PathLike[str],
    *,
    seed: int = 0,
    n_train: int | None = None,
    n_test: int | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
    config: DigitsConfig | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> tuple[Path, Path]:
    """Make ``digits_train.h5`` and ``digits_test.h5`` in ``out_dir``; return their paths.

    Returns at once when the folder already holds them for the same parameters.
    ``n_train`` / ``n_test`` override ``config`` (default :class:`DigitsConfig`);
    ``workers`` defaults to all cores; ``progress(done, total)`` is called as utterances
    finish; ``cache_dir`` keeps the basilar-membrane transfer function (default
    ``out_dir/.cochlea``).
    """
    from spikebench.data.shd import SpikeData, write_shd

    config = config or DigitsConfig()
    if n_train is not None or n_test is not None:
        config = dataclasses.replace(
            config,
            n_train=config.n_train if n_train is None else int(n_train),
            n_test=config.n_test if n_test is None else int(n_test),
        )
    config.validate()
    out_dir = Path(out_dir)
    train_path, test_path = out_dir / TRAIN_FILE, out_dir / TEST_FILE
    wanted = _manifest(config, seed)
    if _is_current(out_dir, wanted):
        log.info("digits: %s and %s are up to date", train_path, test_path)
        return train_path, test_path
    out_dir.mkdir(parents=True, exist_ok=True)
    cache = Path(cache_dir) if cache_dir is not None else out_dir / ".cochlea"
    started = time.perf_counter()
    # Compute the one shared transfer function here, once, before the workers need it.
    cochlea.prepare_transfer(config.clip_samples, config.sample_rate, cache_dir=cache)
    train_jobs, test_jobs = _plan(config, seed, str(cache))
    words = speak_all(train_jobs + test_jobs, seed)
    all_jobs = [(job, seed, word) for job, word in zip(train_jobs + test_jobs, words)]
    results = run_jobs(_convert_job, all_jobs, workers=workers, progress=progress)
    for (job, _, _), result in zip(all_jobs, results):
        if isinstance(result, JobError):
            raise DataError(f"digits: utterance {job.seed} ({DIGIT_KEYS[job.label]!r}): {result.message}")

    def split(jobs: list[_Job], spikes: list[tuple[np.ndarray, np.ndarray]]) -> SpikeData:
        counts = np.array([len(t) for t, _ in spikes], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(counts)])
        return SpikeData(
            times=np.concatenate([t for t, _ in spikes]).astype(np.float32),
            units=np.concatenate([u for _, u in spikes]).astype(np.uint16),
            offsets=offsets,
            labels=np.array([j.label for j in jobs], dtype=np.int64),
            speakers=np.array([j.speaker.ident for j in jobs], dtype=np.int64),
            keys=DIGIT_KEYS,
            n_channels=cochlea.DEFAULT_PARAMS.n_channels,
        )

    n_tr = len(train_jobs)
    (out_dir / MANIFEST).unlink(missing_ok=True)
    write_shd(train_path, split(train_jobs, results[:n_tr]))
    write_shd(test_path, split(test_jobs, results[n_tr:]))
    write_json_atomic(out_dir / MANIFEST, {**wanted, "made": time.strftime("%Y-%m-%dT%H:%M:%S")})
    log.info(
        "digits: %d train + %d test utterances in %.1f s -> %s",
        n_tr, len(test_jobs), time.perf_counter() - started, out_dir,
    )  # fmt: skip
    return train_path, test_path
