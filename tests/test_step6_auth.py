"""Step 6: optional JWT login. Accounts, tokens, and who may connect when AUTH_REQUIRED is on."""
import base64
import json
from datetime import timedelta

import jwt
import jwt as pyjwt
import pytest
import requests
import socketio
from flask_jwt_extended import create_access_token

import app as chat
from conftest import WAIT
from test_step4_gateway import count_messages, presence_when_online, real_client


@pytest.fixture
def auth_on(monkeypatch):
    monkeypatch.setitem(chat.app.config, "AUTH_REQUIRED", True)


def register_and_login(client, username="ana", password="correct horse"):
    assert client.post("/auth/register", json={"username": username, "password": password}).status_code == 201
    response = client.post("/auth/login", json={"username": username, "password": password})
    assert response.status_code == 200 and response.get_json()["username"] == username
    return response.get_json()["access_token"]


def mint(identity="ana", **kwargs):
    """A token for `identity`, whose account exists (step 11 refuses tokens of deleted accounts),
    naming the account's id as login does (step 11)."""
    with chat.app.app_context():
        user = chat.db.session.scalar(chat.db.select(chat.User).where(chat.User.username == identity))
        if not user:
            user = chat.User(username=identity, password_hash="not a real hash")
            chat.db.session.add(user)
            chat.db.session.commit()
        return create_access_token(identity=identity, additional_claims={"uid": user.id}, **kwargs)


def b64(data):
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def bad_tokens():
    """Tokens that must all be refused, by name."""
    good = mint()
    header, payload, signature = good.split(".")
    claims = pyjwt.decode(good, options={"verify_signature": False})
    return {
        "garbage": "not-a-jwt",
        "other key": pyjwt.encode(claims, "some-other-key-that-is-32-bytes-long!", algorithm="HS256"),
        "tampered": f"{header}.{b64({**claims, 'sub': 'admin'})}.{signature}",
        "alg none": f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}.",
        "expired": mint(expires_delta=timedelta(seconds=-1)),
    }


# --- Accounts -----------------------------------------------------------------------------------

def test_register_then_login(client):
    response = client.post("/auth/register", json={"username": "ana", "password": "correct horse"})
    assert response.status_code == 201
    assert response.get_json() == {"id": response.get_json()["id"], "username": "ana"}
    login = client.post("/auth/login", json={"username": "ana", "password": "correct horse"}).get_json()
    assert login["username"] == "ana"
    assert pyjwt.decode(login["access_token"], options={"verify_signature": False})["sub"] == "ana"


def test_passwords_are_stored_hashed(client):
    register_and_login(client, "ana", "correct horse")
    with chat.app.app_context():
        user = chat.db.session.scalar(chat.db.select(chat.User))
        assert "correct horse" not in user.password_hash
        assert user.password_hash.startswith(("scrypt:", "pbkdf2:"))


def test_a_taken_username_is_409(client):
    register_and_login(client)
    response = client.post("/auth/register", json={"username": "ana", "password": "another one"})
    assert response.status_code == 409 and response.get_json() == {"error": "username already taken"}


@pytest.mark.parametrize("body, error", [
    ({"username": "ana", "password": "short"}, "password must be 8-128 characters"),
    ({"username": "ana", "password": "x" * 129}, "password must be 8-128 characters"),
    ({"username": "ana"}, "password must be 8-128 characters"),
    ({"username": "", "password": "correct horse"}, "username must be"),
    ({"username": "a" * 33, "password": "correct horse"}, "username must be"),
    ({"username": "ana bea", "password": "correct horse"}, "username must be"),
    ({"username": "<b>ana</b>", "password": "correct horse"}, "username must be"),
    ({"username": 5, "password": "correct horse"}, "username must be"),
    (["ana", "correct horse"], "send a JSON object"),
    ("ana", "send a JSON object"),
])
def test_invalid_registrations_are_400(client, body, error):
    response = client.post("/auth/register", json=body)
    assert response.status_code == 400 and response.get_json()["error"].startswith(error)


def test_a_body_that_is_not_json_is_400(client):
    response = client.post("/auth/register", data="username=ana", content_type="text/plain")
    assert response.status_code == 400 and "error" in response.get_json()


