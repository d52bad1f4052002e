"""Notice texts, locales, attributes and agents' display names (CONTRACT §5 and §6 rule 6)."""

from __future__ import annotations

import re

import pytest

from worker.domain.notices import (
    TEMPLATES,
    display_name,
    identity_of,
    language_of,
    notice_attributes,
    notice_text,
    pick_locale,
)

LOCALES = ["en-US", "es-ES", "es-MX", "pt-BR", "th", "zh-Hans"]
KINDS = ["joined", "left", "transfer-started:WARM", "transfer-started:COLD", "transfer-failed", "chat-ended"]


def test_the_template_locales_are_english_and_the_flex_templates() -> None:
    assert sorted(TEMPLATES) == sorted(LOCALES)


@pytest.mark.parametrize("locale", LOCALES)
def test_every_locale_has_every_text_with_the_same_placeholders(locale: str) -> None:
    assert sorted(TEMPLATES[locale]) == sorted(KINDS)
    for kind in KINDS:
        english = set(re.findall(r"\{(\w+)\}", TEMPLATES["en-US"][kind]))
        assert set(re.findall(r"\{(\w+)\}", TEMPLATES[locale][kind])) == english, kind


@pytest.mark.parametrize(
    ("requested", "chosen"),
    [
        (None, "en-US"),
        ("", "en-US"),
        ("   ", "en-US"),
        ("en-US", "en-US"),
        ("en-GB", "en-US"),
        ("en", "en-US"),
        ("es-ES", "es-ES"),
        ("es-MX", "es-MX"),
        ("es-mx", "es-MX"),
        ("es_MX", "es-MX"),
        (" es-MX ", "es-MX"),
        ("es", "es-ES"),
        ("es-AR", "es-ES"),
        ("pt-BR", "pt-BR"),
        ("pt", "pt-BR"),
        ("pt-PT", "pt-BR"),
        ("th", "th"),
        ("th-TH", "th"),
        ("zh-Hans", "zh-Hans"),
        ("zh-hans", "zh-Hans"),
        ("zh-CN", "zh-Hans"),
        ("zh", "zh-Hans"),
        ("zh-Hant", "en-US"),
        ("zh-Hant-TW", "en-US"),
        ("zh-TW", "en-US"),
        ("zh_HK", "en-US"),
        ("fr-FR", "en-US"),
        ("de", "en-US"),
    ],
)
def test_the_locale_is_chosen_from_the_requested_language(requested: str | None, chosen: str) -> None:
    assert pick_locale(requested) == chosen


@pytest.mark.parametrize(
    ("attributes", "language"),
    [
        ({"language": "es-MX"}, "es-MX"),
        ({"locale": "pt-BR"}, "pt-BR"),
        ({"language": "th", "locale": "pt-BR"}, "th"),
        ({"language": "  ", "locale": "pt-BR"}, "pt-BR"),
        ({"language": 7, "locale": "zh-Hans"}, "zh-Hans"),
        ({"language": None}, None),
        ({}, None),
    ],
)
def test_the_language_comes_from_language_else_locale(attributes: dict, language: str | None) -> None:
    assert language_of(attributes) == language


@pytest.mark.parametrize(
    ("locale", "kind", "params", "text"),
    [
        (None, "joined", {"workerName": "Ana"}, "Ana joined the chat"),
        ("en-US", "left", {"workerName": "Ana"}, "Ana left the chat"),
        ("es-ES", "joined", {"workerName": "Ana"}, "Ana se ha unido al chat"),
        ("es-MX", "left", {"workerName": "Ana"}, "Ana salió del chat"),
        ("pt-BR", "chat-ended", {}, "O chat foi encerrado"),
        ("th", "joined", {"workerName": "Ana"}, "Ana เข้าร่วมแชทแล้ว"),
        ("zh-Hans", "left", {"workerName": "Ana"}, "Ana 离开了聊天"),
        ("fr", "chat-ended", {}, "The chat has ended"),
        (
            "en-US",
            "transfer-started",
            {"targetName": "Bob", "transferType": "WARM"},
            "Warm transfer to Bob started",
        ),
        (
            "en-US",
            "transfer-started",
            {"targetName": "Bob", "transferType": "COLD"},
            "Transfer to Bob started",
        ),
        ("en-US", "transfer-started", {"targetName": "Bob"}, "Transfer to Bob started"),
        (
            "es-MX",
            "transfer-failed",
            {"targetName": "Ventas", "transferType": "COLD"},
            "No se pudo completar la transferencia a Ventas",
        ),
        (
            "pt-BR",
            "transfer-started",
            {"targetName": "Bia", "transferType": "WARM"},
            "Transferência assistida para Bia iniciada",
        ),
    ],
)
def test_notice_texts(locale: str | None, kind: str, params: dict[str, str], text: str) -> None:
    assert notice_text(kind, params, locale) == text


def test_a_missing_name_leaves_a_readable_text_instead_of_failing() -> None:
    assert notice_text("joined", {}, "en-US") == " joined the chat"
    assert notice_text("transfer-failed", {}, "th") == "ไม่สามารถโอนไปยัง  ได้"


def test_notice_attributes_mark_a_notice() -> None:
    attributes = notice_attributes("joined:WT1:ana", "joined", {"workerName": "Ana"})
    assert attributes == {
        "notification": True,
        "notificationType": "joined",
        "noticeKey": "joined:WT1:ana",
        "workerName": "Ana",
    }


@pytest.mark.parametrize(
    ("worker_attributes", "name"),
    [
        ({"public_identity": "Ana P.", "full_name": "Ana Paula Souza"}, "Ana P."),
        ({"public_identity": "  Ana  "}, "Ana"),
        ({"public_identity": "", "full_name": "Ana Paula Souza"}, "Ana"),
        ({"public_identity": "   ", "full_name": "  Ana Paula "}, "Ana"),
        ({"public_identity": 42, "full_name": "Bob"}, "Bob"),
        ({"full_name": "Bob"}, "Bob"),
        ({"full_name": "   "}, "Agent"),
        ({"full_name": None}, "Agent"),
        ({}, "Agent"),
    ],
)
def test_the_display_name(worker_attributes: dict, name: str) -> None:
    assert display_name(worker_attributes, "Agent") == name


def test_the_default_display_name_is_configurable() -> None:
    assert display_name({}, "Soporte") == "Soporte"


@pytest.mark.parametrize(
    ("worker_attributes", "identity"),
    [
        ({"contact_uri": "client:ana"}, "ana"),
        ({"contact_uri": "ana@example.com"}, "ana@example.com"),
        ({"contact_uri": ""}, None),
        ({"contact_uri": 5}, None),
        ({}, None),
    ],
)
def test_the_identity_is_the_contact_uri_without_client(
    worker_attributes: dict, identity: str | None
) -> None:
    assert identity_of(worker_attributes) == identity
