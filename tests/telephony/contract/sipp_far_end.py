"""Turn scripted ``FarEnd`` callers and callees into SIPp scenarios (the sip harness's far ends).

Digits are SIPp's recorded RFC 4733 pcaps replayed with ``play_pcap_audio``. SIPp sends their RTP headers
as captured, and the captures come from one session (key 1 has the lowest sequence number, 0 the highest),
so a key whose packets are "older" than the previous key's is dropped by the receiver as late. Each press
therefore gets its own copy of the pcap with sequence numbers and timestamps moved past the previous press.
Keys less than ``MIN_KEY_GAP`` seconds apart are refused: their 0.14 s recorded presses would overlap.

A far end that presses no keys "speaks" its ``voice_hz`` once answered: SIPp streams a looped A-law tone
(``rtp_stream``), so scenarios can tell from recordings which leg hears which.
"""

from __future__ import annotations

import math
import struct
from pathlib import Path

import numpy as np

from callvault.telephony.sim import FarEnd

PCAPS = "/usr/share/sip-tester"
_PCAP_NAMES = {"#": "pound", "*": "star"}
MIN_KEY_GAP = 0.2

_HEADERS = """\
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <{from_uri}>;tag=[pid]SIPpTag[call_number]
      To: <{to_uri}>{to_tag}
      Call-ID: [call_id]
      Contact: <sip:caller@[local_ip]:[local_port]>
      Max-Forwards: 70"""

_SDP = """\
      v=0
      o=caller 1 1 IN IP4 [local_ip]
      s=-
      c=IN IP4 [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 8 101
      a=rtpmap:8 PCMA/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-15"""


def _request(method: str, cseq: int, from_uri: str, to_uri: str, *, dialog: bool, sdp: bool = False) -> str:
    headers = _HEADERS.format(from_uri=from_uri, to_uri=to_uri, to_tag="[peer_tag_param]" if dialog else "")
    body = "Content-Type: application/sdp\n      Content-Length: [len]\n\n" + _SDP if sdp else "Content-Length: 0"
    uri = "[next_url]" if dialog else "sip:[service]@[remote_ip]:[remote_port]"
    retrans = "" if method == "ACK" else ' retrans="500"'
    return (
        f"  <send{retrans}>\n    <![CDATA[\n"
        f"      {method} {uri} SIP/2.0\n{headers}\n      CSeq: {cseq} {method}\n      {body}\n"
        "    ]]>\n  </send>\n"
    )


def _same_transaction(method: str, from_uri: str, to_uri: str, *, to_tag: bool) -> str:
    """CANCEL, or ACK of a non-2xx answer: same branch as the INVITE (taken from the last response's Via)."""
    to = "[last_To:]" if to_tag else f"To: <{to_uri}>"
    return (
        "  <send>\n    <![CDATA[\n"
        f"      {method} sip:[service]@[remote_ip]:[remote_port] SIP/2.0\n      [last_Via:]\n"
        f"      From: <{from_uri}>;tag=[pid]SIPpTag[call_number]\n      {to}\n      Call-ID: [call_id]\n"
        f"      CSeq: 1 {method}\n      Max-Forwards: 70\n      Content-Length: 0\n    ]]>\n  </send>\n"
    )


_PCAP_HEADER, _RECORD_HEADER = 24, 16
_RTP_OFFSET = 14 + 20 + 8  # Ethernet, IPv4 without options, UDP: the layout of SIPp's dtmf pcaps


def dtmf_press_pcap(key: str, press: int, workdir: Path) -> Path:
    """A copy of SIPp's pcap for ``key`` whose RTP sequence/timestamp follow press number ``press``."""
    source = Path(f"{PCAPS}/dtmf_2833_{_PCAP_NAMES.get(key, key)}.pcap").read_bytes()
    out = bytearray(source[:_PCAP_HEADER])
    offset, first_seq, first_ts = _PCAP_HEADER, None, None
    while offset + _RECORD_HEADER <= len(source):
        length = struct.unpack_from("<I", source, offset + 8)[0]
        packet = bytearray(source[offset + _RECORD_HEADER : offset + _RECORD_HEADER + length])
        seq, ts = struct.unpack_from(">HI", packet, _RTP_OFFSET + 2)
        first_seq = seq if first_seq is None else first_seq
        first_ts = ts if first_ts is None else first_ts
        new_seq = (1000 + 20 * press + seq - first_seq) & 0xFFFF
        new_ts = (100_000 + 16_000 * press + ts - first_ts) & 0xFFFFFFFF
        struct.pack_into(">HI", packet, _RTP_OFFSET + 2, new_seq, new_ts)
        struct.pack_into(">H", packet, 14 + 20 + 6, 0)  # UDP checksum 0: "not computed", valid on IPv4
        out += source[offset : offset + _RECORD_HEADER] + packet
        offset += _RECORD_HEADER + length
    path = workdir / f"press-{press}-{_PCAP_NAMES.get(key, key)}.pcap"
    path.write_bytes(bytes(out))
    return path


