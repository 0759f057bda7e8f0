"""The support app's models, one module per sub-domain."""

from .contacts import Contact
from .knowledge import Article, ArticleCategory, Visibility
from .mail import InboundMessage, InboundOutcome, MailboxState, MailKind, OutgoingEmail
from .satisfaction import CsatSurvey, FollowUp, NpsCampaign, NpsResponse
from .tickets import (
    NUMBER_OFFSET,
    OPEN_STATUSES,
    Attachment,
    Channel,
    ClockPause,
    MessageKind,
    PauseReason,
    SlaBreach,
    SlaClock,
    Ticket,
    TicketEvent,
    TicketEventKind,
    TicketMessage,
    TicketStatus,
    priority_choices,
    validate_priority,
)

__all__ = [
    "NUMBER_OFFSET",
    "OPEN_STATUSES",
    "Article",
    "ArticleCategory",
    "Attachment",
    "Channel",
    "ClockPause",
    "Contact",
    "CsatSurvey",
    "FollowUp",
    "InboundMessage",
    "InboundOutcome",
    "MailKind",
    "MailboxState",
    "MessageKind",
    "NpsCampaign",
    "NpsResponse",
    "OutgoingEmail",
    "PauseReason",
    "SlaBreach",
    "SlaClock",
    "Ticket",
    "TicketEvent",
    "TicketEventKind",
    "TicketMessage",
    "TicketStatus",
    "Visibility",
    "priority_choices",
    "validate_priority",
]
