"""English and Spanish: how the language is chosen, switched and remembered, and that
every string people read is in the Spanish catalogue."""

from __future__ import annotations

import io
import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from pymongo.errors import ConnectionFailure

from app.core.i18n import ago, when
from app.users.repository import UserRepository, get_users
from tests.conftest import USER_PASSWORD, build_app, login_api, png_bytes
from tests.helpers import Browser

ROOT = Path(__file__).resolve().parent.parent
PO = ROOT / "translations" / "es" / "LC_MESSAGES" / "messages.po"
MO = PO.with_suffix(".mo")
ES = {"Accept-Language": "es-ES,es;q=0.9,en;q=0.5"}


@pytest.fixture(scope="module", autouse=True)
def compiled_catalogue():
    """`make test` compiles the catalogues; a bare `pytest` on a fresh clone does it here."""
    if not MO.exists() or MO.stat().st_mtime < PO.stat().st_mtime:
        with PO.open("rb") as po, MO.open("wb") as mo:
            write_mo(mo, read_po(po, locale="es"))


@pytest.fixture
def app(tmp_path):
    return build_app(tmp_path)


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)


# -- how the language is chosen ------------------------------------------------------------

def test_accept_language_chooses_spanish_and_html_lang_follows(client):
    page = client.get("/no-such-page", headers=ES)
    assert page.status_code == 404
    assert '<html lang="es">' in page.text
    assert "No hay nada en esta dirección." in page.text


def test_english_is_the_default_and_for_languages_we_do_not_have(client):
    for headers in ({}, {"Accept-Language": "fr-FR,de;q=0.8"}):
        page = client.get("/no-such-page", headers=headers)
        assert '<html lang="en">' in page.text
        assert "There is nothing at this address." in page.text


def test_the_signed_in_header_speaks_spanish(app, make_user):
    make_user("ana")
    browser = Browser(app.test_client(), "ana", USER_PASSWORD)
    page = browser.request("GET", "/", htmx=False, headers=ES)
    assert '<html lang="es">' in page.text
    assert ">Galería<" in page.text and ">Papelera<" in page.text


# -- the switcher ----------------------------------------------------------------------------

def test_a_visitor_switches_with_a_cookie_before_signing_in(client):
    token = csrf_of(client.get("/login").text)
    switched = client.post("/account/language", data={"csrf_token": token, "language": "es",
                                                       "next": "/login"})
    assert switched.status_code == 303 and switched.headers["Location"] == "/login"
    assert "language=es" in switched.headers["Set-Cookie"]
    assert "HttpOnly" in switched.headers["Set-Cookie"]
    # The browser says English; the choice wins.
    page = client.get("/no-such-page", headers={"Accept-Language": "en"})
    assert '<html lang="es">' in page.text


def test_the_switch_needs_csrf_and_a_language_we_have(client):
    refused = client.post("/account/language", data={"language": "es"})
    assert refused.status_code == 400
    assert "language=" not in refused.headers.get("Set-Cookie", "")
    token = csrf_of(client.get("/login").text)
    unknown = client.post("/account/language", data={"csrf_token": token, "language": "fr"})
    assert unknown.status_code == 400 and "Choose English or Spanish." in unknown.text


def test_an_offsite_next_is_not_followed(client):
    token = csrf_of(client.get("/login").text)
    switched = client.post("/account/language", data={"csrf_token": token, "language": "es",
                                                       "next": "//evil.example/"})
    assert switched.status_code == 303 and switched.headers["Location"] == "/"


def test_a_users_choice_is_remembered_across_sign_out_and_browsers(app, make_user):
    ana = make_user("ana")
    make_user("bruno")
    browser = Browser(app.test_client(), "ana", USER_PASSWORD)
    before = get_doc(app, ana.id)
    switched = browser.request("POST", "/account/language", data={"language": "es"})
    assert switched.status_code == 204 and switched.headers["HX-Redirect"]
    after = get_doc(app, ana.id)
    assert after["language"] == "es"
    # Not a state an admin's If-Match guards: the version (ETag) stays.
    assert after["version"] == before["version"]
    browser.request("POST", "/logout", htmx=False)

    # Another browser, no cookie, an English Accept-Language: Ana's choice follows her.
    elsewhere = Browser(app.test_client(), "ana", USER_PASSWORD)
    page = elsewhere.request("GET", "/", htmx=False, headers={"Accept-Language": "en"})
    assert '<html lang="es">' in page.text
    # Bruno never chose: his browser's language.
    bruno = Browser(app.test_client(), "bruno", USER_PASSWORD)
    page = bruno.request("GET", "/", htmx=False, headers={"Accept-Language": "en"})
    assert '<html lang="en">' in page.text


