"""Exercise message-search (step 5): GET /messages/search?q= finds the messages whose text contains q."""
import re


def send(live, client, *texts):
    """Send each text as an event_message and wait until the server has saved it."""
    for text in texts:
        reply = live.answer(client, "event_message", {"text": text})
        assert reply.get("ok") is True, f"the chat refused the message {text!r}: {reply}"


def search(live, q):
    """The answer of GET /messages/search?q=..., which must be a 200 with a JSON array."""
    response = live.get("/messages/search", params={"q": q})
    shown = q if len(q) <= 20 else f"{q[:10]}... ({len(q)} characters)"
    route = " (is there such a route?)" if response.status_code == 404 else ""
    assert response.status_code == 200, (
        f"GET /messages/search?q={shown} answered {response.status_code}, not 200{route}: {response.text[:200]}")
    found = response.json()
    assert isinstance(found, list), f"GET /messages/search?q={shown} should answer a JSON array of messages: {found}"
    return found


def test_the_search_finds_the_newest_matching_messages_in_any_case(live):
    ana = live.join("ana")
    send(live, ana, "Hola mundo", "adiós", "HOLA otra vez", "nothing here", "ahola, hola")
    found = search(live, "hola")
    history = live.get("/messages").json()
    wanted = [message for message in history if "hola" in message["text"].lower()]
    assert [message.get("text") for message in found] == [message["text"] for message in wanted], (
        "a search for hola should find the messages that contain hola in any case (Hola, HOLA, ahola), oldest "
        f"first, and no others; it found {[message.get('text') for message in found]}")
    assert found == wanted, "the messages a search finds should look exactly like those of GET /messages"
    assert search(live, "HOLA") == wanted, "a search for HOLA should find the same messages as one for hola"
    assert search(live, "zebra") == [], "a search for a word no message contains should answer []"
    send(live, ana, *(f"hola {number}" for number in range(50)))
    texts = [message.get("text") for message in search(live, "hola")]
    assert texts == [f"hola {number}" for number in range(50)], (
        f"with 53 messages containing hola, a search should answer the newest 50, oldest first; it answered "
        f"{len(texts)}, from {texts[0] if texts else None!r} to {texts[-1] if texts else None!r}")


def test_percent_and_underscore_in_the_search_match_only_themselves(live):
    ana = live.join("ana")
    send(live, ana, "100% sure", "100 sure", "snake_case", "snakeXcase")
    texts = [message.get("text") for message in search(live, "0%")]
    assert texts == ["100% sure"], (
        f"a search for 0% should find only '100% sure'; it found {texts}: is % in q read as a LIKE wildcard?")
    texts = [message.get("text") for message in search(live, "e_c")]
    assert texts == ["snake_case"], (
        f"a search for e_c should find only 'snake_case'; it found {texts}: is _ in q read as a LIKE wildcard?")


def test_a_missing_empty_or_too_long_q_is_a_400_that_names_q(live):
    for params, why in (({}, "no q"), ({"q": ""}, "an empty q"), ({"q": "x" * 101}, "a q of 101 characters")):
        response = live.get("/messages/search", params=params)
        route = " (is there such a route?)" if response.status_code == 404 else ""
        assert response.status_code == 400, f"a search with {why} should be a 400; it answered {response.status_code}{route}"
        error = response.json().get("error") if "json" in response.headers.get("Content-Type", "") else None
        assert isinstance(error, str) and re.search(r"\bq\b", error), (
            f'a search with {why} should answer JSON {{"error": ...}} that names q; it answered {response.text[:200]}')
    search(live, "x" * 100)  # 100 characters are still a search


def test_the_search_is_on_the_docs_page(live):
    paths = live.get("/apispec.json").json().get("paths", {})
    parameters = paths.get("/messages/search", {}).get("get", {}).get("parameters", [])
    assert "q" in [parameter.get("name") for parameter in parameters], (
        "GET /messages/search is not on /docs/ with its parameter q: write its YAML in the docstring, like get_messages()")
