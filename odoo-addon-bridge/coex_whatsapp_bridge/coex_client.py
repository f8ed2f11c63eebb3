"""Signed HTTP client for the CoEx extension API (``/ext/v1/odoo/...``).

Standard library only and no Odoo import, so it can be tested with a plain ``python3``
(test/odoo-addon.test.ts runs it against a local stub server).

Signature (shared with the server and the Zoho widget)::

    X-Coex-Signature = hex(HMAC-SHA256(key, METHOD + "\\n" + path_with_query + "\\n"
                                            + timestamp_ms + "\\n" + nonce + "\\n" + raw_body))

The key is the install key string issued by CoEx, used as its UTF-8 bytes.
"""

import hashlib
import hmac
import json
import secrets
import socket
import time
import urllib.error
import urllib.parse
import urllib.request

CRM = "odoo"
DEFAULT_TIMEOUT = 10.0
BOT_ACTIONS = ("pause", "resume", "off")
MAX_TEXT_LENGTH = 4096  # WhatsApp's limit for a text body
CAMPAIGN_LIMIT = 5  # campaigns shown on a card (the server allows 1..50)


class CoexError(Exception):
    """A failure the UI can explain. ``code`` is stable; ``message`` is for people."""

    def __init__(self, code, message, status=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status

    def to_dict(self):
        return {"code": self.code, "message": self.message, "status": self.status}


def sign(key, method, path_with_query, timestamp, nonce, body=b""):
    if isinstance(key, str):
        key = key.encode("utf-8")
    if isinstance(body, str):
        body = body.encode("utf-8")
    prefix = "\n".join([method.upper(), path_with_query, str(timestamp), nonce, ""]).encode("utf-8")
    return hmac.new(key, prefix + body, hashlib.sha256).hexdigest()


def signed_headers(account, key, method, path_with_query, body=b"", timestamp=None, nonce=None):
    timestamp = str(int(time.time() * 1000)) if timestamp is None else str(timestamp)
    nonce = secrets.token_hex(16) if nonce is None else nonce
    return {
        "X-Coex-Account": account,
        "X-Coex-Timestamp": timestamp,
        "X-Coex-Nonce": nonce,
        "X-Coex-Signature": sign(key, method, path_with_query, timestamp, nonce, body),
    }


def _status_error(status, payload, not_found=None):
    code = payload.get("code") if isinstance(payload, dict) else None
    # The extension API puts its sentence for people in "error" (older builds: "message").
    server_message = None
    if isinstance(payload, dict):
        server_message = next((v for v in (payload.get("error"), payload.get("message")) if isinstance(v, str) and v), None)
    if status == 409 and code == "window_closed":
        return CoexError("window_closed", "The 24-hour window is closed: send a template.", status)
    if status in (401, 403):
        return CoexError("unauthorized", "CoEx refused the signature: check the account and install key.", status)
    if status == 404:
        return CoexError("not_found", not_found or "CoEx does not know this thread.", status)
    if status == 429:
        return CoexError("rate_limited", "CoEx is rate limiting this account; try again shortly.", status)
    if status == 502 and code == "templates_unavailable":
        return CoexError(code, "WhatsApp did not give the template list and CoEx has none cached; try again shortly.", status)
    if 400 <= status < 500:
        return CoexError(code or "bad_request", server_message or "CoEx rejected the request (HTTP %s)." % status, status)
    if code == "send_failed":
        return CoexError(code, server_message or "WhatsApp refused the message.", status)
    return CoexError("server_error", "CoEx failed (HTTP %s)." % status, status)


def check_thread_payload(payload):
    """Shape check of GET /thread (the JS side renders defensively, this catches a wrong server)."""
    if not isinstance(payload, dict):
        raise CoexError("bad_response", "CoEx answered with an unexpected thread payload.")
    thread = payload.get("thread")
    messages = payload.get("messages", [])
    if thread is not None and not (isinstance(thread, dict) and "id" in thread):
        raise CoexError("bad_response", "CoEx answered with a thread without an id.")
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        raise CoexError("bad_response", "CoEx answered with malformed messages.")
    sync = payload.get("sync")
    return {"thread": thread, "messages": messages, "sync": sync if isinstance(sync, dict) else {}}


def check_templates_payload(payload):
    """Shape check of GET /templates: a list of objects with a name and a language."""
    templates = payload.get("templates") if isinstance(payload, dict) else None
    if not isinstance(templates, list) or not all(
        isinstance(t, dict) and isinstance(t.get("name"), str) and isinstance(t.get("language"), str) for t in templates
    ):
        raise CoexError("bad_response", "CoEx answered with an unexpected template list.")
    return {"templates": templates, "stale": payload.get("stale") is True, "fetched_at": payload.get("fetched_at")}


def check_campaigns_payload(payload):
    """Shape check of GET /campaigns: a list of campaign objects and an optional opt-out object."""
    campaigns = payload.get("campaigns") if isinstance(payload, dict) else None
    if not isinstance(campaigns, list) or not all(isinstance(c, dict) for c in campaigns):
        raise CoexError("bad_response", "CoEx answered with an unexpected campaign list.")
    opt_out = payload.get("opt_out")
    return {"campaigns": campaigns, "opt_out": opt_out if isinstance(opt_out, dict) else None}


def check_body_parameters(body_parameters):
    """None, a list of strings (positional) or a dict name → string (named), as the contract says."""
    if body_parameters is None:
        return None
    if isinstance(body_parameters, list):
        values = body_parameters
    elif isinstance(body_parameters, dict):
        if not all(isinstance(k, str) and k for k in body_parameters):
            raise CoexError("bad_request", "Template parameter names must be text.")
        values = list(body_parameters.values())
    else:
        raise CoexError("bad_request", "Template parameters must be a list or an object.")
    if not all(isinstance(v, str) and v.strip() for v in values):
        raise CoexError("bad_request", "Every template parameter needs a value.")
    return body_parameters


class CoexClient:
    def __init__(self, server_url, account, key, timeout=DEFAULT_TIMEOUT, opener=None):
        parsed = urllib.parse.urlsplit(server_url or "")
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise CoexError("not_configured", "The CoEx server URL must be an http(s) URL.")
        if not account or not key:
            raise CoexError("not_configured", "The CoEx account and install key are required.")
        self.base = server_url.rstrip("/")
        # Signed path includes any prefix the server is mounted under (what it receives).
        self.base_path = parsed.path.rstrip("/")
        self.account = account
        self._key = key
        self.timeout = timeout
        self._opener = opener or urllib.request.build_opener()

    def __repr__(self):  # never show the key
        return "CoexClient(%r, account=%r)" % (self.base, self.account)

    # -- API -------------------------------------------------------------------------------

    def get_thread(self, phone):
        if not phone:
            raise CoexError("no_phone", "This record has no phone number.")
        query = urllib.parse.urlencode({"phone": phone})
        return check_thread_payload(self._call("GET", "/ext/v1/%s/thread?%s" % (CRM, query)))

    def set_bot(self, thread_id, action):
        if action not in BOT_ACTIONS:
            raise CoexError("bad_request", "Unknown bot action %r." % (action,))
        return self._call("POST", self._thread_path(thread_id, "bot"), {"action": action})

    def send_text(self, thread_id, text):
        text = (text or "").strip()
        if not text:
            raise CoexError("bad_request", "The message is empty.")
        if len(text) > MAX_TEXT_LENGTH:
            raise CoexError("bad_request", "The message is longer than %d characters." % MAX_TEXT_LENGTH)
        return self._call("POST", self._thread_path(thread_id, "messages"), {"text": text})

    def send_template(self, thread_id, name, language, body_parameters=None):
        if not name or not language:
            raise CoexError("bad_request", "Choose a template.")
        template = {"name": name, "language": language}
        if check_body_parameters(body_parameters) is not None:
            template["body_parameters"] = body_parameters
        return self._call("POST", self._thread_path(thread_id, "messages"), {"template": template})

    def get_templates(self, phone_number_id=None):
        """Approved templates of the WhatsApp account of ``phone_number_id`` (the thread's number)."""
        path = "/ext/v1/%s/templates" % CRM
        if phone_number_id not in (None, ""):
            phone_number_id = str(phone_number_id)
            if not phone_number_id.isdigit():
                raise CoexError("bad_request", "The WhatsApp number id must be digits.")
            path += "?" + urllib.parse.urlencode({"phone_number_id": phone_number_id})
        return check_templates_payload(
            self._call("GET", path, not_found="This WhatsApp number is not one of this CoEx account's numbers."))

    def get_campaigns(self, phone, limit=CAMPAIGN_LIMIT):
        """Campaigns that included this customer (newest first) and their marketing opt-out."""
        if not phone:
            raise CoexError("no_phone", "This record has no phone number.")
        if not isinstance(limit, int) or not 1 <= limit <= 50:
            raise CoexError("bad_request", "The campaign limit must be between 1 and 50.")
        query = urllib.parse.urlencode({"phone": phone, "limit": limit})
        return check_campaigns_payload(self._call("GET", "/ext/v1/%s/campaigns?%s" % (CRM, query)))

    # -- transport -------------------------------------------------------------------------

    @staticmethod
    def _thread_path(thread_id, tail):
        if thread_id in (None, ""):
            raise CoexError("not_found", "No WhatsApp thread for this record yet.")
        return "/ext/v1/%s/threads/%s/%s" % (CRM, urllib.parse.quote(str(thread_id), safe=""), tail)

    def _call(self, method, path, payload=None, not_found=None):
        body = b"" if payload is None else json.dumps(payload, separators=(",", ":")).encode("utf-8")
        headers = signed_headers(self.account, self._key, method, self.base_path + path, body)
        headers["Accept"] = "application/json"
        if payload is not None:
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(self.base + path, data=body if payload is not None else None,
                                         headers=headers, method=method)
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                raw = response.read()
                status = response.status
        except urllib.error.HTTPError as err:
            raw = err.read() if err.fp is not None else b""
            try:
                payload_out = json.loads(raw.decode("utf-8")) if raw else None
            except ValueError:
                payload_out = None
            raise _status_error(err.code, payload_out, not_found) from None
        except (socket.timeout, TimeoutError):
            raise CoexError("timeout", "CoEx did not answer within %ss." % self.timeout) from None
        except urllib.error.URLError as err:
            if isinstance(err.reason, (socket.timeout, TimeoutError)):
                raise CoexError("timeout", "CoEx did not answer within %ss." % self.timeout) from None
            raise CoexError("unreachable", "CoEx is unreachable: %s" % (err.reason,)) from None
        except OSError as err:
            raise CoexError("unreachable", "CoEx is unreachable: %s" % (err,)) from None
        if status == 204 or not raw:
            return None
        try:
            return json.loads(raw.decode("utf-8"))
        except ValueError:
            raise CoexError("bad_response", "CoEx answered with something that is not JSON.", status) from None