def test_switching_back_to_english(app, make_user):
    make_user("ana")
    browser = Browser(app.test_client(), "ana", USER_PASSWORD)
    browser.request("POST", "/account/language", data={"language": "es"})
    browser.request("POST", "/account/language", data={"language": "en"})
    page = browser.request("GET", "/", htmx=False, headers=ES)
    assert '<html lang="en">' in page.text


def test_every_page_header_has_the_switcher(client):
    page = client.get("/login", headers=ES)
    assert 'action="/account/language"' in page.text and ">English<" in page.text


def test_the_switcher_offers_the_other_language(app):
    from flask import render_template

    with app.test_request_context("/trash", headers=ES):
        html = render_template("_language.html")
    assert 'action="/account/language"' in html and 'name="csrf_token"' in html
    assert 'name="next" value="/trash"' in html
    assert 'value="en" lang="en"' in html and ">English<" in html
    assert 'value="es"' not in html
    assert 'aria-label="Idioma"' in html
    assert untranslated_literals((ROOT / "templates" / "_language.html").read_text()) == []


def get_doc(app, user_id):
    with app.app_context():
        return get_users().get_doc(user_id)


# -- API errors, plurals, dates ----------------------------------------------------------

def test_api_error_sentences_are_spanish_with_the_same_english_code(app, client, make_user):
    make_user("ana")
    token = login_api(client, "ana", USER_PASSWORD)
    path = f"/api/v1/images/{uuid.uuid4()}"
    english = client.get(path, headers={"Authorization": f"Bearer {token}"})
    spanish = client.get(path, headers={"Authorization": f"Bearer {token}", **ES})
    assert english.status_code == spanish.status_code == 404
    assert english.get_json() == {"error": "No such photo.", "code": "not_found"}
    assert spanish.get_json() == {"error": "Esa foto no existe.", "code": "not_found"}


def test_answers_with_words_vary_by_language_and_images_do_not(client, alice_api):
    image_id = alice_api.upload().get_json()["id"]
    missing = alice_api.get(f"/api/v1/images/{uuid.uuid4()}", headers=ES)
    assert {"Accept-Language", "Cookie"} <= set(missing.vary)
    thumbnail = alice_api.get(f"/media/{image_id}/thumb", headers=ES)
    assert thumbnail.status_code == 200
    assert "Accept-Language" not in thumbnail.vary


def test_a_protection_rule_refusal_is_translated(app, client):
    token = login_api(client, "founder", "founder-password")
    with app.app_context():
        founder = get_users().by_username("founder")
    refused = client.patch(f"/api/v1/users/{founder.id}/deactivate",
                           headers={"Authorization": f"Bearer {token}",
                                    "X-Confirm-Delete": "yes", **ES})
    assert refused.status_code == 403
    assert refused.get_json()["code"] == "self_action"
    assert refused.get_json()["error"] == "No puedes desactivar tu propia cuenta."


def test_a_down_user_store_still_answers_in_the_browsers_language(app, make_user,
                                                                   monkeypatch):
    """Choosing the language reads the user; with the store down that read fails again
    inside the error handler, which must still answer its 503, not a 500."""
    make_user("ana")
    browser = Browser(app.test_client(), "ana", USER_PASSWORD)

    def down(*args, **kwargs):
        raise ConnectionFailure("the user store is down")

    monkeypatch.setattr(UserRepository, "get", down)
    answer = browser.request("GET", "/api/v1/images", htmx=False, headers=ES)
    assert answer.status_code == 503
    assert answer.get_json() == {"code": "unavailable", "error": (
        "No se puede alcanzar el almacén de usuarios ahora mismo. Inténtalo de nuevo en un "
        "momento.")}


def test_a_sign_in_refusal_is_translated(client):
    token = csrf_of(client.get("/login").text)
    page = client.post("/login", data={"csrf_token": token, "username": "nobody",
                                       "password": "wrong-password"}, headers=ES)
    assert page.status_code == 401
    assert "El nombre de usuario o la contraseña no son correctos." in page.text


