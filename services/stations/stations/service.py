"""The stations service: its entrypoints and who may call them. Each hands its validated
arguments to a use case (``usecases``) with a unit of work over the service's store."""

from __future__ import annotations

from pathlib import Path

from pioneer import auth
from pioneer.entrypoints import event_handler, rpc
from pioneer.events import Event
from pioneer.replica import VolunteerReplicaHandlers
from pioneer.schemas import CityName, Code, Cursor, Limit, Location, RecordId, ShortText
from pioneer.service import PioneerService

from . import usecases
from .schemas import (
    ActivityIn,
    CheckinCode,
    Moment,
    PostIn,
    Radius,
    StationChanges,
    StationIn,
    ValidMinutes,
)
from .settings import StationsSettings
from .store import StationsStore

ANYONE = auth.ANY_ROLE
MANAGERS = {auth.ADMIN, auth.STATION_MANAGER}
ACTING = {auth.VOLUNTEER, auth.ADMIN, auth.DISPATCHER, auth.SYSTEM}


class StationsService(VolunteerReplicaHandlers, PioneerService):
    """Service points (先锋驿站), posts (岗位), activities and QR check-in."""

    name = "stations"
    settings_model = StationsSettings
    store_class = StationsStore
    publishes = (
        "station_created",
        "station_updated",
        "post_claimed",
        "post_released",
        "activity_created",
        "volunteer_checked_in",
    )
    migrations = str(Path(__file__).parent / "migrations")

    @rpc(roles={auth.ADMIN}, city="station.city", home=("station.city", "station"))
    def create_station(self, station: StationIn):
        """Create a station in one of this deployment's cities (admin of that city)."""
        return usecases.create_station(self.ctx.uow(), self.ctx.catalog, station)

    @rpc(roles=ANYONE)
    def get_station(self, station_id: RecordId):
        """One station, own or a federated city's."""
        return usecases.get_station(self.ctx.uow(), station_id)

    @rpc(roles=MANAGERS, city="station_id", home=("station_id", "station"))
    def update_station(self, station_id: RecordId, changes: StationChanges):
        """Change a station of the caller's city; returns it as it now is."""
        return usecases.update_station(self.ctx.uow(), self.ctx.catalog, station_id, changes)

    @rpc(roles=ANYONE)
    def list_stations(
        self,
        city: CityName | None = None,
        district: ShortText | None = None,
        service: Code | None = None,
        open_at: Moment | None = None,
        limit: Limit = 50,
        cursor: Cursor | None = None,
    ):
        """Stations by city, district, service and opening time, in id order, paged."""
        return usecases.list_stations(
            self.ctx.uow(), city, district, service, open_at, limit, cursor
        )

    @rpc(roles=ANYONE)
    def search_nearby(
        self,
        location: Location,
        radius_m: Radius = 1000,
        service: Code | None = None,
        open_at: Moment | None = None,
        limit: Limit = 20,
    ):
        """Stations within ``radius_m`` of ``location`` (federated cities' too), nearest first."""
        return usecases.search_nearby(
            self.ctx.uow(), location.lat, location.lon, float(radius_m), service, open_at, limit
        )

    @rpc(roles=MANAGERS, city="station_id", home=("station_id", "station"))
    def add_post(self, station_id: RecordId, post: PostIn):
        """Add a post (岗位) volunteers can claim."""
        return usecases.add_post(self.ctx.uow(), self.ctx.catalog, station_id, post)

    @rpc(roles=ACTING, acting_for="volunteer_id", home=("post_id", "post"))
    def claim_post(self, post_id: RecordId, volunteer_id: RecordId):
        """Claim a post for a volunteer: capacity and volunteer status enforced, once per volunteer."""
        return usecases.claim_post(self.ctx.uow(), post_id, volunteer_id)

    @rpc(roles=ACTING, acting_for="volunteer_id", home=("post_id", "post"))
    def release_post(self, post_id: RecordId, volunteer_id: RecordId):
        """Give a claimed post back."""
        return usecases.release_post(self.ctx.uow(), post_id, volunteer_id)

    @rpc(roles=ANYONE)
    def list_posts(self, station_id: RecordId, limit: Limit = 50, cursor: Cursor | None = None):
        """The posts of a station with their claimed counts, paged."""
        return usecases.list_posts(self.ctx.uow(), station_id, limit, cursor)

    @rpc(roles=MANAGERS, city="station_id", home=("station_id", "station"))
    def create_activity(self, station_id: RecordId, activity: ActivityIn):
        """Schedule an activity at a station."""
        return usecases.create_activity(self.ctx.uow(), self.ctx.catalog, station_id, activity)

    @rpc(roles=MANAGERS, city="activity_id", home=("activity_id", "activity"))
    def issue_checkin_code(self, activity_id: RecordId, valid_minutes: ValidMinutes = 30):
        """The signed, expiring text behind the activity's QR code."""
        keys, key_id = self.ctx.settings.checkin_keys()
        return usecases.issue_checkin_code(self.ctx.uow(), keys, key_id, activity_id, valid_minutes)

    @rpc(roles=ACTING, sensitive=("code",), acting_for="volunteer_id")
    def check_in(self, code: CheckinCode, volunteer_id: RecordId):
        """Check a volunteer in with a scanned code; once per volunteer and activity."""
        keys, _ = self.ctx.settings.checkin_keys()
        return usecases.check_in(self.ctx.uow(), keys, self.ctx.cities, code, volunteer_id)

    def _own_station(self, event: Event) -> bool:
        """This deployment's own stations come back on its exchange: it wrote them already."""
        return self.ctx.serves(event.city)

    @event_handler("stations", "station_created", skip=_own_station)
    def on_station_created(self, uow, event: Event) -> None:
        usecases.replicate_station(uow, event)

    @event_handler("stations", "station_updated", skip=_own_station)
    def on_station_updated(self, uow, event: Event) -> None:
        usecases.replicate_station(uow, event)
