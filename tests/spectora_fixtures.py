"""A company wired to the sandbox, and helpers to read the sandbox's side."""

from dataclasses import dataclass

import requests

from spectora_integration.models import ConnectionState, SpectoraConnection
from tests.factories import EmployeeFactory, ReportTypeFactory, ServiceFactory


@dataclass
class Wired:
    connection: SpectoraConnection
    inspectors: list  # Employees linked to insp-1..insp-4
    unlinked: object  # an Employee with no Spectora link
    services: list  # Services mapped to svc-1..svc-4, each with one report type
    unmapped: object
    sandbox: object

    def state(self) -> list[dict]:
        return requests.get(f"{self.sandbox.url}/_sandbox/state", timeout=5).json()["inspections"]

    def requests_log(self) -> list[dict]:
        return requests.get(f"{self.sandbox.url}/_sandbox/requests", timeout=5).json()

    def control(self, path: str, body: dict) -> dict:
        response = requests.post(f"{self.sandbox.url}/_sandbox/{path}", json=body, timeout=5)
        response.raise_for_status()
        return response.json() if response.content else {}

    def faults(self, *rules: dict, seed: int | None = None) -> None:
        """Replace the sandbox's fault rules; ``seed`` makes ``rate`` repeatable."""
        self.control("faults", {"rules": list(rules), "seed": seed})

    def faults_fired(self) -> int:
        config = requests.get(f"{self.sandbox.url}/_sandbox/faults", timeout=5).json()
        return sum(rule.get("fired", 0) for rule in config["rules"])


def connect_company(company, sandbox, *, rate_limit: int = 1000) -> Wired:
    connection = SpectoraConnection(
        company=company, base_url=sandbox.url, state=ConnectionState.CONNECTED,
        rate_limit_per_second=rate_limit,
    )
    connection.set_api_key("sandbox-key")
    connection.set_webhook_secret(sandbox.webhook_secret)
    connection.save()
    inspectors = [
        EmployeeFactory(company=company, spectora_inspector_id=f"insp-{n}") for n in range(1, 5)
    ]
    services = []
    for n in range(1, 5):
        report_type = ReportTypeFactory(company=company, spectora_template_id=f"tpl-{n}")
        service = ServiceFactory(company=company, spectora_service_id=f"svc-{n}",
                                 price_cents=10000 * n)
        service.report_types.set([report_type])
        services.append(service)
    return Wired(
        connection=connection,
        inspectors=inspectors,
        unlinked=EmployeeFactory(company=company),
        services=services,
        unmapped=ServiceFactory(company=company),
        sandbox=sandbox,
    )
