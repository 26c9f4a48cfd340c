"""Step 3: documentation. Swagger UI at /docs/, a valid Swagger 2.0 spec at /apispec.json."""
import re

import pytest
import requests
from openapi_spec_validator import validate

from test_step4_page import browser  # noqa: F401  (the headless Chromium fixture)



@pytest.fixture
def spec(client):
    response = client.get("/apispec.json")
    assert response.status_code == 200
    return response.get_json()


def test_the_spec_is_valid_swagger_2(spec):
    assert spec["swagger"] == "2.0"
    validate(spec)  # raises on any schema error


def test_the_spec_names_every_route(app, spec):
    ours = {rule.rule for rule in app.url_map.iter_rules()
            if rule.endpoint != "static" and not rule.endpoint.startswith("flasgger")
            and rule.rule not in ("/docs/", "/apispec.json")}
    assert ours == set(spec["paths"])


def test_every_operation_has_a_summary_and_documented_responses(spec):
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            assert operation.get("summary"), f"{method} {path}"
            for status, response in operation["responses"].items():
                assert response["description"], f"{method} {path} {status}"
                if status != "200" or path != "/":
                    assert "schema" in response, f"{method} {path} {status}"


def test_messages_parameters_carry_their_bounds(spec):
    params = {p["name"]: p for p in spec["paths"]["/messages"]["get"]["parameters"]}
    assert (params["limit"]["minimum"], params["limit"]["maximum"], params["limit"]["default"]) == (1, 200, 50)
    assert params["before"]["type"] == params["after"]["type"] == "integer"
    assert params["before"]["minimum"] == 0


def test_the_message_example_is_the_contracts_shape(spec):
    message = spec["definitions"]["Message"]
    assert set(message["required"]) == {"id", "author", "text", "created_at"}
    example = {k: v["example"] for k, v in message["properties"].items()}
    assert example["created_at"].endswith("Z")


def test_the_socket_events_are_documented(spec):
    description = spec["info"]["description"]
    for event in ("event_message", "new_message", "message_error", "presence", "connect_error"):
        assert f"`{event}`" in description


def test_the_docs_page_loads_nothing_from_outside(client):
    page = client.get("/docs/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "swagger-ui" in html and "/apispec.json" in html
    # Every stylesheet, script, image or font comes from this server.
    resources = re.findall(r'(?:src|href)="([^"]+)"', html)
    loaded = [url for url in resources if not url.startswith(("/", "data:", "#"))]
    assert [url for url in loaded if not url.startswith("https://github.com/")] == []
    assert "fonts.googleapis.com" not in html
    for url in resources:
        if url.startswith("/"):
            with client.get(url) as response:  # static files must be closed
                assert response.status_code == 200, url


def test_docs_without_slash_redirects(client):
    response = client.get("/docs")
    assert response.status_code == 308 and response.headers["Location"].endswith("/docs/")


def test_try_it_out_example_works(client, spec):
    # What Swagger UI sends with the documented defaults.
    limit = {p["name"]: p for p in spec["paths"]["/messages"]["get"]["parameters"]}["limit"]["default"]
    assert client.get(f"/messages?limit={limit}").status_code == 200


@pytest.mark.parametrize("auth_required", ["false", "true"])
def test_schemathesis_finds_no_5xx_and_no_response_outside_the_spec(start_server, auth_required, tmp_path):
    """Property-based requests generated from the live spec; every answer must match it."""
    import subprocess
    import sys

    import requests

    server = start_server(AUTH_REQUIRED=auth_required)
    credentials = {"username": "fuzzer", "password": "correct horse"}
    requests.post(server.url + "/auth/register", json=credentials, timeout=5)
    token = requests.post(server.url + "/auth/login", json=credentials, timeout=5).json()["access_token"]
    result = subprocess.run(
        [sys.executable, "-m", "schemathesis.cli", "run", server.url + "/apispec.json",
         "--checks", "all",
         # Swagger 2.0 cannot say "before and after are exclusive", so that valid-looking pair is a 400.
         "--exclude-checks", "positive_data_acceptance",
         "--max-examples", "25", "--workers", "1", "--seed", "1",
         "--header", f"Authorization: Bearer {token}"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path)  # it writes a cache folder
    assert result.returncode == 0, result.stdout[-4000:]
    assert "passed" in result.stdout


def test_the_authorize_button_and_the_locks(spec):
    assert spec["securityDefinitions"]["Bearer"] == {"type": "apiKey", "name": "Authorization", "in": "header"}
    assert {"Bearer": []} in spec["paths"]["/auth/me"]["get"]["security"]
    assert {"Bearer": []} in spec["paths"]["/messages"]["get"]["security"]
    login = spec["paths"]["/auth/login"]["post"]
    assert login["parameters"][0]["schema"] == {"$ref": "#/definitions/Credentials"}


def test_the_error_example_is_what_the_server_says(client, spec):
    example = spec["definitions"]["Error"]["properties"]["error"]["example"]
    assert client.get("/messages?limit=0").get_json() == {"error": example}


def test_the_docs_page_renders_in_a_browser_with_no_console_error(start_server, browser):
    """Swagger UI really renders every route, logs no error and asks nothing of another host."""
    server = start_server()
    page = browser.new_page()
    problems, hosts = [], set()
    page.on("console", lambda message: message.type == "error" and problems.append(message.text))
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("request", lambda request: hosts.add(request.url.split("/")[2]))
    try:
        page.goto(server.url + "/docs/")
        page.wait_for_selector(".opblock-summary-path", timeout=15_000)
        paths = page.locator(".opblock-summary-path").all_inner_texts()
        page.wait_for_load_state("networkidle", timeout=15_000)
    finally:
        page.close()
    spec = requests.get(server.url + "/apispec.json", timeout=5).json()
    assert sorted(path.replace("\u200b", "") for path in paths) == sorted(
        path for path, operations in spec["paths"].items() for _ in operations)
    assert problems == []
    assert hosts == {f"127.0.0.1:{server.port}"}
