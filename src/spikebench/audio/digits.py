"""The embedded data set: spoken digits, synthesised on this machine and made into spikes.

SHD's twenty classes in SHD's label order (``zero`` .. ``nine``, ``null`` .. ``neun``, in
``extra/keys``) are spoken by every speech engine present (:mod:`~spikebench.audio.speech`:
Flite and Festival voices built from recordings of real people, eSpeak NG; German from
eSpeak NG alone), made into new speakers (:mod:`~spikebench.audio.vocoder`), placed in rooms
and recordings (:mod:`~spikebench.audio.acoustics`) and converted by the Lauscher chain
(:mod:`~spikebench.audio.cochlea`) to ``digits_train.h5`` / ``digits_test.h5`` (SHD schema).

Speakers. A speaker is one voice set-up: an engine's voice (eSpeak NG: a variant with an
English accent), a vocal-tract warp (0.85-1.15, Jaitly & Hinton 2013; adult tract lengths
differ by about 15%, Fitch & Giedd 1999), a pitch shift (+-4 semitones: the spread of F0
within a sex, Traunmueller & Eriksson 1995) and a habitual rate (+-15%; talkers' articulation
rates differ by about that, Tsao & Weismer 1997). Each recorded voice gives several speakers;
whole speakers are held out for the test file, as SHD holds out speakers.

Utterances. Rate varies by 0.8-1.25 around the speaker's (Miller, Grosjean & Lomanto 1984
measured that spread within talkers), and so does the intonation range. The word sits in a
clip of variable length (lead 0.02-0.2 s, trail 0.03-0.25 s, at most 1.4 s: SHD's clips
are trimmed recordings of variable length). Each speaker has a home recording set-up
(room, noise, microphone, channel), used for 70% of their utterances; the rest get another
one, as people record in several places. Rooms: RT60 0.1-0.6 s in 70% of set-ups, else dry;
noise: babble of 3-7 other voices (30%), stationary noise (45%) or none, at 5-35 dB SNR;
every recording has a microphone response and a noise floor 45-65 dB down; 20% are sampled
at 8 kHz and 15% pass a telephone channel. Clips are 16 kHz; the chain pads them to 0.7 or
1.4 s, so two basilar-membrane transfer functions serve all. None of these ranges was
chosen by a model's accuracy.

Deterministic: speakers and utterances come from ``numpy.random`` streams seeded by
``seed`` and the utterance's index; eSpeak NG speaks all its words in plan order in one
fresh process (its output depends slightly on what it spoke before); so the files do not
depend on the number of workers. Cached: the manifest (``digits_manifest.json``: the
parameters, engines, voices and every speaker) makes a repeated call return at once, and
Flite/Festival audio is kept under ``cache_dir/speech``. Files are written atomically,
the manifest last.
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

from spikebench.audio import acoustics, cochlea, speech, vocoder
from spikebench.audio.parallel import JobError, Progress, default_workers, run_jobs
from spikebench.errors import ConfigError, DataError, SpikebenchError
from spikebench.fileio import atomic_path, write_json_atomic

log = logging.getLogger(__name__)

__all__ = ["DIGIT_KEYS", "SIZES", "DigitsConfig", "make_digits", "read_manifest", "speaker_engines"]

ENGLISH = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
GERMAN = ("null", "eins", "zwei", "drei", "vier", "fünf", "sechs", "sieben", "acht", "neun")
DIGIT_KEYS = ENGLISH + GERMAN
TRAIN_FILE = "digits_train.h5"
TEST_FILE = "digits_test.h5"
MANIFEST = "digits_manifest.json"
FORMAT_VERSION = 2
SIZES = {"default": (2000, 500), "shd": (8156, 2264)}

# Human-sounding eSpeak NG variants (of the ~100 bundled), plus whispered and creaky ones.
VARIANTS = (
    "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "f1", "f2", "f3", "f4", "f5",
    "klatt", "klatt2", "klatt3", "klatt4", "klatt5", "klatt6", "Alex", "Andy", "Annie",
    "Denis", "Gene", "Jacky", "Lee", "Mario", "Michael", "Mike", "Reed", "adam", "anika",
    "aunty", "belinda", "benjamin", "boris", "caleb", "david", "ed", "edward", "grandma",
    "grandpa", "gustave", "ian", "iven", "john", "linda", "max", "michel", "norbert",
    "paul", "pedro", "quincy", "rob", "robert", "steph", "travis", "victor", "zac",
    "whisper", "croak",
)  # fmt: skip
ACCENTS = ("en-us", "en", "en-gb-x-rp", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-029", "en-us-nyc")
# Background talkers: IEEE "Harvard" sentences and the German "Nordwind und Sonne" fable.
BABBLE_EN = (
    "The birch canoe slid on the smooth planks.", "Glue the sheet to the dark blue background.",
    "It's easy to tell the depth of a well.", "These days a chicken leg is a rare dish.",
    "Rice is often served in round bowls.", "The juice of lemons makes fine punch.",
    "The box was thrown beside the parked truck.", "The hogs were fed chopped corn and garbage.",
)  # fmt: skip
BABBLE_DE = (
    "Einst stritten sich Nordwind und Sonne, wer von ihnen beiden wohl der Stärkere wäre.",
    "Da kam ein Wanderer, der in einen warmen Mantel gehüllt war, des Weges daher.",
    "Sie wurden einig, dass derjenige für den Stärkeren gelten sollte, der den Wanderer zwingen würde.",
)  # fmt: skip


@dataclass(frozen=True)
class DigitsConfig:
    """Size, speakers and recording conditions of the digits set (see the module docstring).

    ``speakers_per_voice`` and ``espeak_speakers`` are (train, test) counts; ranges are
    (low, high) of uniform draws; ``p_*`` are probabilities per recording set-up.
    """

    n_train: int = 2000
    n_test: int = 500
    engines: tuple[str, ...] = speech.ENGINES
    speakers_per_voice: tuple[int, int] = (5, 1)
    espeak_speakers: tuple[int, int] = (24, 6)
    sample_rate: int = 16000
    max_clip_seconds: float = 1.4
    lead_seconds: tuple[float, float] = (0.02, 0.2)
    trail_seconds: tuple[float, float] = (0.03, 0.25)
    vtl_warp: tuple[float, float] = (0.85, 1.15)
    pitch_semitones: tuple[float, float] = (-4.0, 4.0)
    speaker_rate: tuple[float, float] = (0.85, 1.15)
    utterance_rate: tuple[float, float] = (0.8, 1.25)
    intonation: tuple[float, float] = (0.6, 1.5)
    p_home_setup: float = 0.7
    p_reverb: float = 0.7
    rt60: tuple[float, float] = (0.1, 0.6)
    drr_db: tuple[float, float] = (0.0, 15.0)
    p_babble: float = 0.3
    p_stationary: float = 0.45
    babble_voices: tuple[int, int] = (3, 7)
    snr_db: tuple[float, float] = (5.0, 35.0)
    floor_snr_db: tuple[float, float] = (45.0, 65.0)
    p_narrowband: float = 0.2
    p_telephone: float = 0.15

    def validate(self) -> None:
        if self.n_train < 20 or self.n_test < 20:
            raise ConfigError(f"digits: n_train and n_test must be at least 20 (got {self.n_train}, {self.n_test})")
        if min(self.speakers_per_voice) < 0 or min(self.espeak_speakers) < 1:
            raise ConfigError(f"digits: need at least one eSpeak NG speaker in each file (got {self.espeak_speakers})")
        if len(self.espeak_speakers) != 2 or sum(self.espeak_speakers) > len(VARIANTS):
            raise ConfigError(f"digits: at most {len(VARIANTS)} eSpeak NG speakers (got {self.espeak_speakers})")
        unknown = set(self.engines) - set(speech.ENGINES)
        if unknown or "espeak" not in self.engines:
            raise ConfigError(f"digits: engines must include espeak (the German voices) and come from "
                              f"{', '.join(speech.ENGINES)} (got {', '.join(self.engines)})")  # fmt: skip
        if self.p_babble + self.p_stationary > 1 or self.p_narrowband + self.p_telephone > 1:
            raise ConfigError("digits: noise or channel probabilities add up to more than 1")

    @property
    def max_clip_samples(self) -> int:
        return int(round(self.max_clip_seconds * self.sample_rate))


@dataclass(frozen=True)
class Speaker:
    ident: int
    split: int  # 1 train, 2 test
    voice: speech.Voice
    accent: str  # eSpeak NG's English language voice ('' for the other engines)
    warp: float
    semitones: float
    rate: float
    pitch: int  # eSpeak NG's base pitch and range (0..100)
    pitch_range: int


@dataclass(frozen=True)
class _Job:
    index: int
    split: int
    label: int
    speaker: Speaker
    rate: float
    intonation: float
    seed: int
    config: DigitsConfig
    cache_dir: str
    babble_file: str


def _speakers(config: DigitsConfig, seed: int, voices: list[speech.Voice]) -> list[Speaker]:
    rng = np.random.default_rng([seed, 0xD162])
    variants = [v for v in voices if v.engine == "espeak" and v.name in VARIANTS]
    recorded = [v for v in voices if v.engine != "espeak"]
    if sum(config.espeak_speakers) > len(variants):
        raise DataError(f"digits: eSpeak NG has only {len(variants)} of the voice variants needed")
    order = rng.permutation(len(variants))
    setups: list[tuple[int, speech.Voice, str]] = []  # (split, voice, accent)
    for v in recorded:
        setups += [(1, v, "")] * config.speakers_per_voice[0] + [(2, v, "")] * config.speakers_per_voice[1]
    n_tr, n_te = config.espeak_speakers
    for k, i in enumerate(order[: n_tr + n_te]):
        setups.append((1 if k < n_tr else 2, variants[int(i)], str(rng.choice(ACCENTS))))
    setups.sort(key=lambda s: s[0])  # train speakers first: ids 0.. are training speakers
    out = []
    for ident, (split, voice, accent) in enumerate(setups):
        out.append(Speaker(
            ident, split, voice, accent,
            warp=float(rng.uniform(*config.vtl_warp)),
            semitones=float(rng.uniform(*config.pitch_semitones)),
            rate=float(np.exp(rng.uniform(*np.log(config.speaker_rate)))),
            pitch=int(rng.integers(25, 76)), pitch_range=int(rng.integers(20, 81)),
        ))  # fmt: skip
    return out


def _plan(config: DigitsConfig, seed: int, speakers: list[Speaker], cache_dir: str, babble_file: str) -> list[_Job]:
    jobs = []
    for split, n in ((1, config.n_train), (2, config.n_test)):
        english = [s for s in speakers if s.split == split]
        german = [s for s in english if s.voice.engine == "espeak"]
        for i in range(n):
            # utterance i says class i % 20; the m-th utterance of a class goes to speaker
            # (m + class) of that language's list, spreading classes and speakers evenly
            label, m = i % len(DIGIT_KEYS), i // len(DIGIT_KEYS)
            pool = english if label < len(ENGLISH) else german
            rng = np.random.default_rng([seed, split, i, 1])
            spk = pool[(m + label) % len(pool)]
            rate = spk.rate * float(np.exp(rng.uniform(*np.log(config.utterance_rate))))
            jobs.append(_Job(i, split, label, spk, rate, float(rng.uniform(*config.intonation)),
                             seed, config, cache_dir, babble_file))  # fmt: skip
    return jobs


def _request(job: _Job) -> speech.Request:
    spk = job.speaker
    language = ("de" if job.label >= len(ENGLISH) else spk.accent) if spk.voice.engine == "espeak" else "en"
    return speech.Request(spk.voice, DIGIT_KEYS[job.label], language, job.rate, spk.pitch, spk.pitch_range,
                          seed=job.seed * 1_000_003 + job.split * 100_000 + job.index)  # fmt: skip


def _babble_requests(voices: list[speech.Voice], seed: int) -> list[speech.Request]:
    rng = np.random.default_rng([seed, 0xBAB])
    espeak = [v for v in voices if v.engine == "espeak" and v.name in VARIANTS]
    out = []
    for text in BABBLE_EN:
        v = voices[int(rng.integers(len(voices)))]
        lang = str(rng.choice(ACCENTS)) if v.engine == "espeak" else "en"
        out.append(speech.Request(v, text, lang, float(rng.uniform(0.85, 1.15)), seed=len(out)))
    for text in BABBLE_DE:
        v = espeak[int(rng.integers(len(espeak)))]
        out.append(speech.Request(v, text, "de", float(rng.uniform(0.85, 1.15)), seed=len(out)))
    return out


def _trim(x: np.ndarray, fs: int) -> np.ndarray:
    """The word without its leading and trailing silence (below -50 dB of the peak), 10 ms kept."""
    loud = np.flatnonzero(np.abs(x) > 10 ** (-50 / 20) * max(float(np.abs(x).max()), 1e-12))
    if loud.size == 0:
        return x[:0]
    pad = int(0.01 * fs)
    return x[max(loud[0] - pad, 0) : loud[-1] + 1 + pad]


def _synth_group(args: tuple[list[speech.Request], int, str]) -> list[np.ndarray]:
    requests, fs, cache = args
    return speech.synthesize(requests, fs, cache_dir=cache)


def _synthesize(requests: list[speech.Request], fs: int, cache: Path, workers: int | None) -> list[np.ndarray]:
    """All requests, in fresh worker processes: eSpeak NG's in one group, in order (its
    output depends on what the process spoke before), Flite's and Festival's in chunks."""
    groups: list[list[int]] = [[i for i, r in enumerate(requests) if r.voice.engine == "espeak"]]
    for engine, size in (("festival", 200), ("flite", 60)):
        idx = [i for i, r in enumerate(requests) if r.voice.engine == engine]
        groups += [idx[k : k + size] for k in range(0, len(idx), size)]
    groups = [g for g in groups if g]
    n_proc = max(1, min(default_workers() if workers is None else int(workers), len(groups)))
    out: list[np.ndarray] = [np.zeros(0)] * len(requests)
    with ProcessPoolExecutor(max_workers=n_proc, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(_synth_group, ([requests[i] for i in g], fs, str(cache))) for g in groups]
        for g, future in zip(groups, futures):
            try:
                waves = future.result()
            except SpikebenchError as err:
                raise DataError(f"digits: speech synthesis failed: {err}") from err
            for i, x in zip(g, waves):
                out[i] = x
    return out


_BABBLE: dict[str, list[np.ndarray]] = {}


def _talkers(path: str) -> list[np.ndarray]:
    if path not in _BABBLE:
        with np.load(path) as z:
            _BABBLE[path] = [z[k].astype(np.float64) for k in sorted(z.files, key=lambda k: int(k[1:]))]
    return _BABBLE[path]


def utterance_wave(job: _Job, word: np.ndarray) -> np.ndarray:
    """The recorded clip of one utterance, float64 [n] at ``config.sample_rate`` (n varies).

    ``word``: the engine's trimmed word. Speaker transform, placement in the clip, room,
    noise, microphone and channel as in the module docstring.
    """
    cfg, spk = job.config, job.speaker
    fs = cfg.sample_rate
    rng = np.random.default_rng([job.seed, job.split, job.index, 2])
    x = vocoder.transform(word, fs, warp=spk.warp, semitones=spk.semitones, intonation=job.intonation)
    lead = int(rng.uniform(*cfg.lead_seconds) * fs)
    trail = int(rng.uniform(*cfg.trail_seconds) * fs)
    x = x[: max(cfg.max_clip_samples - lead - int(0.02 * fs), 1)]
    n = min(lead + x.size + trail, cfg.max_clip_samples)
    clean = np.zeros(n)
    clean[lead : lead + x.size] = x
    # the recording set-up: the speaker's home one, or another
    home = rng.random() < cfg.p_home_setup
    setup = np.random.default_rng([job.seed, 3, spk.ident] if home else [job.seed, job.split, job.index, 4])
    reverb, rt60, drr = setup.random() < cfg.p_reverb, setup.uniform(*cfg.rt60), setup.uniform(*cfg.drr_db)
    noise_kind, snr = setup.random(), setup.uniform(*cfg.snr_db)
    n_voices = int(setup.integers(cfg.babble_voices[0], cfg.babble_voices[1] + 1))
    mic_seed, room_seed = int(setup.integers(2**31)), int(setup.integers(2**31))
    channel = setup.random()
    snr = float(np.clip(snr + rng.normal(0.0, 3.0), *cfg.snr_db))  # the noise level varies per utterance
    rir = acoustics.room_impulse_response(np.random.default_rng(room_seed), fs, rt60, drr) if reverb else None
    y = acoustics.reverberate(clean, rir) if rir is not None else clean
    if noise_kind < cfg.p_babble:
        b = acoustics.babble(rng, _talkers(job.babble_file), n, n_voices)
        y = acoustics.add_at_snr(y, acoustics.reverberate(b, rir) if rir is not None else b, snr)
    elif noise_kind < cfg.p_babble + cfg.p_stationary:
        y = acoustics.colored_noise(int(rng.integers(2**31)), y, fs, snr)
    y = acoustics.microphone(mic_seed, y, fs)
    y = acoustics.add_at_snr(y, rng.standard_normal(n), rng.uniform(*cfg.floor_snr_db))
    if channel < cfg.p_telephone:
        y = acoustics.telephone(y, fs)
    elif channel < cfg.p_telephone + cfg.p_narrowband:
        y = acoustics.narrowband(y, fs)
    return y


def _convert_job(args: tuple[_Job, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    job, word = args
    wave = utterance_wave(job, word)
    spike_seed = int(np.random.SeedSequence([job.seed, job.split, job.index, 7]).generate_state(1)[0])
    return cochlea.waveform_to_spikes(wave, job.config.sample_rate, seed=spike_seed,
                                      length_quantum=job.config.max_clip_seconds / 2, cache_dir=job.cache_dir)  # fmt: skip


def _manifest(config: DigitsConfig, seed: int, speakers: list[Speaker]) -> dict:
    used: dict[str, list[str]] = {}
    for s in speakers:
        names = used.setdefault(s.voice.engine, [])
        if s.voice.name not in names:
            names.append(s.voice.name)
    manifest = {
        "format_version": FORMAT_VERSION,
        "seed": int(seed),
        "config": dataclasses.asdict(config),
        "keys": list(DIGIT_KEYS),
        "engines": used,
        "speakers": [
            {"id": s.ident, "split": ("train", "test")[s.split - 1], "engine": s.voice.engine,
             "voice": s.voice.name, "person": s.voice.person, "accent": s.accent,
             "warp": round(s.warp, 4), "semitones": round(s.semitones, 3), "rate": round(s.rate, 4)}
            for s in speakers
        ],  # fmt: skip
        "cochlea": dataclasses.asdict(cochlea.DEFAULT_PARAMS),
    }
    return json.loads(json.dumps(manifest))


def read_manifest(out_dir: str | os.PathLike[str]) -> dict:
    """The manifest of the digits set in ``out_dir`` (DataError if there is none)."""
    path = Path(out_dir) / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise DataError(f"{path}: no readable digits manifest ({err})") from err
    if manifest.get("format_version") != FORMAT_VERSION:
        raise DataError(f"{path}: digits format {manifest.get('format_version')}, expected {FORMAT_VERSION}")
    return manifest


def speaker_engines(manifest: dict) -> dict[int, str]:
    """Speaker id -> the engine that spoke for that speaker."""
    return {int(s["id"]): str(s["engine"]) for s in manifest["speakers"]}


def _is_current(out_dir: Path, wanted: dict) -> bool:
    try:
        found = json.loads((out_dir / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    found.pop("made", None)
    found.pop("seconds", None)
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

    Returns at once when the folder already holds them for the same parameters and voices.
    ``n_train`` / ``n_test`` override ``config`` (default :class:`DigitsConfig`);
    ``workers`` defaults to all cores; ``progress(done, total)`` is called as utterances
    finish; ``cache_dir`` keeps the basilar-membrane transfer function and the Flite /
    Festival audio (default ``out_dir/.cache``).
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
    voices = speech.available_voices(config.engines)
    speakers = _speakers(config, seed, voices)
    wanted = _manifest(config, seed, speakers)
    if _is_current(out_dir, wanted):
        log.info("digits: %s and %s are up to date", train_path, test_path)
        return train_path, test_path
    out_dir.mkdir(parents=True, exist_ok=True)
    cache = Path(cache_dir) if cache_dir is not None else out_dir / ".cache"
    started = time.perf_counter()
    fs = config.sample_rate
    babble_file = cache / f"babble_{seed}_{fs}.npz"
    jobs = _plan(config, seed, speakers, str(cache), str(babble_file))
    babble_reqs = _babble_requests([v for v in voices if v.engine != "espeak" or v.name in VARIANTS], seed)
    # The two shared transfer functions, before the workers need them.
    for n in (1, config.max_clip_samples):
        cochlea.prepare_transfer(cochlea.padded_length(n, fs, config.max_clip_seconds / 2), fs, cache_dir=cache)
    audio = _synthesize(babble_reqs + [_request(j) for j in jobs], fs, cache / "speech", workers)
    synthesised = time.perf_counter()
    with atomic_path(babble_file) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **{f"b{i}": x for i, x in enumerate(audio[: len(babble_reqs)])})
    words = [_trim(x, fs) for x in audio[len(babble_reqs) :]]
    for job, word in zip(jobs, words):
        if word.size < int(0.05 * fs):
            raise DataError(f"digits: {job.speaker.voice.engine} voice {job.speaker.voice.name} "
                            f"said nothing for {DIGIT_KEYS[job.label]!r}")  # fmt: skip
    results = run_jobs(_convert_job, list(zip(jobs, words)), workers=workers, progress=progress)
    for job, result in zip(jobs, results):
        if isinstance(result, JobError):
            raise DataError(f"digits: utterance {job.index} ({DIGIT_KEYS[job.label]!r}): {result.message}")

    def split(part: list[_Job], spikes: list[tuple[np.ndarray, np.ndarray]]) -> SpikeData:
        counts = np.array([len(t) for t, _ in spikes], dtype=np.int64)
        return SpikeData(
            times=np.concatenate([t for t, _ in spikes]).astype(np.float32),
            units=np.concatenate([u for _, u in spikes]).astype(np.uint16),
            offsets=np.concatenate([[0], np.cumsum(counts)]),
            labels=np.array([j.label for j in part], dtype=np.int64),
            speakers=np.array([j.speaker.ident for j in part], dtype=np.int64),
            keys=DIGIT_KEYS,
            n_channels=cochlea.DEFAULT_PARAMS.n_channels,
        )

    n_tr = config.n_train
    (out_dir / MANIFEST).unlink(missing_ok=True)
    write_shd(train_path, split(jobs[:n_tr], results[:n_tr]))
    write_shd(test_path, split(jobs[n_tr:], results[n_tr:]))
    seconds = time.perf_counter() - started
    write_json_atomic(out_dir / MANIFEST, {**wanted, "made": time.strftime("%Y-%m-%dT%H:%M:%S"),
                                           "seconds": round(seconds, 1)})  # fmt: skip
    log.info("digits: %d train + %d test utterances in %.1f s (speech %.1f s) -> %s",
             n_tr, len(jobs) - n_tr, seconds, synthesised - started, out_dir)  # fmt: skip
    return train_path, test_path
