"""The vendor documentation every vendor alias in the catalog is taken from.

A catalog alias names its source by key; `tests/set_tokens/vendor_event_names.py` lists, per
source, the event names that page documents, and a test holds every alias to that list.
"""

from __future__ import annotations

from types import MappingProxyType

__all__ = ["VENDORS", "VENDOR_SOURCES", "case_insensitive"]

VENDORS = ("logto", "loginradius", "cidaas", "asgardeo")

VENDOR_SOURCES = MappingProxyType(
    {
        "logto-events": "https://docs.logto.io/developers/webhooks/webhooks-events",
        "logto-request": "https://docs.logto.io/developers/webhooks/webhooks-request",
        # The hook event list in Logto's own source (events newer than the docs page).
        "logto-source": (
            "https://github.com/logto-io/logto/blob/master/"
            "packages/schemas/src/foundations/jsonb-types/hooks.ts"
        ),
        "loginradius-webhooks": "https://www.loginradius.com/docs/integrations/webhook/overview",
        # "APIs Associated With Webhook Events": which API calls fire which event.
        "loginradius-api": "https://www.loginradius.com/docs/api/v2/integrations/webhooks",
        # The admin guide's "Available webhook events" table (USER_* names).
        "cidaas-settings": "https://docs.cidaas.com/ (admin guide: Settings > Webhook Settings)",
        # The codes the webhook API accepts (ACCOUNT_*, LOGIN_WITH_* names).
        "cidaas-table": "https://docs.cidaas.com/guides/activity-management/webhook-table",
        "asgardeo-events": (
            "https://wso2.com/asgardeo/docs/guides/webhooks/webhook-events-and-payloads/"
        ),
        # Role and consent events, documented for the WSO2 Identity Platform variant.
        "wso2-events": (
            "https://wso2.com/identity-platform/docs/guides/webhooks/webhook-events-and-payloads/"
        ),
    }
)

# LoginRadius spells one event `emailVerification` and `EmailVerification`, and its sample
# payload says `"HookName":"login"`: its names are matched whatever their case.
_CASE_INSENSITIVE = frozenset({"loginradius"})


def case_insensitive(vendor: str) -> bool:
    return vendor in _CASE_INSENSITIVE
