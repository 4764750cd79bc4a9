"""The headset (or speakers and microphone) behind ``ivr phone``, and a double of it for tests.

One small interface: the device calls ``on_input`` with mono PCM16 at its own rate as the microphone delivers it, plays
what ``write`` queues, drops the queue at once on ``clear`` (a barge-in), and counts the samples it has really played
— that count is when Twilio would echo a ``mark``. :class:`SoundDevice` is PortAudio through ``sounddevice``;
:class:`MemoryDevice` plays into memory at real time and feeds scripted audio to the microphone, for content checks.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from ivr.audio.codec import Pcm
from ivr.errors import IvrError

#: a microphone block, the speaker's level when it was captured (the echo it may hold), and when (monotonic)
OnInput = Callable[[Pcm, float, float], None]
BLOCK_MS = 20


class AudioDeviceError(IvrError):
    """No usable audio device (none, busy, PortAudio missing): the message says what to do."""


class AudioDevice(Protocol):
    rate: int  # of the output
    input_rate: int

    def start(self, on_input: OnInput | None) -> None: ...

    def write(self, pcm: Pcm) -> None: ...

    def clear(self) -> None: ...

    @property
    def played_samples(self) -> int: ...

    @property
    def queued_samples(self) -> int: ...

    @property
    def output_level(self) -> float:
        """RMS (0–32768) of what is playing right now; 0 when silent."""
        ...

    def close(self) -> None: ...


class _Playout:
    """The output queue a device's playback pulls from, safe to fill from the event loop and drain from a callback."""

    def __init__(self) -> None:
        self._chunks: deque[Pcm] = deque()
        self._lock = threading.Lock()
        self.played = 0
        self.queued = 0
        self.level = 0.0

    def write(self, pcm: Pcm) -> None:
        with self._lock:
            self._chunks.append(pcm)
            self.queued += len(pcm)

    def clear(self) -> None:
        with self._lock:
            self._chunks.clear()
            self.queued = 0
            self.level = 0.0

    def take(self, frames: int) -> Pcm:
        """The next ``frames`` samples (silence where the queue runs out)."""
        out = np.zeros(frames, dtype=np.int16)
        filled = 0
        with self._lock:
            while filled < frames and self._chunks:
                chunk = self._chunks[0]
                n = min(frames - filled, len(chunk))
                out[filled : filled + n] = chunk[:n]
                filled += n
                if n == len(chunk):
                    self._chunks.popleft()
                else:
                    self._chunks[0] = chunk[n:]
            self.queued -= filled
            self.played += filled
            self.level = float(np.sqrt(np.mean(out.astype(np.float64) ** 2))) if filled else 0.0
        return out


def _sounddevice() -> Any:
    try:
        import sounddevice
    except OSError as exc:  # the Python package is there, the PortAudio library is not
        raise AudioDeviceError(
            f"PortAudio is missing ({exc}): install it (Debian/Ubuntu: apt-get install libportaudio2), or use --text"
        ) from exc
    return sounddevice


def list_devices() -> str:
    """The audio devices PortAudio sees, as ``python -m sounddevice`` prints them."""
    return str(_sounddevice().query_devices())


def _device_rate(sd: Any, device: int | str | None, kind: str) -> int:
    try:
        info = sd.query_devices(device, kind=kind)
    except (ValueError, sd.PortAudioError) as exc:
        what = f"{kind} device {device!r}" if device is not None else f"no {kind} device found"
        hint = "plug in a headset or use --text" if device is None else "see ivr phone --list-devices"
        raise AudioDeviceError(f"{what}: {hint}") from exc
    return int(info["default_samplerate"])


class _PlayoutDevice:
    """What both devices share: the output queue, and what it tells about playback."""

    def __init__(self) -> None:
        self._playout = _Playout()

    def write(self, pcm: Pcm) -> None:
        self._playout.write(pcm)

    def clear(self) -> None:
        self._playout.clear()

    @property
    def played_samples(self) -> int:
        return self._playout.played

    @property
    def queued_samples(self) -> int:
        return self._playout.queued

    @property
    def output_level(self) -> float:
        return self._playout.level


