"""Exercise me-action (step 7): "/me waves" is saved and sent as the action "waves", with action true."""


def test_a_me_message_arrives_as_an_action(live):
    ana, bob = live.join("ana"), live.join("bob")
    reply = live.answer(ana, "event_message", {"text": "/me waves"})
    assert reply.get("ok") is True, f'the message "/me waves" was refused: {reply}'
    shown = {key: reply["message"].get(key) for key in ("author", "text", "action")}
    assert shown == {"author": "ana", "text": "waves", "action": True}, (
        f'the ack of "/me waves" should hold a message by ana with text waves and action true; it holds {shown}')
    (received,) = live.wait_for(bob, "new_message", "bob never received ana's /me message as a new_message")
    shown = {key: received.get(key) for key in ("author", "text", "action")}
    assert shown == {"author": "ana", "text": "waves", "action": True}, (
        f'bob should receive "/me waves" as text waves with action true; he received {shown}')


def test_the_history_keeps_actions_and_ordinary_messages_apart(live):
    ana = live.join("ana")
    live.answer(ana, "event_message", {"text": "/me waves"})
    live.answer(ana, "event_message", {"text": "hola"})
    history = live.get("/messages").json()
    shown = [{key: message.get(key) for key in ("text", "action")} for message in history]
    assert shown == [{"text": "waves", "action": True}, {"text": "hola", "action": False}], (
        f'GET /messages should show "/me waves" as text waves with action true, then hola with action false; '
        f"it shows {shown}")


def test_an_ordinary_message_says_it_is_not_an_action(live):
    ana, bob = live.join("ana"), live.join("bob")
    reply = live.answer(ana, "event_message", {"text": "hola /me"})
    assert reply.get("ok") is True, f"an ordinary message was refused: {reply}"
    assert reply["message"].get("action") is False, (
        f'the ack of an ordinary message should say "action": false; its message is {reply["message"]}')
    (received,) = live.wait_for(bob, "new_message", "bob never received ana's ordinary message")
    assert received.get("action") is False, (
        f'an ordinary new_message should say "action": false; bob received {received}')
    assert received.get("text") == "hola /me", f"an ordinary message's text was changed: bob received {received}"


def test_an_empty_action_is_refused_and_not_saved(live):
    ana, bob = live.join("ana"), live.join("bob")
    for text in ("/me", "/me   "):
        reply = live.answer(ana, "event_message", {"text": text})
        assert reply.get("ok") is False and reply.get("error"), (
            f"the empty action {text!r} was accepted; it should be refused with an error: {reply}")
    errors = live.wait_for(ana, "message_error", "ana got no message_error for her empty actions", count=2)
    assert all(error.get("error") for error in errors), f"a message_error should say why: {errors}"
    # A message after them: once bob has that one, he would have had the refused ones too.
    later = live.answer(ana, "event_message", {"text": "still here"})
    live.wait_for(bob, "new_message", "after the refused empty actions, the chat stopped working",
                  where=lambda message: message.get("text") == "still here")
    assert len(bob.received("new_message")) == 1, (
        f"a refused empty action still went out as a new_message: bob received {bob.received('new_message')}")
    assert later["message"]["id"] == 1, (
        f"a refused empty action was saved: the next message got id {later['message']['id']}, not 1")
