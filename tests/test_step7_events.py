"""Step 7: the events, documented for Postman: AsyncAPI 3 at /asyncapi.json, rendered at /docs/events,
and every event of the code in it."""
import json
import pathlib
import re
import shutil
import subprocess

import jsonschema
import requests

import app as chat
from test_step10_processes import needs
from test_step3_docs import watched_page

from page import browser  # noqa: F401  (the headless Chromium fixture)


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
    connect_error gives."""
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


def test_the_message_example_is_the_contracts_shape(spec):
    message = spec["definitions"]["Message"]
    assert {"id", "author", "text", "created_at"} <= set(message["required"])  # and room, from step 12
    example = {k: v["example"] for k, v in message["properties"].items()}
    assert example["created_at"].endswith("Z")


def events_in_the_code(source):
    """(action, event) for every handler (@socketio.on, "receive") and every event the server emits
    ("send"), read from app.py's source: the catch-all "*" of step 11 names no event."""
    received = re.findall(r'^@socketio\.on\("([^"]+)"\)', source, re.MULTILINE)
    sent = re.findall(r'\bemit\(\s*"([^"]+)"', source)
    return {("receive", event) for event in received if event != "*"} | {("send", event) for event in sent}


def events_in_the_document(document):
    """(action, event name) of every operation of the AsyncAPI document (its replies are acks)."""
    messages = document["channels"]["chat"]["messages"]
    return {(operation["action"], messages[reference["$ref"].split("/")[-1]]["name"])
            for operation in document["operations"].values() for reference in operation["messages"]}


def test_every_socket_event_is_documented_and_nothing_else(client):
    """Add a handler or an emit without document_event(), or document one that is gone: this fails."""
    source = pathlib.Path(chat.__file__).read_text()
    in_the_code = events_in_the_code(source)
    assert {("receive", "event_message"), ("send", "new_message"), ("send", "message_error"),
            ("send", "presence"), ("receive", "connect"), ("receive", "disconnect")} <= in_the_code
    assert events_in_the_document(client.get("/asyncapi.json").get_json()) == in_the_code


def test_the_events_and_the_rest_api_share_one_message_schema(client):
    assert chat.ASYNCAPI["components"]["schemas"]["Message"] is chat.MESSAGE_SCHEMA
    assert chat.swagger.template["definitions"]["Message"] is chat.MESSAGE_SCHEMA
    assert chat.ASYNCAPI["channels"]["chat"]["messages"]["send_new_message"]["payload"] is chat.MESSAGE_SCHEMA
    document = client.get("/asyncapi.json").get_json()
    assert document["components"]["schemas"]["Message"] == client.get("/apispec.json").get_json()[
        "definitions"]["Message"]
    refused = document["channels"]["chat"]["messages"]["receive_connect_reply"]
    assert refused["name"] == "connect_error" and "examples" in refused["payload"]["properties"]["message"]
