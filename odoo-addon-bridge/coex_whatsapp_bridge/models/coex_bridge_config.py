import logging

from odoo import _, api, fields, models
from odoo.exceptions import UserError

from ..coex_client import CoexClient, CoexError, DEFAULT_TIMEOUT

_logger = logging.getLogger(__name__)


class CoexBridgeConfig(models.Model):
    """Connection to one CoEx server. One active record per database; only admins can read it
    (ir.model.access + groups on the key); the controller reads it with sudo() to sign calls."""

    _name = "coex.bridge.config"
    _description = "CoEx WhatsApp bridge settings"

    name = fields.Char(default="CoEx", required=True)
    active = fields.Boolean(default=True)
    server_url = fields.Char(
        string="CoEx server URL",
        required=True,
        help="Base URL of the CoEx server, e.g. https://coex.example.com",
    )
    account = fields.Char(
        string="Account",
        required=True,
        default=lambda self: "%s#%s" % (self.env["ir.config_parameter"].sudo().get_param("web.base.url", "").rstrip("/"), self.env.cr.dbname),
        help="Sent as X-Coex-Account, exactly as CoEx issued the key for it: '<Odoo base URL>#<database>' "
        "(coex extension-key issue <tenant> odoo '<base URL>#<database>').",
    )
    install_key = fields.Char(
        string="Install key",
        groups="base.group_system",
        copy=False,
        help="Key issued by CoEx for this database. Used only to sign requests, never sent.",
    )
    timeout = fields.Float(string="Timeout (s)", default=DEFAULT_TIMEOUT)
    # No template list here: the panel asks CoEx for the approved templates of the thread's number.

    @api.constrains("server_url")
    def _check_server_url(self):
        for config in self:
            url = (config.server_url or "").strip()
            if not url.startswith(("https://", "http://")):
                raise UserError(_("The CoEx server URL must start with https:// (or http:// for a local test)."))

    @api.model
    def _coex_phone_fields(self):
        """model → field paths read for the customer's phone, best first. The crm glue module
        (coex_whatsapp_bridge_crm) adds crm.lead; other modules can extend it the same way."""
        return {"res.partner": ["phone_sanitized", "mobile", "phone"]}

    @api.model
    def _coex_get_active(self):
        config = self.sudo().search([("active", "=", True)], limit=1)
        if not config:
            raise CoexError("not_configured", _("CoEx is not configured yet (Settings › CoEx WhatsApp)."))
        return config

    def _coex_client(self):
        self.ensure_one()
        config = self.sudo()
        return CoexClient(
            (config.server_url or "").strip(),
            (config.account or "").strip(),
            config.install_key or "",
            timeout=config.timeout or DEFAULT_TIMEOUT,
        )

    @api.model
    def action_open_settings(self):
        """Menu entry: open the single configuration record, creating it on first use."""
        config = self.with_context(active_test=False).search([], limit=1)
        if not config:
            config = self.create({"server_url": "https://"})
        return {
            "type": "ir.actions.act_window",
            "res_model": self._name,
            "res_id": config.id,
            "view_mode": "form",
            "views": [(False, "form")],
            "target": "current",
        }

    def action_test_connection(self):
        """Signed request for a number that cannot exist: 200 (no thread) proves URL and key."""
        self.ensure_one()
        try:
            self._coex_client().get_thread("+10000000000")
        except CoexError as err:
            _logger.warning("CoEx connection test failed: %s", err.code)
            raise UserError(err.message) from None
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {"type": "success", "message": _("CoEx answered and accepted the signature.")},
        }
