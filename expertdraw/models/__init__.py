"""ORM tables, one module per concept; import from here."""

from . import inspection, scheduling  # noqa: F401  (reports, alerts, samples; scheduler tables)
from .draws import (
    Alternate,
    Booking,
    Delivery,
    Draw,
    ListOpeningToken,
    Member,
    Notice,
    Witness,
)
from .ledger import (
    APPEND_ONLY_TABLES,
    BeaconPulse,
    Checkpoint,
    Cosignature,
    LedgerEntry,
    LedgerNode,
    SigningKey,
    Snapshot,
)
from .parties import ORGANISATION_KINDS, Organisation
from .pool import (
    EXPERT_KINDS,
    EXPERT_STATUSES,
    Employment,
    Expert,
    ExpertRelation,
    ExpertSpecialty,
    Leave,
    Penalty,
    PoolChange,
    PoolVersion,
)
from .projects import Project, ProjectBidder, ProjectDrafter, Stratum
from .reference import Region, Specialty
from .users import ROLES, ApiToken, PageSession, User
from .venues import PlaceVersion, Room, Venue, Workstation

__all__ = [
    "APPEND_ONLY_TABLES",
    "EXPERT_KINDS",
    "EXPERT_STATUSES",
    "ORGANISATION_KINDS",
    "ROLES",
    "Alternate",
    "ApiToken",
    "BeaconPulse",
    "Booking",
    "Checkpoint",
    "Cosignature",
    "Delivery",
    "Draw",
    "Employment",
    "Expert",
    "ExpertRelation",
    "ExpertSpecialty",
    "Leave",
    "LedgerEntry",
    "LedgerNode",
    "ListOpeningToken",
    "Member",
    "Notice",
    "Organisation",
    "PageSession",
    "Penalty",
    "PlaceVersion",
    "PoolChange",
    "PoolVersion",
    "Project",
    "ProjectBidder",
    "ProjectDrafter",
    "Region",
    "Room",
    "SigningKey",
    "Snapshot",
    "Specialty",
    "Stratum",
    "User",
    "Venue",
    "Witness",
    "Workstation",
]
