from odoo import api, models


class CoexBridgeConfig(models.Model):
    _inherit = "coex.bridge.config"

    @api.model
    def _coex_phone_fields(self):
        fields_by_model = super()._coex_phone_fields()
        # The lead's own numbers first, then its customer's.
        fields_by_model["crm.lead"] = [
            "phone_sanitized",
            "mobile",
            "phone",
            "partner_id.phone_sanitized",
            "partner_id.mobile",
            "partner_id.phone",
        ]
        return fields_by_model
