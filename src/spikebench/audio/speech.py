"""Text -> speech waveform with eSpeak NG, through ``espeakng-loader`` and ctypes.

``espeakng-loader`` (PyPI) ships ``libespeak-ng`` (1.52) with its data folder (English,
German and about a hundred voice variants in ``espeak-ng-data/voices/!v``), so no system
package is needed. The library is driven through its C API (``speak_lib.h``): initialised
once per process in synchronous mode (``AUDIO_OUTPUT_SYNCHRONOUS``), audio collected by a
synth callback as 16-bit PCM at the library's rate (22050 Hz). eSpeak NG keeps global
state (voice, parameters), so calls are serialised by a lock; use processes, not threads,
for parallel synthesis.

Voice parameters (eSpeak NG's units): ``rate`` words per minute (80..450, default 175),
``pitch`` base pitch 0..100 (default 50), ``pitch_range`` intonation range 0..100 (default
50; 0 is monotone). A voice is ``language+variant``, e.g. ``en-us+f3`` or ``de+klatt2``.
"""

from __future__ import annotations

import ctypes
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spikebench.errors import SpikebenchError

__all__ = ["Voice", "list_variants", "sample_rate", "synthesize"]

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_RATE, _PITCH, _RANGE = 1, 3, 4

_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)


@dataclass(frozen=True)
class Voice:
    """One eSpeak NG voice set-up: language voice, variant and prosody."""

    language: str = "en"
    variant: str | None = None
    rate: int = 175
    pitch: int = 50
    pitch_range: int = 50

    @property
    def name(self) -> str:
        return self.language if not self.variant else f"{self.language}+{self.variant}"


class _Engine:
    def __init__(self) -> None:
        try:
            import espeakng_loader
        except ImportError as err:  # a declared dependency; only a broken install lacks it
            raise SpikebenchError("espeakng-loader is not installed (pip install espeakng-loader)") from err
        self.data_path = Path(espeakng_loader.get_data_path())
        self.lib = ctypes.CDLL(espeakng_loader.get_library_path())
        lib = self.lib
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
        self.sample_rate = lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, 0, str(self.data_path).encode(), 0
        )
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

    def synthesize(self, text: str, voice: Voice, seed: int) -> np.ndarray:
        lib = self.lib
        with self.lock:
            if self._set_rand_seed is not None:
                self._set_rand_seed(int(seed) & 0x7FFFFFFF)
            self.libc.srand(int(seed) & 0x7FFFFFFF)
            if lib.espeak_SetVoiceByName(voice.name.encode()) != 0:
                raise SpikebenchError(f"eSpeak NG has no voice {voice.name!r}")
            for param, value in ((_RATE, voice.rate), (_PITCH, voice.pitch), (_RANGE, voice.pitch_range)):
                lib.espeak_SetParameter(param, int(value), 0)
            self._chunks = []
            data = text.encode("utf-8")
            status = lib.espeak_Synth(data, len(data) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
            if status != 0:
                raise SpikebenchError(f"eSpeak NG failed to speak {text!r} (status {status})")
            chunks, self._chunks = self._chunks, []
        if not chunks:
            return np.zeros(0, dtype=np.float32)
        return np.concatenate(chunks).astype(np.float32) / 32768.0


_ENGINE: _Engine | None = None
_ENGINE_LOCK = threading.Lock()


def _engine() -> _Engine:
    global _ENGINE
    with _ENGINE_LOCK:
        if _ENGINE is None:
            _ENGINE = _Engine()
        return _ENGINE


def sample_rate() -> int:
    """eSpeak NG's output rate in Hz (22050)."""
    return _engine().sample_rate


def synthesize(text: str, voice: Voice = Voice(), *, seed: int = 0) -> np.ndarray:
    """Speak ``text``: float32 [n_samples] in [-1, 1) at :func:`sample_rate` Hz.

    eSpeak NG adds random jitter (e.g. to the Klatt voices' noise sources); ``seed`` seeds
    it (``espeak_ng_SetRandSeed`` and the C library's ``srand``), so the same text, voice and
    seed give the same samples whatever was spoken before.
    """
    return _engine().synthesize(text, voice, seed)


def list_variants() -> list[str]:
    """Names of the voice variants bundled with eSpeak NG (``espeak-ng-data/voices/!v``)."""
    import espeakng_loader

    folder = Path(espeakng_loader.get_data_path()) / "voices" / "!v"
    return sorted(p.name for p in folder.iterdir() if p.is_file())
