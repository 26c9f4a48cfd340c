"""Step 3: documentation. Swagger UI at /docs/, a valid Swagger 2.0 spec at /apispec.json; the
Socket.IO events in AsyncAPI 3 at /asyncapi.json, rendered at /docs/events."""
import json
import pathlib
import re
import shutil
import subprocess

import jsonschema
import requests
from openapi_spec_validator import validate

from test_step9_processes import needs

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


# --- The events: AsyncAPI 3 at /asyncapi.json, rendered at /docs/events -------------------------

PARSER = pathlib.Path(__file__).parent / "asyncapi"  # the official parser: npm ci --prefix tests/asyncapi


def test_the_events_document_is_asyncapi_3_about_this_server(client):
    document = client.get("/asyncapi.json", base_url="http://chat.example:8080").get_json()
    assert document["asyncapi"] == "3.0.0"
    assert document["servers"]["chat-live"] == {"host": "chat.example:8080", "protocol": "ws",
                                                "pathname": "/socket.io/"}
    assert document["channels"]["chat"]["address"] == "/"  # the default namespace
    assert "[/docs/](/docs/)" in document["info"]["description"]  # and back: the REST docs link here
    assert "[/docs/events](/docs/events)" in client.get("/apispec.json").get_json()["info"]["description"]


def test_the_official_parser_finds_nothing_wrong_with_the_events_document(client):
    needs(shutil.which("node") and (PARSER / "node_modules" / "@asyncapi" / "parser").exists(),
          "AsyncAPI's parser", "install Node.js and npm, then npm ci --prefix tests/asyncapi")
    document = client.get("/asyncapi.json").get_data(as_text=True)
    checked = subprocess.run(["node", str(PARSER / "validate.js")], input=document, capture_output=True,
                             text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    found = json.loads(checked.stdout)
    assert found["parsed"]
    # "information" is only the parser's news that AsyncAPI 3.1 exists; we write 3.0 as asked.
    assert [d for d in found["diagnostics"] if d["severity"] in ("error", "warning")] == []


def test_every_example_in_the_events_document_fits_its_schema(client):
    """Each message's examples, the Message schema's own (one per property), and every reason a
    connect_error gives. Checkpoint 3 has no events yet: from step 4 on, every test run checks some."""
    document = client.get("/asyncapi.json").get_json()
    for message in document["channels"]["chat"]["messages"].values():
        validator = jsonschema.Draft7Validator(message["payload"])
        validator.check_schema(message["payload"])  # a valid JSON Schema (draft 7), to begin with
        for example in message.get("examples", []):
            validator.validate(example["payload"])
    for schema in document["components"]["schemas"].values():  # the Message: its properties' examples
        example = {name: field["example"] for name, field in schema["properties"].items()}
        jsonschema.Draft7Validator(schema).validate(example)
    refused = document["channels"]["chat"]["messages"].get("receive_connect_reply")
    for reason in (refused["payload"]["properties"]["message"]["examples"] if refused else []):
        jsonschema.Draft7Validator(refused["payload"]).validate({"message": reason})


def test_the_events_page_loads_nothing_from_outside(client):
    page = client.get("/docs/events")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    resources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert [url for url in resources if not url.startswith(("/", "data:"))] == []
    assert {"/docs/", "/asyncapi.json", "/static/asyncapi/asyncapi-react.standalone.js",
            "/static/asyncapi/asyncapi-react.min.css"} <= set(resources)
    for url in resources:
        if url.startswith("/"):
            with client.get(url) as response:
                assert response.status_code == 200, url
    assert (pathlib.Path(__file__).parent.parent / "static" / "asyncapi" / "LICENSE").exists()


def test_the_events_page_renders_every_event_in_a_browser(start_server, browser):
    """AsyncAPI's renderer, offline: every operation and the name of every event are on the page, no
    console error, and nothing asked of another host."""
    server = start_server()
    document = requests.get(server.url + "/asyncapi.json", timeout=5).json()
    page, problems, hosts = watched_page(browser)
    try:
        page.goto(server.url + "/docs/")  # the REST docs link to the events (in a new tab)
        page.wait_for_selector("a[href='/docs/events']", timeout=15_000)
        page.goto(server.url + "/docs/events")
        page.wait_for_function("() => document.getElementById('asyncapi').innerText.includes('Servers')",
                               timeout=15_000)
        page.wait_for_load_state("networkidle", timeout=15_000)
        ids = set(page.eval_on_selector_all("[id^=operation-]", "elements => elements.map(e => e.id)"))
        text = page.eval_on_selector("#asyncapi", "main => main.textContent")  # collapsed parts too
        page.click("a[href='/docs/']")  # and back
        page.wait_for_selector(".opblock-summary-path", timeout=15_000)
    finally:
        page.close()
    for key, operation in document["operations"].items():
        action = "reply" if "reply" in operation else operation["action"]
        assert f"operation-{action}-{key}" in ids, key
    for message in document["channels"]["chat"]["messages"].values():
        assert message["name"] in text and message["summary"] in text, message["name"]
    assert text.count("Expected Reply Message") == sum("reply" in o for o in document["operations"].values())
    assert problems == []
    assert hosts == {f"127.0.0.1:{server.port}"}
