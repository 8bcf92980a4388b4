"""Audio-quality check of a recording against the prompt that was sent: align, then measure the error.

The far end streamed ``source`` in a loop; the recording holds what arrived. Each block of the recording is
aligned with the source by cross-correlation and gain-matched; we report the signal-to-noise ratio of the
blocks (G.711 coding alone gives about 35-38 dB on speech; lost, late or clipped audio shows up as a much
lower figure) and the share of 20 ms frames that arrived silent while the source was speaking.
"""

from __future__ import annotations

import wave
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

Samples = npt.NDArray[np.float64]


def read(path: Path) -> tuple[Samples, int]:
    with wave.open(str(path), "rb") as wav:
        raw = wav.readframes(wav.getnframes())
        rate = wav.getframerate()
    return np.frombuffer(raw, dtype="<i2").astype(np.float64) / 32768.0, rate


@dataclass
class Quality:
    duration_s: float
    blocks: int
    snr_db_median: float
    snr_db_p10: float
    blocks_below_20db: int
    gain_db: float
    silent_fraction: float  # 20 ms frames of the aligned blocks that are silent while the source is not

    def as_dict(self) -> dict[str, float]:
        return {k: round(float(v), 3) for k, v in asdict(self).items()}


def _align(block: Samples, looped: Samples, period: int) -> Samples:
    """The part of the looped source that best matches ``block`` (offset searched over one period)."""
    n = period + len(block)
    corr = np.fft.irfft(np.fft.rfft(looped[:n], n) * np.conj(np.fft.rfft(block, n)), n)[:period]
    offset = int(np.argmax(corr))
    return looped[offset : offset + len(block)]


def compare(recording: Path, source: Path, *, skip_s: float = 0.5, block_s: float = 0.5) -> Quality:
    """Block-wise comparison: each 0.5 s block is aligned on its own; a slipped frame spoils one block."""
    rec, rate = read(recording)
    src, src_rate = read(source)
    assert rate == src_rate == 8000, (rate, src_rate)
    duration = len(rec) / rate
    rec = rec[int(skip_s * rate) :]  # media start-up
    size = int(block_s * rate)
    looped = np.tile(src, int(np.ceil(2 * size / len(src))) + 2)
    snrs, gains, silent, frames = [], [], 0, 0
    frame = rate // 50
    for start in range(0, len(rec) - size + 1, size):
        block = rec[start : start + size]
        ref = _align(block, looped, len(src))
        if np.sqrt(np.mean(ref**2)) < 0.01:  # a pause in the speech: nothing to compare
            continue
        gain = float(np.dot(ref, block) / max(np.dot(ref, ref), 1e-12))
        error = block - gain * ref
        snrs.append(10 * np.log10(max(np.dot(gain * ref, gain * ref), 1e-12) / max(np.dot(error, error), 1e-12)))
        gains.append(20 * np.log10(max(abs(gain), 1e-12)))
        rec_rms = np.sqrt(np.mean(block.reshape(-1, frame) ** 2, axis=1))
        ref_rms = np.sqrt(np.mean(ref.reshape(-1, frame) ** 2, axis=1))
        silent += int(np.sum((rec_rms < 1e-3) & (ref_rms > 1e-2)))
        frames += len(rec_rms)
    if not snrs:
        return Quality(duration, 0, 0.0, 0.0, 0, 0.0, 1.0)
    return Quality(
        duration,
        len(snrs),
        float(np.median(snrs)),
        float(np.percentile(snrs, 10)),
        sum(snr < 20 for snr in snrs),
        float(np.median(gains)),
        silent / max(frames, 1),
    )
