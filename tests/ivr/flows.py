"""The bank card-service flow used across the IVR tests, written in YAML as an institution would."""

from __future__ import annotations

from callvault.ivr.flow import FlowDocument, parse_document

CARD_SERVICE = """
start: greeting
language: zh
timezone: Asia/Shanghai
max_silence_seconds: 1.0
business_hours:
  mon: ["08:00-20:00"]
  tue: ["08:00-20:00"]
  wed: ["08:00-20:00"]
  thu: ["08:00-20:00"]
  fri: ["08:00-20:00"]
  sat: ["09:00-17:00"]
holidays: ["2026-10-01"]
nodes:
  greeting:
    type: play
    prompt: {say: "您好。欢迎致电信用卡服务中心。"}
    next: opening_hours
  opening_hours:
    type: condition
    branches:
      - when: {test: open}
        next: identify
    otherwise: closed
  closed:
    type: hangup
    prompt: {say: "现在是非工作时间。请在工作时间再拨。"}
  identify:
    type: collect
    prompt: {say: "请输入卡号后四位。以井号键结束。"}
    into: card_last4
    min_length: 4
    max_length: 4
    invalid_prompt: {say: "输入有误。"}
    next: balance_lookup
    on_fail: plain_menu
  balance_lookup:
    type: lookup
    url: "{base}{path}"
    send: [card_last4, caller]
    results: {balance: balance, tier: tier}
    timeout: {timeout}
    next: say_balance
    on_error: sorry
  say_balance:
    type: play
    prompt: {say: "您的账户余额为{balance:amount_zh}。"}
    next: main_menu
  main_menu:
    type: menu
    prompt: {say: "重听余额请按一。挂失请按二。人工服务请按零。"}
    options: {"1": say_balance, "2": lost_card, "0": to_agent}
    invalid_prompt: {say: "按键无效。"}
    on_invalid: goodbye
  lost_card:
    type: queue
    queue: cards
    skills: {lost_card: 2}
    priority: 80
    prompt: {say: "正在为您转接挂失专员。"}
  to_agent:
    type: queue
    queue: cards
    skills: {mandarin: 1}
    priority: {variable: tier, map: {vip: 50, gold: 20}, default: 0}
    prompt: {say: "正在为您转接人工服务。"}
  sorry:
    type: play
    prompt: {say: "暂时无法查询余额。"}
    next: plain_menu
  plain_menu:
    type: menu
    prompt: {say: "人工服务请按零。"}
    options: {"0": to_agent_plain}
    on_invalid: goodbye
  to_agent_plain:
    type: queue
    queue: cards
  goodbye:
    type: hangup
    prompt: {say: "感谢来电。再见。"}
"""


def card_service_yaml(base: str = "http://127.0.0.1:9", path: str = "/balance", timeout: float = 3.0) -> str:
    return (
        CARD_SERVICE.replace("{base}", base)
        .replace("{path}", path)
        .replace("timeout: {timeout}", f"timeout: {timeout}")
    )


def card_service(base: str = "http://127.0.0.1:9", path: str = "/balance", timeout: float = 3.0) -> FlowDocument:
    return parse_document(card_service_yaml(base, path, timeout), content_type="application/yaml")
