"""Measurement user agent on the pjsua2 wheel: answer every call, play a prompt, record what arrives.

One process = one SIP stack bound to 127.0.0.1. It stops by itself after ``--max-seconds`` (and on
SIGTERM) and prints one ``STATS {json}`` line on stderr. Only the main thread touches pjsua2
(``threadCnt = 0``), and every pjsua2 object is dropped in the main loop, never inside a callback.

    python bench/sip/pj_ua.py --port 5200 --rtp 20000 --max-calls 4 --prompt p.wav --recdir rec/
"""

from __future__ import annotations

import argparse
import gc
import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

import pjsua2 as pj

args: Any = None
running = True
stats = {"offered": 0, "answered": 0, "ended": 0, "dtmf": 0, "max_concurrent": 0}
calls: dict[int, Any] = {}
ended: list[Any] = []


class Leg(pj.Call):  # type: ignore[misc]
    def __init__(self, account: Any, call_id: int) -> None:
        super().__init__(account, call_id)
        self.player: Any = None
        self.recorder: Any = None
        self.gone = False

    def onCallState(self, prm: Any) -> None:
        if self.getInfo().state == pj.PJSIP_INV_STATE_DISCONNECTED and not self.gone:
            self.gone = True
            ended.append(self)

    def onCallMediaState(self, prm: Any) -> None:
        # Keep the CallInfo alive while iterating: its media vector dies with it (garbage otherwise).
        info = self.getInfo()
        for media in info.media:
            if media.type == pj.PJMEDIA_TYPE_AUDIO and media.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                audio = self.getAudioMedia(media.index)
                if args.prompt and self.player is None:
                    self.player = pj.AudioMediaPlayer()
                    self.player.createPlayer(args.prompt, 0 if args.loop else pj.PJMEDIA_FILE_NO_LOOP)
                    self.player.startTransmit(audio)
                if args.recdir and self.recorder is None:
                    self.recorder = pj.AudioMediaRecorder()
                    self.recorder.createRecorder(str(Path(args.recdir) / f"{args.port}-{self.getId()}.wav"))
                    audio.startTransmit(self.recorder)

    def onDtmfDigit(self, prm: Any) -> None:
        stats["dtmf"] += 1


class Account(pj.Account):  # type: ignore[misc]
    def onIncomingCall(self, prm: Any) -> None:
        stats["offered"] += 1
        leg = Leg(self, prm.callId)
        calls[prm.callId] = leg
        op = pj.CallOpParam()
        op.statusCode = 200
        leg.answer(op)
        stats["answered"] += 1
        stats["max_concurrent"] = max(stats["max_concurrent"], len(calls))


def main() -> None:
    global args, running
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--rtp", type=int, required=True)
    parser.add_argument("--max-calls", type=int, default=4)
    parser.add_argument("--prompt", default="")
    parser.add_argument("--loop", action="store_true")
    parser.add_argument("--recdir", default="")
    parser.add_argument("--codec", default="PCMU/8000")
    parser.add_argument("--poll-ms", type=int, default=100)
    parser.add_argument("--jb-ms", type=int, default=-1, help="fixed jitter-buffer prefetch (-1: adaptive)")
    parser.add_argument("--max-seconds", type=float, default=120)
    parser.add_argument("--ready", default="")
    args = parser.parse_args()

    def stop(*_: object) -> None:
        global running
        running = False

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    ep = pj.Endpoint()
    ep.libCreate()
    cfg = pj.EpConfig()
    cfg.uaConfig.threadCnt = 0
    cfg.uaConfig.maxCalls = args.max_calls
    cfg.medConfig.clockRate = cfg.medConfig.sndClockRate = 8000
    cfg.medConfig.ecTailLen = 0
    cfg.medConfig.noVad = True
    if args.jb_ms >= 0:
        # Fixed prefetch: the adaptive buffer otherwise drops/repeats frames when it resizes.
        cfg.medConfig.jbInit = cfg.medConfig.jbMinPre = cfg.medConfig.jbMaxPre = args.jb_ms
        cfg.medConfig.jbMax = max(500, 4 * args.jb_ms)
    cfg.logConfig.level = cfg.logConfig.consoleLevel = 1
    ep.libInit(cfg)
    transport = pj.TransportConfig()
    transport.port = args.port
    transport.boundAddress = "127.0.0.1"
    ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, transport)
    ep.libStart()
    ep.audDevManager().setNullDev()
    for codec in ep.codecEnum2():
        ep.codecSetPriority(codec.codecId, 255 if codec.codecId.startswith(args.codec) else 0)
    acfg = pj.AccountConfig()
    acfg.idUri = f"sip:ua@127.0.0.1:{args.port}"
    acfg.mediaConfig.transportConfig.boundAddress = "127.0.0.1"
    acfg.mediaConfig.transportConfig.port = args.rtp
    acfg.mediaConfig.transportConfig.portRange = 200
    account = Account()
    account.create(acfg)
    if args.ready:
        Path(args.ready).write_text("ready")

    deadline = time.monotonic() + args.max_seconds
    while running and time.monotonic() < deadline:
        ep.libHandleEvents(args.poll_ms)
        reap()
    ep.hangupAllCalls()
    for _ in range(50):
        ep.libHandleEvents(20)
        reap()
        if not calls:
            break
    calls.clear()
    ended.clear()
    account.shutdown()
    account = None
    gc.collect()
    ep.libDestroy()
    sys.stderr.write("STATS " + json.dumps(stats) + "\n")


def reap() -> None:
    # Dropping player/recorder here (not in the callback) finalises the WAV header safely.
    while ended:
        leg = ended.pop()
        leg.player = None
        leg.recorder = None
        for key, value in list(calls.items()):
            if value is leg:
                del calls[key]
        stats["ended"] += 1
        leg = None


if __name__ == "__main__":
    main()
