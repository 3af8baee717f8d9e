"""Human-rating campaigns: which conversations people rate, who rates each, their answers, and the audit so far.

Library only (no printing); ``auditor annotate`` and ``auditor serve`` are the people-facing parts.
"""

from ._answers import skip, submit, validate_answers
from ._audit import agreement_summary, audit_slice, campaign_audit, campaign_store, items_needed
from ._create import STRATIFY_BY, CreatedCampaign, create_campaign
from ._design import STRATEGIES, allocate, assign, draw_sample
from ._tokens import form_token, hash_token
from ._read import (Annotator, admin_campaigns, campaign_info, conversation_messages, done_items, item_view,
                    list_campaigns, next_item, progress, questions, resolve_annotator, stored_rubric)

__all__ = ["STRATEGIES", "STRATIFY_BY", "Annotator", "CreatedCampaign", "admin_campaigns", "agreement_summary",
           "allocate", "assign", "audit_slice", "campaign_audit", "campaign_info", "campaign_store", "close_campaign",
           "conversation_messages", "create_campaign", "done_items", "draw_sample", "form_token", "hash_token",
           "item_view", "items_needed",
           "list_campaigns", "next_item", "progress", "questions", "reissue_link", "resolve_annotator", "skip",
           "stored_rubric",
           "submit", "validate_answers"]


def reissue_link(store, campaign: str, annotator: str | None = None) -> str:
    """A new private token for ``annotator`` (None = the admin); the old one stops working. Answers are kept."""
    from ..store._campaigns import replace_token_hash
    from ._tokens import new_token

    token = new_token()
    replace_token_hash(store, campaign, annotator, hash_token(token))
    return token


def close_campaign(store, campaign: str) -> None:
    """Close a campaign: it accepts no submission from now on (its answers stay in the store)."""
    from ..store._campaigns import set_campaign_status

    set_campaign_status(store, campaign, "closed")
