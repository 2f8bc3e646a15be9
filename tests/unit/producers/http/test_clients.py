"""Who may send activity over HTTP: the clients file and the Authorization header."""

from __future__ import annotations

import base64

import pytest

from producers.http.clients import ClientsError, authenticate, load_clients, new_token, parse_clients, token_hash

TOKEN = "s3cret-token-of-the-attendance-system"


def clients(**overrides):
    table = {"name": "attendance", "kind": "xapi", "sources": ["attendance"], "token_sha256": token_hash(TOKEN), **overrides}
    return parse_clients({"client": [table]}, where="clients.toml")


def test_a_client_is_found_by_bearer_token_or_basic_auth_and_nothing_else():
    known = clients()
    assert authenticate(f"Bearer {TOKEN}", known).name == "attendance"
    assert authenticate("Basic " + base64.b64encode(f"attendance:{TOKEN}".encode()).decode(), known).name == "attendance"
    for header in (None, "", f"Bearer {TOKEN}x", "Basic " + base64.b64encode(f"moodle:{TOKEN}".encode()).decode(), "Basic !!!", f"Token {TOKEN}"):
        assert authenticate(header, known) is None, header


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"kind": "soap"}, "kind must be one of xapi, caliper, events"),
        ({"sources": ["gym"]}, "sources must be a non-empty list"),
        ({"sources": []}, "sources must be a non-empty list"),
        ({"token_sha256": "abc"}, "64 hex digits"),
        ({"name": "a:b"}, "without ':'"),
        ({"token_file": "x"}, "exactly one of token_sha256 and token_file"),
    ],
)
def test_a_bad_client_is_refused_with_one_line_naming_it(overrides, problem):
    with pytest.raises(ClientsError, match=problem) as caught:
        clients(**overrides)
    assert "\n" not in str(caught.value) and "clients.toml" in str(caught.value)


def test_a_token_file_is_read_relative_to_the_clients_file_and_never_kept(tmp_path):
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "moodle").write_text(TOKEN + "\n")
    path = tmp_path / "clients.toml"
    path.write_text('[[client]]\nname = "moodle"\nkind = "xapi"\nsources = ["vle", "coursework"]\ntoken_file = "secrets/moodle"\n')
    known = load_clients(path)
    assert authenticate(f"Bearer {TOKEN}", known).sources == {"vle", "coursework"}
    assert TOKEN not in repr(known)
    (tmp_path / "secrets" / "moodle").write_text("short")
    with pytest.raises(ClientsError, match="shorter than 16"):
        load_clients(path)


def test_a_missing_or_broken_file_is_one_line(tmp_path):
    with pytest.raises(ClientsError, match="cannot read"):
        load_clients(tmp_path / "nope.toml")
    (tmp_path / "bad.toml").write_text("[[client]\n")
    with pytest.raises(ClientsError, match="not valid TOML"):
        load_clients(tmp_path / "bad.toml")
    with pytest.raises(ClientsError, match="no \\[\\[client\\]\\] tables"):
        parse_clients({}, where="empty.toml")


def test_a_new_token_matches_its_hash_line():
    token, line = new_token("panopto")
    assert token_hash(token) in line and "panopto" in line and len(token) >= 40
