"""Audio for the sim engine: prompt samples, far-end voices and mixed WAV recordings.

Recordings are rendered from a list of segments (time span + what was audible), so the sim never processes
audio while calls run; it only writes a file when a recording stops.
"""

from __future__ import annotations

import wave
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from callvault.telephony.port import AudioFile, Prompt, SpeechText

SAMPLE_RATE = 8000
Samples = npt.NDArray[np.float64]

# Deterministic stand-in for text-to-speech: one short tone per character, silence for spaces.
_SPEECH_CHAR_SECONDS = 0.06


def prompt_samples(prompt: Prompt) -> Samples:
    """Samples of a prompt at 8 kHz in [-1, 1]."""
    if isinstance(prompt, AudioFile):
        return read_wav(prompt.path)
    return _speech_samples(prompt)


def read_wav(path: Path) -> Samples:
    """Read a 16-bit mono WAV at 8 or 16 kHz (16 kHz is decimated) as floats in [-1, 1]."""
    with wave.open(str(path), "rb") as wav:
        if wav.getsampwidth() != 2 or wav.getnchannels() != 1:
            raise ValueError(f"{path}: prompts must be 16-bit mono WAV")
        rate = wav.getframerate()
        raw = wav.readframes(wav.getnframes())
    samples = np.frombuffer(raw, dtype="<i2").astype(np.float64) / 32768.0
    if rate == SAMPLE_RATE:
        return samples
    if rate == 2 * SAMPLE_RATE:
        return samples[::2].copy()
    raise ValueError(f"{path}: unsupported sample rate {rate}")


def _speech_samples(speech: SpeechText) -> Samples:
    n = round(_SPEECH_CHAR_SECONDS * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    parts = []
    for char in speech.text:
        if char.isspace():
            parts.append(np.zeros(n))
        else:
            hz = 300.0 + (ord(char) % 24) * 25.0
            parts.append(0.3 * np.sin(2 * np.pi * hz * t))
    return np.concatenate(parts) if parts else np.zeros(0)


def duration_of(samples: Samples) -> float:
    """Length of ``samples`` in seconds."""
    return len(samples) / SAMPLE_RATE


@dataclass(frozen=True)
class Voice:
    """A far end talking: a steady tone (its ``voice_hz``) for as long as it is audible."""

    hz: float


@dataclass(frozen=True, eq=False)
class PromptAudio:
    """A prompt or music that started at ``start`` (virtual seconds); music loops."""

    samples: Samples
    start: float
    loop: bool


Source = Voice | PromptAudio


@dataclass
class RecordingTape:
    """What one recording captured: consecutive segments of (start, end, audible sources)."""

    path: Path
    started: float
    segments: list[tuple[float, float, tuple[Source, ...]]] = field(default_factory=list)
    _open_since: float = 0.0
    _open_sources: tuple[Source, ...] = ()

    def __post_init__(self) -> None:
        self._open_since = self.started

    def hear(self, now: float, sources: tuple[Source, ...]) -> None:
        """From ``now`` on the recording captures ``sources``."""
        if sources == self._open_sources:
            return
        self._close(now)
        self._open_sources = sources

    def _close(self, now: float) -> None:
        if now > self._open_since:
            self.segments.append((self._open_since, now, self._open_sources))
        self._open_since = now

    def finish(self, now: float) -> float:
        """Close the tape at ``now``, write the WAV file and return its duration in seconds."""
        self._close(now)
        first = round(self.started * SAMPLE_RATE)
        total = round(now * SAMPLE_RATE) - first
        mix = np.zeros(max(total, 0))
        for start, end, sources in self.segments:
            i0, i1 = round(start * SAMPLE_RATE), round(end * SAMPLE_RATE)
            index = np.arange(i0, i1)
            for source in sources:
                mix[i0 - first : i1 - first] += _render(source, index)
        pcm = (np.clip(mix, -1.0, 1.0) * 32767).astype("<i2")
        with wave.open(str(self.path), "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(SAMPLE_RATE)
            wav.writeframes(pcm.tobytes())
        return len(pcm) / SAMPLE_RATE


def _render(source: Source, index: npt.NDArray[np.int64]) -> Samples:
    if isinstance(source, Voice):
        return 0.2 * np.sin(2 * np.pi * source.hz * index / SAMPLE_RATE)
    offset = index - round(source.start * SAMPLE_RATE)
    length = len(source.samples)
    if length == 0:
        return np.zeros(len(index))
    if source.loop:
        return source.samples[offset % length]
    inside = (offset >= 0) & (offset < length)
    out = np.zeros(len(index))
    out[inside] = source.samples[offset[inside]]
    return out