@pytest.mark.parametrize(("count", "english", "spanish"), [
    (1, "1 photo ·", "1 foto ·"),
    (2, "2 photos ·", "2 fotos ·"),
])
def test_plurals(app, make_user, count, english, spanish):
    """An upload's answer brings the count under the heading (no toast: the page's upload
    panel speaks for the whole batch), in the singular or the plural."""
    for headers, sentence in (({"Accept-Language": "en"}, english), (ES, spanish)):
        name = f"ana{len(sentence)}{count}"
        make_user(name)
        browser = Browser(app.test_client(), name, USER_PASSWORD)
        files = [(io.BytesIO(png_bytes(color=(i, 9, 9))), f"p{i}.png") for i in range(count)]
        answer = browser.request("POST", "/images", data={"file": files}, headers=headers,
                                 content_type="multipart/form-data")
        assert answer.status_code == 201
        assert sentence in answer.text
        assert "image(s)" not in answer.text and "toast" not in answer.text


@pytest.mark.parametrize(("headers", "texts"), [
    ({"Accept-Language": "en"}, {
        "up-start-other": "Uploading %(num)s photos…",
        "up-progress": "Uploading %(num)s of %(total)s…",
        "up-done-one": "%(num)s photo uploaded",
        "up-done-other": "%(num)s photos uploaded",
        "up-skipped-one": "%(num)s duplicate skipped",
        "up-skipped-other": "%(num)s duplicates skipped",
        "up-dupes-other": "%(num)s photos are already in your library.",
        "up-too-big": "The upload is larger than the 20 MB limit.",
    }),
    (ES, {
        "up-start-other": "Subiendo %(num)s fotos…",
        "up-progress": "Subiendo %(num)s de %(total)s…",
        "up-done-one": "%(num)s foto subida",
        "up-done-other": "%(num)s fotos subidas",
        "up-skipped-one": "%(num)s duplicada omitida",
        "up-skipped-other": "%(num)s duplicadas omitidas",
        "up-dupes-other": "%(num)s fotos ya están en tu biblioteca.",
        "up-too-big": "La subida supera el límite de 20 MB.",
    }),
], ids=["en", "es"])
def test_the_upload_panel_speaks_the_pages_language(app, make_user, headers, texts):
    """upload.js reads its sentences from the gallery page, singular and plural."""
    make_user("ana")
    browser = Browser(app.test_client(), "ana", USER_PASSWORD)
    page = browser.request("GET", "/", htmx=False, headers=headers).text
    for key, text in texts.items():
        assert f'data-{key}="{text}"' in page, key
    panel = page.split('id="upload-panel"')[1].split("</section>")[0]
    assert "image" not in panel.lower() and "imagen" not in panel.lower()


def test_relative_dates_and_dates_follow_the_language(app):
    now = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    with app.test_request_context(headers=ES):
        assert ago(now - timedelta(minutes=2), now) == "hace 2 minutos"
        assert ago(now + timedelta(days=3), now) == "dentro de 3 días"
        assert "nov" in when(now) and "2026" in when(now)
    with app.test_request_context(headers={"Accept-Language": "en"}):
        assert ago(now - timedelta(minutes=2), now) == "2 minutes ago"
        assert when(now.replace(tzinfo=None)).startswith("Nov 30, 2026")


def test_the_templates_have_the_date_filters(app):
    now = datetime.now(UTC)
    with app.test_request_context(headers=ES):
        rendered = app.jinja_env.from_string("{{ t|ago }}").render(t=now - timedelta(hours=5))
    assert rendered == "hace 5 horas"


# -- the catalogue is complete --------------------------------------------------------------

def extracted_messages() -> set:
    """What `make i18n-extract` finds, read with Babel's own extractor and babel.cfg."""
    with (ROOT / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None,
                "lazy_ngettext": (1, 2)}
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
            str(ROOT), method_map, options_map, keywords=keywords):
        found.add(message if isinstance(message, str) else tuple(message))
    return found


