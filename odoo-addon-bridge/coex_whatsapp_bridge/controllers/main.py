import logging

from odoo import _, http, release
from odoo.exceptions import AccessError, MissingError
from odoo.http import request

from ..coex_client import CoexError

_logger = logging.getLogger(__name__)

# Odoo 19 renamed the JSON-RPC route type to "jsonrpc" and logs a DeprecationWarning for "json" at
# every start; 17 and 18 know only "json". Same wire format either way.
JSON_ROUTE = "jsonrpc" if release.version_info[0] >= 19 else "json"


def _ok(data):
    return {"ok": True, "data": data}


def _fail(err):
    return {"ok": False, "error": err.to_dict()}


class CoexBridgeController(http.Controller):
    """JSON routes the chatter panel calls. Every route re-reads the record as the current user
    (access rules apply) and resolves the thread from the record's phone, so a user can only act
    on threads of records they can read. Errors come back as { ok: false, error: { code } }."""

    def _config(self):
        return request.env["coex.bridge.config"]._coex_get_active()

    def _record_phone(self, model, res_id):
        fields_by_model = request.env["coex.bridge.config"]._coex_phone_fields()
        if model not in fields_by_model or model not in request.env:
            raise CoexError("unsupported_model", _("WhatsApp threads are not shown on %s.", model))
        record = request.env[model].browse(int(res_id))
        try:
            if not record.exists():
                raise CoexError("not_found", _("This record does not exist anymore."))
            record.read(["display_name"])  # access rights and record rules, in every Odoo version
            for path in fields_by_model[model]:
                head = path.split(".", 1)[0]
                if head not in record._fields:
                    continue
                values = [v for v in record.mapped(path) if isinstance(v, str) and v.strip()]
                if values:
                    return values[0].strip()
        except (AccessError, MissingError):
            raise CoexError("forbidden", _("You cannot read this record.")) from None
        raise CoexError("no_phone", _("This record has no phone number."))

    def _thread(self, config, model, res_id):
        phone = self._record_phone(model, res_id)
        return phone, config._coex_client().get_thread(phone)

    def _run(self, fn):
        try:
            return _ok(fn())
        except CoexError as err:
            if err.code not in ("no_phone", "window_closed", "not_found", "no_number"):
                _logger.warning("CoEx bridge call failed: %s (HTTP %s)", err.code, err.status)
            return _fail(err)

    @http.route("/coex/thread/<string:model>/<int:res_id>", type=JSON_ROUTE, auth="user", methods=["POST"])
    def thread(self, model, res_id, **kw):
        def run():
            config = self._config()
            phone, payload = self._thread(config, model, res_id)
            payload["phone"] = phone
            return payload

        return self._run(run)

    @http.route("/coex/thread/<string:model>/<int:res_id>/bot", type=JSON_ROUTE, auth="user", methods=["POST"])
    def bot(self, model, res_id, action=None, **kw):
        def run():
            config = self._config()
            _phone, payload = self._thread(config, model, res_id)
            thread = payload.get("thread") or {}
            return config._coex_client().set_bot(thread.get("id"), action)

        return self._run(run)

    @http.route("/coex/thread/<string:model>/<int:res_id>/reply", type=JSON_ROUTE, auth="user", methods=["POST"])
    def reply(self, model, res_id, text=None, template=None, **kw):
        def run():
            config = self._config()
            _phone, payload = self._thread(config, model, res_id)
            thread_id = (payload.get("thread") or {}).get("id")
            client = config._coex_client()
            if isinstance(template, dict):
                return client.send_template(thread_id, template.get("name"), template.get("language"),
                                            template.get("body_parameters"))
            return client.send_text(thread_id, text)

        return self._run(run)

    @http.route("/coex/thread/<string:model>/<int:res_id>/templates", type=JSON_ROUTE, auth="user", methods=["POST"])
    def templates(self, model, res_id, phone_number_id=None, **kw):
        """Approved templates of the thread's WhatsApp number, read from CoEx (which reads Meta).
        The record check keeps the route to users who can see the panel; the number id comes
        from the thread payload the panel already has, so no second thread lookup is needed."""

        def run():
            config = self._config()
            self._record_phone(model, res_id)
            return config._coex_client().get_templates(phone_number_id)

        return self._run(run)

    @http.route("/coex/thread/<string:model>/<int:res_id>/campaigns", type=JSON_ROUTE, auth="user", methods=["POST"])
    def campaigns(self, model, res_id, **kw):
        """Campaigns that included this record's customer. The phone is read here from the record
        (as for the thread), never taken from the browser."""

        def run():
            config = self._config()
            phone = self._record_phone(model, res_id)
            return config._coex_client().get_campaigns(phone)

        return self._run(run)
