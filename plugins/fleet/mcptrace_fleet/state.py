"""The fleet plugin's state for one server: its settings, its runs, the inventory as read when needed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mcptrace_core.config import Settings
from mcptrace_core.tools import ToolError

from mcptrace_fleet.fleetrun import FleetBook, FleetRun, Launch
from mcptrace_fleet.inventory import Host, Inventory, InventoryError, load_inventory
from mcptrace_fleet.ssh import SshFiles

if TYPE_CHECKING:
    from mcptrace_core.history.store import HistoryStore as RunHistory

MAX_HOSTS_PER_RUN = 1000


class FleetState:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.book = FleetBook()

    @property
    def files(self) -> SshFiles:
        return SshFiles.of(self.settings.fleet)

    def inventory(self) -> Inventory:
        """Read again at each use: the user may edit the inventory while the server runs."""
        fleet = self.settings.fleet
        try:
            return load_inventory(fleet.inventory.expanduser() if fleet.inventory else None, self.files.ssh_config)
        except InventoryError as error:
            raise ToolError(str(error)) from None

    def select(self, patterns: list[str]) -> list[Host]:
        try:
            hosts = self.inventory().select(patterns)
        except InventoryError as error:
            raise ToolError(str(error)) from None
        if not hosts:
            raise ToolError(f"hosts: {patterns!r} selects no host (all were excluded)")
        if len(hosts) > MAX_HOSTS_PER_RUN:
            raise ToolError(f"hosts: {len(hosts)} hosts selected, the most for one run is {MAX_HOSTS_PER_RUN}")
        return hosts

    def launch(self, hosts: list[Host], launch: Launch, history: RunHistory | None = None) -> FleetRun:
        """Start ``launch`` on ``hosts``; with ``history``, the run is kept there like a local run (a
        compile check across the fleet is not)."""
        run = FleetRun(hosts, launch, self.settings.runs)
        self.book.add(run)
        run.start(self.files, self.settings.fleet.connect_timeout_s, self.settings.fleet.max_parallel)
        if history is not None:
            history.run_started(run)  # type: ignore[arg-type]
            run.when_done(history.run_ended)  # type: ignore[arg-type]
        return run

    def run(self, execution_id: str) -> FleetRun:
        run = self.book.get(execution_id)
        if run is None:
            raise ToolError(f"no fleet execution with id {execution_id!r} on this server (fleet runs are kept in "
                            f"memory while the server runs)")
        return run
