"""The Kamailio front's files: kamailio.cfg, the dispatcher list of media workers, and the routing tables.

Kamailio reads the tables (db_text files loaded into htables) written here from the database:

* ``agents``: ``username@tenant`` -> HA1. Phones register as ``sip:<username>@<tenant slug>``; the realm is the
  tenant slug, so a digest is checked against an HA1 and no password is ever written out.
* ``dids``: ``+E164`` -> ``tenant;kind;entry``. An INVITE to a DID goes to a media worker with
  ``X-CallVault-Tenant`` and ``X-CallVault-Entry: <kind>:<entry>``; anything else gets 404.
* ``trunks``: ``in/<tenant>`` marks an institution whose DIDs may only be called from its inbound trunks'
  addresses (``in/<tenant>/<ip>``); ``out/<tenant>/<name>`` -> ``host;port;rule;caller_id``.

The engine reaches an agent by sending an INVITE from a media worker (a dispatcher destination) with
``X-CallVault-Tenant``: the front looks the phone up under ``username@tenant`` only, so one institution's
name never reaches another's phone. With ``X-CallVault-Trunk: <name>`` as well, the call leaves through that
institution's outbound trunk, its caller-ID rule applied. The front drops every ``X-CallVault-*`` header it did not add.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from callvault.sipedge.directory import Directory

MODULES_DIR = Path("/usr/lib/x86_64-linux-gnu/kamailio/modules")
HTABLE_COLUMNS = "key_name(str) key_type(int) value_type(int) key_value(str) expires(int)\n"
TABLES = ("agents", "dids", "trunks")


@dataclass(frozen=True)
class FrontConfig:
    address: str
    port: int
    workers: tuple[str, ...]  # "host:port" of each media worker
    run_dir: Path
    children: int = 2
    # Failed digest authentications (wrong password or user) one source address may make within
    # `auth_block_seconds` before all of its REGISTERs are refused with 403 until the window passes.
    auth_failures: int = 10
    auth_block_seconds: int = 60


def _escape(value: str) -> str:
    """db_text separates columns with ':'; escape it (and the escape character) inside values."""
    return value.replace("\\", "\\\\").replace(":", "\\:")


def _table(rows: dict[str, str]) -> str:
    # key_type 0 = plain key, value_type 0 = string value, expires 0 = never.
    lines = [f"{_escape(key)}:0:0:{_escape(value)}:0\n" for key, value in sorted(rows.items())]
    return HTABLE_COLUMNS + "".join(lines)


def table_rows(directory: Directory) -> dict[str, dict[str, str]]:
    """The three htables' rows, by table name."""
    agents = {f"{a.username}@{a.tenant}": a.ha1 for a in directory.agents}
    dids = {d.number: f"{d.tenant};{d.entry_kind};{d.entry}" for d in directory.dids}
    trunks: dict[str, str] = {}
    for t in directory.trunks:
        if t.direction == "inbound":
            trunks[f"in/{t.tenant}"] = "1"
            trunks[f"in/{t.tenant}/{t.peer_host}"] = "1"
        else:
            trunks[f"out/{t.tenant}/{t.name}"] = f"{t.peer_host};{t.peer_port};{t.caller_id_rule};{t.caller_id}"
    return {"agents": agents, "dids": dids, "trunks": trunks}


def write_tables(directory: Directory, db_dir: Path) -> dict[str, int]:
    """Write the db_text tables (mode 0600: the agents table holds HA1s); returns the row count of each."""
    db_dir.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    for name, rows in table_rows(directory).items():
        path = db_dir / name
        tmp = path.with_suffix(".tmp")
        tmp.touch(mode=0o600)
        tmp.write_text(_table(rows))
        # db_text re-reads a table only when its modification time (in whole seconds) changed: a rewrite within
        # the same second as the last one would otherwise be ignored by the reload.
        previous = path.stat().st_mtime if path.exists() else 0.0
        stamp = max(time.time(), previous + 1.0)
        os.utime(tmp, (stamp, stamp))
        tmp.replace(path)  # Kamailio never reads a half-written table
        counts[name] = len(rows)
    (db_dir / "version").write_text("table_name(str) table_version(int)\n" + "".join(f"{t}:2\n" for t in TABLES))
    return counts


