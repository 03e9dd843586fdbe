"""The volunteers service: entrypoints only. Each validates (by its signature), then calls the
service layer in ``handlers``."""

from __future__ import annotations

from pathlib import Path

from pioneer import auth
from pioneer.entrypoints import rpc, timer
from pioneer.schemas import CityName, Code, Cursor, Limit, Location, RecordId, Timestamp
from pioneer.service import PioneerService

from . import handlers
from .schemas import (
    CommitmentIn,
    ComplaintIn,
    Radius,
    Relation,
    Status,
    TeamIn,
    VolunteerChanges,
    VolunteerIn,
    Year,
)
from .settings import VolunteersSettings

ANYONE = auth.ANY_ROLE
ACTING = {auth.VOLUNTEER, auth.ADMIN, auth.DISPATCHER, auth.SYSTEM}
REGISTRARS = {auth.ADMIN, auth.DISPATCHER, auth.SYSTEM}
FINDERS = {auth.ADMIN, auth.DISPATCHER, auth.SYSTEM, auth.STATION_MANAGER, auth.OPS}
ADMINS = {auth.ADMIN}
# How often due suspensions are looked for (one indexed query on the suspended volunteers).
REINSTATE_EVERY_S = 2.0


class VolunteersService(PioneerService):
    """Volunteers: registration, profiles, search, teams, commitments and the discipline ladder."""

    name = "volunteers"
    settings_model = VolunteersSettings
    migrations = str(Path(__file__).parent / "migrations")

    @rpc(roles=REGISTRARS, sensitive=("volunteer.phone",))
    def register(self, volunteer: VolunteerIn):
        """Register a volunteer in one of this deployment's cities; one phone per city."""
        return handlers.register(self.ctx, volunteer)

    @rpc(roles=ANYONE)
    def get_volunteer(self, volunteer_id: RecordId):
        """One volunteer (a volunteer token reads only itself); phones masked but for admins."""
        return handlers.get_volunteer(self.ctx, volunteer_id)

    @rpc(roles=ACTING, sensitive=("changes.phone",))
    def update_volunteer(self, volunteer_id: RecordId, changes: VolunteerChanges):
        """Change a volunteer's profile; returns it as it now is."""
        return handlers.update_volunteer(self.ctx, volunteer_id, changes)

    @rpc(roles=FINDERS)
    def find_volunteers(
        self,
        city: CityName,
        skill: Code | None = None,
        near: Location | None = None,
        radius_m: Radius | None = None,
        available_at: Timestamp | None = None,
        status: Status = "active",
        limit: Limit = 50,
        cursor: Cursor | None = None,
    ):
        """Volunteers of a city by skill, availability and place; nearest first with ``near``."""
        return handlers.find_volunteers(
            self.ctx,
            city,
            skill,
            (near.lat, near.lon) if near else None,
            float(radius_m) if radius_m is not None else None,
            available_at,
            status,
            limit,
            cursor,
        )

    @rpc(roles=ADMINS)
    def create_team(self, city: CityName, team: TeamIn):
        """Create a team (admin of the city)."""
        return handlers.create_team(self.ctx, city, team)

    @rpc(roles=ACTING)
    def join_team(self, team_id: RecordId, volunteer_id: RecordId, relation: Relation):
        """Join a team: one ``organization`` team per volunteer at most, any ``activity`` teams."""
        return handlers.join_team(self.ctx, team_id, volunteer_id, relation)

    @rpc(roles=ACTING)
    def leave_team(self, team_id: RecordId, volunteer_id: RecordId):
        """Leave a team; returns the team as it now is."""
        return handlers.leave_team(self.ctx, team_id, volunteer_id)

    @rpc(roles=ANYONE)
    def list_members(self, team_id: RecordId, limit: Limit = 50, cursor: Cursor | None = None):
        """A team's members with their relation, paged."""
        return handlers.list_members(self.ctx, team_id, limit, cursor)

    @rpc(roles=ACTING)
    def make_commitment(self, volunteer_id: RecordId, commitment: CommitmentIn):
        """A volunteer's public commitment (承诺) for a year; one per year."""
        return handlers.make_commitment(self.ctx, volunteer_id, commitment)

    @rpc(roles=ANYONE)
    def list_commitments(
        self, city: CityName, year: Year, limit: Limit = 50, cursor: Cursor | None = None
    ):
        """The public commitments of a city for a year, paged."""
        return handlers.list_commitments(self.ctx, city, year, limit, cursor)

    @rpc(roles=REGISTRARS)
    def record_complaint(
        self, volunteer_id: RecordId, complaint: ComplaintIn, complaint_id: RecordId | None = None
    ):
        """Record a complaint against a volunteer (``open`` until upheld or dismissed).

        ``complaint_id`` (optional, a ``<volunteer's city>-cmp-<ULID>`` id chosen by the caller)
        makes the call idempotent: a retry with the same id returns the complaint recorded first.
        """
        return handlers.record_complaint(self.ctx, volunteer_id, complaint, complaint_id)

    @rpc(roles=ADMINS)
    def uphold_complaint(self, complaint_id: RecordId):
        """Uphold a complaint: the volunteer climbs the ladder (warning, yellow card, red card)."""
        return handlers.uphold_complaint(self.ctx, complaint_id)

    @rpc(roles=ADMINS)
    def dismiss_complaint(self, complaint_id: RecordId):
        """Dismiss a complaint; nothing else changes."""
        return handlers.dismiss_complaint(self.ctx, complaint_id)

    @rpc(roles=ADMINS)
    def reinstate(self, volunteer_id: RecordId):
        """End a suspension early (admin)."""
        return handlers.reinstate(self.ctx, volunteer_id)

    @timer(REINSTATE_EVERY_S)
    def reinstate_due(self) -> None:
        """End the suspensions whose ``suspended_until`` has passed (``volunteer_reinstated``)."""
        handlers.reinstate_due(self.ctx)
