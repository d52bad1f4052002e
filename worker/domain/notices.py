"""Notice texts and attributes (CONTRACT §5, Notifications).

English, plus the locales the Flex template ships (es-ES, es-MX, pt-BR, th, zh-Hans), chosen
from a `language`/`locale` attribute on the task or conversation; English otherwise. The text
is what a chat app without notice rendering shows; the attributes are what makes it a notice.
"""

from __future__ import annotations

from typing import Any

TEMPLATES: dict[str, dict[str, str]] = {
    "en-US": {
        "joined": "{workerName} joined the chat",
        "left": "{workerName} left the chat",
        "transfer-started:WARM": "Warm transfer to {targetName} started",
        "transfer-started:COLD": "Transfer to {targetName} started",
        "transfer-failed": "Transfer to {targetName} could not be completed",
        "chat-ended": "The chat has ended",
    },
    "es-ES": {
        "joined": "{workerName} se ha unido al chat",
        "left": "{workerName} ha salido del chat",
        "transfer-started:WARM": "Transferencia asistida a {targetName} iniciada",
        "transfer-started:COLD": "Transferencia a {targetName} iniciada",
        "transfer-failed": "No se ha podido completar la transferencia a {targetName}",
        "chat-ended": "El chat ha finalizado",
    },
    "es-MX": {
        "joined": "{workerName} se unió al chat",
        "left": "{workerName} salió del chat",
        "transfer-started:WARM": "Transferencia asistida a {targetName} iniciada",
        "transfer-started:COLD": "Transferencia a {targetName} iniciada",
        "transfer-failed": "No se pudo completar la transferencia a {targetName}",
        "chat-ended": "El chat terminó",
    },
    "pt-BR": {
        "joined": "{workerName} entrou no chat",
        "left": "{workerName} saiu do chat",
        "transfer-started:WARM": "Transferência assistida para {targetName} iniciada",
        "transfer-started:COLD": "Transferência para {targetName} iniciada",
        "transfer-failed": "Não foi possível concluir a transferência para {targetName}",
        "chat-ended": "O chat foi encerrado",
    },
    "th": {
        "joined": "{workerName} เข้าร่วมแชทแล้ว",
        "left": "{workerName} ออกจากแชทแล้ว",
        "transfer-started:WARM": "เริ่มการโอนแบบมีผู้ดูแลไปยัง {targetName} แล้ว",
        "transfer-started:COLD": "เริ่มการโอนไปยัง {targetName} แล้ว",
        "transfer-failed": "ไม่สามารถโอนไปยัง {targetName} ได้",
        "chat-ended": "แชทสิ้นสุดแล้ว",
    },
    "zh-Hans": {
        "joined": "{workerName} 加入了聊天",
        "left": "{workerName} 离开了聊天",
        "transfer-started:WARM": "已开始热转接给 {targetName}",
        "transfer-started:COLD": "已开始转接给 {targetName}",
        "transfer-failed": "转接给 {targetName} 未能完成",
        "chat-ended": "聊天已结束",
    },
}
_BY_LANGUAGE = {"en": "en-US", "es": "es-ES", "pt": "pt-BR", "th": "th", "zh": "zh-Hans"}


def pick_locale(requested: str | None) -> str:
    if not requested:
        return "en-US"
    tag = requested.strip().replace("_", "-")
    for locale in TEMPLATES:
        if locale.lower() == tag.lower():
            return locale
    if tag.lower().startswith("zh-hant") or tag.lower() in ("zh-tw", "zh-hk", "zh-mo"):
        return "en-US"  # no traditional Chinese texts; English rather than the wrong script
    return _BY_LANGUAGE.get(tag.split("-")[0].lower(), "en-US")


def language_of(attributes: dict[str, Any]) -> str | None:
    for name in ("language", "locale"):
        value = attributes.get(name)
        if isinstance(value, str) and value.strip():
            return value
    return None


def notice_text(kind: str, params: dict[str, str], locale: str | None) -> str:
    templates = TEMPLATES[pick_locale(locale)]
    key = f"{kind}:{params.get('transferType', 'COLD')}" if kind == "transfer-started" else kind
    return templates[key].format_map({"workerName": "", "targetName": "", **params})


def notice_attributes(key: str, kind: str, params: dict[str, str]) -> dict[str, Any]:
    return {"notification": True, "notificationType": kind, "noticeKey": key, **params}


def display_name(worker_attributes: dict[str, Any], default: str) -> str:
    """`public_identity`, else the first word of `full_name`, else `default` (CONTRACT §6 rule 6)."""
    public = worker_attributes.get("public_identity")
    if isinstance(public, str) and public.strip():
        return public.strip()
    full = worker_attributes.get("full_name")
    if isinstance(full, str) and full.strip():
        return full.split()[0]
    return default


def identity_of(worker_attributes: dict[str, Any]) -> str | None:
    """A Flex agent's Conversations identity: their `contact_uri` without `client:`."""
    uri = worker_attributes.get("contact_uri")
    if not isinstance(uri, str) or not uri:
        return None
    return uri.removeprefix("client:")
