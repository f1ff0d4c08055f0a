"""Where the venues are: live base URLs, or a running sandbox (LEVWATCH_SANDBOX_URL). The only place the two meet."""

from __future__ import annotations

from pathlib import Path

from dagster import ConfigurableResource

from pipelines.lake import Lake
from pipelines.lake_origin import require_live_home
from pipelines.lib.clock import WALL_CLOCK, Clock, SandboxClock
from pipelines.settings import NO_SANDBOX_URL, SettingsError, load_settings
from pipelines.venues.http import VenueHttp
from pipelines.venues.registry import VENUE_MODULES


class VenueGateway(ConfigurableResource):
    """Makes venue clients. With source='sandbox' every venue is served by the sandbox at sandbox_url, which whoever
    drives the pipeline started (`levwatch sandbox serve`, the demo, `make dev`, a test): it never starts one."""

    home: str
    source: str = "live"
    sandbox_url: str | None = None  # LEVWATCH_SANDBOX_URL: the running sandbox, required in sandbox mode
    timeout_s: float = 10.0
    lake_url: str | None = None  # LEVWATCH_LAKE_URL; None: the folder lake under home

    def _sandbox_url(self) -> str:
        if not self.sandbox_url:
            raise SettingsError(NO_SANDBOX_URL)
        return self.sandbox_url

    def base_url(self, venue: str) -> str:
        if self.source == "sandbox":
            return f"{self._sandbox_url()}/{venue}"
        return load_settings().base_url(venue)

    @property
    def clock(self) -> Clock:
        """The market's clock: the wall clock live, the running sandbox's clock (read over HTTP) in sandbox mode."""
        if self.source == "sandbox":
            return SandboxClock(self._sandbox_url())
        return WALL_CLOCK

    def now_ms(self) -> int:
        """The reference 'now' for retention and snapshots: the clock's, read afresh (a sandbox's may have moved)."""
        return self.clock.now_ms()

    @property
    def ban_dir(self) -> Path:
        """Where venue bans are recorded, so every step process and every run of this home honours them."""
        return Path(self.home) / "state" / "bans"

    def http(self, venue: str) -> VenueHttp:
        # api_health stamped on the market's clock (the sandbox's in sandbox mode, like the market it serves),
        # carried on locally from one reading; the limiters count wall seconds, as both clocks do
        return VENUE_MODULES[venue].make_http(
            self.base_url(venue), timeout_s=self.timeout_s, ban_dir=self.ban_dir, clock=self.clock.local()
        )

    @property
    def lake(self) -> Lake:
        home = Path(self.home)
        if self.source == "live":
            require_live_home(home)
        return Lake.at(self.lake_url, home=home)


def gateway_from_settings() -> VenueGateway:
    s = load_settings()
    return VenueGateway(
        home=str(s.home),
        source=s.source,
        sandbox_url=s.sandbox_url,
        timeout_s=s.http_timeout_s,
        lake_url=s.lake_url,
    )