def test_every_string_in_the_code_and_templates_is_translated():
    with PO.open("rb") as po:
        catalogue = read_po(po, locale="es")
    extracted = extracted_messages()
    assert len(extracted) > 100  # the extractor did look at app/ and templates/
    missing, untranslated = [], []
    for message in extracted:
        key = message[0] if isinstance(message, tuple) else message
        entry = catalogue.get(key)
        if entry is None:
            missing.append(message)
        elif entry.fuzzy or not all(entry.string if isinstance(entry.string, tuple)
                                    else [entry.string]):
            untranslated.append(message)
    assert not missing, f"not in the Spanish catalogue (run `make i18n-update`): {missing}"
    assert not untranslated, f"no Spanish yet: {untranslated}"


def test_translations_keep_their_placeholders():
    with PO.open("rb") as po:
        catalogue = read_po(po, locale="es")
    problems = [(message.id, [str(e) for e in errors])
                for message, errors in catalogue.check() if errors]
    assert not problems


ALLOWED_LITERALS = {"Papelera", "· Papelera", "openapi.json", "×", "·", "…", "→", "←", "px", "https://…"}
_JINJA = re.compile(r"\{#.*?#\}|\{%.*?%\}|\{\{.*?\}\}", re.S)
_SCRIPT = re.compile(r"<(script|style|code)\b.*?</\1>", re.S | re.I)  # code is not words
_TEXT_ATTRIBUTES = re.compile(r'\b(?:aria-label|title|placeholder|alt)="([^"]*)"')
_TAG = re.compile(r"<[^>]*>", re.S)


def untranslated_literals(source: str) -> list[str]:
    """Words people read that are written into the template instead of passed to _()."""
    source = _SCRIPT.sub(" ", source)
    found = []
    for value in _TEXT_ATTRIBUTES.findall(source):
        bare = _JINJA.sub("", value).strip()
        found += [value] if re.search(r"[A-Za-z]", bare) and bare not in ALLOWED_LITERALS else []
    text = _TAG.sub("\n", _JINJA.sub("\n", source))
    for chunk in text.splitlines():
        chunk = chunk.strip()
        if chunk and chunk not in ALLOWED_LITERALS and re.search(r"[A-Za-zÀ-ÿ]", chunk):
            found.append(chunk)
    return found


def test_the_literal_check_catches_a_bare_word():
    assert untranslated_literals('<p>Hello {{ name }}</p><b aria-label="Close">×</b>') == [
        "Close", "Hello"]
    assert untranslated_literals('<p>{{ _("Hello") }}</p>{% if x %}·{% endif %}') == []


TEMPLATES = sorted(p.relative_to(ROOT / "templates").as_posix()
                   for p in (ROOT / "templates").rglob("*.html"))


@pytest.mark.parametrize("name", TEMPLATES)
def test_templates_have_no_untranslated_text(name):
    assert untranslated_literals((ROOT / "templates" / name).read_text()) == []


def test_no_sentence_for_people_is_an_f_string():
    """N6: an f-string never reaches the catalogue, so it stays English on a Spanish page.
    Messages, toasts and error sentences go through gettext with placeholders."""
    pattern = re.compile(r"""(["']message["']\]?\s*[:=]\s*f["']|_invalid\([^)]*,\s*f["']"""
                         r"""|toast\(\s*f["']|(?:BadRequest|Conflict|NotFound|Forbidden)\(\s*f["'])""")
    found = [f"{path.relative_to(ROOT)}:{number}"
             for path in sorted((ROOT / "app").rglob("*.py"))
             for number, line in enumerate(path.read_text().splitlines(), 1)
             if pattern.search(line)]
    assert not found, found


def test_an_undo_in_the_gallery_says_so_in_spanish(app, make_user):
    make_user("rosa")
    browser = Browser(app.test_client(), "rosa", USER_PASSWORD)
    assert browser.request("POST", "/account/language",
                           data={"language": "es"}).status_code == 204
    assert browser.upload(png_bytes(), "playa.png").status_code == 201
    with app.app_context():
        from app.core.extensions import db
        from app.images.models import Image

        image_id = db.session.execute(db.select(Image.id)).scalar_one()
    assert browser.request("DELETE", f"/images/{image_id}",
                           headers={"X-Confirm-Delete": "yes"}).status_code == 200
    restored = browser.request("POST", f"/images/{image_id}/restore")
    assert restored.status_code == 200
    assert "«playa.png» ha vuelto a la galería." in restored.text
