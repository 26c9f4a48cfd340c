"""Exercise author-colour (step 8): every message carries its author's colour, hsl(H, 65%, 40%), derived
from the name with a stable hash."""
import re

COLOUR = re.compile(r"hsl\((0|[1-9][0-9]{0,2}), 65%, 40%\)")


def colour_of(message, where):
    """The message's colour, after checking it is there and well formed."""
    colour = message.get("color")
    assert colour is not None, f"{where} has no color: {message}"
    found = COLOUR.fullmatch(str(colour))
    assert found and int(found.group(1)) < 360, (
        f"{where} has the color {colour!r}, not a CSS colour like hsl(210, 65%, 40%) with a hue from 0 to 359")
    return colour


def colour_sent(live, client, text):
    """Send a message and return the colour its ack gives it."""
    reply = live.answer(client, "event_message", {"text": text})
    assert reply.get("ok") is True, f"the message {text!r} was refused: {reply}"
    return colour_of(reply["message"], "the ack's message")


def test_every_message_carries_its_authors_colour(live):
    ana, bob = live.join("ana"), live.join("bob")
    sent = colour_sent(live, ana, "hola")
    (received,) = live.wait_for(bob, "new_message", "bob never received ana's message")
    assert colour_of(received, "the new_message bob received") == sent, (
        f"the ack said ana's colour is {sent}, but bob's new_message says {received.get('color')}")
    (kept,) = live.get("/messages").json()
    assert colour_of(kept, "the message in GET /messages") == sent, (
        f"the ack said ana's colour is {sent}, but GET /messages says {kept.get('color')}")


def test_an_author_keeps_their_colour_across_messages_and_restarts(live, start_server):
    ana = live.join("ana")
    first = colour_sent(live, ana, "uno")
    second = colour_sent(live, ana, "dos")
    assert second == first, f"ana's two messages got different colours: {first} and {second}"
    live.server.stop()
    live.server = start_server()  # another process on the same database: a restart; joins go there now
    for message in live.get("/messages").json():
        assert colour_of(message, "a message in GET /messages after a restart") == first, (
            f"after a restart ana's colour changed from {first} to {message.get('color')}: derive it with a "
            "stable hash, not Python's hash(), which changes in every process")
    again = live.join("ana")
    third = colour_sent(live, again, "tres")
    assert third == first, f"after a restart ana's new message got the colour {third}, not {first}"


def test_different_authors_get_different_colours(live):
    names = ["ana", "bob", "carla", "dani", "eva"]
    colours = {colour_sent(live, live.join(name), "hola") for name in names}
    # Any hash of the name spreads five names over at least three of the 360 hues; one colour for all
    # (or for most) means the colour does not come from the name.
    assert len(colours) >= 3, (f"five different authors got only {len(colours)} colours ({sorted(colours)}): "
                               "the colour should come from the author's name")
