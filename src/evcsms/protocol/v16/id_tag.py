"""1.6 IdTagInfo: a neutral token decision as Authorize/StartTransaction/StopTransaction send it."""

from __future__ import annotations

from evcsms.domain.tokens import TokenDecision
from evcsms.protocol.context import Payload, format_timestamp

# IdToken (CiString20Type): a group id longer than this cannot be sent as parentIdTag.
PARENT_ID_TAG_MAX = 20


def id_tag_info(decision: TokenDecision) -> Payload:
    info: Payload = {"status": decision.status.value}
    if decision.expires_at is not None:
        info["expiryDate"] = format_timestamp(decision.expires_at)
    if decision.group_id and len(decision.group_id) <= PARENT_ID_TAG_MAX:
        info["parentIdTag"] = decision.group_id
    return info
