"""Step 3: documentation. Swagger UI at /docs/, a valid Swagger 2.0 spec at /apispec.json."""
import re

import requests
from openapi_spec_validator import validate

from page import browser  # noqa: F401  (the headless Chromium fixture)


def test_the_spec_is_valid_swagger_2(spec):
    assert spec["swagger"] == "2.0"
    validate(spec)  # raises on any schema error


def test_the_spec_names_every_route(app, spec):
    ours = {re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)  # /messages/<int:id> is /messages/{id}
            for rule in app.url_map.iter_rules()
            if rule.endpoint != "static" and not rule.endpoint.startswith("flasgger")
            and rule.rule not in ("/docs/", "/apispec.json")}
    assert ours == set(spec["paths"])


def test_every_operation_has_a_summary_and_documented_responses(spec):
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            assert operation.get("summary"), f"{method} {path}"
            for status, response in operation["responses"].items():
                assert response["description"], f"{method} {path} {status}"
                json_answer = operation.get("produces", ["application/json"]) == ["application/json"]
                if json_answer and status != "204":  # pages and plain text have no schema; a 204 no body
                    assert "schema" in response, f"{method} {path} {status}"


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


def watched_page(browser):
    """A new browser page, and the lists it fills: console errors, and the hosts it asks anything of."""
    page = browser.new_page()
    problems, hosts = [], set()
    page.on("console", lambda message: message.type == "error" and problems.append(message.text))
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("request", lambda request: hosts.add(request.url.split("/")[2]))
    return page, problems, hosts


def test_the_docs_page_renders_in_a_browser_with_no_console_error(start_server, browser):
    """Swagger UI really renders every route, logs no error and asks nothing of another host."""
    server = start_server()
    page, problems, hosts = watched_page(browser)
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
