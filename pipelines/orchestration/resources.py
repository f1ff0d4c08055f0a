"""Where the venues are: live base URLs, or a running sandbox (LEVWATCH_SANDBOX_URL). The only place the two meet."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
from dagster import ConfigurableResource

from pipelines.lake import Lake
from pipelines.lake_origin import require_live_home
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

    def now_ms(self) -> int:
        """The reference 'now' for retention and snapshots: the wall clock, or the sandbox's scenario clock."""
        if self.source == "sandbox":
            return int(httpx.get(f"{self._sandbox_url()}/_sandbox/health", timeout=5).json()["clock_ms"])
        return int(time.time() * 1000)

    @property
    def ban_dir(self) -> Path:
        """Where venue bans are recorded, so every step process and every run of this home honours them."""
        return Path(self.home) / "state" / "bans"

    def http(self, venue: str) -> VenueHttp:
        http = VENUE_MODULES[venue].make_http(
            self.base_url(venue), timeout_s=self.timeout_s, ban_dir=self.ban_dir
        )
        if self.source == "sandbox":  # api_health on the sandbox's clock, like the market it serves
            offset_ms = self.now_ms() - int(time.time() * 1000)
            http.clock_ms = lambda: int(time.time() * 1000) + offset_ms
        return http

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
