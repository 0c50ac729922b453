"""Text -> speech with three engines behind one interface: eSpeak NG, Flite and Festival.

A :class:`Voice` is one engine's voice; a :class:`Request` asks it to say a text at a
speaking-rate factor (1 = the voice's own rate, 1.25 = 25% faster). :func:`synthesize`
serves any list of requests and returns float32 waveforms in [-1, 1) at one sample rate
(each engine's output resampled by a polyphase filter, scipy). Every engine is optional:
:func:`available_voices` lists the voices of the engines present on this machine.

* **eSpeak NG** (formant synthesis; English accents and German, the only German source):
  ``libespeak-ng`` 1.52 bundled by PyPI's ``espeakng-loader``, driven through its C API
  with ctypes (synchronous mode, a synth callback collecting 16-bit PCM at 22050 Hz). A
  voice is a variant (``m3``, ``f2``, ``klatt4``, ...); the request's ``language`` picks
  the language voice (``en-us``, ``en-gb-scotland``, ``de``, ...). It keeps global state,
  so calls are serialised by a lock; its jitter is seeded per request.
* **Flite** (Debian ``flite``): ``kal``/``kal16`` (diphones), ``awb``, ``rms``, ``slt``
  (clustergen), all built from recordings of real people (CMU ARCTIC / CMU diphone
  speakers). Run as the ``flite`` binary, rate by ``duration_stretch``.
* **Festival** (Debian ``festival`` + ``festvox-kallpc16k``, ``festvox-kdlpc16k``,
  ``festvox-us-slt-hts``): ``kal_diphone``, ``ked_diphone`` (residual-LPC diphones) and
  ``cmu_us_slt_arctic_hts`` (HMM). Festival starts slowly, so one process speaks a whole
  batch from a generated Scheme script; rate by ``Duration_Stretch`` (diphones) or the
  HTS engine's ``-r`` speed.

``Voice.person`` names the human a voice was recorded from (``kal`` speaks in both Flite
and Festival), so callers can keep a person's voices together. Flite and Festival are
deterministic; their output can be cached on disk (``cache_dir``) by request.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import threading
import wave
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import scipy.signal

from spikebench.errors import SpikebenchError
from spikebench.fileio import atomic_path

__all__ = [
    "ENGINES",
    "Request",
    "Voice",
    "available_voices",
    "espeak_variants",
    "synthesize",
]

ENGINES = ("espeak", "flite", "festival")
CACHE_VERSION = 1


@dataclass(frozen=True)
class Voice:
    """One engine's voice: ``engine`` (one of :data:`ENGINES`), its ``name`` there, the
    recorded ``person`` ('' for eSpeak NG's rule-made voices) and its ``languages``."""

    engine: str
    name: str
    person: str = ""
    languages: tuple[str, ...] = ("en",)


@dataclass(frozen=True)
class Request:
    """Say ``text`` with ``voice``. ``language`` is eSpeak NG's language voice (``en-us``,
    ``de``, ...; the other engines speak English only); ``pitch`` and ``pitch_range``
    (0..100, eSpeak NG's units) apply to eSpeak NG only; ``seed`` seeds its jitter."""

    voice: Voice
    text: str
    language: str = "en"
    rate: float = 1.0
    pitch: int = 50
    pitch_range: int = 50
    seed: int = 0

    def key(self) -> str:
        return hashlib.sha256(repr((CACHE_VERSION, self)).encode()).hexdigest()[:24]


# (flite name, person), (festival name, person)
FLITE_VOICES = (("kal", "kal"), ("kal16", "kal"), ("awb", "awb"), ("rms", "rms"), ("slt", "slt"))
FESTIVAL_VOICES = (("kal_diphone", "kal"), ("ked_diphone", "ked"), ("cmu_us_slt_arctic_hts", "slt"))


# ---------------------------------------------------------------------------------------
# eSpeak NG

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_RATE, _PITCH, _RANGE = 1, 3, 4
_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


class _Espeak:
    def __init__(self) -> None:
        try:
            import espeakng_loader
        except ImportError as err:  # a declared dependency; only a broken install lacks it
            raise SpikebenchError("espeakng-loader is not installed (pip install espeakng-loader)") from err
        self.data_path = Path(espeakng_loader.get_data_path())
        lib = self.lib = ctypes.CDLL(espeakng_loader.get_library_path())
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [
            ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
            ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
        ]  # fmt: skip
        lib.espeak_Synth.restype = ctypes.c_int
        lib.espeak_SetSynthCallback.argtypes = [_CALLBACK]
        try:  # eSpeak NG >= 1.52 (the bundled version) seeds its own generator
            self._set_rand_seed = lib.espeak_ng_SetRandSeed
            self._set_rand_seed.argtypes = [ctypes.c_long]
            self._set_rand_seed.restype = None
        except AttributeError:
            self._set_rand_seed = None
        self.libc = ctypes.CDLL(None)  # eSpeak NG also calls the C library's rand()
        self.sample_rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, str(self.data_path).encode(), 0)
        if self.sample_rate <= 0:
            raise SpikebenchError(f"eSpeak NG failed to initialise with data at {self.data_path}")
        self._chunks: list[np.ndarray] = []
        self._callback = _CALLBACK(self._collect)  # keep a reference: ctypes does not
        lib.espeak_SetSynthCallback(self._callback)
        self.lock = threading.Lock()

    def _collect(self, wav, n, _events) -> int:
        if n > 0 and wav:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        return 0

    def speak(self, req: Request) -> np.ndarray:
        lib, name = self.lib, f"{req.language}+{req.voice.name}" if req.voice.name else req.language
        with self.lock:
            if self._set_rand_seed is not None:
                self._set_rand_seed(int(req.seed) & 0x7FFFFFFF)
            self.libc.srand(int(req.seed) & 0x7FFFFFFF)
            if lib.espeak_SetVoiceByName(name.encode()) != 0:
                raise SpikebenchError(f"eSpeak NG has no voice {name!r}")
            wpm = int(np.clip(round(175 * req.rate), 80, 450))
            for param, value in ((_RATE, wpm), (_PITCH, req.pitch), (_RANGE, req.pitch_range)):
                lib.espeak_SetParameter(param, int(value), 0)
            self._chunks = []
            data = req.text.encode("utf-8")
            status = lib.espeak_Synth(data, len(data) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
            if status != 0:
                raise SpikebenchError(f"eSpeak NG failed to speak {req.text!r} (status {status})")
            chunks, self._chunks = self._chunks, []
        if not chunks:
            return np.zeros(0, dtype=np.float32)
        return np.concatenate(chunks).astype(np.float32) / 32768.0


_ESPEAK: _Espeak | None = None
_ESPEAK_LOCK = threading.Lock()


def _espeak() -> _Espeak:
    global _ESPEAK
    with _ESPEAK_LOCK:
        if _ESPEAK is None:
            _ESPEAK = _Espeak()
        return _ESPEAK


def espeak_variants() -> list[str]:
    """Names of the voice variants bundled with eSpeak NG (``espeak-ng-data/voices/!v``)."""
    import espeakng_loader

    folder = Path(espeakng_loader.get_data_path()) / "voices" / "!v"
    return sorted(p.name for p in folder.iterdir() if p.is_file())


# ---------------------------------------------------------------------------------------
# Flite and Festival (external programs)


def _read_wav(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path), "rb") as w:
        if w.getsampwidth() != 2:
            raise SpikebenchError(f"{path}: expected 16-bit PCM")
        x = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32768.0
        if w.getnchannels() > 1:
            x = x.reshape(-1, w.getnchannels()).mean(axis=1)
        return x, w.getframerate()