def alaw(pcm: np.ndarray) -> bytes:
    """G.711 A-law of 16-bit samples (what ``audioop.lin2alaw`` gave; audioop leaves Python in 3.13)."""
    linear = pcm.astype(np.int32)
    sign = np.where(linear >= 0, 0x80, 0)
    magnitude = np.minimum(np.where(linear >= 0, linear, -linear - 1) >> 3, 0xFFF)
    segment = np.where(magnitude < 32, 0, np.floor(np.log2(np.maximum(magnitude, 1))).astype(np.int32) - 4)
    mantissa = np.where(magnitude < 32, magnitude >> 1, (magnitude >> np.maximum(segment, 0)) & 0xF)
    return bytes(((sign | (segment << 4) | mantissa) ^ 0x55).astype(np.uint8))


def voice_stream(far_end: FarEnd, workdir: Path) -> Path | None:
    """A raw A-law file of the far end's voice (a whole number of tone periods per second, for a seamless loop).

    ``None`` for a far end that keys digits (its RTP is SIPp's pcaps) or has no voice."""
    if far_end.voice_hz is None or far_end.digits:
        return None
    t = np.arange(8000) / 8000
    pcm = np.round(0.3 * 32767 * np.sin(2 * math.pi * round(far_end.voice_hz) * t)).astype(np.int16)
    path = workdir / f"voice-{round(far_end.voice_hz)}.alaw"
    path.write_bytes(alaw(pcm))
    return path


def _speak(voice: Path | None) -> str:
    return "" if voice is None else f'  <nop><action><exec rtp_stream="{voice},-1,8"/></action></nop>\n'


def caller_scenario(far_end: FarEnd, *, from_uri: str, to_uri: str, workdir: Path) -> str:
    """SIPp XML: call in, then press the far end's digits (RFC 4733 pcaps) and hang up as scripted."""
    steps = [_request("INVITE", 1, from_uri, to_uri, dialog=False, sdp=True)]
    steps.append('  <recv response="100" optional="true"/>\n')
    if far_end.gives_up_after is not None:
        # Abandon: ring for a while, then CANCEL (the engine is expected not to answer).
        steps.append('  <recv response="180"/>\n')
        steps.append(f'  <pause milliseconds="{round(far_end.gives_up_after * 1000)}"/>\n')
        steps.append(_same_transaction("CANCEL", from_uri, to_uri, to_tag=False))
        steps.append('  <recv response="200"/>\n  <recv response="487"/>\n')
        steps.append(_same_transaction("ACK", from_uri, to_uri, to_tag=True))
        return _scenario(steps)
    steps.append('  <recv response="180" optional="true"/>\n  <recv response="200" rrs="true"/>\n')
    steps.append(_request("ACK", 1, from_uri, to_uri, dialog=True))
    steps.append(_speak(voice_stream(far_end, workdir)))
    elapsed = 0.0
    for press, (offset, key) in enumerate(sorted(far_end.digits)):
        if press and offset - elapsed < MIN_KEY_GAP - 1e-9:
            raise ValueError(f"SIPp far ends need {MIN_KEY_GAP}s between keys")
        steps.append(f'  <pause milliseconds="{round((offset - elapsed) * 1000)}"/>\n')
        pcap = dtmf_press_pcap(key, press, workdir)
        steps.append(f'  <nop><action><exec play_pcap_audio="{pcap}"/></action></nop>\n')
        elapsed = offset
    if far_end.hangup_after is not None:
        steps.append(f'  <pause milliseconds="{round(max(far_end.hangup_after - elapsed, 0) * 1000)}"/>\n')
        steps.append(_request("BYE", 2, from_uri, to_uri, dialog=True))
        steps.append('  <recv response="200"/>\n')
    else:
        steps.append('  <recv request="BYE"/>\n')
        steps.append(
            "  <send>\n    <![CDATA[\n      SIP/2.0 200 OK\n      [last_Via:]\n      [last_From:]\n"
            "      [last_To:]\n      [last_Call-ID:]\n      [last_CSeq:]\n      Content-Length: 0\n"
            "    ]]>\n  </send>\n"
        )
    return _scenario(steps)


