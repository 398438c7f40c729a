"""Demo data for `bin/demo`: the office and its connection to the sandbox. It lives in the
integration because it connects a company to Spectora (workorders imports no integration).
Safe to run again: it never duplicates a row."""

from __future__ import annotations

import random
from datetime import datetime, time, timedelta
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from spectora_integration.models import ConnectionState, SpectoraConnection
from workorders.models import (
    Company,
    Employee,
    Membership,
    ReportType,
    Role,
    Service,
    ServiceKind,
    WorkorderStatus,
)
from workorders.services import (
    AssigneeInput,
    LineItemInput,
    workorder_cancel,
    workorder_confirm,
    workorder_create,
)

DEMO_PASSWORD = "demo-password"  # printed on purpose: it is the demo's login

# Names match the sandbox's Spectora account, as a real office's would.
INSPECTORS = [
    ("Maria Lopez", "insp-1"),
    ("James Carter", "insp-2"),
    ("Priya Shah", "insp-3"),
    ("Tom Becker", "insp-4"),
    ("Jordan Blake", None),  # not linked: the demo's missing-link case
]
REPORT_TYPES = [
    ("Residential Inspection Report", "tpl-1"),
    ("Radon Measurement Report", "tpl-2"),
    ("WDO Report (NPMA-33)", "tpl-3"),
    ("Sewer Scope Report", "tpl-4"),
]
HOME = ["Residential Inspection Report"]
SERVICES = [
    # name, kind, price, spectora id, report type names
    ("Full Home Inspection", ServiceKind.PRIMARY, 45000, "svc-1", HOME),
    ("Pre-Listing Inspection", ServiceKind.PRIMARY, 40000, "svc-2", HOME),
    ("New Construction Inspection", ServiceKind.PRIMARY, 52500, "svc-3", HOME),
    ("Condo/Townhome Inspection", ServiceKind.PRIMARY, 32500, "svc-4", HOME),
    ("Radon Test", ServiceKind.ADD_ON, 15000, "svc-5", ["Radon Measurement Report"]),
    ("Termite/WDO Inspection", ServiceKind.ADD_ON, 9500, "svc-6", ["WDO Report (NPMA-33)"]),
    ("Sewer Scope", ServiceKind.ADD_ON, 17500, "svc-7", ["Sewer Scope Report"]),
    ("Pool & Spa", ServiceKind.ADD_ON, 12500, None, []),  # not mapped: missing mapping case
]
STREETS = ["Maple Ave", "Oak St", "Cedar Ln", "Birch Rd", "Elm Ct", "Willow Way", "Pine St"]
CLIENTS = [
    "Avery Johnson", "Blake Carter", "Casey Nguyen", "Drew Patel", "Emery Brooks",
    "Finley Reed", "Gray Morgan", "Harper Diaz", "Indy Shah", "Jules Kim",
]


