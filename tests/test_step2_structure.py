"""Step 2: structure. One module whose banners follow the tutorial's steps; every error is JSON."""
import pathlib
import re

import pytest

import app as chat


def test_the_module_reads_in_tutorial_order():
    """Each step opens with a banner, `# --- Step N: ...`, and the steps come in order."""
    source = pathlib.Path(chat.__file__).read_text()
    steps = [int(n) for n in re.findall(r"^# --- Step (\d+): ", source, re.M)]
    assert steps[:2] == [1, 2] and steps == list(range(1, len(steps) + 1))


@pytest.mark.parametrize("method, path, status", [
    ("get", "/no-such-page", 404),
    ("post", "/", 405),
    ("delete", "/", 405),
])
def test_http_errors_are_json(client, method, path, status):
    response = getattr(client, method)(path)
    assert response.status_code == status
    assert response.is_json
    assert isinstance(response.get_json()["error"], str) and response.get_json()["error"]


def test_a_wrong_method_says_which_methods_are_allowed(client):
    response = client.put("/")
    assert response.status_code == 405 and response.is_json
    assert set(response.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS"}


def test_an_unexpected_error_is_a_json_500_without_traceback(client, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setitem(chat.app.view_functions, "index", broken)
    response = client.get("/")
    assert response.status_code == 500
    assert response.get_json() == {"error": "internal server error"}
    assert b"secret internals" not in response.data and b"Traceback" not in response.data


