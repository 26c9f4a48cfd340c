"""Exercise no-echo (step 5): a client that connects with `"echo": false` does not get its own messages
back as new_message; everyone else still does, and the message is saved."""
import json

import pytest
import websocket

from conftest import NEVER


def texts(client):
    """The texts of the new_message events `client` has received so far."""
    return [message.get("text") for message in client.received("new_message")]


def test_with_echo_off_the_sender_does_not_get_its_own_message_back(live):
    ana, bob = live.join("ana", echo=False), live.join("bob")
    reply = live.answer(ana, "event_message", {"text": "hola"})
    assert reply.get("ok") is True and reply.get("message", {}).get("text") == "hola", (
        f"with echo off, the ack should still carry the saved message: {reply}")
    live.wait_for(bob, "new_message", "bob never received the message ana sent with echo off",
                  where=lambda message: message.get("text") == "hola")
    # bob's answer comes after: once ana has it, she would have had her own message too.
    live.answer(bob, "event_message", {"text": "hola, ana"})
    live.wait_for(ana, "new_message", "ana (echo off) never received bob's message: echo off should skip "
                  "only her own messages",
                  where=lambda message: message.get("text") == "hola, ana")
    assert "hola" not in texts(ana), "ana connected with echo false, yet her own message came back as new_message"
    history = [message.get("text") for message in live.get("/messages").json()]
    assert history == ["hola", "hola, ana"], f"GET /messages should hold both messages, in order: {history}"


def test_echo_stays_on_for_everyone_who_did_not_turn_it_off(live):
    quiet, other_tab = live.join("ana", echo=False), live.join("ana")
    bea, cai = live.join("bea", echo=True), live.join("cai")
    live.answer(bea, "event_message", {"text": "from bea"})
    live.wait_for(bea, "new_message", "bea connected with echo true, but her own message did not come back",
                  where=lambda message: message.get("text") == "from bea")
    live.answer(cai, "event_message", {"text": "from cai"})
    live.wait_for(cai, "new_message", "cai connected without echo, but his own message did not come back: "
                  "echo is on unless a client turns it off",
                  where=lambda message: message.get("text") == "from cai")
    live.answer(quiet, "event_message", {"text": "from quiet ana"})
    live.wait_for(other_tab, "new_message", "ana's other tab (echo on) never got the message her quiet tab "
                  "sent: echo off skips one connection, not a name",
                  where=lambda message: message.get("text") == "from quiet ana")
    live.answer(cai, "event_message", {"text": "after"})
    live.wait_for(quiet, "new_message", "ana's quiet tab never received cai's later message",
                  where=lambda message: message.get("text") == "after")
    assert "from quiet ana" not in texts(quiet), "the tab that connected with echo false got its own message back"


def refusal(live, auth):
    """The reason the server gives (its connect_error) for refusing a connect with this handshake auth, or
    None if it lets the client in. A bare websocket, like conftest's RawClient, that asks and hangs up."""
    ws = websocket.create_connection(f"ws://127.0.0.1:{live.server.port}/socket.io/?EIO=4&transport=websocket",
                                     timeout=NEVER)
    try:
        ws.recv()  # Engine.IO "open"
        ws.send("40" + json.dumps(auth))  # Socket.IO "connect", with the auth object
        reply = ws.recv()  # "40{sid}": let in; "44{message}": refused, the reason for connect_error
    except (OSError, websocket.WebSocketException):
        pytest.fail(f"the server neither let in nor refused a client connecting with {auth}: does on_connect "
                    "fail with an error other than ConnectionRefusedError?", pytrace=False)
    finally:
        ws.shutdown()  # at once: close() would wait for the server's goodbye
    return json.loads(reply[2:]).get("message", "") if reply.startswith("44") else None


def test_an_echo_that_is_not_true_or_false_is_refused_at_connect(live):
    for echo in ("false", 0, "no"):
        reason = refusal(live, {"name": "ana", "echo": echo})
        shown = json.dumps(echo)
        assert reason is not None, f"a client that connected with echo {shown}, not true or false, was let in"
        assert "echo" in reason, f"the refusal of echo {shown} should say that echo is the problem: {reason!r}"
    ana = live.join("ana", echo=False)
    bob = live.join("bob", echo=True)
    live.answer(ana, "event_message", {"text": "still here"})
    live.wait_for(bob, "new_message", "after the refused connects, the chat stopped working",
                  where=lambda message: message.get("text") == "still here")