class Command(BaseCommand):
    help = "Create the demo companies, users, catalogue and workorders (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--workorders", type=int, default=30)
        parser.add_argument("--sandbox-url", default="http://127.0.0.1:8100")
        parser.add_argument("--webhook-secret", default="",
                            help="visible in the process list: prefer --webhook-secret-file")
        parser.add_argument("--webhook-secret-file", default="",
                            help="read the sandbox's webhook secret from this file")

    @transaction.atomic
    def handle(self, *args, **options):
        rng = random.Random(42)  # demo data, not security
        acme = self._company("acme", "Acme Home Inspections")
        other = self._company("other", "Other Inspections Co")
        self._user(acme, "admin", Role.ADMIN)
        self._user(acme, "office", Role.OFFICE_STAFF)
        self._user(acme, "scheduler", Role.SCHEDULER)
        self._user(other, "other-admin", Role.ADMIN)

        self._catalogue(acme, linked=True)
        self._catalogue(other, linked=False)
        secret = options["webhook_secret"]
        if options["webhook_secret_file"]:
            secret = Path(options["webhook_secret_file"]).read_text().strip()
        self._connect(acme, options["sandbox_url"], secret)
        self._workorders(acme, options["workorders"], rng)
        self._workorders(other, 5, rng)
        self.stdout.write(self.style.SUCCESS("Demo data is in place."))

    def _company(self, slug, name):
        company, _ = Company.objects.get_or_create(slug=slug, defaults={"name": name})
        return company

    def _user(self, company, username, role):
        user_model = get_user_model()
        user, created = user_model.objects.get_or_create(
            username=username,
            defaults={"email": f"{username}@{company.slug}.example.com",
                      "is_staff": role == Role.ADMIN},
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save()
        Membership.objects.update_or_create(user=user, defaults={"company": company, "role": role})
        return user

    def _catalogue(self, company, *, linked: bool):
        for name, inspector_id in INSPECTORS:
            email = f"{name.split()[0].lower()}@{company.slug}.example.com"
            if linked and inspector_id:
                # Keyed by the Spectora link, so a demo seeded by an older version keeps
                # its rows instead of colliding on the link.
                Employee.objects.get_or_create(
                    company=company, spectora_inspector_id=inspector_id,
                    defaults={"name": name, "email": email},
                )
            else:
                Employee.objects.get_or_create(
                    company=company, name=name, defaults={"email": email},
                )
        report_types = {}
        for name, template_id in REPORT_TYPES:
            key = {"spectora_template_id": template_id} if linked else {"name": name}
            report_types[name], _ = ReportType.objects.get_or_create(
                company=company, **key, defaults={"name": name},
            )
        for name, kind, price, service_id, types in SERVICES:
            key = {"spectora_service_id": service_id} if linked and service_id else {"name": name}
            service, created = Service.objects.get_or_create(
                company=company, **key,
                defaults={"name": name, "kind": kind, "price_cents": price},
            )
            if created:
                service.report_types.set([report_types[t] for t in types])

    def _connect(self, company, base_url, webhook_secret):
        connection, created = SpectoraConnection.objects.get_or_create(
            company=company, defaults={"base_url": base_url, "rate_limit_per_second": 20}
        )
        if created or not connection.api_key_encrypted:
            connection.set_api_key("sandbox-key")
            connection.state = ConnectionState.CONNECTED
        connection.base_url = base_url
        if webhook_secret and webhook_secret not in connection.webhook_secrets[:1]:
            connection.set_webhook_secret(webhook_secret)
        connection.save()

    def _workorders(self, company, count, rng):
        employees = list(Employee.objects.filter(company=company).order_by("id"))
        linked = [e for e in employees if e.spectora_inspector_id] or employees
        primaries = list(Service.objects.filter(company=company, kind=ServiceKind.PRIMARY))
        add_ons = list(
            Service.objects.filter(company=company, kind=ServiceKind.ADD_ON)
            .exclude(spectora_service_id=None)
        ) or list(Service.objects.filter(company=company, kind=ServiceKind.ADD_ON))
        unlinked = [e for e in employees if not e.spectora_inspector_id]
        unmapped = list(Service.objects.filter(company=company, spectora_service_id=None))
        today = timezone.localdate()
        for n in range(count):
            day = today + timedelta(days=rng.randint(-10, 14))
            start = time(hour=rng.choice([8, 9, 10, 11, 13, 14, 15]), minute=rng.choice([0, 30]))
            scheduled = timezone.make_aware(datetime.combine(day, start))
            team = rng.sample(linked, k=rng.choice([1, 1, 2]))
            if n == 3 and unlinked:
                team = [unlinked[0]]  # the missing-link case
            services = [LineItemInput(rng.choice(primaries))] + [
                LineItemInput(s) for s in rng.sample(add_ons, k=rng.choice([0, 1, 2]))
            ]
            if n == 5 and unmapped:
                services.append(LineItemInput(unmapped[0]))  # the missing-mapping case
            workorder = workorder_create(
                company=company,
                user=None,
                values={
                    "scheduled_at": scheduled,
                    "duration_minutes": rng.choice([90, 120, 150, 180]),
                    "address": f"{rng.randint(10, 9999)} {rng.choice(STREETS)}, Springfield, IL",
                    "client_name": rng.choice(CLIENTS),
                    "client_email": "",
                    "notes": rng.choice(["", "Lockbox on the side door.", "Tenant occupied."]),
                },
                assignees=[AssigneeInput(e, i == 0) for i, e in enumerate(team)],
                line_items=services,
                form_token=f"seed-{company.slug}-{n}",
            )
            if workorder.status != WorkorderStatus.UNCONFIRMED:
                continue  # already moved on (an earlier seed, or a person in the demo)
            if n % 3 == 1:
                workorder_confirm(workorder, user=None)
            elif n % 10 == 9:
                workorder_cancel(workorder, user=None, reason="Client rescheduled elsewhere.")
