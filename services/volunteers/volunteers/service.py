"""The volunteers service: its entrypoints and who may call them. Each hands its validated
arguments to a use case (``usecases``) with a unit of work over the service's store."""

from __future__ import annotations

from pathlib import Path

from pioneer import auth
from pioneer.entrypoints import rpc, timer
from pioneer.logs import mask_phone
from pioneer.schemas import CityName, Code, Cursor, Limit, Location, Page, RecordId, Timestamp
from pioneer.service import PioneerService

from . import domain
from .schemas import (
    CommitmentIn,
    CommitmentOut,
    ComplaintIn,
    ComplaintOut,
    FoundVolunteerOut,
    MemberOut,
    MembershipOut,
    Radius,
    Relation,
    Status,
    TeamIn,
    TeamOut,
    VolunteerChanges,
    VolunteerIn,
    VolunteerOut,
    Year,
)
from .settings import VolunteersSettings
from .store import VolunteersStore
from .usecases import commitments, discipline, registration, search, teams

ANYONE = auth.ANY_ROLE
ACTING = {auth.VOLUNTEER, auth.ADMIN, auth.DISPATCHER, auth.SYSTEM}
REGISTRARS = {auth.ADMIN, auth.DISPATCHER, auth.SYSTEM}
FINDERS = {auth.ADMIN, auth.DISPATCHER, auth.SYSTEM, auth.STATION_MANAGER, auth.OPS}
ADMINS = {auth.ADMIN}
# Who reads any volunteer of their city; a volunteer token reads only itself.
READERS = auth.ANY_ROLE - {auth.VOLUNTEER}
# How often due suspensions are looked for (one indexed query on the suspended volunteers).
REINSTATE_EVERY_S = 2.0