def dispatcher_list(workers: tuple[str, ...]) -> str:
    return "".join(f"1 sip:{worker}\n" for worker in workers)


def render(config: FrontConfig) -> str:
    """kamailio.cfg for ``config``."""
    db_url = f"text://{config.run_dir / 'db'}"
    return _TEMPLATE.format(
        address=config.address,
        port=config.port,
        children=config.children,
        modules=MODULES_DIR,
        ctl=config.run_dir / "kamailio_ctl",
        dispatcher=config.run_dir / "dispatcher.list",
        db_url=db_url,
        auth_failures=config.auth_failures,
        auth_block_seconds=config.auth_block_seconds,
    )


def write_all(config: FrontConfig, directory: Directory) -> dict[str, int]:
    config.run_dir.mkdir(parents=True, exist_ok=True)
    (config.run_dir / "kamailio.cfg").write_text(render(config))
    (config.run_dir / "dispatcher.list").write_text(dispatcher_list(config.workers))
    return write_tables(directory, config.run_dir / "db")


_TEMPLATE = """#!KAMAILIO
# Written by `callvault sip-front`; regenerated at each start. Do not edit.
debug=2
log_stderror=yes
log_prefix="{{$mt $rm $ci}} "
children={children}
auto_aliases=no
listen=udp:{address}:{port}
alias="{address}:{port}"
mpath="{modules}/"

loadmodule "kex.so"
loadmodule "corex.so"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "xlog.so"
loadmodule "ctl.so"
loadmodule "db_text.so"
loadmodule "htable.so"
loadmodule "auth.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "dispatcher.so"

modparam("ctl", "binrpc", "unix:{ctl}")
# Not cached: a reload (htable.reload) reads the files CallVault has just rewritten.
modparam("db_text", "db_mode", 1)
modparam("htable", "db_url", "{db_url}")
modparam("htable", "htable", "agents=>size=10;dbtable=agents;")
modparam("htable", "htable", "dids=>size=10;dbtable=dids;")
modparam("htable", "htable", "trunks=>size=8;dbtable=trunks;")
# Failed authentications per source address, forgotten {auth_block_seconds} s after the last one.
modparam("htable", "htable", "authfail=>size=8;autoexpire={auth_block_seconds};")
# Registrations live in memory: phones register again after a restart (their expiry is short).
modparam("usrloc", "db_mode", 0)
modparam("usrloc", "use_domain", 1)
modparam("registrar", "max_expires", 600)
modparam("dispatcher", "list_file", "{dispatcher}")
modparam("dispatcher", "flags", 2)
modparam("rr", "append_fromtag", 1)

request_route {{
    if (!mf_process_maxfwd_header("10")) {{ sl_send_reply("483", "Too Many Hops"); exit; }}
    if (has_totag()) {{
        if (loose_route()) {{ t_relay(); exit; }}
        if (is_method("ACK")) {{ if (t_check_trans()) {{ t_relay(); }} exit; }}
        sl_send_reply("404", "Not here"); exit;
    }}
    if (is_method("CANCEL")) {{ if (t_check_trans()) {{ t_relay(); }} exit; }}
    if (is_method("REGISTER")) {{ route(REGISTRAR); exit; }}
    if (!is_method("INVITE")) {{ sl_send_reply("405", "Method Not Allowed"); exit; }}
    t_check_trans();
    record_route();
    if (ds_is_from_list("1")) {{ route(FROM_ENGINE); exit; }}
    route(TO_WORKER);
}}

# An agent phone registers as username@tenant; the digest is checked against the stored HA1 (flag 1).
# ($var cannot hold $null, so lookups are tested for $null before they are copied.)
route[REGISTRAR] {{
    $var(failures) = 0;
    if ($sht(authfail=>$si) != $null) {{ $var(failures) = $sht(authfail=>$si); }}
    if ($var(failures) >= {auth_failures}) {{
        xlog("L_WARN", "register from $si refused: $var(failures) failed authentications\\n");
        sl_send_reply("403", "Too Many Failed Authentications");
        exit;
    }}
    $var(ha1) = "-";
    if ($sht(agents=>$tU@$td) != $null) {{ $var(ha1) = $sht(agents=>$tU@$td); }}
    if (!pv_www_authenticate("$td", "$var(ha1)", "1")) {{
        $var(rc) = $rc;
        # -2 wrong password, -3 unknown user: a failure of the source (a first REGISTER without credentials
        # (-5) or a stale nonce is not).
        if ($var(rc) == -2 || $var(rc) == -3) {{ $sht(authfail=>$si) = $var(failures) + 1; }}
        xlog("L_NOTICE", "register refused for $tU@$td from $si\\n");
        www_challenge("$td", "0");
        exit;
    }}
    if ($au != $tU) {{ sl_send_reply("403", "Credentials Of Another Phone"); exit; }}
    consume_credentials();
    if (!save("location")) {{ sl_reply_error(); }}
}}

# From a media worker: out through one of the named institution's outbound trunks, or to one of its agents.
route[FROM_ENGINE] {{
    if ($hdr(X-CallVault-Tenant) == $null) {{ sl_send_reply("403", "No Institution Named"); exit; }}
    $var(tenant) = $hdr(X-CallVault-Tenant);
    if ($hdr(X-CallVault-Trunk) != $null) {{ route(TO_TRUNK); exit; }}
    route(TO_AGENT);
}}

# The trunk's caller-ID rule: "fixed" replaces the identity the engine presented (P-Asserted-Identity).
route[TO_TRUNK] {{
    $var(key) = "out/" + $var(tenant) + "/" + $hdr(X-CallVault-Trunk);
    if ($sht(trunks=>$var(key)) == $null) {{ sl_send_reply("404", "No Such Trunk"); exit; }}
    $var(trunk) = $sht(trunks=>$var(key));
    remove_hf_re("^X-CallVault-");
    if ($(var(trunk){{s.select,2,;}}) == "fixed") {{
        remove_hf("P-Asserted-Identity");
        append_hf("P-Asserted-Identity: <sip:$(var(trunk){{s.select,3,;}})@$(var(trunk){{s.select,0,;}})>\r\n");
    }}
    $ru = "sip:" + $rU + "@" + $(var(trunk){{s.select,0,;}}) + ":" + $(var(trunk){{s.select,1,;}});
    t_relay();
}}

# Ring the named institution's agent at the phone's registered contact.
route[TO_AGENT] {{
    remove_hf_re("^X-CallVault-");
    $ru = "sip:" + $rU + "@" + $var(tenant);
    if (!lookup("location")) {{ sl_send_reply("404", "Agent Not Registered"); exit; }}
    t_relay();
}}

# From a carrier: a DID names its institution and entry point; the call goes to a media worker.
route[TO_WORKER] {{
    if ($sht(dids=>$rU) == $null) {{ sl_send_reply("404", "Unknown Number"); exit; }}
    $var(route) = $sht(dids=>$rU);
    $var(tenant) = $(var(route){{s.select,0,;}});
    if ($sht(trunks=>in/$var(tenant)) != $null && $sht(trunks=>in/$var(tenant)/$si) == $null) {{
        sl_send_reply("403", "Not From The Institution's Trunk"); exit;
    }}
    remove_hf_re("^X-CallVault-");
    append_hf("X-CallVault-Tenant: $var(tenant)\\r\\n");
    append_hf("X-CallVault-Entry: $(var(route){{s.select,1,;}}):$(var(route){{s.select,2,;}})\\r\\n");
    if (!ds_select_dst("1", "4")) {{ sl_send_reply("503", "No Media Worker"); exit; }}
    t_on_failure("NEXT_WORKER");
    t_relay();
}}

failure_route[NEXT_WORKER] {{
    if (t_is_canceled()) {{ exit; }}
    if (t_check_status("486|408|500|503") && ds_next_dst()) {{
        t_on_failure("NEXT_WORKER");
        t_relay();
    }}
}}
"""
