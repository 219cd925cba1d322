"""No secret is committed: passwords come from the environment or files outside the
repository. A scan of the tracked files for secret files, private keys, tokens in known
formats, URLs with a password and passwords assigned in code or configuration; the obvious
placeholders of documentation and the marked values of tests are allowed."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from twin.core.settings import mask_url

ROOT = Path(__file__).resolve().parent.parent
SKIP_DIRS = {".git", "node_modules", "__pycache__", ".venv", ".ruff_cache", ".pytest_cache"}
SECRET_FILES = re.compile(
    r"(^|/)(\.env(\..*)?|.*\.(secret|pem|key|p12|pfx|jks|keystore)|pg-pwfile|id_(rsa|ed25519))$"
)
PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")
TOKENS = re.compile(
    r"\b(AKIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{36}|glsa_[A-Za-z0-9]{32}_[0-9a-f]{8}"
    r"|xox[abprs]-[A-Za-z0-9-]{10,}|sk-[A-Za-z0-9]{32,})\b"
)
URL_PASSWORD = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s/:@'\"]+:([^\s@'\"/]+)@")
ASSIGNED = re.compile(
    r"(?i)\b[\w.-]*(password|passwd|secret|token)[\w.-]*\b[\"']?\s*[:=]\s*[\"']([^\"'\s]{6,})[\"']"
)
# What documentation and tests may write where a secret would go: placeholders, variables
# and values marked as fake.
PLACEHOLDER = re.compile(
    r"(?i:^(\.\.\.|\*+|[$<{%].*|.*[}>]|pw|p|x|pass|none|null|changeme)$"
    r"|test|example|dummy|fake|s[e3]cret|password|hunter2)"
    r"|^[A-Z][A-Z0-9_]+$"  # the name of the variable that holds the secret
)
# Not secrets, though they look like ones: (file, what matched) -> why.
ALLOWED: dict[tuple[str, str], str] = {}


def _tracked_files() -> list[Path]:
    if (ROOT / ".git").exists() and shutil.which("git"):
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        ).stdout
        return [ROOT / name for name in listed.decode().split("\0") if name]
    return [
        p for p in ROOT.rglob("*") if p.is_file() and not SKIP_DIRS & set(p.relative_to(ROOT).parts)
    ]


FILES = _tracked_files()


def _text(path: Path) -> str | None:
    data = path.read_bytes()
    return None if b"\0" in data[:4096] else data.decode("utf-8", errors="replace")


def test_the_scan_sees_the_repository():
    names = {p.relative_to(ROOT).as_posix() for p in FILES}
    assert {"README.md", "docker-compose.yml", "ingest/store/roles.py"} <= names


def test_no_secret_files_are_tracked():
    found = [p for p in FILES if SECRET_FILES.search(p.relative_to(ROOT).as_posix())]
    assert not found, f"secret files in the repository: {found}"


@pytest.mark.parametrize(
    ("line", "secret"),
    [
        ("url = postgresql://twin:Zq8v_Wm2xT@db:5432/twin", True),
        ('password = "Zq8v_Wm2xT4k"', True),
        ("GF_SECURITY_ADMIN_PASSWORD: 'Zq8v_Wm2xT4k'", True),
        ("-----BEGIN RSA PRIVATE KEY-----", True),
        ("token ghp_" + "a1B2" * 9, True),
        ("url = postgresql://twin:${POSTGRES_PASSWORD:?set it}@db:5432/twin", False),
        ("postgresql://twin:secret@db.example:5432/twin", False),
        ("postgresql://twin:...@db.example:5432/twin", False),
        ('f"postgresql://twin:{owner_pw}@127.0.0.1:{PG_PORT}/twin"', False),
        ('DB_PASSWORD = "s3cret-db-password"', False),
    ],
)
def test_the_scan_tells_secrets_from_placeholders(line, secret):
    assert bool(_findings(line)) is secret


def _findings(text: str) -> list[str]:
    found = [m.group(0) for m in (*PRIVATE_KEY.finditer(text), *TOKENS.finditer(text))]
    for pattern, group in ((URL_PASSWORD, 1), (ASSIGNED, 2)):
        found += [m.group(0) for m in pattern.finditer(text) if not PLACEHOLDER.search(m[group])]
    return found


def test_no_passwords_keys_or_tokens_in_tracked_files():
    found = {}
    for path in FILES:
        text = _text(path) if path.is_file() else None
        name = path.relative_to(ROOT).as_posix()
        if name == "tests/test_secrets.py":  # its examples are secrets on purpose
            continue
        hits = [h for h in _findings(text) if (name, h) not in ALLOWED] if text else []
        if hits:
            found[name] = hits
    assert not found, f"committed secrets (use the environment or a file outside): {found}"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://u:p@ss@h:5432/db", "postgresql://u:***@h:5432/db"),  # unencoded @
        (
            "postgresql://u@h/db?password=hunter2&sslmode=require",
            "postgresql://u@h/db?password=***&sslmode=require",
        ),
        (
            "postgresql://u@h/db?sslmode=require&PassWord=hunter2",
            "postgresql://u@h/db?sslmode=require&PassWord=***",
        ),
        (
            "postgresql://u:pw@/db?host=/run&password=x",
            "postgresql://u:***@/db?host=/run&password=***",
        ),
        ("postgresql://h/db", "postgresql://h/db"),
    ],
)
def test_mask_url_hides_every_password(url, shown):
    assert mask_url(url) == shown