class VolunteersService(PioneerService):
    """Volunteers: registration, profiles, search, teams, commitments and the discipline ladder."""

    name = "volunteers"
    settings_model = VolunteersSettings
    store_class = VolunteersStore
    publishes = (
        "volunteer_registered",
        "volunteer_updated",
        "volunteer_suspended",
        "volunteer_reinstated",
        "volunteer_removed",
        "complaint_upheld",
    )
    migrations = str(Path(__file__).parent / "migrations")

    @rpc(
        roles=REGISTRARS,
        sensitive=("volunteer.phone",),
        city="volunteer.city",
        home=("volunteer.city", "volunteer"),
    )
    def register(self, volunteer: VolunteerIn) -> VolunteerOut:
        """Register a volunteer in one of this deployment's cities; one phone per city."""
        made = registration.register(self.ctx.uow(), self.ctx.catalog, self.ctx.caller, volunteer)
        # On the call's own log line (one line per registration: this is the hot path).
        self.ctx.bind(
            volunteer_id=made.id, city=made.city, masked_phone=mask_phone(volunteer.phone)
        )
        return made

    @rpc(roles=ANYONE, acting_for="volunteer_id", staff=READERS, home=("volunteer_id", "volunteer"))
    def get_volunteer(self, volunteer_id: RecordId) -> VolunteerOut:
        """One volunteer (a volunteer token reads only itself); phones masked but for admins."""
        return registration.get_volunteer(self.ctx.uow(), self.ctx.caller, volunteer_id)

    @rpc(
        roles=ACTING,
        sensitive=("changes.phone",),
        acting_for="volunteer_id",
        home=("volunteer_id", "volunteer"),
    )
    def update_volunteer(self, volunteer_id: RecordId, changes: VolunteerChanges) -> VolunteerOut:
        """Change a volunteer's profile; returns it as it now is."""
        changed = registration.update_volunteer(
            self.ctx.uow(), self.ctx.catalog, self.ctx.caller, volunteer_id, changes
        )
        self.ctx.log.info(
            "volunteer_updated", volunteer_id=volunteer_id, fields=sorted(changes.model_fields_set)
        )
        return changed

    @rpc(roles=FINDERS, city="city", home=("city", "volunteer"))
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
    ) -> Page[FoundVolunteerOut]:
        """Volunteers of a city by skill, availability and place; nearest first with ``near``."""
        return search.find_volunteers(
            self.ctx.uow(),
            self.ctx.catalog,
            self.ctx.caller,
            float(self.ctx.settings.DEFAULT_NEAR_RADIUS_M),
            city,
            skill,
            (near.lat, near.lon) if near else None,
            float(radius_m) if radius_m is not None else None,
            available_at,
            status,
            limit,
            cursor,
        )

    @rpc(roles=ADMINS, city="city", home=("city", "team"))
    def create_team(self, city: CityName, team: TeamIn) -> TeamOut:
        """Create a team (admin of the city)."""
        return teams.create_team(self.ctx.uow(), self.ctx.catalog, city, team)

    @rpc(
        roles=ACTING,
        acting_for="volunteer_id",
        home=(("team_id", "team"), ("volunteer_id", "volunteer")),
    )
    def join_team(
        self, team_id: RecordId, volunteer_id: RecordId, relation: Relation
    ) -> MembershipOut:
        """Join a team: one ``organization`` team per volunteer at most, any ``activity`` teams."""
        return teams.join_team(self.ctx.uow(), team_id, volunteer_id, relation)

    @rpc(roles=ACTING, acting_for="volunteer_id", home=("team_id", "team"))
    def leave_team(self, team_id: RecordId, volunteer_id: RecordId) -> TeamOut:
        """Leave a team; returns the team as it now is."""
        return teams.leave_team(self.ctx.uow(), team_id, volunteer_id)

    @rpc(roles=READERS, city="team_id", home=("team_id", "team"))
    def list_members(
        self, team_id: RecordId, limit: Limit = 50, cursor: Cursor | None = None
    ) -> Page[MemberOut]:
        """A team's members with their relation, paged (staff of the team's city)."""
        return teams.list_members(self.ctx.uow(), team_id, limit, cursor)

    @rpc(roles=ACTING, acting_for="volunteer_id", home=("volunteer_id", "volunteer"))
    def make_commitment(self, volunteer_id: RecordId, commitment: CommitmentIn) -> CommitmentOut:
        """A volunteer's public commitment (承诺) for a year; one per year."""
        return commitments.make_commitment(self.ctx.uow(), volunteer_id, commitment)

    @rpc(roles=ANYONE, home=("city", "commitment"))
    def list_commitments(
        self, city: CityName, year: Year, limit: Limit = 50, cursor: Cursor | None = None
    ) -> Page[CommitmentOut]:
        """The public commitments of a city for a year, paged."""
        return commitments.list_commitments(self.ctx.uow(), city, year, limit, cursor)

    @rpc(roles=REGISTRARS, city="volunteer_id", home=("volunteer_id", "volunteer"))
    def record_complaint(
        self, volunteer_id: RecordId, complaint: ComplaintIn, complaint_id: RecordId | None = None
    ) -> ComplaintOut:
        """Record a complaint against a volunteer (``open`` until upheld or dismissed).

        ``complaint_id`` (optional, a ``<volunteer's city>-cmp-<ULID>`` id chosen by the caller)
        makes the call idempotent: a retry with the same id returns the complaint recorded first.
        """
        recorded = discipline.record_complaint(
            self.ctx.uow(), volunteer_id, complaint, complaint_id
        )
        self.ctx.log.info("complaint_recorded", complaint_id=recorded.id, volunteer_id=volunteer_id)
        return recorded

    @rpc(roles=ADMINS, city="complaint_id", home=("complaint_id", "complaint"))
    def uphold_complaint(self, complaint_id: RecordId) -> ComplaintOut:
        """Uphold a complaint: the volunteer climbs the ladder (warning, yellow card, red card)."""
        upheld = discipline.uphold_complaint(self.ctx.uow(), complaint_id)
        self.ctx.log.info(
            "complaint_upheld",
            complaint_id=complaint_id,
            volunteer_id=upheld.volunteer_id,
            level=upheld.level,
            status=domain.status_after(upheld.level),
        )
        return upheld

    @rpc(roles=ADMINS, city="complaint_id", home=("complaint_id", "complaint"))
    def dismiss_complaint(self, complaint_id: RecordId) -> ComplaintOut:
        """Dismiss a complaint; nothing else changes."""
        return discipline.dismiss_complaint(self.ctx.uow(), complaint_id)

    @rpc(roles=ADMINS, city="volunteer_id", home=("volunteer_id", "volunteer"))
    def reinstate(self, volunteer_id: RecordId) -> VolunteerOut:
        """End a suspension early (admin)."""
        back = discipline.reinstate(self.ctx.uow(), self.ctx.caller, volunteer_id)
        self.ctx.log.info("volunteer_reinstated", volunteer_id=volunteer_id, by="admin")
        return back

    @timer(REINSTATE_EVERY_S)
    def reinstate_due(self) -> None:
        """End the suspensions whose ``suspended_until`` has passed (``volunteer_reinstated``)."""
        ended = discipline.reinstate_due(self.ctx.uow(), self.ctx.settings.REINSTATE_BATCH)
        if ended:
            self.ctx.log.info("suspensions_ended", count=ended)