def _scenario(steps: list[str]) -> str:
    return (
        '<?xml version="1.0" encoding="ISO-8859-1" ?>\n<!DOCTYPE scenario SYSTEM "sipp.dtd">\n'
        '<scenario name="far_end">\n' + "".join(steps) + "</scenario>\n"
    )


_RESPONSE_HEADERS = """\
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      CSeq: [$invite_cseq] INVITE
      Contact: <sip:callee@[local_ip]:[local_port]>"""


def _response(code: int, reason: str, *, sdp: bool = False) -> str:
    body = "Content-Type: application/sdp\n      Content-Length: [len]\n\n" + _SDP if sdp else "Content-Length: 0"
    return (
        f"  <send>\n    <![CDATA[\n      SIP/2.0 {code} {reason}\n{_RESPONSE_HEADERS}\n      {body}\n"
        "    ]]>\n  </send>\n"
    )


_REASONS = {480: "Temporarily Unavailable", 486: "Busy Here", 603: "Decline", 404: "Not Found"}


def callee_scenario(far_end: FarEnd, workdir: Path) -> str:
    """SIPp XML for a called far end: ring, then answer / reject / give up as scripted; honour CANCEL."""
    never = far_end.answer_probability <= 0.0 and far_end.reject_code is None
    hangs_up = not never and far_end.reject_code is None and far_end.hangup_after is not None
    if not never:
        wait_ms = round(1000 * far_end.answer_after)
    elif far_end.gives_up_after is not None:
        wait_ms = round(1000 * far_end.gives_up_after)
    else:
        wait_ms = 600_000  # rings until the engine cancels
    steps = [
        '  <recv request="INVITE" rrs="true">\n    <action>\n'
        '      <ereg regexp="[0-9]+" search_in="hdr" header="CSeq:" assign_to="invite_cseq"/>\n'
        + (
            # Needed only for a BYE of our own (SIPp rejects variables that are set but never used).
            '      <ereg regexp=".*" search_in="hdr" header="From:" assign_to="remote_from"/>\n' if hangs_up else ""
        )
        + "    </action>\n  </recv>\n",
        _response(180, "Ringing"),
        f'  <recv request="CANCEL" timeout="{max(wait_ms, 1)}" ontimeout="respond"/>\n',
        _ok_to_last_request(),  # CANCEL: 200 for the CANCEL (its own CSeq), then 487 for the INVITE
        _response(487, "Request Terminated"),
        '  <recv request="ACK" next="end"/>\n',
        '  <label id="respond"/>\n',
    ]
    if never:
        steps += [_response(480, _REASONS[480]), '  <recv request="ACK" next="end"/>\n']
    elif far_end.reject_code is not None:
        reason = _REASONS.get(far_end.reject_code, "Rejected")
        steps += [_response(far_end.reject_code, reason), '  <recv request="ACK" next="end"/>\n']
    else:
        steps += [_response(200, "OK", sdp=True), '  <recv request="ACK"/>\n', _speak(voice_stream(far_end, workdir))]
        if far_end.hangup_after is not None:
            steps.append(f'  <recv request="BYE" timeout="{round(far_end.hangup_after * 1000)}" ontimeout="bye"/>\n')
            steps.append(_ok_to_last_request() + '  <nop next="end"/>\n  <label id="bye"/>\n')
            steps.append(_request_from_callee("BYE") + '  <recv response="200" next="end"/>\n')
        else:
            steps.append('  <recv request="BYE"/>\n' + _ok_to_last_request())
    steps.append('  <label id="end"/>\n')
    return _scenario(steps)


def _ok_to_last_request() -> str:
    return (
        "  <send>\n    <![CDATA[\n      SIP/2.0 200 OK\n      [last_Via:]\n      [last_From:]\n"
        "      [last_To:]\n      [last_Call-ID:]\n      [last_CSeq:]\n      Content-Length: 0\n"
        "    ]]>\n  </send>\n"
    )


def _request_from_callee(method: str) -> str:
    return (
        f'  <send retrans="500">\n    <![CDATA[\n      {method} [next_url] SIP/2.0\n'
        "      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]\n"
        "      From: <sip:callee@[local_ip]:[local_port]>;tag=[pid]SIPpTag01[call_number]\n"
        "      To: [$remote_from]\n      Call-ID: [call_id]\n      CSeq: 2 " + method + "\n"
        "      Max-Forwards: 70\n      Content-Length: 0\n    ]]>\n  </send>\n"
    )
