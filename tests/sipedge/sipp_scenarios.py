"""SIPp scenarios for the SIP front tests: an agent phone registering, the phone ringing, a carrier calling a DID."""

from __future__ import annotations

_HEAD = (
    '<?xml version="1.0" encoding="ISO-8859-1" ?>\n<!DOCTYPE scenario SYSTEM "sipp.dtd">\n<scenario name="{name}">\n'
)
_TAIL = "</scenario>\n"

_SDP = """\
Content-Type: application/sdp
Content-Length: [len]

v=0
o=phone 1 1 IN IP4 [media_ip]
s=-
c=IN IP4 [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 8
a=rtpmap:8 PCMA/8000"""  # one codec: an answer with several makes pjsua re-INVITE to lock one


def _send(text: str, *, retrans: bool = True) -> str:
    attribute = ' retrans="500"' if retrans else ""
    return f"  <send{attribute}><![CDATA[\n{text}\n  ]]></send>\n"


def _register(aor: str, contact: str, cseq: int, *, auth: bool) -> str:
    return _send(
        "REGISTER sip:[remote_ip]:[remote_port] SIP/2.0\n"
        "Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]\n"
        f"From: <sip:{aor}>;tag=[pid]SIPpTag00[call_number]\n"
        f"To: <sip:{aor}>\n"
        "Call-ID: [call_id]\n"
        f"CSeq: {cseq} REGISTER\n"
        f"Contact: <sip:{contact}>\n" + ("[authentication]\n" if auth else "") + "Max-Forwards: 70\n"
        "Expires: 300\n"
        "Content-Length: 0"
    )


def register(aor: str, contact: str, *, final: int) -> str:
    """REGISTER ``aor`` (user@tenant), answer the 401 challenge with -au/-ap, expect ``final`` (200 or 401)."""
    steps = _register(aor, contact, 1, auth=False)
    steps += '  <recv response="401" auth="true"/>\n'
    steps += _register(aor, contact, 2, auth=True)
    steps += f'  <recv response="{final}"/>\n'
    return _HEAD.format(name="register") + steps + _TAIL


def refused_register(aor: str, contact: str) -> str:
    """REGISTER ``aor`` and expect 403 at once (no challenge): the source is blocked."""
    steps = _register(aor, contact, 1, auth=False) + '  <recv response="403"/>\n'
    return _HEAD.format(name="refused_register") + steps + _TAIL


_ANSWER_HEADERS = """\
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
[last_Record-Route:]
Contact: <sip:phone@[local_ip]:[local_port]>"""


def agent_phone(*, ring_ms: int = 0) -> str:
    """The agent's phone: ring (`ring_ms`), answer, and take the BYE when the engine hangs up (all through the
    front)."""
    steps = '  <recv request="INVITE"/>\n'
    steps += _send(f"SIP/2.0 180 Ringing\n{_ANSWER_HEADERS}\nContent-Length: 0", retrans=False)
    if ring_ms:
        steps += f'  <pause milliseconds="{ring_ms}"/>\n'
    steps += _send(f"SIP/2.0 200 OK\n{_ANSWER_HEADERS}\n{_SDP}")
    steps += '  <recv request="ACK"/>\n  <recv request="BYE"/>\n'
    steps += _send(
        "SIP/2.0 200 OK\n[last_Via:]\n[last_From:]\n[last_To:]\n[last_Call-ID:]\n[last_CSeq:]\nContent-Length: 0",
        retrans=False,
    )
    return _HEAD.format(name="agent_phone") + steps + _TAIL


def _invite(number: str) -> str:
    return _send(
        f"INVITE sip:{number}@[remote_ip]:[remote_port] SIP/2.0\n"
        "Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]\n"
        "From: <sip:carrier@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]\n"
        f"To: <sip:{number}@[remote_ip]:[remote_port]>\n"
        "Call-ID: [call_id]\n"
        "CSeq: 1 INVITE\n"
        "Contact: <sip:carrier@[local_ip]:[local_port]>\n"
        "X-CallVault-Tenant: forged-by-the-caller\n"
        "Max-Forwards: 70\n" + _SDP
    )


def _in_dialog(method: str, cseq: int) -> str:
    return _send(
        f"{method} [next_url] SIP/2.0\n"
        "Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]\n"
        "From: <sip:carrier@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]\n"
        "[last_To:]\n"
        "[routes]\n"
        "Call-ID: [call_id]\n"
        f"CSeq: {cseq} {method}\n"
        "Max-Forwards: 70\n"
        "Content-Length: 0",
        retrans=method != "ACK",
    )


def carrier_call(number: str, *, hold_ms: int) -> str:
    """A carrier's INVITE to a DID (with a forged routing header the front must drop), answered, then BYE."""
    steps = _invite(number)
    steps += '  <recv response="100" optional="true"/>\n  <recv response="180" optional="true"/>\n'
    steps += '  <recv response="200" rrs="true"/>\n'
    steps += _in_dialog("ACK", 1)
    steps += f'  <pause milliseconds="{hold_ms}"/>\n'
    steps += _in_dialog("BYE", 2)
    steps += '  <recv response="200"/>\n'
    return _HEAD.format(name="carrier_call") + steps + _TAIL


def refused_call(number: str, *, code: int) -> str:
    """A carrier's INVITE the front answers with ``code`` (e.g. 404 for an unknown DID)."""
    steps = _invite(number)
    steps += '  <recv response="100" optional="true"/>\n'
    steps += f'  <recv response="{code}"/>\n'
    steps += _send(
        "ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0\n[last_Via:]\n"
        "From: <sip:carrier@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]\n[last_To:]\n"
        "Call-ID: [call_id]\nCSeq: 1 ACK\nMax-Forwards: 70\nContent-Length: 0",
        retrans=False,
    )
    return _HEAD.format(name="refused_call") + steps + _TAIL


def busy_carrier(expected_identity: str) -> str:
    """A carrier behind an outbound trunk: fails the call unless the INVITE presents ``expected_identity`` (a
    regular expression on P-Asserted-Identity), then answers 486 Busy Here."""
    steps = (
        '  <recv request="INVITE">\n    <action>\n'
        f'      <ereg regexp="{expected_identity}" search_in="hdr" header="P-Asserted-Identity:" check_it="true"'
        ' assign_to="1"/>\n    </action>\n  </recv>\n  <Reference variables="1"/>\n'
    )
    steps += _send(
        "SIP/2.0 486 Busy Here\n[last_Via:]\n[last_From:]\n[last_To:];tag=[pid]SIPpTag01[call_number]\n"
        "[last_Call-ID:]\n[last_CSeq:]\nContent-Length: 0",
        retrans=False,
    )
    steps += '  <recv request="ACK"/>\n'
    return _HEAD.format(name="busy_carrier") + steps + _TAIL
