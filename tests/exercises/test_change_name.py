"""Exercise change-name (step 4): `set_name` changes a connected client's name; presence and its later
messages follow, and a bad name changes nothing."""


def test_presence_follows_a_change_of_name(live):
    first_tab, other_tab, bob = live.join("ana"), live.join("ana"), live.join("bob")
    reply = live.answer(first_tab, "set_name", {"name": "anita"})
    assert reply == {"ok": True, "name": "anita"}, (
        f'set_name {{"name": "anita"}} should be acknowledged with {{"ok": true, "name": "anita"}}, not {reply}')
    live.wait_for(bob, "presence", "after one of ana's two tabs became anita, bob never got a presence listing "
                  "ana (her other tab still uses it), anita and bob",
                  where=lambda presence: presence.get("users") == ["ana", "anita", "bob"])
    live.answer(other_tab, "set_name", {"name": "anita"})
    (presence,) = live.wait_for(bob, "presence", "once both of ana's tabs were anita, bob never got a presence "
                                "with anita and bob and without ana",
                                where=lambda presence: presence.get("users") == ["anita", "bob"])
    assert presence.get("online") == 3, f"changing a name should not change how many are online (3): {presence}"


def test_later_messages_carry_the_new_name(live):
    renamed, other_tab, bob = live.join("ana"), live.join("ana"), live.join("bob")
    live.answer(renamed, "set_name", {"name": "anita"})
    reply = live.answer(renamed, "event_message", {"text": "soy anita"})
    assert reply.get("ok") is True, f"a message sent after set_name was refused: {reply}"
    (message,) = live.wait_for(bob, "new_message", "bob never received the message sent after set_name",
                               where=lambda message: message.get("text") == "soy anita")
    assert message.get("author") == "anita", (
        f"a message sent without an author after set_name should be signed anita, not {message.get('author')}")
    live.answer(other_tab, "event_message", {"text": "sigo siendo ana"})
    (message,) = live.wait_for(bob, "new_message", "bob never received the message from ana's other tab",
                               where=lambda message: message.get("text") == "sigo siendo ana")
    assert message.get("author") == "ana", (
        f"set_name renamed another tab too: ana's other tab signed its message {message.get('author')}, not ana")


def test_a_bad_name_is_refused_and_nothing_changes(live):
    ana, bob = live.join("ana"), live.join("bob")
    bad = (({"name": ""}, "an empty name"), ({"name": "   "}, "a name of spaces"),
           ({"name": "x" * 33}, "a name of 33 characters"), ({"name": 42}, "a name that is a number"),
           ({"name": "ana\nbob"}, "a name with a line break"), ({}, "no name"),
           ("anita", "a payload that is not an object"))
    for payload, why in bad:
        reply = live.answer(ana, "set_name", payload)
        assert reply.get("ok") is False and reply.get("error"), (
            f"set_name with {why} should be refused with an error in the ack: {reply}")
    live.wait_for(ana, "message_error", "a refused set_name should also send message_error to the sender",
                  count=len(bad))
    live.answer(ana, "event_message", {"text": "still me"})
    (message,) = live.wait_for(bob, "new_message", "after the refused names, ana's message never reached bob",
                               where=lambda message: message.get("text") == "still me")
    assert message.get("author") == "ana", f"a refused name changed ana's name: she now signs {message.get('author')}"
    assert bob.received("presence")[-1].get("users") == ["ana", "bob"], (
        f"a refused name changed the presence: {bob.received('presence')[-1]}")
    assert not bob.received("message_error"), "a refused name sent message_error to someone other than the sender"