class SoundDevice(_PlayoutDevice):
    """A real microphone and speaker through PortAudio, each at its own native rate (resampling is the caller's)."""

    def __init__(
        self, input_device: int | str | None = None, output_device: int | str | None = None, need_input: bool = True
    ) -> None:
        super().__init__()
        self._sd = _sounddevice()
        self._input_device = input_device
        self._output_device = output_device
        self.input_rate = _device_rate(self._sd, input_device, "input") if need_input else 0
        self.rate = _device_rate(self._sd, output_device, "output")
        self._streams: list[Any] = []

    def start(self, on_input: OnInput | None) -> None:
        sd = self._sd

        def play(outdata: Any, frames: int, _time: Any, _status: Any) -> None:
            outdata[:, 0] = self._playout.take(frames)

        def record(indata: Any, _frames: int, _time: Any, _status: Any) -> None:
            if on_input is not None:
                on_input(indata[:, 0].copy(), self._playout.level, time.monotonic())

        def open_stream(kind: str, device: int | str | None, rate: int, callback: Any) -> None:
            stream_type = sd.OutputStream if kind == "output" else sd.InputStream
            blocksize = rate * BLOCK_MS // 1000
            opened = stream_type(
                device=device, samplerate=rate, channels=1, dtype="int16", blocksize=blocksize, callback=callback
            )
            self._streams.append(opened)

        try:
            open_stream("output", self._output_device, self.rate, play)
            if on_input is not None:
                open_stream("input", self._input_device, self.input_rate, record)
            for stream in self._streams:
                stream.start()
        except sd.PortAudioError as exc:
            self.close()
            raise AudioDeviceError(f"the audio device cannot be opened ({exc}): is it busy? Or use --text") from exc

    def close(self) -> None:
        for stream in self._streams:
            with contextlib.suppress(Exception):
                stream.stop()
            with contextlib.suppress(Exception):
                stream.close()
        self._streams.clear()


@dataclass
class Utterance:
    """Audio the test caller says into the microphone, from ``at_s`` after the device started."""

    at_s: float
    pcm: Pcm


class MemoryDevice(_PlayoutDevice):
    """A device double: plays into memory at real time (a 10 ms clock) and says scripted audio into the microphone.

    ``echo`` feeds that share of what is playing back into the microphone, like speakers next to a mic. Everything
    played is kept with the device time it was played at, for content checks (was the greeting audible? when did
    playback stop?).
    """

    def __init__(
        self, rate: int = 16_000, script: list[Utterance] | None = None, echo: float = 0.0, keep: bool = True
    ) -> None:
        super().__init__()
        self._keep = keep
        self.rate = rate
        self.input_rate = rate
        self._script = sorted(script or [], key=lambda u: u.at_s)
        self._echo = echo
        self.played: list[tuple[float, Pcm]] = []  # (device time, samples) per 10 ms tick
        self.cleared_at: list[float] = []
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._started = 0.0

    def start(self, on_input: OnInput | None) -> None:
        self._started = time.monotonic()
        self._thread = threading.Thread(target=self._run, args=(on_input,), name="memory-device", daemon=True)
        self._thread.start()

    def now(self) -> float:
        return time.monotonic() - self._started

    def _run(self, on_input: OnInput | None) -> None:
        tick = self.rate // 100
        mic = np.concatenate([np.zeros(0, dtype=np.int16)])
        position = 0
        script = list(self._script)
        while not self._stop.is_set():
            now = self.now()
            out = self._playout.take(tick)
            if self._keep:
                self.played.append((now, out))
            while script and script[0].at_s <= now:
                said = script.pop(0).pcm
                start = max(position, int(now * self.rate))
                needed = start + len(said)
                if len(mic) < needed:
                    mic = np.concatenate([mic, np.zeros(needed - len(mic), dtype=np.int16)])
                mic[start:needed] = said
            frame = mic[position : position + tick] if position < len(mic) else np.zeros(tick, dtype=np.int16)
            frame = np.pad(frame, (0, tick - len(frame)))
            if self._echo:
                frame = np.clip(frame.astype(np.int32) + (out * self._echo).astype(np.int32), -32768, 32767)
            position += tick
            if on_input is not None:
                on_input(frame.astype(np.int16), self._playout.level, time.monotonic())
            time.sleep(max(0.0, self._started + position / self.rate - time.monotonic()))

    def clear(self) -> None:
        super().clear()
        self.cleared_at.append(self.now())

    def heard(self) -> Pcm:
        """Everything the device played, silence included, in order."""
        return np.concatenate([pcm for _, pcm in self.played]) if self.played else np.zeros(0, dtype=np.int16)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2)