@lru_cache(maxsize=None)
def _flite_voices() -> tuple[str, ...]:
    exe = shutil.which("flite")
    if exe is None:
        return ()
    try:
        out = subprocess.run([exe, "-lv"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return ()
    listed = set(out.split(":", 1)[-1].split())
    return tuple(name for name, _ in FLITE_VOICES if name in listed)


@lru_cache(maxsize=None)
def _festival_voices() -> tuple[str, ...]:
    exe = shutil.which("festival")
    if exe is None:
        return ()
    try:
        out = subprocess.run([exe, "-b", "(print (voice.list))"], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return ()
    listed = set(re.findall(r"[\w-]+", out))
    return tuple(name for name, _ in FESTIVAL_VOICES if name in listed)


def _flite(reqs: list[Request], tmp: Path) -> list[tuple[np.ndarray, int]]:
    out = []
    for i, req in enumerate(reqs):
        path = tmp / f"f{i}.wav"
        cmd = ["flite", "-voice", req.voice.name, "--setf", f"duration_stretch={1.0 / req.rate:.4f}",
               "-t", req.text, "-o", str(path)]  # fmt: skip
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        if done.returncode != 0 or not path.exists():
            raise SpikebenchError(f"flite failed for voice {req.voice.name}: {done.stderr.strip()[:200]}")
        out.append(_read_wav(path))
    return out


def _scheme_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _festival(reqs: list[Request], tmp: Path) -> list[tuple[np.ndarray, int]]:
    lines, current = [], None
    for i, req in enumerate(reqs):
        name = req.voice.name
        if name != current:
            lines.append(f"(voice_{name})")
            current = name
        if name.endswith("_hts"):
            lines.append(f'(set! hts_engine_params (append {name}::hts_engine_params (list (list "-r" {req.rate:.4f}))))')
        else:
            lines.append(f"(Parameter.set 'Duration_Stretch {1.0 / req.rate:.4f})")
        path = tmp / f"s{i}.wav"
        lines.append(f"(utt.save.wave (utt.synth (Utterance Text {_scheme_string(req.text)})) "
                     f"{_scheme_string(str(path))} 'riff)")  # fmt: skip
    script = tmp / "batch.scm"
    script.write_text("\n".join(lines) + "\n", encoding="utf-8")
    done = subprocess.run(["festival", "-b", str(script)], capture_output=True, text=True, timeout=3600)
    out = []
    for i in range(len(reqs)):
        path = tmp / f"s{i}.wav"
        if not path.exists():
            raise SpikebenchError(f"festival failed for voice {reqs[i].voice.name}: {done.stderr.strip()[:200]}")
        out.append(_read_wav(path))
    return out


# ---------------------------------------------------------------------------------------
# the interface


def available_voices(engines: tuple[str, ...] = ENGINES) -> list[Voice]:
    """The voices of ``engines`` present on this machine (eSpeak NG: one per variant)."""
    voices: list[Voice] = []
    for engine in engines:
        if engine == "espeak":
            voices += [Voice("espeak", v, "", ("en", "de")) for v in espeak_variants()]
        elif engine == "flite":
            person = dict(FLITE_VOICES)
            voices += [Voice("flite", v, person[v]) for v in _flite_voices()]
        elif engine == "festival":
            person = dict(FESTIVAL_VOICES)
            voices += [Voice("festival", v, person[v]) for v in _festival_voices()]
        else:
            raise SpikebenchError(f"unknown speech engine {engine!r} (known: {', '.join(ENGINES)})")
    return voices


def _resample(x: np.ndarray, src: int, dst: int) -> np.ndarray:
    if src == dst:
        return x.astype(np.float32)
    g = np.gcd(src, dst)
    return scipy.signal.resample_poly(x.astype(np.float64), dst // g, src // g).astype(np.float32)


def synthesize(
    requests: list[Request], sample_rate: int = 16000, *, cache_dir: str | os.PathLike[str] | None = None
) -> list[np.ndarray]:
    """Speak every request: float32 [n_samples] waveforms at ``sample_rate`` Hz, in order.

    eSpeak NG requests are spoken in this process in the given order (its output depends
    slightly on what it spoke before, so the order is part of the result). Flite and
    Festival requests are read from ``cache_dir`` when there, else spoken (Festival: one
    process for all of them) and stored there.
    """
    out: list[np.ndarray | None] = [None] * len(requests)
    todo: dict[str, list[int]] = {"flite": [], "festival": []}
    cache = Path(cache_dir) if cache_dir is not None else None
    for i, req in enumerate(requests):
        if req.voice.engine == "espeak":
            out[i] = _resample(_espeak().speak(req), _espeak().sample_rate, sample_rate)
        elif req.voice.engine in todo:
            hit = cache / f"{req.key()}.npy" if cache is not None else None
            if hit is not None and hit.exists():
                try:
                    out[i] = _resample(np.load(hit), 16000, sample_rate)
                    continue
                except (OSError, ValueError):
                    pass
            todo[req.voice.engine].append(i)
        else:
            raise SpikebenchError(f"unknown speech engine {req.voice.engine!r}")
    for engine, run in (("flite", _flite), ("festival", _festival)):
        idx = todo[engine]
        if not idx:
            continue
        if shutil.which(engine) is None:
            raise SpikebenchError(f"{engine} is not installed (apt-get install {engine})")
        with tempfile.TemporaryDirectory(prefix=f"spikebench-{engine}-") as tmp:
            for i, (x, rate) in zip(idx, run([requests[i] for i in idx], Path(tmp))):
                x16 = _resample(x, rate, 16000)  # the cache holds 16 kHz audio
                if cache is not None:
                    cache.mkdir(parents=True, exist_ok=True)
                    with atomic_path(cache / f"{requests[i].key()}.npy") as tmp_path:
                        with open(tmp_path, "wb") as fh:
                            np.save(fh, x16)
                out[i] = _resample(x16, 16000, sample_rate)
    return [x if x is not None else np.zeros(0, np.float32) for x in out]