def test_a_login_token_lasts_sixty_minutes_by_default(client):
    claims = pyjwt.decode(register_and_login(client), options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 60 * 60


def test_registration_works_with_auth_on(client, auth_on):
    assert register_and_login(client)


# --- REST with AUTH_REQUIRED=true --------------------------------------------------------------

def test_history_needs_a_token_when_auth_is_on(client, auth_on):
    response = client.get("/messages")
    assert response.status_code == 401 and "Missing Authorization Header" in response.get_json()["error"]
    token = register_and_login(client)
    assert client.get("/messages", headers={"Authorization": f"Bearer {token}"}).status_code == 200


@pytest.mark.parametrize("kind", ["garbage", "other key", "tampered", "alg none", "expired"])
def test_history_refuses_bad_tokens(client, auth_on, kind):
    """A JSON error and a 4xx: 401 for an expired one, 422 for one that cannot be read (step 9
    makes every token problem a 401)."""
    response = client.get("/messages", headers={"Authorization": f"Bearer {bad_tokens()[kind]}"})
    assert response.status_code in (401, 422) and response.get_json()["error"]


# --- Socket.IO with AUTH_REQUIRED=true ----------------------------------------------------------

@pytest.mark.parametrize("where", ["auth", "query"])  # and a header, from step 9 on
def test_the_token_sets_the_author_wherever_it_is_sent(client, connect, auth_on, where):
    token = register_and_login(client)
    place = {"auth": {"auth": {"token": token}}, "query": {"query_string": f"token={token}"}}[where]
    ana, other = connect(**place), connect(auth={"token": mint("bea")})
    assert ana.test_client.is_connected()
    ack = ana.emit("event_message", {"text": "hola", "author": "somebody else"})
    assert ack["ok"] is True and ack["message"]["author"] == "ana"
    assert other.wait_for("new_message")[0]["author"] == "ana"
    assert other.wait_for("presence")[-1]["users"] == ["ana", "bea"]


def test_presence_lists_a_logged_in_connection_under_its_username_not_its_handshake_name(connect):
    ana = connect(auth={"token": mint("ana"), "name": "pretender"})
    bea = connect(auth={"name": "bea"})
    assert presence_when_online(bea, 2)["users"] == ["ana", "bea"]  # "pretender" is nobody's name


@pytest.mark.parametrize("kind", ["missing", "garbage", "other key", "tampered", "alg none", "expired"])
def test_bad_tokens_cannot_connect(app, connect, auth_on, kind):
    token = None if kind == "missing" else bad_tokens()[kind]
    refused = chat.socketio.test_client(app, auth={"token": token, "name": "mallory"})
    assert not refused.is_connected() and chat.connections == {}
    assert count_messages() == 0
    assert connect(auth={"token": mint()}).emit("event_message", {"text": "still serving"})["ok"]


@pytest.mark.parametrize("token, reason", [
    (None, "missing token"), ("not-a-jwt", "invalid token"), ("", "missing token")])
def test_read_token_says_why(app, token, reason):
    with app.app_context():
        assert chat.read_token(token)[1].startswith(reason)
        assert chat.read_token(mint())[0] == "ana"
        assert chat.read_token(mint(expires_delta=timedelta(seconds=-1)))[1].startswith("expired token")


# --- With AUTH_REQUIRED off ---------------------------------------------------------------------

def test_with_auth_off_a_valid_token_still_sets_the_author(connect):
    ana = connect(auth={"token": mint("ana"), "name": "pretender"})
    assert ana.emit("event_message", {"text": "hi", "author": "bea"})["message"]["author"] == "ana"


def test_with_auth_off_anonymous_clients_chat_and_bad_tokens_are_ignored(connect, client):
    anonymous = connect(auth={"name": "zoe", "token": "garbage"})
    assert anonymous.emit("event_message", {"text": "hi"})["message"]["author"] == "zoe"
    assert client.get("/messages").status_code == 200


# --- End to end: a real server with AUTH_REQUIRED=true ------------------------------------------

def refusal(server, **kwargs):
    """Connect a real client that should be refused; return the connect_error reason."""
    reasons = []
    client = socketio.Client(reconnection=False)
    client.on("connect_error", reasons.append)
    with pytest.raises(socketio.exceptions.ConnectionError):
        client.connect(server.url, transports=["websocket"], wait_timeout=WAIT, **kwargs)
    client.disconnect()
    return reasons[0]["message"]  # what the JS client shows as err.message


def test_real_server_with_auth(start_server, async_mode):
    server = start_server(ASYNC_MODE=async_mode, AUTH_REQUIRED="true")
    credentials = {"username": "ana", "password": "correct horse"}
    assert requests.post(server.url + "/auth/register", json=credentials, timeout=WAIT).status_code == 201
    token = requests.post(server.url + "/auth/login", json=credentials, timeout=WAIT).json()["access_token"]
    assert requests.get(server.url + "/messages", timeout=WAIT).status_code == 401

    assert refusal(server) == "missing token: log in, then send it in auth {token} or ?token="
    for kind, token_ in bad_tokens().items():
        expected = "expired token" if kind == "expired" else "invalid token"
        assert refusal(server, auth={"token": token_}).startswith(expected), kind

    events = []
    clients = [real_client(server, events, "auth", auth={"token": token}), socketio.Client(reconnection=False)]
    clients[1].connect(f"{server.url}?token={token}", transports=["websocket"], wait_timeout=WAIT)
    try:
        for client in clients:
            ack = client.call("event_message", {"text": "hola", "author": "mallory"}, timeout=WAIT)
            assert ack["ok"] is True and ack["message"]["author"] == "ana"
        history = requests.get(server.url + "/messages", headers={"Authorization": f"Bearer {token}"},
                               timeout=WAIT).json()
        assert [m["author"] for m in history] == ["ana"] * 2
    finally:
        for client in clients:
            client.disconnect()
    assert token not in server.log() and "correct horse" not in server.log()


def test_keys_from_the_environment_win_over_the_kept_ones(start_server, project_copy):
    key = "k" * 64
    server = start_server(SECRET_KEY="s" * 64, JWT_SECRET_KEY=key, cwd=project_copy)
    credentials = {"username": "bea", "password": "correct horse"}
    requests.post(server.url + "/auth/register", json=credentials, timeout=WAIT).raise_for_status()
    token = requests.post(server.url + "/auth/login", json=credentials, timeout=WAIT).json()["access_token"]
    assert jwt.decode(token, key, algorithms=["HS256"])["sub"] == "bea"  # signed with the given key
    assert not (project_copy / "instance" / "jwt_secret_key").exists()
    assert not (project_copy / "instance" / "secret_key").exists()


def test_secrets_never_reach_the_log(start_server):
    server = start_server(AUTH_REQUIRED="true")
    password = "Sup3r-secret-pass"
    credentials = {"username": "ana", "password": password}
    requests.post(server.url + "/auth/register", json=credentials, timeout=WAIT)
    token = requests.post(server.url + "/auth/login", json=credentials, timeout=WAIT).json()["access_token"]
    requests.post(server.url + "/auth/login", json={"username": "ana", "password": "wrong-password"}, timeout=WAIT)
    client = socketio.Client(reconnection=False)
    client.connect(f"{server.url}?token={token}", transports=["polling"], wait_timeout=WAIT)
    client.call("event_message", {"text": "hi"}, timeout=WAIT)
    client.disconnect()
    requests.get(f"{server.url}/messages?token={token}", headers={"Authorization": f"Bearer {token}"},
                 timeout=WAIT)
    server.stop()
    log = server.log()
    assert "connect" in log and "as ana" in log
    for secret in (password, "wrong-password", token, token.split(".")[2]):
        assert secret not in log


@pytest.mark.parametrize("minutes", ["1", "0.05"])
def test_the_token_lifetime_is_configurable(start_server, minutes):
    import jwt as pyjwt

    server = start_server(JWT_EXPIRES_MINUTES=minutes)
    credentials = {"username": "ana", "password": "correct horse"}
    requests.post(server.url + "/auth/register", json=credentials, timeout=WAIT)
    token = requests.post(server.url + "/auth/login", json=credentials, timeout=WAIT).json()["access_token"]
    claims = pyjwt.decode(token, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == int(float(minutes) * 60)


def test_sql_in_a_username_is_refused_as_a_username(client):
    for path in ("/auth/login", "/auth/register"):
        answer = client.post(path, json={"username": "a' OR 1=1 --", "password": "x" * 8})
        assert answer.status_code == 400
        assert answer.get_json() == {"error": "username must be 1-32 letters, digits, _, - or ."}
